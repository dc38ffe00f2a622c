//! Two-step verification end to end, on SQLite and PostgreSQL: enrolment
//! from the account page with the QR page's secret, the second step of a
//! sign-in, codes accepted once, recovery codes, `require_mfa = "always"`,
//! step-up with `acr_values`, `amr`/`acr` in ID tokens, the throttle, and
//! the audit events. TOTP codes come from an independent RFC 6238
//! implementation here (HMAC-SHA-1 over aws-lc-rs), itself checked against
//! the RFC's test vector.

use aws_lc_rs::hmac;
use reqwest::StatusCode;
use serde_json::Value;

use crate::both;
use crate::browser::{ALICE, Browser, End, Page, authorize_url, page, pkce, query, redirect};
use crate::support::{Server, jwt_parts, unix_now};

const APP: (&str, &str) = ("mfa-app", "mfa-app-secret-0123456789abcdef");
const APP_CB: &str = "https://mfa-app.example.com/cb";
const ACR_MFA: &str = "urn:frontdesk:acr:mfa";
const ACR_PASSWORD: &str = "urn:frontdesk:acr:password";

const CONFIG: &str = r#"
[[clients]]
client_id = "mfa-app"
client_secret = "mfa-app-secret-0123456789abcdef"
client_name = "MFA App"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://mfa-app.example.com/cb"]
scope = "openid profile offline_access"
"#;

const NEVER_CONFIG: &str = r#"
require_mfa = "never"

[[clients]]
client_id = "mfa-app"
client_secret = "mfa-app-secret-0123456789abcdef"
client_name = "MFA App"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://mfa-app.example.com/cb"]
scope = "openid profile offline_access"
"#;

const ALWAYS_CONFIG: &str = r#"
require_mfa = "always"

[[clients]]
client_id = "mfa-app"
client_secret = "mfa-app-secret-0123456789abcdef"
client_name = "MFA App"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://mfa-app.example.com/cb"]
scope = "openid profile offline_access"
"#;

const THROTTLE_CONFIG: &str = r#"
login_max_failures_per_account = 3

[[clients]]
client_id = "mfa-app"
client_secret = "mfa-app-secret-0123456789abcdef"
client_name = "MFA App"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://mfa-app.example.com/cb"]
scope = "openid profile offline_access"
"#;

// ----- an independent RFC 6238 TOTP -----

/// RFC 4648 base32 without padding (spaces ignored, as typed).
pub(crate) fn base32_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u64, 0u32);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = ALPHABET
            .iter()
            .position(|a| *a == c.to_ascii_uppercase())
            .expect("base32") as u64;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

/// RFC 4226 §5.3 HOTP over RFC 6238 §4 steps of 30 s, 6 digits.
pub(crate) fn totp_at(secret: &[u8], unix: u64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &(unix / 30).to_be_bytes());
    let h = tag.as_ref();
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes([
        h[offset] & 0x7f,
        h[offset + 1],
        h[offset + 2],
        h[offset + 3],
    ]);
    format!("{:06}", bin % 1_000_000)
}

#[test]
fn the_test_totp_matches_rfc_6238_appendix_b() {
    assert_eq!(totp_at(b"12345678901234567890", 59), "287082");
    assert_eq!(totp_at(b"12345678901234567890", 1_111_111_109), "081804");
    assert_eq!(totp_at(b"12345678901234567890", 2_000_000_000), "279037");
    assert_eq!(base32_decode("GEZDGNBV GY3TQOJQ"), b"1234567890".to_vec());
}

// ----- flows -----

