//! The password check of the login page: throttling per account and per
//! client address, progressive delay, and the same work for unknown users
//! as for known ones (SECURITY.md §5.6, R37).
//!
//! Core decides; the caller supplies the two things core does not do
//! itself — running Argon2id (on a bounded pool) and waiting ([`Checker`]).
//!
//! An account without a local password may be checked against directories
//! instead (LDAP, `[[ldap]]` in the binary: [`Directories`]); the rules
//! stay here — the same throttle, counted before any directory is asked,
//! the same progressive delay, never an empty password, an unreachable
//! directory failing closed without counting against the user — and the
//! account a directory's answer signs in to is decided by
//! [`crate::upstream::resolve`], as for any upstream.

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use crate::error::Error;
use crate::model::{UnixTime, User};
use crate::store::Store;
use crate::upstream::{self, Identity, Policy, Resolved};

/// How failed logins are throttled.
#[derive(Debug, Clone, Copy)]
pub struct LoginPolicy {
    /// Attempts per account in a window; later ones are refused unchecked.
    pub max_per_account: u32,
    /// Attempts per client address in a window.
    pub max_per_ip: u32,
    /// The window, seconds (it starts at the first failure).
    pub window: i64,
}

/// Failed logins on an account before each further attempt is slowed down.
pub const PROGRESSIVE_AFTER: u32 = 5;

/// What a login attempt came to.
#[derive(Debug)]
pub enum LoginCheck {
    Ok(Box<User>),
    Failed,
    /// Over a limit: the password was not checked.
    Throttled,
    /// The password is right, but the account was made by self-registration
    /// and its e-mail address is not verified yet: no session
    /// ([`User::verify_before_sign_in`]).
    Unverified(Box<User>),
}

/// The throttling key of an account known by its `sub`.
pub fn account_key(sub: &str) -> String {
    format!("sub:{sub}")
}

/// The work a password check needs from its caller.
pub trait Checker: Sync {
    /// Whether `password` matches the PHC string `hash` (Argon2id).
    fn verify(
        &self,
        hash: String,
        password: String,
    ) -> impl Future<Output = Result<bool, Error>> + Send;
    /// Waits `delay` (the progressive slow-down).
    fn delay(&self, delay: Duration) -> impl Future<Output = ()> + Send;
}

/// Where a password is checked when the account has none of its own: the
/// configured directories, in order (the binary's LDAP client does the
/// I/O; [`check_login`] decides when they are asked and what their answer
/// comes to).
pub trait Directories: Sync {
    /// Whether there is any directory to ask.
    fn configured(&self) -> bool;
    /// Whether `id` (an upstream link's `upstream`) names one of these
    /// directories: an account linked to one is the directory's, and its
    /// password is the directory's only.
    fn owns(&self, id: &str) -> bool;
    /// Whether `password` is the password of the directory user `login`
    /// (the first directory that knows the name decides). [`check_login`]
    /// never calls it with an empty password.
    fn check(&self, login: &str, password: &str) -> impl Future<Output = DirectoryAnswer> + Send;
}

/// No directories: the account's own password only.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDirectories;

impl Directories for NoDirectories {
    fn configured(&self) -> bool {
        false
    }

    fn owns(&self, _id: &str) -> bool {
        false
    }

    async fn check(&self, _login: &str, _password: &str) -> DirectoryAnswer {
        DirectoryAnswer::Rejected
    }
}

/// What the directories said about a login and its password.
#[derive(Debug)]
pub enum DirectoryAnswer {
    /// A directory accepted the password for exactly one of its entries.
    Verified(Box<DirectoryUser>),
    /// No directory knows the name, the name is ambiguous, or the password
    /// is wrong: a failed login like any other.
    Rejected,
    /// A directory could not be asked (unreachable, timed out, TLS, an
    /// unexpected answer): the login fails closed, never falls back to
    /// anything else, and is not the user's failure.
    Unavailable,
}

/// The directory entry a password was verified for.
#[derive(Debug, Clone)]
pub struct DirectoryUser {
    /// The entry as an upstream identity: `upstream` is the directory's
    /// id (ids of upstreams and directories share one namespace, so the
    /// link table keeps them apart).
    pub identity: Identity,
    /// The directory's account rules (`link_by_email` is always off).
    pub policy: Policy,
    /// The entry's group names. Nothing stores groups yet.
    pub groups: Vec<String>,
}

