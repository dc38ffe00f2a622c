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

    pub(crate) fn clear(&self) {
        if let Ok(mut map) = self.entries.lock() {
            map.clear();
        }
    }

    pub(crate) fn forget(&self, id: &ClientId) {
        if let Ok(mut map) = self.entries.lock() {
            map.remove(id);
        }
    }
}
