//! The unit in which client addresses are counted by every throttle.
//!
//! One IPv6 host usually holds a whole /64 (SLAAC, privacy addresses), so
//! counting per full IPv6 address would let a single machine rotate through
//! 2^64 fresh keys. IPv4, also when mapped into IPv6, counts per address.

use std::net::IpAddr;

/// The throttling key of `ip`: IPv4 as is (mapped IPv4 unmapped), IPv6
/// truncated to its /64.
pub fn throttle_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ipv6_by_its_64_and_mapped_ipv4_as_ipv4() {
        let cases = [
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"),
            ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::"),
            ("::ffff:192.0.2.7", "192.0.2.7"),
            ("192.0.2.7", "192.0.2.7"),
            ("::1", "::"),
        ];
        for (ip, key) in cases {
            assert_eq!(
                throttle_key(ip.parse().unwrap()),
                key.parse::<IpAddr>().unwrap(),
                "{ip}"
            );
        }
    }
}
