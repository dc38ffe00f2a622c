//! E-mailed links: verify an e-mail address, reset a forgotten password.
//!
//! A link carries a random token (256 bits, [`crate::secret`]); the store
//! keeps only its SHA-256 hash with the purpose, the user, the address it
//! went to and its expiry. Spending it is one conditional update in the
//! store, so a link works once, and only before it expires. Core decides
//! who gets a link and how often (throttling, the same answer whether or
//! not the account exists); the binary renders and sends the mail.

use std::net::IpAddr;

use crate::error::Error;
use crate::login;
use crate::model::{LinkPurpose, LinkRedemption, LinkToken, UnixTime, User};
use crate::secret;
use crate::store::Store;

/// Lifetimes and limits of e-mailed links.
#[derive(Debug, Clone, Copy)]
pub struct LinkPolicy {
    /// Seconds a password-reset link works (default 1800).
    pub reset_ttl: i64,
    /// Seconds an e-mail verification link works (default 86400).
    pub verify_ttl: i64,
    /// Mails (reset requests, verification resends) per account in a window.
    pub max_per_account: u32,
    /// Reset requests per client address (IPv6: per /64) in a window.
    pub max_per_ip: u32,
    /// The window, seconds.
    pub window: i64,
}

impl LinkPolicy {
    pub fn ttl(&self, purpose: LinkPurpose) -> i64 {
        match purpose {
            LinkPurpose::ResetPassword => self.reset_ttl,
            LinkPurpose::VerifyEmail => self.verify_ttl,
        }
    }
}

/// Random bytes in a link token.
pub const TOKEN_BYTES: usize = 32;

/// Longer inputs are not tokens of ours; they are refused without a look-up.
const MAX_TOKEN_LEN: usize = 128;

/// Why a link cannot be used. Every one is the user's to see (a 400 page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkProblem {
    /// Never issued, mangled, for the other purpose, or purged.
    Unknown,
    Expired,
    AlreadyUsed,
    /// A verification link for an address the account no longer has.
    AddressChanged,
}

impl LinkProblem {
    /// A sentence for the error page.
    pub fn describe(self) -> &'static str {
        match self {
            LinkProblem::Unknown => {
                "This link is not valid. Check that you copied all of it, or ask for a new one."
            }
            LinkProblem::Expired => "This link has expired. Ask for a new one.",
            LinkProblem::AlreadyUsed => {
                "This link has already been used. Each link works once; ask for a new one if you need it."
            }
            LinkProblem::AddressChanged => {
                "This link was sent to an e-mail address that is no longer on the account."
            }
        }
    }

    /// A short machine-readable code, shown under the message.
    pub fn code(self) -> &'static str {
        match self {
            LinkProblem::Unknown => "invalid_link",
            LinkProblem::Expired => "expired_link",
            LinkProblem::AlreadyUsed => "used_link",
            LinkProblem::AddressChanged => "address_changed",
        }
    }
}

/// A new link token for `user`: the token for the URL (never stored) and
/// the record to store. `None` when the user has no e-mail address.
pub fn new_token(
    policy: &LinkPolicy,
    purpose: LinkPurpose,
    user: &User,
    now: UnixTime,
) -> Result<Option<(String, LinkToken)>, Error> {
    let Some(email) = user.claims.email.as_deref() else {
        return Ok(None);
    };
    let token = secret::random_string(TOKEN_BYTES)?;
    let record = LinkToken {
        token_hash: secret::token_hash(&token),
        purpose,
        sub: user.sub.clone(),
        email: email.to_lowercase(),
        created_at: now,
        expires_at: now.saturating_add(policy.ttl(purpose)),
        used_at: None,
    };
    Ok(Some((token, record)))
}

/// Issues a link for `user` and stores its hash; returns the token and the
/// address to send it to. `None` when the user has no e-mail address.
pub async fn issue<S: Store>(
    store: &S,
    policy: &LinkPolicy,
    purpose: LinkPurpose,
    user: &User,
    now: UnixTime,
) -> Result<Option<(String, String)>, Error> {
    let Some((token, record)) = new_token(policy, purpose, user, now)? else {
        return Ok(None);
    };
    store.put_link_token(&record).await?;
    let to = user.claims.email.clone().unwrap_or_default();
    Ok(Some((token, to)))
}

