//! Property tests (SECURITY.md §5.8 F3–F7, the stable counterpart of
//! `fuzz/`): each parser against an oracle written here. Case counts are
//! kept small so the suite stays fast.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use proptest::prelude::*;

use crate::authorize::match_redirect_uri;
use crate::client::validate_redirect_uri;
use crate::model::{AccessTokenFormat, AuthMethod, Client, ClientId, GrantType};
use crate::params::{MAX_PARAMS, Params, parse_basic};
use crate::pkce;
use crate::scope::Scope;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ------------------------------------------------------------ F3 forms

/// WHATWG urlencoded parsing to raw bytes: split on `&`, skip empty
/// sequences, split at the first `=`, `+` is a space, `%XX` a byte.
fn oracle_pairs(body: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    fn decode(s: &[u8]) -> Vec<u8> {
        let hex = |b: u8| char::from(b).to_digit(16);
        let mut out = Vec::new();
        let mut i = 0;
        while i < s.len() {
            match (
                s[i],
                s.get(i + 1).and_then(|b| hex(*b)),
                s.get(i + 2).and_then(|b| hex(*b)),
            ) {
                (b'%', Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                (b'+', _, _) => out.push(b' '),
                (b, _, _) => out.push(b),
            }
            i += 1;
        }
        out
    }
    body.split(|b| *b == b'&')
        .filter(|seq| !seq.is_empty())
        .map(|seq| match seq.iter().position(|b| *b == b'=') {
            Some(i) => (decode(&seq[..i]), decode(&seq[i + 1..])),
            None => (decode(seq), Vec::new()),
        })
        .collect()
}

fn form_body() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop::sample::select(vec![
        &b"a"[..],
        b"b",
        b"resource",
        b"=",
        b"=",
        b"&",
        b"&",
        b"+",
        b"%20",
        b"%2B",
        b"%26",
        b"%3D",
        b"%FF",
        b"%C3%A9",
        b"%EF%BF%BD",
        b"\xef\xbf\xbd",
        b"%",
        b"%4",
        b"%zz",
        b"\xff",
        "é".as_bytes(),
    ]);
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn form_parsing_matches_the_oracle(body in form_body()) {
        let raw = oracle_pairs(&body);
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut bad = raw.len() > MAX_PARAMS;
        for (k, v) in &raw {
            match (std::str::from_utf8(k), std::str::from_utf8(v)) {
                (Ok(k), Ok(v)) if !v.is_empty() => {
                    bad |= k != "resource" && pairs.iter().any(|(n, _)| n == k);
                    pairs.push((k.to_owned(), v.to_owned()));
                }
                (Ok(_), Ok(_)) => {}
                _ => bad = true,
            }
        }
        match Params::parse(&body) {
            Err(_) => prop_assert!(bad, "refused {:?}", String::from_utf8_lossy(&body)),
            Ok(p) => {
                prop_assert!(!bad, "accepted {:?}", String::from_utf8_lossy(&body));
                for (name, _) in &pairs {
                    let want: Vec<&str> =
                        pairs.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect();
                    prop_assert_eq!(p.get_all(name).collect::<Vec<_>>(), want);
                }
            }
        }
    }

    #[test]
    fn too_many_parameters_are_refused(n in 0usize..160, empty_every in 1usize..5) {
        // Pairs with an empty value count too: the cap is on what the client sent.
        let body: Vec<String> = (0..n)
            .map(|i| if i % empty_every == 0 { format!("e{i}=") } else { format!("p{i}=v") })
            .collect();
        let r = Params::parse(body.join("&").as_bytes());
        prop_assert_eq!(r.is_ok(), n <= MAX_PARAMS);
    }
}

// ------------------------------------------------------- F4 redirect URIs

pub(crate) fn client(uris: Vec<String>) -> Client {
    Client {
        client_id: ClientId("c".into()),
        client_name: "C".into(),
        redirect_uris: uris,
        grant_types: vec![GrantType::AuthorizationCode],
        response_types: vec!["code".into()],
        scope: Scope::default(),
        token_endpoint_auth_method: AuthMethod::None,
        audience: vec![],
        access_token_format: AccessTokenFormat::Jwt,
        first_party: false,
        post_logout_redirect_uris: vec![],
        id_token_signed_response_alg: None,
        always_issue_refresh_token: false,
        refresh_grace_secs: None,
        require_mfa: None,
        require_pushed_authorization_requests: false,
        jwks: None,
        jwks_uri: None,
        token_endpoint_auth_signing_alg: None,
        request_object_signing_alg: None,
        require_signed_request_object: false,
        require_pkce: true,
        allowed_upstreams: None,
        local_login: true,
        required_groups: Vec::new(),
        released_groups: None,
        subject_type: Default::default(),
        sector_identifier_uri: None,
        logo_uri: None,
        client_uri: None,
        policy_uri: None,
        tos_uri: None,
        profile: None,
        access_token_ttl: 60,
        refresh_token_ttl: 60,
        secrets: vec![],
        created_at: 0,
        updated_at: 0,
        dpop_bound_access_tokens: false,
        token_exchange: None,
    }
}

