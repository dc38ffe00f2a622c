//! The Device Authorization Grant, RFC 8628: the device's request (§3.1–
//! §3.2), the user code people type (§6.1), and the user's decision at the
//! verification page (§3.3). The token request (§3.4–§3.5) is
//! `grant::device_code`.
//!
//! An approval is stored as a grant with an authorization code, so the
//! token endpoint redeems it with the code grant's one-time step: exactly
//! one token response per approval, the same answer to a retry within
//! `code_retry_grace`, and a replay revokes the grant. The code is derived
//! from the `device_code` under the server key ([`code_for`]), so only the
//! holder of the `device_code` can redeem it, and never at the code grant
//! (its redirect URI is [`DEVICE_REDIRECT`], which no request can match).

use crate::authorize;
use crate::client::validate_resource;
use crate::error::{Error, ErrorCode, OAuthError};
use crate::grant::{derive, ensure_allowed};
use crate::model::{
    AuthorizationCode, Client, DeviceAuthorization, DeviceStatus, Grant, GrantType, Session,
    UnixTime,
};
use crate::params::Params;
use crate::scope::Scope;
use crate::store::{Store, StoreError};
use crate::{Core, paths, secret};

/// RFC 8628 §6.1: base-20 letters without vowels (no words, and nothing
/// that looks like another character: no 0/O, 1/I/L ambiguity either).
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// Letters in a user code: 20^8 ≈ 2^34.6 values (§6.1), typed as `XXXX-XXXX`.
pub const USER_CODE_LEN: usize = 8;

/// `slow_down` raises the interval by this much, for this and every later
/// poll (§3.5).
pub const SLOW_DOWN_STEP: i64 = 5;

/// The redirect URI of a device approval's code: a URN no client can
/// register as a redirect URI or send as one.
pub const DEVICE_REDIRECT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The verification page (§3.2 `verification_uri`).
pub fn verification_uri(core: &Core) -> String {
    core.endpoint(paths::DEVICE)
}

/// A fresh user code, normalised (no dash): 8 letters of
/// [`USER_CODE_ALPHABET`], uniformly drawn (rejection sampling).
pub fn new_user_code() -> Result<String, Error> {
    use aws_lc_rs::rand::SecureRandom;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let mut code = String::with_capacity(USER_CODE_LEN);
    while code.len() < USER_CODE_LEN {
        let mut bytes = [0u8; 16];
        rng.fill(&mut bytes)
            .map_err(|_| Error::Internal("system random number generator failed".into()))?;
        // 240 = 12 × 20: bytes above it would bias the first letters.
        for b in bytes.into_iter().filter(|b| *b < 240) {
            if code.len() == USER_CODE_LEN {
                break;
            }
            code.push(char::from(USER_CODE_ALPHABET[usize::from(b % 20)]));
        }
    }
    Ok(code)
}

/// What a person typed, as a normalised code: case, dashes and spaces
/// ignored (§6.1: "case-insensitive" and "the dash … SHOULD be ignored");
/// `None` for anything that cannot be a user code.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)))
        .then_some(code)
}

/// `BCDFGHJK` → `BCDF-GHJK`, the form shown and sent to the device.
pub fn display_user_code(code: &str) -> String {
    let (a, b) = code.split_at(code.len().min(USER_CODE_LEN / 2));
    format!("{a}-{b}")
}

/// The stored key of a normalised user code: HMAC under the pepper, since
/// its 2^34.6 values are few enough to search under a plain hash.
pub fn user_code_hash(core: &Core, code: &str) -> Vec<u8> {
    core.pepper.hash_secret(&format!("device-user-code:{code}"))
}

/// The authorization code an approval of `device_code` stores.
pub(crate) fn code_for(core: &Core, device_code: &str) -> String {
    derive(core, "device-code", device_code)
}

