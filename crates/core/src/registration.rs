//! Self-registration (`/register`, `features.registration`): who may sign
//! up, with which username and address, and how an account that already
//! exists is answered.
//!
//! The answer for an address that already has an account is the same as for
//! a new account ("check your e-mail"); the owner of the address gets a
//! notice instead of a verification link. A taken *username* is said so: a
//! username is a handle the person picks and must change, not a secret
//! (usernames may not contain `@`, so no username can shadow an address at
//! sign-in). The check for a taken username comes first, so its answer never
//! depends on the address.

use std::net::IpAddr;

use crate::error::Error;
use crate::manage::{self, ManageError};
use crate::model::{UnixTime, User, UserClaims};
use crate::store::{Store, StoreError};

/// The rules of self-registration.
#[derive(Debug, Clone, Default)]
pub struct RegistrationPolicy {
    /// E-mail domains allowed to register (lower-case, exact match); empty:
    /// any.
    pub email_domains: Vec<String>,
    /// Registrations per client address (IPv6: per /64) in a window.
    pub max_per_ip: u32,
    /// The window, seconds.
    pub window: i64,
    /// New accounts must verify their address before their first sign-in
    /// (when mail really goes out: SMTP is configured).
    pub verify_before_sign_in: bool,
}

/// A registration form that breaks a rule: the message is for the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Longest e-mail address accepted (RFC 5321 §4.5.3.1.3 path limit, less <>).
const MAX_EMAIL_LEN: usize = 254;

/// A plain check of an address's shape: `local@domain`, the domain a
/// dot-separated host name. Quoted local parts and address literals are
/// refused (no mail system needs them for sign-up).
pub fn validate_email(email: &str) -> Result<(), Refused> {
    let bad = || Refused("Enter a valid e-mail address.".into());
    if email.len() > MAX_EMAIL_LEN {
        return Err(bad());
    }
    let (local, domain) = email.rsplit_once('@').ok_or_else(bad)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if local_ok && domain_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Checks a form before any work is done: username, address, allowed
/// domain, password rules (the same as everywhere: [`manage`]).
pub fn validate(
    policy: &RegistrationPolicy,
    username: &str,
    email: &str,
    password: &str,
) -> Result<(), Refused> {
    let from = |e: ManageError| Refused(format!("{}.", capitalise(&e.to_string())));
    manage::validate_username(username).map_err(from)?;
    if username.contains('@') {
        return Err(Refused(
            "A username may not contain @ (sign in with your e-mail address instead).".into(),
        ));
    }
    validate_email(email)?;
    if !policy.email_domains.is_empty() {
        let domain = email
            .rsplit_once('@')
            .map(|(_, d)| d.to_lowercase())
            .unwrap_or_default();
        if !policy.email_domains.contains(&domain) {
            return Err(Refused(format!(
                "Registration is open to addresses at {} only.",
                policy.email_domains.join(", ")
            )));
        }
    }
    manage::validate_password(password).map_err(from)?;
    Ok(())
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Counts a registration attempt from `peer`; `false` when over the limit.
pub async fn admit<S: Store>(
    store: &S,
    policy: &RegistrationPolicy,
    peer: IpAddr,
    now: UnixTime,
) -> Result<bool, Error> {
    let key = format!("register-ip:{}", crate::addr::throttle_key(peer));
    Ok(store.note_login_failure(&key, now, policy.window).await? <= policy.max_per_ip)
}

/// What a registration came to.
#[derive(Debug)]
pub enum Registered {
    /// A new account: send it a verification link.
    Created(Box<User>),
    /// The address already has an account: the page says the same as for
    /// `Created`; the address's owner gets a notice, not a link.
    EmailTaken { email: String },
    /// The username is taken: the form says so.
    UsernameTaken,
}

/// Creates the account (`password_hash`: Argon2id, made by the caller
/// whatever the outcome, so the three outcomes cost the same). The e-mail
/// is unverified; with `verify_before_sign_in` the account cannot sign in
/// until it is verified.
pub async fn register<S: Store>(
    store: &S,
    policy: &RegistrationPolicy,
    username: &str,
    email: &str,
    password_hash: String,
    now: UnixTime,
) -> Result<Registered, Error> {
    let taken = |found: Option<User>| found.is_some_and(|u| u.username == username);
    if taken(store.user_by_login(username).await?) {
        return Ok(Registered::UsernameTaken);
    }
    let user = User {
        sub: uuid::Uuid::new_v4().to_string(),
        username: username.to_owned(),
        password_hash,
        disabled: false,
        claims: UserClaims {
            email: Some(email.to_owned()),
            email_verified: false,
            ..UserClaims::default()
        },
        created_at: now,
        updated_at: now,
        verify_before_sign_in: policy.verify_before_sign_in,
        mfa_enrolled: false,
        has_passkey: false,
    };
    match store.create_user(&user).await {
        Ok(()) => Ok(Registered::Created(Box::new(user))),
        // The username was free a moment ago: a conflict now is the address,
        // unless someone took the username in between.
        Err(StoreError::Conflict(_)) => {
            if taken(store.user_by_login(username).await?) {
                Ok(Registered::UsernameTaken)
            } else {
                Ok(Registered::EmailTaken {
                    email: email.to_owned(),
                })
            }
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_shapes() {
        for ok in [
            "a@example.com",
            "first.last+tag@mail.example.co.uk",
            "x_y@a-b.example",
        ] {
            assert_eq!(validate_email(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "a",
            "a@",
            "@example.com",
            "a@example",
            "a@@example.com",
            "a b@example.com",
            "a@exa mple.com",
            ".a@example.com",
            "a..b@example.com",
            "a@-example.com",
            "a@example..com",
            "\"a\"@example.com",
            "a@[127.0.0.1]",
            "a@example.com\r\nBcc: x@evil.example",
        ] {
            assert!(validate_email(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert!(validate_email(&long).is_err());
    }

    #[test]
    fn form_rules() {
        let open = RegistrationPolicy::default();
        let only = RegistrationPolicy {
            email_domains: vec!["example.com".into()],
            ..RegistrationPolicy::default()
        };
        let pw = "long enough password";
        assert_eq!(validate(&open, "carol", "carol@elsewhere.org", pw), Ok(()));
        assert_eq!(validate(&only, "carol", "Carol@EXAMPLE.com", pw), Ok(()));
        assert_eq!(
            validate(&only, "carol", "carol@sub.example.com", pw),
            Err(Refused(
                "Registration is open to addresses at example.com only.".into()
            ))
        );
        assert_eq!(
            validate(&open, "carol@example.com", "carol@example.com", pw),
            Err(Refused(
                "A username may not contain @ (sign in with your e-mail address instead).".into()
            ))
        );
        assert_eq!(
            validate(&open, "carol", "carol@example.com", "short"),
            Err(Refused("Password must be at least 8 characters.".into()))
        );
        assert_eq!(
            validate(&open, "ca rol", "carol@example.com", pw),
            Err(Refused(
                "Username must be 1 to 64 characters without spaces.".into()
            ))
        );
    }
}
