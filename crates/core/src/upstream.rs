//! Brokered sign-in: which frontdesk account an upstream identity
//! provider's account signs in to. The binary talks to the upstream
//! (through `frontdesk-rp`, which verifies its ID token) and hands the
//! verified [`Identity`] here; the rules about accounts live here.
//!
//! * An upstream account is known by (upstream id, the subject it
//!   asserted), never by its address: the link table maps that pair to a
//!   frontdesk `sub`, so the `sub` apps see never changes when an address
//!   does, and an address the upstream lets anyone claim cannot reach an
//!   account.
//! * A first sign-in provisions an account (just in time; per upstream
//!   `provision = false` for invite-only), without a password.
//! * A first sign-in whose address belongs to an existing account joins it
//!   only when the operator enabled `link_by_email` for that upstream, the
//!   upstream asserts `email_verified`, **and** the local account's address
//!   is verified too (otherwise someone who registered the victim's
//!   address beforehand — account pre-hijacking — would share the
//!   account). Any other collision is refused, never merged.
//! * Linking from the account page proves both sides (a live session at
//!   frontdesk, then a sign-in at the upstream); a link is never taken
//!   over, and unlinking never leaves an account without a way to sign in.

use crate::error::Error;
use crate::manage;
use crate::model::{Client, Session, UnixTime, UpstreamLink, User, UserClaims};
use crate::secret;
use crate::store::{Store, StoreError};

/// Whether `id` can name an upstream (or a directory): 1–32 of `a-z`,
/// `0-9`, `-` and `_` (it is a path segment of `/upstream/{id}/…`).
pub fn valid_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Whether `client`'s `allowed_upstreams` (unset: all) names upstream `id`.
pub fn client_allows(client: &Client, id: &str) -> bool {
    client
        .allowed_upstreams
        .as_ref()
        .is_none_or(|ids| ids.iter().any(|i| i == id))
}

/// Whether a session may sign the user in to `client`: one that came
/// through a configured upstream (`is_upstream`) if the client allows
/// that upstream; any other — a password, a passkey, a directory's
/// password — if the client has `local_login`.
pub fn client_admits(
    client: &Client,
    session: &Session,
    is_upstream: impl Fn(&str) -> bool,
) -> bool {
    match session.idp.as_deref() {
        Some(id) if is_upstream(id) => client_allows(client, id),
        _ => client.local_login,
    }
}

/// RFC 8176 §2 `fed`: "Use of federated authentication."
pub const AMR_FEDERATED: &str = "fed";

/// What a verified upstream sign-in says about the user, after the
/// configured claim mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The upstream's configured id.
    pub upstream: String,
    /// The subject the upstream asserted (the mapped subject claim).
    pub subject: String,
    /// A username suggestion (e.g. `preferred_username`); used only when
    /// it is a valid, free username.
    pub username: Option<String>,
    pub email: Option<String>,
    /// The upstream asserted that it verified `email`.
    pub email_verified: bool,
    /// Profile claims to keep on the account (`email` here is ignored:
    /// the address is `email` above).
    pub claims: UserClaims,
    /// When the user authenticated at the upstream (its `auth_time`), if
    /// it said.
    pub auth_time: Option<UnixTime>,
}

/// An upstream's account rules (from its configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Create an account at the first sign-in.
    pub provision: bool,
    /// Join a first sign-in to the account with the same, verified address.
    pub link_by_email: bool,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            provision: true,
            link_by_email: false,
        }
    }
}

/// Who signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Through an existing link.
    Linked(Box<User>),
    /// Joined just now to the account with the same verified address.
    LinkedByEmail(Box<User>),
    /// A new account, made just now.
    Provisioned(Box<User>),
    /// Nobody: see [`Refusal`].
    Refused(Refusal),
}

/// Why an upstream sign-in does not sign anyone in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No linked account, and the upstream does not provision.
    NotProvisioned,
    /// The address belongs to an account this upstream account may not
    /// join (see the module documentation).
    EmailTaken,
    /// The linked account is disabled.
    Disabled,
}

/// The account an upstream sign-in signs in to, making or joining one
/// when the policy allows.
pub async fn resolve<S: Store>(
    store: &S,
    identity: &Identity,
    policy: Policy,
    now: UnixTime,
) -> Result<Resolved, Error> {
    if let Some(r) = through_link(store, identity, now).await? {
        return Ok(r);
    }
    if let Some(email) = &identity.email
        && let Some(local) = store.user_by_login(email).await?.filter(|u| {
            u.claims
                .email
                .as_deref()
                .is_some_and(|e| same_address(e, email))
        })
    {
        let joinable = policy.link_by_email
            && identity.email_verified
            && local.claims.email_verified
            && !local.disabled;
        if !joinable {
            return Ok(Resolved::Refused(Refusal::EmailTaken));
        }
        let link = new_link(identity, &local.sub, now);
        if store.put_upstream_link(&link).await? {
            return Ok(Resolved::LinkedByEmail(Box::new(local)));
        }
        // Linked meanwhile (a concurrent first sign-in), or the account
        // has another account of this upstream: never merged.
        return Ok(through_link(store, identity, now)
            .await?
            .unwrap_or(Resolved::Refused(Refusal::EmailTaken)));
    }
    if !policy.provision {
        return Ok(Resolved::Refused(Refusal::NotProvisioned));
    }
    provision(store, identity, now).await
}

