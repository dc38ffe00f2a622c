//! The key set a validator checks signatures with: fixed, or fetched from a
//! `jwks_uri` and cached.
//!
//! The remote cache follows three rules:
//!
//! * **Freshness from `Cache-Control`.** A fetched JWKS is fresh for its
//!   `max-age` (RFC 9111 §5.2.2.1), clamped to 1 s … 24 h, or 5 minutes
//!   without one. frontdesk publishes a key at least `max-age` before it
//!   signs with it, so a cache that honours `max-age` knows every key in
//!   time.
//! * **Refresh in the background.** A stale set keeps verifying while one
//!   background task refetches it (stale-while-revalidate); a failed fetch
//!   keeps the old keys and is retried a few seconds later.
//! * **An unknown `kid` refetches at most once per interval** (default
//!   60 s; RFC 8725 §3.10 and SECURITY.md J5), or at once when the set is
//!   past its `max-age` (a fetch that is due anyway). Concurrent misses wait for
//!   one fetch instead of starting their own, so a flood of tokens with
//!   forged `kid`s costs the authorization server at most one request per
//!   interval, whatever the flood's size.
//!
//! Every time above is read from one [`Clock`]: the monotonic system clock,
//! or one the caller moves ([`Keys::remote_with_clock`], for tests).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use frontdesk_jose::Jwks;

use crate::http_client::HttpClient;

/// The monotonic time a remote key set measures freshness and the refetch
/// interval on.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> Instant;
}

/// The default clock: [`Instant::now`].
#[derive(Debug)]
struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// Tuning of a remote key set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeysOptions {
    /// Least time between two fetches caused by unknown `kid`s (default 60 s).
    pub min_refresh_interval: Duration,
    /// Freshness when the response has no `Cache-Control: max-age` (5 min).
    pub default_max_age: Duration,
}

impl Default for KeysOptions {
    fn default() -> Self {
        KeysOptions {
            min_refresh_interval: Duration::from_secs(60),
            default_max_age: Duration::from_secs(300),
        }
    }
}

const MIN_MAX_AGE: Duration = Duration::from_secs(1);
const MAX_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// After a failed fetch, the next background attempt waits this long.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// A key set: cheap to clone, shared by every clone (one cache for all the
/// validators of one issuer).
#[derive(Debug, Clone)]
pub struct Keys(Source);

#[derive(Debug, Clone)]
enum Source {
    Fixed(Arc<Jwks>),
    Remote(Arc<Remote>),
}

#[derive(Debug)]
struct Remote {
    url: String,
    http: HttpClient,
    opts: KeysOptions,
    clock: Arc<dyn Clock>,
    state: RwLock<Snapshot>,
    /// Held while fetching: concurrent misses queue here and then see the
    /// new generation instead of fetching again.
    fetch_lock: tokio::sync::Mutex<()>,
    refreshing: AtomicBool,
    fetches: AtomicU64,
}

#[derive(Debug, Clone)]
struct Snapshot {
    jwks: Arc<Jwks>,
    /// Bumped by every fetch attempt, successful or not.
    generation: u64,
    loaded: bool,
    fresh_until: Instant,
    last_attempt: Option<Instant>,
    last_error: Option<String>,
}

/// What a refetch for an unknown `kid` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refetch {
    /// A new set is in place (fetched by us or by a concurrent caller).
    Updated,
    /// Not fetched: the last fetch is more recent than the interval.
    Suppressed,
    /// Fetching failed; the old set stays.
    Failed(String),
}

impl Keys {
    /// A fixed key set (tests, or keys distributed out of band).
    pub fn fixed(jwks: Jwks) -> Keys {
        Keys(Source::Fixed(Arc::new(jwks)))
    }

    /// A key set fetched from `jwks_uri` on first use and cached as the
    /// module documentation describes. Call [`Keys::refresh`] to load it
    /// before the first request.
    pub fn remote(jwks_uri: &str, http: HttpClient, opts: KeysOptions) -> Keys {
        Keys::remote_with_clock(jwks_uri, http, opts, Arc::new(SystemClock))
    }

    /// [`Keys::remote`] measuring time on `clock` instead of the system's
    /// monotonic clock (a test moves it instead of sleeping).
    pub fn remote_with_clock(
        jwks_uri: &str,
        http: HttpClient,
        opts: KeysOptions,
        clock: Arc<dyn Clock>,
    ) -> Keys {
        let now = clock.now();
        Keys(Source::Remote(Arc::new(Remote {
            url: jwks_uri.to_owned(),
            http,
            opts,
            clock,
            state: RwLock::new(Snapshot {
                jwks: Arc::new(Jwks::default()),
                generation: 0,
                loaded: false,
                fresh_until: now,
                last_attempt: None,
                last_error: None,
            }),
            fetch_lock: tokio::sync::Mutex::new(()),
            refreshing: AtomicBool::new(false),
            fetches: AtomicU64::new(0),
        })))
    }

    /// Fetches the key set now (for warm-up at start-up).
    ///
    /// # Errors
    /// The fetch error, as text; a fixed set never fails.
    pub async fn refresh(&self) -> Result<(), String> {
        match &self.0 {
            Source::Fixed(_) => Ok(()),
            Source::Remote(r) => {
                let _guard = r.fetch_lock.lock().await;
                r.fetch().await
            }
        }
    }

    /// How many times the JWKS was requested from the server (0 for a fixed set).
    pub fn fetch_count(&self) -> u64 {
        match &self.0 {
            Source::Fixed(_) => 0,
            Source::Remote(r) => r.fetches.load(Ordering::Relaxed),
        }
    }

