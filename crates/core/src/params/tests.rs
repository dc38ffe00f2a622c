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
