//! The running server's state, and start-up steps shared with the CLI.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use frontdesk_core::error::Error;
use frontdesk_core::keys::{self, Kek, KeyRing, RotationPolicy};
use frontdesk_core::model::KeyUse;
use frontdesk_core::secret::Pepper;
use frontdesk_core::store::Store;
use frontdesk_core::{Core, Settings as CoreSettings, password};
use frontdesk_jose::Algorithm;
use frontdesk_store::Db;
use zeroize::Zeroizing;

use crate::config::{KekSource, Settings, decode_kek};

/// Unix time now. The one place the server reads the clock; handlers read
/// it once per request and pass it down.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// What both `serve` and the CLI need: the protocol core, the database and
/// the key-encryption key.
pub struct Opened {
    pub core: Core,
    pub db: Db,
    pub kek: Kek,
    pub rotation: RotationPolicy,
}

pub async fn open(settings: &Settings) -> anyhow::Result<Opened> {
    if settings.database.starts_with("sqlite:") || matches!(settings.kek_source, KekSource::File(_))
    {
        create_private_dir(&settings.data_dir)?;
    }
    let kek_bytes = match &settings.kek_source {
        KekSource::Given(k) => k.clone(),
        KekSource::File(path) => load_or_create_kek(path)?,
    };
    let kek = Kek::new(&kek_bytes).map_err(|e| anyhow!("{e}"))?;
    // The pepper is derived from the KEK so that one secret configures a
    // cluster; rotating the KEK therefore invalidates client secrets.
    let pepper_key = hmac::Key::new(hmac::HMAC_SHA256, kek_bytes.as_slice());
    let pepper =
        Pepper::new(hmac::sign(&pepper_key, b"frontdesk client-secret pepper v1").as_ref());
    let db = Db::connect_with(&settings.database, &settings.database_options)
        .await
        .map_err(|e| anyhow!("database: {e}"))?;
    let core = Core {
        settings: CoreSettings {
            issuer: settings.issuer.clone(),
            leeway: settings.leeway,
            max_token_ttl: settings.max_token_ttl,
            code_ttl: settings.code_ttl,
            id_token_ttl: settings.id_token_ttl,
            session_ttl: settings.session_ttl,
            refresh_idle_ttl: settings.refresh_idle_ttl,
            refresh_grace: settings.refresh_grace,
            code_retry_grace: settings.code_retry_grace,
            require_mfa: settings.require_mfa,
            dpop: settings.dpop.clone(),
            require_pushed_authorization_requests: settings.require_pushed_authorization_requests,
            ui_locales_supported: crate::http::i18n::supported()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            device_code_ttl: settings.device_code_ttl,
            device_poll_interval: settings.device_poll_interval,
        },
        features: settings.features,
        pepper,
    };
    Ok(Opened {
        core,
        db,
        kek,
        rotation: settings.rotation,
    })
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .with_context(|| format!("data_dir: cannot create {}", dir.display()))
}

/// Reads the generated KEK, or creates it (mode 0600) on first start.
fn load_or_create_kek(path: &Path) -> anyhow::Result<Zeroizing<[u8; 32]>> {
    if path.exists() {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("key-encryption key: cannot read {}", path.display()))?,
        );
        return decode_kek(&path.display().to_string(), &text);
    }
    let mut key = Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(key.as_mut_slice())
        .map_err(|_| anyhow!("random number generator failed"))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(mut f) => {
            let text = Zeroizing::new(URL_SAFE_NO_PAD.encode(key.as_slice()));
            f.write_all(text.as_bytes())
                .and_then(|()| f.sync_all())
                .with_context(|| format!("key-encryption key: cannot write {}", path.display()))?;
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_kek(path),
        Err(e) => Err(anyhow!(
            "key-encryption key: cannot create {}: {e}",
            path.display()
        )),
    }
}

pub use frontdesk_core::login::LoginPolicy;

/// What the browser-facing pages need.
pub struct Web {
    pub pages: crate::http::pages::Pages,
    /// Bounds concurrent Argon2id verifications to the number of cores.
    pub hasher: tokio::sync::Semaphore,
    /// Verified when the user does not exist, so timing does not tell.
    pub dummy_hash: String,
    pub login: LoginPolicy,
    /// Detects hard-coded PKCE challenges and nonces (SECURITY.md R11).
    pub repeats: frontdesk_core::authorize::RepeatWatch,
    /// How recent a sign-in must be to change the account (`reauth_secs`).
    pub reauth_secs: i64,
    /// Claims users may edit on the account page.
    pub account_editable_claims: Vec<&'static str>,
    /// The WebAuthn relying party, when passkeys are on.
    pub passkeys: Option<Arc<crate::passkeys::Passkeys>>,
    /// Mail security notices (`security_notices`).
    pub security_notices: bool,
    /// Users may change their address on the account page
    /// (`account_email_change`).
    pub account_email_change: bool,
    /// `[[upstreams]]`: "Sign in with …" providers.
    pub upstreams: Arc<crate::upstream::Upstreams>,
    /// `[[ldap]]`: directories that check the login page's password for
    /// accounts without a local one.
    pub directories: Arc<crate::ldap::Directories>,
}

