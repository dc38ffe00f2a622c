//! The authorization endpoint, RFC 6749 §4.1.1 and OpenID Connect Core
//! §3.1.2: validate the request, decide whether the user must sign in or
//! consent, and issue the code.
//!
//! Errors come in two kinds (RFC 6749 §4.1.2.1): while the client or the
//! redirect URI is in doubt, the user sees an error page and is never sent
//! anywhere ([`AuthorizeError::Show`]); after both are verified, errors go
//! back to the client ([`AuthorizeError::Redirect`]) with `state` and `iss`
//! (RFC 9207). A redirect target can only be a [`ValidatedRedirectUri`],
//! which only the exact-match check can build.

use url::Url;

use crate::client::validate_resource;
use crate::error::{Error, ErrorCode, OAuthError};
use crate::mfa::{self, RequireMfa};
use crate::model::{
    AuthorizationCode, Client, ClientId, Consent, Grant, GrantType, Session, UnixTime, User,
};
use crate::params::Params;
use crate::scope::Scope;
use crate::store::Store;
use crate::{Core, claims_request, pkce, secret, session};

/// A redirect URI that matched a registered one. Private field: only
/// [`match_redirect_uri`] constructs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedRedirectUri(String);

impl ValidatedRedirectUri {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URI with `params` appended to its query (RFC 6749 §4.1.2: the
    /// query component of the redirection URI is retained).
    pub fn with_params(&self, params: &[(&str, &str)]) -> String {
        match Url::parse(&self.0) {
            Ok(mut url) => {
                {
                    let mut q = url.query_pairs_mut();
                    for (k, v) in params {
                        q.append_pair(k, v);
                    }
                }
                url.into()
            }
            // Unreachable for a registered URI; fall back to no parameters.
            Err(_) => self.0.clone(),
        }
    }
}

/// RFC 6749 §3.1.2.3 / RFC 9700 §2.1: simple string comparison against the
/// registered URIs, with one exception (RFC 8252 §7.3): for a registered
/// `http://127.0.0.1/…` or `http://[::1]/…`, any port is accepted, the rest
/// must be identical.
pub fn match_redirect_uri(client: &Client, requested: &str) -> Option<ValidatedRedirectUri> {
    if client.redirect_uris.iter().any(|r| r == requested) {
        return Some(ValidatedRedirectUri(requested.to_owned()));
    }
    let without_port = strip_loopback_port(requested)?;
    client
        .redirect_uris
        .iter()
        .any(|r| strip_loopback_port(r).as_deref() == Some(without_port.as_str()))
        .then(|| ValidatedRedirectUri(requested.to_owned()))
}

/// `http://127.0.0.1:PORT/rest` → `http://127.0.0.1/rest` (same for
/// `[::1]`), PORT being 1–5 digits up to 65535; `None` for anything else.
/// Works on the raw string so that no normalisation can make two different
/// URIs equal.
fn strip_loopback_port(uri: &str) -> Option<String> {
    for host in ["http://127.0.0.1", "http://[::1]"] {
        if let Some(rest) = uri.strip_prefix(host) {
            let rest = match rest.strip_prefix(':') {
                Some(p) => {
                    let digits = p.bytes().take_while(u8::is_ascii_digit).count();
                    let (port, rest) = p.split_at(digits);
                    // A real port (RFC 3986 §3.2.3, WHATWG: at most 65535),
                    // so an accepted URI always parses and carries the response.
                    if digits == 0 || digits > 5 || port.parse::<u32>().ok()? > 65_535 {
                        return None;
                    }
                    rest
                }
                None => rest,
            };
            if !(rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')) {
                return None;
            }
            return Some(format!("{host}{rest}"));
        }
    }
    None
}

/// How the response reaches the client (OAuth 2.0 Multiple Response Type
/// Encoding Practices; Form Post Response Mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    FormPost,
}

/// OIDC Core §3.1.2.1 `prompt`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A validated authorization request.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub client: Client,
    pub redirect_uri: ValidatedRedirectUri,
    pub response_mode: ResponseMode,
    pub scope: Scope,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// `upstream_hint`: sign in through this upstream identity provider
    /// without showing the chooser (an unknown one is ignored).
    pub upstream_hint: Option<String>,
    /// OIDC Core §3.1.2.1 `acr_values`, in order of preference.
    pub acr_values: Vec<String>,
    /// `sub` of a valid `id_token_hint`.
    pub hint_sub: Option<String>,
    pub resources: Vec<String>,
    /// RFC 9449 §10 `dpop_jkt`: the code is bound to this DPoP key.
    pub dpop_jkt: Option<String>,
    /// OIDC Core §5.5 `claims`, as far as this client may have them
    /// (`crate::claims_request`); empty without the parameter.
    pub claims: claims_request::Parsed,
}