async fn through_link<S: Store>(
    store: &S,
    identity: &Identity,
    now: UnixTime,
) -> Result<Option<Resolved>, Error> {
    let Some(link) = store
        .upstream_link(&identity.upstream, &identity.subject)
        .await?
    else {
        return Ok(None);
    };
    let Some(mut user) = store.user(&link.sub).await? else {
        // The account was deleted and its links with it; a row left by a
        // race (a link written while the account was being deleted) is not
        // a way in, and must not block this upstream account for good.
        store
            .remove_upstream_link(&link.sub, &identity.upstream)
            .await?;
        return Ok(None);
    };
    if user.disabled {
        return Ok(Some(Resolved::Refused(Refusal::Disabled)));
    }
    store
        .use_upstream_link(&identity.upstream, &identity.subject, now)
        .await?;
    // The upstream is the source of the profile it maps; the address stays
    // what the account has (changing it is the account owner's business).
    let refreshed = UserClaims {
        email: user.claims.email.clone(),
        email_verified: user.claims.email_verified,
        ..merged(&user.claims, &identity.claims)
    };
    if refreshed != user.claims {
        store.update_user_claims(&user.sub, &refreshed, now).await?;
        user.claims = refreshed;
        user.updated_at = now;
    }
    Ok(Some(Resolved::Linked(Box::new(user))))
}

/// `base` with every claim `from` has replaced.
fn merged(base: &UserClaims, from: &UserClaims) -> UserClaims {
    let pick = |a: &Option<String>, b: &Option<String>| b.clone().or_else(|| a.clone());
    UserClaims {
        name: pick(&base.name, &from.name),
        given_name: pick(&base.given_name, &from.given_name),
        family_name: pick(&base.family_name, &from.family_name),
        nickname: pick(&base.nickname, &from.nickname),
        picture: pick(&base.picture, &from.picture),
        locale: pick(&base.locale, &from.locale),
        email: base.email.clone(),
        email_verified: base.email_verified,
        // Not taken from upstreams: kept as set here.
        phone_number: base.phone_number.clone(),
        phone_number_verified: base.phone_number_verified,
        address: base.address.clone(),
    }
}

/// Addresses compare case-insensitively, as the store keys them.
fn same_address(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

fn new_link(identity: &Identity, sub: &str, now: UnixTime) -> UpstreamLink {
    UpstreamLink {
        upstream: identity.upstream.clone(),
        upstream_sub: identity.subject.clone(),
        sub: sub.to_owned(),
        created_at: now,
        last_used_at: Some(now),
    }
}

/// The username a provisioned account starts with: the upstream's
/// suggestion, else the address's local part, else `UPSTREAM-RANDOM`;
/// never one with `@` (that reads as an address at the login form).
pub fn username_for(identity: &Identity) -> Result<String, Error> {
    let usable = |u: &str| manage::validate_username(u).is_ok() && !u.contains('@');
    let local_part = identity
        .email
        .as_deref()
        .and_then(|e| e.rsplit_once('@'))
        .map(|(l, _)| l.to_owned());
    for candidate in [identity.username.clone(), local_part]
        .into_iter()
        .flatten()
    {
        let candidate = candidate.trim().to_owned();
        if usable(&candidate) {
            return Ok(candidate);
        }
    }
    Ok(format!(
        "{}-{}",
        identity.upstream,
        secret::random_string(6)?.to_lowercase()
    ))
}

async fn provision<S: Store>(
    store: &S,
    identity: &Identity,
    now: UnixTime,
) -> Result<Resolved, Error> {
    let base = username_for(identity)?;
    let mut username = base.clone();
    // A taken username gets a random suffix; three tries are plenty.
    for _ in 0..3 {
        let taken = store
            .user_by_login(&username)
            .await?
            .is_some_and(|u| u.username == username);
        if !taken {
            let user = User {
                sub: uuid::Uuid::new_v4().to_string(),
                username: username.clone(),
                // No password: the account signs in through its link (or a
                // password set later by a reset link or an administrator).
                password_hash: String::new(),
                disabled: false,
                // Only an address the upstream verified: an unverified one
                // would hold the address (the unique login and reset key)
                // for whoever typed it in at a lax upstream, until its real
                // owner resets "their" account and shares it (account
                // pre-hijacking through a non-verifying provider).
                claims: UserClaims {
                    email: identity.email.clone().filter(|_| identity.email_verified),
                    email_verified: identity.email.is_some() && identity.email_verified,
                    ..merged(&UserClaims::default(), &identity.claims)
                },
                created_at: now,
                updated_at: now,
                mfa_enrolled: false,
                has_passkey: false,
                verify_before_sign_in: false,
            };
            let link = new_link(identity, &user.sub, now);
            match store.provision_upstream_user(&user, &link).await {
                Ok(()) => return Ok(Resolved::Provisioned(Box::new(user))),
                Err(StoreError::Conflict(what)) if what.contains("users.username") => {}
                Err(StoreError::Conflict(what)) if what.contains("users.email") => {
                    return Ok(Resolved::Refused(Refusal::EmailTaken));
                }
                // A concurrent first sign-in of the same upstream account
                // made it first: sign in to that one.
                Err(StoreError::Conflict(_)) => {
                    return Ok(through_link(store, identity, now)
                        .await?
                        .unwrap_or(Resolved::Refused(Refusal::NotProvisioned)));
                }
                Err(e) => return Err(e.into()),
            }
        }
        username = format!("{base}-{}", secret::random_string(4)?.to_lowercase());
    }
    Err(Error::Internal(format!(
        "no free username for an account provisioned from {}",
        identity.upstream
    )))
}

/// What linking an upstream account to a signed-in account came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linking {
    /// Linked now, or already linked to this account.
    Linked,
    /// The upstream account signs in to another account.
    TakenByOther,
    /// This account is linked to another account of the same upstream.
    HasAnother,
}

