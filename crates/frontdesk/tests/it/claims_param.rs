//! The `claims` request parameter (OpenID Connect Core §5.5) and the
//! `address` and `phone` scopes (§5.4), over real HTTP on SQLite and
//! PostgreSQL. The names carry the OpenID Foundation conformance modules
//! they stand for (`oidcc-claims-essential`, `oidcc-scope-address`,
//! `oidcc-scope-phone`, `oidcc-scope-all`). Essential `acr` (§5.5.1.1) is in
//! mfa.rs, beside the other step-up tests.

use serde_json::{Value, json};

use crate::both;
use crate::browser::{Browser, End, Page, authorize_url, page, pkce, query, redirect};
use crate::support::{Server, jwt_parts};

const RP: (&str, &str) = ("claims-rp", "claims-rp-secret-0123456789abcdef");
const RP_CB: &str = "https://claims-rp.example.com/cb";
const NARROW: (&str, &str) = ("narrow-rp", "narrow-rp-secret-0123456789abcdef");
const NARROW_CB: &str = "https://narrow-rp.example.com/cb";
const CAROL: (&str, &str) = ("carol", "carol-password-123456");

const CONFIG: &str = r#"
[[clients]]
client_id = "claims-rp"
client_secret = "claims-rp-secret-0123456789abcdef"
client_name = "Claims RP"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://claims-rp.example.com/cb"]
scope = "openid profile email address phone offline_access"

[[clients]]
client_id = "narrow-rp"
client_secret = "narrow-rp-secret-0123456789abcdef"
client_name = "Narrow RP"
grant_types = ["authorization_code"]
redirect_uris = ["https://narrow-rp.example.com/cb"]
scope = "openid profile"

[[users]]
username = "carol"
password = "carol-password-123456"
email = "carol@example.com"
email_verified = true
name = "Carol Claims"
given_name = "Carol"
family_name = "Claims"
phone_number = "+44 20 7946 0000"
phone_number_verified = true
address = { street_address = "1 Front Desk Lane", locality = "London", postal_code = "EC1A 1AA", country = "GB" }
"#;

/// Signs carol in at the login page `end` shows; returns where it went.
async fn sign_in(b: &Browser, end: End) -> End {
    let login = page(end);
    assert!(login.body.contains("name=\"password\""), "{}", login.body);
    b.login(&login, CAROL).await
}

/// The consent page's list of what the client asks for.
fn consent_items(p: &Page) -> String {
    assert!(p.body.contains("action=\"/consent\""), "{}", p.body);
    crate::browser::unescape(&p.body)
}