impl AuthorizeRequest {
    /// The level this request needs from `user` under `policy` (the
    /// client's `require_mfa`, or the server's): raised by `acr_values`
    /// and a voluntary `acr` claim request, and by an essential one
    /// (OIDC Core §5.5.1.1), whose lowest known value is enough.
    pub fn required_level(&self, policy: RequireMfa, user: &User) -> mfa::Level {
        let level = mfa::required_level(policy, user, &self.acr_values);
        match mfa::lowest_known(&self.claims.requested.essential_acr) {
            Some(essential) => level.max(essential),
            None => level,
        }
    }

    /// Whether an `id_token_hint` (or a `sub` in `claims`) names someone
    /// other than the user whose own `sub` is `local`. The hint carries
    /// the `sub` this client sees (`crate::subject`: pairwise or not).
    pub fn hint_is_not(&self, pepper: &crate::secret::Pepper, local: &str) -> bool {
        self.hint_sub
            .as_deref()
            .is_some_and(|h| h != crate::subject::subject(pepper, &self.client, local))
    }

    /// What the consent page asks the user to approve: the scope, and the
    /// scopes of claims the `claims` parameter asks for one by one.
    pub fn consent_scope(&self) -> Scope {
        self.scope.union(self.claims.consent_scopes(&self.scope))
    }
}

/// What went wrong, and where the user may be told.
#[derive(Debug)]
pub enum AuthorizeError {
    /// Unknown client or unregistered redirect URI: an error page, never a redirect.
    Show(OAuthError),
    /// Sent back to the client.
    Redirect {
        to: ValidatedRedirectUri,
        mode: ResponseMode,
        state: Option<String>,
        error: OAuthError,
    },
    /// Store unavailable or internal failure.
    Core(Error),
}

impl From<Error> for AuthorizeError {
    fn from(e: Error) -> AuthorizeError {
        AuthorizeError::Core(e)
    }
}

impl From<crate::store::StoreError> for AuthorizeError {
    fn from(e: crate::store::StoreError) -> AuthorizeError {
        AuthorizeError::Core(e.into())
    }
}

/// Parameters that must not reach a client-supplied page unchecked: the
/// request is re-validated from these on every step (login, consent).
pub const REQUEST_PARAMS: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "login_hint",
    "upstream_hint",
    "id_token_hint",
    "resource",
    "acr_values",
    "claims",
    // OIDC Core §3.1.2.1: the languages of the pages, carried through them.
    "ui_locales",
    "dpop_jkt",
    // A pushed request's reference (RFC 9126 §4) and the continuation token
    // of its interaction (`par::CONTINUE_PARAM`): all the pages carry then.
    "request_uri",
    par::CONTINUE_PARAM,
];

/// The request's own parameters ([`REQUEST_PARAMS`]), re-encoded: what the
/// login, second-factor and consent forms carry, and what a pushed request
/// stores. `drop_prompt` removes one `prompt` value that has just been
/// satisfied.
pub fn encode_request(params: &Params, drop_prompt: Option<&str>) -> String {
    encode_params(params, drop_prompt, &[])
}

/// [`encode_request`] without the parameters named in `skip`.
pub(crate) fn encode_params(params: &Params, drop_prompt: Option<&str>, skip: &[&str]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for name in REQUEST_PARAMS.iter().filter(|n| !skip.contains(n)) {
        for v in params.get_all(name) {
            if *name == "prompt" {
                let kept: Vec<&str> = v.split(' ').filter(|p| Some(*p) != drop_prompt).collect();
                if !kept.is_empty() {
                    out.append_pair(name, &kept.join(" "));
                }
            } else {
                out.append_pair(name, v);
            }
        }
    }
    out.finish()
}

/// The registered client the request's `client_id` names; an error page
/// when there is none.
pub(crate) async fn known_client<S: Store>(
    store: &S,
    params: &Params,
) -> Result<Client, AuthorizeError> {
    let client_id = params.get("client_id").ok_or_else(|| {
        AuthorizeError::Show(OAuthError::invalid_request("missing parameter: client_id"))
    })?;
    store
        .client(&ClientId(client_id.to_owned()))
        .await?
        .ok_or_else(|| {
            AuthorizeError::Show(OAuthError::new(ErrorCode::InvalidRequest, "unknown client"))
        })
}

