//! Administrative operations shared by the CLI, the admin API and the
//! declarative bootstrap, so each rule lives once.

use frontdesk_core::Core;
use frontdesk_core::audit::{Actor, Kind};
use frontdesk_core::error::Error;
use frontdesk_core::keys::{self, Kek, RotationPolicy};
use frontdesk_core::manage::{self, ClientPatch, ClientSpec, ManageError, NewClient, UserSpec};
use frontdesk_core::model::{
    Client, ClientId, ClientSecret, Consent, KeyUse, Session, StoredKey, User, UserClaims,
};
use frontdesk_core::page::{Page, PageRequest};
use frontdesk_core::store::{Store, StoreError};
use frontdesk_core::{login, secret};
use frontdesk_jose::Algorithm;
use frontdesk_store::Db;
use serde_json::{Map, Value, json};

use crate::audit;

/// Why an administrative operation failed. The CLI prints it; the admin
/// API maps it to a status in `http/error.rs`.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The input breaks a rule; the message says which, for the operator.
    #[error("{0}")]
    Invalid(String),
    #[error("already exists: {0}")]
    Conflict(String),
    /// The mail relay refused or could not be reached.
    #[error("the mail could not be sent: {0}")]
    Mail(String),
    /// What is asked cannot be done to it in this state (an upstream the
    /// configuration file declares); the message says why: 409.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Internal(Error),
}

impl From<Error> for OpsError {
    fn from(e: Error) -> OpsError {
        match e {
            Error::OAuth(o) => OpsError::Invalid(o.description),
            other => OpsError::Internal(other),
        }
    }
}

impl From<StoreError> for OpsError {
    fn from(e: StoreError) -> OpsError {
        match e {
            StoreError::Conflict(what) => OpsError::Conflict(what),
            other => OpsError::Internal(other.into()),
        }
    }
}

impl From<ManageError> for OpsError {
    fn from(e: ManageError) -> OpsError {
        match e {
            ManageError::Invalid(m) => OpsError::Invalid(m.0),
            ManageError::Core(c) => c.into(),
        }
    }
}

/// A client as shown to administrators: metadata, plus secret dates but
/// never secret hashes.
pub fn client_view(c: &Client) -> Value {
    json!({
        "client_id": c.client_id,
        "client_name": c.client_name,
        "redirect_uris": c.redirect_uris,
        "grant_types": c.grant_types,
        "response_types": c.response_types,
        "scope": c.scope,
        "token_endpoint_auth_method": c.token_endpoint_auth_method,
        "audience": c.audience,
        "access_token_format": c.access_token_format,
        "first_party": c.first_party,
        "access_token_ttl": c.access_token_ttl,
        "refresh_token_ttl": c.refresh_token_ttl,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "id_token_signed_response_alg": c.id_token_signed_response_alg,
        "always_issue_refresh_token": c.always_issue_refresh_token,
        "refresh_grace_secs": c.refresh_grace_secs,
        "require_mfa": c.require_mfa,
        "dpop_bound_access_tokens": c.dpop_bound_access_tokens,
        "token_exchange": c.token_exchange,
        "require_pushed_authorization_requests": c.require_pushed_authorization_requests,
        "jwks": c.jwks,
        "jwks_uri": c.jwks_uri,
        "token_endpoint_auth_signing_alg": c.token_endpoint_auth_signing_alg,
        "request_object_signing_alg": c.request_object_signing_alg,
        "require_signed_request_object": c.require_signed_request_object,
        "require_pkce": c.require_pkce,
        "profile": c.profile,
        "allowed_upstreams": c.allowed_upstreams,
        "local_login": c.local_login,
        "required_groups": c.required_groups,
        "released_groups": c.released_groups,
        "subject_type": c.subject_type,
        "sector_identifier_uri": c.sector_identifier_uri,
        "logo_uri": c.logo_uri,
        "client_uri": c.client_uri,
        "policy_uri": c.policy_uri,
        "tos_uri": c.tos_uri,
        "secrets": c.secrets.iter().map(|s| json!({"created_at": s.created_at, "expires_at": s.expires_at})).collect::<Vec<_>>(),
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    })
}

/// A user as shown to administrators (the password hash is never shown).
pub fn user_view(u: &User) -> Value {
    let mut v = json!({
        "sub": u.sub,
        "username": u.username,
        "disabled": u.disabled,
        "has_password": !u.password_hash.is_empty(),
        "mfa_enrolled": u.mfa_enrolled,
        "passkeys": u.has_passkey,
        "created_at": u.created_at,
        "updated_at": u.updated_at,
    });
    if let (Value::Object(m), Ok(Value::Object(claims))) = (&mut v, serde_json::to_value(&u.claims))
    {
        m.extend(claims);
    }
    v
}