impl Web {
    pub fn new(secure_cookies: bool, login: LoginPolicy) -> anyhow::Result<Web> {
        let pages = crate::http::pages::Pages::new(secure_cookies)
            .map_err(|e| anyhow!("templates: {e}"))?;
        let cores = std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(2);
        let dummy = frontdesk_core::secret::random_string(24).map_err(|e| anyhow!("{e}"))?;
        let dummy_hash = password::hash(&dummy).map_err(|e| anyhow!("{e}"))?;
        Ok(Web {
            pages,
            hasher: tokio::sync::Semaphore::new(cores),
            dummy_hash,
            login,
            repeats: frontdesk_core::authorize::RepeatWatch::default(),
            reauth_secs: 300,
            account_editable_claims: crate::http::account::EDITABLE_CLAIMS.to_vec(),
            passkeys: None,
            security_notices: false,
            account_email_change: true,
            upstreams: Arc::new(crate::upstream::Upstreams::default()),
            directories: Arc::new(crate::ldap::Directories::default()),
        })
    }
}

/// Verifies on the blocking pool, at most `permits` at a time, so a login
/// flood cannot starve the token endpoint of CPU.
pub async fn verify_on_pool(
    pool: &tokio::sync::Semaphore,
    hash: String,
    password: String,
) -> Result<bool, Error> {
    let _permit = pool
        .acquire()
        .await
        .map_err(|_| Error::Internal("password pool closed".into()))?;
    tokio::task::spawn_blocking(move || password::verify(&hash, &password))
        .await
        .map_err(|e| Error::Internal(format!("password check: {e}")))
}

/// Hashes a new password (Argon2id) on the blocking pool, under the same
/// bound as [`verify_on_pool`].
pub async fn hash_on_pool(
    pool: &tokio::sync::Semaphore,
    password: String,
) -> Result<String, Error> {
    let _permit = pool
        .acquire()
        .await
        .map_err(|_| Error::Internal("password pool closed".into()))?;
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| Error::Internal(format!("password hash: {e}")))?
}

/// Argon2id on the bounded pool, and real waiting, for
/// [`frontdesk_core::login::check_password`].
impl frontdesk_core::login::Checker for Web {
    async fn verify(&self, hash: String, password: String) -> Result<bool, Error> {
        verify_on_pool(&self.hasher, hash, password).await
    }

    async fn delay(&self, delay: std::time::Duration) {
        tokio::time::sleep(delay).await;
    }
}

/// The server's shared state.
pub struct App {
    pub core: Core,
    pub db: Db,
    pub kek: Kek,
    pub rotation: RotationPolicy,
    keys: RwLock<Arc<KeyRing>>,
    pub admin_token: Option<Zeroizing<String>>,
    pub web: Web,
    /// Failed client authentication at the back-channel endpoints.
    pub client_auth: crate::throttle::ClientAuthThrottle,
    /// Outgoing mail (the queue the mail worker reads).
    pub mail: crate::mail::Outgoing,
    /// Lifetimes and limits of e-mailed links.
    pub links: frontdesk_core::email_link::LinkPolicy,
    /// Self-registration rules (`/register` exists with `features.registration`).
    pub registration: frontdesk_core::registration::RegistrationPolicy,
    /// The keys clients publish at their `jwks_uri`.
    pub client_jwks: crate::client_keys::ClientJwks,
}

pub type AppState = Arc<App>;

