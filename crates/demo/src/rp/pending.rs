//! The pending sign-ins (state, nonce, PKCE verifier) between `GET /login`
//! and the callback, bounded so that unauthenticated `/login` floods cannot
//! starve other browsers: at most [`PER_ADDRESS`] per client address (an
//! IPv6 address counts by its /64), the oldest of that address evicted
//! first; at most [`MAX_PENDING`] in all, each for [`PENDING_TTL`]. When
//! the whole map is full of live entries, a new sign-in is refused rather
//! than evicting someone else's.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long a sign-in may take.
pub const PENDING_TTL: Duration = Duration::from_secs(600);
/// Pending sign-ins per client address (tabs, retries, a shared NAT).
pub const PER_ADDRESS: usize = 16;
/// Pending sign-ins in all.
pub const MAX_PENDING: usize = 10_000;

pub struct Pending {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    /// The session's DPoP key, already named by `dpop_jkt` in the
    /// authorization request (RFC 9449 §10), when the app uses DPoP.
    pub dpop: Option<frontdesk_rp::DpopKey>,
    pub created: Instant,
}

/// The client address as counted: IPv4 whole, IPv6 by its /64 (one
/// customer's allocation).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

#[derive(Default)]
pub struct PendingLogins {
    by_key: HashMap<String, (IpAddr, Pending)>,
    /// Each address's keys, oldest first.
    by_address: HashMap<IpAddr, VecDeque<String>>,
}

/// The map is full of sign-ins that have not expired.
#[derive(Debug)]
pub struct Full;

impl PendingLogins {
    /// Remembers `pending` under `key` for the client at `peer`.
    pub fn insert(&mut self, peer: IpAddr, key: String, pending: Pending) -> Result<(), Full> {
        let addr = address_key(peer);
        let mine = self.by_address.entry(addr).or_default();
        while mine.len() >= PER_ADDRESS {
            if let Some(oldest) = mine.pop_front() {
                self.by_key.remove(&oldest);
            }
        }
        if self.by_key.len() >= MAX_PENDING {
            self.expire();
            if self.by_key.len() >= MAX_PENDING {
                return Err(Full);
            }
        }
        self.by_address
            .entry(addr)
            .or_default()
            .push_back(key.clone());
        self.by_key.insert(key, (addr, pending));
        Ok(())
    }

    /// Takes the pending sign-in named by `key` (spent whatever happens
    /// next), if it has not expired.
    pub fn take(&mut self, key: &str) -> Option<Pending> {
        let (addr, pending) = self.by_key.remove(key)?;
        if let Some(keys) = self.by_address.get_mut(&addr) {
            keys.retain(|k| k != key);
            if keys.is_empty() {
                self.by_address.remove(&addr);
            }
        }
        Some(pending).filter(|p| p.created.elapsed() < PENDING_TTL)
    }

    fn expire(&mut self) {
        self.by_key
            .retain(|_, (_, p)| p.created.elapsed() < PENDING_TTL);
        let live = &self.by_key;
        self.by_address.retain(|_, keys| {
            keys.retain(|k| live.contains_key(k));
            !keys.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn p() -> Pending {
        Pending {
            state: String::new(),
            nonce: String::new(),
            verifier: String::new(),
            dpop: None,
            created: Instant::now(),
        }
    }

    #[test]
    fn one_address_keeps_only_its_newest() {
        let mut m = PendingLogins::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for i in 0..PER_ADDRESS + 3 {
            m.insert(a, format!("k{i}"), p()).unwrap();
        }
        assert_eq!(m.by_key.len(), PER_ADDRESS);
        assert!(m.take("k0").is_none());
        assert!(m.take(&format!("k{}", PER_ADDRESS + 2)).is_some());
        // Another address is untouched by the first one's churn.
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        m.insert(b, "b".to_owned(), p()).unwrap();
        for i in 0..100 {
            m.insert(a, format!("again{i}"), p()).unwrap();
        }
        assert!(m.take("b").is_some());
    }

    #[test]
    fn ipv6_counts_by_its_64() {
        let x: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let y: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let z: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(x), address_key(y));
        assert_ne!(address_key(x), address_key(z));
    }
}
