//! F7: PKCE (`frontdesk_core::pkce`), RFC 7636 with S256 only.
//!
//! Oracles: `valid_verifier` iff 43–128 characters of `ALPHA / DIGIT / "-" /
//! "." / "_" / "~"` (§4.1); `valid_challenge` iff 43 characters of the
//! base64url alphabet (the length of an unpadded SHA-256); `verify_s256(v, c)`
//! iff `c` is BASE64URL(SHA256(v)) computed here (§4.6); the challenge of
//! every valid verifier is a valid challenge, and changing any one character
//! of it makes the check fail.

use frontdesk_core::pkce::{valid_challenge, valid_verifier, verify_s256};
use frontdesk_jose::{b64url, sha256};

use crate::split_at_byte;

pub fn check(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    let b64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_');
    assert_eq!(
        valid_verifier(&s),
        (43..=128).contains(&s.len()) && s.bytes().all(unreserved)
    );
    assert_eq!(valid_challenge(&s), s.len() == 43 && s.bytes().all(b64));

    let (v, c) = split_at_byte(data, 0);
    let v = String::from_utf8_lossy(v);
    let c = String::from_utf8_lossy(c);
    let computed = b64url(&sha256(v.as_bytes()));
    assert_eq!(verify_s256(&v, &c), c == computed);
    assert!(verify_s256(&v, &computed));

    if valid_verifier(&v) {
        assert!(valid_challenge(&computed));
        let i = data.len() % computed.len();
        let mut changed = computed.clone().into_bytes();
        changed[i] = if changed[i] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(changed).unwrap();
        assert!(!verify_s256(&v, &changed));
    }
}
