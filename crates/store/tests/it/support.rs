//! Databases and fixtures for the contract tests.

use frontdesk_core::model::{
    AccessTokenFormat, AuthMethod, Client, ClientId, ClientSecret, GrantType, KeyUse, OpaqueToken,
    StoredKey, User, UserClaims,
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

pub const NOW: i64 = 1_750_000_000;

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
        secrets: vec![secret(1, NOW - 100, None)],
        created_at: NOW - 100,
        updated_at: NOW - 100,
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
    }
}
