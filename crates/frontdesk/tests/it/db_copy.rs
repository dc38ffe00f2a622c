//! `frontdesk db copy`: an SQLite install, populated by the real server and
//! stopped, moves into an empty PostgreSQL database, and the server started
//! on PostgreSQL with the same data directory (so the same key-encryption
//! key) serves the same clients, users, keys, grants and tokens. Refusals:
//! a non-empty target, a source that is not SQLite. (Every table and column
//! type, batching and the other refusals: crates/store/tests/it/copy.rs.)

use std::time::Duration;

use frontdesk_jose::{Algorithm, Expectations, Jwks};
use serde_json::Value;

use crate::browser::{Browser, authorize_url, drive, pkce, query};
use crate::support::{Backend, Server, cli_in, jwt_parts, unix_now};

const CB: &str = "https://moved.example.com/cb";
const CAROL: (&str, &str) = ("carol", "carol-password-0123456789");
/// A password nobody may see in the output (PostgreSQL here trusts local
/// connections, so it is accepted and ignored).
const SECRET_PASSWORD: &str = "hunter2-never-printed";

async fn jwks(s: &Server) -> Value {
    let r = s.http.get(s.url("/jwks.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Signs carol in at `client` and redeems the code.
async fn sign_in(s: &Server, client: (&str, &str)) -> Value {
    let (verifier, challenge) = pkce();
    let b = Browser::new(s);
    let cb = drive(
        &b,
        &authorize_url(
            s,
            client.0,
            CB,
            "openid profile offline_access",
            &challenge,
            &[],
        ),
        CAROL,
    )
    .await;
    let code = query(&cb, "code").unwrap_or_else(|| panic!("no code in {cb}"));
    let r = s
        .post_form(
            "/token",
            Some(client),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn succeeded(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `frontdesk db copy` with `to` on stdin (`--to -`).
fn db_copy(s: &Server, from: &str, to: &str) -> std::process::Output {
    cli_in(
        s.dir.path(),
        &s.db_url,
        &["db", "copy", "--from", from, "--to", "-", "--json"],
        Some(&format!("{to}\n")),
    )
}

fn with_password(url: &str) -> String {
    url.replacen(
        "postgres://postgres@",
        &format!("postgres://postgres:{SECRET_PASSWORD}@"),
        1,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_sqlite_install_moves_to_postgresql_and_serves_the_same() {
    let Some(pg) = frontdesk_store::testing::postgres_url_from_env()
        .await
        .unwrap()
    else {
        eprintln!("skipped: FRONTDESK_TEST_POSTGRES_URL not set");
        return;
    };
    let mut s = Server::start(Backend::Sqlite, "").await.unwrap();

    // A client and a user that only the copy can bring along (the
    // configuration's [[clients]] and [[users]] are applied again at every
    // start).
    let out = s.cli(
        &[
            "clients",
            "create",
            "--name",
            "Moved App",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--grant-type",
            "client_credentials",
            "--redirect-uri",
            CB,
            "--scope",
            "openid profile offline_access photos:read",
            "--json",
        ],
        None,
    );
    succeeded(&out);
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let client_secret = created["client_secret"].as_str().unwrap().to_owned();
    let client = (client_id.as_str(), client_secret.as_str());
    let out = s.cli(
        &[
            "users",
            "create",
            "--username",
            CAROL.0,
            "--email",
            "carol@example.com",
            "--password-stdin",
        ],
        Some(&format!("{}\n", CAROL.1)),
    );
    succeeded(&out);

    // Sign-in (session, consent, grant, code, refresh token, audit events),
    // an opaque access token, a revoked JWT, a failed login.
    let before = sign_in(&s, client).await;
    let id_token = before["id_token"].as_str().unwrap().to_owned();
    let refresh_token = before["refresh_token"].as_str().unwrap().to_owned();
    let sub = jwt_parts(&id_token).1["sub"].as_str().unwrap().to_owned();
    let old_issuer = s.base.clone();
    let r = s
        .post_form(
            "/token",
            Some(("opaque-client", "opaque-client-secret-0123456789")),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let opaque = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = s.m2m_token(&[]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s
        .post_form(
            "/revoke",
            Some(("order-service", "order-service-secret-0123456789")),
            &[("token", &revoked)],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(s.introspect(&revoked).await["active"], false);
    let b = Browser::new(&s);
    let (_, challenge) = pkce();
    drive_failed_login(
        &b,
        &authorize_url(&s, client.0, CB, "openid", &challenge, &[]),
    )
    .await;
    let jwks_before = jwks(&s).await;

    // Stopped cleanly, the copy may run; the source file stays as it was.
    let status = s.terminate(Duration::from_secs(10)).expect("server stops");
    assert!(status.success(), "{status:?}");
    let sqlite_url = s.db_url.clone();
    let sqlite_file = s.dir.path().join("frontdesk.db");
    let bytes = std::fs::read(&sqlite_file).unwrap();
    let out = db_copy(&s, &sqlite_url, &with_password(&pg));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(!stdout.contains(SECRET_PASSWORD) && !stderr.contains(SECRET_PASSWORD));
    assert_eq!(
        std::fs::read(&sqlite_file).unwrap(),
        bytes,
        "source changed"
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let rows = |table: &str| {
        report["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == table)
            .unwrap_or_else(|| panic!("{table} not in {report}"))["rows"]
            .as_u64()
            .unwrap()
    };
    for table in [
        "clients",
        "client_secrets",
        "users",
        "signing_keys",
        "consents",
        "sessions",
        "grants",
        "authorization_codes",
        "refresh_tokens",
        "opaque_tokens",
        "revoked_jtis",
        "login_failures",
        "audit_events",
    ] {
        assert!(rows(table) > 0, "{table}: {report}");
    }
    let total: u64 = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["rows"].as_u64().unwrap())
        .sum();
    assert_eq!(report["total"], total);

    // A second copy into the now non-empty target is refused.
    let out = db_copy(&s, &sqlite_url, &with_password(&pg));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success());
    assert!(
        stderr.contains("db copy: the target database is not empty (rows in ")
            && stderr.contains("nothing was written"),
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET_PASSWORD), "{stderr}");
    assert!(out.stdout.is_empty());

    // The same data directory (the same key-encryption key) on PostgreSQL.
    s.db_url = pg.clone();
    s.restart("");

    // The same keys: the JWKS is identical, and an ID token issued on
    // SQLite verifies against it.
    assert_eq!(jwks(&s).await, jwks_before);
    let keys: Jwks = serde_json::from_value(jwks(&s).await).unwrap();
    let expect = Expectations {
        issuer: old_issuer,
        audience: Some(vec![client_id.clone()]),
        typ: None,
        forbidden_typ: vec!["at+jwt".to_owned()],
        algorithms: vec![
            Algorithm::RS256,
            Algorithm::ES256,
            Algorithm::PS256,
            Algorithm::EdDSA,
        ],
        leeway_secs: 60,
        require_iat: true,
    };
    frontdesk_jose::verify::<Value>(&id_token, &keys, &expect, unix_now()).unwrap();

    // The refresh token issued before the copy works after it, for the
    // same user.
    let r = s
        .post_form(
            "/token",
            Some(client),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_token),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let refreshed: Value = r.json().await.unwrap();
    assert_ne!(refreshed["refresh_token"], refresh_token.as_str());
    assert_eq!(
        jwt_parts(refreshed["id_token"].as_str().unwrap()).1["sub"],
        sub.as_str()
    );

    // The same client (its secret hash and the pepper) and user (password
    // hash, sub).
    let r = s
        .post_form(
            "/token",
            Some(client),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let after = sign_in(&s, client).await;
    assert_eq!(
        jwt_parts(after["id_token"].as_str().unwrap()).1["sub"],
        sub.as_str()
    );

    // The opaque token (a row only the copy brings along) is still live.
    let live = s.introspect(&opaque).await;
    assert_eq!(live["active"], true, "{live}");
    assert_eq!(live["client_id"], "opaque-client");
}

/// One wrong password for carol (a login-failure counter).
async fn drive_failed_login(b: &Browser, url: &str) {
    let page = crate::browser::page(b.get(url).await);
    let end = b.login(&page, (CAROL.0, "wrong-password")).await;
    let page = crate::browser::page(end);
    assert!(
        page.body.contains("name=\"password\""),
        "the login page again"
    );
}

#[tokio::test]
async fn a_source_that_is_not_sqlite_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("postgres://postgres:{SECRET_PASSWORD}@127.0.0.1:1/none");
    let out = cli_in(
        dir.path(),
        "sqlite::memory:",
        &["db", "copy", "--from", &url, "--to", &url],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(
        stderr.trim_end(),
        "frontdesk: db copy: --from must be an SQLite URL (sqlite:PATH or sqlite://PATH): db \
         copy moves SQLite into PostgreSQL"
    );
    assert!(out.stdout.is_empty());
    assert!(!dir.path().join("data").exists(), "nothing created");
}
