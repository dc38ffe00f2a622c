//! One world per test: core with fixed settings, a real in-memory SQLite
//! store (`frontdesk_store::Db`, no mock), signing keys, a confidential
//! client `app`, a second client `other`, and the user `alice`. Time is the
//! constant [`NOW`] plus offsets: no test here reads the clock or waits.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use frontdesk_core::access_token::TokenResponse;
use frontdesk_core::authorize::{self, AuthorizeRequest};
use frontdesk_core::client::{Credentials, Reread};
use frontdesk_core::error::{Error, ErrorCode};
use frontdesk_core::keys::{self, Kek, KeyRing, RotationPolicy};
use frontdesk_core::model::{
    AccessTokenFormat, AuthMethod, Client, ClientId, ClientSecret, GrantType, KeyUse, Session,
    User, UserClaims,
};
use frontdesk_core::params::Params;
use frontdesk_core::scope::Scope;
use frontdesk_core::secret::Pepper;
use frontdesk_core::store::Store;
use frontdesk_core::{Core, Features, Settings, session, token};
use frontdesk_jose::Algorithm;
use frontdesk_store::Db;

pub const NOW: i64 = 1_750_000_000;
pub const ISSUER: &str = "https://id.example";
pub const SECRET: &str = "app-secret-0123456789";
pub const REDIRECT: &str = "https://app.example/cb";
pub const API: &str = "https://api.example";
/// RFC 7636 §4.1: 43 unreserved characters.
pub const VERIFIER: &str = "verifier-0123456789-0123456789-0123456789-01";

pub const CODE_TTL: i64 = 60;
pub const SESSION_TTL: i64 = 3600;
pub const REFRESH_IDLE_TTL: i64 = 1000;
pub const REFRESH_GRACE: i64 = 2;
pub const ACCESS_TTL: i64 = 300;

pub struct Env {
    pub core: Core,
    pub db: Db,
    pub keys: KeyRing,
    pub kek: Kek,
}

/// Never re-reads a client: the tests here do not rotate secrets.
pub struct NoReread;

impl Reread for NoReread {
    fn allow(&self, _: &ClientId) -> bool {
        false
    }
}

pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ))
}

pub fn client(core: &Core, id: &str) -> Client {
    Client {
        client_id: ClientId(id.to_owned()),
        client_name: format!("Client {id}"),
        redirect_uris: vec![REDIRECT.to_owned()],
        grant_types: vec![
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
        ],
        response_types: vec!["code".to_owned()],
        scope: Scope::parse("openid profile offline_access api:read api:write").unwrap(),
        token_endpoint_auth_method: AuthMethod::ClientSecretBasic,
        audience: vec![API.to_owned()],
        access_token_format: AccessTokenFormat::Jwt,
        first_party: false,
        access_token_ttl: ACCESS_TTL,
        refresh_token_ttl: 86_400,
        post_logout_redirect_uris: vec![],
        id_token_signed_response_alg: Some("ES256".to_owned()),
        always_issue_refresh_token: false,
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
        secrets: vec![ClientSecret {
            hash: core.pepper.hash_secret(SECRET),
            created_at: NOW - 1000,
            expires_at: None,
        }],
        created_at: NOW - 1000,
        updated_at: NOW - 1000,
        dpop_bound_access_tokens: false,
        token_exchange: None,
    }
}

pub async fn env() -> Env {
    env_with(|_| {}).await
}