/// RFC 8252 §7.3 as the oracle reads it: `http://127.0.0.1` or `http://[::1]`,
/// an optional real port (1–5 digits, ≤ 65535), then nothing, `/…` or `?…`.
fn loopback_parts(uri: &str) -> Option<(&str, &str)> {
    let after = uri.strip_prefix("http://")?;
    let (host, tail) = ["127.0.0.1", "[::1]"]
        .iter()
        .find_map(|h| after.strip_prefix(h).map(|t| (*h, t)))?;
    let rest = match tail.strip_prefix(':') {
        Some(p) => {
            let digits = p.bytes().take_while(u8::is_ascii_digit).count();
            if !(1..=5).contains(&digits) || p[..digits].parse::<u32>().ok()? > 65535 {
                return None;
            }
            &p[digits..]
        }
        None => tail,
    };
    (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')).then_some((host, rest))
}

/// `uri` with its loopback port replaced by (or set to) `port`.
fn with_port(uri: &str, port: u32) -> Option<String> {
    let host = ["http://127.0.0.1", "http://[::1]"]
        .into_iter()
        .find(|h| uri.starts_with(h))?;
    let tail = &uri[host.len()..];
    let rest = match tail.strip_prefix(':') {
        Some(p) => p.trim_start_matches(|c: char| c.is_ascii_digit()),
        None => tail,
    };
    Some(format!("{host}:{port}{rest}"))
}

fn uri() -> impl Strategy<Value = String> {
    let prefix = prop::sample::select(vec![
        "http://127.0.0.1",
        "http://[::1]",
        "http://localhost",
        "http://127.0.0.10",
        "http://[0:0:0:0:0:0:0:1]",
        "HTTP://127.0.0.1",
        "https://app.example",
        "https://APP.example",
        "com.example.app:",
    ]);
    let port = prop_oneof![
        Just(String::new()),
        Just(":".to_owned()),
        (0u32..100_000).prop_map(|p| format!(":{p}")),
        Just(":0080".to_owned()),
        Just(":123456".to_owned()),
    ];
    let rest = prop::collection::vec(
        prop::sample::select(vec![
            "/", "/cb", "?", "a=b", "&", "%41", "A", "#", "@x", ":", "\\", ".",
        ]),
        0..5,
    )
    .prop_map(|v| v.concat());
    (prefix, port, rest).prop_map(|(a, b, c)| format!("{a}{b}{c}"))
}

proptest! {
    #![proptest_config(config(512))]

    /// Differential: accepted iff byte-identical to a registered URI, or the
    /// loopback rule; an accepted URI can always carry the response.
    #[test]
    fn redirect_uri_matching_is_exact_or_loopback(
        registered in prop::collection::vec(uri(), 1..4),
        requested in uri(),
        reuse in any::<Option<(prop::sample::Index, bool)>>(),
        port in 0u32..100_000,
    ) {
        let registered: Vec<String> =
            registered.into_iter().filter(|r| validate_redirect_uri(r).is_ok()).collect();
        let requested = match reuse {
            Some((i, same)) if !registered.is_empty() => {
                let r = registered[i.index(registered.len())].clone();
                if same {
                    r
                } else {
                    // The registered URI on another port (RFC 8252 §7.3).
                    with_port(&r, port).unwrap_or(r)
                }
            }
            _ => requested,
        };
        let expected = registered.contains(&requested)
            || loopback_parts(&requested)
                .is_some_and(|p| registered.iter().any(|r| loopback_parts(r) == Some(p)));
        let c = client(registered);
        let got = match_redirect_uri(&c, &requested);
        prop_assert_eq!(got.is_some(), expected, "{:?} for {:?}", requested, c.redirect_uris);
        if let Some(v) = got {
            prop_assert_eq!(v.as_str(), requested.as_str());
            prop_assert!(url::Url::parse(&requested).is_ok());
            let out = v.with_params(&[("code", "c0de")]);
            prop_assert!(out.contains("code=c0de"), "{}", out);
        }
    }

    /// Registration: http only as the literal loopback addresses, never a
    /// fragment, and everything registered parses.
    #[test]
    fn registration_accepts_only_what_policy_allows(u in uri()) {
        if validate_redirect_uri(&u).is_ok() {
            let url = url::Url::parse(&u).unwrap();
            prop_assert!(!u.contains('#'));
            prop_assert!(url.username().is_empty() && url.password().is_none());
            if url.scheme() == "http" {
                let authority = u[7..].split(['/', '?', '\\']).next().unwrap_or_default();
                prop_assert!(
                    ["127.0.0.1", "[::1]"].iter().any(|h| authority == *h
                        || authority.strip_prefix(h).is_some_and(|p| p.starts_with(':'))),
                    "registered {:?}", u
                );
            }
        }
    }
}

// --------------------------------------------------------------- F5 scope

fn scope_byte(b: u8) -> bool {
    b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn scope_grammar_is_rfc6749(s in "[ a!\"#\\[\\\\\\]~\\x7f\\x1fé]{0,12}") {
        let expected = s.is_empty()
            || s.split(' ').all(|t| !t.is_empty() && t.bytes().all(scope_byte));
        prop_assert_eq!(Scope::parse(&s).is_ok(), expected, "{:?}", s);
    }

    #[test]
    fn scope_is_a_set(tokens in prop::collection::vec("[!#-\\[\\]-~]{1,6}", 0..8), shuffled in any::<u64>()) {
        let joined = tokens.join(" ");
        let scope = Scope::parse(&joined).unwrap();
        let mut distinct: Vec<&str> = Vec::new();
        for t in &tokens {
            if !distinct.contains(&t.as_str()) {
                distinct.push(t);
            }
        }
        prop_assert_eq!(scope.iter().collect::<Vec<_>>(), distinct.clone());
        // Any order, with repeats, is the same set.
        let mut other: Vec<&str> = tokens.iter().map(String::as_str).chain(distinct.iter().copied()).collect();
        let n = other.len().max(1) as u64;
        other.rotate_left((shuffled % n) as usize);
        other.reverse();
        let other = Scope::parse(&other.join(" ")).unwrap();
        prop_assert!(other.is_subset_of(&scope) && scope.is_subset_of(&other));
        prop_assert_eq!(Scope::parse(&scope.to_string()).unwrap(), scope);
    }
}

// ----------------------------------------------------------- F6 Basic auth

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn basic_never_panics(h in any::<String>(), b64 in "[A-Za-z0-9+/=% :]{0,40}") {
        let _ = parse_basic(&h);
        let _ = parse_basic(&format!("Basic {b64}"));
        let _ = parse_basic(&format!("Basic {}", STANDARD.encode(&b64)));
    }

    /// RFC 6749 §2.3.1: form-urlencode id and secret, join with `:`, base64;
    /// the parser gives both back, whatever they contain.
    #[test]
    fn basic_round_trips_rfc6749_encoding(id in ".{1,24}", secret in ".{0,24}", upper in any::<bool>()) {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let scheme = if upper { "BASIC" } else { "Basic" };
        let header = format!("{scheme} {}", STANDARD.encode(format!("{}:{}", enc(&id), enc(&secret))));
        prop_assert_eq!(parse_basic(&header).unwrap(), (id, secret));
    }
}

// ----------------------------------------------------------------- F7 PKCE

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn pkce_verifier_grammar(v in "[A-Za-z0-9._~+/= -]{0,140}") {
        let expected = (43..=128).contains(&v.len())
            && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        prop_assert_eq!(pkce::valid_verifier(&v), expected);
    }

    #[test]
    fn pkce_s256_round_trip(v in "[A-Za-z0-9._~-]{43,128}", at in any::<prop::sample::Index>()) {
        prop_assert!(pkce::valid_verifier(&v));
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, v.as_bytes());
        let challenge = URL_SAFE_NO_PAD.encode(digest.as_ref());
        prop_assert!(pkce::valid_challenge(&challenge));
        prop_assert!(pkce::verify_s256(&v, &challenge));
        let mut bad = challenge.into_bytes();
        let i = at.index(bad.len());
        bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
        prop_assert!(!pkce::verify_s256(&v, &String::from_utf8(bad).unwrap()));
    }
}