    /// The keys to verify with now. A stale remote set is returned as is
    /// while a background refresh starts (when a tokio runtime is running).
    pub fn current(&self) -> Arc<Jwks> {
        match &self.0 {
            Source::Fixed(j) => Arc::clone(j),
            Source::Remote(r) => {
                let (jwks, stale) = {
                    let s = r.read();
                    (Arc::clone(&s.jwks), r.clock.now() >= s.fresh_until)
                };
                if stale {
                    Remote::refresh_in_background(r);
                }
                jwks
            }
        }
    }

    /// The keys to verify a JWS naming `kid` with, for a caller that must
    /// wait for them (a server verifying a client's assertion): a remote set
    /// never loaded, or lacking `kid`, is fetched first — at most once per
    /// `min_refresh_interval`, concurrent callers sharing one fetch, as for
    /// an unknown `kid` at the door. Without `kid`, a loaded set is used as
    /// is. A failed fetch leaves the previous set (possibly empty).
    pub async fn current_for(&self, kid: Option<&str>) -> Arc<Jwks> {
        let generation = self.generation();
        let set = self.current();
        let loaded = self.status().0;
        let missing =
            kid.is_some_and(|kid| !set.keys.iter().any(|k| k.kid.as_deref() == Some(kid)));
        if loaded && !missing {
            return set;
        }
        match self.refetch_for_unknown_kid(generation).await {
            Refetch::Updated => self.current(),
            Refetch::Suppressed | Refetch::Failed(_) => set,
        }
    }

    pub(crate) fn is_remote(&self) -> bool {
        matches!(self.0, Source::Remote(_))
    }

    /// Whether a set has ever been loaded (always true for a fixed set),
    /// and the last fetch error.
    pub(crate) fn status(&self) -> (bool, Option<String>) {
        match &self.0 {
            Source::Fixed(_) => (true, None),
            Source::Remote(r) => {
                let s = r.read();
                (s.loaded, s.last_error.clone())
            }
        }
    }

    /// The generation of the current set (changes on every fetch attempt).
    pub(crate) fn generation(&self) -> u64 {
        match &self.0 {
            Source::Fixed(_) => 0,
            Source::Remote(r) => r.read().generation,
        }
    }

    /// Called when a token names a `kid` that the set (at `seen_generation`)
    /// lacks. Fetches at most once per `min_refresh_interval`; callers that
    /// arrive during a fetch wait for it and share its result.
    pub(crate) async fn refetch_for_unknown_kid(&self, seen_generation: u64) -> Refetch {
        let Source::Remote(r) = &self.0 else {
            return Refetch::Suppressed;
        };
        let _guard = r.fetch_lock.lock().await;
        let now = r.clock.now();
        let (generation, last_attempt, loaded, stale) = {
            let s = r.read();
            (s.generation, s.last_attempt, s.loaded, now >= s.fresh_until)
        };
        if generation != seen_generation {
            // Someone fetched while we waited for the lock.
            return Refetch::Updated;
        }
        // Until a first set is loaded, retry failures sooner than the
        // interval (still rate-limited), so a start-up outage heals quickly.
        let interval = if loaded {
            r.opts.min_refresh_interval
        } else {
            r.opts.min_refresh_interval.min(Duration::from_secs(1))
        };
        // A stale set is due for a fetch anyway (its max-age, ≥ 1 s, bounds
        // the rate): fetch now rather than refuse a token signed by a key
        // published since, while the background refresh is still queued.
        if !stale && last_attempt.is_some_and(|t| now.saturating_duration_since(t) < interval) {
            return Refetch::Suppressed;
        }
        match r.fetch().await {
            Ok(()) => Refetch::Updated,
            Err(e) => Refetch::Failed(e),
        }
    }
}

impl Remote {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        // A poisoned lock only means a panic elsewhere while writing a
        // plain struct; the data is still consistent.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Snapshot> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// One GET of the JWKS. The caller holds `fetch_lock`.
    async fn fetch(&self) -> Result<(), String> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let result = self.http.get_json::<Jwks>(&self.url).await;
        let mut s = self.write();
        s.generation = s.generation.wrapping_add(1);
        // The interval counts from when the attempt ended: a fetch that
        // took the whole timeout is not followed by another at once (a
        // caller that waited for it and misses again would otherwise start
        // one more, doubling both the wait and the requests).
        s.last_attempt = Some(self.clock.now());
        match result {
            Ok(fetched) => {
                let ttl = fetched
                    .max_age
                    .unwrap_or(self.opts.default_max_age)
                    .clamp(MIN_MAX_AGE, MAX_MAX_AGE);
                tracing::debug!(url = %self.url, keys = fetched.value.keys.len(), ttl_secs = ttl.as_secs(), "fetched JWKS");
                s.jwks = Arc::new(fetched.value);
                s.loaded = true;
                s.fresh_until = self.clock.now() + ttl;
                s.last_error = None;
                Ok(())
            }
            Err(e) => {
                let msg = e.to_string();
                tracing::warn!(url = %self.url, error = %msg, "fetching the JWKS failed; keeping the previous keys");
                s.fresh_until = self.clock.now() + RETRY_AFTER_FAILURE;
                s.last_error = Some(msg.clone());
                Err(msg)
            }
        }
    }

    fn refresh_in_background(this: &Arc<Remote>) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if this.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let r = Arc::clone(this);
        rt.spawn(async move {
            {
                let _guard = r.fetch_lock.lock().await;
                // Still stale? Another fetch may have happened meanwhile.
                if r.clock.now() >= r.read().fresh_until {
                    let _ = r.fetch().await;
                }
            }
            r.refreshing.store(false, Ordering::Release);
        });
    }
}
