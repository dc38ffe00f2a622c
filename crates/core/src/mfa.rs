//! Second factors and authentication levels: TOTP (RFC 6238), recovery
//! codes and passkeys (WebAuthn), the `amr` values they add (RFC 8176), the
//! `acr` levels a session reaches, and what a request asks for
//! (`require_mfa`, `acr_values`).
//!
//! A sign-in is a password, then — when the policy or the application asks
//! for it — a second factor that *raises* the same session (step-up): the
//! session's `amr` gains the factor's methods and `mfa`, its cookie value is
//! renewed, and its `auth_time` stays the time of the password. So
//! `max_age` and `prompt=login` work as before: they ask for the password
//! again, and the second factor follows. A passkey may also be the first
//! factor: it proves possession and (user verification) the PIN or
//! biometric that unlocks it, so it reaches the top level alone.
//!
//! The levels, lowest first: a password; a password and a one-time code (or
//! a passkey); a passkey (phishing-resistant: the signature is bound to our
//! origin, so a look-alike site cannot relay it).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, Builder, Secret, Totp};
use zeroize::Zeroizing;

use crate::Core;
use crate::error::Error;
use crate::keys::Kek;
use crate::login::{Checker, LoginPolicy, progressive_delay};
use crate::model::{Session, UnixTime, User};
use crate::secret::{self, Pepper};
use crate::session::Started;
use crate::store::Store;

/// RFC 8176 §2 `otp`: a one-time password (a TOTP code, or a recovery code).
pub const AMR_OTP: &str = "otp";
/// RFC 8176 §2 `mfa`: more than one factor.
pub const AMR_MFA: &str = "mfa";
/// RFC 8176 §2 `hwk`: proof of possession of a hardware-secured key (a
/// passkey bound to its device).
pub const AMR_HWK: &str = "hwk";
/// RFC 8176 §2 `swk`: proof of possession of a software-secured key (a
/// synced passkey: backup eligible, so copies exist outside the device).
pub const AMR_SWK: &str = "swk";
/// RFC 8176 §2 `user`: a user presence test (WebAuthn's UP flag; the UV
/// flag, a PIN or biometric on the authenticator, is what makes `mfa`).
pub const AMR_USER: &str = "user";

/// The level of a session that proved a password only.
pub const ACR_PASSWORD: &str = "urn:frontdesk:acr:password";
/// The level of a session that proved a password and a second factor.
pub const ACR_MFA: &str = "urn:frontdesk:acr:mfa";
/// The level of a session that proved a passkey: multi-factor and
/// phishing-resistant.
pub const ACR_PHISHING_RESISTANT: &str = "urn:frontdesk:acr:phishing-resistant";
/// `acr_values_supported`, lowest level first.
pub const ACR_VALUES: [&str; 3] = [ACR_PASSWORD, ACR_MFA, ACR_PHISHING_RESISTANT];

/// TOTP parameters (RFC 6238 §5.2 recommendations; what every
/// authenticator app supports): HMAC-SHA-1, 6 digits, 30 s steps, one step
/// of drift either way.
pub const TOTP_STEP_SECS: u64 = 30;
const TOTP_DIGITS: u8 = 6;
const TOTP_SKEW: u16 = 1;
/// 160-bit secrets (RFC 4226 §4 recommends 160).
const TOTP_SECRET_BYTES: usize = 20;

/// Recovery codes given at a time.
pub const RECOVERY_CODES: usize = 10;

/// When a second factor is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequireMfa {
    /// Only when an application asks for it (`acr_values`).
    Never,
    /// From every user who has enrolled one (the default).
    #[default]
    IfEnrolled,
    /// From everyone: users without a second factor enrol at sign-in.
    Always,
}

impl RequireMfa {
    pub fn parse(s: &str) -> Option<RequireMfa> {
        match s {
            "never" => Some(RequireMfa::Never),
            "if_enrolled" => Some(RequireMfa::IfEnrolled),
            "always" => Some(RequireMfa::Always),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RequireMfa::Never => "never",
            RequireMfa::IfEnrolled => "if_enrolled",
            RequireMfa::Always => "always",
        }
    }
}