/// Validates an authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1,
/// RFC 7636 §4.3, RFC 8707 §2). `hint_verifier` checks an `id_token_hint`
/// and returns its `sub`.
pub async fn validate<S: Store>(
    store: &S,
    params: &Params,
    hint_verifier: impl Fn(&str) -> Option<String>,
) -> Result<AuthorizeRequest, AuthorizeError> {
    // §4.1.2.1: until client and redirect URI are verified, show, never redirect.
    let client = known_client(store, params).await?;
    let requested_uri = params.get("redirect_uri").ok_or_else(|| {
        AuthorizeError::Show(OAuthError::invalid_request(
            "missing parameter: redirect_uri",
        ))
    })?;
    let redirect_uri = match_redirect_uri(&client, requested_uri).ok_or_else(|| {
        AuthorizeError::Show(OAuthError::invalid_request(
            "redirect_uri is not registered for this client",
        ))
    })?;

    let state = params.get("state").map(str::to_owned);
    let mode = match params.get("response_mode") {
        None | Some("query") => ResponseMode::Query,
        Some("form_post") => ResponseMode::FormPost,
        Some(_) => {
            return Err(AuthorizeError::Redirect {
                to: redirect_uri,
                mode: ResponseMode::Query,
                state,
                error: OAuthError::invalid_request("unsupported response_mode"),
            });
        }
    };
    let fail = |error: OAuthError| AuthorizeError::Redirect {
        to: redirect_uri.clone(),
        mode,
        state: state.clone(),
        error,
    };

    // A request object is verified and unpacked before validation
    // (`request_object::unpack`, from `par::validate_resolved` and
    // `par::push`); one reaching this point was skipped, so fail closed.
    if params.get("request").is_some() {
        return Err(AuthorizeError::Core(Error::Internal(
            "an unverified request object reached authorize::validate".into(),
        )));
    }
    if params.get("request_uri").is_some() {
        return Err(fail(OAuthError::new(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported",
        )));
    }
    match params.get("response_type") {
        None => {
            return Err(fail(OAuthError::invalid_request(
                "missing parameter: response_type",
            )));
        }
        Some("code") => {}
        Some(_) => {
            return Err(fail(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            )));
        }
    }
    if !client.grant_types.contains(&GrantType::AuthorizationCode)
        || !client.response_types.iter().any(|r| r == "code")
    {
        return Err(fail(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code flow",
        )));
    }

    let requested = Scope::parse(params.get("scope").unwrap_or_default())
        .map_err(|e| fail(OAuthError::new(ErrorCode::InvalidScope, e.to_string())))?;
    let scope = requested.intersect(&client.scope);
    if scope.is_empty() && !requested.is_empty() {
        return Err(fail(OAuthError::new(
            ErrorCode::InvalidScope,
            "none of the requested scopes is allowed for this client",
        )));
    }

    // RFC 7636 §4.3 with RFC 9700 §2.1.1: a challenge is required, and only
    // S256 is accepted — except from a confidential client registered with
    // `require_pkce = false`, whose OpenID Connect requests then carry a
    // nonce instead (§2.1.1: "the nonce parameter ... for confidential
    // clients"). A challenge that is sent is always checked: no downgrade.
    let code_challenge = match params.get("code_challenge") {
        Some(c) => {
            if params.get("code_challenge_method") != Some("S256") {
                return Err(fail(OAuthError::invalid_request(
                    "code_challenge_method must be S256",
                )));
            }
            if !pkce::valid_challenge(c) {
                return Err(fail(OAuthError::invalid_request(
                    "code_challenge is malformed",
                )));
            }
            c
        }
        None if client.require_pkce => {
            return Err(fail(OAuthError::invalid_request(
                "code_challenge is required (PKCE with S256)",
            )));
        }
        None if !scope.contains("openid") => {
            return Err(fail(OAuthError::invalid_request(
                "code_challenge is required (PKCE with S256) for a request without openid",
            )));
        }
        None if params.get("nonce").is_none_or(str::is_empty) => {
            return Err(fail(OAuthError::invalid_request(
                "nonce is required when no code_challenge is sent (RFC 9700 §2.1.1)",
            )));
        }
        // No challenge: the code is redeemed without a verifier.
        None => "",
    };
    if code_challenge.is_empty() && params.get("code_challenge_method").is_some() {
        return Err(fail(OAuthError::invalid_request(
            "code_challenge_method without code_challenge",
        )));
    }

    let mut prompt = Prompt::default();
    if let Some(p) = params.get("prompt") {
        for v in p.split(' ') {
            match v {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                "select_account" => {}
                _ => {
                    return Err(fail(OAuthError::invalid_request(
                        "unsupported prompt value",
                    )));
                }
            }
        }
        // OIDC Core §3.1.2.1: "If this parameter contains none with any other
        // value, an error is returned."
        if prompt.none && p.split(' ').count() > 1 {
            return Err(fail(OAuthError::invalid_request(
                "prompt=none cannot be combined",
            )));
        }
    }
    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            fail(OAuthError::invalid_request(
                "max_age must be a non-negative integer",
            ))
        })?),
    };
    let hint_sub = match params.get("id_token_hint") {
        None => None,
        Some(h) => Some(
            hint_verifier(h)
                .ok_or_else(|| fail(OAuthError::invalid_request("id_token_hint is invalid")))?,
        ),
    };
    // OIDC Core §5.5: the `claims` parameter, for OpenID Connect requests
    // (an OAuth request has no ID token or userinfo to put claims in).
    let claims = match params.get("claims") {
        Some(raw) if scope.contains("openid") => claims_request::parse(raw)
            .map_err(&fail)?
            .for_client(&client.scope),
        _ => claims_request::Parsed::default(),
    };
    // §5.5.1.1: an essential `acr` none of whose values we know cannot be
    // met, whoever signs in; "treated as a failed authentication attempt".
    if !claims.requested.essential_acr.is_empty()
        && mfa::lowest_known(&claims.requested.essential_acr).is_none()
    {
        return Err(fail(OAuthError::new(
            ErrorCode::UnmetAuthenticationRequirements,
            "none of the essential acr values is supported (see acr_values_supported)",
        )));
    }
    // §5.5.1: a `sub` asked for is answered by that user's session only,
    // like an `id_token_hint`'s; the two must not name different users.
    let hint_sub = match (hint_sub, &claims.sub) {
        (Some(h), Some(c)) if &h != c => {
            return Err(fail(OAuthError::invalid_request(
                "the claims parameter's sub and the id_token_hint name different users",
            )));
        }
        (h, c) => h.or_else(|| c.clone()),
    };
    let mut resources = Vec::new();
    for r in params.get_all("resource") {
        validate_resource(r).map_err(&fail)?;
        if !client.audience.iter().any(|a| a == r) {
            return Err(fail(OAuthError::new(
                ErrorCode::InvalidTarget,
                "the requested resource is not allowed for this client",
            )));
        }
        resources.push(r.to_owned());
    }
    let dpop_jkt = match params.get("dpop_jkt") {
        None => None,
        Some(v) => Some(crate::dpop::parse_dpop_jkt(v).map_err(&fail)?),
    };
    Ok(AuthorizeRequest {
        client,
        redirect_uri,
        response_mode: mode,
        scope,
        state,
        nonce: params.get("nonce").map(str::to_owned),
        code_challenge: code_challenge.to_owned(),
        prompt,
        max_age,
        login_hint: params.get("login_hint").map(str::to_owned),
        upstream_hint: params.get("upstream_hint").map(str::to_owned),
        acr_values: params
            .get("acr_values")
            .unwrap_or_default()
            .split(' ')
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            // A voluntary `acr` claim request counts as `acr_values` (§5.5.1.1).
            .chain(claims.voluntary_acr.iter().cloned())
            .collect(),
        hint_sub,
        resources,
        dpop_jkt,
        claims,
    })
}

