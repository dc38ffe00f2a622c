//! F3: `application/x-www-form-urlencoded` bodies and query strings
//! (`frontdesk_core::params::Params::parse`).
//!
//! Oracle: a byte-level parser written here after the WHATWG URL standard
//! (§5.1: split on `&`, skip empty sequences, split at the first `=`, `+` is a
//! space, `%XX` a byte, any other `%` stays) decides the answer. The parse
//! fails exactly when there are more than `MAX_PARAMS` pairs, a name or value
//! is not UTF-8 after decoding, or a parameter other than `resource` occurs
//! twice with a non-empty value (RFC 6749 §3.1: "parameters sent without a
//! value MUST be treated as if they were omitted"; "MUST NOT be included more
//! than once"). Otherwise every value is the decoded one, in order, and the
//! `form_urlencoded` crate agrees.

use frontdesk_core::params::{MAX_PARAMS, Params};

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// WHATWG percent-decode after replacing `+` by a space.
fn decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' if i + 2 < s.len() => match (hex(s[i + 1]), hex(s[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

pub fn oracle_pairs(body: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    body.split(|b| *b == b'&')
        .filter(|seq| !seq.is_empty())
        .map(|seq| match seq.iter().position(|b| *b == b'=') {
            Some(i) => (decode(&seq[..i]), decode(&seq[i + 1..])),
            None => (decode(seq), Vec::new()),
        })
        .collect()
}

pub fn check(data: &[u8]) {
    let result = Params::parse(data);
    let raw = oracle_pairs(data);

    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut why = None;
    if raw.len() > MAX_PARAMS {
        why = Some("too many pairs");
    }
    for (k, v) in &raw {
        match (std::str::from_utf8(k), std::str::from_utf8(v)) {
            (Ok(k), Ok(v)) => {
                if v.is_empty() {
                    continue;
                }
                if k != "resource" && pairs.iter().any(|(n, _)| n == k) {
                    why = why.or(Some("duplicate"));
                }
                pairs.push((k.to_owned(), v.to_owned()));
            }
            _ => why = why.or(Some("not UTF-8")),
        }
    }

    match (result, why) {
        (Err(_), Some(_)) => {}
        (Ok(p), Some(why)) => panic!("accepted a form with {why}: {p:?}"),
        (Err(e), None) => panic!("refused a good form: {}", e.description),
        (Ok(p), None) => {
            for (name, _) in &pairs {
                let expected: Vec<&str> = pairs
                    .iter()
                    .filter(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
                    .collect();
                assert_eq!(p.get_all(name).collect::<Vec<_>>(), expected);
                assert_eq!(p.get(name), expected.first().copied());
            }
            for (k, v) in &raw {
                if v.is_empty() {
                    let k = std::str::from_utf8(k).unwrap();
                    if !pairs.iter().any(|(n, _)| n == k) {
                        assert_eq!(p.get(k), None, "an empty value is not absent");
                    }
                }
            }
            // The form_urlencoded crate decodes the same way.
            let theirs: Vec<(String, String)> = form_urlencoded::parse(data)
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            assert_eq!(theirs, pairs);
        }
    }
}