/// A POST that keeps the 303 (does not follow it).
async fn post_raw(b: &Browser, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    b.http
        .post(format!("{}{path}", b.base))
        .form(form)
        .send()
        .await
        .unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// Signs in on the account page (password only).
pub(crate) async fn account_sign_in(b: &Browser, user: (&str, &str)) -> Page {
    let login = page(b.get(&format!("{}/account", b.base)).await);
    assert!(login.body.contains("to your account"), "{}", login.body);
    assert_eq!(login.input("next").as_deref(), Some("account"));
    page(
        b.post(
            "/login",
            &[
                ("csrf", &login.input("csrf").unwrap()),
                ("request", ""),
                ("next", "account"),
                ("username", user.0),
                ("password", user.1),
            ],
        )
        .await,
    )
}

/// The secret shown on the enrolment page.
fn secret_of(p: &Page) -> Vec<u8> {
    let marker = "<code class=\"secret\">";
    let at = p.body.find(marker).expect("secret shown") + marker.len();
    let end = p.body[at..].find("</code>").unwrap() + at;
    base32_decode(&p.body[at..end])
}

fn recovery_codes_of(p: &Page) -> Vec<String> {
    p.body
        .split("<li><code>")
        .skip(1)
        .map(|s| s[..s.find("</code>").unwrap()].to_owned())
        .collect()
}

/// Enrols from the account page; returns the secret, the step its code
/// used, and the recovery codes.
pub(crate) async fn enrol_from_account(b: &Browser) -> (Vec<u8>, u64, Vec<String>) {
    let enrol = page(b.get(&format!("{}/account/totp", b.base)).await);
    assert_eq!(enrol.status, 200, "{}", enrol.body);
    assert!(
        enrol.body.contains("<svg role=\"img\""),
        "an inline QR code"
    );
    assert!(!enrol.body.contains("<?xml"));
    let secret = secret_of(&enrol);
    assert_eq!(secret.len(), 20, "160-bit secret");
    let now = unix_now();
    let codes = page(
        b.post(
            "/login/mfa/enrol",
            &[
                ("csrf", &enrol.input("csrf").unwrap()),
                ("request", ""),
                ("next", "account"),
                ("code", &totp_at(&secret, now)),
            ],
        )
        .await,
    );
    assert_eq!(codes.status, 200, "{}", codes.body);
    assert_eq!(codes.headers["cache-control"], "no-store");
    assert!(codes.body.contains("Two-step verification is on."));
    let recovery = recovery_codes_of(&codes);
    assert_eq!(recovery.len(), 10, "{}", codes.body);
    assert!(crate::browser::unescape(&codes.body).contains("href=\"/account\""));
    (secret, now / 30, recovery)
}

/// Password on app1's login page; returns where it ended.
async fn password_step(s: &Server, b: &Browser, extra: &[(&str, &str)]) -> (End, String) {
    let (verifier, challenge) = pkce();
    let login = page(
        b.get(&authorize_url(
            s,
            APP.0,
            APP_CB,
            "openid profile",
            &challenge,
            extra,
        ))
        .await,
    );
    assert!(login.body.contains("name=\"password\""), "{}", login.body);
    (b.login(&login, ALICE).await, verifier)
}

async fn submit_code(b: &Browser, p: &Page, code: &str) -> End {
    b.post(
        "/login/mfa",
        &[
            ("csrf", &p.input("csrf").unwrap()),
            ("request", &p.input("request").unwrap()),
            ("next", &p.input("next").unwrap_or_default()),
            ("code", code),
        ],
    )
    .await
}

/// Approves consent if asked; returns the code from the redirect.
async fn code_after(b: &Browser, end: End) -> String {
    let cb = match end {
        End::Redirect(u) => u,
        End::Page(p) => {
            assert!(p.body.contains("action=\"/consent\""), "{}", p.body);
            redirect(b.consent(&p, "approve").await)
        }
    };
    assert!(cb.as_str().starts_with(APP_CB), "{cb}");
    query(&cb, "code").unwrap()
}

async fn id_token_claims(s: &Server, code: &str, verifier: &str) -> Value {
    let r = s
        .post_form(
            "/token",
            Some(APP),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", APP_CB),
                ("code_verifier", verifier),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let (_, at) = jwt_parts(body["access_token"].as_str().unwrap());
    let (_, id) = jwt_parts(body["id_token"].as_str().unwrap());
    assert_eq!(
        at["acr"], id["acr"],
        "RFC 9068 §2.2.1: the access token says so too"
    );
    id
}

async fn audit_kinds(s: &Server) -> Vec<(String, Value)> {
    let r = s
        .admin_req(
            reqwest::Method::GET,
            "/admin/audit?kind=mfa&limit=200",
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap().to_owned(), e["detail"].clone()))
        .collect()
}

// ----- tests -----

both!(
    totp_enrolment_second_step_single_use_codes_and_recovery,
    CONFIG
);
async fn totp_enrolment_second_step_single_use_codes_and_recovery(s: &Server) {
    let owner = Browser::new(s);
    let account = account_sign_in(&owner, ALICE).await;
    assert!(account.body.contains("Your account"), "{}", account.body);
    assert!(account.body.contains("Set up an authenticator app"));
    let (secret, step, recovery) = enrol_from_account(&owner).await;
    let account = page(owner.get(&format!("{}/account", s.base)).await);
    assert!(
        account
            .body
            .contains("Recovery codes left: <strong>10</strong>")
    );

    // A new browser: the password, then the second step (never the
    // password again).
    let b = Browser::new(s);
    let (end, verifier) = password_step(s, &b, &[]).await;
    let mfa_page = page(end);
    assert_eq!(mfa_page.status, 200);
    assert!(
        mfa_page.body.contains("Two-step verification"),
        "{}",
        mfa_page.body
    );
    assert!(!mfa_page.body.contains("name=\"password\""));
    for (code, why) in [
        ("000000", "a wrong code"),
        (
            totp_at(&secret, step * 30).as_str(),
            "the code enrolment used (RFC 6238 §5.2)",
        ),
    ] {
        let refused = page(submit_code(&b, &mfa_page, code).await);
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{why}");
        assert!(
            refused.body.contains("That code is not valid."),
            "{why}: {}",
            refused.body
        );
    }
    // The next step's code is within the drift window.
    let next_code = totp_at(&secret, (step + 1) * 30);
    let code = code_after(&b, submit_code(&b, &mfa_page, &next_code).await).await;
    let id = id_token_claims(s, &code, &verifier).await;
    assert_eq!(id["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(id["acr"], ACR_MFA);

    // Another browser with the same code: spent.
    let b2 = Browser::new(s);
    let mfa_page = page(password_step(s, &b2, &[]).await.0);
    let refused = page(submit_code(&b2, &mfa_page, &next_code).await);
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    // A recovery code, typed in capitals with spaces, works once.
    let typed = format!(" {} ", recovery[0].to_uppercase());
    code_after(&b2, submit_code(&b2, &mfa_page, &typed).await).await;
    let b3 = Browser::new(s);
    let mfa_page = page(password_step(s, &b3, &[]).await.0);
    let refused = page(submit_code(&b3, &mfa_page, &recovery[0]).await);
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "a recovery code is spent"
    );
    let account = page(owner.get(&format!("{}/account", s.base)).await);
    assert!(
        account
            .body
            .contains("Recovery codes left: <strong>9</strong>")
    );

    let kinds = audit_kinds(s).await;
    let names: Vec<&str> = kinds.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "mfa.enrol",
            "mfa.failure",
            "mfa.failure",
            "mfa.success",
            "mfa.failure",
            "mfa.success",
            "mfa.failure"
        ]
    );
    assert_eq!(kinds[3].1["factor"], "totp");
    assert_eq!(kinds[5].1["factor"], "recovery_code");
    for (_, detail) in &kinds {
        let text = detail.to_string();
        assert!(!text.contains(&next_code) && !text.contains(&recovery[0]));
    }
}