/// What the user must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Show the login page.
    Login,
    /// The session is signed in with a password only, and this request
    /// needs a second factor the user has: ask for it (step-up).
    SecondFactor,
    /// Only a passkey reaches the level this request needs, and the user
    /// has one: ask for it.
    Passkey,
    /// This request needs a second factor and the user has none: enrol one.
    EnrolSecondFactor,
    /// The signed-in user is in none of the client's `required_groups`:
    /// say so on a page (never a code).
    NotAdmitted,
    /// Show the consent page for these scopes.
    Consent(Scope),
    /// Everything is in place: issue a code.
    Issue,
}

/// OIDC Core §3.1.2.3: decide between login, a second factor, consent and
/// issuing, given the live SSO session with its user (if any), the
/// remembered consent and the second-factor policy that applies to the
/// client ([`mfa::policy`]). A session below the level the request needs
/// is raised, never silently used (`acr_values`, `require_mfa`). A user
/// outside the client's `required_groups` (`groups` are the session
/// user's, read when [`crate::groups::needed`]) is refused once fully
/// signed in, before any consent.
pub fn decide(
    req: &AuthorizeRequest,
    session: Option<(&Session, &User)>,
    groups: &[String],
    consent: Option<&Consent>,
    policy: RequireMfa,
    pepper: &crate::secret::Pepper,
    now: UnixTime,
) -> Result<Next, OAuthError> {
    let needs_login = match session {
        None => true,
        Some((s, _)) => {
            req.prompt.login
                || !session::fresh_enough(s, req.max_age, now)
                || req.hint_is_not(pepper, &s.sub)
        }
    };
    if needs_login {
        if req.prompt.none {
            return Err(OAuthError::new(
                ErrorCode::LoginRequired,
                "the user must sign in",
            ));
        }
        return Ok(Next::Login);
    }
    if let Some((s, user)) = session {
        let required = req.required_level(policy, user);
        let step = match mfa::missing(required, s, user) {
            mfa::Missing::Nothing => None,
            mfa::Missing::SecondFactor => Some(Next::SecondFactor),
            mfa::Missing::Passkey => Some(Next::Passkey),
            mfa::Missing::Enrolment => Some(Next::EnrolSecondFactor),
            mfa::Missing::Unmet => {
                return Err(OAuthError::new(
                    ErrorCode::UnmetAuthenticationRequirements,
                    "the user has no passkey, which the requested acr needs",
                ));
            }
        };
        if let Some(step) = step {
            if req.prompt.none {
                return Err(OAuthError::new(
                    ErrorCode::LoginRequired,
                    "the user must sign in with a second factor",
                ));
            }
            return Ok(step);
        }
    }
    if !crate::groups::admits(&req.client, groups) {
        if req.prompt.none {
            return Err(OAuthError::new(
                ErrorCode::AccessDenied,
                "the user is not a member of a group this client requires",
            ));
        }
        return Ok(Next::NotAdmitted);
    }
    let remembered = consent
        .map(|c| Scope::parse(&c.scope).unwrap_or_default())
        .unwrap_or_default();
    let asked = req.consent_scope();
    let covered = asked.is_subset_of(&remembered) && consent.is_some();
    let needs_consent = !req.client.first_party && (req.prompt.consent || !covered);
    if needs_consent {
        if req.prompt.none {
            return Err(OAuthError::new(
                ErrorCode::ConsentRequired,
                "the user must approve this client",
            ));
        }
        return Ok(Next::Consent(asked));
    }
    Ok(Next::Issue)
}