/// The device authorization response (§3.2).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceAuthorizationResponse {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// §3.1–§3.2: a client (authenticated, or a public one by its `client_id`)
/// asks for a device code for `scope` and, per RFC 8707, `resource`s.
pub async fn authorize<S: Store>(
    core: &Core,
    store: &S,
    client: &Client,
    params: &Params,
    now: UnixTime,
) -> Result<DeviceAuthorizationResponse, Error> {
    ensure_allowed(client, GrantType::DeviceCode)?;
    let requested = Scope::parse(params.get("scope").unwrap_or_default())
        .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?;
    // RFC 6749 §3.3: no default scope here; the person is shown what the
    // device asks for, and an empty list would be a blank cheque's look.
    if requested.is_empty() {
        return Err(OAuthError::new(ErrorCode::InvalidScope, "scope is required").into());
    }
    let scope = requested.intersect(&client.scope);
    if scope.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "none of the requested scopes is allowed for this client",
        )
        .into());
    }
    let mut resources = Vec::new();
    for r in params.get_all("resource") {
        validate_resource(r)?;
        if !client.audience.iter().any(|a| a == r) {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                "the requested resource is not allowed for this client",
            )
            .into());
        }
        resources.push(r.to_owned());
    }
    let audience = authorize::audiences_for(core, client, &scope, &resources);
    let device_code = secret::random_string(32)?;
    let ttl = core.settings.device_code_ttl;
    let interval = core.settings.device_poll_interval;
    // A user code taken by a live request is drawn again; with 2^34.6
    // values a second collision in a row means something else is wrong.
    for _ in 0..3 {
        let user_code = new_user_code()?;
        let record = DeviceAuthorization {
            device_code_hash: secret::token_hash(&device_code),
            user_code_hash: user_code_hash(core, &user_code),
            code_hash: secret::token_hash(&code_for(core, &device_code)),
            client_id: client.client_id.clone(),
            scope: scope.to_string(),
            audience: audience.clone(),
            created_at: now,
            expires_at: now + ttl,
            interval,
            last_poll_at: None,
            status: DeviceStatus::Pending,
            sub: None,
        };
        match store.put_device_authorization(&record).await {
            Ok(()) => {
                let shown = display_user_code(&user_code);
                let uri = verification_uri(core);
                let complete = format!("{uri}?user_code={shown}");
                return Ok(DeviceAuthorizationResponse {
                    device_code,
                    user_code: shown,
                    verification_uri: uri,
                    verification_uri_complete: complete,
                    expires_in: ttl,
                    interval,
                });
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Internal(
        "no free user code after three draws".into(),
    ))
}

/// A request a person can decide on at the verification page: pending,
/// unexpired, and its client still registered for the grant.
#[derive(Debug, Clone)]
pub struct Pending {
    pub device: DeviceAuthorization,
    pub client: Client,
    /// The normalised user code it was found under.
    pub user_code: String,
}

impl Pending {
    /// The scope the user is asked to approve.
    pub fn scope(&self) -> Scope {
        Scope::parse(&self.device.scope).unwrap_or_default()
    }
}

/// What a typed user code names.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// A request a person can decide on.
    Pending(Box<Pending>),
    /// A request that was decided, expired, or whose client may no longer
    /// use the grant: nothing to decide, but no guess either.
    Gone,
    /// A well-formed code no request has: what guessing looks like, which
    /// the verification page counts (§5.1).
    Unknown,
    /// Not a user code at all (empty, wrong length, other letters).
    Malformed,
}

/// Looks a typed user code up (§3.3).
pub async fn lookup<S: Store>(
    core: &Core,
    store: &S,
    typed: &str,
    now: UnixTime,
) -> Result<Lookup, Error> {
    let Some(user_code) = normalize_user_code(typed) else {
        return Ok(Lookup::Malformed);
    };
    let Some(device) = store
        .device_by_user_code(&user_code_hash(core, &user_code))
        .await?
    else {
        return Ok(Lookup::Unknown);
    };
    if device.status != DeviceStatus::Pending || now >= device.expires_at {
        return Ok(Lookup::Gone);
    }
    let Some(client) = store.client(&device.client_id).await? else {
        return Ok(Lookup::Gone);
    };
    if !client.grant_types.contains(&GrantType::DeviceCode) {
        return Ok(Lookup::Gone);
    }
    Ok(Lookup::Pending(Box::new(Pending {
        device,
        client,
        user_code,
    })))
}

/// Wrong user codes one address (IPv6: its /64) may enter within the
/// login throttle's window before no code is looked up from there (§5.1).
/// With 20^8 codes and ten minutes per code, ten tries per quarter hour
/// leave a guesser about one chance in 10^9 per live code.
pub const MAX_CODE_FAILURES: u32 = 10;

/// What the verification page may do with a typed code.
#[derive(Debug, Clone)]
pub enum Found {
    Pending(Box<Pending>),
    /// Unknown, decided, expired, or malformed.
    Nothing,
    /// This address entered too many wrong codes: not looked up.
    Throttled,
}

