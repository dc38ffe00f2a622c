//! Scope values, RFC 6749 §3.3:
//!
//! ```text
//! scope       = scope-token *( SP scope-token )
//! scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
//! ```
//!
//! A scope is a set: order and repetition carry no meaning. [`Scope`] keeps
//! the tokens in first-seen order without duplicates, so the string we echo
//! back reads like the one the client sent.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A parsed, deduplicated scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope(Vec<String>);

/// The scope string broke the RFC 6749 §3.3 grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scope is not a space-separated list of RFC 6749 scope-tokens")]
pub struct ScopeSyntaxError;

fn is_scope_char(c: char) -> bool {
    matches!(c, '\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')
}

impl Scope {
    /// Parses a scope string. Exactly one space separates tokens (the
    /// grammar allows nothing else); an empty string is the empty scope.
    pub fn parse(s: &str) -> Result<Scope, ScopeSyntaxError> {
        if s.is_empty() {
            return Ok(Scope::default());
        }
        let mut tokens: Vec<String> = Vec::new();
        for token in s.split(' ') {
            if token.is_empty() || !token.chars().all(is_scope_char) {
                return Err(ScopeSyntaxError);
            }
            if !tokens.iter().any(|t| t == token) {
                tokens.push(token.to_owned());
            }
        }
        Ok(Scope(tokens))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// True when every token of `self` is in `other`.
    pub fn is_subset_of(&self, other: &Scope) -> bool {
        self.iter().all(|t| other.contains(t))
    }

    /// `self` with `more` added after its own tokens (those it lacks).
    pub fn union<'a>(&self, more: impl IntoIterator<Item = &'a str>) -> Scope {
        let mut tokens = self.0.clone();
        for t in more {
            if !tokens.iter().any(|have| have == t) {
                tokens.push(t.to_owned());
            }
        }
        Scope(tokens)
    }

    /// The tokens of `self` that `allowed` also holds, in `self`'s order.
    pub fn intersect(&self, allowed: &Scope) -> Scope {
        Scope(
            self.0
                .iter()
                .filter(|t| allowed.contains(t))
                .cloned()
                .collect(),
        )
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Scope, D::Error> {
        let s = String::deserialize(d)?;
        Scope::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
