//! Oracles for the cargo-fuzz targets in `fuzz_targets/` (SECURITY.md §5.8).
//!
//! Each module has one `check(data)` that feeds the bytes to a frontdesk
//! parser and panics when the answer disagrees with an oracle written here,
//! independently of the code under test. A panic is a finding: libFuzzer saves
//! the input under `artifacts/<target>/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod basic;
pub mod form;
pub mod jwks;
pub mod jws;
pub mod pkce;
pub mod redirect;
pub mod scope;

/// Splits `data` at the first `sep` byte (everything in the first half when
/// there is none).
pub fn split_at_byte(data: &[u8], sep: u8) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == sep) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// The names of the top-level members of a JSON object, in document order and
/// with repeats kept; `None` when `bytes` is not a JSON object. Written apart
/// from `frontdesk_jose`'s strict parser so that the duplicate oracle does not
/// share its code.
pub fn top_level_members(bytes: &[u8]) -> Option<Vec<String>> {
    use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};
    struct Names;
    impl<'de> Visitor<'de> for Names {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Vec<String>, A::Error> {
            let mut names = Vec::new();
            while let Some(k) = m.next_key::<String>()? {
                m.next_value::<IgnoredAny>()?;
                names.push(k);
            }
            Ok(names)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let names = de.deserialize_map(Names).ok()?;
    de.end().ok()?;
    Some(names)
}

/// True when some name occurs twice.
pub fn has_duplicates(names: &[String]) -> bool {
    names
        .iter()
        .enumerate()
        .any(|(i, n)| names[..i].contains(n))
}
