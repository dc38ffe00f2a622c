//! F5: scope strings (`frontdesk_core::scope::Scope::parse`).
//!
//! Oracle (RFC 6749 §3.3): the parse succeeds iff the string is empty or is
//! scope-tokens of `%x21 / %x23-5B / %x5D-7E` separated by single spaces. A
//! parsed scope is a set: its tokens are the distinct input tokens in
//! first-seen order, its string form parses back to the same scope, any
//! reordering of the tokens gives an equal set, and serde round-trips it.

use frontdesk_core::scope::Scope;

fn scope_byte(b: u8) -> bool {
    b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)
}

pub fn check(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let expected_ok = s.is_empty()
        || s.split(' ')
            .all(|t| !t.is_empty() && t.bytes().all(scope_byte));
    let parsed = Scope::parse(&s);
    assert_eq!(parsed.is_ok(), expected_ok, "{s:?}");
    let Ok(scope) = parsed else {
        return;
    };

    let mut distinct: Vec<&str> = Vec::new();
    if !s.is_empty() {
        for t in s.split(' ') {
            if !distinct.contains(&t) {
                distinct.push(t);
            }
        }
    }
    assert_eq!(scope.iter().collect::<Vec<_>>(), distinct);
    assert_eq!(Scope::parse(&scope.to_string()).ok(), Some(scope.clone()));
    for t in &distinct {
        assert!(scope.contains(t));
    }

    // Order independence: the reversed token list is the same set.
    let reversed: Vec<&str> = distinct.iter().rev().copied().collect();
    let other = Scope::parse(&reversed.join(" ")).unwrap();
    assert!(other.is_subset_of(&scope) && scope.is_subset_of(&other));
    assert_eq!(scope.intersect(&other), scope);

    let json = serde_json::to_string(&scope).unwrap();
    assert_eq!(serde_json::from_str::<Scope>(&json).ok(), Some(scope));
}