/// Every change below is recorded as an audit event by `by` once it is
/// made (never when it fails).
pub async fn create_client(
    core: &Core,
    db: &Db,
    by: &Actor,
    spec: ClientSpec,
    now: i64,
) -> Result<NewClient, OpsError> {
    let new = manage::build_client(spec, &core.pepper, now)?;
    check_sector_identifier(&new.client, None).await?;
    db.create_client(&new.client).await?;
    let e = audit::event(Kind::AdminClientCreate, now)
        .actor(by)
        .client(&new.client.client_id);
    audit::record(db, e).await;
    Ok(new)
}

/// OIDC Registration §5: a pairwise client's `sector_identifier_uri` is
/// fetched (the hardened client: https, no redirects, 5 s, 64 KiB) and
/// must list every redirect URI. Checked when it or the redirect URIs are
/// new or changed against `before` (the stored client), so a restart with
/// the same `[[clients]]` does not depend on the sector's host.
async fn check_sector_identifier(client: &Client, before: Option<&Client>) -> Result<(), OpsError> {
    let Some(uri) = &client.sector_identifier_uri else {
        return Ok(());
    };
    if before.is_some_and(|b| {
        b.sector_identifier_uri.as_ref() == Some(uri) && b.redirect_uris == client.redirect_uris
    }) {
        return Ok(());
    }
    let http = frontdesk_resource::HttpClient::new()
        .map_err(|e| OpsError::Internal(Error::Internal(format!("HTTP client: {e}"))))?;
    let answer = http.get(uri, None).await.map_err(|e| {
        OpsError::Invalid(format!(
            "sector_identifier_uri {uri:?} could not be fetched: {e}"
        ))
    })?;
    if answer.status != 200 {
        return Err(OpsError::Invalid(format!(
            "sector_identifier_uri {uri:?} answered {}",
            answer.status
        )));
    }
    frontdesk_core::subject::check_sector_document(client, &answer.body)
        .map_err(|e| OpsError::Invalid(e.0))
}

/// One page of clients, by client_id.
pub async fn list_clients(db: &Db, page: &PageRequest) -> Result<Page<Client>, OpsError> {
    let rows = db.clients_page(page.after.as_deref(), page.fetch()).await?;
    Ok(Page::from_rows(rows, page, |c| {
        c.client_id.as_str().to_owned()
    }))
}

/// Every client, page by page (for the CLI).
pub async fn all_clients(db: &Db) -> Result<Vec<Client>, OpsError> {
    let mut req = PageRequest {
        limit: frontdesk_core::page::MAX_LIMIT,
        after: None,
    };
    let mut out = Vec::new();
    loop {
        let page = list_clients(db, &req).await?;
        req.after = page.items.last().map(|c| c.client_id.as_str().to_owned());
        out.extend(page.items);
        if page.next_cursor.is_none() {
            return Ok(out);
        }
    }
}

pub async fn get_client(db: &Db, id: &str) -> Result<Client, OpsError> {
    db.client(&ClientId(id.to_owned()))
        .await?
        .ok_or(OpsError::NotFound("client"))
}

pub async fn update_client(
    db: &Db,
    by: &Actor,
    id: &str,
    patch: ClientPatch,
    now: i64,
) -> Result<Client, OpsError> {
    let client = get_client(db, id).await?;
    let fields = patch_fields(&patch);
    let updated = manage::patch_client(client.clone(), patch, now)?;
    check_sector_identifier(&updated, Some(&client)).await?;
    if !db.update_client(&updated).await? {
        return Err(OpsError::NotFound("client"));
    }
    let e = audit::event(Kind::AdminClientUpdate, now)
        .actor(by)
        .client(&updated.client_id)
        .fields(&fields);
    audit::record(db, e).await;
    Ok(updated)
}

/// The names of the fields a patch sets (their values stay out of the
/// audit trail).
fn patch_fields(patch: &ClientPatch) -> Vec<String> {
    match serde_json::to_value(patch) {
        Ok(Value::Object(m)) => m
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, _)| k)
            .collect(),
        _ => Vec::new(),
    }
}

pub async fn delete_client(db: &Db, by: &Actor, id: &str, now: i64) -> Result<(), OpsError> {
    let id = ClientId(id.to_owned());
    if !db.delete_client(&id).await? {
        return Err(OpsError::NotFound("client"));
    }
    let e = audit::event(Kind::AdminClientDelete, now)
        .actor(by)
        .client(&id);
    audit::record(db, e).await;
    Ok(())
}

