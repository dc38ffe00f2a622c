//! DPoP (RFC 9449) at the authorization server: what a request's `DPoP`
//! header proves, the replay check shared by every node (the store), the
//! server's nonces (§8), and the rules that tie a proof to a client, a
//! code and a refresh token. The proof itself is checked by
//! `frontdesk_jose::dpop`, the one implementation.

use frontdesk_jose::Algorithm;
use frontdesk_jose::dpop::{self as jose_dpop, DpopError};

use crate::Core;
use crate::error::{Error, ErrorCode, OAuthError};
use crate::model::{Client, UnixTime, to_u64};
use crate::store::Store;

/// DPoP settings of the server (`dpop_*` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopSettings {
    /// `dpop_signing_alg_values_supported`: the algorithms a proof may use.
    pub algorithms: Vec<Algorithm>,
    /// How old a proof's `iat` may be, seconds (§4.3 step 11). Its `jti`
    /// is remembered this long.
    pub max_age: i64,
    /// Require server-provided nonces (§8): proofs must carry the current
    /// or the previous nonce, handed out in `DPoP-Nonce`.
    pub use_nonce: bool,
    /// How long one nonce is current, seconds; a nonce is accepted for up
    /// to twice this long.
    pub nonce_lifetime: i64,
}

impl Default for DpopSettings {
    fn default() -> DpopSettings {
        DpopSettings {
            algorithms: vec![
                Algorithm::ES256,
                Algorithm::EdDSA,
                Algorithm::PS256,
                Algorithm::RS256,
            ],
            max_age: 300,
            use_nonce: false,
            nonce_lifetime: 300,
        }
    }
}

/// The `DPoP` headers of a request, before any check (§4.3 step 1: "there
/// is not more than one DPoP HTTP request header field").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    None,
    One(String),
    Many,
}

impl Presented {
    /// From the values of every `DPoP` header of the request.
    pub fn from_values<'a>(mut values: impl Iterator<Item = &'a [u8]>) -> Presented {
        match (values.next(), values.next()) {
            (None, _) => Presented::None,
            (Some(v), None) => match std::str::from_utf8(v) {
                Ok(s) => Presented::One(s.trim().to_owned()),
                // Not a JWS either way; the check says so.
                Err(_) => Presented::One(String::new()),
            },
            (Some(_), Some(_)) => Presented::Many,
        }
    }

    pub fn is_none(&self) -> bool {
        matches!(self, Presented::None)
    }
}

/// `invalid_dpop_proof` with a reason.
pub fn invalid_proof(why: impl Into<String>) -> Error {
    OAuthError::new(ErrorCode::InvalidDpopProof, why).into()
}

fn from_jose(e: DpopError) -> Error {
    match e {
        DpopError::Invalid(why) => invalid_proof(why),
        DpopError::UseNonce => OAuthError::new(
            ErrorCode::UseDpopNonce,
            "the DPoP proof must carry the nonce of the DPoP-Nonce header",
        )
        .into(),
    }
}

/// The server's nonce at `now` (§8): HMAC under the pepper of the window
/// `now / nonce_lifetime`, so every node with the same key-encryption key
/// hands out and accepts the same nonces without storing any.
pub fn nonce(core: &Core, now: UnixTime) -> String {
    nonce_of_window(core, now / core.settings.dpop.nonce_lifetime.max(1))
}

/// The `DPoP-Nonce` an answer carries at `now`: the current nonce with
/// `use_dpop_nonce`, else none.
pub fn announced_nonce(core: &Core, now: UnixTime) -> Option<String> {
    core.settings.dpop.use_nonce.then(|| nonce(core, now))
}

fn nonce_of_window(core: &Core, window: i64) -> String {
    crate::grant::derive(core, "dpop-nonce", &window.to_string())
}

/// The nonces a proof may carry at `now`: the current and the previous.
fn accepted_nonces(core: &Core, now: UnixTime) -> Vec<String> {
    if !core.settings.dpop.use_nonce {
        return Vec::new();
    }
    let window = now / core.settings.dpop.nonce_lifetime.max(1);
    vec![
        nonce_of_window(core, window),
        nonce_of_window(core, window - 1),
    ]
}

/// What a request to `method uri` proves (§4.3), with `access_token` when
/// the request presents one (a protected resource such as userinfo), and
/// `bound`, the key that token is bound to: `None` without a `DPoP` header,
/// the key's thumbprint (`jkt`) when the proof passes every check — a proof
/// by another key than `bound` is `invalid_token` before it is recorded —
/// including the replay check in the store, which every node shares. Spends
/// the proof: call it once per request, after the cheap checks that do not
/// need it.
// One request's parts, each its own type.
#[allow(clippy::too_many_arguments)]
pub async fn check<S: Store>(
    core: &Core,
    store: &S,
    presented: &Presented,
    method: &str,
    uri: &str,
    access_token: Option<&str>,
    bound: Option<&str>,
    now: UnixTime,
) -> Result<Option<String>, Error> {
    let algorithms = &core.settings.dpop.algorithms;
    check_with(
        core,
        store,
        presented,
        method,
        uri,
        access_token,
        bound,
        algorithms,
        now,
    )
    .await
}

/// The proof algorithms `client` may use: the server's, less those its
/// profile excludes (FAPI 2.0 §5.4.1: no RS256).
pub fn algorithms_for(core: &Core, client: &Client) -> Vec<Algorithm> {
    core.settings
        .dpop
        .algorithms
        .iter()
        .copied()
        .filter(|a| client.may_sign_with(a.as_str()))
        .collect()
}

