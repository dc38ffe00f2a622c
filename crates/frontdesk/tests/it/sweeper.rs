//! The sweeper in a running server (issue 17 item 3): expired rows go while
//! it runs, a grant only after every token it issued has expired, and the
//! metrics count them.

use std::time::Duration;

use frontdesk_core::store::Store;

use crate::both;
use crate::browser::{APP1, APP1_CB, Browser, SIGNIN_CONFIG, code_for, pkce};
use crate::metrics::{metrics_url, sample};
use crate::support::{Server, jwt_parts, unix_now, wait_for};

/// A sweep every second; codes live 3 s (time enough to redeem one), access
/// tokens at most 2 s, no leeway: a spent code's grant goes 5 s after it
/// was issued.
pub fn sweep_config() -> String {
    format!(
        "sweep_interval_secs = 1\ncode_ttl_secs = 3\nmax_token_ttl_secs = 2\n\
         id_token_ttl_secs = 1\nleeway_secs = 0\nmetrics_listen = \"127.0.0.1:0\"\n{SIGNIN_CONFIG}"
    )
}

/// The metrics text of `s`.
pub async fn metrics_text(s: &Server) -> String {
    s.http
        .get(metrics_url(s))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn sweeps_expired_rows_while_running(s: &Server) {
    // Three opaque tokens (2 s, the cap), stored by hash.
    for _ in 0..3 {
        s.opaque_token().await;
    }
    // A grant with a redeemed code and no refresh token (scope openid), and
    // one whose code is never redeemed.
    let b = Browser::new(s);
    let (verifier, challenge) = pkce();
    let code = code_for(s, &b, APP1.0, APP1_CB, "openid", &challenge, &[]).await;
    let (_, unused) = pkce();
    code_for(s, &b, APP1.0, APP1_CB, "openid", &unused, &[]).await;
    let r = s
        .post_form(
            "/token",
            Some(APP1),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", APP1_CB),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let tokens: serde_json::Value = r.json().await.unwrap();
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    let at = tokens["access_token"].as_str().unwrap().to_owned();
    let claims = jwt_parts(&at).1;
    let exp = claims["exp"].as_u64().unwrap();
    let jti = claims["jti"].as_str().unwrap();
    let grant_id = jti.split_once('.').unwrap().0.to_owned();
    let active = s.introspect(&at).await["active"].as_bool().unwrap();
    if unix_now() < exp {
        // Answered before exp: the grant is there for it.
        assert!(active, "introspection before exp");
    }

    let db = frontdesk_store::Db::connect(&s.db_url).await.unwrap();
    assert!(db.grant(&grant_id).await.unwrap().is_some());
    wait_for(
        "the sweeper removes the grant",
        Duration::from_secs(30),
        async || match db.grant(&grant_id).await.unwrap() {
            None => Ok(()),
            Some(g) => Err(g.grant_id),
        },
    )
    .await;
    // Never while its access token was valid.
    assert!(
        unix_now() >= exp,
        "grant swept before the token's exp {exp}"
    );
    assert!(!s.introspect(&at).await["active"].as_bool().unwrap());

    let text = wait_for(
        "the metrics show the sweep",
        Duration::from_secs(30),
        async || {
            let text = metrics_text(s).await;
            let swept = |t: &str| {
                sample(
                    &text,
                    &format!("frontdesk_swept_rows_total{{table=\"{t}\"}}"),
                )
                .unwrap_or(0.0)
            };
            let rows = |t: &str| sample(&text, &format!("frontdesk_table_rows{{table=\"{t}\"}}"));
            let done = swept("opaque_tokens") >= 3.0
                && swept("authorization_codes") >= 2.0
                && swept("grants") >= 2.0
                && rows("grants") == Some(0.0)
                && rows("authorization_codes") == Some(0.0)
                && rows("opaque_tokens") == Some(0.0);
            if done { Ok(text) } else { Err(text) }
        },
    )
    .await;
    assert!(
        sample(&text, r#"frontdesk_sweep_rounds_total{result="swept"}"#).unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    // The session is live (a day): it stays, and so does its row count.
    assert_eq!(
        sample(&text, r#"frontdesk_table_rows{table="sessions"}"#),
        Some(1.0),
        "{text}"
    );
    db.close().await;
    assert!(s.log().contains("swept expired rows"), "{}", s.log());
}
both!(sweeps_expired_rows_while_running, &sweep_config());