/// Issues a new secret; the previous one keeps working for `grace` seconds
/// so deployments can roll over without downtime.
pub async fn rotate_secret(
    core: &Core,
    db: &Db,
    by: &Actor,
    id: &str,
    grace: i64,
    now: i64,
) -> Result<(String, i64), OpsError> {
    let client = get_client(db, id).await?;
    match client.token_endpoint_auth_method {
        frontdesk_core::model::AuthMethod::None => {
            return Err(OpsError::Invalid("a public client has no secret".into()));
        }
        // A secret would never be checked (the method is the registered
        // one only) and only mislead whoever holds it.
        frontdesk_core::model::AuthMethod::PrivateKeyJwt => {
            return Err(OpsError::Invalid(
                "a private_key_jwt client has no secret: it authenticates with its keys".into(),
            ));
        }
        _ => {}
    }
    let plain = secret::new_client_secret()?;
    let new = ClientSecret {
        hash: core.pepper.hash_secret(&plain),
        created_at: now,
        expires_at: None,
    };
    let until = now + grace.max(0);
    if !db
        .rotate_client_secret(&client.client_id, &new, until, now)
        .await?
    {
        return Err(OpsError::NotFound("client"));
    }
    let e = audit::event(Kind::AdminClientRotateSecret, now)
        .actor(by)
        .client(&client.client_id)
        .count("previous_secret_grace_secs", grace.max(0).unsigned_abs());
    audit::record(db, e).await;
    Ok((plain, until))
}

/// Hashes on a blocking thread: Argon2id costs ~40 ms of CPU.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, manage::ManageError> + Send + 'static,
) -> Result<T, OpsError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| OpsError::Internal(Error::Internal(e.to_string())))?
        .map_err(OpsError::from)
}

pub async fn create_user(db: &Db, by: &Actor, spec: UserSpec, now: i64) -> Result<User, OpsError> {
    // The groups must exist before anything is written.
    let groups = spec.groups.clone().unwrap_or_default();
    for name in &groups {
        get_group(db, name).await?;
    }
    let user = blocking(move || manage::build_user(spec, now)).await?;
    db.create_user(&user).await?;
    let e = audit::event(Kind::AdminUserCreate, now)
        .actor(by)
        .subject(&user.sub)
        .username(&user.username)
        .flag("has_password", !user.password_hash.is_empty());
    audit::record(db, e).await;
    for name in &groups {
        add_group_member(db, by, name, &user.sub, now).await?;
    }
    Ok(user)
}

/// What `users create` says of a user created without a password.
pub const NO_PASSWORD_NOTE: &str = "cannot sign in until a password is set";

/// One page of users, by username.
pub async fn list_users(db: &Db, page: &PageRequest) -> Result<Page<User>, OpsError> {
    let rows = db.users_page(page.after.as_deref(), page.fetch()).await?;
    Ok(Page::from_rows(rows, page, |u| u.username.clone()))
}

/// Every user, page by page (for the CLI).
pub async fn all_users(db: &Db) -> Result<Vec<User>, OpsError> {
    let mut req = PageRequest {
        limit: frontdesk_core::page::MAX_LIMIT,
        after: None,
    };
    let mut out = Vec::new();
    loop {
        let page = list_users(db, &req).await?;
        req.after = page.items.last().map(|u| u.username.clone());
        out.extend(page.items);
        if page.next_cursor.is_none() {
            return Ok(out);
        }
    }
}

pub async fn get_user(db: &Db, login_or_sub: &str) -> Result<User, OpsError> {
    if let Some(u) = db.user(login_or_sub).await? {
        return Ok(u);
    }
    db.user_by_login(login_or_sub)
        .await?
        .ok_or(OpsError::NotFound("user"))
}

pub async fn set_password(
    db: &Db,
    by: &Actor,
    login_or_sub: &str,
    password: String,
    now: i64,
) -> Result<(), OpsError> {
    let user = get_user(db, login_or_sub).await?;
    let hash = blocking(move || {
        manage::validate_password(&password)?;
        Ok(frontdesk_core::password::hash(&password)?)
    })
    .await?;
    if !db.set_user_password(&user.sub, &hash, now).await? {
        return Err(OpsError::NotFound("user"));
    }
    let e = audit::event(Kind::AdminUserPassword, now)
        .actor(by)
        .subject(&user.sub);
    audit::record(db, e).await;
    Ok(())
}

pub async fn set_disabled(
    db: &Db,
    by: &Actor,
    login_or_sub: &str,
    disabled: bool,
    now: i64,
) -> Result<(), OpsError> {
    let user = get_user(db, login_or_sub).await?;
    if !db.set_user_disabled(&user.sub, disabled, now).await? {
        return Err(OpsError::NotFound("user"));
    }
    let kind = if disabled {
        Kind::AdminUserDisable
    } else {
        Kind::AdminUserEnable
    };
    audit::record(db, audit::event(kind, now).actor(by).subject(&user.sub)).await;
    Ok(())
}