/// Code for tokens: the token response.
async fn tokens(s: &Server, client: (&str, &str), cb: &str, code: &str, verifier: &str) -> Value {
    let r = s
        .post_form(
            "/token",
            Some(client),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", cb),
                ("code_verifier", verifier),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn userinfo(s: &Server, at: &str) -> Value {
    let r = s
        .http
        .get(s.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn id_claims(tokens: &Value) -> Value {
    jwt_parts(tokens["id_token"].as_str().unwrap()).1
}

both!(oidcc_claims_essential_one_by_one_at_each_place, CONFIG);
async fn oidcc_claims_essential_one_by_one_at_each_place(s: &Server) {
    let disc = s.get_json("/.well-known/openid-configuration").await;
    assert_eq!(disc["claims_parameter_supported"], true);
    for scope in ["address", "phone"] {
        assert!(
            disc["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(scope))
        );
    }
    for claim in ["address", "phone_number", "phone_number_verified"] {
        assert!(
            disc["claims_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(claim))
        );
    }

    // Scope openid only; `name` asked for at userinfo (essential), `email`
    // in the ID token.
    let claims = r#"{"userinfo":{"name":{"essential":true}},"id_token":{"email":null}}"#;
    let b = Browser::new(s);
    let (verifier, challenge) = pkce();
    let url = authorize_url(
        s,
        RP.0,
        RP_CB,
        "openid offline_access",
        &challenge,
        &[("claims", claims)],
    );
    let consent = page(sign_in(&b, b.get(&url).await).await);
    // The consent page asks for what those claims stand for.
    let items = consent_items(&consent);
    assert!(items.contains("see your profile"), "{items}");
    assert!(items.contains("see your email address"), "{items}");
    assert!(!items.contains("see your phone number"), "{items}");
    let cb = redirect(b.consent(&consent, "approve").await);
    let t = tokens(s, RP, RP_CB, &query(&cb, "code").unwrap(), &verifier).await;
    assert_eq!(t["scope"], "openid offline_access", "the scope is as asked");

    let id = id_claims(&t);
    assert_eq!(id["email"], "carol@example.com");
    // Only what was named: email_verified is a claim of its own.
    for absent in ["email_verified", "name", "given_name", "preferred_username"] {
        assert!(id.get(absent).is_none(), "{absent} in {id}");
    }
    let info = userinfo(s, t["access_token"].as_str().unwrap()).await;
    assert_eq!(info["name"], "Carol Claims");
    // Only the claim asked for, not the rest of the profile scope.
    for absent in ["given_name", "family_name", "email", "preferred_username"] {
        assert!(info.get(absent).is_none(), "{absent} in {info}");
    }

    // The grant keeps the request: a refreshed ID token still has email.
    let r = s
        .post_form(
            "/token",
            Some(RP),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let refreshed: Value = r.json().await.unwrap();
    assert_eq!(id_claims(&refreshed)["email"], "carol@example.com");
    let info = userinfo(s, refreshed["access_token"].as_str().unwrap()).await;
    assert_eq!(info["name"], "Carol Claims");

    // The approval covered those scopes: the same request again goes
    // straight back with a code.
    let (_, challenge) = pkce();
    let url = authorize_url(
        s,
        RP.0,
        RP_CB,
        "openid offline_access",
        &challenge,
        &[("claims", claims)],
    );
    let again = redirect(b.get(&url).await);
    assert!(query(&again, "code").is_some(), "{again}");
}

both!(oidcc_scope_address_phone_and_all, CONFIG);
async fn oidcc_scope_address_phone_and_all(s: &Server) {
    let b = Browser::new(s);
    let (verifier, challenge) = pkce();
    let url = authorize_url(
        s,
        RP.0,
        RP_CB,
        "openid profile email address phone",
        &challenge,
        &[],
    );
    let consent = page(sign_in(&b, b.get(&url).await).await);
    let items = consent_items(&consent);
    assert!(items.contains("see your postal address"), "{items}");
    assert!(items.contains("see your phone number"), "{items}");
    let cb = redirect(b.consent(&consent, "approve").await);
    let t = tokens(s, RP, RP_CB, &query(&cb, "code").unwrap(), &verifier).await;
    let info = userinfo(s, t["access_token"].as_str().unwrap()).await;
    assert_eq!(
        info["address"],
        json!({
            "street_address": "1 Front Desk Lane",
            "locality": "London",
            "postal_code": "EC1A 1AA",
            "country": "GB"
        })
    );
    assert_eq!(info["phone_number"], "+44 20 7946 0000");
    assert_eq!(info["phone_number_verified"], true);
    assert_eq!(info["given_name"], "Carol");
    assert_eq!(info["email"], "carol@example.com");

    // Administrators set them (a merge patch; an unknown address member
    // is refused), and userinfo says so at once.
    let v = s
        .admin_expect(
            reqwest::Method::PATCH,
            "/admin/users/carol",
            Some(json!({"claims": {
                "phone_number": "+1 555 0100",
                "phone_number_verified": null,
                "address": {"formatted": "2 Back Street\nLeeds"}
            }})),
            200,
        )
        .await;
    assert_eq!(v["phone_number"], "+1 555 0100");
    assert!(v.get("phone_number_verified").is_none(), "{v}");
    let info = userinfo(s, t["access_token"].as_str().unwrap()).await;
    assert_eq!(info["phone_number_verified"], false);
    assert_eq!(
        info["address"],
        json!({"formatted": "2 Back Street\nLeeds"})
    );
    // And the CLI: an empty value removes one.
    let out = s.cli(
        &[
            "users",
            "update",
            "carol",
            "--phone-number",
            "",
            "--address",
            r#"{"locality":"York","country":"GB"}"#,
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = userinfo(s, t["access_token"].as_str().unwrap()).await;
    assert!(info.get("phone_number").is_none(), "{info}");
    assert!(info.get("phone_number_verified").is_none(), "{info}");
    assert_eq!(
        info["address"],
        json!({"locality": "York", "country": "GB"})
    );
    let (status, body) = s
        .admin_call(
            reqwest::Method::PATCH,
            "/admin/users/carol",
            Some(json!({"claims": {"address": {"town": "York"}}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("unknown field `town`"),
        "{body}"
    );
}

both!(claims_a_client_may_not_have_are_not_released, CONFIG);
async fn claims_a_client_may_not_have_are_not_released(s: &Server) {
    // narrow-rp may have openid and profile only: email and the phone
    // number asked for one by one are neither released nor asked about.
    let b = Browser::new(s);
    let (verifier, challenge) = pkce();
    let url = authorize_url(
        s,
        NARROW.0,
        NARROW_CB,
        "openid",
        &challenge,
        &[(
            "claims",
            r#"{"userinfo":{"email":{"essential":true},"phone_number":null},"id_token":{"nickname":null,"given_name":null}}"#,
        )],
    );
    let consent = page(sign_in(&b, b.get(&url).await).await);
    let items = consent_items(&consent);
    assert!(items.contains("see your profile"), "{items}");
    assert!(!items.contains("see your email address"), "{items}");
    assert!(!items.contains("see your phone number"), "{items}");
    let cb = redirect(b.consent(&consent, "approve").await);
    let t = tokens(
        s,
        NARROW,
        NARROW_CB,
        &query(&cb, "code").unwrap(),
        &verifier,
    )
    .await;
    let id = id_claims(&t);
    assert_eq!(id["given_name"], "Carol");
    assert!(id.get("nickname").is_none(), "carol has none: {id}");
    let info = userinfo(s, t["access_token"].as_str().unwrap()).await;
    let keys: Vec<&str> = info
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["sub"], "{info}");
}

both!(a_malformed_claims_parameter_goes_back_to_the_client, CONFIG);
async fn a_malformed_claims_parameter_goes_back_to_the_client(s: &Server) {
    let b = Browser::new(s);
    let (_, challenge) = pkce();
    for (claims, why) in [
        (
            "{not json",
            "claims must be a JSON object (OpenID Connect Core §5.5)",
        ),
        (
            r#"{"userinfo":{"name":{"essential":1}}}"#,
            "claims: userinfo.name.essential must be true or false",
        ),
    ] {
        let url = authorize_url(s, RP.0, RP_CB, "openid", &challenge, &[("claims", claims)]);
        let cb = redirect(b.get(&url).await);
        assert!(cb.as_str().starts_with(RP_CB), "{cb}");
        assert_eq!(query(&cb, "error").as_deref(), Some("invalid_request"));
        assert_eq!(query(&cb, "error_description").as_deref(), Some(why));
        assert_eq!(query(&cb, "state").as_deref(), Some("st-123"));
        assert_eq!(query(&cb, "iss").as_deref(), Some(s.base.as_str()));
    }
    // Without openid it is an OAuth request: the parameter is ignored.
    let url = authorize_url(
        s,
        RP.0,
        RP_CB,
        "profile",
        &challenge,
        &[("claims", "{not json")],
    );
    let login = page(b.get(&url).await);
    assert!(login.body.contains("name=\"password\""), "{}", login.body);
}

both!(
    a_sub_asked_for_is_answered_by_that_users_session_only,
    CONFIG
);
async fn a_sub_asked_for_is_answered_by_that_users_session_only(s: &Server) {
    // Carol signs in; her sub.
    let b = Browser::new(s);
    let (verifier, challenge) = pkce();
    let url = authorize_url(s, RP.0, RP_CB, "openid", &challenge, &[]);
    let end = sign_in(&b, b.get(&url).await).await;
    let cb = match end {
        End::Redirect(u) => u,
        End::Page(p) => redirect(b.consent(&p, "approve").await),
    };
    let t = tokens(s, RP, RP_CB, &query(&cb, "code").unwrap(), &verifier).await;
    let carol = id_claims(&t)["sub"].as_str().unwrap().to_owned();

    // Her own sub: her session answers.
    let own = format!(r#"{{"id_token":{{"sub":{{"value":"{carol}"}}}}}}"#);
    let (_, challenge) = pkce();
    let url = authorize_url(s, RP.0, RP_CB, "openid", &challenge, &[("claims", &own)]);
    assert!(query(&redirect(b.get(&url).await), "code").is_some());

    // Someone else's: not her session. prompt=none cannot sign anyone in.
    let other = r#"{"id_token":{"sub":{"value":"someone-else"}}}"#;
    let url = authorize_url(
        s,
        RP.0,
        RP_CB,
        "openid",
        &challenge,
        &[("claims", other), ("prompt", "none")],
    );
    let cb = redirect(b.get(&url).await);
    assert_eq!(query(&cb, "error").as_deref(), Some("login_required"));
    // Without it, the login page; carol signing in again is refused.
    let url = authorize_url(s, RP.0, RP_CB, "openid", &challenge, &[("claims", other)]);
    let login = page(b.get(&url).await);
    let again = page(b.login(&login, CAROL).await);
    assert_eq!(again.status, 401);
    assert!(
        again
            .body
            .contains("The application asked for a different account."),
        "{}",
        again.body
    );
}
