//! A JSON object parser that rejects duplicate member names.
//!
//! RFC 7515 §5.2 step 4 and RFC 7519 §7.2 step 4: "the JOSE Header MUST NOT
//! contain duplicate Header Parameter names ... JWS parsers MUST either reject
//! JWSs with duplicate Header Parameter names or use a JSON parser that returns
//! only the lexically last duplicate member name". We reject (RFC 7519 §4 says the
//! same of claim names).

use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, Visitor};
use serde_json::{Map, Value};

/// A top-level JSON object whose member names are unique.
pub(crate) struct UniqueObject(pub(crate) Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UniqueObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut map = Map::new();
                while let Some(key) = access.next_key::<String>()? {
                    let value: Value = access.next_value()?;
                    if map.contains_key(&key) {
                        return Err(A::Error::custom(format!("duplicate member `{key}`")));
                    }
                    map.insert(key, value);
                }
                Ok(UniqueObject(map))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// Parses `bytes` as a JSON object with unique top-level member names.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, serde_json::Error> {
    serde_json::from_slice::<UniqueObject>(bytes).map(|o| o.0)
}