/// The claims an administrator may set, by their OIDC names.
pub const CLAIM_NAMES: [&str; 11] = [
    "name",
    "given_name",
    "family_name",
    "nickname",
    "picture",
    "locale",
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
    "address",
];

/// Applies `patch` to the user's claims as a JSON merge patch (RFC 7396):
/// a claim given a value is set, one given `null` is removed
/// (`email_verified`, `phone_number_verified`: false), the others stay.
/// `address` is an object of the OIDC Core §5.1.1 members, set whole.
pub async fn update_claims(
    db: &Db,
    by: &Actor,
    login_or_sub: &str,
    patch: Map<String, Value>,
    now: i64,
) -> Result<User, OpsError> {
    if let Some(bad) = patch.keys().find(|k| !CLAIM_NAMES.contains(&k.as_str())) {
        return Err(OpsError::Invalid(format!(
            "unknown claim {bad:?}: the claims are {}",
            CLAIM_NAMES.join(", ")
        )));
    }
    let user = get_user(db, login_or_sub).await?;
    let mut merged = match serde_json::to_value(&user.claims) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let fields: Vec<String> = patch.keys().cloned().collect();
    for (k, v) in patch {
        match v {
            Value::Null => {
                merged.remove(&k);
            }
            v => {
                merged.insert(k, v);
            }
        }
    }
    let claims: UserClaims = serde_json::from_value(Value::Object(merged))
        .map_err(|e| OpsError::Invalid(format!("claims: {e}")))?;
    if claims.email.as_deref().is_some_and(|e| !e.contains('@')) {
        return Err(OpsError::Invalid("email must be an e-mail address".into()));
    }
    if !db.update_user_claims(&user.sub, &claims, now).await? {
        return Err(OpsError::NotFound("user"));
    }
    let e = audit::event(Kind::AdminUserUpdate, now)
        .actor(by)
        .subject(&user.sub)
        .fields(&fields);
    audit::record(db, e).await;
    get_user(db, &user.sub).await
}

/// Mails `login_or_sub` a new password-reset link, or with `verify` a new
/// e-mail verification link, now (not queued), and returns the address.
pub async fn send_link(
    db: &Db,
    by: &Actor,
    mailer: &crate::mail::Mailer,
    links: &frontdesk_core::email_link::LinkPolicy,
    login_or_sub: &str,
    verify: bool,
    now: i64,
) -> Result<String, OpsError> {
    use crate::mail::{Job, MailError};
    let user = get_user(db, login_or_sub).await?;
    let job = if verify {
        Job::VerifyEmail {
            sub: user.sub.clone(),
        }
    } else {
        Job::ResetPassword {
            sub: user.sub.clone(),
        }
    };
    let sub = user.sub;
    match crate::mail::perform(mailer, db, links, &job, now).await {
        Ok((to, _)) => {
            let e = audit::event(Kind::AdminUserSendLink, now)
                .actor(by)
                .subject(&sub)
                .label(
                    "purpose",
                    if verify {
                        "verify_email"
                    } else {
                        "reset_password"
                    },
                );
            audit::record(db, e).await;
            Ok(to)
        }
        Err(MailError::NoUser) => Err(OpsError::NotFound("user")),
        Err(e @ (MailError::NoAddress | MailError::Disabled | MailError::BadAddress(_))) => {
            Err(OpsError::Invalid(e.to_string()))
        }
        Err(MailError::Transport(m)) => Err(OpsError::Mail(m)),
        Err(MailError::Core(e)) => Err(e.into()),
    }
}

pub async fn delete_user(
    db: &Db,
    by: &Actor,
    login_or_sub: &str,
    now: i64,
) -> Result<(), OpsError> {
    let user = get_user(db, login_or_sub).await?;
    if !db.delete_user(&user.sub).await? {
        return Err(OpsError::NotFound("user"));
    }
    let e = audit::event(Kind::AdminUserDelete, now)
        .actor(by)
        .subject(&user.sub)
        .username(&user.username);
    audit::record(db, e).await;
    Ok(())
}

/// Clears the login-throttle counters of the user's account (not those of
/// the addresses that failed), so they may sign in again at once.
pub async fn unlock_user(
    db: &Db,
    by: &Actor,
    login_or_sub: &str,
    now: i64,
) -> Result<User, OpsError> {
    let user = get_user(db, login_or_sub).await?;
    for key in login::unlock_keys(&user) {
        db.clear_login_failures(&key).await?;
    }
    let e = audit::event(Kind::AdminUserUnlock, now)
        .actor(by)
        .subject(&user.sub);
    audit::record(db, e).await;
    Ok(user)
}

