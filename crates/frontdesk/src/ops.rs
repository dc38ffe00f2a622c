//! Administrative operations shared by the CLI, the admin API and the
//! declarative bootstrap, so each rule lives once.

use frontdesk_core::Core;
use frontdesk_core::error::Error;
use frontdesk_core::manage::{self, ClientPatch, ClientSpec, ManageError, NewClient, UserSpec};
use frontdesk_core::model::{Client, ClientId, ClientSecret, User, UserClaims};
use frontdesk_core::secret;
use frontdesk_core::store::{Store, StoreError};
use frontdesk_store::Db;
use serde_json::{Value, json};

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
        "created_at": u.created_at,
        "updated_at": u.updated_at,
    });
    if let (Value::Object(m), Ok(Value::Object(claims))) = (&mut v, serde_json::to_value(&u.claims))
    {
        m.extend(claims);
    }
    v
}

pub async fn create_client(
    core: &Core,
    db: &Db,
    spec: ClientSpec,
    now: i64,
) -> Result<NewClient, OpsError> {
    let new = manage::build_client(spec, &core.pepper, now)?;
    db.create_client(&new.client).await?;
    Ok(new)
}

pub async fn get_client(db: &Db, id: &str) -> Result<Client, OpsError> {
    db.client(&ClientId(id.to_owned()))
        .await?
        .ok_or(OpsError::NotFound("client"))
}

pub async fn update_client(
    db: &Db,
    id: &str,
    patch: ClientPatch,
    now: i64,
) -> Result<Client, OpsError> {
    let client = get_client(db, id).await?;
    let updated = manage::patch_client(client, patch, now)?;
    if !db.update_client(&updated).await? {
        return Err(OpsError::NotFound("client"));
    }
    Ok(updated)
}

pub async fn delete_client(db: &Db, id: &str) -> Result<(), OpsError> {
    if db.delete_client(&ClientId(id.to_owned())).await? {
        Ok(())
    } else {
        Err(OpsError::NotFound("client"))
    }
}

/// Issues a new secret; the previous one keeps working for `grace` seconds
/// so deployments can roll over without downtime.
pub async fn rotate_secret(
    core: &Core,
    db: &Db,
    id: &str,
    grace: i64,
    now: i64,
) -> Result<(String, i64), OpsError> {
    let client = get_client(db, id).await?;
    if client.token_endpoint_auth_method == frontdesk_core::model::AuthMethod::None {
        return Err(OpsError::Invalid("a public client has no secret".into()));
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

pub async fn create_user(db: &Db, spec: UserSpec, now: i64) -> Result<User, OpsError> {
    let user = blocking(move || manage::build_user(spec, now)).await?;
    db.create_user(&user).await?;
    Ok(user)
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
    Ok(())
}

pub async fn set_disabled(
    db: &Db,
    login_or_sub: &str,
    disabled: bool,
    now: i64,
) -> Result<(), OpsError> {
    let user = get_user(db, login_or_sub).await?;
    if !db.set_user_disabled(&user.sub, disabled, now).await? {
        return Err(OpsError::NotFound("user"));
    }
    Ok(())
}

pub async fn set_claims(
    db: &Db,
    login_or_sub: &str,
    claims: UserClaims,
    now: i64,
) -> Result<User, OpsError> {
    let user = get_user(db, login_or_sub).await?;
    if !db.update_user_claims(&user.sub, &claims, now).await? {
        return Err(OpsError::NotFound("user"));
    }
    get_user(db, &user.sub).await
}

/// Mails `login_or_sub` a new password-reset link, or with `verify` a new
/// e-mail verification link, now (not queued), and returns the address.
pub async fn send_link(
    db: &Db,
    mailer: &crate::mail::Mailer,
    links: &frontdesk_core::email_link::LinkPolicy,
    login_or_sub: &str,
    verify: bool,
    now: i64,
) -> Result<String, OpsError> {
    use crate::mail::{Job, MailError};
    let user = get_user(db, login_or_sub).await?;
    let job = if verify {
        Job::VerifyEmail { sub: user.sub }
    } else {
        Job::ResetPassword { sub: user.sub }
    };
    match crate::mail::perform(mailer, db, links, &job, now).await {
        Ok((to, _)) => Ok(to),
        Err(MailError::NoUser) => Err(OpsError::NotFound("user")),
        Err(e @ (MailError::NoAddress | MailError::Disabled | MailError::BadAddress(_))) => {
            Err(OpsError::Invalid(e.to_string()))
        }
        Err(MailError::Transport(m)) => Err(OpsError::Mail(m)),
        Err(MailError::Core(e)) => Err(e.into()),
    }
}

pub async fn delete_user(db: &Db, login_or_sub: &str) -> Result<(), OpsError> {
    let user = get_user(db, login_or_sub).await?;
    if !db.delete_user(&user.sub).await? {
        return Err(OpsError::NotFound("user"));
    }
    Ok(())
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
        let public =
            spec.token_endpoint_auth_method == Some(frontdesk_core::model::AuthMethod::None);
        if !public && spec.client_secret.is_none() {
            return Err(OpsError::Invalid(format!(
                "config: [[clients]] {name:?} needs a client_secret (or token_endpoint_auth_method = \"none\")"
            )));
        }
        let new = manage::build_client(spec.clone(), &core.pepper, now)
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
        db.upsert_user(&user).await?;
    }
    Ok(())
}
