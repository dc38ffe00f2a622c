//! The ceiling for `bench/`: a bare axum handler that signs one ES256 JWT
//! with a cached key per request and does nothing else — no client lookup,
//! no parsing, no storage. frontdesk's token endpoint is measured against it.
//!
//! `cargo run --release --example es256_ceiling -- 127.0.0.1:9090`

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use frontdesk_jose::{AccessTokenClaims, Algorithm, Audience, SigningKey};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9090".into());
    let (key, _) = SigningKey::generate(Algorithm::ES256)?;
    let app = Router::new()
        .route("/token", post(sign))
        .with_state(Arc::new(key));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn sign(State(key): State<Arc<SigningKey>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let claims = AccessTokenClaims {
        iss: "http://127.0.0.1:9090".into(),
        sub: "order-service".into(),
        aud: Audience(vec!["https://payments.example.com".into()]),
        exp: now + 3600,
        iat: now,
        jti: format!("{now}-ceiling"),
        client_id: "order-service".into(),
        scope: Some("charge:customer".into()),
        auth_time: None,
        acr: None,
        amr: None,
        cnf: None,
        groups: None,
        act: None,
        may_act: None,
    };
    match key.sign(Some("at+jwt"), &claims) {
        Ok(jwt) => axum::Json(serde_json::json!({
            "access_token": jwt, "token_type": "Bearer", "expires_in": 3600, "scope": "charge:customer"
        }))
        .into_response(),
        Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
