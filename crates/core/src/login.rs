//! The password check of the login page: throttling per account and per
//! client address, progressive delay, and the same work for unknown users
//! as for known ones (SECURITY.md §5.6, R37).
//!
//! Core decides; the caller supplies the two things core does not do
//! itself — running Argon2id (on a bounded pool) and waiting ([`Checker`]).

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use crate::error::Error;
use crate::model::{UnixTime, User};
use crate::store::Store;

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

/// The wait before checking an attempt on an account that already has
/// `earlier_failures` in its window: none up to [`PROGRESSIVE_AFTER`], then
/// 0.25 s doubling up to 4 s.
pub fn progressive_delay(earlier_failures: u32) -> Option<Duration> {
    let step = earlier_failures.checked_sub(PROGRESSIVE_AFTER)?;
    Some(Duration::from_millis(250u64 << step.min(4)))
}

/// Checks `password` for `login`, from `peer`.
///
/// Every attempt is counted as a failure *before* its password is checked
/// (one atomic increment each), and only attempts numbered within the
/// limits are checked: however many arrive at once, at most
/// `max_per_account` passwords per account and `max_per_ip` per address are
/// ever tried in a window. A success takes its count back. The address is
/// checked first, so an address over its limit no longer adds to the
/// accounts it tries. Unknown users cost one Argon2id check of
/// `dummy_hash`, so neither the answer nor its timing tells whether an
/// account exists.
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
    // IPv6 by its /64, like every throttle (crate::addr).
    let ip_key = format!("ip:{}", crate::addr::throttle_key(peer));
    if store
        .note_login_failure(&ip_key, now, policy.window)
        .await?
        > policy.max_per_ip
    {
        return Ok(LoginCheck::Throttled);
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
        return Ok(LoginCheck::Throttled);
    }
    if let Some(delay) = progressive_delay(account_count.saturating_sub(1)) {
        checker.delay(delay).await;
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
                return Ok(LoginCheck::Unverified(Box::new(u)));
            }
            Ok(LoginCheck::Ok(Box::new(u)))
        }
        // Already counted above.
        _ => Ok(LoginCheck::Failed),
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
