#![allow(clippy::unwrap_used)]
use super::*;

#[test]
fn parses_and_dedups_in_order() {
    let s = Scope::parse("b a b c").unwrap();
    assert_eq!(s.to_string(), "b a c");
    assert!(s.contains("a"));
}

#[test]
fn rejects_grammar_violations() {
    for bad in [" a", "a ", "a  b", "a\tb", "a\"b", "a\\b", "é", "a\u{7f}"] {
        assert_eq!(Scope::parse(bad), Err(ScopeSyntaxError), "{bad:?}");
    }
    assert!(Scope::parse("").unwrap().is_empty());
    assert!(Scope::parse("!#[]~ photos:read").is_ok());
}

#[test]
fn subset_and_intersection() {
    let allowed = Scope::parse("a b c").unwrap();
    let asked = Scope::parse("c x a").unwrap();
    assert!(!asked.is_subset_of(&allowed));
    assert_eq!(asked.intersect(&allowed).to_string(), "c a");
}
