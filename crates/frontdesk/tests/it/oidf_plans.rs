//! The OpenID Foundation's OP conformance plans "Basic OP", "Config OP",
//! "Form Post OP" and "RP-Initiated Logout OP", module by module, against
//! the real server over real HTTP on SQLite and PostgreSQL. The relying
//! party of the flows that succeed is the independent `openidconnect`
//! crate, configured from discovery alone (the code exchange, the ID-token
//! signature, `iss`, `aud`, `nonce` and `at_hash` checks, userinfo and
//! refresh are its own); plain reqwest makes the requests whose exact answer
//! is the point (status codes, `error` values, an error page where no
//! redirect may happen).
//!
//! The plans' clients are as the suite's static clients are: confidential,
//! client_secret_basic (`oidf-basic`; `oidf-post` is the suite's `client2`
//! and uses client_secret_post), a `nonce` and no PKCE challenge
//! (`require_pkce = false`), third-party (the user consents). One deviation
//! is deliberate: without a PKCE challenge our server requires a `nonce`
//! (RFC 9700 §2.1.1), so `oidcc-ensure-request-without-nonce-succeeds-for-
//! code-flow` is run with PKCE.
//!
//! | OIDF module | test function |
//! |---|---|
//! | **Basic OP** | |
//! | oidcc-server | `oidcc_server_and_userinfo` |
//! | oidcc-idtoken-signature | `oidcc_server_and_userinfo` |
//! | oidcc-userinfo-get | `oidcc_server_and_userinfo` |
//! | oidcc-userinfo-post-header | `oidcc_server_and_userinfo` |
//! | oidcc-userinfo-post-body | `oidcc_server_and_userinfo` |
//! | oidcc-ensure-post-request-succeeds | `oidcc_server_and_userinfo` |
//! | oidcc-scope-profile | `oidcc_scopes_and_claims` |
//! | oidcc-scope-email | `oidcc_scopes_and_claims` |
//! | oidcc-scope-address | `oidcc_scopes_and_claims` |
//! | oidcc-scope-phone | `oidcc_scopes_and_claims` |
//! | oidcc-scope-all | `oidcc_scopes_and_claims` |
//! | oidcc-ensure-other-scope-order-succeeds | `oidcc_scopes_and_claims` |
//! | oidcc-alternate-happy-flow | `oidcc_scopes_and_claims` |
//! | oidcc-claims-essential | `oidcc_scopes_and_claims` |
//! | oidcc-display-page | `oidcc_request_parameters` |
//! | oidcc-display-popup | `oidcc_request_parameters` |
//! | oidcc-login-hint | `oidcc_request_parameters` |
//! | oidcc-ui-locales | `oidcc_request_parameters` |
//! | oidcc-claims-locales | `oidcc_request_parameters` |
//! | oidcc-ensure-request-with-unknown-parameter-succeeds | `oidcc_request_parameters` |
//! | oidcc-ensure-request-with-acr-values-succeeds | `oidcc_request_parameters` |
//! | oidcc-ensure-request-with-valid-pkce-succeeds | `oidcc_request_parameters` |
//! | oidcc-ensure-request-without-nonce-succeeds-for-code-flow | `oidcc_request_parameters` (with PKCE, see above) |
//! | oidcc-prompt-none-not-logged-in | `oidcc_prompt_max_age_id_token_hint` |
//! | oidcc-prompt-none-logged-in | `oidcc_prompt_max_age_id_token_hint` |
//! | oidcc-prompt-login | `oidcc_prompt_max_age_id_token_hint` |
//! | oidcc-max-age-1 | `oidcc_prompt_max_age_id_token_hint` |
//! | oidcc-max-age-10000 | `oidcc_prompt_max_age_id_token_hint` |
//! | oidcc-id-token-hint | `oidcc_prompt_max_age_id_token_hint` |
//! | oidcc-codereuse | `oidcc_codereuse_refresh_token_client_secret_post` |
//! | oidcc-codereuse-30seconds | `oidcc_codereuse_refresh_token_client_secret_post` (the same replay, without the 30 s wait) |
//! | oidcc-refresh-token | `oidcc_codereuse_refresh_token_client_secret_post` |
//! | oidcc-server-client-secret-post | `oidcc_codereuse_refresh_token_client_secret_post` |
//! | oidcc-response-type-missing | `oidcc_authorization_request_errors` |
//! | oidcc-ensure-registered-redirect-uri | `oidcc_authorization_request_errors` |
//! | oidcc-ensure-redirect-uri-in-authorization-request (Dynamic OP plan) | `oidcc_authorization_request_errors` |
//! | oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported | `oidcc_authorization_request_errors` (rejected; the suite skips it: `none` is not advertised) |
//! | oidcc-ensure-request-object-with-redirect-uri | skipped by the suite (`none` is not in `request_object_signing_alg_values_supported`, asserted in `oidcc_authorization_request_errors`); a signed object's `redirect_uri` beating the outer one is jar.rs `request_object_by_value_ends_in_tokens` |
//! | oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported | not applicable to static clients; a fetched `request_uri` is refused in `oidcc_authorization_request_errors` |
//! | oidcc-idtoken-unsigned | skipped by the suite (`none` is not in `id_token_signing_alg_values_supported`, asserted in `oidcc_discovery_endpoint_verification`) |
//! | **Config OP** | |
//! | oidcc-discovery-endpoint-verification | `oidcc_discovery_endpoint_verification` |
//! | (its JWKS checks) | `oidcc_config_jwks` |
//! | **Form Post OP** (the Basic modules with `response_mode=form_post`) | |
//! | oidcc-server, oidcc-prompt-none-not-logged-in, oidcc-response-type-missing, oidcc-ensure-registered-redirect-uri | `oidcc_response_mode_form_post` |
//! | **RP-Initiated Logout OP** | |
//! | oidcc-rp-initiated-logout-discovery-endpoint-verification | `oidcc_discovery_endpoint_verification` |
//! | oidcc-rp-initiated-logout | `oidcc_rp_initiated_logout` |
//! | oidcc-rp-initiated-logout-no-state | `oidcc_rp_initiated_logout` |
//! | oidcc-rp-initiated-logout-no-post-logout-redirect-uri | `oidcc_rp_initiated_logout` |
//! | oidcc-rp-initiated-logout-no-id-token-hint | `oidcc_rp_initiated_logout` |
//! | oidcc-rp-initiated-logout-bad-post-logout-redirect-uri | `oidcc_rp_initiated_logout_refusals` |
//! | oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri | `oidcc_rp_initiated_logout_refusals` |
//! | oidcc-rp-initiated-logout-modified-id-token-hint | `oidcc_rp_initiated_logout_refusals` |
//! | oidcc-rp-initiated-logout-bad-id-token-hint | `oidcc_rp_initiated_logout_refusals` |
//! | oidcc-rp-initiated-logout-no-params | `oidcc_rp_initiated_logout_refusals` |
//! | oidcc-rp-initiated-logout-only-state | `oidcc_rp_initiated_logout_refusals` |

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreIdToken,
    CoreIdTokenClaims, CoreResponseType, CoreTokenResponse, CoreTokenType, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AsyncHttpClient, AuthType, AuthenticationContextClass, AuthorizationCode,
    AuthorizationRequest, ClientId, ClientSecret, CsrfToken, EndSessionUrl, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, HttpRequest, HttpResponse, IssuerUrl, LanguageTag, LoginHint,
    LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl, Scope, TokenResponse,
};
use serde_json::{Value, json};

use crate::both;
use crate::browser::{Browser, End, Page, authz, page, pkce, query, redirect};
use crate::security_authorize::{assert_error_page, assert_error_redirect, raw_get};
use crate::support::{Server, assert_no_store, jwt_parts, parts, unix_now};