/// [`check`] with the proof algorithms given (a client's, from
/// [`algorithms_for`]).
// One request's parts, each its own type.
#[allow(clippy::too_many_arguments)]
pub async fn check_with<S: Store>(
    core: &Core,
    store: &S,
    presented: &Presented,
    method: &str,
    uri: &str,
    access_token: Option<&str>,
    bound: Option<&str>,
    algorithms: &[Algorithm],
    now: UnixTime,
) -> Result<Option<String>, Error> {
    let proof = match presented {
        Presented::None => return Ok(None),
        Presented::Many => {
            return Err(invalid_proof("a request may carry one DPoP header only"));
        }
        Presented::One(p) => p,
    };
    let settings = &core.settings.dpop;
    let nonces = accepted_nonces(core, now);
    let verified = jose_dpop::verify(
        proof,
        &jose_dpop::Expect {
            method,
            uri,
            access_token,
            nonces: &nonces,
            algorithms,
            max_age_secs: to_u64(settings.max_age),
            leeway_secs: to_u64(core.settings.leeway),
        },
        to_u64(now),
    )
    .map_err(from_jose)?;
    // §4.3 step 12: the key of the proof is the token's; a thief's proof is
    // refused before it costs a row.
    if bound.is_some_and(|b| b != verified.jkt) {
        return Err(OAuthError::new(
            ErrorCode::InvalidToken,
            "the DPoP proof's key is not the one the access token is bound to",
        )
        .into());
    }
    let until = i64::try_from(verified.usable_until(to_u64(settings.max_age))).unwrap_or(i64::MAX);
    if !store.use_once(&verified.replay_key(), until, now).await? {
        return Err(invalid_proof("the DPoP proof has been used before"));
    }
    Ok(Some(verified.jkt))
}

/// §5.2 (`dpop_bound_access_tokens`): "the authorization server MUST
/// reject token requests from this client that do not contain the DPoP
/// header".
pub fn require_for_client(client: &Client, jkt: Option<&str>) -> Result<(), Error> {
    if client.requires_dpop() && jkt.is_none() {
        return Err(invalid_proof(
            "this client's tokens must be DPoP-bound: send a DPoP proof",
        ));
    }
    Ok(())
}

/// §10: a code issued for `dpop_jkt` is redeemed only with a proof of that
/// key.
pub fn check_code_binding(bound: Option<&str>, jkt: Option<&str>) -> Result<(), Error> {
    match (bound, jkt) {
        (None, _) => Ok(()),
        (Some(b), Some(k)) if b == k => Ok(()),
        (Some(_), Some(_)) => Err(invalid_proof(
            "the DPoP proof's key is not the dpop_jkt of the authorization request",
        )),
        (Some(_), None) => Err(invalid_proof(
            "this code was requested with dpop_jkt: send a DPoP proof of that key",
        )),
    }
}

/// §5: "Refresh tokens issued to confidential clients are not bound to the
/// DPoP proof public key because they are already sender-constrained with
/// a different existing mechanism"; a public client's are. The key a new
/// refresh token of `client` is bound to.
pub fn refresh_binding(client: &Client, jkt: Option<&str>) -> Option<String> {
    if client.token_endpoint_auth_method == crate::model::AuthMethod::None {
        jkt.map(str::to_owned)
    } else {
        None
    }
}

/// §5: a bound refresh token is used only with a proof of its key.
pub fn check_refresh_binding(bound: Option<&str>, jkt: Option<&str>) -> Result<(), Error> {
    match (bound, jkt) {
        (None, _) => Ok(()),
        (Some(b), Some(k)) if b == k => Ok(()),
        _ => Err(OAuthError::new(
            ErrorCode::InvalidGrant,
            "the refresh token is bound to a DPoP key: send a proof of that key",
        )
        .into()),
    }
}

/// `dpop_jkt` of an authorization request (§10): a JWK SHA-256 thumbprint,
/// 43 base64url characters.
pub fn parse_dpop_jkt(value: &str) -> Result<String, OAuthError> {
    use base64::Engine as _;
    let ok = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .is_ok_and(|bytes| bytes.len() == 32);
    if ok {
        Ok(value.to_owned())
    } else {
        Err(OAuthError::invalid_request(
            "dpop_jkt must be a JWK SHA-256 thumbprint (43 base64url characters)",
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn presented_headers() {
        let none: [&[u8]; 0] = [];
        assert_eq!(Presented::from_values(none.into_iter()), Presented::None);
        assert_eq!(
            Presented::from_values([&b" a.b.c "[..]].into_iter()),
            Presented::One("a.b.c".into())
        );
        assert_eq!(
            Presented::from_values([&b"a"[..], &b"b"[..]].into_iter()),
            Presented::Many
        );
    }

    #[test]
    fn bindings() {
        let k = Some("k1");
        let table: [(Option<&str>, Option<&str>, bool); 5] = [
            (None, None, true),
            (None, k, true),
            (k, k, true),
            (k, Some("k2"), false),
            (k, None, false),
        ];
        for (bound, jkt, ok) in table {
            assert_eq!(
                check_code_binding(bound, jkt).is_ok(),
                ok,
                "{bound:?} {jkt:?}"
            );
            assert_eq!(
                check_refresh_binding(bound, jkt).is_ok(),
                ok,
                "{bound:?} {jkt:?}"
            );
        }
        assert!(parse_dpop_jkt("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I").is_ok());
        assert!(parse_dpop_jkt("short").is_err());
        // 43 characters whose last one no 32-byte value ends in.
        assert!(parse_dpop_jkt("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4J").is_err());
        assert!(parse_dpop_jkt("0ZcOCORZNYy+DWpqq30jZyJGHTN0d2HglBV3uiguA4I").is_err());
    }
}