/// The policy for a client: its own `require_mfa`, else the server's.
pub fn policy(client: &crate::model::Client, server: RequireMfa) -> RequireMfa {
    client.require_mfa.unwrap_or(server)
}

/// Authentication levels, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Password,
    Mfa,
    PhishingResistant,
}

impl Level {
    /// The `acr` value of this level.
    pub fn acr(self) -> &'static str {
        match self {
            Level::Password => ACR_PASSWORD,
            Level::Mfa => ACR_MFA,
            Level::PhishingResistant => ACR_PHISHING_RESISTANT,
        }
    }

    pub fn from_acr(acr: &str) -> Option<Level> {
        match acr {
            ACR_PASSWORD => Some(Level::Password),
            ACR_MFA => Some(Level::Mfa),
            ACR_PHISHING_RESISTANT => Some(Level::PhishingResistant),
            _ => None,
        }
    }
}

/// The level an `amr` list reaches: a passkey (`hwk`/`swk`, only ever
/// recorded for a user-verified WebAuthn assertion) is the top level.
pub fn level_of(amr: &[String]) -> Level {
    if amr.iter().any(|m| m == AMR_HWK || m == AMR_SWK) {
        Level::PhishingResistant
    } else if amr.iter().any(|m| m == AMR_MFA) {
        Level::Mfa
    } else {
        Level::Password
    }
}

/// The `acr` claim for tokens minted from a session with these methods.
pub fn acr_of(amr: &[String]) -> &'static str {
    level_of(amr).acr()
}

/// The `acr` claim of a grant's tokens: the level its session reached, or,
/// when the request listed essential `acr` values (OIDC Core §5.5.1.1: the
/// value "MUST ... match one of the requested values"), the highest of
/// them that the level reached meets. The sign-in was raised to at least
/// the lowest of them, so one always does; should none (a grant recorded
/// otherwise), the level reached is said as it is.
pub fn acr_claim(amr: &[String], essential: &[String]) -> &'static str {
    let reached = level_of(amr);
    essential
        .iter()
        .filter_map(|a| Level::from_acr(a))
        .filter(|l| *l <= reached)
        .max()
        .unwrap_or(reached)
        .acr()
}

/// [`acr_claim`] of a grant: its session's methods and its request's
/// essential `acr` values.
pub fn grant_acr(grant: &crate::model::Grant) -> &'static str {
    let essential = grant.claims.as_ref().map(|c| &c.essential_acr[..]);
    acr_claim(&grant.amr, essential.unwrap_or_default())
}

/// The lowest level among `acr` values, the unknown ones ignored: any one
/// listed is acceptable, so the lowest is enough.
pub fn lowest_known(acr_values: &[String]) -> Option<Level> {
    acr_values.iter().filter_map(|a| Level::from_acr(a)).min()
}

/// The level a request needs from this user: the policy's (`policy` is the
/// client's `require_mfa`, or the server's), raised by the request's
/// `acr_values` (OIDC Core §3.1.2.1). `acr_values` lists acceptable levels
/// in order of preference, so the lowest known one listed is enough;
/// unknown values are ignored (the claim is voluntary).
pub fn required_level(policy: RequireMfa, user: &User, acr_values: &[String]) -> Level {
    let by_policy = match policy {
        RequireMfa::Always => Level::Mfa,
        RequireMfa::IfEnrolled if user.has_second_factor() => Level::Mfa,
        RequireMfa::IfEnrolled | RequireMfa::Never => Level::Password,
    };
    by_policy.max(lowest_known(acr_values).unwrap_or(Level::Password))
}