impl App {
    /// Loads the key ring, generating the first keys when there are none
    /// (ES256 for access tokens, RS256 for ID tokens) under the store's key
    /// lock (`Store::add_signing_keys_locked`).
    pub async fn start(
        opened: Opened,
        admin_token: Option<Zeroizing<String>>,
        web: Web,
        client_auth: crate::throttle::ClientAuthThrottle,
        mail: crate::mail::Outgoing,
        links: frontdesk_core::email_link::LinkPolicy,
        registration: frontdesk_core::registration::RegistrationPolicy,
    ) -> anyhow::Result<App> {
        let Opened {
            core,
            db,
            kek,
            rotation,
        } = opened;
        let now = now();
        let stored = db.signing_keys().await.map_err(|e| anyhow!("{e}"))?;
        let mut ring =
            KeyRing::load(&stored, &kek, rotation, now, None).map_err(|e| anyhow!("{e}"))?;
        let missing: Vec<(KeyUse, Algorithm)> = [
            (KeyUse::AccessToken, Algorithm::ES256),
            (KeyUse::IdToken, Algorithm::RS256),
        ]
        .into_iter()
        .filter(|(key_use, _)| ring.needs_key(*key_use, now))
        .collect();
        if !missing.is_empty() {
            // Generated before the lock is taken (an RSA key takes a
            // moment); under it only the ones still needed are stored, so
            // of several nodes starting on an empty database one adds keys
            // and the others load that node's.
            let candidates = missing
                .into_iter()
                .map(|(key_use, alg)| keys::generate(&kek, alg, key_use, now, now))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow!("{e}"))?;
            let stored = db
                .add_signing_keys_locked(|current| {
                    keys::first_keys_needed(current, &candidates, now)
                })
                .await
                .map_err(|e| anyhow!("{e}"))?;
            for key in candidates
                .iter()
                .filter(|c| stored.iter().any(|k| k.kid == c.kid))
            {
                tracing::info!(kid = %key.kid, alg = %key.alg, key_use = key.key_use.as_str(), "generated signing key");
            }
            ring = KeyRing::load(&stored, &kek, rotation, now, Some(&ring))
                .map_err(|e| anyhow!("{e}"))?;
        }
        Ok(App {
            core,
            db,
            kek,
            rotation,
            keys: RwLock::new(Arc::new(ring)),
            admin_token,
            web,
            client_auth,
            mail,
            links,
            registration,
            client_jwks: crate::client_keys::ClientJwks::new()?,
        })
    }

    /// `dpop_signing_alg_values_supported`, space-separated, for `algs` in
    /// `DPoP` challenges (RFC 9449 §7.1).
    pub fn dpop_algs(&self) -> String {
        let algs: Vec<&str> = self
            .core
            .settings
            .dpop
            .algorithms
            .iter()
            .map(|a| a.as_str())
            .collect();
        algs.join(" ")
    }

    /// The current key ring (cheap: an `Arc` clone).
    pub fn keys(&self) -> Arc<KeyRing> {
        match self.keys.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Scheduled rotation (`key_rotation_period_secs`): successors for the
    /// uses `keys::rotations_due` named (`due`), each of its current key's
    /// algorithm, published now and signing after `key_prepublish_secs`.
    /// They are made before the key lock is taken (an RSA key takes a
    /// moment, once per period) and stored under it only if the use is
    /// still due on what the lock reads (`keys::rotation_needed`), so of
    /// several nodes exactly one rotates and the others load its keys.
    /// Returns every key as stored afterwards.
    async fn rotate_due(
        &self,
        due: Vec<(KeyUse, String)>,
        now: i64,
    ) -> Result<Vec<frontdesk_core::model::StoredKey>, Error> {
        let mut candidates = Vec::new();
        for (key_use, alg) in due {
            let alg: Algorithm = alg
                .parse()
                .map_err(|_| Error::Internal(format!("stored key with algorithm {alg:?}")))?;
            candidates.push(keys::generate(
                &self.kek,
                alg,
                key_use,
                now,
                now + self.rotation.prepublish,
            )?);
        }
        let policy = self.rotation;
        let after = self
            .db
            .add_signing_keys_locked(|current| {
                keys::rotation_needed(current, &candidates, &policy, now)
            })
            .await?;
        for key in candidates
            .iter()
            .filter(|c| after.iter().any(|k| k.kid == c.kid))
        {
            tracing::info!(kid = %key.kid, alg = %key.alg, key_use = key.key_use.as_str(), activates_at = key.activates_at, "scheduled key rotation: published a new signing key");
            let e = crate::audit::event(frontdesk_core::audit::Kind::AdminKeysRotate, now)
                .actor(&frontdesk_core::audit::Actor::Config)
                .kid(&key.kid)
                .label("use", key.key_use.as_str());
            crate::audit::record(&self.db, e).await;
        }
        Ok(after)
    }

    /// Re-reads keys from the store so that rotations made by the CLI or
    /// another node take effect here; only new keys are decrypted.
    pub async fn reload_keys(&self) -> Result<(), Error> {
        let now = now();
        let mut stored = self.db.signing_keys().await?;
        let due = keys::rotations_due(&stored, &self.rotation, now);
        if !due.is_empty() {
            stored = self.rotate_due(due, now).await?;
        }
        let current = self.keys();
        let ring = KeyRing::load(&stored, &self.kek, self.rotation, now, Some(&current))?;
        match self.keys.write() {
            Ok(mut g) => *g = Arc::new(ring),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(ring),
        }
        Ok(())
    }
}
