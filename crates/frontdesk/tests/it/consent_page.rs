//! The consent page in people's words: `[[scopes]]` descriptions (and the
//! built-in ones) instead of raw scope names, on the consent page and the
//! account page's list of applications; a client's RFC 7591 §2 logo and
//! links, with a CSP that lets exactly that logo's origin in; and the
//! admin API refusing links that are not https.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::browser::{ALICE, Browser, authorize_url, page, pkce, redirect, unescape};
use crate::support::Server;

const PRINTER_CB: &str = "https://printer.example.com/cb";
const CSP: &str = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

const CONFIG: &str = r#"
[[scopes]]
name = "photos:read"
description = "see your photos"

[[clients]]
client_id = "printer"
client_secret = "printer-secret-0123456789abcdef"
client_name = "Photo Printer"
grant_types = ["authorization_code"]
redirect_uris = ["https://printer.example.com/cb"]
scope = "openid photos:read groups prints:order"
logo_uri = "https://cdn.printer.example.com/logo.png"
client_uri = "https://printer.example.com/"
policy_uri = "https://printer.example.com/privacy"
tos_uri = "https://printer.example.com/terms?v=2&lang=en"
"#;

async fn consent_page(
    s: &Server,
    b: &Browser,
    client: &str,
    cb: &str,
    scope: &str,
) -> crate::browser::Page {
    let (_, challenge) = pkce();
    let login = page(
        b.get(&authorize_url(s, client, cb, scope, &challenge, &[]))
            .await,
    );
    assert_eq!(login.status, 200, "{}", login.body);
    let consent = if login.body.contains("name=\"password\"") {
        page(b.login(&login, ALICE).await)
    } else {
        login
    };
    assert!(
        consent.body.contains("action=\"/consent\""),
        "{}",
        consent.body
    );
    consent
}

async fn scopes_and_links_on_the_consent_page(s: &Server) {
    let b = Browser::new(s);
    let p = consent_page(
        s,
        &b,
        "printer",
        PRINTER_CB,
        "openid photos:read groups prints:order",
    )
    .await;
    assert_eq!(p.status, 200);
    let items: Vec<&str> = p
        .body
        .split("<li>")
        .skip(1)
        .map(|li| li.split("</li>").next().unwrap_or_default())
        .collect();
    assert_eq!(
        items,
        [
            "confirm who you are",
            "see your photos",
            "see which groups you are in",
            "use the permission “prints:order”",
        ]
    );
    // minijinja escapes attribute values (`/` as `&#x2f;`); read them as
    // the browser does.
    let body = unescape(&p.body);
    assert!(
        body.contains(
            r#"<img class="client-logo" src="https://cdn.printer.example.com/logo.png" alt="Photo Printer logo""#
        ),
        "{body}"
    );
    for (href, text) in [
        ("https://printer.example.com/", "About Photo Printer"),
        ("https://printer.example.com/privacy", "Privacy policy"),
        (
            "https://printer.example.com/terms?v=2&lang=en",
            "Terms of service",
        ),
    ] {
        let link = format!(r#"<a href="{href}" rel="noopener noreferrer">{text}</a>"#);
        assert!(body.contains(&link), "{link} in {body}");
    }
    // The logo's origin, and only it, may serve an image.
    assert_eq!(
        p.headers["content-security-policy"],
        format!("{CSP}; img-src 'self' https://cdn.printer.example.com")
    );

    // A client without links: no logo, no links, the plain policy.
    let plain = consent_page(
        s,
        &b,
        "web-app",
        "https://app.example.com/cb",
        "openid profile",
    )
    .await;
    assert!(!plain.body.contains("client-logo"), "{}", plain.body);
    assert!(!plain.body.contains("client-links"), "{}", plain.body);
    assert_eq!(plain.headers["content-security-policy"], CSP);

    // Approve the printer: the account page lists it in the same words.
    let cb = redirect(b.consent(&p, "approve").await);
    assert!(cb.as_str().starts_with(PRINTER_CB), "{cb}");
    let account = page(b.get(&s.url("/account")).await);
    assert_eq!(account.status, 200);
    assert!(account.body.contains("Photo Printer"), "{}", account.body);
    assert!(account.body.contains("see your photos"), "{}", account.body);
}
both!(scopes_and_links_on_the_consent_page, CONFIG);

async fn links_must_be_https(s: &Server) {
    let base = json!({
        "client_name": "Linked",
        "grant_types": ["authorization_code"],
        "redirect_uris": ["https://linked.example.com/cb"],
        "scope": "openid",
    });
    let with = |key: &str, value: &str| {
        let mut spec = base.clone();
        spec[key] = json!(value);
        spec
    };
    for (key, value, why) in [
        ("logo_uri", "javascript:alert(1)", "must be https"),
        (
            "policy_uri",
            "http://printer.example.com/privacy",
            "must be https",
        ),
        ("tos_uri", "/terms", "not an absolute URI"),
        // Hosts that would rewrite the consent page's CSP.
        ("logo_uri", "https://*/x.png", "DNS name"),
        ("logo_uri", "https://a;sandbox/x.png", "DNS name"),
        ("logo_uri", "https://a,b/x.png", "DNS name"),
        (
            "client_uri",
            "https://user:pw@printer.example.com/",
            "user information",
        ),
    ] {
        let (status, body) = s
            .admin_call(Method::POST, "/admin/clients", Some(with(key, value)))
            .await;
        assert_eq!(status, 400, "{key} {value}: {body}");
        assert_eq!(body["error"], "invalid_request");
        let d = body["error_description"].as_str().unwrap_or_default();
        assert!(d.contains(key) && d.contains(why), "{key} {value}: {d}");
    }
    let long = format!("https://printer.example.com/{}", "a".repeat(2000));
    let (status, _) = s
        .admin_call(
            Method::POST,
            "/admin/clients",
            Some(with("logo_uri", &long)),
        )
        .await;
    assert_eq!(status, 400);

    // Set, shown, then removed with null.
    let created = s
        .admin_expect(
            Method::POST,
            "/admin/clients",
            Some(with("logo_uri", "https://linked.example.com/logo.svg")),
            201,
        )
        .await;
    assert_eq!(created["logo_uri"], "https://linked.example.com/logo.svg");
    assert_eq!(created["tos_uri"], Value::Null);
    let id = created["client_id"].as_str().unwrap();
    let path = format!("/admin/clients/{id}");
    let patched = s
        .admin_expect(
            Method::PATCH,
            &path,
            Some(json!({"logo_uri": null, "tos_uri": "https://linked.example.com/tos"})),
            200,
        )
        .await;
    assert_eq!(patched["logo_uri"], Value::Null);
    assert_eq!(patched["tos_uri"], "https://linked.example.com/tos");

    // The CLI's flags.
    let out = s.cli(
        &[
            "clients",
            "update",
            id,
            "--policy-uri",
            "https://linked.example.com/p",
            "--tos-uri",
            "none",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["policy_uri"], "https://linked.example.com/p");
    assert_eq!(shown["tos_uri"], Value::Null);
}
both!(links_must_be_https);
