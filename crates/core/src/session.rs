//! SSO sessions at the authorization server: the cookie that lets a second
//! application sign the user in without a password (OIDC Core §3.1.2.3,
//! "the Authorization Server MUST attempt to Authenticate the End-User" or
//! reuse an existing authentication).
//!
//! The binary only moves the cookie; the rules live here: when a session is
//! still live, when it is too old for `max_age`, and how one starts.

use crate::Core;
use crate::error::Error;
use crate::model::{Session, UnixTime, User};
use crate::secret;
use crate::store::Store;

/// RFC 8176 §2 `pwd`: the user proved a password.
pub const AMR_PASSWORD: &str = "pwd";

/// A session counts while it has not been ended (logout, password change,
/// user disabled) and has not reached its expiry.
pub fn is_live(session: &Session, now: UnixTime) -> bool {
    session.ended_at.is_none() && now < session.expires_at
}

/// OIDC Core §3.1.2.1 `max_age`: "If the elapsed time is greater than this
/// value, the OP MUST attempt to actively re-authenticate the End-User."
/// Equal to `max_age` is still fresh enough; no `max_age`, always.
pub fn fresh_enough(session: &Session, max_age: Option<i64>, now: UnixTime) -> bool {
    max_age.is_none_or(|m| now.saturating_sub(session.auth_time) <= m)
}

/// The live session named by the cookie value, with its user, who must
/// still exist and be enabled. `None` when the cookie names no session, an
/// ended or expired one, or one whose user is gone or disabled.
pub async fn current<S: Store>(
    store: &S,
    cookie: &str,
    now: UnixTime,
) -> Result<Option<(Session, User)>, Error> {
    let Some(s) = store.session(&secret::token_hash(cookie)).await? else {
        return Ok(None);
    };
    if !is_live(&s, now) {
        return Ok(None);
    }
    let user = store.user(&s.sub).await?.filter(|u| !u.disabled);
    Ok(user.map(|u| (s, u)))
}

/// A session just created, and the cookie value that names it (shown to
/// the browser once; only its hash is stored).
#[derive(Debug)]
pub struct Started {
    pub cookie: String,
    pub session: Session,
}

impl Started {
    /// Seconds the cookie should live: until the session expires.
    pub fn cookie_max_age(&self) -> i64 {
        self.session.expires_at - self.session.created_at
    }
}

/// Where a session was started from, for the account page's list.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub user_agent: Option<String>,
    pub client_ip: Option<String>,
    /// The upstream identity provider the user signed in through.
    pub idp: Option<String>,
    /// When the user really authenticated, if that happened elsewhere (an
    /// upstream's `auth_time`): the session's `auth_time` is then that,
    /// never later than now, so `max_age` and re-authentication rules see
    /// the real age of the sign-in.
    pub authenticated_at: Option<UnixTime>,
}

/// Longest `User-Agent` kept with a session, in characters.
const USER_AGENT_MAX: usize = 256;

/// Starts a session for `user`, who has just authenticated with `amr`
/// (RFC 8176 values). Every login gets a fresh random id, never one the
/// browser brought along (session fixation, RFC 6749 §10.12); `auth_time`
/// is now, and the session ends `session_ttl` seconds later.
pub async fn start<S: Store>(
    core: &Core,
    store: &S,
    user: &User,
    amr: &[&str],
    now: UnixTime,
) -> Result<Started, Error> {
    start_from(core, store, user, amr, &Origin::default(), now).await
}

/// [`start`], recording the browser and address the sign-in came from.
pub async fn start_from<S: Store>(
    core: &Core,
    store: &S,
    user: &User,
    amr: &[&str],
    origin: &Origin,
    now: UnixTime,
) -> Result<Started, Error> {
    let cookie = secret::random_string(32)?;
    let session = Session {
        id_hash: secret::token_hash(&cookie),
        sid: secret::random_string(16)?,
        sub: user.sub.clone(),
        auth_time: origin.authenticated_at.map_or(now, |t| t.min(now)),
        amr: amr.iter().map(|m| (*m).to_owned()).collect(),
        created_at: now,
        expires_at: now + core.settings.session_ttl,
        ended_at: None,
        user_agent: origin
            .user_agent
            .as_ref()
            .map(|ua| ua.chars().take(USER_AGENT_MAX).collect()),
        client_ip: origin.client_ip.clone(),
        last_seen_at: None,
        idp: origin.idp.clone(),
    };
    store.put_session(&session).await?;
    Ok(Started { cookie, session })
}

/// How often a session's `last_seen_at` is written while it signs the
/// user in to applications (so the hot path writes at most once per
/// session in this many seconds).
pub const TOUCH_EVERY_SECS: i64 = 300;

/// Whether [`Store::touch_session`] is due for this session.
pub fn touch_due(session: &Session, now: UnixTime) -> bool {
    now.saturating_sub(session.last_seen_at.unwrap_or(session.created_at)) >= TOUCH_EVERY_SECS
}

/// Ends the session (RP-Initiated Logout §2) and, in the same transaction,
/// revokes every grant made in it. `false` when it was not live.
pub async fn end<S: Store>(store: &S, session: &Session, now: UnixTime) -> Result<bool, Error> {
    Ok(store.end_session(&session.sid, now).await?)
}
