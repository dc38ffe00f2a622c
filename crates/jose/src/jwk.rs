//! JSON Web Key (RFC 7517) public-key subset and RFC 7638 thumbprints.

use serde_json::Value;

use crate::{Algorithm, JoseError, b64url, sha256};

/// JWK members that only a private key has (RFC 7518 §6.2.2, §6.3.2, §6.4;
/// RFC 8037 §2).
pub(crate) const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Most keys a registered JWK Set may hold.
pub const MAX_REGISTERED_KEYS: usize = 20;

/// Parses a JWK Set someone registers as theirs (a client's `jwks`, RFC
/// 7591 §2): `{"keys": [...]}` with 1 to [`MAX_REGISTERED_KEYS`] public
/// signing keys, each usable with one of our algorithms (RSA ≥ 2048 bits).
/// A key with a private member is refused rather than silently reduced
/// to its public part: whoever sent it has leaked it and should know.
///
/// # Errors
/// [`JoseError::InvalidKey`] naming the first key that is not acceptable.
pub fn parse_public_jwks(value: &Value) -> Result<Jwks, JoseError> {
    let bad = |why: String| JoseError::InvalidKey(why);
    let Some(Value::Array(keys)) = value.get("keys") else {
        return Err(bad("a JWK Set is an object with a `keys` array".to_owned()));
    };
    if keys.is_empty() || keys.len() > MAX_REGISTERED_KEYS {
        return Err(bad(format!(
            "a JWK Set here holds 1 to {MAX_REGISTERED_KEYS} keys"
        )));
    }
    let mut out = Vec::with_capacity(keys.len());
    for (i, raw) in keys.iter().enumerate() {
        let Value::Object(map) = raw else {
            return Err(bad(format!("key {i} is not a JSON object")));
        };
        if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| map.contains_key(**m)) {
            return Err(bad(format!(
                "key {i} carries the private member `{member}`: register public keys only"
            )));
        }
        let jwk: Jwk =
            serde_json::from_value(raw.clone()).map_err(|e| bad(format!("key {i}: {e}")))?;
        let alg = jwk
            .algorithm()
            .ok_or_else(|| bad(format!("key {i}: no supported algorithm for this key")))?;
        crate::verify::check_key_fits(&jwk, alg).map_err(|e| bad(format!("key {i}: {e}")))?;
        if !jwk.usable_for_signatures() {
            return Err(bad(format!("key {i}: `use` must be `sig` or absent")));
        }
        out.push(jwk);
    }
    Ok(Jwks { keys: out })
}

/// A public JSON Web Key (RFC 7517 §4) for the key types this crate uses:
/// `EC` (RFC 7518 §6.2.1), `RSA` (RFC 7518 §6.3.1) and `OKP` (RFC 8037 §2).
///
/// Only public members are modelled. Unknown members — including private ones
/// such as `d`, `p`, `q`, `dp`, `dq`, `qi` or a symmetric `k` — are ignored on
/// input and therefore can never be re-emitted (RFC 7517 §4: "Member names used
/// for representing key parameters for different keys types need not be
/// distinct"; unknown members "MUST be ignored").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Jwk {
    /// Key type (RFC 7517 §4.1).
    pub kty: String,
    /// Key ID (RFC 7517 §4.5); for our keys the RFC 7638 thumbprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Algorithm the key is intended for (RFC 7517 §4.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Public key use (RFC 7517 §4.2); `"sig"` for our keys.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Curve (RFC 7518 §6.2.1.1, RFC 8037 §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate (RFC 7518 §6.2.1.2) or OKP public key (RFC 8037 §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate (RFC 7518 §6.2.1.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus (RFC 7518 §6.3.1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent (RFC 7518 §6.3.1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

/// A JWK Set (RFC 7517 §5): `{"keys": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Jwks {
    /// The keys (RFC 7517 §5.1).
    pub keys: Vec<Jwk>,
}

impl Jwk {
    /// The algorithm this key verifies: its `alg` member when present (which must
    /// be one of ours), otherwise derived from `kty`/`crv`: `EC`+`P-256` → ES256,
    /// `OKP`+`Ed25519` → EdDSA, `RSA` → RS256 (the OpenID Connect default; an RSA
    /// key meant for PS256 must say so with `alg`). `None` when unusable.
    #[must_use]
    pub fn algorithm(&self) -> Option<Algorithm> {
        if let Some(alg) = &self.alg {
            return alg.parse().ok();
        }
        match (self.kty.as_str(), self.crv.as_deref()) {
            ("EC", Some("P-256")) => Some(Algorithm::ES256),
            ("OKP", Some("Ed25519")) => Some(Algorithm::EdDSA),
            ("RSA", _) => Some(Algorithm::RS256),
            _ => None,
        }
    }

    /// Whether the key may be used to verify signatures (RFC 7517 §4.2: `use`
    /// absent or `"sig"`).
    pub(crate) fn usable_for_signatures(&self) -> bool {
        self.use_.as_deref().is_none_or(|u| u == "sig")
    }
}

/// Computes the RFC 7638 JWK thumbprint with SHA-256.
///
/// RFC 7638 §3: "construct a JSON object containing only the required members
/// of a JWK representing the key and with no whitespace or line breaks before or
/// after any syntactic elements and with the required members ordered
/// lexicographically by the Unicode code points of the member names", then hash
/// its UTF-8 octets. The required members (RFC 7638 §3.2) are `crv`,`kty`,`x`,`y`
/// for EC, `e`,`kty`,`n` for RSA and `crv`,`kty`,`x` for OKP (RFC 8037 §2). The
/// result is base64url-encoded without padding.
///
/// # Errors
/// [`JoseError::InvalidKey`] for an unsupported `kty` or a missing required member.
pub fn thumbprint(jwk: &Jwk) -> Result<String, JoseError> {
    fn req<'a>(v: &'a Option<String>, name: &str) -> Result<&'a str, JoseError> {
        v.as_deref()
            .ok_or_else(|| JoseError::InvalidKey(format!("JWK member `{name}` is required")))
    }
    // serde_json produces the RFC 8259 string encoding RFC 7638 §3.3 refers to.
    let s = |v: &str| serde_json::to_string(v).map_err(JoseError::Json);
    let canonical = match jwk.kty.as_str() {
        "EC" => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            s(req(&jwk.crv, "crv")?)?,
            s(req(&jwk.x, "x")?)?,
            s(req(&jwk.y, "y")?)?
        ),
        "RSA" => format!(
            r#"{{"e":{},"kty":"RSA","n":{}}}"#,
            s(req(&jwk.e, "e")?)?,
            s(req(&jwk.n, "n")?)?
        ),
        "OKP" => format!(
            r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
            s(req(&jwk.crv, "crv")?)?,
            s(req(&jwk.x, "x")?)?
        ),
        other => {
            return Err(JoseError::InvalidKey(format!(
                "unsupported kty `{other}` for a thumbprint"
            )));
        }
    };
    Ok(b64url(&sha256(canonical.as_bytes())))
}