/// Links the upstream account to `sub` (the account page's "connect",
/// after the user signed in at both ends).
pub async fn link<S: Store>(
    store: &S,
    sub: &str,
    identity: &Identity,
    now: UnixTime,
) -> Result<Linking, Error> {
    if let Some(existing) = store
        .upstream_link(&identity.upstream, &identity.subject)
        .await?
    {
        return Ok(if existing.sub == sub {
            Linking::Linked
        } else {
            Linking::TakenByOther
        });
    }
    if store
        .put_upstream_link(&new_link(identity, sub, now))
        .await?
    {
        return Ok(Linking::Linked);
    }
    // Either key was taken meanwhile: say which.
    Ok(
        match store
            .upstream_link(&identity.upstream, &identity.subject)
            .await?
        {
            Some(l) if l.sub == sub => Linking::Linked,
            Some(_) => Linking::TakenByOther,
            None => Linking::HasAnother,
        },
    )
}

/// What unlinking came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlinked {
    Done,
    NotLinked,
    /// The link is the account's last way to sign in (no password, no
    /// passkey, no other link): kept.
    LastWay,
}

/// Removes `user`'s link to `upstream`, unless it is their last way in.
pub async fn unlink<S: Store>(store: &S, user: &User, upstream: &str) -> Result<Unlinked, Error> {
    let links = store.upstream_links_of(&user.sub).await?;
    if !links.iter().any(|l| l.upstream == upstream) {
        return Ok(Unlinked::NotLinked);
    }
    if user.password_hash.is_empty() && !user.has_passkey && links.len() == 1 {
        return Ok(Unlinked::LastWay);
    }
    Ok(if store.remove_upstream_link(&user.sub, upstream).await? {
        Unlinked::Done
    } else {
        Unlinked::NotLinked
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(username: Option<&str>, email: Option<&str>) -> Identity {
        Identity {
            upstream: "hotel".into(),
            subject: "s1".into(),
            username: username.map(str::to_owned),
            email: email.map(str::to_owned),
            ..Identity::default()
        }
    }

    #[test]
    fn usernames_come_from_the_suggestion_then_the_address() {
        let cases = [
            (Some("carol"), Some("c@x.example"), Some("carol")),
            (Some("carol@x.example"), Some("cg@x.example"), Some("cg")),
            (Some("has space"), Some("cg@x.example"), Some("cg")),
            (None, Some("dave@x.example"), Some("dave")),
            (Some(""), None, None),
            (None, None, None),
        ];
        for (suggested, email, want) in cases {
            let got = username_for(&identity(suggested, email)).unwrap_or_default();
            match want {
                Some(w) => assert_eq!(got, w, "{suggested:?} {email:?}"),
                None => {
                    assert!(got.starts_with("hotel-"), "{got}");
                    assert!(got.len() > "hotel-".len() + 4, "{got}");
                }
            }
        }
    }

    #[test]
    fn the_upstream_profile_replaces_what_it_sends_and_keeps_the_rest() {
        let base = UserClaims {
            name: Some("Old".into()),
            locale: Some("de".into()),
            email: Some("a@x.example".into()),
            email_verified: true,
            ..UserClaims::default()
        };
        let from = UserClaims {
            name: Some("New".into()),
            email: Some("evil@x.example".into()),
            ..UserClaims::default()
        };
        let m = merged(&base, &from);
        assert_eq!(m.name.as_deref(), Some("New"));
        assert_eq!(m.locale.as_deref(), Some("de"));
        assert_eq!(m.email.as_deref(), Some("a@x.example"), "never the address");
        assert!(m.email_verified);
    }
}
