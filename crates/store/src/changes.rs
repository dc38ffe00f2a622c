//! Change notification between nodes on PostgreSQL (`LISTEN`/`NOTIFY`).
//!
//! A node that changes a client (update, upsert, delete, secret rotation)
//! or the signing keys announces it on the [`CHANNEL`] after its write has
//! committed; every node that follows changes ([`crate::Db::follow_changes`],
//! started by `serve`) drops that client from its cache and reloads its key
//! ring at once, instead of within the cache's 0.9 s and the one-second key
//! reload. Those time bounds stay as the fallback: an announcement that is
//! lost (the database went away between the write and the `NOTIFY`, or the
//! listening connection dropped) costs at most them, and after a reconnect
//! the whole client cache is dropped, since anything may have been missed.
//!
//! The listening connection is one more per node, beside the pool.
//!
//! Users, sessions, grants and revocations are never cached by a node, so
//! they need no announcement: every node reads them from the database.

use std::sync::Arc;
use std::time::Duration;

use frontdesk_core::model::ClientId;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::Notify;

use crate::cache::ClientCache;

/// The one channel; payloads are `client:ID` or `keys`.
pub(crate) const CHANNEL: &str = "frontdesk_changes";

const KEYS: &str = "keys";
const CLIENT_PREFIX: &str = "client:";

/// What changed.
pub(crate) enum Change<'a> {
    Client(&'a ClientId),
    Keys,
}

impl Change<'_> {
    pub(crate) fn payload(&self) -> String {
        match self {
            Change::Client(id) => format!("{CLIENT_PREFIX}{}", id.as_str()),
            Change::Keys => KEYS.to_owned(),
        }
    }
}

/// Follows [`CHANNEL`] until the pool closes, reconnecting after a pause
/// when the listening connection cannot be opened.
pub(crate) async fn follow(pool: PgPool, clients: Arc<ClientCache>, keys: Arc<Notify>) {
    // A connection of its own, outside the pool that serves requests: the
    // listener holds it for good, and requests keep `database_pool_size`.
    let own = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with((*pool.connect_options()).clone());
    loop {
        if pool.is_closed() {
            own.close().await;
            return;
        }
        let mut listener = match PgListener::connect_with(&own).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "change notifications: cannot connect; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::debug!(error = %e, "change notifications: LISTEN failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // Anything may have changed while no one listened.
        missed(&clients, &keys);
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => apply(n.payload(), &clients, &keys),
                // The connection was lost and has been re-established.
                Ok(None) => missed(&clients, &keys),
                Err(sqlx::Error::PoolClosed) => return,
                Err(e) => {
                    tracing::debug!(error = %e, "change notifications: connection lost");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
        }
    }
}

fn apply(payload: &str, clients: &ClientCache, keys: &Notify) {
    if payload == KEYS {
        keys.notify_one();
    } else if let Some(id) = payload.strip_prefix(CLIENT_PREFIX) {
        clients.forget(&ClientId(id.to_owned()));
    }
}

fn missed(clients: &ClientCache, keys: &Notify) {
    clients.clear();
    keys.notify_one();
}