/// Whether `token` is a usable, unspent link of `purpose` now (nothing is
/// written): for the page that shows the new-password form.
pub async fn check<S: Store>(
    store: &S,
    purpose: LinkPurpose,
    token: &str,
    now: UnixTime,
) -> Result<Result<LinkToken, LinkProblem>, Error> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Ok(Err(LinkProblem::Unknown));
    }
    let Some(t) = store.link_token(&secret::token_hash(token)).await? else {
        return Ok(Err(LinkProblem::Unknown));
    };
    Ok(if t.purpose != purpose {
        Err(LinkProblem::Unknown)
    } else if t.used_at.is_some() {
        Err(LinkProblem::AlreadyUsed)
    } else if t.expires_at <= now {
        Err(LinkProblem::Expired)
    } else {
        Ok(t)
    })
}

fn problem(r: LinkRedemption) -> Result<Box<User>, LinkProblem> {
    match r {
        LinkRedemption::Done(u) => Ok(u),
        LinkRedemption::AlreadyUsed => Err(LinkProblem::AlreadyUsed),
        LinkRedemption::Expired => Err(LinkProblem::Expired),
        LinkRedemption::AddressChanged => Err(LinkProblem::AddressChanged),
        LinkRedemption::Unknown => Err(LinkProblem::Unknown),
    }
}

/// Spends a reset link and sets the new password (`password_hash`, an
/// Argon2id PHC string the caller made). On success every session of the
/// user has ended, every grant (so every refresh token) is revoked, the
/// user's other reset links are spent, and the account's failed-login
/// count is cleared, so a locked-out user can sign in with the new password.
pub async fn reset_password<S: Store>(
    store: &S,
    token: &str,
    password_hash: &str,
    now: UnixTime,
) -> Result<Result<Box<User>, LinkProblem>, Error> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Ok(Err(LinkProblem::Unknown));
    }
    let r = store
        .reset_password_by_link(&secret::token_hash(token), password_hash, now)
        .await?;
    let r = problem(r);
    if let Ok(u) = &r {
        store
            .clear_login_failures(&login::account_key(&u.sub))
            .await?;
    }
    Ok(r)
}

/// Spends a verification link: the address it went to is now verified.
pub async fn verify_email<S: Store>(
    store: &S,
    token: &str,
    now: UnixTime,
) -> Result<Result<Box<User>, LinkProblem>, Error> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Ok(Err(LinkProblem::Unknown));
    }
    Ok(problem(
        store
            .verify_email_by_link(&secret::token_hash(token), now)
            .await?,
    ))
}

/// What a forgot-password request comes to.
#[derive(Debug)]
pub enum ResetRequest {
    /// Over a limit (per address or per account): a 429 page, no mail.
    Throttled,
    /// Send this user a reset link.
    Send(Box<User>),
    /// No mail: no such account, or one that could not use a link
    /// (disabled, no e-mail address). The page says the same as for `Send`.
    Nothing,
}

/// The throttling keys: distinct prefixes on the login-failure counters.
fn reset_ip_key(peer: IpAddr) -> String {
    format!("reset-ip:{}", crate::addr::throttle_key(peer))
}

/// A forgot-password request for `login` (username or e-mail) from `peer`.
///
/// Every request counts, against the address and then against the account
/// (by `sub` once known, by the lowercased text while unknown, like the
/// login throttle), before anything else is decided, and a known and an
/// unknown account take the same steps here: one look-up, two counts. The
/// answer page is the same for `Send` and `Nothing`; the caller sends the
/// mail off the request path, so neither the answer nor its timing tells
/// whether the account exists.
pub async fn request_reset<S: Store>(
    store: &S,
    policy: &LinkPolicy,
    login: &str,
    peer: IpAddr,
    now: UnixTime,
) -> Result<ResetRequest, Error> {
    if store
        .note_login_failure(&reset_ip_key(peer), now, policy.window)
        .await?
        > policy.max_per_ip
    {
        return Ok(ResetRequest::Throttled);
    }
    let user = if login.is_empty() {
        None
    } else {
        store.user_by_login(login).await?
    };
    let key = match &user {
        Some(u) => format!("reset-sub:{}", u.sub),
        None => format!("reset-acct:{}", login.to_lowercase()),
    };
    if store.note_login_failure(&key, now, policy.window).await? > policy.max_per_account {
        return Ok(ResetRequest::Throttled);
    }
    Ok(match user {
        Some(u) if !u.disabled && u.claims.email.is_some() => ResetRequest::Send(Box::new(u)),
        _ => ResetRequest::Nothing,
    })
}

/// Whether another verification mail may go to `user` now, counting it
/// (`verify-sub:`), within the per-account limit: resends triggered by
/// sign-in attempts cannot flood a mailbox.
pub async fn may_send_verification<S: Store>(
    store: &S,
    policy: &LinkPolicy,
    user: &User,
    now: UnixTime,
) -> Result<bool, Error> {
    let key = format!("verify-sub:{}", user.sub);
    Ok(store.note_login_failure(&key, now, policy.window).await? <= policy.max_per_account)
}
