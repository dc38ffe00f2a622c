//! The public keys clients publish at their `jwks_uri` (RFC 7591 §2), for
//! `private_key_jwt` (RFC 7523) and signed request objects (RFC 9101).
//!
//! Fetched with the resource kit's hardened client — no redirects, no proxy
//! from the environment, 5 s per request, 64 KiB per answer — and cached
//! per URI by `frontdesk_resource::Keys`: the answer's `Cache-Control`
//! max-age (default 5 minutes), a background refresh when stale, and a
//! refetch when a JWS names a `kid` the set lacks, at most once per
//! `MIN_REFETCH` per URI with concurrent callers sharing one fetch. So a
//! client that rotates its key is followed within seconds, and a flood of
//! assertions with made-up `kid`s costs its `jwks_uri` one request per
//! interval. The URIs come from registration (`https`, or `http` on a
//! loopback literal: `frontdesk_core::client::validate_jwks_uri`), never from
//! a request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use frontdesk_core::client::KeySource;
use frontdesk_core::model::Jwks;
use frontdesk_resource::{HttpClient, Keys, KeysOptions};

/// Most `jwks_uri` caches kept; past it the map starts again (one fetch per
/// URI still in use).
const MAX_URIS: usize = 4096;

/// Shortest time between two fetches of one `jwks_uri` for an unknown `kid`.
const MIN_REFETCH: Duration = Duration::from_secs(10);

pub struct ClientJwks {
    http: HttpClient,
    by_uri: Mutex<HashMap<String, Keys>>,
}

impl ClientJwks {
    pub fn new() -> anyhow::Result<ClientJwks> {
        Ok(ClientJwks {
            http: HttpClient::new()?,
            by_uri: Mutex::new(HashMap::new()),
        })
    }

    fn keys(&self, uri: &str) -> Keys {
        // A poisoned lock only means a panic elsewhere while inserting into
        // a map of cheap handles; the map is still usable.
        let mut map = self.by_uri.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = map.get(uri) {
            return k.clone();
        }
        if map.len() >= MAX_URIS {
            map.clear();
        }
        let keys = Keys::remote(
            uri,
            self.http.clone(),
            KeysOptions {
                min_refresh_interval: MIN_REFETCH,
                ..KeysOptions::default()
            },
        );
        map.insert(uri.to_owned(), keys.clone());
        keys
    }
}

impl KeySource for ClientJwks {
    async fn fetch(&self, jwks_uri: &str, kid: Option<&str>) -> Arc<Jwks> {
        self.keys(jwks_uri).current_for(kid).await
    }

    fn cached(&self, jwks_uri: &str) -> Option<Arc<Jwks>> {
        let map = self.by_uri.lock().unwrap_or_else(|e| e.into_inner());
        map.get(jwks_uri).map(Keys::current)
    }
}