/// What a session lacks for the level a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Nothing,
    /// The user has a second factor: ask for it (a code or a passkey).
    SecondFactor,
    /// Only a passkey will do, and the user has one: ask for it.
    Passkey,
    /// The user has none yet: enrol one now (and that proves it).
    Enrolment,
    /// Only a passkey will do and the user has none. Not enrolled on the
    /// way: a password alone must not be enough to add the factor that a
    /// phishing-resistant level stands for. Passkeys are added on the
    /// account page.
    Unmet,
}

pub fn missing(required: Level, session: &Session, user: &User) -> Missing {
    if level_of(&session.amr) >= required {
        Missing::Nothing
    } else if required == Level::PhishingResistant {
        if user.has_passkey {
            Missing::Passkey
        } else {
            Missing::Unmet
        }
    } else if user.has_second_factor() {
        Missing::SecondFactor
    } else {
        Missing::Enrolment
    }
}

/// A factor proved on top of (or, a passkey, instead of) a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Totp,
    RecoveryCode,
    /// A user-verified WebAuthn assertion; `synced` when the credential is
    /// backup eligible.
    Passkey {
        synced: bool,
    },
}

impl Factor {
    pub fn as_str(self) -> &'static str {
        match self {
            Factor::Totp => "totp",
            Factor::RecoveryCode => "recovery_code",
            Factor::Passkey { .. } => "passkey",
        }
    }

    /// The RFC 8176 methods this factor proves.
    fn methods(self) -> &'static [&'static str] {
        match self {
            Factor::Totp | Factor::RecoveryCode => &[AMR_OTP],
            Factor::Passkey { synced: false } => &[AMR_HWK, AMR_USER],
            Factor::Passkey { synced: true } => &[AMR_SWK, AMR_USER],
        }
    }
}

/// What a second-factor attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactorCheck {
    Ok(Factor),
    /// Wrong, expired, or already used.
    Failed,
    /// Over a limit: the code was not checked.
    Throttled,
}

/// A TOTP enrolment shown to the user: the secret for manual entry and the
/// `otpauth://` URI for the QR code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    pub secret_base32: String,
    pub otpauth_uri: String,
}

fn sealing_context(sub: &str) -> String {
    format!("totp:{sub}")
}

/// The label authenticator apps show: `issuer host: username`. The otpauth
/// format reserves `:`, so it is replaced in both parts.
fn totp_for(core: &Core, secret: &[u8], user: &User) -> Result<Totp, Error> {
    let issuer = url::Url::parse(&core.settings.issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "frontdesk".to_owned())
        .replace(':', "_");
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(TOTP_DIGITS)
        .with_skew(TOTP_SKEW)
        .with_step_duration(TOTP_STEP_SECS)
        .with_secret(Secret::from(secret.to_vec()))
        .with_issuer(Some(issuer))
        .with_account_name(user.username.replace(':', "_"))
        .build()
        .map_err(|e| Error::Internal(format!("TOTP parameters: {e}")))
}

fn enrolment(core: &Core, secret: &[u8], user: &User) -> Result<Enrolment, Error> {
    let totp = totp_for(core, secret, user)?;
    let otpauth_uri = totp
        .to_url()
        .map_err(|e| Error::Internal(format!("otpauth URI: {e}")))?;
    Ok(Enrolment {
        secret_base32: totp.secret().to_base32(),
        otpauth_uri,
    })
}

fn random_bytes(n: usize) -> Result<Zeroizing<Vec<u8>>, Error> {
    use aws_lc_rs::rand::SecureRandom;
    let mut bytes = Zeroizing::new(vec![0u8; n]);
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Internal("system random number generator failed".into()))?;
    Ok(bytes)
}

/// Starts a TOTP enrolment for `user` with a fresh secret, sealed under the
/// KEK. `None` when the user already has a confirmed credential.
pub async fn start_totp<S: Store>(
    core: &Core,
    kek: &Kek,
    store: &S,
    user: &User,
    now: UnixTime,
) -> Result<Option<Enrolment>, Error> {
    let secret = random_bytes(TOTP_SECRET_BYTES)?;
    let sealed = kek.seal(&sealing_context(&user.sub), &secret)?;
    if !store.put_totp_enrolment(&user.sub, &sealed, now).await? {
        return Ok(None);
    }
    enrolment(core, &secret, user).map(Some)
}