const BASIC: (&str, &str) = ("oidf-basic", "oidf-basic-secret-0123456789abcdef");
const BASIC_CB: &str = "https://rp.example.com/cb";
const BASIC_BYE: &str = "https://rp.example.com/logged-out";
/// The suite's `client2`, with client_secret_post.
const POST: (&str, &str) = ("oidf-post", "oidf-post-secret-0123456789abcdef");
const POST_CB: &str = "https://rp2.example.com/cb";
const IVY: (&str, &str) = ("ivy", "ivy-password-0123456789");

const CONFIG: &str = r#"
[[clients]]
client_id = "oidf-basic"
client_secret = "oidf-basic-secret-0123456789abcdef"
client_name = "OIDF Basic RP"
require_pkce = false
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://rp.example.com/cb"]
post_logout_redirect_uris = ["https://rp.example.com/logged-out"]
scope = "openid profile email address phone offline_access"

[[clients]]
client_id = "oidf-post"
client_secret = "oidf-post-secret-0123456789abcdef"
client_name = "OIDF Second RP"
token_endpoint_auth_method = "client_secret_post"
require_pkce = false
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://rp2.example.com/cb"]
post_logout_redirect_uris = ["https://rp2.example.com/logged-out"]
scope = "openid profile email address phone offline_access"

[[users]]
username = "ivy"
password = "ivy-password-0123456789"
email = "ivy@example.com"
email_verified = true
name = "Ivy Interop"
given_name = "Ivy"
family_name = "Interop"
nickname = "ivy-i"
locale = "en-GB"
phone_number = "+44 20 7946 0001"
phone_number_verified = true
address = { street_address = "2 Conformance Row", locality = "Leeds", postal_code = "LS1 1AA", country = "GB" }
"#;

// ----- the relying party -----

/// reqwest under the crate's HTTP interface (the crate's own reqwest
/// feature is off: it would bring another reqwest).
struct Http(reqwest::Client);

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = reqwest::Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, reqwest::Error>> + 'c>>;

    fn call(&'c self, req: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (head, body) = req.into_parts();
            let mut r = self.0.request(head.method, head.uri.to_string()).body(body);
            for (k, v) in &head.headers {
                r = r.header(k, v);
            }
            let resp = r.send().await?;
            let mut out = openidconnect::http::Response::builder().status(resp.status().as_u16());
            for (k, v) in resp.headers() {
                out = out.header(k.as_str(), v.as_bytes());
            }
            let bytes = resp.bytes().await?;
            Ok(out.body(bytes.to_vec()).expect("response"))
        })
    }
}

type Oidc = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A relying party configured from discovery alone.
struct Rp {
    http: Http,
    client: Oidc,
    metadata: ProviderMetadataWithLogout,
    cb: &'static str,
}

/// What one authorization ended in, verified by the crate.
struct Signed {
    tokens: CoreTokenResponse,
    id_token: CoreIdToken,
    claims: CoreIdTokenClaims,
    /// The ID token's payload as sent.
    payload: Value,
}

impl Signed {
    fn access_token(&self) -> &str {
        self.tokens.access_token().secret()
    }
    fn sub(&self) -> &str {
        self.claims.subject().as_str()
    }
    fn auth_time(&self) -> i64 {
        self.payload["auth_time"]
            .as_i64()
            .unwrap_or_else(|| panic!("auth_time in {}", self.payload))
    }
}

impl Rp {
    async fn discover(s: &Server, (id, secret): (&str, &str), cb: &'static str) -> Rp {
        let http = Http(s.http.clone());
        let metadata = ProviderMetadataWithLogout::discover_async(
            IssuerUrl::new(s.base.clone()).unwrap(),
            &http,
        )
        .await
        .expect("the crate's discovery");
        let client = CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(id.into()),
            Some(ClientSecret::new(secret.into())),
        )
        .set_redirect_uri(RedirectUrl::new(cb.into()).unwrap());
        Rp {
            http,
            client,
            metadata,
            cb,
        }
    }

    /// The crate's authorization request: `openid`, a `state` and a
    /// `nonce` of its own, no PKCE.
    fn request(
        &self,
    ) -> AuthorizationRequest<'_, CoreAuthDisplay, CoreAuthPrompt, CoreResponseType> {
        self.client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
    }

    fn end_session(&self) -> EndSessionUrl {
        self.metadata
            .additional_metadata()
            .end_session_endpoint
            .clone()
            .expect("end_session_endpoint discovered")
    }

    /// The crate redeems `code` (with the PKCE `verifier` it was bound to,
    /// if any) and verifies the ID token against `nonce` (`None`: the token
    /// must carry none).
    async fn redeem(
        &self,
        code: &str,
        nonce: Option<&Nonce>,
        verifier: Option<PkceCodeVerifier>,
    ) -> Signed {
        let mut req = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .expect("token endpoint discovered");
        if let Some(v) = verifier {
            req = req.set_pkce_verifier(v);
        }
        let tokens = req.request_async(&self.http).await.expect("code exchange");
        self.verified(tokens, nonce)
    }

    fn verified(&self, tokens: CoreTokenResponse, nonce: Option<&Nonce>) -> Signed {
        let id_token = tokens.id_token().expect("an ID token").clone();
        let verifier = self.client.id_token_verifier();
        let claims = match nonce {
            Some(n) => id_token.claims(&verifier, n),
            None => id_token.claims(&verifier, |n: Option<&Nonce>| match n {
                None => Ok(()),
                Some(_) => Err("a nonce nobody sent".to_owned()),
            }),
        }
        .expect("the crate verifies the ID token")
        .clone();
        // at_hash, computed by the crate.
        if let Some(hash) = claims.access_token_hash() {
            let alg = id_token.signing_alg().unwrap();
            let key = id_token.signing_key(&verifier).unwrap();
            let expected = AccessTokenHash::from_token(tokens.access_token(), alg, key).unwrap();
            assert_eq!(hash, &expected, "at_hash");
        }
        let payload = jwt_parts(&id_token.to_string()).1;
        Signed {
            tokens,
            id_token,
            claims,
            payload,
        }
    }

    /// `req` through login and consent as ivy in `b`, then redeemed.
    async fn flow(
        &self,
        s: &Server,
        b: &Browser,
        req: AuthorizationRequest<'_, CoreAuthDisplay, CoreAuthPrompt, CoreResponseType>,
    ) -> Signed {
        let (url, csrf, nonce) = req.url();
        let cb = redirect(through(b, b.get(url.as_str()).await, IVY).await);
        let code = code_of(s, &cb, self.cb, &csrf);
        self.redeem(&code, Some(&nonce), None).await
    }

    /// The crate's userinfo request (GET, Bearer), which checks the `sub`.
    async fn userinfo(&self, t: &Signed) -> CoreUserInfoClaims {
        self.client
            .user_info(
                t.tokens.access_token().clone(),
                Some(t.claims.subject().clone()),
            )
            .expect("userinfo endpoint discovered")
            .request_async(&self.http)
            .await
            .expect("the crate's userinfo request")
    }
}

/// Signs in as `user` and approves on whichever login and consent pages
/// `end` shows; where the browser ends: the client's redirect, or a page
/// that is neither (form_post, an error).
async fn through(b: &Browser, mut end: End, user: (&str, &str)) -> End {
    for _ in 0..4 {
        let End::Page(p) = &end else {
            return end;
        };
        if p.body.contains("name=\"password\"") {
            assert_eq!(p.status, 200, "{}", p.body);
            end = b.login(p, user).await;
        } else if p.body.contains("action=\"/consent\"") {
            end = b.consent(p, "approve").await;
        } else {
            return end;
        }
    }
    panic!("sign-in did not finish");
}