/// The audiences of tokens issued from this request: the requested
/// resources, or the client's audiences; plus the issuer itself when
/// `openid` is granted, so the token works at userinfo.
pub fn audiences(core: &Core, req: &AuthorizeRequest) -> Vec<String> {
    audiences_for(core, &req.client, &req.scope, &req.resources)
}

/// [`audiences`] of a request by `client` for `scope` and `resources`
/// (RFC 8707), whichever endpoint it came to.
pub fn audiences_for(
    core: &Core,
    client: &Client,
    scope: &Scope,
    resources: &[String],
) -> Vec<String> {
    let mut aud = if resources.is_empty() {
        client.audience.clone()
    } else {
        resources.to_vec()
    };
    if (scope.contains("openid") || aud.is_empty()) && !aud.contains(&core.settings.issuer) {
        aud.push(core.settings.issuer.clone());
    }
    aud
}

/// The parameters of a successful authorization response (RFC 6749
/// §4.1.2, RFC 9207 `iss`).
#[derive(Debug, Clone)]
pub struct AuthorizationResponse {
    pub to: ValidatedRedirectUri,
    pub mode: ResponseMode,
    pub params: Vec<(&'static str, String)>,
}

/// Issues a code bound to the client, redirect URI, PKCE challenge, nonce,
/// scope and session, and stores its grant (RFC 6749 §4.1.2: "The
/// authorization code MUST expire shortly after it is issued").
pub async fn issue_code<S: Store>(
    core: &Core,
    store: &S,
    req: &AuthorizeRequest,
    session: &Session,
    now: UnixTime,
) -> Result<AuthorizationResponse, Error> {
    let code = secret::random_string(32)?;
    let grant = Grant {
        grant_id: secret::random_string(16)?,
        client_id: req.client.client_id.clone(),
        sub: session.sub.clone(),
        sid: Some(session.sid.clone()),
        scope: req.scope.to_string(),
        audience: audiences(core, req),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
        idp: session.idp.clone(),
        claims: (!req.claims.requested.is_empty()).then(|| req.claims.requested.clone()),
        created_at: now,
        expires_at: now + req.client.refresh_token_ttl,
        revoked_at: None,
    };
    let record = AuthorizationCode {
        code_hash: secret::token_hash(&code),
        grant_id: grant.grant_id.clone(),
        client_id: req.client.client_id.clone(),
        redirect_uri: req.redirect_uri.as_str().to_owned(),
        code_challenge: req.code_challenge.clone(),
        nonce: req.nonce.clone(),
        created_at: now,
        expires_at: now + req.client.code_ttl(core.settings.code_ttl),
        used_at: None,
        dpop_jkt: req.dpop_jkt.clone(),
    };
    store.put_authorization(&grant, &record).await?;
    let mut params = vec![("code", code)];
    if let Some(s) = &req.state {
        params.push(("state", s.clone()));
    }
    params.push(("iss", core.settings.issuer.clone()));
    Ok(AuthorizationResponse {
        to: req.redirect_uri.clone(),
        mode: req.response_mode,
        params,
    })
}

/// The error response parameters (RFC 6749 §4.1.2.1 with RFC 9207 `iss`).
pub fn error_params(
    core: &Core,
    error: &OAuthError,
    state: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut p = vec![
        ("error", error.code.as_str().to_owned()),
        ("error_description", error.description.clone()),
    ];
    if let Some(s) = state {
        p.push(("state", s.to_owned()));
    }
    p.push(("iss", core.settings.issuer.clone()));
    p
}

/// Records the user's approval: the union of what they approved before and now.
pub async fn remember_consent<S: Store>(
    store: &S,
    sub: &str,
    client_id: &ClientId,
    scope: &Scope,
    previous: Option<&Consent>,
    now: UnixTime,
) -> Result<(), Error> {
    let mut all = previous
        .map(|c| Scope::parse(&c.scope).unwrap_or_default())
        .unwrap_or_default()
        .to_string();
    for s in scope.iter() {
        if !all.split(' ').any(|t| t == s) {
            if !all.is_empty() {
                all.push(' ');
            }
            all.push_str(s);
        }
    }
    store
        .put_consent(&Consent {
            sub: sub.to_owned(),
            client_id: client_id.clone(),
            scope: all,
            granted_at: now,
        })
        .await?;
    Ok(())
}

pub mod par;
pub mod request_object;

#[cfg(test)]
mod tests;

/// RFC 9700 §2.1.1 (SECURITY.md R11): a client that sends the same
/// `code_challenge` (or `nonce`) in consecutive requests has probably hard
/// coded it, which defeats PKCE. The watch counts repeats per client in
/// memory (per node; it is a detector, not a defence) and reports how many
/// consecutive requests carried the same value.
#[derive(Debug, Default)]
pub struct RepeatWatch {
    last: std::sync::Mutex<RepeatMap>,
}

/// (client, kind) → (last value, how many consecutive requests carried it).
type RepeatMap = std::collections::HashMap<(ClientId, &'static str), (Vec<u8>, u32)>;

/// How many clients the watch remembers before it starts over.
const REPEAT_WATCH_CAP: usize = 10_000;

impl RepeatWatch {
    /// Records `value` for (client, kind) and returns how many consecutive
    /// requests (this one included) carried it.
    pub fn observe(&self, client: &ClientId, kind: &'static str, value: &str) -> u32 {
        let digest = secret::token_hash(value);
        let Ok(mut map) = self.last.lock() else {
            return 1;
        };
        if map.len() >= REPEAT_WATCH_CAP {
            map.clear();
        }
        let entry = map
            .entry((client.clone(), kind))
            .or_insert_with(|| (Vec::new(), 0));
        if entry.0 == digest {
            entry.1 = entry.1.saturating_add(1);
        } else {
            *entry = (digest, 1);
        }
        entry.1
    }
}
