//! Groups of users: names apps authorise on. The rules of who may sign in
//! to a client (`required_groups`) and which groups a client learns (the
//! `groups` scope, its `released_groups` filter) live here; the store keeps
//! the memberships, the binary moves them in and out.
//!
//! A group's name is what every token carries, so names are plain: 1–64
//! characters of ASCII letters, digits and `. _ - : / @`, starting with a
//! letter or digit, compared exactly (case included). A filter entry is a
//! name, or a prefix followed by `*` (`app1:*`), or `*` alone.

use crate::model::{Client, GroupSync, UnixTime};
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

/// The most groups one source gives one user; names past it (after
/// sorting) are skipped.
pub const MAX_FROM_SOURCE: usize = 256;

/// Whether `prefix` may start the names of a source's groups: empty (the
/// source's names are used as they are), or the beginning of a group name
/// (`corp:`).
pub fn valid_prefix(prefix: &str) -> bool {
    prefix.is_empty() || (prefix.len() < MAX_NAME && valid_name(&format!("{prefix}x")))
}

/// A source's asserted group names as names here: trimmed, with `prefix`
/// in front, kept when the result is a valid group name; sorted, each
/// once, at most [`MAX_FROM_SOURCE`]. Returns them and how many asserted
/// names were skipped.
pub fn from_source(prefix: &str, asserted: &[String]) -> (Vec<String>, usize) {
    let mut names: Vec<String> = asserted
        .iter()
        .map(|a| format!("{prefix}{}", a.trim()))
        .filter(|n| valid_name(n) && n.len() > prefix.len())
        .collect();
    names.sort_unstable();
    names.dedup();
    names.truncate(MAX_FROM_SOURCE);
    let mut unique: Vec<&str> = asserted.iter().map(|a| a.trim()).collect();
    unique.sort_unstable();
    unique.dedup();
    // Distinct trimmed names stay distinct under one prefix.
    let skipped = unique.len().saturating_sub(names.len());
    (names, skipped)
}

/// What a sign-in's groups from a source changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Synced {
    pub change: GroupSync,
    /// Asserted names that are not group names here (or over the limit).
    pub skipped: usize,
}

/// Makes the user's memberships from `source` the groups it asserted at
/// this sign-in ([`from_source`]). With a prefix the source's groups are
/// its own (`corp:staff`) and are created as needed; without one the
/// source can only put users in groups that exist here.
pub async fn sync<S: Store>(
    store: &S,
    sub: &str,
    source: &str,
    prefix: &str,
    asserted: &[String],
    now: UnixTime,
) -> Result<Synced, StoreError> {
    let (names, skipped) = from_source(prefix, asserted);
    let change = store
        .sync_group_members(sub, source, &names, !prefix.is_empty(), now)
        .await?;
    Ok(Synced { change, skipped })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_a_source() {
        let v = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        for (prefix, asserted, names, skipped) in [
            (
                "corp:",
                v(&["staff", "admins"]),
                v(&["corp:admins", "corp:staff"]),
                0,
            ),
            ("corp:", v(&[" staff ", "staff"]), v(&["corp:staff"]), 0),
            ("corp:", v(&["Domain Users", "", "ok"]), v(&["corp:ok"]), 2),
            ("", v(&["staff", "-x", "a,b"]), v(&["staff"]), 2),
            ("", v(&[]), v(&[]), 0),
            ("corp:", v(&[&"x".repeat(MAX_NAME)]), v(&[]), 1),
        ] {
            assert_eq!(
                from_source(prefix, &asserted),
                (names, skipped),
                "{prefix:?} {asserted:?}"
            );
        }
        let many: Vec<String> = (0..MAX_FROM_SOURCE + 3)
            .map(|i| format!("g{i:04}"))
            .collect();
        let (names, skipped) = from_source("", &many);
        assert_eq!(names.len(), MAX_FROM_SOURCE);
        assert_eq!(names[0], "g0000");
        assert_eq!(skipped, 3);
    }

    #[test]
    fn prefixes() {
        for (p, ok) in [
            ("", true),
            ("corp:", true),
            ("corp", true),
            (":", false),
            ("a b:", false),
            (&"x".repeat(MAX_NAME), false),
        ] {
            assert_eq!(valid_prefix(p), ok, "{p:?}");
        }
    }

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
