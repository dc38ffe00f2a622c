//! Groups of users: names apps authorise on. The rules of who may sign in
//! to a client (`required_groups`) and which groups a client learns (the
//! `groups` scope, its `released_groups` filter) live here; the store keeps
//! the memberships, the binary moves them in and out.
//!
//! A group's name is what every token carries, so names are plain: 1–64
//! characters of ASCII letters, digits and `. _ - : / @`, starting with a
//! letter or digit, compared exactly (case included). A filter entry is a
//! name, or a prefix followed by `*` (`app1:*`), or `*` alone.

use crate::model::Client;
use crate::scope::Scope;
use crate::store::{Store, StoreError};

/// The scope that releases the `groups` claim.
pub const SCOPE: &str = "groups";
/// The claim: in ID tokens, userinfo, JWT access tokens (RFC 9068 §2.2.3.1)
/// and introspection answers.
pub const CLAIM: &str = "groups";
/// The longest group name.
pub const MAX_NAME: usize = 64;

/// Whether `name` may name a group.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    name.len() <= MAX_NAME
        && first.is_ascii_alphanumeric()
        && chars
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '@'))
}

/// Whether `pattern` may be an entry of `released_groups`: a group name,
/// or a name's beginning followed by `*`, or `*`.
pub fn valid_pattern(pattern: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some("") => true,
        Some(prefix) => valid_name(prefix),
        None => valid_name(pattern),
    }
}

fn matches(pattern: &str, group: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => group.starts_with(prefix),
        None => pattern == group,
    }
}

/// Whether a user in `groups` may sign in to `client`: every user when the
/// client requires no group, else a member of at least one of them.
pub fn admits(client: &Client, groups: &[String]) -> bool {
    client.required_groups.is_empty() || client.required_groups.iter().any(|r| groups.contains(r))
}

/// The groups of `groups` the client may learn: those its
/// `released_groups` match (all when it has no filter), in the given
/// order.
pub fn released(client: &Client, groups: &[String]) -> Vec<String> {
    match &client.released_groups {
        None => groups.to_vec(),
        Some(filter) => groups
            .iter()
            .filter(|g| filter.iter().any(|p| matches(p, g)))
            .cloned()
            .collect(),
    }
}

/// The `groups` claim of a token or userinfo answer with this scope: the
/// released groups when the scope holds `groups` (an empty list when none
/// is left: "member of none the client may see"), else no claim.
pub fn claim(client: &Client, scope: &Scope, groups: &[String]) -> Option<Vec<String>> {
    scope.contains(SCOPE).then(|| released(client, groups))
}

/// Whether a flow for `client` with `scope` needs the user's groups: to
/// check `required_groups`, or to fill the `groups` claim.
pub fn needed(client: &Client, scope: &Scope) -> bool {
    !client.required_groups.is_empty() || scope.contains(SCOPE)
}

/// The user's groups when the flow needs them ([`needed`]), else an empty
/// list without a read.
pub async fn load<S: Store>(
    store: &S,
    client: &Client,
    scope: &Scope,
    sub: &str,
) -> Result<Vec<String>, StoreError> {
    if needed(client, scope) {
        store.groups_of(sub).await
    } else {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for (name, ok) in [
            ("staff", true),
            ("Staff", true),
            ("app1:admin", true),
            ("org/team", true),
            ("a.b_c-d@e", true),
            ("0day", true),
            ("", false),
            ("-staff", false),
            (":x", false),
            ("sta ff", false),
            ("staff*", false),
            ("Ärzte", false),
            ("a,b", false),
            (&"x".repeat(MAX_NAME), true),
            (&"x".repeat(MAX_NAME + 1), false),
        ] {
            assert_eq!(valid_name(name), ok, "{name:?}");
        }
    }

    #[test]
    fn patterns() {
        for (p, ok) in [
            ("*", true),
            ("app1:*", true),
            ("staff", true),
            ("**", false),
            ("a*b", false),
            (":*", false),
            ("", false),
        ] {
            assert_eq!(valid_pattern(p), ok, "{p:?}");
        }
    }
}