/// Removes the user's second factors (TOTP, recovery codes and passkeys) and clears
/// the second-factor throttle: for a user who lost their phone. Their next
/// sign-in is the password alone, or an enrolment where `require_mfa` is
/// `always`.
pub async fn reset_mfa(
    db: &Db,
    by: &Actor,
    login_or_sub: &str,
    now: i64,
) -> Result<User, OpsError> {
    let user = get_user(db, login_or_sub).await?;
    db.remove_mfa(&user.sub).await?;
    db.remove_passkeys(&user.sub).await?;
    db.clear_login_failures(&frontdesk_core::mfa::throttle_key(&user.sub))
        .await?;
    let e = audit::event(Kind::AdminUserResetMfa, now)
        .actor(by)
        .subject(&user.sub);
    audit::record(db, e).await;
    Ok(user)
}

/// A session as shown to administrators (never its cookie hash).
pub fn session_view(s: &Session) -> Value {
    json!({
        "sid": s.sid,
        "sub": s.sub,
        "auth_time": s.auth_time,
        "amr": s.amr,
        "created_at": s.created_at,
        "expires_at": s.expires_at,
        "user_agent": s.user_agent,
        "client_ip": s.client_ip,
        "last_seen_at": s.last_seen_at,
    })
}

/// One page of the user's live sessions, oldest first.
pub async fn user_sessions(
    db: &Db,
    login_or_sub: &str,
    page: &PageRequest,
    now: i64,
) -> Result<(User, Page<Session>), OpsError> {
    let user = get_user(db, login_or_sub).await?;
    let sessions = db.list_sessions(&user.sub, now).await?;
    let key = |s: &Session| format!("{:020}:{}", s.created_at, s.sid);
    Ok((user, Page::of_sorted(sessions, page, key)))
}

/// Ends one live session of the user (and revokes its grants).
pub async fn end_user_session(
    db: &Db,
    by: &Actor,
    login_or_sub: &str,
    sid: &str,
    now: i64,
) -> Result<(), OpsError> {
    let user = get_user(db, login_or_sub).await?;
    // Only a session of this user: the sid of someone else's is "no such".
    let live = db.list_sessions(&user.sub, now).await?;
    if !live.iter().any(|s| s.sid == sid) || !db.end_session(sid, now).await? {
        return Err(OpsError::NotFound("session"));
    }
    let e = audit::event(Kind::AdminUserSessionEnd, now)
        .actor(by)
        .subject(&user.sub)
        .sid(sid);
    audit::record(db, e).await;
    Ok(())
}

/// Ends every live session of the user; returns how many.
pub async fn end_user_sessions(
    db: &Db,
    by: &Actor,
    login_or_sub: &str,
    now: i64,
) -> Result<u64, OpsError> {
    let user = get_user(db, login_or_sub).await?;
    let ended = db.end_sessions_of(&user.sub, now, None).await?;
    let e = audit::event(Kind::AdminUserSessionEnd, now)
        .actor(by)
        .subject(&user.sub)
        .count("sessions", ended);
    audit::record(db, e).await;
    Ok(ended)
}

/// One page of the clients the user has approved, by client_id.
pub async fn user_consents(
    db: &Db,
    login_or_sub: &str,
    page: &PageRequest,
) -> Result<Page<Consent>, OpsError> {
    let user = get_user(db, login_or_sub).await?;
    let consents = db.list_consents(&user.sub).await?;
    Ok(Page::of_sorted(consents, page, |c| {
        c.client_id.as_str().to_owned()
    }))
}

/// The user's connections to upstream identity providers, oldest first.
pub async fn user_upstream_links(
    db: &Db,
    login_or_sub: &str,
) -> Result<Vec<frontdesk_core::model::UpstreamLink>, OpsError> {
    let user = get_user(db, login_or_sub).await?;
    Ok(db.upstream_links_of(&user.sub).await?)
}

/// How the admin API and the CLI show a link.
pub fn upstream_link_view(l: &frontdesk_core::model::UpstreamLink) -> Value {
    json!({
        "upstream": l.upstream,
        "upstream_sub": l.upstream_sub,
        "created_at": l.created_at,
        "last_used_at": l.last_used_at,
    })
}