/// What a login attempt came to, directories included ([`check_login`]).
#[derive(Debug)]
pub enum Login {
    /// What [`check_password`] answers: the account's own password, a
    /// throttled attempt, or a failure (a directory's refusal included).
    Password(LoginCheck),
    /// A directory verified the password; `resolved` is the account it
    /// signs in to, or why none.
    Directory {
        directory: String,
        resolved: Resolved,
        groups: Vec<String>,
    },
    /// A directory could not be asked; nothing was counted.
    Unavailable,
}

/// The wait before checking an attempt on an account that already has
/// `earlier_failures` in its window: none up to [`PROGRESSIVE_AFTER`], then
/// 0.25 s doubling up to 4 s.
pub fn progressive_delay(earlier_failures: u32) -> Option<Duration> {
    let step = earlier_failures.checked_sub(PROGRESSIVE_AFTER)?;
    Some(Duration::from_millis(250u64 << step.min(4)))
}

/// Checks `password` for `login`, from `peer`: the account's own password
/// only ([`check_login`] without directories).
///
/// # Errors
/// Store failures and a failed password check (`Internal`).
#[allow(clippy::too_many_arguments)]
pub async fn check_password<S: Store>(
    store: &S,
    policy: &LoginPolicy,
    checker: &impl Checker,
    dummy_hash: &str,
    login: &str,
    password: &str,
    peer: IpAddr,
    now: UnixTime,
) -> Result<LoginCheck, Error> {
    let checked = check_login(
        store,
        policy,
        checker,
        &NoDirectories,
        dummy_hash,
        login,
        password,
        peer,
        now,
    )
    .await?;
    Ok(match checked {
        Login::Password(c) => c,
        // Not reached without directories; never a way in.
        Login::Directory { .. } | Login::Unavailable => LoginCheck::Failed,
    })
}

/// Checks `password` for `login`, from `peer`: the account's own password
/// when it has one, else the `directories` (when any are configured).
///
/// Every attempt is counted as a failure *before* its password is checked
/// (one atomic increment each), and only attempts numbered within the
/// limits are checked: however many arrive at once, at most
/// `max_per_account` passwords per account and `max_per_ip` per address are
/// ever tried in a window — locally or at a directory, which an attempt
/// over a limit never reaches. A success takes its count back, and so does
/// an attempt a directory could not answer (an outage is not the user's
/// failure). The address is checked first, so an address over its limit
/// no longer adds to the accounts it tries. Unknown users cost one
/// Argon2id check of `dummy_hash` when no directory is asked, so neither
/// the answer nor its timing tells whether an account exists. An empty
/// password never reaches a directory (RFC 4513 §5.1.2: many servers
/// treat a bind with a name and no password as an anonymous success).
///
/// # Errors
/// Store failures and a failed password check (`Internal`).
#[allow(clippy::too_many_arguments)]
pub async fn check_login<S: Store>(
    store: &S,
    policy: &LoginPolicy,
    checker: &impl Checker,
    directories: &impl Directories,
    dummy_hash: &str,
    login: &str,
    password: &str,
    peer: IpAddr,
    now: UnixTime,
) -> Result<Login, Error> {
    // IPv6 by its /64, like every throttle (crate::addr).
    let ip_key = format!("ip:{}", crate::addr::throttle_key(peer));
    if store
        .note_login_failure(&ip_key, now, policy.window)
        .await?
        > policy.max_per_ip
    {
        return Ok(Login::Password(LoginCheck::Throttled));
    }
    // The account is counted once whatever name it is reached by (username
    // or e-mail address), so resolve it first: a known account by its
    // `sub`, an unknown login by its lowercased text. Both still count
    // before any password is checked.
    let user = if login.is_empty() {
        None
    } else {
        store.user_by_login(login).await?
    };
    let account_key = match &user {
        Some(u) => account_key(&u.sub),
        None => format!("acct:{}", login.to_lowercase()),
    };
    let account_count = store
        .note_login_failure(&account_key, now, policy.window)
        .await?;
    if account_count > policy.max_per_account {
        return Ok(Login::Password(LoginCheck::Throttled));
    }
    if let Some(delay) = progressive_delay(account_count.saturating_sub(1)) {
        checker.delay(delay).await;
    }
    let has_password = user.as_ref().is_some_and(|u| !u.password_hash.is_empty());
    // An account a directory made (or that is linked to one) is the
    // directory's: a local password it was given later (a reset link, an
    // administrator) is not a way around the directory, which may have
    // disabled the user since.
    let directory_account = match &user {
        Some(u) if directories.configured() => store
            .upstream_links_of(&u.sub)
            .await?
            .iter()
            .any(|l| directories.owns(&l.upstream)),
        _ => false,
    };
    if (!has_password || directory_account) && directories.configured() {
        let keys = Counted {
            ip: &ip_key,
            account: &account_key,
        };
        return at_directories(store, directories, &keys, login, password, now).await;
    }
    let hash = user
        .as_ref()
        .filter(|u| !u.password_hash.is_empty())
        .map_or_else(|| dummy_hash.to_owned(), |u| u.password_hash.clone());
    let matches = checker.verify(hash, password.to_owned()).await?;
    match user {
        Some(u) if matches && !u.disabled && !u.password_hash.is_empty() => {
            store.clear_login_failures(&account_key).await?;
            store.forgive_login_failure(&ip_key).await?;
            if u.verify_before_sign_in && !u.claims.email_verified {
                return Ok(Login::Password(LoginCheck::Unverified(Box::new(u))));
            }
            Ok(Login::Password(LoginCheck::Ok(Box::new(u))))
        }
        // Already counted above.
        _ => Ok(Login::Password(LoginCheck::Failed)),
    }
}