fn is_login(p: &Page) -> bool {
    p.status == 200 && p.body.contains("name=\"password\"")
}

/// The code at `cb`: the client's redirect URI `to` with the request's
/// `state` and our `iss` (RFC 9207), and no error.
fn code_of(s: &Server, cb: &url::Url, to: &str, state: &CsrfToken) -> String {
    assert_eq!(cb.as_str().split('?').next(), Some(to), "{cb}");
    assert_eq!(query(cb, "error"), None, "{cb}");
    assert_eq!(
        query(cb, "state").as_deref(),
        Some(state.secret().as_str()),
        "{cb}"
    );
    assert_eq!(query(cb, "iss").as_deref(), Some(s.base.as_str()), "{cb}");
    query(cb, "code").unwrap_or_else(|| panic!("no code in {cb}"))
}

/// An error response at `cb`: the client's redirect URI with `error`, the
/// request's `state` and our `iss`, and no code.
fn assert_error_at(s: &Server, cb: &url::Url, to: &str, error: &str, state: &str) {
    assert_eq!(cb.as_str().split('?').next(), Some(to), "{cb}");
    assert_eq!(query(cb, "error").as_deref(), Some(error), "{cb}");
    assert_eq!(query(cb, "state").as_deref(), Some(state), "{cb}");
    assert_eq!(query(cb, "iss").as_deref(), Some(s.base.as_str()), "{cb}");
    assert_eq!(query(cb, "code"), None, "{cb}");
}

/// `/userinfo` answered as JSON, with its status.
async fn userinfo_json(r: reqwest::Response) -> (u16, Value) {
    let (status, _, body) = parts(r).await;
    (status, body)
}

fn random() -> String {
    frontdesk_core::secret::random_string(16).unwrap()
}

fn keys_of(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

// ----- Basic OP -----

/// oidcc-server, oidcc-idtoken-signature, oidcc-userinfo-get,
/// oidcc-userinfo-post-header, oidcc-userinfo-post-body,
/// oidcc-ensure-post-request-succeeds.
async fn oidcc_server_and_userinfo(s: &Server) {
    let rp = Rp::discover(s, BASIC, BASIC_CB).await;
    let b = Browser::new(s);

    // oidcc-server: the crate's request, through login and consent.
    let (url, csrf, nonce) = rp.request().url();
    assert!(url.as_str().starts_with(&s.url("/authorize?")), "{url}");
    assert!(!url.as_str().contains("code_challenge"), "{url}");
    let login = page(b.get(url.as_str()).await);
    assert!(is_login(&login), "{}", login.body);
    let cb = redirect(through(&b, End::Page(login), IVY).await);
    let code = code_of(s, &cb, BASIC_CB, &csrf);
    let t = rp.redeem(&code, Some(&nonce), None).await;
    assert_eq!(t.tokens.token_type(), &CoreTokenType::Bearer);
    assert!(t.tokens.expires_in().is_some());
    assert_eq!(t.claims.issuer().as_str(), s.base);
    let aud: Vec<&str> = t.claims.audiences().iter().map(|a| a.as_str()).collect();
    assert_eq!(aud, [BASIC.0]);
    assert_eq!(
        t.claims.nonce().map(|n| n.secret().as_str()),
        Some(nonce.secret().as_str())
    );
    assert!(t.claims.auth_time().is_some(), "{}", t.payload);
    assert!(t.claims.access_token_hash().is_some(), "at_hash");
    assert!(!t.sub().is_empty());
    assert_eq!(t.payload["azp"], BASIC.0);

    // oidcc-idtoken-signature: RS256 (the default), by a key of the JWKS.
    let (header, _) = jwt_parts(&t.id_token.to_string());
    assert_eq!(header["alg"], "RS256", "{header}");
    let jwks = s.get_json("/jwks.json").await;
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == header["kid"] && k["kty"] == "RSA"),
        "{header} not in {jwks}"
    );

    // oidcc-userinfo-get: the crate's request.
    let info = rp.userinfo(&t).await;
    assert_eq!(info.subject().as_str(), t.sub());
    // oidcc-userinfo-post-header: POST, the token in the header.
    let (status, v) = userinfo_json(
        s.http
            .post(s.url("/userinfo"))
            .bearer_auth(t.access_token())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["sub"], t.sub());
    // oidcc-userinfo-post-body: POST, the token in the form (RFC 6750 §2.2).
    let (status, v) = userinfo_json(
        s.post_form("/userinfo", None, &[("access_token", t.access_token())])
            .await,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["sub"], t.sub());
    // Scope openid alone: the sub and nothing else.
    assert_eq!(keys_of(&v), ["sub"], "{v}");

    // oidcc-ensure-post-request-succeeds: the same request by POST
    // (OIDC Core §3.1.2.1), answered from the session.
    let (url, csrf, nonce) = rp.request().url();
    let form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let cb = redirect(through(&b, b.post("/authorize", &form).await, IVY).await);
    let code = code_of(s, &cb, BASIC_CB, &csrf);
    let again = rp.redeem(&code, Some(&nonce), None).await;
    assert_eq!(again.sub(), t.sub());
    assert_eq!(again.auth_time(), t.auth_time(), "the same sign-in");
}
both!(oidcc_server_and_userinfo, CONFIG);

