//! Databases and fixtures for the contract tests.

use frontdesk_core::model::{
    AccessTokenFormat, AuthMethod, AuthorizationCode, Client, ClientId, ClientSecret, Consent,
    Grant, GrantType, KeyUse, OpaqueToken, RefreshToken, Session, StoredKey, User, UserClaims,
};
use frontdesk_core::scope::Scope;
use frontdesk_store::{Db, testing};

/// A fresh SQLite database in a temp dir (kept alive by the returned guard).
pub async fn sqlite() -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("frontdesk.db").display());
    let db = Db::connect(&url).await.unwrap();
    assert_eq!(db.backend(), "sqlite");
    (db, dir)
}

/// A fresh PostgreSQL database, or `None` (with a note on stderr) when
/// FRONTDESK_TEST_POSTGRES_URL is not set.
pub async fn postgres() -> Option<Db> {
    let Some(url) = testing::postgres_url_from_env().await.unwrap() else {
        eprintln!("skipped: FRONTDESK_TEST_POSTGRES_URL not set");
        return None;
    };
    let db = Db::connect(&url).await.unwrap();
    assert_eq!(db.backend(), "postgres");
    Some(db)
}

/// Two handles (two pools, as two nodes would have) on one fresh SQLite
/// file; the guard keeps the file.
pub async fn sqlite_pair() -> (Db, Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("frontdesk.db").display());
    let a = Db::connect(&url).await.unwrap();
    let b = Db::connect(&url).await.unwrap();
    (a, b, dir)
}

/// Two handles on one fresh PostgreSQL database, and its URL, or `None`
/// when FRONTDESK_TEST_POSTGRES_URL is not set.
pub async fn postgres_pair() -> Option<(Db, Db, String)> {
    let Some(url) = testing::postgres_url_from_env().await.unwrap() else {
        eprintln!("skipped: FRONTDESK_TEST_POSTGRES_URL not set");
        return None;
    };
    let a = Db::connect(&url).await.unwrap();
    let b = Db::connect(&url).await.unwrap();
    Some((a, b, url))
}

pub const NOW: i64 = 1_750_000_000;

/// One sweep round at `now` in batches of 500, with no margin after a
/// code's or refresh token's expiry (`spent_before = now`) and audit
/// events kept: the rows removed in all.
pub async fn sweep_at(db: &Db, now: i64) -> u64 {
    use frontdesk_core::store::Store;
    let at = frontdesk_core::sweep::SweepCutoffs {
        now,
        spent_before: now,
        audit_before: None,
    };
    db.sweep_expired(&at, 500)
        .await
        .unwrap()
        .expect("no other sweeper")
        .total()
}

pub fn secret(byte: u8, created_at: i64, expires_at: Option<i64>) -> ClientSecret {
    ClientSecret {
        hash: vec![byte; 32],
        created_at,
        expires_at,
    }
}

pub fn client(id: &str) -> Client {
    Client {
        client_id: ClientId(id.to_owned()),
        client_name: format!("Client {id}"),
        redirect_uris: vec![format!("https://{id}.example/cb")],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        response_types: vec!["code".to_owned()],
        scope: Scope::parse("openid profile email").unwrap(),
        token_endpoint_auth_method: AuthMethod::ClientSecretBasic,
        audience: vec!["https://api.example".to_owned()],
        access_token_format: AccessTokenFormat::Jwt,
        first_party: false,
        access_token_ttl: 300,
        refresh_token_ttl: 86_400,
        post_logout_redirect_uris: vec![format!("https://{id}.example/bye")],
        id_token_signed_response_alg: Some("ES256".to_owned()),
        always_issue_refresh_token: true,
        refresh_grace_secs: None,
        require_mfa: None,
        require_pushed_authorization_requests: false,
        jwks: None,
        jwks_uri: None,
        token_endpoint_auth_signing_alg: None,
        request_object_signing_alg: None,
        require_signed_request_object: false,
        require_pkce: true,
        allowed_upstreams: None,
        local_login: true,
        required_groups: Vec::new(),
        released_groups: None,
        subject_type: Default::default(),
        sector_identifier_uri: None,
        logo_uri: None,
        client_uri: None,
        policy_uri: None,
        tos_uri: None,
        profile: None,
        secrets: vec![secret(1, NOW - 100, None)],
        created_at: NOW - 100,
        updated_at: NOW - 100,
        dpop_bound_access_tokens: false,
        token_exchange: None,
    }
}

