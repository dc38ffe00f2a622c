//! The independent `openidconnect` crate as the relying party, configured
//! only from discovery: authorize with PKCE S256, nonce and state of its
//! own, exchange the code, verify the ID token with its own verifier, call
//! userinfo and refresh.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

use crate::both;
use crate::browser::{ALICE, APP1, APP1_CB, Browser, SECURITY_CONFIG, drive, query};
use crate::support::Server;

async fn oidc_interop_openidconnect_crate_full_flow(s: &Server) {
    let http = s.http.clone();
    let send = |req: openidconnect::HttpRequest| {
        let http = http.clone();
        async move {
            let (parts, body) = req.into_parts();
            let mut r = http.request(parts.method, parts.uri.to_string()).body(body);
            for (k, v) in &parts.headers {
                r = r.header(k, v);
            }
            let resp = r.send().await?;
            let mut out = openidconnect::http::Response::builder().status(resp.status().as_u16());
            for (k, v) in resp.headers() {
                out = out.header(k.as_str(), v.as_bytes());
            }
            let bytes = resp.bytes().await?;
            Ok::<_, reqwest::Error>(out.body(bytes.to_vec()).expect("response"))
        }
    };

    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(s.base.clone()).unwrap(), &send)
            .await
            .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(APP1.0.into()),
        Some(ClientSecret::new(APP1.1.into())),
    )
    .set_redirect_uri(RedirectUrl::new(APP1_CB.into()).unwrap());

    let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(pkce_challenge)
        .url();
    assert!(
        auth_url.as_str().starts_with(&s.url("/authorize?")),
        "{auth_url}"
    );

    let b = Browser::new(s);
    let cb = drive(&b, auth_url.as_str(), ALICE).await;
    assert_eq!(cb.as_str().split('?').next(), Some(APP1_CB));
    assert_eq!(
        query(&cb, "state").as_deref(),
        Some(csrf.secret().as_str()),
        "the crate's state comes back"
    );
    assert_eq!(query(&cb, "iss").as_deref(), Some(s.base.as_str()));
    let code = query(&cb, "code").unwrap();

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .expect("token endpoint discovered")
        .set_pkce_verifier(pkce_verifier)
        .request_async(&send)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("the crate verifies the ID token");
    assert_eq!(claims.issuer().as_str(), s.base);
    assert_eq!(
        claims
            .audiences()
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>(),
        [APP1.0]
    );
    assert_eq!(
        claims.nonce().map(|n| n.secret().as_str()),
        Some(nonce.secret().as_str())
    );
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("alice@example.com")
    );
    // at_hash, computed by the crate.
    let alg = id_token.signing_alg().unwrap();
    assert_eq!(
        format!("{alg:?}"),
        "RsaSsaPkcs1V15Sha256",
        "app1 signs with RS256"
    );
    let key = id_token.signing_key(&verifier).unwrap();
    let expected = AccessTokenHash::from_token(tokens.access_token(), alg, key).unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected));

    let info: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .expect("userinfo endpoint discovered")
        .request_async(&send)
        .await
        .expect("userinfo");
    assert_eq!(info.subject(), claims.subject());
    assert_eq!(info.email().map(|e| e.as_str()), Some("alice@example.com"));
    assert_eq!(info.preferred_username().map(|u| u.as_str()), Some("alice"));

    let rt = tokens
        .refresh_token()
        .expect("offline_access gives a refresh token");
    let refreshed = client
        .exchange_refresh_token(rt)
        .expect("token endpoint discovered")
        .request_async(&send)
        .await
        .expect("refresh");
    let new_rt = refreshed.refresh_token().expect("rotated refresh token");
    assert_ne!(new_rt.secret(), rt.secret());
    let refreshed_id = refreshed.id_token().expect("a refreshed ID token");
    // OIDC Core §12.2: no nonce in a refreshed ID token; the verifier is told so.
    let refreshed_claims = refreshed_id
        .claims(&client.id_token_verifier(), |n: Option<&Nonce>| match n {
            None => Ok(()),
            Some(_) => Err("unexpected nonce".to_owned()),
        })
        .expect("the refreshed ID token verifies");
    assert_eq!(refreshed_claims.subject(), claims.subject());
    assert_eq!(refreshed_claims.auth_time(), claims.auth_time());
    let info: CoreUserInfoClaims = client
        .user_info(
            refreshed.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&send)
        .await
        .expect("userinfo with the refreshed token");
    assert_eq!(info.subject(), claims.subject());
}
both!(oidc_interop_openidconnect_crate_full_flow, SECURITY_CONFIG);