/// [`lookup`] under the address's throttle (`device-ip:` counters in the
/// login-failure table, `window` seconds). A well-formed code that names
/// no request counts, wherever it came from (typed, the query, a cookie a
/// client sets itself); a typo that is no code at all, or the code of a
/// request already decided (the second click of a double click) or
/// expired, is no guess and does not.
pub async fn find<S: Store>(
    core: &Core,
    store: &S,
    peer: std::net::IpAddr,
    typed: &str,
    window: i64,
    now: UnixTime,
) -> Result<Found, Error> {
    let key = format!("device-ip:{}", crate::addr::throttle_key(peer));
    if store.login_failures(&key, now, window).await? >= MAX_CODE_FAILURES {
        return Ok(Found::Throttled);
    }
    Ok(match lookup(core, store, typed, now).await? {
        Lookup::Pending(p) => Found::Pending(p),
        Lookup::Unknown => {
            store.note_login_failure(&key, now, window).await?;
            Found::Nothing
        }
        Lookup::Gone | Lookup::Malformed => Found::Nothing,
    })
}

/// The pending request a typed user code names; `None` for a code that
/// is malformed, unknown, decided, expired, or its client's no longer.
pub async fn pending<S: Store>(
    core: &Core,
    store: &S,
    typed: &str,
    now: UnixTime,
) -> Result<Option<Pending>, Error> {
    Ok(match lookup(core, store, typed, now).await? {
        Lookup::Pending(p) => Some(*p),
        _ => None,
    })
}

/// The user of `session` approves: the grant (scope, audiences, the
/// session's `sid`, `auth_time`, `amr` and upstream) and its code, stored
/// with the request's change to approved in one step. `false` when it
/// was decided (or expired) meanwhile.
pub async fn approve<S: Store>(
    core: &Core,
    store: &S,
    pending: &Pending,
    session: &Session,
    now: UnixTime,
) -> Result<bool, Error> {
    let device = &pending.device;
    let grant = Grant {
        grant_id: secret::random_string(16)?,
        client_id: pending.client.client_id.clone(),
        sub: session.sub.clone(),
        sid: Some(session.sid.clone()),
        scope: device.scope.clone(),
        audience: device.audience.clone(),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
        idp: session.idp.clone(),
        claims: None,
        created_at: now,
        expires_at: now + pending.client.refresh_token_ttl,
        revoked_at: None,
    };
    // The device polls at its interval: its code lives one interval plus
    // the code lifetime past the approval, whatever the request had left.
    let code = AuthorizationCode {
        code_hash: device.code_hash.clone(),
        grant_id: grant.grant_id.clone(),
        client_id: pending.client.client_id.clone(),
        redirect_uri: DEVICE_REDIRECT.to_owned(),
        code_challenge: String::new(),
        nonce: None,
        created_at: now,
        expires_at: now + device.interval + pending.client.code_ttl(core.settings.code_ttl),
        used_at: None,
        dpop_jkt: None,
    };
    Ok(store
        .approve_device(&device.user_code_hash, &grant, &code, now)
        .await?)
}

/// The user of `session` declines; the device's next poll gets
/// `access_denied`. `false` when it was decided (or expired) meanwhile.
pub async fn deny<S: Store>(
    store: &S,
    pending: &Pending,
    session: &Session,
    now: UnixTime,
) -> Result<bool, Error> {
    Ok(store
        .deny_device(&pending.device.user_code_hash, &session.sub, now)
        .await?)
}

/// What the verification page does next for `pending`, given the live
/// session with its user (if any), the user's groups (read when the
/// client requires some) and the client's second-factor policy: sign in,
/// raise the session, refuse a user outside the client's
/// `required_groups`, or ask. Never [`authorize::Next::Issue`]: a device
/// approval is always asked for, remembered consent or first party — the
/// user must compare the code with the device's (§5.4, remote phishing).
pub fn decide(
    pending: &Pending,
    session: Option<(&Session, &crate::model::User)>,
    groups: &[String],
    policy: crate::mfa::RequireMfa,
) -> authorize::Next {
    use crate::mfa::{self, Missing};
    let Some((s, user)) = session else {
        return authorize::Next::Login;
    };
    let required = mfa::required_level(policy, user, &[]);
    match mfa::missing(required, s, user) {
        Missing::Nothing => {}
        Missing::SecondFactor => return authorize::Next::SecondFactor,
        // Only `acr_values` ask for a passkey, and a device request has none.
        Missing::Passkey | Missing::Unmet => return authorize::Next::Passkey,
        Missing::Enrolment => return authorize::Next::EnrolSecondFactor,
    }
    if !crate::groups::admits(&pending.client, groups) {
        return authorize::Next::NotAdmitted;
    }
    authorize::Next::Consent(pending.scope())
}
