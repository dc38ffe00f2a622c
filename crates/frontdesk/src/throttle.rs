//! Throttling of failed client authentication at `/token`, `/introspect`
//! and `/revoke` (SECURITY.md §5.6), per node and in memory.
//!
//! - **Per client address.** Every `invalid_client` answer counts against
//!   the client's address (the TCP peer, or what a trusted proxy reported:
//!   `crate::client_addr`; IPv6 by its /64, since one host usually holds a
//!   whole /64) in a keyed GCRA limiter: `max` failures in a burst, then one
//!   more each `window / max`. The failure that finds the quota spent is
//!   answered 429, and until governor would admit a failure again every
//!   request from that address to the three endpoints is answered 429
//!   unless its credentials verify against the client record the node
//!   already holds (`frontdesk_core::client::admits_while_throttled`: one
//!   HMAC, no database read). So a flood of wrong secrets from behind a
//!   shared proxy cannot switch token issuance off for the clients whose
//!   secrets are right, and unknown client_ids cost nothing while blocked.
//!   Successful authentications never touch the limiter.
//! - **Per client_id.** A client is never refused because of failures
//!   (that would let anyone lock it out); instead a failure against a known
//!   client re-reads it from the database at most once per second per
//!   client_id ([`frontdesk_core::client::Reread`]).
//!
//! Every map here is bounded: the limiters drop idle keys in
//! [`ClientAuthThrottle::upkeep`] (every second, from `serve.rs`), blocked
//! addresses leave when their wait is over and are capped in number, and the
//! re-read limiter only ever holds registered client_ids.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use frontdesk_core::client::Reread;
use frontdesk_core::model::ClientId;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};

/// Most addresses held as blocked at once. Past it a newly blocked address
/// is not remembered, so each of its failures is still counted and answered
/// 429, only after authentication.
const MAX_BLOCKED: usize = 100_000;

/// How failed client authentications are throttled.
#[derive(Debug, Clone, Copy)]
pub struct ClientAuthPolicy {
    /// Failures per peer address in a burst.
    pub max_failures_per_ip: NonZeroU32,
    /// Time in which a spent quota refills completely.
    pub window: Duration,
    /// Also count failures in the database, for a cluster-wide limit.
    pub shared: bool,
}

impl ClientAuthPolicy {
    /// `max` cells, one back every `window / max`: at most `max` failures
    /// in any `window`, on average, after the first burst.
    fn quota(&self) -> anyhow::Result<Quota> {
        let period = self.window / self.max_failures_per_ip.get();
        Quota::with_period(period)
            .map(|q| q.allow_burst(self.max_failures_per_ip))
            .ok_or_else(|| {
                anyhow!("config: client_auth_failure_window_secs is too short for client_auth_max_failures_per_ip")
            })
    }
}

/// The throttle's state, shared by every request on this node.
pub struct ClientAuthThrottle {
    failures: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses over their limit, until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    rereads: DefaultKeyedRateLimiter<ClientId>,
    policy: ClientAuthPolicy,
}

impl ClientAuthThrottle {
    pub fn new(policy: ClientAuthPolicy) -> anyhow::Result<ClientAuthThrottle> {
        Ok(ClientAuthThrottle {
            failures: DefaultKeyedRateLimiter::keyed(policy.quota()?),
            blocked: Mutex::new(HashMap::new()),
            rereads: DefaultKeyedRateLimiter::keyed(Quota::per_second(NonZeroU32::MIN)),
            policy,
        })
    }

    /// With `client_auth_throttle_shared`: the store key that counts the
    /// failures of `peer` on every node, and the limit and window to count
    /// them in.
    pub fn shared(&self, peer: IpAddr) -> Option<(String, u32, Duration)> {
        self.policy.shared.then(|| {
            (
                format!("client-auth-ip:{}", ip_key(peer)),
                self.policy.max_failures_per_ip.get(),
                self.policy.window,
            )
        })
    }