/// The enrolment in progress, to show its QR code again (a reload).
pub async fn pending_totp<S: Store>(
    core: &Core,
    kek: &Kek,
    store: &S,
    user: &User,
) -> Result<Option<Enrolment>, Error> {
    match store.totp_credential(&user.sub).await? {
        Some(c) if c.confirmed_at.is_none() => {
            let secret = kek.open(&sealing_context(&user.sub), &c.secret_sealed)?;
            enrolment(core, &secret, user).map(Some)
        }
        _ => Ok(None),
    }
}

/// The step a TOTP code belongs to, if it is one of the steps around
/// `now` (±1); codes compare in constant time (`totp_rs::Token`).
fn totp_step(core: &Core, secret: &[u8], user: &User, code: &str, now: UnixTime) -> Option<i64> {
    let now = u64::try_from(now).ok()?;
    let totp = totp_for(core, secret, user).ok()?;
    totp.check(code, now).and_then(|s| i64::try_from(s).ok())
}

/// A code as typed: spaces and dashes removed, lowercased.
fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

fn is_totp_shaped(code: &str) -> bool {
    code.len() == usize::from(TOTP_DIGITS) && code.bytes().all(|b| b.is_ascii_digit())
}

/// What the user confirmed an enrolment with.
#[derive(Debug)]
pub enum Confirmation {
    /// Enrolled; the new recovery codes, to show once.
    Confirmed(Vec<String>),
    Failed,
    Throttled,
    /// No enrolment in progress (finished in another tab, or never started).
    NothingPending,
}

/// The login-failure counter of an account's second-factor attempts.
pub fn throttle_key(sub: &str) -> String {
    format!("mfa:{sub}")
}

/// Counts an attempt before checking it, like passwords (login.rs): the
/// address's bucket and the account's second-factor bucket, each checked
/// against its limit, the progressive delay applied. `None`: throttled.
async fn count_attempt<S: Store>(
    store: &S,
    policy: &LoginPolicy,
    checker: &impl Checker,
    user: &User,
    peer: IpAddr,
    now: UnixTime,
) -> Result<Option<(String, String)>, Error> {
    let ip_key = format!("ip:{}", crate::addr::throttle_key(peer));
    if store
        .note_login_failure(&ip_key, now, policy.window)
        .await?
        > policy.max_per_ip
    {
        return Ok(None);
    }
    let account_key = throttle_key(&user.sub);
    let n = store
        .note_login_failure(&account_key, now, policy.window)
        .await?;
    if n > policy.max_per_account {
        return Ok(None);
    }
    if let Some(delay) = progressive_delay(n.saturating_sub(1)) {
        checker.delay(delay).await;
    }
    Ok(Some((ip_key, account_key)))
}

async fn forgive<S: Store>(store: &S, keys: &(String, String)) -> Result<(), Error> {
    store.clear_login_failures(&keys.1).await?;
    store.forgive_login_failure(&keys.0).await?;
    Ok(())
}

/// Finishes a TOTP enrolment with the first code from the user's app; on
/// success the user gets [`RECOVERY_CODES`] new recovery codes.
#[allow(clippy::too_many_arguments)]
pub async fn confirm_totp<S: Store>(
    core: &Core,
    kek: &Kek,
    store: &S,
    policy: &LoginPolicy,
    checker: &impl Checker,
    user: &User,
    code: &str,
    peer: IpAddr,
    now: UnixTime,
) -> Result<Confirmation, Error> {
    let Some(cred) = store
        .totp_credential(&user.sub)
        .await?
        .filter(|c| c.confirmed_at.is_none())
    else {
        return Ok(Confirmation::NothingPending);
    };
    let Some(keys) = count_attempt(store, policy, checker, user, peer, now).await? else {
        return Ok(Confirmation::Throttled);
    };
    let secret = kek.open(&sealing_context(&user.sub), &cred.secret_sealed)?;
    let code = normalise(code);
    let Some(step) = totp_step(core, &secret, user, &code, now) else {
        return Ok(Confirmation::Failed);
    };
    let (codes, hashes) = new_recovery_codes(&core.pepper)?;
    if !store.confirm_totp(&user.sub, step, &hashes, now).await? {
        return Ok(Confirmation::NothingPending);
    }
    forgive(store, &keys).await?;
    Ok(Confirmation::Confirmed(codes))
}

