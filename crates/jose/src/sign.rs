//! In-memory signing keys and the compact JWS signer (RFC 7515 §3.1, §5.1).

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
    RSA_PSS_SHA256,
};
use base64::Engine as _;

use crate::{Algorithm, B64, JoseError, Jwk, b64url, thumbprint};

/// Minimum RSA modulus size in bytes (RFC 7518 §3.3: "A key of size 2048 bits or
/// larger MUST be used with these algorithms"; §3.5 likewise for PS256).
pub(crate) const MIN_RSA_MODULUS_BYTES: usize = 256;

enum KeyPair {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private signing key kept parsed in memory (an `aws_lc_rs` key pair), with
/// its `kid` = RFC 7638 thumbprint of the public JWK.
///
/// Parsing a key once and reusing it avoids re-parsing the private key on every
/// signature. `Debug` prints only the algorithm and `kid`.
pub struct SigningKey {
    alg: Algorithm,
    kid: String,
    jwk: Jwk,
    pair: KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Serialize)]
struct JwsHeader<'a> {
    alg: &'a str,
    kid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    typ: Option<&'a str>,
}

fn invalid_key(e: impl std::fmt::Display) -> JoseError {
    JoseError::InvalidKey(e.to_string())
}

impl SigningKey {
    /// Generates a new key: ES256 → P-256 ECDSA, RS256 and PS256 → RSA 2048,
    /// EdDSA → Ed25519 (RFC 8037 §3.1). Returns the key and its PKCS#8 v1 DER
    /// encoding (RFC 5208) for storage.
    ///
    /// # Errors
    /// [`JoseError::KeyGeneration`] if the cryptographic library fails.
    pub fn generate(alg: Algorithm) -> Result<(SigningKey, Vec<u8>), JoseError> {
        let (pair, der) = match alg {
            Algorithm::ES256 => {
                let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| JoseError::KeyGeneration)?;
                let der = kp.to_pkcs8v1().map_err(|_| JoseError::KeyGeneration)?;
                (KeyPair::Ec(kp), der.as_ref().to_vec())
            }
            Algorithm::RS256 | Algorithm::PS256 => {
                let kp =
                    RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| JoseError::KeyGeneration)?;
                let der = kp.as_der().map_err(|_| JoseError::KeyGeneration)?;
                let der = der.as_ref().to_vec();
                (KeyPair::Rsa(kp), der)
            }
            Algorithm::EdDSA => {
                let kp = Ed25519KeyPair::generate().map_err(|_| JoseError::KeyGeneration)?;
                let der = kp.to_pkcs8v1().map_err(|_| JoseError::KeyGeneration)?;
                (KeyPair::Ed(kp), der.as_ref().to_vec())
            }
        };
        let key = Self::from_pair(alg, pair).map_err(|_| JoseError::KeyGeneration)?;
        Ok((key, der))
    }

    /// Parses an unencrypted PKCS#8 (RFC 5208 v1 or RFC 5958 v2) DER private key
    /// for `alg`. RSA keys must be at least 2048 bits (RFC 7518 §3.3).
    ///
    /// # Errors
    /// [`JoseError::InvalidKey`] if the DER is not a key of the type `alg` needs.
    pub fn from_pkcs8(alg: Algorithm, der: &[u8]) -> Result<SigningKey, JoseError> {
        let pair = match alg {
            Algorithm::ES256 => KeyPair::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(invalid_key)?,
            ),
            Algorithm::RS256 | Algorithm::PS256 => {
                let kp = RsaKeyPair::from_pkcs8(der).map_err(invalid_key)?;
                if kp.public_modulus_len() < MIN_RSA_MODULUS_BYTES {
                    return Err(JoseError::InvalidKey(
                        "RSA keys must be at least 2048 bits (RFC 7518 §3.3)".to_owned(),
                    ));
                }
                KeyPair::Rsa(kp)
            }
            Algorithm::EdDSA => KeyPair::Ed(Ed25519KeyPair::from_pkcs8(der).map_err(invalid_key)?),
        };
        Self::from_pair(alg, pair)
    }

    fn from_pair(alg: Algorithm, pair: KeyPair) -> Result<SigningKey, JoseError> {
        let mut jwk = Jwk {
            kty: String::new(),
            kid: None,
            alg: Some(alg.as_str().to_owned()),
            use_: Some("sig".to_owned()),
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
        };
        match &pair {
            KeyPair::Ec(kp) => {
                // SEC1 uncompressed point: 0x04 || X (32 bytes) || Y (32 bytes);
                // RFC 7518 §6.2.1.2/§6.2.1.3: x and y are the full-length coordinates.
                let point = kp.public_key().as_ref();
                let (x, y) = match point {
                    [0x04, rest @ ..] if rest.len() == 64 => rest.split_at(32),
                    _ => return Err(JoseError::InvalidKey("unexpected EC point".to_owned())),
                };
                jwk.kty = "EC".to_owned();
                jwk.crv = Some("P-256".to_owned());
                jwk.x = Some(b64url(x));
                jwk.y = Some(b64url(y));
            }
            KeyPair::Rsa(kp) => {
                // RFC 7518 §6.3.1: n and e as unsigned big-endian without leading zeros.
                let c = PublicKeyComponents::<Vec<u8>>::from(kp.public_key());
                jwk.kty = "RSA".to_owned();
                jwk.n = Some(b64url(strip_leading_zeros(&c.n)));
                jwk.e = Some(b64url(strip_leading_zeros(&c.e)));
            }
            KeyPair::Ed(kp) => {
                // RFC 8037 §2: "x" is the 32-byte public key.
                jwk.kty = "OKP".to_owned();
                jwk.crv = Some("Ed25519".to_owned());
                jwk.x = Some(b64url(kp.public_key().as_ref()));
            }
        }
        let kid = thumbprint(&jwk)?;
        jwk.kid = Some(kid.clone());
        Ok(SigningKey {
            alg,
            kid,
            jwk,
            pair,
        })
    }

    /// The key ID: the RFC 7638 SHA-256 thumbprint of the public JWK.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    #[must_use]
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The public JWK (`kty` + public members, `kid`, `alg`, `use` = `"sig"`),
    /// never any private member.
    #[must_use]
    pub fn public_jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// Produces a compact JWS (RFC 7515 §3.1, §5.1):
    /// `BASE64URL(UTF8(header)) || '.' || BASE64URL(claims) || '.' || BASE64URL(signature)`,
    /// with header `{"alg":..,"kid":..,"typ":..}` (`typ` omitted when `None`;
    /// RFC 9068 §2.1 wants `"at+jwt"` for access tokens).
    ///
    /// Signatures: ES256 is the 64-byte `R || S` fixed-width form (RFC 7518 §3.4),
    /// RS256 is RSASSA-PKCS1-v1_5 with SHA-256 (§3.3), PS256 is RSASSA-PSS with
    /// SHA-256, MGF1-SHA-256 and a 32-byte salt (§3.5), EdDSA is Ed25519 over the
    /// signing input (RFC 8037 §3.1).
    ///
    /// # Errors
    /// [`JoseError::Json`] if the claims cannot be serialized,
    /// [`JoseError::InvalidClaim`] if they are not a JSON object (RFC 7519 §7.1
    /// step 1), [`JoseError::Signing`] if the cryptographic library fails.
    pub fn sign<C: serde::Serialize>(
        &self,
        typ: Option<&str>,
        claims: &C,
    ) -> Result<String, JoseError> {
        let header = serde_json::to_vec(&JwsHeader {
            alg: self.alg.as_str(),
            kid: &self.kid,
            typ,
        })?;
        let payload = serde_json::to_vec(claims)?;
        if payload.first() != Some(&b'{') {
            return Err(JoseError::InvalidClaim(
                "the claims must serialize to a JSON object".to_owned(),
            ));
        }
        let mut out = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 400);
        B64.encode_string(&header, &mut out);
        out.push('.');
        B64.encode_string(&payload, &mut out);
        let signature = self.sign_raw(out.as_bytes())?;
        out.push('.');
        B64.encode_string(&signature, &mut out);
        Ok(out)
    }

    /// Signs `input`, a JWS signing input (RFC 7515 §5.1 step 5), for
    /// callers that build a JWS header this crate does not (tests that
    /// forge proofs and tokens). The signature bytes, unencoded.
    ///
    /// # Errors
    /// [`JoseError::Signing`] if the cryptographic library fails.
    pub fn sign_input(&self, input: &[u8]) -> Result<Vec<u8>, JoseError> {
        self.sign_raw(input)
    }

    /// Signs the JWS signing input (RFC 7515 §5.1 step 5).
    pub(crate) fn sign_raw(&self, input: &[u8]) -> Result<Vec<u8>, JoseError> {
        let rng = SystemRandom::new();
        match (&self.pair, self.alg) {
            (KeyPair::Ec(kp), _) => kp
                .sign(&rng, input)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| JoseError::Signing),
            (KeyPair::Rsa(kp), alg) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                let encoding: &'static dyn aws_lc_rs::signature::RsaEncoding =
                    if alg == Algorithm::PS256 {
                        &RSA_PSS_SHA256
                    } else {
                        &RSA_PKCS1_SHA256
                    };
                kp.sign(encoding, &rng, input, &mut sig)
                    .map_err(|_| JoseError::Signing)?;
                Ok(sig)
            }
            (KeyPair::Ed(kp), _) => kp
                .try_sign(input)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| JoseError::Signing),
        }
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    bytes.get(start..).unwrap_or(bytes)
}
