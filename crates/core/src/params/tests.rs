#![allow(clippy::unwrap_used)]
use super::*;
use crate::error::ErrorCode;

#[test]
fn duplicates_are_rejected_except_resource() {
    let e = Params::parse(b"grant_type=a&scope=x&scope=y").unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert_eq!(e.description, "parameter scope is repeated");
    let p = Params::parse(b"resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb").unwrap();
    assert_eq!(
        p.get_all("resource").collect::<Vec<_>>(),
        ["https://a", "https://b"]
    );
}

#[test]
fn empty_values_count_as_absent() {
    let p = Params::parse(b"scope=&scope=a").unwrap();
    assert_eq!(p.get("scope"), Some("a"));
}

#[test]
fn invalid_utf8_is_rejected() {
    assert!(Params::parse(b"scope=%FF").is_err());
}

#[test]
fn plus_is_space() {
    let p = Params::parse(b"scope=a+b%20c").unwrap();
    assert_eq!(p.get("scope"), Some("a b c"));
}

#[test]
fn basic_is_form_decoded() {
    // id "a b:c", secret "p%+" encoded per RFC 6749 §2.3.1, then base64.
    let raw = "a+b%3Ac:p%25%2B";
    let header = format!("Basic {}", STANDARD.encode(raw));
    assert_eq!(
        parse_basic(&header).unwrap(),
        ("a b:c".into(), "p%+".into())
    );
    assert_eq!(
        parse_basic(&format!("basic {}", STANDARD.encode("x:y")))
            .unwrap()
            .0,
        "x"
    );
}

#[test]
fn basic_rejects_garbage() {
    for h in [
        "Bearer abc",
        "Basic",
        "Basic !!!",
        &format!("Basic {}", STANDARD.encode("nocolon")),
        &format!("Basic {}", STANDARD.encode(":secret")),
        &format!("Basic {}", STANDARD.encode("a%zz:b")),
    ] {
        assert_eq!(
            parse_basic(h).unwrap_err().code,
            ErrorCode::InvalidClient,
            "{h}"
        );
    }
}

/// Found by fuzzing (fuzz/ F3): a genuine U+FFFD (valid UTF-8, raw or
/// percent-encoded) was refused as "not UTF-8", because the old check looked
/// for the replacement character in a lossy decoding.
#[test]
fn a_real_replacement_character_is_valid_utf8() {
    let p = Params::parse("state=\u{FFFD}&nonce=%EF%BF%BD".as_bytes()).unwrap();
    assert_eq!(p.get("state"), Some("\u{FFFD}"));
    assert_eq!(p.get("nonce"), Some("\u{FFFD}"));
    assert!(Params::parse(b"state=%FF").is_err());
    assert!(Params::parse(b"state=\xff").is_err());
    assert!(Params::parse(b"st%C3te=x").is_err());
}

/// A `%` that does not start two hex digits stays literal (WHATWG URL §5.1).
#[test]
fn stray_percent_signs_are_kept() {
    let p = Params::parse(b"a=%zz&b=100%&c=%4").unwrap();
    assert_eq!(p.get("a"), Some("%zz"));
    assert_eq!(p.get("b"), Some("100%"));
    assert_eq!(p.get("c"), Some("%4"));
}

/// Found while writing the F3 oracle (fuzz/, proptests): pairs with an empty
/// value did not count towards `MAX_PARAMS`, so any number of `a=&a=&…` was
/// accepted.
#[test]
fn the_parameter_cap_counts_empty_values() {
    let body = |n: usize| vec!["e="; n].join("&");
    assert!(Params::parse(body(MAX_PARAMS).as_bytes()).is_ok());
    assert!(Params::parse(body(MAX_PARAMS + 1).as_bytes()).is_err());
    assert!(Params::parse(body(10_000).as_bytes()).is_err());
    // Empty sequences between `&&` are not pairs (WHATWG URL §5.1).
    let sparse: Vec<String> = (0..MAX_PARAMS).map(|i| format!("p{i}=1")).collect();
    assert!(Params::parse(format!("&&{}&&", sparse.join("&&&")).as_bytes()).is_ok());
}

#[test]
fn at_most_max_params_pairs_empty_ones_included() {
    let form = |n: usize, value: &str| {
        (0..n)
            .map(|i| format!("p{i}={value}"))
            .collect::<Vec<_>>()
            .join("&")
    };
    assert_eq!(
        Params::parse(form(MAX_PARAMS, "x").as_bytes())
            .unwrap()
            .0
            .len(),
        MAX_PARAMS
    );
    assert!(
        Params::parse(form(MAX_PARAMS, "").as_bytes())
            .unwrap()
            .0
            .is_empty()
    );
    for value in ["x", ""] {
        let e = Params::parse(form(MAX_PARAMS + 1, value).as_bytes()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert_eq!(e.description, "too many parameters");
    }
    // Repeated `resource` values count one by one.
    let many = vec!["resource=https%3A%2F%2Fa"; MAX_PARAMS + 1].join("&");
    assert!(Params::parse(many.as_bytes()).is_err());
}