/// Checks a second-factor code of an enrolled user: a TOTP code (accepted
/// once, and never one older than a code already accepted: RFC 6238 §5.2),
/// or an unused recovery code (spent by this call). Throttled like
/// passwords, in the account's own second-factor bucket.
#[allow(clippy::too_many_arguments)]
pub async fn check_second_factor<S: Store>(
    core: &Core,
    kek: &Kek,
    store: &S,
    policy: &LoginPolicy,
    checker: &impl Checker,
    user: &User,
    code: &str,
    peer: IpAddr,
    now: UnixTime,
) -> Result<FactorCheck, Error> {
    let Some(keys) = count_attempt(store, policy, checker, user, peer, now).await? else {
        return Ok(FactorCheck::Throttled);
    };
    let code = normalise(code);
    let factor = if is_totp_shaped(&code) {
        let cred = store
            .totp_credential(&user.sub)
            .await?
            .filter(|c| c.confirmed_at.is_some());
        match cred {
            Some(c) => {
                let secret = kek.open(&sealing_context(&user.sub), &c.secret_sealed)?;
                match totp_step(core, &secret, user, &code, now) {
                    Some(step) if store.use_totp_step(&user.sub, step).await? => Some(Factor::Totp),
                    _ => None,
                }
            }
            None => None,
        }
    } else if code.is_empty() {
        None
    } else {
        let hash = recovery_hash(&core.pepper, &code);
        store
            .use_recovery_code(&user.sub, &hash, now)
            .await?
            .then_some(Factor::RecoveryCode)
    };
    match factor {
        Some(f) => {
            forgive(store, &keys).await?;
            Ok(FactorCheck::Ok(f))
        }
        None => Ok(FactorCheck::Failed),
    }
}

fn recovery_hash(pepper: &Pepper, normalised: &str) -> Vec<u8> {
    pepper.hash_secret(&format!("recovery-code\u{0}{normalised}"))
}

/// The alphabet of recovery codes: RFC 4648 base32 in lowercase (no 0 or
/// 1 to mistake for o or l; typed case-insensitively), so 10 symbols carry
/// 50 bits.
const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// [`RECOVERY_CODES`] new codes (`xxxxx-xxxxx`) and their keyed hashes.
pub fn new_recovery_codes(pepper: &Pepper) -> Result<(Vec<String>, Vec<Vec<u8>>), Error> {
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    let mut hashes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let bytes = random_bytes(10)?;
        let symbols: String = bytes
            .iter()
            .map(|b| char::from(RECOVERY_ALPHABET[usize::from(b & 31)]))
            .collect();
        hashes.push(recovery_hash(pepper, &symbols));
        codes.push(format!("{}-{}", &symbols[..5], &symbols[5..]));
    }
    Ok((codes, hashes))
}

/// Replaces the user's recovery codes; the new ones, to show once.
pub async fn regenerate_recovery_codes<S: Store>(
    core: &Core,
    store: &S,
    user: &User,
    now: UnixTime,
) -> Result<Vec<String>, Error> {
    let (codes, hashes) = new_recovery_codes(&core.pepper)?;
    store
        .replace_recovery_codes(&user.sub, &hashes, now)
        .await?;
    Ok(codes)
}

