//! Passkeys (WebAuthn Level 3) through `webauthn-rs`: the relying party
//! built from the issuer, and the three ceremonies — registering a passkey
//! on the account page, signing in with one as the first factor
//! (discoverable credential, no username typed), and using one as the
//! second factor of a password session. webauthn-rs does every WebAuthn
//! check (challenge, origin, RP ID hash, flags with user verification
//! required, signature, counter); this module keeps the ceremony state and
//! the records.
//!
//! The state of a ceremony travels with the browser, sealed under the KEK
//! (AES-256-GCM; the associated data names the ceremony and the account or
//! session it belongs to) with an expiry, and is spent once through
//! `Store::use_once` when the ceremony finishes — so any node can finish a
//! ceremony that another started, and an assertion cannot be replayed with
//! its state.
//!
//! Built only with the `passkeys` feature (on by default); without it,
//! [`Passkeys`] has no value and `features.passkeys = true` is a start-up
//! error.

// Without the feature the ceremonies' types stay, unused.
#![cfg_attr(not(feature = "passkeys"), allow(dead_code))]

use frontdesk_core::error::Error;
use frontdesk_core::model::UnixTime;

/// How long a ceremony may take, from the options to the answer (WebAuthn
/// §15.1 recommends 5 minutes for user-verified ceremonies).
pub const CEREMONY_SECS: i64 = 300;

/// The most passkeys one account may register.
pub const MAX_PER_USER: usize = 20;

/// The longest name of a passkey, in characters.
pub const NAME_MAX: usize = 60;

/// Why a ceremony was refused: what the user is told, never a 500.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The state is missing, malformed, expired, spent, or another
    /// account's: start again.
    Expired,
    /// The credential is not registered here (removed, or another site's).
    Unknown,
    /// WebAuthn verification failed (signature, origin, flags, counter…).
    Invalid,
    /// Registering a credential that is registered already.
    Duplicate,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Expired => "The passkey request has expired. Try again.",
            Refusal::Unknown => "That passkey is not registered here.",
            Refusal::Invalid => "That passkey could not be verified.",
            Refusal::Duplicate => "That passkey is registered already.",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Expired => "expired",
            Refusal::Unknown => "unknown_credential",
            Refusal::Invalid => "invalid",
            Refusal::Duplicate => "duplicate",
        }
    }
}

/// Whether an issuer can host WebAuthn: a secure context (https) with a
/// domain name, or `localhost` over http (browsers treat it as secure). An
/// IP address is never a valid RP ID. `Err` says why not.
pub fn can_host(issuer: &url::Url) -> Result<(), String> {
    let host = match issuer.host() {
        Some(url::Host::Domain(d)) => d,
        Some(_) => {
            return Err(format!(
                "the issuer {issuer} has an IP address as its host; WebAuthn needs a domain name \
                 (use https with a domain, or http://localhost for trying it out)"
            ));
        }
        None => return Err(format!("the issuer {issuer} has no host")),
    };
    let local = host == "localhost" || host.ends_with(".localhost");
    match issuer.scheme() {
        "https" => Ok(()),
        "http" if local => Ok(()),
        _ => Err(format!(
            "the issuer {issuer} is not https; WebAuthn needs a secure context \
             (https, or http://localhost)"
        )),
    }
}

/// The ceremony a sealed state belongs to, with what it is bound to.
#[derive(Debug, Clone, Copy)]
pub enum Ceremony<'a> {
    /// Registration for the account `sub`.
    Register { sub: &'a str },
    /// A discoverable sign-in (first factor).
    SignIn,
    /// A second factor for the session `sid`.
    SecondFactor { sid: &'a str },
}

impl Ceremony<'_> {
    fn context(self) -> String {
        match self {
            Ceremony::Register { sub } => format!("webauthn:register:{sub}"),
            Ceremony::SignIn => "webauthn:sign-in".to_owned(),
            Ceremony::SecondFactor { sid } => format!("webauthn:second-factor:{sid}"),
        }
    }
}

/// A passkey just registered, to store.
#[derive(Debug)]
pub struct Registered {
    pub credential_id: Vec<u8>,
    /// The user handle the authenticator stored with it (the one the
    /// options carried, sealed in the state).
    pub user_handle: Vec<u8>,
    pub credential: String,
    pub backup_eligible: bool,
}

/// A passkey just used: its updated record, and whether it is synced.
#[derive(Debug)]
pub struct Used {
    pub credential_id: Vec<u8>,
    pub credential: String,
    pub backup_eligible: bool,
}

fn internal(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("passkeys: {what}: {e}"))
}

#[cfg(feature = "passkeys")]
mod imp {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use frontdesk_core::keys::Kek;
    use frontdesk_core::model::PasskeyRecord;
    use frontdesk_core::secret;
    use frontdesk_core::store::Store;
    use serde::{Deserialize, Serialize, de::DeserializeOwned};
    use webauthn_rs::prelude::{
        DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
        PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
    };