both!(acr_values_step_a_password_session_up, NEVER_CONFIG);
async fn acr_values_step_a_password_session_up(s: &Server) {
    let owner = Browser::new(s);
    account_sign_in(&owner, ALICE).await;
    let (secret, step, _) = enrol_from_account(&owner).await;

    // require_mfa = "never": the password alone signs in.
    let b = Browser::new(s);
    let (end, verifier) = password_step(s, &b, &[]).await;
    let code = code_after(&b, end).await;
    let first = id_token_claims(s, &code, &verifier).await;
    assert_eq!(first["amr"], serde_json::json!(["pwd"]));
    assert_eq!(first["acr"], ACR_PASSWORD);

    // prompt=none cannot step up: login_required, never a lower level.
    let (_, challenge) = pkce();
    let cb = redirect(
        b.get(&authorize_url(
            s,
            APP.0,
            APP_CB,
            "openid",
            &challenge,
            &[("acr_values", ACR_MFA), ("prompt", "none")],
        ))
        .await,
    );
    assert_eq!(query(&cb, "error").as_deref(), Some("login_required"));

    // acr_values asks for the second factor only.
    let (verifier, challenge) = pkce();
    let step_up = page(
        b.get(&authorize_url(
            s,
            APP.0,
            APP_CB,
            "openid profile",
            &challenge,
            &[("acr_values", ACR_MFA)],
        ))
        .await,
    );
    assert!(
        step_up.body.contains("Two-step verification"),
        "{}",
        step_up.body
    );
    assert!(!step_up.body.contains("name=\"password\""));
    let next_code = totp_at(&secret, (step + 1) * 30);
    let code = code_after(&b, submit_code(&b, &step_up, &next_code).await).await;
    let raised = id_token_claims(s, &code, &verifier).await;
    assert_eq!(raised["acr"], ACR_MFA);
    assert_eq!(raised["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(raised["sid"], first["sid"], "the same session, raised");
    assert_eq!(
        raised["auth_time"], first["auth_time"],
        "auth_time is the password's"
    );

    let discovery: Value = s
        .http
        .get(s.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["acr_values_supported"],
        serde_json::json!([
            ACR_PASSWORD,
            ACR_MFA,
            "urn:frontdesk:acr:phishing-resistant"
        ])
    );
}

both!(essential_acr_in_the_claims_parameter_steps_up, NEVER_CONFIG);
/// OIDC Core §5.5.1.1 (`oidcc-claims-essential` for `acr`): an essential
/// `acr` with values is met or the request fails; the ID token's `acr` is
/// one of the values asked for.
async fn essential_acr_in_the_claims_parameter_steps_up(s: &Server) {
    let owner = Browser::new(s);
    account_sign_in(&owner, ALICE).await;
    let (secret, step, _) = enrol_from_account(&owner).await;
    let essential = |values: &[&str]| {
        serde_json::json!({"id_token": {"acr": {"essential": true, "values": values}}}).to_string()
    };

    let b = Browser::new(s);
    let (end, verifier) = password_step(s, &b, &[]).await;
    let first = id_token_claims(s, &code_after(&b, end).await, &verifier).await;
    assert_eq!(first["acr"], ACR_PASSWORD);

    // prompt=none cannot raise the session.
    let (_, challenge) = pkce();
    let mfa_only = essential(&[ACR_MFA]);
    let cb = redirect(
        b.get(&authorize_url(
            s,
            APP.0,
            APP_CB,
            "openid",
            &challenge,
            &[("claims", &mfa_only), ("prompt", "none")],
        ))
        .await,
    );
    assert_eq!(query(&cb, "error").as_deref(), Some("login_required"));

    // The essential level asks for the second factor only.
    let (verifier, challenge) = pkce();
    let step_up = page(
        b.get(&authorize_url(
            s,
            APP.0,
            APP_CB,
            "openid",
            &challenge,
            &[("claims", &mfa_only)],
        ))
        .await,
    );
    assert!(
        step_up.body.contains("Two-step verification"),
        "{}",
        step_up.body
    );
    let next_code = totp_at(&secret, (step + 1) * 30);
    let code = code_after(&b, submit_code(&b, &step_up, &next_code).await).await;
    let raised = id_token_claims(s, &code, &verifier).await;
    assert_eq!(raised["acr"], ACR_MFA);
    assert_eq!(raised["sid"], first["sid"]);

    // The session now reaches mfa; asked for the password level as the
    // essential value, the ID token says that value (one of those asked
    // for), while amr still tells how the user signed in.
    let (verifier, challenge) = pkce();
    let end = b
        .get(&authorize_url(
            s,
            APP.0,
            APP_CB,
            "openid",
            &challenge,
            &[("claims", &essential(&["urn:other", ACR_PASSWORD]))],
        ))
        .await;
    let answered = id_token_claims(s, &code_after(&b, end).await, &verifier).await;
    assert_eq!(answered["acr"], ACR_PASSWORD);
    assert_eq!(answered["amr"], serde_json::json!(["pwd", "otp", "mfa"]));

    // Values none of which is ours cannot be met: the request fails.
    let (_, challenge) = pkce();
    let cb = redirect(
        b.get(&authorize_url(
            s,
            APP.0,
            APP_CB,
            "openid",
            &challenge,
            &[("claims", &essential(&["urn:other"]))],
        ))
        .await,
    );
    assert_eq!(
        query(&cb, "error").as_deref(),
        Some("unmet_authentication_requirements")
    );
    assert_eq!(
        query(&cb, "error_description").as_deref(),
        Some("none of the essential acr values is supported (see acr_values_supported)")
    );
    assert_eq!(query(&cb, "state").as_deref(), Some("st-123"));

    // Phishing-resistant is essential and alice has no passkey: unmet,
    // never a lower level.
    let (_, challenge) = pkce();
    let cb = redirect(
        b.get(&authorize_url(
            s,
            APP.0,
            APP_CB,
            "openid",
            &challenge,
            &[(
                "claims",
                &essential(&["urn:frontdesk:acr:phishing-resistant"]),
            )],
        ))
        .await,
    );
    assert_eq!(
        query(&cb, "error").as_deref(),
        Some("unmet_authentication_requirements")
    );
}

both!(
    require_mfa_always_walks_users_through_enrolment,
    ALWAYS_CONFIG
);
async fn require_mfa_always_walks_users_through_enrolment(s: &Server) {
    let b = Browser::new(s);
    let (end, verifier) = password_step(s, &b, &[]).await;
    let enrol = page(end);
    assert!(
        enrol.body.contains("Set up two-step verification"),
        "{}",
        enrol.body
    );
    let secret = secret_of(&enrol);
    let codes = page(
        b.post(
            "/login/mfa/enrol",
            &[
                ("csrf", &enrol.input("csrf").unwrap()),
                ("request", &enrol.input("request").unwrap()),
                ("next", ""),
                ("code", &totp_at(&secret, unix_now())),
            ],
        )
        .await,
    );
    assert_eq!(recovery_codes_of(&codes).len(), 10);
    let body = crate::browser::unescape(&codes.body);
    let at = body.find("href=\"/authorize?").expect("continue link") + 6;
    let href = &body[at..at + body[at..].find('"').unwrap()];
    let code = code_after(&b, b.get(&format!("{}{href}", s.base)).await).await;
    let id = id_token_claims(s, &code, &verifier).await;
    assert_eq!(id["acr"], ACR_MFA);

    // Two-step verification cannot be turned off where it is required.
    let account = page(b.get(&format!("{}/account", s.base)).await);
    let r = post_raw(
        &b,
        "/account/totp/remove",
        &[("csrf", &account.input("csrf").unwrap())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

both!(wrong_codes_are_throttled_like_passwords, THROTTLE_CONFIG);
async fn wrong_codes_are_throttled_like_passwords(s: &Server) {
    let owner = Browser::new(s);
    account_sign_in(&owner, ALICE).await;
    let (secret, step, _) = enrol_from_account(&owner).await;
    let b = Browser::new(s);
    let mfa_page = page(password_step(s, &b, &[]).await.0);
    for _ in 0..3 {
        let p = page(submit_code(&b, &mfa_page, "000000").await);
        assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    }
    let p = page(submit_code(&b, &mfa_page, &totp_at(&secret, (step + 1) * 30)).await);
    assert_eq!(
        p.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the right code, unchecked"
    );
    assert!(p.body.contains("Too many wrong codes."));
    // The admin unlock clears the second-factor counter too.
    let r = s
        .admin_req(reqwest::Method::POST, "/admin/users/alice/unlock", None)
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let end = submit_code(&b, &mfa_page, &totp_at(&secret, (step + 1) * 30)).await;
    code_after(&b, end).await;
}

both!(
    the_account_page_ends_sessions_revokes_apps_and_changes_the_password,
    CONFIG
);
async fn the_account_page_ends_sessions_revokes_apps_and_changes_the_password(s: &Server) {
    // An app with a refresh token, from one browser.
    let app_browser = Browser::new(s);
    let (verifier, challenge) = pkce();
    let login = page(
        app_browser
            .get(&authorize_url(
                s,
                APP.0,
                APP_CB,
                "openid offline_access",
                &challenge,
                &[],
            ))
            .await,
    );
    let code = code_after(&app_browser, app_browser.login(&login, ALICE).await).await;
    let tokens: Value = s
        .post_form(
            "/token",
            Some(APP),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", APP_CB),
                ("code_verifier", &verifier),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    // The account page, from another browser.
    let me = Browser::new(s);
    let account = account_sign_in(&me, ALICE).await;
    assert!(
        account.body.contains("MFA App"),
        "the allowed app is listed"
    );
    assert_eq!(
        account
            .body
            .matches("action=\"/account/sessions/end\"")
            .count(),
        2
    );
    assert!(account.body.contains("(this browser)"));
    let csrf = account.input("csrf").unwrap();

    // Someone else's session id is refused.
    let r = post_raw(
        &me,
        "/account/sessions/end",
        &[("csrf", &csrf), ("sid", "nope")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // A form without the CSRF token is refused.
    let r = post_raw(&me, "/account/sessions/end-others", &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let r = post_raw(&me, "/account/sessions/end-others", &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/account?done=sessions-ended");
    let gone = app_browser.get(&format!("{}/account", s.base)).await;
    assert!(
        page(gone).body.contains("to your account"),
        "signed out there"
    );
    let r = s
        .post_form(
            "/token",
            Some(APP),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(r.status(), 400, "the grants of that session were revoked");

    // Removing the app.
    let r = post_raw(
        &me,
        "/account/apps/revoke",
        &[("csrf", &csrf), ("client_id", APP.0)],
    )
    .await;
    assert_eq!(location(&r), "/account?done=app-revoked");
    let account = page(me.get(&format!("{}{}", s.base, location(&r))).await);
    assert!(!account.body.contains("MFA App"));
    assert!(
        account
            .body
            .contains("The application no longer has access.")
    );

    // The password: the current one is needed, the two new ones must match.
    let change = |current: &'static str, new: &'static str, again: &'static str| {
        let (me, csrf) = (&me, csrf.clone());
        async move {
            post_raw(
                me,
                "/account/password",
                &[
                    ("csrf", &csrf),
                    ("current_password", current),
                    ("new_password", new),
                    ("confirm_password", again),
                ],
            )
            .await
        }
    };
    assert_eq!(
        change("wrong password!", "new password 1234", "new password 1234")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        change(ALICE.1, "new password 1234", "new password 12345")
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        change(ALICE.1, "short", "short").await.status(),
        StatusCode::BAD_REQUEST
    );
    let r = change(ALICE.1, "new password 1234", "new password 1234").await;
    assert_eq!(location(&r), "/account?done=password");
    // This browser stays signed in (a fresh session); the old password is dead.
    let account = page(me.get(&format!("{}{}", s.base, location(&r))).await);
    assert!(
        account.body.contains("Your password was changed."),
        "{}",
        account.body
    );
    let other = Browser::new(s);
    let p = page(other.get(&format!("{}/account", s.base)).await);
    let p = page(
        other
            .post(
                "/login",
                &[
                    ("csrf", &p.input("csrf").unwrap()),
                    ("request", ""),
                    ("next", "account"),
                    ("username", ALICE.0),
                    ("password", ALICE.1),
                ],
            )
            .await,
    );
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
}

both!(account_changes_need_a_recent_sign_in, r#"reauth_secs = 1"#);
async fn account_changes_need_a_recent_sign_in(s: &Server) {
    let me = Browser::new(s);
    let account = account_sign_in(&me, ALICE).await;
    // The server's own clock is the point here: its sign-in must age past
    // reauth_secs (1 s, counted in whole seconds).
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = post_raw(
        &me,
        "/account/profile",
        &[
            ("csrf", &account.input("csrf").unwrap()),
            ("name", "Mallory"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?next=account&reauth=1");
    let u: Value = s
        .admin_req(reqwest::Method::GET, "/admin/users/alice", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(u["name"], "Alice Example", "nothing changed");
}

both!(an_administrator_resets_a_lost_second_factor, CONFIG);
async fn an_administrator_resets_a_lost_second_factor(s: &Server) {
    let owner = Browser::new(s);
    account_sign_in(&owner, ALICE).await;
    enrol_from_account(&owner).await;
    let u: Value = s
        .admin_req(reqwest::Method::GET, "/admin/users/alice", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(u["mfa_enrolled"], true);

    // The CLI …
    let out = s.cli(&["users", "reset-mfa", "alice"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "two-step verification removed for alice: the next sign-in is the password alone\n"
    );
    let b = Browser::new(s);
    let (end, _) = password_step(s, &b, &[]).await;
    code_after(&b, end).await;

    // … and the admin API (idempotent; unknown users are 404).
    let r = s
        .admin_req(reqwest::Method::POST, "/admin/users/alice/reset-mfa", None)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = s
        .admin_req(reqwest::Method::POST, "/admin/users/nobody/reset-mfa", None)
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s
        .admin_req(
            reqwest::Method::GET,
            "/admin/audit?kind=admin.user.reset_mfa",
            None,
        )
        .await;
    let body: Value = r.json().await.unwrap();
    let actors: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors, ["cli", "admin-api"]);
}

both!(openidconnect_crate_steps_up_with_acr_values, NEVER_CONFIG);
/// The independent `openidconnect` crate asks for `acr_values` and checks
/// the answer with its own ID-token verifier (a third-party RP's view of
/// step-up).
async fn openidconnect_crate_steps_up_with_acr_values(s: &Server) {
    use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
    use openidconnect::{
        AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
        IssuerUrl, Nonce, PkceCodeChallenge, RedirectUrl, TokenResponse,
    };

    let owner = Browser::new(s);
    account_sign_in(&owner, ALICE).await;
    let (secret, step, _) = enrol_from_account(&owner).await;

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
    let supported: Vec<String> = metadata
        .acr_values_supported()
        .expect("acr_values_supported")
        .iter()
        .map(|a| a.as_str().to_owned())
        .collect();
    assert_eq!(
        supported,
        [
            ACR_PASSWORD,
            ACR_MFA,
            "urn:frontdesk:acr:phishing-resistant"
        ]
    );
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(APP.0.into()),
        Some(ClientSecret::new(APP.1.into())),
    )
    .set_redirect_uri(RedirectUrl::new(APP_CB.into()).unwrap());

    let b = Browser::new(s);
    let mut acrs = Vec::new();
    for ask_mfa in [false, true] {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        if ask_mfa {
            req = req.add_auth_context_value(AuthenticationContextClass::new(ACR_MFA.into()));
        }
        let (url, _state, nonce) = req.url();
        let p = page(b.get(url.as_str()).await);
        let end = if ask_mfa {
            assert!(p.body.contains("Two-step verification"), "{}", p.body);
            submit_code(&b, &p, &totp_at(&secret, (step + 1) * 30)).await
        } else {
            b.login(&p, ALICE).await
        };
        let code = code_after(&b, end).await;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&send)
            .await
            .expect("token exchange");
        let claims = tokens
            .id_token()
            .expect("id_token")
            .claims(&client.id_token_verifier(), &nonce)
            .expect("the crate verifies the ID token");
        let amr: Vec<String> = claims
            .auth_method_refs()
            .unwrap()
            .iter()
            .map(|m| m.to_string())
            .collect();
        acrs.push((claims.auth_context_ref().unwrap().to_string(), amr));
    }
    assert_eq!(
        acrs,
        [
            (ACR_PASSWORD.to_owned(), vec!["pwd".to_owned()]),
            (
                ACR_MFA.to_owned(),
                vec!["pwd".to_owned(), "otp".to_owned(), "mfa".to_owned()]
            ),
        ]
    );
}

both!(
    the_current_password_is_throttled_like_the_login_page,
    THROTTLE_CONFIG
);
async fn the_current_password_is_throttled_like_the_login_page(s: &Server) {
    let me = Browser::new(s);
    let account = account_sign_in(&me, ALICE).await;
    let csrf = account.input("csrf").unwrap();
    let attempt = |current: &'static str| {
        let (me, csrf) = (&me, csrf.clone());
        async move {
            post_raw(
                me,
                "/account/password",
                &[
                    ("csrf", &csrf),
                    ("current_password", current),
                    ("new_password", "new password 1234"),
                    ("confirm_password", "new password 1234"),
                ],
            )
            .await
            .status()
        }
    };
    for _ in 0..3 {
        assert_eq!(attempt("wrong password!").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        attempt(ALICE.1).await,
        StatusCode::TOO_MANY_REQUESTS,
        "over the limit even the right password is not checked"
    );
}
