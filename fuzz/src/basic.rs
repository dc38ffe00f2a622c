//! F6: HTTP Basic client authentication (`frontdesk_core::params::parse_basic`).
//!
//! Modes (first byte): 0 — the input as an `Authorization` header value;
//! 1 — a client id and secret (split at the first NUL) encoded as RFC 6749
//! §2.3.1 says (form-urlencode each, join with `:`, base64), with the scheme
//! in a random letter case.
//!
//! Oracle for mode 0 (an independent parser): scheme `Basic` in any case, one
//! space, base64 (RFC 4648 §4, padded), UTF-8, split at the first `:`, each
//! half form-decoded strictly (`+` is a space, `%` must start two hex digits,
//! the result UTF-8), the id non-empty; the parser must give exactly this.
//! Oracle for mode 1: the round trip returns the same id and secret (a `:` in
//! either survives, being encoded), and fails only for an empty id.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use frontdesk_core::params::parse_basic;

use crate::split_at_byte;

fn form_decode_strict(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let h = char::from(*b.get(i + 1)?).to_digit(16)?;
                let l = char::from(*b.get(i + 2)?).to_digit(16)?;
                out.push(u8::try_from(h * 16 + l).ok()?);
                i += 2;
            }
            x => out.push(x),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn oracle(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = String::from_utf8(STANDARD.decode(rest.trim()).ok()?).ok()?;
    let colon = raw.find(':')?;
    let id = form_decode_strict(&raw[..colon])?;
    let secret = form_decode_strict(&raw[colon + 1..])?;
    (!id.is_empty()).then_some((id, secret))
}

pub fn check(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let header = String::from_utf8_lossy(rest);
        assert_eq!(parse_basic(&header).ok(), oracle(&header), "{header:?}");
        return;
    }
    let (id, secret) = split_at_byte(rest, 0);
    let id = String::from_utf8_lossy(id);
    let secret = String::from_utf8_lossy(secret);
    let encoded = format!(
        "{}:{}",
        form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>(),
        form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>()
    );
    let scheme: String = "basic"
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if mode >> (i + 1) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    let header = format!("{scheme} {}", STANDARD.encode(encoded));
    match parse_basic(&header) {
        Ok((i, s)) => {
            assert!(!id.is_empty());
            assert_eq!((i.as_str(), s.as_str()), (&*id, &*secret));
        }
        Err(_) => assert!(id.is_empty(), "round trip failed for {id:?} / {secret:?}"),
    }
}