    use super::*;

    /// The relying party: RP ID = the issuer's host, origin = the issuer's.
    pub struct Passkeys {
        webauthn: Webauthn,
    }

    #[derive(Serialize, Deserialize)]
    struct Envelope<T> {
        exp: UnixTime,
        state: T,
    }

    impl Passkeys {
        /// The relying party of `issuer`, or `Err` with why it cannot be one.
        pub fn new(issuer: &url::Url, rp_name: &str) -> Result<Passkeys, String> {
            can_host(issuer)?;
            let rp_id = issuer.host_str().unwrap_or_default();
            let origin = Url::parse(&issuer.origin().ascii_serialization())
                .map_err(|e| format!("the issuer's origin: {e}"))?;
            let webauthn = WebauthnBuilder::new(rp_id, &origin)
                .map_err(|e| format!("WebAuthn relying party {rp_id}: {e}"))?
                .rp_name(rp_name)
                .timeout(std::time::Duration::from_secs(CEREMONY_SECS.unsigned_abs()))
                .build()
                .map_err(|e| format!("WebAuthn relying party {rp_id}: {e}"))?;
            Ok(Passkeys { webauthn })
        }

        fn seal<T: Serialize>(
            kek: &Kek,
            ceremony: Ceremony<'_>,
            state: T,
            now: UnixTime,
        ) -> Result<String, Error> {
            let envelope = Envelope {
                exp: now + CEREMONY_SECS,
                state,
            };
            let json = serde_json::to_vec(&envelope).map_err(|e| internal("state", e))?;
            let sealed = kek.seal(&ceremony.context(), &json)?;
            Ok(URL_SAFE_NO_PAD.encode(sealed))
        }

        /// Opens and spends a sealed state: `Ok(None)` when it is not one of
        /// ours for this ceremony, expired, or spent already.
        async fn open<T: DeserializeOwned, S: Store>(
            kek: &Kek,
            store: &S,
            ceremony: Ceremony<'_>,
            sealed: &str,
            now: UnixTime,
        ) -> Result<Option<T>, Error> {
            let Ok(bytes) = URL_SAFE_NO_PAD.decode(sealed.trim()) else {
                return Ok(None);
            };
            // Another ceremony's, another account's, or tampered with.
            let Ok(json) = kek.open(&ceremony.context(), &bytes) else {
                return Ok(None);
            };
            let Ok(envelope) = serde_json::from_slice::<Envelope<T>>(&json) else {
                return Ok(None);
            };
            if envelope.exp <= now {
                return Ok(None);
            }
            // Keyed on the sealed bytes, not the text as sent: the same
            // state with whitespace around it, or spelled otherwise, is the
            // same state (and spent).
            let canonical = URL_SAFE_NO_PAD.encode(&bytes);
            let replay_key = secret::token_hash(&format!("webauthn-ceremony\u{0}{canonical}"));
            if !store.use_once(&replay_key, envelope.exp, now).await? {
                return Ok(None);
            }
            Ok(Some(envelope.state))
        }

        /// Registration options for `username`, excluding the credentials
        /// the account has already; the sealed state to send back.
        #[allow(clippy::too_many_arguments)]
        pub fn start_registration(
            &self,
            kek: &Kek,
            sub: &str,
            user_handle: &[u8],
            username: &str,
            display_name: &str,
            existing: &[PasskeyRecord],
            now: UnixTime,
        ) -> Result<(serde_json::Value, String), Error> {
            let handle = Uuid::from_slice(user_handle).map_err(|e| internal("user handle", e))?;
            let exclude = existing
                .iter()
                .map(|p| p.credential_id.clone())
                .collect::<Vec<_>>();
            let (ccr, state) = self
                .webauthn
                .start_passkey_registration(handle, username, display_name, Some(exclude))
                .map_err(|e| internal("registration options", e))?;
            let mut options = serde_json::to_value(&ccr).map_err(|e| internal("options", e))?;
            // A passkey signs in without a username: ask for a discoverable
            // credential (webauthn-rs leaves it to the authenticator).
            if let Some(sel) = options
                .pointer_mut("/publicKey/authenticatorSelection")
                .and_then(serde_json::Value::as_object_mut)
            {
                sel.insert("residentKey".into(), "required".into());
                sel.insert("requireResidentKey".into(), true.into());
            }
            let sealed = Self::seal(
                kek,
                Ceremony::Register { sub },
                (state, user_handle.to_vec()),
                now,
            )?;
            Ok((options, sealed))
        }