/// The throttle keys an attempt was counted under.
struct Counted<'a> {
    ip: &'a str,
    account: &'a str,
}

/// The directories' part of [`check_login`], after the attempt was counted.
async fn at_directories<S: Store>(
    store: &S,
    directories: &impl Directories,
    counted: &Counted<'_>,
    login: &str,
    password: &str,
    now: UnixTime,
) -> Result<Login, Error> {
    if login.is_empty() || password.is_empty() {
        // Counted above; no directory is asked.
        return Ok(Login::Password(LoginCheck::Failed));
    }
    match directories.check(login, password).await {
        DirectoryAnswer::Rejected => Ok(Login::Password(LoginCheck::Failed)),
        DirectoryAnswer::Unavailable => {
            store.forgive_login_failure(counted.account).await?;
            store.forgive_login_failure(counted.ip).await?;
            Ok(Login::Unavailable)
        }
        DirectoryAnswer::Verified(found) => {
            let DirectoryUser {
                identity,
                policy,
                groups,
            } = *found;
            let policy = Policy {
                link_by_email: false,
                ..policy
            };
            let resolved = upstream::resolve(store, &identity, policy, now).await?;
            // Only a sign-in takes its count back, as for a local password.
            if !matches!(resolved, Resolved::Refused(_)) {
                store.clear_login_failures(counted.account).await?;
                store.forgive_login_failure(counted.ip).await?;
            }
            Ok(Login::Directory {
                directory: identity.upstream,
                resolved,
                groups,
            })
        }
    }
}

/// The login-throttle counters that lock `user`'s account, for an
/// administrator's unlock: `sub:SUB`, where attempts on the known account
/// are counted, and `acct:LOGIN` for its username and e-mail address
/// lowercased, where attempts were counted while the name resolved to no
/// account (see [`check_password`]). Address counters (`ip:`) are not the
/// account's and stay.
pub fn unlock_keys(user: &User) -> Vec<String> {
    let mut keys = vec![
        format!("sub:{}", user.sub),
        format!("acct:{}", user.username.to_lowercase()),
        // Second-factor attempts (crate::mfa).
        crate::mfa::throttle_key(&user.sub),
    ];
    if let Some(email) = &user.claims.email {
        keys.push(format!("acct:{}", email.to_lowercase()));
    }
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_starts_after_five_failures_and_stops_growing_at_four_seconds() {
        let ms = |n| progressive_delay(n).map(|d| d.as_millis());
        assert_eq!(ms(0), None);
        assert_eq!(ms(PROGRESSIVE_AFTER - 1), None);
        assert_eq!(ms(PROGRESSIVE_AFTER), Some(250));
        assert_eq!(ms(PROGRESSIVE_AFTER + 1), Some(500));
        assert_eq!(ms(PROGRESSIVE_AFTER + 4), Some(4000));
        assert_eq!(ms(PROGRESSIVE_AFTER + 40), Some(4000));
    }
}
