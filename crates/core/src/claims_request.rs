//! The `claims` authorization request parameter, OpenID Connect Core §5.5:
//! a JSON object whose `userinfo` and `id_token` members ask for claims one
//! by one, each `null` or `{"essential": bool, "value": …, "values": […]}`.
//!
//! What is honoured:
//!
//! - a standard claim we hold ([`scope_of`]) asked for at either place is
//!   released there, even when the scope that would release it was not
//!   asked for — provided the client may have that scope at all. The
//!   scopes such claims stand for are added to what the consent page asks
//!   the user to approve ([`Parsed::consent_scopes`]), so nothing is
//!   released that the user did not approve; the grant's scope stays what
//!   was asked for, so the other claims of that scope are not released;
//! - `acr` in `id_token` with `value`/`values`: voluntary, it raises the
//!   level like `acr_values`; essential (§5.5.1.1), the sign-in must reach
//!   one of the listed levels (the session is stepped up, or the request
//!   fails with `unmet_authentication_requirements` when none of them is
//!   one we know), and the ID token's `acr` is one of them;
//! - `sub` in `id_token` with a `value` (§5.5.1): only that user's session
//!   answers, as with an `id_token_hint`;
//! - everything else (unknown claims, `essential` on other claims, other
//!   members, §5.5's "other members MAY be ignored") is ignored: essential
//!   claims we cannot release are left out, never a failure (§5.5.1).

use serde_json::{Map, Value};

use crate::error::OAuthError;
use crate::model::RequestedClaims;
use crate::scope::Scope;

/// The scope whose approval releases a standard claim (OIDC Core §5.4), for
/// the claims this server holds (`id_token::SCOPE_CLAIMS`); `None` for any
/// other claim.
pub fn scope_of(claim: &str) -> Option<&'static str> {
    crate::id_token::SCOPE_CLAIMS
        .iter()
        .find(|(_, claims)| claims.contains(&claim))
        .map(|(scope, _)| *scope)
}

/// Most claims one member may name: enough for every standard claim and
/// then some; a larger object is refused rather than carried through
/// every page of the sign-in.
pub const MAX_CLAIMS_PER_MEMBER: usize = 64;

/// A parsed `claims` parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// What the grant records (filtered by the client in [`Parsed::for_client`]).
    pub requested: RequestedClaims,
    /// `acr` values of a voluntary `acr` request (like `acr_values`).
    pub voluntary_acr: Vec<String>,
    /// §5.5.1: the `sub` asked for in the ID token.
    pub sub: Option<String>,
}

fn invalid(description: impl Into<String>) -> OAuthError {
    OAuthError::invalid_request(description)
}

/// The `value` and `values` of one claim's request, as strings (others are
/// ignored for `acr`, whose values are strings).
fn values_of(spec: &Map<String, Value>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(Value::String(v)) = spec.get("value") {
        out.push(v.clone());
    }
    if let Some(Value::Array(vs)) = spec.get("values") {
        for v in vs {
            if let Value::String(v) = v
                && !out.contains(v)
            {
                out.push(v.clone());
            }
        }
    }
    out
}

/// One member (`userinfo` or `id_token`), checked: the claim names (unique,
/// as JSON object keys are) with their individual requests (`None` for
/// `null`), by name.
type Member<'a> = Vec<(&'a str, Option<&'a Map<String, Value>>)>;

fn member<'a>(top: &'a Map<String, Value>, name: &str) -> Result<Member<'a>, OAuthError> {
    let Some(value) = top.get(name) else {
        return Ok(Vec::new());
    };
    let Value::Object(claims) = value else {
        return Err(invalid(format!("claims: {name} must be a JSON object")));
    };
    if claims.len() > MAX_CLAIMS_PER_MEMBER {
        return Err(invalid(format!(
            "claims: {name} names more than {MAX_CLAIMS_PER_MEMBER} claims"
        )));
    }
    let mut out = Vec::with_capacity(claims.len());
    for (claim, spec) in claims {
        let spec = match spec {
            Value::Null => None,
            Value::Object(m) => {
                if m.get("essential").is_some_and(|e| !e.is_boolean()) {
                    return Err(invalid(format!(
                        "claims: {name}.{claim}.essential must be true or false"
                    )));
                }
                if m.get("values").is_some_and(|v| !v.is_array()) {
                    return Err(invalid(format!(
                        "claims: {name}.{claim}.values must be an array"
                    )));
                }
                Some(m)
            }
            _ => {
                return Err(invalid(format!(
                    "claims: {name}.{claim} must be null or a JSON object"
                )));
            }
        };
        out.push((claim.as_str(), spec));
    }
    Ok(out)
}

fn essential(spec: Option<&Map<String, Value>>) -> bool {
    spec.is_some_and(|m| m.get("essential") == Some(&Value::Bool(true)))
}

/// Parses the `claims` parameter. A malformed one is `invalid_request`
/// (sent back to the client: it is checked after the redirect URI).
pub fn parse(raw: &str) -> Result<Parsed, OAuthError> {
    let top = match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(m)) => m,
        _ => {
            return Err(invalid(
                "claims must be a JSON object (OpenID Connect Core §5.5)",
            ));
        }
    };
    let userinfo = member(&top, "userinfo")?;
    let id_token = member(&top, "id_token")?;
    let mut parsed = Parsed::default();
    for (claim, _) in userinfo {
        if scope_of(claim).is_some() {
            parsed.requested.userinfo.push(claim.to_owned());
        }
    }
    for (claim, spec) in id_token {
        match claim {
            "acr" => {
                let values = spec.map(values_of).unwrap_or_default();
                if essential(spec) && !values.is_empty() {
                    parsed.requested.essential_acr = values;
                } else {
                    parsed.voluntary_acr = values;
                }
            }
            "sub" => {
                if let Some(Value::String(sub)) = spec.and_then(|m| m.get("value")) {
                    parsed.sub = Some(sub.clone());
                }
            }
            c if scope_of(c).is_some() => parsed.requested.id_token.push(c.to_owned()),
            _ => {}
        }
    }
    Ok(parsed)
}

impl Parsed {
    /// Only the claims whose scope the client may have: the others are not
    /// released to it whatever the request says.
    pub fn for_client(mut self, allowed: &Scope) -> Parsed {
        let keep = |c: &String| scope_of(c).is_some_and(|s| allowed.contains(s));
        self.requested.userinfo.retain(keep);
        self.requested.id_token.retain(keep);
        self
    }

    /// The scopes that the individually requested claims stand for, which
    /// `scope` does not already hold, in a stable order: what the consent
    /// page asks for besides the scope.
    pub fn consent_scopes(&self, scope: &Scope) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for c in self
            .requested
            .userinfo
            .iter()
            .chain(&self.requested.id_token)
        {
            if let Some(s) = scope_of(c)
                && !scope.contains(s)
                && !out.contains(&s)
            {
                out.push(s);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
