//! F2: JWK / JWKS parsing (client `jwks`, `jwks_uri` bodies) and use.
//!
//! Modes (first byte): 0 — the bytes as a JWKS document; 1 — the fixture's
//! JWKS document (public keys for the four algorithms) with byte edits
//! applied, so most inputs stay close to real key sets; 2 — the bytes as one
//! JWK.
//!
//! Oracles: no panic; a parsed set re-serializes to public members only
//! (`kty kid alg use crv x y n e`, never `d`, `p`, `q`, `k`, …) and parses
//! back equal, with the same RFC 7638 thumbprints; each of the fixture's
//! signed tokens verifies against the fuzzed set only if the set holds a key
//! with that token's `kid`, a signature `use`, a compatible `alg` and the
//! signer's exact public key (so an RSA key is never below 2048 bits).

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use frontdesk_jose::{Algorithm, Jwk, Jwks, thumbprint, verify};
use serde_json::Value;

use crate::jws::{NOW, fixture};

const PUBLIC: [&str; 9] = ["kty", "kid", "alg", "use", "crv", "x", "y", "n", "e"];

/// Lenient base64url (padding optional), so that the oracle compares keys, not
/// spellings.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

fn bytes(v: &Option<String>) -> Option<Vec<u8>> {
    v.as_deref().and_then(|s| LENIENT.decode(s).ok())
}

fn unsigned(v: &Option<String>) -> Option<Vec<u8>> {
    bytes(v).map(|b| {
        let start = b.iter().position(|x| *x != 0).unwrap_or(b.len());
        b[start..].to_vec()
    })
}

fn same_public_key(a: &Jwk, b: &Jwk) -> bool {
    if a.kty != b.kty {
        return false;
    }
    match a.kty.as_str() {
        "EC" => a.crv == b.crv && bytes(&a.x) == bytes(&b.x) && bytes(&a.y) == bytes(&b.y),
        "OKP" => a.crv == b.crv && bytes(&a.x) == bytes(&b.x),
        "RSA" => unsigned(&a.n) == unsigned(&b.n) && unsigned(&a.e) == unsigned(&b.e),
        _ => false,
    }
}

fn check_jwk(k: &Jwk) {
    let _ = k.algorithm();
    let again: Jwk = serde_json::from_value(serde_json::to_value(k).unwrap()).unwrap();
    assert_eq!(&again, k);
    assert_eq!(
        thumbprint(k).ok(),
        thumbprint(&again).ok(),
        "thumbprint changed across a round trip"
    );
    let v = serde_json::to_value(k).unwrap();
    for name in v.as_object().unwrap().keys() {
        assert!(PUBLIC.contains(&name.as_str()), "re-emitted member {name}");
    }
}

fn check_set(jwks: &Jwks) {
    for k in &jwks.keys {
        check_jwk(k);
    }
    let again: Jwks = serde_json::from_str(&serde_json::to_string(jwks).unwrap()).unwrap();
    assert_eq!(&again, jwks);

    let f = fixture();
    for (signer, token) in f.keys.iter().zip(&f.tokens) {
        if verify::<Value>(token, jwks, &f.expect, NOW).is_err() {
            continue;
        }
        let alg: Algorithm = signer.alg();
        let found = jwks.keys.iter().any(|k| {
            k.kid.as_deref() == Some(signer.kid())
                && k.use_.as_deref().is_none_or(|u| u == "sig")
                && k.algorithm() == Some(alg)
                && same_public_key(k, signer.public_jwk())
        });
        assert!(
            found,
            "a {alg} token verified against a set without the signer's key: {jwks:?}"
        );
    }
}

pub fn check(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            if let Ok(jwks) = serde_json::from_slice::<Jwks>(rest) {
                check_set(&jwks);
            }
        }
        1 => {
            let mut doc = serde_json::to_vec(&fixture().jwks).unwrap();
            for e in rest.chunks_exact(3).take(16) {
                let pos = usize::from(u16::from_le_bytes([e[0], e[1]]));
                match e[0] >> 6 {
                    0 | 1 if !doc.is_empty() => {
                        let at = pos % doc.len();
                        doc[at] = e[2];
                    }
                    2 => doc.insert(pos % (doc.len() + 1), e[2]),
                    3 if !doc.is_empty() => {
                        doc.remove(pos % doc.len());
                    }
                    _ => {}
                }
            }
            if let Ok(jwks) = serde_json::from_slice::<Jwks>(&doc) {
                check_set(&jwks);
            }
        }
        _ => {
            if let Ok(k) = serde_json::from_slice::<Jwk>(rest) {
                check_jwk(&k);
                check_set(&Jwks { keys: vec![k] });
            }
        }
    }
}