/// Disconnects the user from `upstream` (an administrator may remove the
/// last way in: the account can then get a password by a reset link or
/// `users set-password`).
pub async fn remove_upstream_link(
    db: &Db,
    by: &Actor,
    login_or_sub: &str,
    upstream: &str,
    now: i64,
) -> Result<(), OpsError> {
    let user = get_user(db, login_or_sub).await?;
    if !db.remove_upstream_link(&user.sub, upstream).await? {
        return Err(OpsError::NotFound("upstream link"));
    }
    let e = audit::event(Kind::UpstreamUnlink, now)
        .actor(by)
        .subject(&user.sub)
        .idp(upstream);
    audit::record(db, e).await;
    Ok(())
}

/// Forgets a consent and revokes the user's grants to that client.
pub async fn revoke_consent(
    db: &Db,
    by: &Actor,
    login_or_sub: &str,
    client_id: &str,
    now: i64,
) -> Result<(), OpsError> {
    let user = get_user(db, login_or_sub).await?;
    let id = ClientId(client_id.to_owned());
    if !db.revoke_consent(&user.sub, &id, now).await? {
        return Err(OpsError::NotFound("consent"));
    }
    let e = audit::event(Kind::AdminConsentRevoke, now)
        .actor(by)
        .subject(&user.sub)
        .client(&id);
    audit::record(db, e).await;
    Ok(())
}

/// Publishes the next signing key of each use; it signs from `now +
/// prepublish`, and the current key retires then.
pub async fn rotate_keys(
    db: &Db,
    by: &Actor,
    kek: &Kek,
    rotation: &RotationPolicy,
    uses: &[KeyUse],
    alg: Option<Algorithm>,
    now: i64,
) -> Result<Vec<StoredKey>, OpsError> {
    let mut published = Vec::new();
    for &u in uses {
        let a = alg.unwrap_or(match u {
            KeyUse::AccessToken => Algorithm::ES256,
            KeyUse::IdToken => Algorithm::RS256,
        });
        let key = keys::generate(kek, a, u, now, now + rotation.prepublish)?;
        db.put_signing_key(&key).await?;
        let e = audit::event(Kind::AdminKeysRotate, now)
            .actor(by)
            .kid(&key.kid)
            .label("use", u.as_str());
        audit::record(db, e).await;
        published.push(key);
    }
    Ok(published)
}

/// Applies `[[clients]]` and `[[users]]` from the configuration. Idempotent:
/// running it twice leaves the same rows.
pub async fn bootstrap(
    core: &Core,
    db: &Db,
    clients: &[ClientSpec],
    users: &[UserSpec],
    now: i64,
) -> Result<(), OpsError> {
    for spec in clients {
        let name = spec.client_id.clone().unwrap_or_default();
        if spec.client_id.is_none() {
            return Err(OpsError::Invalid(format!(
                "config: [[clients]] {:?} needs a client_id",
                spec.client_name
            )));
        }
        // A secret-based client needs its secret in the file (a generated
        // one would change at every start); public and key clients have none.
        let secretless = matches!(
            spec.token_endpoint_auth_method,
            Some(
                frontdesk_core::model::AuthMethod::None
                    | frontdesk_core::model::AuthMethod::PrivateKeyJwt
            )
        );
        if !secretless && spec.client_secret.is_none() {
            return Err(OpsError::Invalid(format!(
                "config: [[clients]] {name:?} needs a client_secret (or token_endpoint_auth_method = \"none\" or \"private_key_jwt\")"
            )));
        }
        let new = manage::build_client(spec.clone(), &core.pepper, now)
            .map_err(|e| OpsError::Invalid(format!("config: [[clients]] {name:?}: {e}")))?;
        let stored = db.client(&new.client.client_id).await?;
        check_sector_identifier(&new.client, stored.as_ref())
            .await
            .map_err(|e| OpsError::Invalid(format!("config: [[clients]] {name:?}: {e}")))?;
        db.upsert_client(&new.client).await?;
    }
    for spec in users {
        let name = spec.username.clone();
        // Keep an existing hash when the configured password still matches,
        // so restarts do not rewrite every user.
        let existing = db.user_by_login(&spec.username).await?;
        let spec = spec.clone();
        let user = blocking(move || {
            let mut spec = spec;
            if let (Some(old), Some(pw)) = (&existing, &spec.password)
                && frontdesk_core::password::verify(&old.password_hash, pw)
            {
                spec.password = None;
                spec.password_hash = Some(old.password_hash.clone());
            }
            manage::build_user(spec, now)
        })
        .await
        .map_err(|e| OpsError::Invalid(format!("config: [[users]] {name:?}: {e}")))?;
        let user = db.upsert_user(&user).await?;
        if let Some(groups) = &spec_groups(users, &name) {
            set_user_groups(db, &Actor::Config, &user.sub, groups, now)
                .await
                .map_err(|e| match e {
                    OpsError::Invalid(m) => {
                        OpsError::Invalid(format!("config: [[users]] {name:?}: groups: {m}"))
                    }
                    other => other,
                })?;
        }
    }
    Ok(())
}