/// oidcc-scope-profile, -email, -address, -phone, -all,
/// oidcc-ensure-other-scope-order-succeeds, oidcc-alternate-happy-flow,
/// oidcc-claims-essential.
async fn oidcc_scopes_and_claims(s: &Server) {
    let rp = Rp::discover(s, BASIC, BASIC_CB).await;
    let b = Browser::new(s);
    let profile = [
        "family_name",
        "given_name",
        "locale",
        "name",
        "nickname",
        "preferred_username",
        "updated_at",
    ];
    let email = ["email", "email_verified"];
    let address = ["address"];
    let phone = ["phone_number", "phone_number_verified"];
    let all: Vec<&str> = profile
        .iter()
        .chain(&email)
        .chain(&address)
        .chain(&phone)
        .copied()
        .collect();
    for (module, scopes, released) in [
        ("oidcc-scope-profile", &["profile"][..], &profile[..]),
        ("oidcc-scope-email", &["email"][..], &email[..]),
        ("oidcc-scope-address", &["address"][..], &address[..]),
        ("oidcc-scope-phone", &["phone"][..], &phone[..]),
        (
            "oidcc-scope-all",
            &["profile", "email", "address", "phone"][..],
            &all[..],
        ),
    ] {
        let mut req = rp.request();
        for scope in scopes {
            req = req.add_scope(Scope::new((*scope).to_owned()));
        }
        let t = rp.flow(s, &b, req).await;
        // The crate's userinfo parses them (and checks the sub) ...
        let info = rp.userinfo(&t).await;
        // ... and userinfo releases exactly the scopes' claims.
        let (status, v) = userinfo_json(
            s.http
                .get(s.url("/userinfo"))
                .bearer_auth(t.access_token())
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{module}: {v}");
        let mut want: Vec<String> = released.iter().map(|c| (*c).to_owned()).collect();
        want.push("sub".into());
        want.sort();
        assert_eq!(keys_of(&v), want, "{module}: {v}");
        if scopes.contains(&"profile") {
            assert_eq!(v["name"], "Ivy Interop", "{module}");
            assert_eq!(v["preferred_username"], "ivy", "{module}");
            assert_eq!(
                info.preferred_username().map(|u| u.as_str()),
                Some("ivy"),
                "{module}"
            );
        }
        if scopes.contains(&"email") {
            assert_eq!(v["email"], "ivy@example.com", "{module}");
            assert_eq!(v["email_verified"], true, "{module}");
            assert_eq!(
                info.email().map(|e| e.as_str()),
                Some("ivy@example.com"),
                "{module}"
            );
        }
        if scopes.contains(&"address") {
            assert_eq!(
                v["address"],
                json!({
                    "street_address": "2 Conformance Row",
                    "locality": "Leeds",
                    "postal_code": "LS1 1AA",
                    "country": "GB"
                }),
                "{module}"
            );
            let a = info.address().expect("the crate reads the address");
            assert_eq!(a.locality.as_ref().map(|l| l.as_str()), Some("Leeds"));
        }
        if scopes.contains(&"phone") {
            assert_eq!(v["phone_number"], "+44 20 7946 0001", "{module}");
            assert_eq!(v["phone_number_verified"], true, "{module}");
            assert_eq!(
                info.phone_number().map(|p| p.as_str()),
                Some("+44 20 7946 0001"),
                "{module}"
            );
        }
    }

    // oidcc-ensure-other-scope-order-succeeds and oidcc-alternate-happy-flow:
    // openid not first, the parameters in another order (RFC 6749 §3.3).
    let (state, nonce) = (random(), random());
    let url = authz(
        s,
        &[
            ("scope", "email openid"),
            ("nonce", &nonce),
            ("state", &state),
            ("redirect_uri", BASIC_CB),
            ("client_id", BASIC.0),
            ("response_type", "code"),
        ],
    );
    let cb = redirect(through(&b, b.get(&url).await, IVY).await);
    let code = code_of(s, &cb, BASIC_CB, &CsrfToken::new(state));
    let t = rp.redeem(&code, Some(&Nonce::new(nonce)), None).await;
    let info = rp.userinfo(&t).await;
    assert_eq!(info.email().map(|e| e.as_str()), Some("ivy@example.com"));

    // oidcc-claims-essential: scope openid, name asked for at userinfo.
    let t = rp
        .flow(
            s,
            &b,
            rp.request()
                .add_extra_param("claims", r#"{"userinfo":{"name":{"essential":true}}}"#),
        )
        .await;
    let (status, v) = userinfo_json(
        s.http
            .get(s.url("/userinfo"))
            .bearer_auth(t.access_token())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["name"], "Ivy Interop", "{v}");
    assert_eq!(keys_of(&v), ["name", "sub"], "only what was asked for: {v}");
}
both!(oidcc_scopes_and_claims, CONFIG);

/// oidcc-display-page, -popup, oidcc-login-hint, oidcc-ui-locales,
/// oidcc-claims-locales, oidcc-ensure-request-with-unknown-parameter-
/// succeeds, -with-acr-values-succeeds, -with-valid-pkce-succeeds,
/// -without-nonce-succeeds-for-code-flow.
async fn oidcc_request_parameters(s: &Server) {
    let rp = Rp::discover(s, BASIC, BASIC_CB).await;

    // oidcc-display-page, oidcc-display-popup: the login page is shown, in
    // a browser with no session (`display` is a hint; one page serves both).
    let mut subs = Vec::new();
    for (display, value) in [
        (CoreAuthDisplay::Page, "page"),
        (CoreAuthDisplay::Popup, "popup"),
    ] {
        let b = Browser::new(s);
        let (url, csrf, nonce) = rp.request().set_display(display).url();
        assert_eq!(
            url.query_pairs()
                .find(|(k, _)| k == "display")
                .map(|(_, v)| v.into_owned())
                .as_deref(),
            Some(value)
        );
        let login = page(b.get(url.as_str()).await);
        assert!(is_login(&login), "display={value}: {}", login.body);
        let cb = redirect(through(&b, End::Page(login), IVY).await);
        let code = code_of(s, &cb, BASIC_CB, &csrf);
        subs.push(rp.redeem(&code, Some(&nonce), None).await.sub().to_owned());
    }
    assert_eq!(subs[0], subs[1]);

    // oidcc-login-hint: the login page has the username filled in.
    let b = Browser::new(s);
    let (url, csrf, nonce) = rp
        .request()
        .set_login_hint(LoginHint::new("ivy".into()))
        .url();
    let login = page(b.get(url.as_str()).await);
    assert!(is_login(&login), "{}", login.body);
    assert_eq!(login.input("username").as_deref(), Some("ivy"));
    let cb = redirect(through(&b, End::Page(login), IVY).await);
    rp.redeem(&code_of(s, &cb, BASIC_CB, &csrf), Some(&nonce), None)
        .await;

    // oidcc-ui-locales: the pages in the language asked for.
    let b = Browser::new(s);
    let (url, csrf, nonce) = rp
        .request()
        .add_ui_locale(LanguageTag::new("de".into()))
        .url();
    let login = page(b.get(url.as_str()).await);
    assert!(is_login(&login), "{}", login.body);
    assert!(login.body.contains("<html lang=\"de\""), "{}", login.body);
    assert!(login.body.contains("<h1>Anmelden</h1>"), "{}", login.body);
    let cb = redirect(through(&b, End::Page(login), IVY).await);
    rp.redeem(&code_of(s, &cb, BASIC_CB, &csrf), Some(&nonce), None)
        .await;

    // From here on the browser has a session: each request comes straight
    // back with a code.
    // oidcc-claims-locales.
    let t = rp
        .flow(
            s,
            &b,
            rp.request()
                .add_claims_locale(LanguageTag::new("de".into()))
                .add_claims_locale(LanguageTag::new("fr".into())),
        )
        .await;
    assert_eq!(t.sub(), subs[0]);
    // oidcc-ensure-request-with-unknown-parameter-succeeds.
    let t = rp
        .flow(
            s,
            &b,
            rp.request()
                .add_extra_param("extra", "foobar-not-a-parameter"),
        )
        .await;
    assert_eq!(t.sub(), subs[0]);
    // oidcc-ensure-request-with-acr-values-succeeds: values this server
    // does not know (the suite's "1 2") are voluntary, so ignored; the
    // ID token says what the sign-in was.
    let t = rp
        .flow(
            s,
            &b,
            rp.request()
                .add_auth_context_value(AuthenticationContextClass::new("1".into()))
                .add_auth_context_value(AuthenticationContextClass::new("2".into())),
        )
        .await;
    assert_eq!(t.payload["acr"], frontdesk_core::mfa::ACR_PASSWORD);

    // oidcc-ensure-request-with-valid-pkce-succeeds: S256 and a nonce.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = rp.request().set_pkce_challenge(challenge).url();
    let cb = redirect(b.get(url.as_str()).await);
    let t = rp
        .redeem(
            &code_of(s, &cb, BASIC_CB, &csrf),
            Some(&nonce),
            Some(verifier),
        )
        .await;
    assert_eq!(t.sub(), subs[0]);

    // oidcc-ensure-request-without-nonce-succeeds-for-code-flow. The suite
    // sends neither a nonce nor a PKCE challenge; this server requires one
    // of the two (RFC 9700 §2.1.1: the nonce is a confidential client's
    // alternative to PKCE), so the request without a nonce carries PKCE.
    let (verifier, challenge) = pkce();
    let state = random();
    let url = authz(
        s,
        &[
            ("response_type", "code"),
            ("client_id", BASIC.0),
            ("redirect_uri", BASIC_CB),
            ("scope", "openid"),
            ("state", &state),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let cb = redirect(b.get(&url).await);
    let code = code_of(s, &cb, BASIC_CB, &CsrfToken::new(state));
    let t = rp
        .redeem(&code, None, Some(PkceCodeVerifier::new(verifier)))
        .await;
    assert!(t.payload.get("nonce").is_none(), "{}", t.payload);
    // Neither: refused, back to the client (the deviation, pinned).
    let url = authz(
        s,
        &[
            ("response_type", "code"),
            ("client_id", BASIC.0),
            ("redirect_uri", BASIC_CB),
            ("scope", "openid"),
            ("state", "st-no-nonce"),
        ],
    );
    let cb = redirect(b.get(&url).await);
    assert_error_at(s, &cb, BASIC_CB, "invalid_request", "st-no-nonce");
    assert_eq!(
        query(&cb, "error_description").as_deref(),
        Some("nonce is required when no code_challenge is sent (RFC 9700 §2.1.1)")
    );
}
both!(oidcc_request_parameters, CONFIG);

/// oidcc-prompt-none-not-logged-in, oidcc-prompt-none-logged-in,
/// oidcc-id-token-hint, oidcc-max-age-10000, oidcc-max-age-1,
/// oidcc-prompt-login.
async fn oidcc_prompt_max_age_id_token_hint(s: &Server) {
    let rp = Rp::discover(s, BASIC, BASIC_CB).await;

    // oidcc-prompt-none-not-logged-in: no session, no page: login_required.
    let fresh = Browser::new(s);
    let (url, csrf, _) = rp.request().add_prompt(CoreAuthPrompt::None).url();
    let cb = redirect(fresh.get(url.as_str()).await);
    assert_error_at(s, &cb, BASIC_CB, "login_required", csrf.secret());

    // Two browsers sign in, at about the same second.
    let a = Browser::new(s);
    let first_a = rp.flow(s, &a, rp.request()).await;
    let b = Browser::new(s);
    let first_b = rp.flow(s, &b, rp.request()).await;
    assert_eq!(first_a.sub(), first_b.sub());

    // oidcc-prompt-none-logged-in: the session answers, no page.
    let (url, csrf, nonce) = rp.request().add_prompt(CoreAuthPrompt::None).url();
    let cb = redirect(a.get(url.as_str()).await);
    let t = rp
        .redeem(&code_of(s, &cb, BASIC_CB, &csrf), Some(&nonce), None)
        .await;
    assert_eq!(t.sub(), first_a.sub());
    assert_eq!(t.auth_time(), first_a.auth_time());

    // oidcc-id-token-hint: prompt=none with the first ID token as the hint.
    let (url, csrf, nonce) = rp
        .request()
        .add_prompt(CoreAuthPrompt::None)
        .set_id_token_hint(&first_a.id_token)
        .url();
    let cb = redirect(a.get(url.as_str()).await);
    let t = rp
        .redeem(&code_of(s, &cb, BASIC_CB, &csrf), Some(&nonce), None)
        .await;
    assert_eq!(t.sub(), first_a.sub());

    // oidcc-max-age-10000: the sign-in is recent enough, no page; auth_time
    // (required with max_age, OIDC Core §2) is the first sign-in's.
    let (url, csrf, nonce) = rp.request().set_max_age(Duration::from_secs(10_000)).url();
    let cb = redirect(a.get(url.as_str()).await);
    let t = rp
        .redeem(&code_of(s, &cb, BASIC_CB, &csrf), Some(&nonce), None)
        .await;
    assert_eq!(t.auth_time(), first_a.auth_time());

    // The server's own clock is the point of what follows: both sign-ins
    // must age past max_age=1 (whole seconds), and a new sign-in must have
    // a later auth_time.
    tokio::time::sleep(Duration::from_millis(2100)).await;

    // oidcc-max-age-1: the login page again, then a later auth_time.
    let (url, csrf, nonce) = rp.request().set_max_age(Duration::from_secs(1)).url();
    let login = page(b.get(url.as_str()).await);
    assert!(is_login(&login), "max_age=1: {}", login.body);
    let cb = redirect(through(&b, End::Page(login), IVY).await);
    let t = rp
        .redeem(&code_of(s, &cb, BASIC_CB, &csrf), Some(&nonce), None)
        .await;
    assert_eq!(t.sub(), first_b.sub());
    assert!(
        t.auth_time() > first_b.auth_time(),
        "{} > {}",
        t.auth_time(),
        first_b.auth_time()
    );

    // oidcc-prompt-login: the login page even with a live session.
    let (url, csrf, nonce) = rp.request().add_prompt(CoreAuthPrompt::Login).url();
    let login = page(a.get(url.as_str()).await);
    assert!(is_login(&login), "prompt=login: {}", login.body);
    let cb = redirect(through(&a, End::Page(login), IVY).await);
    let t = rp
        .redeem(&code_of(s, &cb, BASIC_CB, &csrf), Some(&nonce), None)
        .await;
    assert_eq!(t.sub(), first_a.sub());
    assert!(
        t.auth_time() > first_a.auth_time(),
        "{} > {}",
        t.auth_time(),
        first_a.auth_time()
    );
}
both!(oidcc_prompt_max_age_id_token_hint, CONFIG);

/// oidcc-codereuse (and -30seconds, without the wait), oidcc-refresh-token,
/// oidcc-server-client-secret-post.
async fn oidcc_codereuse_refresh_token_client_secret_post(s: &Server) {
    let rp = Rp::discover(s, BASIC, BASIC_CB).await;
    let b = Browser::new(s);

    // oidcc-codereuse: the second use is invalid_grant, and the tokens of
    // the first are revoked (RFC 6749 §4.1.2).
    let (url, csrf, nonce) = rp
        .request()
        .add_scope(Scope::new("offline_access".into()))
        .url();
    let cb = redirect(through(&b, b.get(url.as_str()).await, IVY).await);
    let code = code_of(s, &cb, BASIC_CB, &csrf);
    let first = rp.redeem(&code, Some(&nonce), None).await;
    let rt = first
        .tokens
        .refresh_token()
        .expect("offline_access gives a refresh token")
        .secret()
        .clone();
    assert_eq!(s.userinfo_status(first.access_token()).await, 200);
    let (status, h, body) = parts(
        s.post_form(
            "/token",
            Some(BASIC),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", BASIC_CB),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_no_store(&h);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "the authorization code was already used"})
    );
    assert_eq!(s.userinfo_status(first.access_token()).await, 401);
    let (status, _, body) = parts(
        s.post_form(
            "/token",
            Some(BASIC),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");

    // oidcc-refresh-token: offline_access with prompt=consent (OIDC Core
    // §11): the consent page again, then a refresh token.
    let (url, csrf, nonce) = rp
        .request()
        .add_scope(Scope::new("offline_access".into()))
        .add_prompt(CoreAuthPrompt::Consent)
        .url();
    let consent = page(b.get(url.as_str()).await);
    assert!(
        consent.body.contains("action=\"/consent\""),
        "{}",
        consent.body
    );
    let cb = redirect(b.consent(&consent, "approve").await);
    let t = rp
        .redeem(&code_of(s, &cb, BASIC_CB, &csrf), Some(&nonce), None)
        .await;
    let rt = t.tokens.refresh_token().expect("a refresh token").clone();
    // client2 may not use it (RFC 6749 §6); that does not burn it.
    let (status, _, body) = parts(
        s.post_form(
            "/token",
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.secret()),
                ("client_id", POST.0),
                ("client_secret", POST.1),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "the refresh token was issued to another client"})
    );
    // The crate refreshes: a new ID token for the same sign-in, no nonce
    // (OIDC Core §12.2).
    let refreshed = rp
        .client
        .exchange_refresh_token(&rt)
        .expect("token endpoint discovered")
        .request_async(&rp.http)
        .await
        .expect("refresh");
    let r = rp.verified(refreshed, None);
    assert_eq!(r.claims.issuer(), t.claims.issuer());
    assert_eq!(r.sub(), t.sub());
    assert_eq!(r.claims.audiences(), t.claims.audiences());
    assert_eq!(r.auth_time(), t.auth_time());
    assert_ne!(
        r.tokens.refresh_token().map(|x| x.secret()),
        Some(rt.secret()),
        "rotated"
    );
    assert_eq!(rp.userinfo(&r).await.subject().as_str(), t.sub());

    // oidcc-server-client-secret-post: client2's flow, its secret in the
    // token request's body.
    let rp2 = Rp::discover(s, POST, POST_CB).await;
    let rp2 = Rp {
        client: rp2.client.set_auth_type(AuthType::RequestBody),
        ..rp2
    };
    let t2 = rp2.flow(s, &b, rp2.request()).await;
    assert_eq!(t2.sub(), t.sub());
    let aud: Vec<&str> = t2.claims.audiences().iter().map(|a| a.as_str()).collect();
    assert_eq!(aud, [POST.0]);
    assert_eq!(rp2.userinfo(&t2).await.subject().as_str(), t.sub());
}
both!(oidcc_codereuse_refresh_token_client_secret_post, CONFIG);

/// oidcc-response-type-missing, oidcc-ensure-registered-redirect-uri,
/// oidcc-ensure-redirect-uri-in-authorization-request, and the request
/// object modules.
async fn oidcc_authorization_request_errors(s: &Server) {
    // oidcc-response-type-missing: client and redirect URI are fine, so
    // the error goes back to the client.
    let r = raw_get(
        s,
        &authz(
            s,
            &[
                ("client_id", BASIC.0),
                ("redirect_uri", BASIC_CB),
                ("scope", "openid"),
                ("state", "st-rtm"),
                ("nonce", &random()),
            ],
        ),
    )
    .await;
    let to = assert_error_redirect(s, &r, BASIC_CB, "invalid_request", Some("st-rtm"));
    assert_eq!(
        query(&to, "error_description").as_deref(),
        Some("missing parameter: response_type")
    );

    // oidcc-ensure-registered-redirect-uri: an error page, never a redirect.
    for bad in [
        format!("{BASIC_CB}/{}", random()),
        format!("{BASIC_CB}?{}", random()),
        "https://attacker.example.com/cb".to_owned(),
    ] {
        let r = raw_get(
            s,
            &authz(
                s,
                &[
                    ("response_type", "code"),
                    ("client_id", BASIC.0),
                    ("redirect_uri", &bad),
                    ("scope", "openid"),
                    ("state", "st-reg"),
                    ("nonce", &random()),
                ],
            ),
        )
        .await;
        assert_error_page(r, "redirect_uri is not registered for this client", &bad).await;
    }

    // oidcc-ensure-redirect-uri-in-authorization-request: required (OIDC
    // Core §3.1.2.1), even with one URI registered.
    let r = raw_get(
        s,
        &authz(
            s,
            &[
                ("response_type", "code"),
                ("client_id", BASIC.0),
                ("scope", "openid"),
                ("state", "st-none"),
                ("nonce", &random()),
            ],
        ),
    )
    .await;
    assert_error_page(r, "missing parameter: redirect_uri", "no redirect_uri").await;

    // oidcc-unsigned-request-object-supported-correctly-or-rejected-as-
    // unsupported: unsigned objects are not advertised ...
    let meta = s.get_json("/.well-known/openid-configuration").await;
    assert_eq!(meta["request_parameter_supported"], true);
    let algs = meta["request_object_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(!algs.is_empty());
    assert!(!algs.contains(&json!("none")), "{meta}");
    // ... and one sent anyway, with OIDC Core §6.1's outer parameters, is
    // refused: no code is issued from parameters nobody signed.
    let now = unix_now();
    let claims = json!({
        "iss": BASIC.0,
        "aud": s.base,
        "iat": now,
        "exp": now + 300,
        "client_id": BASIC.0,
        "response_type": "code",
        "redirect_uri": BASIC_CB,
        "scope": "openid",
        "state": "st-ro",
        "nonce": random(),
    });
    let b64 = |v: &Value| frontdesk_jose::b64url(&serde_json::to_vec(v).unwrap());
    let object = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims));
    let r = raw_get(
        s,
        &authz(
            s,
            &[
                ("response_type", "code"),
                ("client_id", BASIC.0),
                ("redirect_uri", BASIC_CB),
                ("scope", "openid"),
                ("request", &object),
            ],
        ),
    )
    .await;
    assert_error_page(
        r,
        "unsigned request objects (alg none) are refused (RFC 9101)",
        "alg none request object",
    )
    .await;

    // oidcc-request-uri-unsigned-…: not applicable to static clients; a
    // request_uri to fetch is not supported (discovery says so) and refused.
    assert_eq!(meta["request_uri_parameter_supported"], false);
    let r = raw_get(
        s,
        &authz(
            s,
            &[
                ("response_type", "code"),
                ("client_id", BASIC.0),
                ("redirect_uri", BASIC_CB),
                ("scope", "openid"),
                ("request_uri", "https://rp.example.com/request.jwt"),
            ],
        ),
    )
    .await;
    assert_error_page(
        r,
        "request_uri must come from the pushed authorization request endpoint of this server",
        "request_uri by reference",
    )
    .await;
}
both!(oidcc_authorization_request_errors, CONFIG);

// ----- Config OP -----

/// oidcc-discovery-endpoint-verification (Config OP), with the metadata the
/// Form Post and RP-Initiated Logout plans need
/// (oidcc-rp-initiated-logout-discovery-endpoint-verification), and the
/// skips the Basic plan derives from it (oidcc-idtoken-unsigned).
async fn oidcc_discovery_endpoint_verification(s: &Server) {
    // The crate's discovery parses the document and checks its issuer
    // against the URL it asked (OIDC Discovery §4.3), and fetches the JWKS.
    let rp = Rp::discover(s, BASIC, BASIC_CB).await;
    assert_eq!(rp.metadata.issuer().as_str(), s.base);
    assert!(!rp.metadata.jwks().keys().is_empty());
    assert_eq!(rp.end_session().as_str(), s.url("/logout"));

    let r = s
        .http
        .get(s.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let m: Value = r.json().await.unwrap();
    // The issuer is the URL the document was found under, exactly.
    assert_eq!(m["issuer"], s.base);
    assert!(!s.base.ends_with('/'));
    for (key, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks.json"),
        ("end_session_endpoint", "/logout"),
    ] {
        assert_eq!(m[key], s.url(path), "{key}");
    }
    let list = |key: &str| -> Vec<String> {
        m[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} is a list: {m}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    assert!(list("response_types_supported").contains(&"code".to_owned()));
    let subject_types = list("subject_types_supported");
    assert!(!subject_types.is_empty());
    assert!(
        subject_types
            .iter()
            .all(|t| t == "public" || t == "pairwise"),
        "{subject_types:?}"
    );
    let id_algs = list("id_token_signing_alg_values_supported");
    assert!(id_algs.contains(&"RS256".to_owned()), "{id_algs:?}");
    // So the suite skips oidcc-idtoken-unsigned.
    assert!(!id_algs.contains(&"none".to_owned()), "{id_algs:?}");
    assert!(list("scopes_supported").contains(&"openid".to_owned()));
    let grants = list("grant_types_supported");
    for g in ["authorization_code", "refresh_token"] {
        assert!(grants.contains(&g.to_owned()), "{grants:?}");
    }
    let auth = list("token_endpoint_auth_methods_supported");
    for a in ["client_secret_basic", "client_secret_post"] {
        assert!(auth.contains(&a.to_owned()), "{auth:?}");
    }
    // The Form Post plan's response mode.
    let modes = list("response_modes_supported");
    for mode in ["query", "form_post"] {
        assert!(modes.contains(&mode.to_owned()), "{modes:?}");
    }
    let claims = list("claims_supported");
    for c in [
        "sub",
        "iss",
        "auth_time",
        "name",
        "email",
        "address",
        "phone_number",
    ] {
        assert!(claims.contains(&c.to_owned()), "{c}: {claims:?}");
    }
    for flag in [
        "claims_parameter_supported",
        "request_parameter_supported",
        "request_uri_parameter_supported",
    ] {
        assert!(m[flag].is_boolean(), "{flag}: {m}");
    }
    if let Some(algs) = m.get("userinfo_signing_alg_values_supported") {
        assert!(!algs.as_array().unwrap().contains(&json!("none")));
    }

    // jwks_uri answers.
    let r = s
        .http
        .get(m["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let jwks: Value = r.json().await.unwrap();
    assert!(!jwks["keys"].as_array().unwrap().is_empty());
}
both!(oidcc_discovery_endpoint_verification, CONFIG);

/// The Config plan's JWKS checks: every key has a `kid` (distinct), a
/// known type, no private or symmetric material; an RSA key for RS256.
async fn oidcc_config_jwks(s: &Server) {
    let r = s.http.get(s.url("/jwks.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let jwks: Value = r.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert!(!keys.is_empty());
    let mut kids = Vec::new();
    for k in keys {
        let kid = k["kid"].as_str().unwrap_or_else(|| panic!("no kid: {k}"));
        assert!(!kid.is_empty(), "{k}");
        kids.push(kid.to_owned());
        let kty = k["kty"].as_str().unwrap_or_else(|| panic!("no kty: {k}"));
        assert!(["RSA", "EC", "OKP"].contains(&kty), "{k}");
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(k.get(private).is_none(), "private member {private}: {k}");
        }
        if let Some(u) = k.get("use") {
            assert_eq!(u, "sig", "{k}");
        }
        if kty == "RSA" {
            assert!(k["n"].is_string() && k["e"].is_string(), "{k}");
        }
    }
    let mut distinct = kids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), kids.len(), "kids are distinct: {kids:?}");
    assert!(
        keys.iter()
            .any(|k| k["kty"] == "RSA" && k.get("alg").is_none_or(|a| a == "RS256")),
        "an RS256 key: {jwks}"
    );
    // The crate reads the same set.
    let rp = Rp::discover(s, BASIC, BASIC_CB).await;
    let crate_kids: Vec<String> = rp
        .metadata
        .jwks()
        .keys()
        .iter()
        .map(|k| {
            use openidconnect::JsonWebKey;
            k.key_id().expect("kid").as_str().to_owned()
        })
        .collect();
    for kid in &crate_kids {
        assert!(kids.contains(kid), "{kid}");
    }
}
both!(oidcc_config_jwks, CONFIG);

// ----- Form Post OP -----

/// The hidden inputs of a form_post page, in order.
fn form_inputs(p: &Page) -> Vec<(String, String)> {
    let attr = |seg: &str, name: &str| -> String {
        let marker = format!("{name}=\"");
        let at = seg
            .find(&marker)
            .unwrap_or_else(|| panic!("{name} in {seg}"))
            + marker.len();
        let end = seg[at..].find('"').unwrap();
        crate::browser::unescape(&seg[at..at + end])
    };
    p.body
        .split("<input")
        .skip(1)
        .map(|seg| {
            let seg = &seg[..seg.find('>').unwrap()];
            (attr(seg, "name"), attr(seg, "value"))
        })
        .collect()
}

/// A form_post page to `to`: its hidden fields.
fn form_post_to(p: &Page, to: &str) -> Vec<(String, String)> {
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("<form method=\"post\""), "{}", p.body);
    assert!(
        crate::browser::unescape(&p.body).contains(&format!("action=\"{to}\"")),
        "to {to}: {}",
        p.body
    );
    form_inputs(p)
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The Form Post OP plan: the Basic modules with response_mode=form_post —
/// oidcc-server, oidcc-prompt-none-not-logged-in,
/// oidcc-response-type-missing, oidcc-ensure-registered-redirect-uri. The
/// other modules differ from the Basic plan's only in the delivery tested
/// here.
async fn oidcc_response_mode_form_post(s: &Server) {
    let rp = Rp::discover(s, BASIC, BASIC_CB).await;

    // oidcc-prompt-none-not-logged-in: the error, posted.
    let fresh = Browser::new(s);
    let (url, csrf, _) = rp
        .request()
        .add_prompt(CoreAuthPrompt::None)
        .add_extra_param("response_mode", "form_post")
        .url();
    let fields = form_post_to(&page(fresh.get(url.as_str()).await), BASIC_CB);
    assert_eq!(
        field(&fields, "error"),
        Some("login_required"),
        "{fields:?}"
    );
    assert_eq!(field(&fields, "state"), Some(csrf.secret().as_str()));
    assert_eq!(field(&fields, "iss"), Some(s.base.as_str()));
    assert_eq!(field(&fields, "code"), None);

    // oidcc-server: through login and consent, the code posted to the
    // client with state and iss; the crate redeems it.
    let b = Browser::new(s);
    let (url, csrf, nonce) = rp
        .request()
        .add_extra_param("response_mode", "form_post")
        .url();
    let end = through(&b, b.get(url.as_str()).await, IVY).await;
    let fields = form_post_to(&page(end), BASIC_CB);
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["code", "state", "iss"]);
    assert_eq!(field(&fields, "state"), Some(csrf.secret().as_str()));
    assert_eq!(field(&fields, "iss"), Some(s.base.as_str()));
    let t = rp
        .redeem(field(&fields, "code").unwrap(), Some(&nonce), None)
        .await;
    assert_eq!(rp.userinfo(&t).await.subject().as_str(), t.sub());
    // Again from the session: posted at once.
    let (url, csrf, nonce) = rp
        .request()
        .add_extra_param("response_mode", "form_post")
        .url();
    let fields = form_post_to(&page(b.get(url.as_str()).await), BASIC_CB);
    assert_eq!(field(&fields, "state"), Some(csrf.secret().as_str()));
    let again = rp
        .redeem(field(&fields, "code").unwrap(), Some(&nonce), None)
        .await;
    assert_eq!(again.sub(), t.sub());

    // oidcc-response-type-missing: the error, posted.
    let url = authz(
        s,
        &[
            ("client_id", BASIC.0),
            ("redirect_uri", BASIC_CB),
            ("scope", "openid"),
            ("state", "st-fp"),
            ("nonce", &random()),
            ("response_mode", "form_post"),
        ],
    );
    let fields = form_post_to(&page(b.get(&url).await), BASIC_CB);
    assert_eq!(field(&fields, "error"), Some("invalid_request"));
    assert_eq!(
        field(&fields, "error_description"),
        Some("missing parameter: response_type")
    );
    assert_eq!(field(&fields, "state"), Some("st-fp"));
    assert_eq!(field(&fields, "code"), None);

    // oidcc-ensure-registered-redirect-uri: an error page, no form to it.
    let bad = format!("{BASIC_CB}/{}", random());
    let url = authz(
        s,
        &[
            ("response_type", "code"),
            ("client_id", BASIC.0),
            ("redirect_uri", &bad),
            ("scope", "openid"),
            ("state", "st-fp"),
            ("nonce", &random()),
            ("response_mode", "form_post"),
        ],
    );
    assert_error_page(
        raw_get(s, &url).await,
        "redirect_uri is not registered for this client",
        "form_post to an unregistered URI",
    )
    .await;
}
both!(oidcc_response_mode_form_post, CONFIG);

// ----- RP-Initiated Logout OP -----

/// A new browser signed in as ivy at the basic client: it and its ID token.
async fn signed_in(s: &Server, rp: &Rp) -> (Browser, CoreIdToken) {
    let b = Browser::new(s);
    let t = rp.flow(s, &b, rp.request()).await;
    (b, t.id_token)
}

/// Whether `b`'s session is live: prompt=none gives a code, or login_required.
async fn session_live(s: &Server, rp: &Rp, b: &Browser) -> bool {
    let (url, csrf, _) = rp.request().add_prompt(CoreAuthPrompt::None).url();
    let cb = redirect(b.get(url.as_str()).await);
    if query(&cb, "code").is_some() {
        code_of(s, &cb, BASIC_CB, &csrf);
        return true;
    }
    assert_error_at(s, &cb, BASIC_CB, "login_required", csrf.secret());
    false
}

fn bye() -> PostLogoutRedirectUrl {
    PostLogoutRedirectUrl::new(BASIC_BYE.into()).unwrap()
}

/// The logout confirmation page (a form back to /logout), not a redirect.
fn assert_confirmation(p: &Page) {
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("<h1>Sign out?</h1>"), "{}", p.body);
    assert!(p.body.contains("action=\"/logout\""), "{}", p.body);
}

fn assert_signed_out_page(p: &Page) {
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("You are signed out"), "{}", p.body);
}

/// Confirms on the confirmation page `p`.
async fn confirm(b: &Browser, p: &Page) -> End {
    b.post(
        "/logout",
        &[
            ("csrf", &p.input("csrf").unwrap()),
            ("request", &p.input("request").unwrap()),
        ],
    )
    .await
}

/// oidcc-rp-initiated-logout, -no-state, -no-post-logout-redirect-uri,
/// -no-id-token-hint.
async fn oidcc_rp_initiated_logout(s: &Server) {
    let rp = Rp::discover(s, BASIC, BASIC_CB).await;

    // oidcc-rp-initiated-logout: the crate's logout request with the ID
    // token, a registered URI and state: signed out, and back with state.
    let (b, id) = signed_in(s, &rp).await;
    let url = LogoutRequest::from(rp.end_session())
        .set_id_token_hint(&id)
        .set_post_logout_redirect_uri(bye())
        .set_state(CsrfToken::new("bye-state-1".into()))
        .http_get_url();
    let to = redirect(b.get(url.as_str()).await);
    assert_eq!(to.as_str(), format!("{BASIC_BYE}?state=bye-state-1"));
    assert!(!session_live(s, &rp, &b).await, "signed out");

    // oidcc-rp-initiated-logout-no-state: back without state.
    let (b, id) = signed_in(s, &rp).await;
    let url = LogoutRequest::from(rp.end_session())
        .set_id_token_hint(&id)
        .set_post_logout_redirect_uri(bye())
        .http_get_url();
    let to = redirect(b.get(url.as_str()).await);
    assert_eq!(to.as_str(), BASIC_BYE);
    assert!(!session_live(s, &rp, &b).await, "signed out");

    // oidcc-rp-initiated-logout-no-post-logout-redirect-uri: signed out,
    // and our own page says so.
    let (b, id) = signed_in(s, &rp).await;
    let url = LogoutRequest::from(rp.end_session())
        .set_id_token_hint(&id)
        .set_state(CsrfToken::new("bye-state-2".into()))
        .http_get_url();
    assert_signed_out_page(&page(b.get(url.as_str()).await));
    assert!(!session_live(s, &rp, &b).await, "signed out");

    // oidcc-rp-initiated-logout-no-id-token-hint: client_id instead of the
    // hint: the user is asked first, then sent back with state.
    let (b, _) = signed_in(s, &rp).await;
    let url = LogoutRequest::from(rp.end_session())
        .set_client_id(ClientId::new(BASIC.0.into()))
        .set_post_logout_redirect_uri(bye())
        .set_state(CsrfToken::new("bye-state-3".into()))
        .http_get_url();
    let confirmation = page(b.get(url.as_str()).await);
    assert_confirmation(&confirmation);
    assert!(
        session_live(s, &rp, &b).await,
        "not before the user confirms"
    );
    let to = redirect(confirm(&b, &confirmation).await);
    assert_eq!(to.as_str(), format!("{BASIC_BYE}?state=bye-state-3"));
    assert!(!session_live(s, &rp, &b).await, "signed out");
}
both!(oidcc_rp_initiated_logout, CONFIG);

/// oidcc-rp-initiated-logout-bad-post-logout-redirect-uri,
/// -query-added-to-post-logout-redirect-uri, -modified-id-token-hint,
/// -bad-id-token-hint, -no-params, -only-state: never a redirect.
async fn oidcc_rp_initiated_logout_refusals(s: &Server) {
    let rp = Rp::discover(s, BASIC, BASIC_CB).await;
    let (b, id) = signed_in(s, &rp).await;
    let raw = id.to_string();

    // An ID token signed by someone else (the suite's: HS256 with the
    // client secret), for -bad-id-token-hint.
    let (_, payload) = jwt_parts(&raw);
    let b64 = |v: &Value| frontdesk_jose::b64url(&serde_json::to_vec(v).unwrap());
    let input = format!(
        "{}.{}",
        b64(&json!({"alg": "HS256", "typ": "JWT"})),
        b64(&payload)
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, BASIC.1.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    let foreign = format!("{input}.{}", frontdesk_jose::b64url(tag.as_ref()));
    // Ours with its signature changed, for -modified-id-token-hint.
    let (signed, signature) = raw.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let modified = format!("{signed}.{flipped}{}", &signature[1..]);

    for (module, hint, to, why) in [
        (
            "bad-post-logout-redirect-uri",
            raw.as_str(),
            "https://attacker.example.com/logged-out".to_owned(),
            "post_logout_redirect_uri is not registered for this client",
        ),
        (
            "query-added-to-post-logout-redirect-uri",
            raw.as_str(),
            format!("{BASIC_BYE}?foo=bar"),
            "post_logout_redirect_uri is not registered for this client",
        ),
        (
            "modified-id-token-hint",
            modified.as_str(),
            BASIC_BYE.to_owned(),
            "id_token_hint is invalid",
        ),
        (
            "bad-id-token-hint",
            foreign.as_str(),
            BASIC_BYE.to_owned(),
            "id_token_hint is invalid",
        ),
    ] {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("id_token_hint", hint)
            .append_pair("post_logout_redirect_uri", &to)
            .append_pair("state", "bye-refused");
        let url = format!("{}?{}", rp.end_session().as_str(), q.finish());
        let r = b.http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 400, "{module}");
        assert!(r.headers().get("location").is_none(), "{module}");
        let body = r.text().await.unwrap();
        assert!(body.contains(why), "{module}: {body}");
    }

    // oidcc-rp-initiated-logout-no-params: asked first, no redirect; then
    // signed out.
    let confirmation = page(b.get(rp.end_session().as_str()).await);
    assert_confirmation(&confirmation);
    assert!(
        session_live(s, &rp, &b).await,
        "not before the user confirms"
    );
    assert_signed_out_page(&page(confirm(&b, &confirmation).await));
    assert!(!session_live(s, &rp, &b).await, "signed out");

    // oidcc-rp-initiated-logout-only-state: the same; state is no place to
    // go back to.
    let (b, _) = signed_in(s, &rp).await;
    let url = LogoutRequest::from(rp.end_session())
        .set_state(CsrfToken::new("bye-only-state".into()))
        .http_get_url();
    let confirmation = page(b.get(url.as_str()).await);
    assert_confirmation(&confirmation);
    assert_signed_out_page(&page(confirm(&b, &confirmation).await));
    assert!(!session_live(s, &rp, &b).await, "signed out");
}
both!(oidcc_rp_initiated_logout_refusals, CONFIG);