        pub async fn finish_registration<S: Store>(
            &self,
            kek: &Kek,
            store: &S,
            sub: &str,
            sealed: &str,
            credential: &str,
            now: UnixTime,
        ) -> Result<Result<Registered, Refusal>, Error> {
            let Ok(reg) = serde_json::from_str::<RegisterPublicKeyCredential>(credential) else {
                return Ok(Err(Refusal::Invalid));
            };
            let Some((state, user_handle)) = Self::open::<(PasskeyRegistration, Vec<u8>), _>(
                kek,
                store,
                Ceremony::Register { sub },
                sealed,
                now,
            )
            .await?
            else {
                return Ok(Err(Refusal::Expired));
            };
            let passkey = match self.webauthn.finish_passkey_registration(&reg, &state) {
                Ok(p) => p,
                Err(e) => {
                    tracing::info!(error = %e, "passkey registration refused");
                    return Ok(Err(Refusal::Invalid));
                }
            };
            let record = serde_json::to_value(&passkey).map_err(|e| internal("record", e))?;
            let backup_eligible = record["cred"]["backup_eligible"].as_bool().unwrap_or(false);
            Ok(Ok(Registered {
                credential_id: passkey.cred_id().clone(),
                user_handle,
                credential: record.to_string(),
                backup_eligible,
            }))
        }

        /// Options for a discoverable sign-in (the browser offers the
        /// passkeys it holds for us; no username).
        pub fn start_sign_in(
            &self,
            kek: &Kek,
            now: UnixTime,
        ) -> Result<(serde_json::Value, String), Error> {
            let (mut rcr, state) = self
                .webauthn
                .start_discoverable_authentication()
                .map_err(|e| internal("sign-in options", e))?;
            // The page chooses: conditional (autofill) or a button.
            rcr.mediation = None;
            let options = serde_json::to_value(&rcr).map_err(|e| internal("options", e))?;
            let sealed = Self::seal(kek, Ceremony::SignIn, state, now)?;
            Ok((options, sealed))
        }

        /// Finishes a discoverable sign-in: the record of the passkey that
        /// signed (whose `sub` is the user), updated.
        pub async fn finish_sign_in<S: Store>(
            &self,
            kek: &Kek,
            store: &S,
            sealed: &str,
            credential: &str,
            now: UnixTime,
        ) -> Result<Result<(PasskeyRecord, Used), Refusal>, Error> {
            let Ok(cred) = serde_json::from_str::<PublicKeyCredential>(credential) else {
                return Ok(Err(Refusal::Invalid));
            };
            let Some(state) = Self::open::<DiscoverableAuthentication, _>(
                kek,
                store,
                Ceremony::SignIn,
                sealed,
                now,
            )
            .await?
            else {
                return Ok(Err(Refusal::Expired));
            };
            let Ok((handle, cred_id)) = self.webauthn.identify_discoverable_authentication(&cred)
            else {
                return Ok(Err(Refusal::Invalid));
            };
            let Some(record) = store.passkey(cred_id).await? else {
                return Ok(Err(Refusal::Unknown));
            };
            if record.user_handle != handle.as_bytes() {
                return Ok(Err(Refusal::Invalid));
            }
            let mut passkey = parse_record(&record)?;
            let result = match self
                .webauthn
                .finish_discoverable_authentication_v2(&cred, state, &passkey)
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::info!(error = %e, "passkey sign-in refused");
                    return Ok(Err(Refusal::Invalid));
                }
            };
            let used = used(&mut passkey, &result)?;
            Ok(Ok((record, used)))
        }

        /// Options for a second factor: the session's user's passkeys.
        pub fn start_second_factor(
            &self,
            kek: &Kek,
            sid: &str,
            records: &[PasskeyRecord],
            now: UnixTime,
        ) -> Result<(serde_json::Value, String), Error> {
            let passkeys = records
                .iter()
                .map(parse_record)
                .collect::<Result<Vec<_>, _>>()?;
            let (rcr, state) = self
                .webauthn
                .start_passkey_authentication(&passkeys)
                .map_err(|e| internal("second-factor options", e))?;
            let options = serde_json::to_value(&rcr).map_err(|e| internal("options", e))?;
            let sealed = Self::seal(kek, Ceremony::SecondFactor { sid }, state, now)?;
            Ok((options, sealed))
        }

        /// Finishes a second factor of the session `sid` of `sub`.
        #[allow(clippy::too_many_arguments)]
        pub async fn finish_second_factor<S: Store>(
            &self,
            kek: &Kek,
            store: &S,
            sid: &str,
            sub: &str,
            sealed: &str,
            credential: &str,
            now: UnixTime,
        ) -> Result<Result<Used, Refusal>, Error> {
            let Ok(cred) = serde_json::from_str::<PublicKeyCredential>(credential) else {
                return Ok(Err(Refusal::Invalid));
            };
            let Some(state) = Self::open::<PasskeyAuthentication, _>(
                kek,
                store,
                Ceremony::SecondFactor { sid },
                sealed,
                now,
            )
            .await?
            else {
                return Ok(Err(Refusal::Expired));
            };
            let result = match self.webauthn.finish_passkey_authentication(&cred, &state) {
                Ok(r) => r,
                Err(e) => {
                    tracing::info!(error = %e, "passkey second factor refused");
                    return Ok(Err(Refusal::Invalid));
                }
            };
            // The options listed only this user's passkeys, and
            // webauthn-rs checked the credential was one of them; the
            // record must still be there (not removed meanwhile).
            let Some(record) = store.passkey(result.cred_id()).await? else {
                return Ok(Err(Refusal::Unknown));
            };
            if record.sub != sub {
                return Ok(Err(Refusal::Invalid));
            }
            let mut passkey = parse_record(&record)?;
            used(&mut passkey, &result).map(Ok)
        }
    }

    fn parse_record(record: &PasskeyRecord) -> Result<Passkey, Error> {
        serde_json::from_str(&record.credential).map_err(|e| internal("stored record", e))
    }

    fn used(
        passkey: &mut Passkey,
        result: &webauthn_rs::prelude::AuthenticationResult,
    ) -> Result<Used, Error> {
        passkey.update_credential(result);
        Ok(Used {
            credential_id: passkey.cred_id().clone(),
            credential: serde_json::to_string(&*passkey).map_err(|e| internal("record", e))?,
            backup_eligible: result.backup_eligible(),
        })
    }
}