/// The `groups` of the `[[users]]` entry named `username`.
fn spec_groups(users: &[UserSpec], username: &str) -> Option<Vec<String>> {
    users
        .iter()
        .find(|u| u.username == username)
        .and_then(|u| u.groups.clone())
}

// ----- upstreams added at run time -----

/// Every upstream: the configuration file's, then the stored ones (oldest
/// first), each as [`crate::upstream::Upstream::view`] shows it, with its
/// `source` (`config` or `database`) and, for a stored one, `created_at`.
/// A stored one that is not offered (it does not load, or the
/// configuration file has its id) says why in `error`.
pub async fn list_upstreams<'a>(
    db: &Db,
    kek: &Kek,
    configured: impl Iterator<Item = &'a crate::upstream::Upstream>,
) -> Result<Vec<Value>, OpsError> {
    let mut out: Vec<Value> = configured
        .map(|u| {
            let mut v = u.view();
            v["source"] = "config".into();
            v
        })
        .collect();
    let config_ids: Vec<Value> = out.iter().map(|v| v["id"].clone()).collect();
    let configured = |id: &str| config_ids.iter().any(|c| c == id);
    for row in db.stored_upstreams().await? {
        let mut v = match crate::upstream::load_stored(&row, kek, configured) {
            Ok(u) => u.view(),
            Err(e) => json!({"id": row.id, "error": e.to_string()}),
        };
        v["source"] = "database".into();
        v["created_at"] = row.created_at.into();
        out.push(v);
    }
    Ok(out)
}

/// Adds an upstream: checked as the configuration's are, its secret
/// sealed under the KEK, offered by every node within a second. `taken`
/// says whether the configuration file uses an id (an upstream's or a
/// directory's); `is_image`, whether the theme has an image of a name
/// (for its `icon`).
pub async fn add_upstream(
    db: &Db,
    kek: &Kek,
    by: &Actor,
    spec: crate::upstream::UpstreamConfig,
    taken: impl Fn(&str) -> bool,
    is_image: impl Fn(&str) -> bool,
    now: i64,
) -> Result<crate::upstream::Upstream, OpsError> {
    let id = spec.id.clone();
    if taken(&id) {
        return Err(OpsError::Conflict(format!(
            "upstream {id} (the configuration file has an upstream or directory of this id)"
        )));
    }
    let (upstream, row) = crate::upstream::to_store(spec, kek, now)
        .and_then(|(u, row)| crate::upstream::icon_exists(&u, is_image).map(|()| (u, row)))
        .map_err(|e| OpsError::Invalid(e.to_string()))?;
    db.create_upstream(&row).await.map_err(|e| match e {
        StoreError::Conflict(_) => OpsError::Conflict(format!("upstream {id}")),
        other => other.into(),
    })?;
    let e = audit::event(Kind::AdminUpstreamAdd, now).actor(by).idp(&id);
    audit::record(db, e).await;
    Ok(upstream)
}

/// Removes a stored upstream with every account's link to it and the
/// group memberships its sign-ins made (accounts stay). One the
/// configuration file declares is refused: remove it there.
pub async fn remove_upstream(
    db: &Db,
    by: &Actor,
    id: &str,
    configured: bool,
    now: i64,
) -> Result<frontdesk_core::model::UpstreamRemoval, OpsError> {
    if configured {
        return Err(OpsError::Refused(format!(
            "upstream {id} is declared in the configuration file; remove it there"
        )));
    }
    let removed = db
        .delete_upstream(id)
        .await?
        .ok_or(OpsError::NotFound("upstream"))?;
    let e = audit::event(Kind::AdminUpstreamRemove, now)
        .actor(by)
        .idp(id)
        .count("links", removed.links)
        .count("memberships", removed.memberships);
    audit::record(db, e).await;
    Ok(removed)
}

// ----- groups -----

/// A new group. The name follows `frontdesk_core::groups::valid_name`.
pub async fn create_group(
    db: &Db,
    by: &Actor,
    name: &str,
    description: &str,
    now: i64,
) -> Result<frontdesk_core::model::Group, OpsError> {
    if !frontdesk_core::groups::valid_name(name) {
        return Err(OpsError::Invalid(format!(
            "{name:?} is not a group name: 1-{} of A-Z, a-z, 0-9 and . _ - : / @, \
             starting with a letter or digit",
            frontdesk_core::groups::MAX_NAME
        )));
    }
    if description.chars().count() > 500 {
        return Err(OpsError::Invalid(
            "the description is longer than 500 characters".into(),
        ));
    }
    let group = frontdesk_core::model::Group {
        name: name.to_owned(),
        description: description.to_owned(),
        created_at: now,
    };
    db.create_group(&group).await.map_err(|e| match e {
        StoreError::Conflict(_) => OpsError::Conflict(format!("group {name}")),
        other => other.into(),
    })?;
    let e = audit::event(Kind::AdminGroupCreate, now)
        .actor(by)
        .group(name);
    audit::record(db, e).await;
    Ok(group)
}