    /// Blocks `peer` on this node for one cell of the quota (window / max):
    /// the cluster-wide count was over the limit. Returns the wait.
    pub fn block(&self, peer: IpAddr) -> Duration {
        let key = ip_key(peer);
        let wait = self.policy.window / self.policy.max_failures_per_ip.get();
        let mut blocked = self.blocked();
        if blocked.len() < MAX_BLOCKED || blocked.contains_key(&key) {
            blocked.insert(key, Instant::now() + wait);
        }
        wait
    }

    fn blocked(&self) -> MutexGuard<'_, HashMap<IpAddr, Instant>> {
        self.blocked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Before authentication: how long `peer` must still wait, if it is
    /// over its limit.
    pub fn refused(&self, peer: IpAddr) -> Option<Duration> {
        let key = ip_key(peer);
        let until = *self.blocked().get(&key)?;
        let now = Instant::now();
        (until > now).then(|| until - now)
    }

    /// After an `invalid_client` answer: counts the failure; when it is over
    /// the limit, blocks `peer` and returns how long it must wait.
    pub fn failed(&self, peer: IpAddr) -> Option<Duration> {
        let key = ip_key(peer);
        let not_until = self.failures.check_key(&key).err()?;
        let wait = not_until.wait_time_from(self.failures.clock().now());
        let mut blocked = self.blocked();
        if blocked.len() < MAX_BLOCKED || blocked.contains_key(&key) {
            blocked.insert(key, Instant::now() + wait);
        }
        Some(wait)
    }

    /// Drops what no longer matters: idle limiter keys and blocks that are
    /// over. Called every second.
    pub fn upkeep(&self) {
        self.failures.retain_recent();
        self.failures.shrink_to_fit();
        self.rereads.retain_recent();
        self.rereads.shrink_to_fit();
        let now = Instant::now();
        self.blocked().retain(|_, until| *until > now);
    }
}

impl Reread for ClientAuthThrottle {
    fn allow(&self, id: &ClientId) -> bool {
        self.rereads.check_key(id).is_ok()
    }
}

/// The limiter key of a peer: IPv4 as is, IPv6 by its /64 (the same unit
/// as the login throttle's).
fn ip_key(peer: IpAddr) -> IpAddr {
    frontdesk_core::addr::throttle_key(peer)
}

/// `Retry-After` in whole seconds: rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn throttle(max: u32, window_secs: u64) -> ClientAuthThrottle {
        ClientAuthThrottle::new(ClientAuthPolicy {
            max_failures_per_ip: NonZeroU32::new(max).unwrap(),
            window: Duration::from_secs(window_secs),
            shared: false,
        })
        .unwrap()
    }

    #[test]
    fn the_failure_past_the_limit_blocks_the_address() {
        let t = throttle(3, 60);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(t.refused(ip), None);
            assert_eq!(t.failed(ip), None);
        }
        let wait = t.failed(ip).unwrap();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(20));
        assert!(t.refused(ip).is_some());
        // Other addresses are unaffected.
        assert_eq!(t.refused("192.0.2.2".parse().unwrap()), None);
        t.upkeep();
        assert!(t.refused(ip).is_some());
    }

    #[test]
    fn one_reread_per_client_per_second() {
        let t = throttle(3, 60);
        let a = ClientId("a".into());
        assert!(t.allow(&a));
        assert!(!t.allow(&a));
        assert!(t.allow(&ClientId("b".into())));
    }

    #[test]
    fn retry_after_rounds_up_to_at_least_one() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(12)), 12);
    }

    #[test]
    fn an_impossible_quota_is_a_config_error() {
        let p = ClientAuthPolicy {
            max_failures_per_ip: NonZeroU32::MAX,
            window: Duration::from_nanos(1),
            shared: false,
        };
        assert!(ClientAuthThrottle::new(p).is_err());
    }
}