#[cfg(feature = "passkeys")]
pub use imp::Passkeys;

/// Without the `passkeys` feature: a type with no value, so every passkey
/// route is unreachable and the server says why at start-up.
#[cfg(not(feature = "passkeys"))]
pub enum Passkeys {}

/// The same methods as the real relying party's; none can be called.
#[cfg(not(feature = "passkeys"))]
#[allow(clippy::too_many_arguments, clippy::unused_async)]
impl Passkeys {
    pub fn new(issuer: &url::Url, _rp_name: &str) -> Result<Passkeys, String> {
        can_host(issuer)?;
        Err("this frontdesk was built without the `passkeys` feature".to_owned())
    }

    pub fn start_registration(
        &self,
        _: &frontdesk_core::keys::Kek,
        _: &str,
        _: &[u8],
        _: &str,
        _: &str,
        _: &[frontdesk_core::model::PasskeyRecord],
        _: UnixTime,
    ) -> Result<(serde_json::Value, String), Error> {
        match *self {}
    }

    pub async fn finish_registration<S: frontdesk_core::store::Store>(
        &self,
        _: &frontdesk_core::keys::Kek,
        _: &S,
        _: &str,
        _: &str,
        _: &str,
        _: UnixTime,
    ) -> Result<Result<Registered, Refusal>, Error> {
        match *self {}
    }

    pub fn start_sign_in(
        &self,
        _: &frontdesk_core::keys::Kek,
        _: UnixTime,
    ) -> Result<(serde_json::Value, String), Error> {
        match *self {}
    }

    pub async fn finish_sign_in<S: frontdesk_core::store::Store>(
        &self,
        _: &frontdesk_core::keys::Kek,
        _: &S,
        _: &str,
        _: &str,
        _: UnixTime,
    ) -> Result<Result<(frontdesk_core::model::PasskeyRecord, Used), Refusal>, Error> {
        match *self {}
    }

    pub fn start_second_factor(
        &self,
        _: &frontdesk_core::keys::Kek,
        _: &str,
        _: &[frontdesk_core::model::PasskeyRecord],
        _: UnixTime,
    ) -> Result<(serde_json::Value, String), Error> {
        match *self {}
    }

    pub async fn finish_second_factor<S: frontdesk_core::store::Store>(
        &self,
        _: &frontdesk_core::keys::Kek,
        _: &S,
        _: &str,
        _: &str,
        _: &str,
        _: &str,
        _: UnixTime,
    ) -> Result<Result<Used, Refusal>, Error> {
        match *self {}
    }
}

/// The relying party for `issuer` as `features.passkeys` asks: `Some(true)`
/// needs it (a start-up error when the issuer cannot host WebAuthn), `None`
/// turns it on where it can be, `Some(false)` off.
pub fn for_issuer(issuer: &str, wanted: Option<bool>) -> anyhow::Result<Option<Passkeys>> {
    if wanted == Some(false) {
        return Ok(None);
    }
    let url = url::Url::parse(issuer).map_err(|e| anyhow::anyhow!("issuer: {e}"))?;
    match Passkeys::new(&url, "frontdesk") {
        Ok(p) => Ok(Some(p)),
        Err(why) if wanted == Some(true) => {
            anyhow::bail!("features.passkeys = true, but passkeys cannot work here: {why}")
        }
        Err(why) => {
            tracing::info!(reason = %why, "passkeys are off");
            Ok(None)
        }
    }
}
