//! RP-Initiated Logout (OpenID Connect RP-Initiated Logout 1.0 §2–§3) and
//! the `id_token_hint` checks shared with the authorization endpoint.

use frontdesk_jose::{Algorithm, Expectations, IdTokenClaims};

use crate::Core;
use crate::error::{Error, OAuthError};
use crate::keys::KeyRing;
use crate::model::to_u64;
use crate::model::{Client, ClientId, UnixTime};
use crate::params::Params;
use crate::store::Store;

/// Verifies an ID token we issued, used as a hint. Its expiry is ignored
/// (OIDC Core §3.1.2.1: "the ID Token … MAY be expired"; SECURITY.md J10),
/// its signature and issuer are not, and access tokens (`typ: at+jwt`) are
/// refused (RFC 8725 §3.11, SECURITY.md J7).
pub fn verify_id_token_hint(
    core: &Core,
    keys: &KeyRing,
    token: &str,
    now: UnixTime,
) -> Option<IdTokenClaims> {
    const TEN_YEARS: u64 = 10 * 365 * 24 * 3600;
    frontdesk_jose::verify::<IdTokenClaims>(
        token,
        &keys.jwks(now),
        &id_token_expectations(core, TEN_YEARS),
        to_u64(now),
    )
    .ok()
    .map(|(_, c)| c)
}

/// How our own ID tokens are verified: our issuer, our algorithms, and
/// never another kind of JWT of ours (RFC 8725 §3.11), with `leeway_secs`
/// on the times.
pub(crate) fn id_token_expectations(core: &Core, leeway_secs: u64) -> Expectations {
    Expectations {
        issuer: core.settings.issuer.clone(),
        audience: None,
        typ: None,
        forbidden_typ: vec!["at+jwt".into(), "logout+jwt".into(), "dpop+jwt".into()],
        algorithms: vec![
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
        ],
        leeway_secs,
        require_iat: true,
    }
}

/// A checked logout request.
#[derive(Debug, Clone)]
pub struct LogoutRequest {
    pub hint: Option<IdTokenClaims>,
    pub client: Option<Client>,
    /// Registered for the client and matched exactly.
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

impl LogoutRequest {
    /// Whether the hint names `session`'s user (as the hint's client sees
    /// them: a pairwise client's `sub` is its own, `crate::subject`) and,
    /// when it carries a `sid`, that session.
    pub fn hint_names(
        &self,
        pepper: &crate::secret::Pepper,
        session: &crate::model::Session,
    ) -> bool {
        let Some(h) = &self.hint else {
            return false;
        };
        let sub = match &self.client {
            Some(c) => crate::subject::subject(pepper, c, &session.sub),
            None => session.sub.clone(),
        };
        h.sub == sub && h.sid.as_deref().is_none_or(|sid| sid == session.sid)
    }

    /// Where to send the browser afterwards, with `state` (§3).
    pub fn redirect_target(&self) -> Option<String> {
        let uri = self.post_logout_redirect_uri.as_deref()?;
        let mut url = url::Url::parse(uri).ok()?;
        if let Some(s) = &self.state {
            url.query_pairs_mut().append_pair("state", s);
        }
        Some(url.into())
    }
}

/// §2: validates `id_token_hint`, `client_id`, `post_logout_redirect_uri`
/// and `state`. Every failure is shown to the user, never redirected.
pub async fn validate<S: Store>(
    core: &Core,
    store: &S,
    keys: &KeyRing,
    params: &Params,
    now: UnixTime,
) -> Result<LogoutRequest, Error> {
    let hint = match params.get("id_token_hint") {
        None => None,
        Some(h) => Some(
            verify_id_token_hint(core, keys, h, now)
                .ok_or_else(|| OAuthError::invalid_request("id_token_hint is invalid"))?,
        ),
    };
    let client_id = match (params.get("client_id"), &hint) {
        (Some(id), Some(h)) if !h.aud.contains(id) => {
            return Err(
                OAuthError::invalid_request("client_id does not match id_token_hint").into(),
            );
        }
        (Some(id), _) => Some(id.to_owned()),
        (None, Some(h)) => h.aud.iter().next().cloned(),
        (None, None) => None,
    };
    let client = match client_id {
        Some(id) => Some(
            store
                .client(&ClientId(id))
                .await?
                .ok_or_else(|| OAuthError::invalid_request("unknown client"))?,
        ),
        None => None,
    };
    let post_logout_redirect_uri = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let Some(c) = &client else {
                return Err(OAuthError::invalid_request(
                    "post_logout_redirect_uri needs id_token_hint or client_id",
                )
                .into());
            };
            if !c.post_logout_redirect_uris.iter().any(|r| r == uri) {
                return Err(OAuthError::invalid_request(
                    "post_logout_redirect_uri is not registered for this client",
                )
                .into());
            }
            Some(uri.to_owned())
        }
    };
    Ok(LogoutRequest {
        hint,
        client,
        post_logout_redirect_uri,
        state: params.get("state").map(str::to_owned),
    })
}
