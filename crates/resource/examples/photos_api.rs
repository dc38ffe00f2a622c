//! A photos API protected by frontdesk, checking tokens itself.
//!
//! ```sh
//! cargo run -p frontdesk -- serve                                   # the front desk
//! cargo run -p frontdesk-resource --features axum --example photos_api -- http://127.0.0.1:8080
//! TOKEN=$(curl -s -u order-service:… http://127.0.0.1:8080/token \
//!   -d grant_type=client_credentials -d scope=photos:read \
//!   -d resource=https://photos.example.com | jq -r .access_token)
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3000/photos
//! ```

use axum::routing::{get, post};
use axum::{Json, Router};
use frontdesk_resource::{Guard, HttpClient, Introspector, Validator, Verified, discover};
use serde_json::{Value, json};

/// `GET /photos`: any token for this API with `photos:read`.
async fn list_photos(token: Verified) -> Json<Value> {
    Json(json!({
        "owner": token.sub(),
        "photos": ["beach.jpg", "mountain.jpg"],
        "checked": token.via.as_str(),
    }))
}

/// `POST /photos`: needs `photos:write` as well, checked in the handler.
async fn upload(token: Verified) -> Result<Json<Value>, frontdesk_resource::ValidationError> {
    token.require(&["photos:write"])?;
    Ok(Json(json!({"uploaded_by": token.client_id()})))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let issuer = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    frontdesk_jose::install_crypto_provider();

    // Reads: checked locally against the issuer's JWKS (discovered, cached).
    let reads = Guard::Local(Validator::from_issuer(&issuer, "https://photos.example.com").await?);
    let mut app = Router::new().route(
        "/photos",
        get(list_photos).route_layer(reads.layer(&["photos:read"])),
    );

    // Writes: asked of frontdesk by introspection when this API has credentials.
    if let (Ok(id), Ok(secret)) = (std::env::var("CLIENT_ID"), std::env::var("CLIENT_SECRET")) {
        let http = HttpClient::new()?;
        let meta = discover(&http, &issuer).await?;
        let endpoint = meta
            .introspection_endpoint
            .ok_or("no introspection endpoint")?;
        let writes = Guard::Introspect(Introspector::new(
            http,
            &endpoint,
            &id,
            &secret,
            &issuer,
            "https://photos.example.com",
        )?);
        app = app.route(
            "/photos/upload",
            post(upload).route_layer(writes.layer(&["photos:read"])),
        );
    }

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("photos API on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