/// The world, with `app` adjusted by `tweak` before it is stored.
pub async fn env_with(tweak: impl FnOnce(&mut Client)) -> Env {
    let core = Core {
        settings: Settings {
            issuer: ISSUER.to_owned(),
            leeway: 30,
            max_token_ttl: 3600,
            code_ttl: CODE_TTL,
            id_token_ttl: 300,
            session_ttl: SESSION_TTL,
            refresh_idle_ttl: REFRESH_IDLE_TTL,
            refresh_grace: REFRESH_GRACE,
            code_retry_grace: 0,
            require_mfa: frontdesk_core::mfa::RequireMfa::IfEnrolled,
            dpop: Default::default(),
            require_pushed_authorization_requests: false,
            ui_locales_supported: Vec::new(),
            device_code_ttl: 600,
            device_poll_interval: 5,
        },
        features: Features::default(),
        pepper: Pepper::new(&[9u8; 32]),
    };
    let db = Db::connect("sqlite::memory:").await.unwrap();
    let mut app = client(&core, "app");
    tweak(&mut app);
    db.create_client(&app).await.unwrap();
    db.create_client(&client(&core, "other")).await.unwrap();
    db.create_user(&User {
        sub: "sub-alice".to_owned(),
        username: "alice".to_owned(),
        password_hash: String::new(),
        disabled: false,
        claims: UserClaims {
            name: Some("Alice Example".to_owned()),
            ..UserClaims::default()
        },
        created_at: NOW - 1000,
        updated_at: NOW - 1000,
        mfa_enrolled: false,
        has_passkey: false,
        verify_before_sign_in: false,
    })
    .await
    .unwrap();
    let kek = Kek::new(&[7u8; 32]).unwrap();
    for key_use in [KeyUse::AccessToken, KeyUse::IdToken] {
        let key = keys::generate(&kek, Algorithm::ES256, key_use, NOW - 1000, NOW - 1000).unwrap();
        db.put_signing_key(&key).await.unwrap();
    }
    let policy = RotationPolicy {
        jwks_max_age: 300,
        prepublish: 600,
        retain: 1_000_000,
        period: None,
    };
    let stored = db.signing_keys().await.unwrap();
    let keys = KeyRing::load(&stored, &kek, policy, NOW, None).unwrap();
    Env {
        core,
        db,
        keys,
        kek,
    }
}

pub fn params(pairs: &[(&str, &str)]) -> Params {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    Params::parse(s.finish().as_bytes()).unwrap()
}

pub fn basic(client_id: &str, secret: &str) -> Credentials {
    Credentials::Basic {
        client_id: client_id.to_owned(),
        secret: secret.to_owned(),
    }
}

/// POST /token as `app` with its secret.
pub async fn token(env: &Env, form: &[(&str, &str)], now: i64) -> Result<TokenResponse, Error> {
    token_as(env, basic("app", SECRET), form, now).await
}

pub async fn token_as(
    env: &Env,
    creds: Credentials,
    form: &[(&str, &str)],
    now: i64,
) -> Result<TokenResponse, Error> {
    token::exchange(
        &env.core,
        &env.db,
        &env.keys,
        creds,
        &params(form),
        &frontdesk_core::dpop::Presented::None,
        &NoReread,
        &frontdesk_core::client::NoKeySource,
        now,
    )
    .await
}

/// The OAuth error code of a failed call (panics on success or internal errors).
pub fn code_of<T: std::fmt::Debug>(r: Result<T, Error>) -> ErrorCode {
    match r {
        Err(Error::OAuth(o)) => o.code,
        other => panic!("expected an OAuth error, got {other:?}"),
    }
}

pub async fn alice(env: &Env) -> User {
    env.db.user("sub-alice").await.unwrap().unwrap()
}

/// alice signs in at `now`.
pub async fn sign_in(env: &Env, now: i64) -> Session {
    let user = alice(env).await;
    session::start(&env.core, &env.db, &user, &[session::AMR_PASSWORD], now)
        .await
        .unwrap()
        .session
}

/// A validated authorization request from `app` with these extra parameters.
pub async fn request(env: &Env, extra: &[(&str, &str)]) -> AuthorizeRequest {
    let challenge = challenge(VERIFIER);
    let mut pairs = vec![
        ("client_id", "app"),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", "st"),
        ("nonce", "n-1"),
    ];
    pairs.extend_from_slice(extra);
    authorize::validate(&env.db, &params(&pairs), |_| None)
        .await
        .unwrap()
}

/// alice signs in and approves `scope` at `now`; returns the code.
pub async fn authorization_code(env: &Env, scope: &str, now: i64) -> String {
    let session = sign_in(env, now).await;
    let req = request(env, &[("scope", scope)]).await;
    let resp = authorize::issue_code(&env.core, &env.db, &req, &session, now)
        .await
        .unwrap();
    resp.params
        .iter()
        .find(|(k, _)| *k == "code")
        .map(|(_, v)| v.clone())
        .unwrap()
}

/// The tokens of a code redeemed right away.
pub async fn tokens(env: &Env, scope: &str, now: i64) -> TokenResponse {
    let code = authorization_code(env, scope, now).await;
    redeem(env, &code, now).await.unwrap()
}

pub async fn redeem(env: &Env, code: &str, now: i64) -> Result<TokenResponse, Error> {
    token(
        env,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
        now,
    )
    .await
}

pub async fn refresh(env: &Env, refresh_token: &str, now: i64) -> Result<TokenResponse, Error> {
    token(
        env,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
        now,
    )
    .await
}

/// The claims of a JWT, read without verification (the tests that need
/// the signature verify it through jose).
pub fn claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}