pub fn user(sub: &str, username: &str, email: Option<&str>) -> User {
    User {
        sub: sub.to_owned(),
        username: username.to_owned(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1${username}"),
        disabled: false,
        claims: UserClaims {
            name: Some(format!("{username} Example")),
            email: email.map(str::to_owned),
            email_verified: email.is_some(),
            ..UserClaims::default()
        },
        created_at: NOW - 1000,
        updated_at: NOW - 1000,
        mfa_enrolled: false,
        has_passkey: false,
        verify_before_sign_in: false,
    }
}

pub fn key(kid: &str, key_use: KeyUse, created_at: i64, activates_at: i64) -> StoredKey {
    StoredKey {
        kid: kid.to_owned(),
        alg: match key_use {
            KeyUse::AccessToken => "ES256".to_owned(),
            KeyUse::IdToken => "RS256".to_owned(),
        },
        key_use,
        encrypted_private: vec![7; 60],
        public_jwk: format!(r#"{{"kty":"EC","kid":"{kid}"}}"#),
        created_at,
        activates_at,
        retired_at: None,
    }
}

pub fn token(byte: u8, expires_at: i64) -> OpaqueToken {
    OpaqueToken {
        token_hash: vec![byte; 32],
        jti: format!("jti-{byte}"),
        client_id: ClientId("app".to_owned()),
        sub: "user-1".to_owned(),
        scope: "openid profile".to_owned(),
        audience: vec![
            "https://api.example".to_owned(),
            "https://b.example".to_owned(),
        ],
        issued_at: expires_at - 300,
        expires_at,
        revoked_at: None,
        dpop_jkt: None,
    }
}

/// A live session `sid` of `sub`, cookie hash `[byte; 32]`.
pub fn session(byte: u8, sid: &str, sub: &str) -> Session {
    Session {
        id_hash: vec![byte; 32],
        sid: sid.to_owned(),
        sub: sub.to_owned(),
        auth_time: NOW - 60,
        amr: vec!["pwd".to_owned(), "otp".to_owned()],
        created_at: NOW - 60,
        expires_at: NOW + 3600,
        ended_at: None,
        user_agent: None,
        client_ip: None,
        last_seen_at: None,
        idp: None,
    }
}

/// A live grant of `sub` to `client`, made in session `sid`.
pub fn grant(grant_id: &str, client: &str, sub: &str, sid: Option<&str>) -> Grant {
    Grant {
        grant_id: grant_id.to_owned(),
        client_id: ClientId(client.to_owned()),
        sub: sub.to_owned(),
        sid: sid.map(str::to_owned),
        scope: "openid profile offline_access".to_owned(),
        audience: vec!["https://api.example".to_owned()],
        auth_time: NOW - 60,
        // Brokered, so that every read of a grant carries its `idp` back
        // (the contract tests compare whole grants).
        amr: vec!["fed".to_owned()],
        idp: Some("hotel".to_owned()),
        // With a claims request, so that every read carries it back too.
        claims: Some(frontdesk_core::model::RequestedClaims {
            userinfo: vec!["email".to_owned()],
            id_token: vec!["name".to_owned()],
            essential_acr: vec!["urn:frontdesk:acr:mfa".to_owned()],
        }),
        created_at: NOW - 10,
        expires_at: NOW + 86_400,
        revoked_at: None,
    }
}

/// An unused code `[byte; 32]` of `grant`.
pub fn code(byte: u8, grant: &Grant) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: vec![byte; 32],
        grant_id: grant.grant_id.clone(),
        client_id: grant.client_id.clone(),
        redirect_uri: format!("https://{}.example/cb", grant.client_id),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
        nonce: Some(format!("nonce-{byte}")),
        created_at: NOW - 10,
        expires_at: NOW + 50,
        used_at: None,
        dpop_jkt: None,
    }
}

/// An unconsumed refresh token `hash` of `grant`.
pub fn refresh(hash: Vec<u8>, grant: &Grant) -> RefreshToken {
    RefreshToken {
        token_hash: hash,
        grant_id: grant.grant_id.clone(),
        client_id: grant.client_id.clone(),
        scope: "openid offline_access".to_owned(),
        issued_at: NOW - 10,
        expires_at: NOW + 3600,
        consumed_at: None,
        replaced_by: None,
        dpop_jkt: None,
    }
}

pub fn consent(sub: &str, client: &str, scope: &str, granted_at: i64) -> Consent {
    Consent {
        sub: sub.to_owned(),
        client_id: ClientId(client.to_owned()),
        scope: scope.to_owned(),
        granted_at,
    }
}

/// Stores the clients, the users (no email) and the grants (each with one
/// code, `[i + 100; 32]` for the i-th grant) that a test builds on.
pub async fn seed(db: &frontdesk_store::Db, clients: &[&str], subs: &[&str], grants: &[&Grant]) {
    use frontdesk_core::store::Store;
    for id in clients {
        db.create_client(&client(id)).await.unwrap();
    }
    for sub in subs {
        db.create_user(&user(sub, &format!("user-{sub}"), None))
            .await
            .unwrap();
    }
    for (i, g) in grants.iter().enumerate() {
        let byte = u8::try_from(i + 100).unwrap();
        db.put_authorization(g, &code(byte, g)).await.unwrap();
    }
}
