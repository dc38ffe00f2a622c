//! A short-lived cache of client records, so the token endpoint does not
//! read the same client from the database on every request.
//!
//! Only clients that exist are cached (a new client is seen at once), each
//! for at most [`CLIENT_TTL`]; writes through this `Db` drop the entry at
//! once, and writes elsewhere (the CLI, another node) are seen within the
//! TTL — under the one second the configuration promises.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use frontdesk_core::model::{Client, ClientId};

/// How long a cached client is trusted.
pub(crate) const CLIENT_TTL: Duration = Duration::from_millis(900);
/// Most clients held; past it the cache starts over.
const CAPACITY: usize = 10_000;

#[derive(Debug, Default)]
pub(crate) struct ClientCache {
    entries: Mutex<HashMap<ClientId, (Instant, Client)>>,
}

impl ClientCache {
    pub(crate) fn get(&self, id: &ClientId) -> Option<Client> {
        let map = self.entries.lock().ok()?;
        let (at, client) = map.get(id)?;
        (at.elapsed() < CLIENT_TTL).then(|| client.clone())
    }

    /// The record held for `id`, however old: for admission decisions only,
    /// never to authenticate on its own.
    pub(crate) fn get_any(&self, id: &ClientId) -> Option<Client> {
        let map = self.entries.lock().ok()?;
        map.get(id).map(|(_, client)| client.clone())
    }

    pub(crate) fn put(&self, client: &Client) {
        if let Ok(mut map) = self.entries.lock() {
            if map.len() >= CAPACITY {
                map.clear();
            }
            map.insert(client.client_id.clone(), (Instant::now(), client.clone()));
        }
    }

    /// Every entry stops being trusted ([`ClientCache::forget`] for all).
    pub(crate) fn clear(&self) {
        if let Ok(mut map) = self.entries.lock() {
            let stale = stale_instant();
            map.retain(|_, (at, _)| match stale {
                Some(s) => {
                    *at = s;
                    true
                }
                None => false,
            });
        }
    }

    /// The entry for `id` is no longer trusted: [`ClientCache::get`] misses,
    /// so the next authentication reads the database. The record stays for
    /// [`ClientCache::get_any`]'s admission decisions, which never
    /// authenticate on their own: a node that learns of a change (its own
    /// write, another node's announcement, a reconnect that may have missed
    /// some) does not refuse a throttled client whose secret is right.
    pub(crate) fn forget(&self, id: &ClientId) {
        if let Ok(mut map) = self.entries.lock() {
            match (stale_instant(), map.get_mut(id)) {
                (Some(s), Some((at, _))) => *at = s,
                _ => {
                    map.remove(id);
                }
            }
        }
    }
}

impl ClientCache {
    /// Drops the entry for `id` altogether: the client is gone.
    pub(crate) fn remove(&self, id: &ClientId) {
        if let Ok(mut map) = self.entries.lock() {
            map.remove(id);
        }
    }
}

/// A time [`CLIENT_TTL`] ago: an entry put then is past its trust.
fn stale_instant() -> Option<Instant> {
    Instant::now().checked_sub(CLIENT_TTL)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn client(id: &str) -> Client {
        serde_json::from_value(serde_json::json!({
            "client_id": id,
            "client_name": id,
            "redirect_uris": [],
            "grant_types": ["client_credentials"],
            "response_types": [],
            "scope": "",
            "token_endpoint_auth_method": "client_secret_basic",
            "audience": [],
            "access_token_format": "jwt",
            "first_party": false,
            "access_token_ttl": 60,
            "refresh_token_ttl": 60,
            "secrets": [],
            "created_at": 0,
            "updated_at": 0,
            "post_logout_redirect_uris": [],
        }))
        .unwrap()
    }

    /// Forgetting (one entry, or all) stops trusting it for
    /// authentication and keeps it for admission.
    #[test]
    fn forgotten_entries_stay_for_admission_only() {
        let cache = ClientCache::default();
        cache.put(&client("a"));
        cache.put(&client("b"));
        assert!(cache.get(&ClientId("a".into())).is_some());
        cache.forget(&ClientId("a".into()));
        assert!(cache.get(&ClientId("a".into())).is_none());
        assert!(cache.get_any(&ClientId("a".into())).is_some());
        assert!(cache.get(&ClientId("b".into())).is_some());
        cache.clear();
        assert!(cache.get(&ClientId("b".into())).is_none());
        assert!(cache.get_any(&ClientId("b".into())).is_some());
        cache.put(&client("b"));
        assert!(
            cache.get(&ClientId("b".into())).is_some(),
            "trusted again once re-read"
        );
        cache.remove(&ClientId("b".into()));
        assert!(
            cache.get_any(&ClientId("b".into())).is_none(),
            "a deleted client is gone"
        );
    }
}