/// The methods of a session that has just proved `factor` on top of what
/// it had (RFC 8176): `otp`, or a passkey's `hwk`/`swk` and `user`; and
/// `mfa` once two methods are there. A passkey alone is two: possession of
/// the key, and the user verification (PIN or biometric) it always asks
/// for here.
pub fn raised_amr(amr: &[String], factor: Factor) -> Vec<String> {
    let mut out = amr.to_vec();
    for add in factor.methods() {
        if !out.iter().any(|m| m == add) {
            out.push((*add).to_owned());
        }
    }
    let distinct_factors = out.iter().filter(|m| *m != AMR_MFA).count();
    if distinct_factors >= 2 && !out.iter().any(|m| m == AMR_MFA) {
        out.push(AMR_MFA.to_owned());
    }
    out
}

/// Raises the session after a second factor: new `amr`, a new cookie value
/// (the session id is renewed at the privilege change), same `sid` and
/// `auth_time`. `None` when the session ended meanwhile.
pub async fn raise<S: Store>(
    store: &S,
    session: &Session,
    factor: Factor,
) -> Result<Option<Started>, Error> {
    let cookie = secret::random_string(32)?;
    let id_hash = secret::token_hash(&cookie);
    let amr = raised_amr(&session.amr, factor);
    if !store
        .raise_session(&session.id_hash, &id_hash, &amr)
        .await?
    {
        return Ok(None);
    }
    let mut raised = session.clone();
    raised.id_hash = id_hash;
    raised.amr = amr;
    Ok(Some(Started {
        cookie,
        session: raised,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn test_user(totp: bool, passkey: bool) -> User {
        User {
            sub: "s".into(),
            username: "u".into(),
            password_hash: String::new(),
            disabled: false,
            claims: Default::default(),
            created_at: 0,
            updated_at: 0,
            mfa_enrolled: totp,
            has_passkey: passkey,
            verify_before_sign_in: false,
        }
    }

    fn amr(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_second_factor_on_a_password_adds_otp_and_mfa_once() {
        assert_eq!(
            raised_amr(&amr(&["pwd"]), Factor::Totp),
            amr(&["pwd", "otp", "mfa"])
        );
        assert_eq!(
            raised_amr(&amr(&["pwd", "otp", "mfa"]), Factor::RecoveryCode),
            amr(&["pwd", "otp", "mfa"])
        );
        assert_eq!(raised_amr(&[], Factor::Totp), amr(&["otp"]));
    }

    #[test]
    fn a_passkey_adds_its_key_kind_user_and_mfa_and_reaches_the_top_level() {
        let cases: [(&[&str], Factor, &[&str], Level); 5] = [
            (
                &[],
                Factor::Passkey { synced: false },
                &["hwk", "user", "mfa"],
                Level::PhishingResistant,
            ),
            (
                &[],
                Factor::Passkey { synced: true },
                &["swk", "user", "mfa"],
                Level::PhishingResistant,
            ),
            (
                &["pwd"],
                Factor::Passkey { synced: false },
                &["pwd", "hwk", "user", "mfa"],
                Level::PhishingResistant,
            ),
            (
                &["pwd", "otp", "mfa"],
                Factor::Passkey { synced: false },
                &["pwd", "otp", "mfa", "hwk", "user"],
                Level::PhishingResistant,
            ),
            (&["pwd"], Factor::Totp, &["pwd", "otp", "mfa"], Level::Mfa),
        ];
        for (before, factor, after, level) in cases {
            let raised = raised_amr(&amr(before), factor);
            assert_eq!(raised, amr(after), "{before:?} + {factor:?}");
            assert_eq!(level_of(&raised), level, "{after:?}");
        }
        assert_eq!(level_of(&amr(&["pwd"])), Level::Password);
    }

    #[test]
    fn recovery_codes_are_ten_distinct_codes_of_fifty_bits_typed_in_any_case() {
        let pepper = Pepper::new(b"test pepper");
        let (codes, hashes) = new_recovery_codes(&pepper).unwrap();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let distinct: std::collections::HashSet<_> = hashes.iter().collect();
        assert_eq!(distinct.len(), RECOVERY_CODES);
        for (code, hash) in codes.iter().zip(&hashes) {
            assert_eq!(code.len(), 11, "{code}");
            assert_eq!(&code[5..6], "-");
            let typed = format!(" {} ", code.to_uppercase().replace('-', " - "));
            assert_eq!(&recovery_hash(&pepper, &normalise(&typed)), hash);
        }
    }

    #[test]
    fn the_lowest_known_acr_value_asked_for_is_enough() {
        let user = |mfa_enrolled| test_user(mfa_enrolled, false);
        let acr = |v: &[&str]| amr(v);
        let cases = [
            (RequireMfa::Never, false, acr(&[]), Level::Password),
            (RequireMfa::Never, true, acr(&[]), Level::Password),
            (RequireMfa::IfEnrolled, false, acr(&[]), Level::Password),
            (RequireMfa::IfEnrolled, true, acr(&[]), Level::Mfa),
            (RequireMfa::Always, false, acr(&[]), Level::Mfa),
            (RequireMfa::Never, false, acr(&[ACR_MFA]), Level::Mfa),
            (
                RequireMfa::Never,
                false,
                acr(&[ACR_MFA, ACR_PASSWORD]),
                Level::Password,
            ),
            (
                RequireMfa::Never,
                false,
                acr(&["urn:other", ACR_MFA]),
                Level::Mfa,
            ),
            (
                RequireMfa::Never,
                false,
                acr(&["urn:other"]),
                Level::Password,
            ),
            (RequireMfa::Always, false, acr(&[ACR_PASSWORD]), Level::Mfa),
            (
                RequireMfa::Never,
                false,
                acr(&[ACR_PHISHING_RESISTANT]),
                Level::PhishingResistant,
            ),
            (
                RequireMfa::Always,
                false,
                acr(&[ACR_PHISHING_RESISTANT, ACR_MFA]),
                Level::Mfa,
            ),
        ];
        for (policy, enrolled, values, want) in cases {
            assert_eq!(
                required_level(policy, &user(enrolled), &values),
                want,
                "{policy:?} enrolled={enrolled} {values:?}"
            );
        }
    }

    #[test]
    fn a_session_below_the_level_is_asked_for_the_missing_factor_only() {
        let user = test_user;
        let session = |methods: &[&str]| Session {
            id_hash: vec![],
            sid: "sid".into(),
            sub: "s".into(),
            auth_time: 0,
            amr: amr(methods),
            created_at: 0,
            expires_at: 1,
            ended_at: None,
            user_agent: None,
            client_ip: None,
            last_seen_at: None,
            idp: None,
        };
        use Level::*;
        use Missing as M;
        let cases: [(Level, &[&str], bool, bool, Missing); 12] = [
            (Password, &["pwd"], false, false, M::Nothing),
            (Mfa, &["pwd"], true, false, M::SecondFactor),
            (Mfa, &["pwd"], false, true, M::SecondFactor),
            (Mfa, &["pwd"], false, false, M::Enrolment),
            (Mfa, &["pwd", "otp", "mfa"], true, false, M::Nothing),
            (Mfa, &["hwk", "user", "mfa"], false, true, M::Nothing),
            (PhishingResistant, &["pwd"], true, true, M::Passkey),
            (
                PhishingResistant,
                &["pwd", "otp", "mfa"],
                true,
                true,
                M::Passkey,
            ),
            (
                PhishingResistant,
                &["pwd", "otp", "mfa"],
                true,
                false,
                M::Unmet,
            ),
            (PhishingResistant, &["pwd"], false, false, M::Unmet),
            (
                PhishingResistant,
                &["pwd", "hwk", "user", "mfa"],
                false,
                true,
                M::Nothing,
            ),
            (
                PhishingResistant,
                &["swk", "user", "mfa"],
                false,
                true,
                M::Nothing,
            ),
        ];
        for (required, methods, totp, passkey, want) in cases {
            assert_eq!(
                missing(required, &session(methods), &user(totp, passkey)),
                want,
                "{required:?} {methods:?} totp={totp} passkey={passkey}"
            );
        }
    }
}
