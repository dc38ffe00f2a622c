//! The address a request comes from, for the throttles and the logs.
//!
//! Without `trusted_proxies` it is the TCP peer, and `Forwarded` /
//! `X-Forwarded-For` change nothing (SECURITY.md R34): anyone can send them.
//! With it, a request whose TCP peer is inside one of those networks takes
//! its address from what that proxy appended: `Forwarded` (RFC 7239 §4,
//! its `for=` parameters) when present, else `X-Forwarded-For`. The list is
//! read from the right, the hop nearest to us, skipping addresses that are
//! themselves trusted proxies; the first other address is the client. Only
//! trusted proxies write to the right of it, so whatever a client puts in
//! the header itself sits further left and is never read. An entry that is
//! not an IP address (`for=unknown`, an obfuscated name, garbage) ends the
//! walk at the trusted hop behind it: the request is counted against that
//! proxy, never against an address someone made up.

use std::net::IpAddr;
use std::str::FromStr;

use anyhow::anyhow;
use axum::http::HeaderMap;
use forwarded_header_value::ForwardedHeaderValue;
use ipnet::IpNet;

/// The client's address, as the request extension handlers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The networks whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

/// Most forwarding entries looked at; a longer chain ends at the proxy.
const MAX_HOPS: usize = 20;

impl TrustedProxies {
    /// Parses `trusted_proxies`: CIDRs (`10.0.0.0/8`, `fd00::/8`) or single
    /// addresses (`127.0.0.1`, as /32 or /128).
    pub fn parse(list: &[String]) -> anyhow::Result<TrustedProxies> {
        let nets = list
            .iter()
            .map(|s| {
                let s = s.trim();
                IpNet::from_str(s)
                    .or_else(|_| IpAddr::from_str(s).map(IpNet::from))
                    .map(|n| n.trunc())
                    .map_err(|_| {
                        anyhow!("config: trusted_proxies: {s:?} is not an IP address or CIDR")
                    })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(TrustedProxies(nets))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client's address for a request from `peer` with `headers`.
    pub fn client_addr(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let chain = forwarded_chain(headers);
        let mut client = peer;
        for hop in chain.iter().rev().take(MAX_HOPS) {
            match hop {
                Some(ip) if self.trusts(*ip) => client = *ip,
                Some(ip) => return *ip,
                None => return client,
            }
        }
        client
    }
}

/// The forwarded-for addresses, leftmost first; `None` for an entry that
/// is not an IP address. `Forwarded` wins over `X-Forwarded-For`.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .map(|v| v.to_str().unwrap_or(""))
        .collect();
    if !forwarded.is_empty() {
        // Several header lines form one list (RFC 9110 §5.3).
        return match ForwardedHeaderValue::from_forwarded(&forwarded.join(",")) {
            Ok(v) => v
                .iter()
                .map(|stanza| stanza.forwarded_for_ip().map(|ip| ip.to_canonical()))
                .collect(),
            // Unparsable: nothing in it is believed; the proxy is the client.
            Err(_) => vec![None],
        };
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("").split(','))
        .map(|entry| parse_xff_entry(entry.trim()))
        .collect()
}

/// One `X-Forwarded-For` entry: an address, possibly with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
fn parse_xff_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = IpAddr::from_str(entry) {
        return Some(ip.to_canonical());
    }
    std::net::SocketAddr::from_str(entry)
        .ok()
        .map(|s| s.ip().to_canonical())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn client_address_cases() {
        let p = proxies(&["10.0.0.0/8", "127.0.0.1", "fd00::/8"]);
        let xff = "x-forwarded-for";
        // (description, TCP peer, headers, expected client)
        type Case<'a> = (&'a str, &'a str, &'a [(&'static str, &'a str)], &'a str);
        let cases: &[Case] = &[
            (
                "untrusted peer: headers ignored",
                "192.0.2.9",
                &[(xff, "198.51.100.1")],
                "192.0.2.9",
            ),
            (
                "trusted peer, no header: the proxy",
                "10.1.1.1",
                &[],
                "10.1.1.1",
            ),
            (
                "one hop",
                "10.1.1.1",
                &[(xff, "198.51.100.1")],
                "198.51.100.1",
            ),
            (
                "a client's own entry on the left is not read",
                "10.1.1.1",
                &[(xff, "203.0.113.66, 198.51.100.1")],
                "198.51.100.1",
            ),
            (
                "trusted hops are skipped",
                "127.0.0.1",
                &[(xff, "198.51.100.1, 10.2.2.2")],
                "198.51.100.1",
            ),
            (
                "several header lines form one list",
                "10.1.1.1",
                &[(xff, "203.0.113.66"), (xff, "198.51.100.1")],
                "198.51.100.1",
            ),
            (
                "garbage ends the walk at the proxy",
                "10.1.1.1",
                &[(xff, "nonsense")],
                "10.1.1.1",
            ),
            (
                "garbage behind a trusted hop: that hop",
                "10.1.1.1",
                &[(xff, "198.51.100.1, junk, 10.3.3.3")],
                "10.3.3.3",
            ),
            (
                "entry with a port",
                "10.1.1.1",
                &[(xff, "198.51.100.1:4711")],
                "198.51.100.1",
            ),
            (
                "IPv6 entry with a port",
                "10.1.1.1",
                &[(xff, "[2001:db8::7]:80")],
                "2001:db8::7",
            ),
            (
                "mapped IPv4 peer",
                "::ffff:10.1.1.1",
                &[(xff, "198.51.100.1")],
                "198.51.100.1",
            ),
            (
                "Forwarded wins over X-Forwarded-For",
                "10.1.1.1",
                &[("forwarded", "for=198.51.100.2"), (xff, "198.51.100.1")],
                "198.51.100.2",
            ),
            (
                "Forwarded with quoted IPv6 and trusted hop",
                "fd00::1",
                &[(
                    "forwarded",
                    "for=\"[2001:db8::9]:443\";proto=https, for=10.0.0.5",
                )],
                "2001:db8::9",
            ),
            (
                "Forwarded unknown: the proxy",
                "10.1.1.1",
                &[("forwarded", "for=unknown")],
                "10.1.1.1",
            ),
            (
                "all hops trusted: the leftmost",
                "10.1.1.1",
                &[(xff, "10.9.9.9, 10.8.8.8")],
                "10.9.9.9",
            ),
        ];
        for (description, peer, hs, want) in cases {
            assert_eq!(
                p.client_addr(ip(peer), &headers(hs)),
                ip(want),
                "{description}"
            );
        }
    }

    #[test]
    fn without_trusted_proxies_headers_change_nothing() {
        let p = proxies(&[]);
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.1"),
            ("forwarded", "for=198.51.100.2"),
        ]);
        assert_eq!(p.client_addr(ip("127.0.0.1"), &h), ip("127.0.0.1"));
    }

    #[test]
    fn bad_entries_are_config_errors() {
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(TrustedProxies::parse(&["proxy.example".into()]).is_err());
        assert!(TrustedProxies::parse(&[" 10.0.0.1 ".into()]).is_ok());
    }
}