pub async fn get_group(db: &Db, name: &str) -> Result<frontdesk_core::model::Group, OpsError> {
    db.group(name).await?.ok_or(OpsError::NotFound("group"))
}

/// One page of groups, by name.
pub async fn list_groups(
    db: &Db,
    page: &PageRequest,
) -> Result<Page<frontdesk_core::model::Group>, OpsError> {
    let rows = db.groups_page(page.after.as_deref(), page.fetch()).await?;
    Ok(Page::from_rows(rows, page, |g| g.name.clone()))
}

/// Deletes a group and every membership in it.
pub async fn delete_group(db: &Db, by: &Actor, name: &str, now: i64) -> Result<(), OpsError> {
    if !db.delete_group(name).await? {
        return Err(OpsError::NotFound("group"));
    }
    let e = audit::event(Kind::AdminGroupDelete, now)
        .actor(by)
        .group(name);
    audit::record(db, e).await;
    Ok(())
}

/// One page of a group's members, by username.
pub async fn group_members(
    db: &Db,
    name: &str,
    page: &PageRequest,
) -> Result<Page<frontdesk_core::model::GroupMember>, OpsError> {
    get_group(db, name).await?;
    let rows = db
        .group_members_page(name, page.after.as_deref(), page.fetch())
        .await?;
    Ok(Page::from_rows(rows, page, |m| m.username.clone()))
}

/// Adds the user to the group; `false` when they were a member already.
pub async fn add_group_member(
    db: &Db,
    by: &Actor,
    name: &str,
    login_or_sub: &str,
    now: i64,
) -> Result<bool, OpsError> {
    get_group(db, name).await?;
    let user = get_user(db, login_or_sub).await?;
    let added = db.add_group_member(name, &user.sub, now).await?;
    if added {
        let e = audit::event(Kind::AdminGroupMemberAdd, now)
            .actor(by)
            .subject(&user.sub)
            .group(name);
        audit::record(db, e).await;
    }
    Ok(added)
}

/// Removes the user from the group.
pub async fn remove_group_member(
    db: &Db,
    by: &Actor,
    name: &str,
    login_or_sub: &str,
    now: i64,
) -> Result<(), OpsError> {
    get_group(db, name).await?;
    let user = get_user(db, login_or_sub).await?;
    if !db.remove_group_member(name, &user.sub).await? {
        return Err(OpsError::NotFound("membership"));
    }
    let e = audit::event(Kind::AdminGroupMemberRemove, now)
        .actor(by)
        .subject(&user.sub)
        .group(name);
    audit::record(db, e).await;
    Ok(())
}

/// The names of the user's groups.
pub async fn user_groups(db: &Db, login_or_sub: &str) -> Result<Vec<String>, OpsError> {
    let user = get_user(db, login_or_sub).await?;
    Ok(db.groups_of(&user.sub).await?)
}

/// The source of the memberships `[[users]]` entries make: not an
/// upstream or directory id (those never hold `:`).
pub const CONFIG_SOURCE: &str = ":config";

/// Makes the user's memberships from the configuration exactly `groups`
/// (a `[[users]]` entry's `groups`), creating missing groups; memberships
/// made by administrators or by an upstream's or directory's sign-ins stay.
/// Each step is idempotent, so two nodes applying the same configuration
/// at once end the same.
pub async fn set_user_groups(
    db: &Db,
    by: &Actor,
    sub: &str,
    groups: &[String],
    now: i64,
) -> Result<(), OpsError> {
    for name in groups {
        if db.group(name).await?.is_none() {
            match create_group(db, by, name, "", now).await {
                Ok(_) | Err(OpsError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    let change = db
        .sync_group_members(sub, CONFIG_SOURCE, groups, false, now)
        .await?;
    for (kind, names) in [
        (Kind::AdminGroupMemberAdd, &change.added),
        (Kind::AdminGroupMemberRemove, &change.removed),
    ] {
        for name in names {
            let e = audit::event(kind, now).actor(by).subject(sub).group(name);
            audit::record(db, e).await;
        }
    }
    Ok(())
}

/// How the admin API and the CLI show a group.
pub fn group_view(g: &frontdesk_core::model::Group) -> Value {
    json!({
        "name": g.name,
        "description": g.description,
        "created_at": g.created_at,
    })
}
