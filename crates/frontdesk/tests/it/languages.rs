//! The pages' languages over real HTTP: `ui_locales` (OIDC Core §3.1.2.1)
//! first, then `Accept-Language`, then `default_locale`; `<html lang>`
//! follows; discovery lists `ui_locales_supported`; the consent page's
//! built-in scope wording is translated too. And, walking the templates
//! that go through the catalogues, no message they ask for is missing
//! from a shipped language and no words are left outside `t()`.

use crate::both;
use crate::browser::{ALICE, Browser, authorize_url, page, pkce, unescape};
use crate::support::Server;

const CB: &str = "https://app.example.com/cb";

/// The login page of web-app's request with `extra` parameters, in a
/// browser that sends `accept` as Accept-Language.
async fn login(
    s: &Server,
    extra: &[(&str, &str)],
    accept: Option<&str>,
) -> (Browser, crate::browser::Page) {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(a) = accept {
        headers.insert("accept-language", a.parse().unwrap());
    }
    let b = Browser::new(s);
    let b = Browser {
        http: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .build()
            .unwrap(),
        base: b.base,
    };
    let (_, challenge) = pkce();
    let p = page(
        b.get(&authorize_url(
            s,
            "web-app",
            CB,
            "openid profile",
            &challenge,
            extra,
        ))
        .await,
    );
    assert_eq!(p.status, 200, "{}", p.body);
    (b, p)
}

async fn ui_locales_then_accept_language_then_the_default(s: &Server) {
    for (extra, accept, lang, heading) in [
        (vec![], None, "en", "<h1>Sign in</h1>"),
        (vec![("ui_locales", "de")], None, "de", "<h1>Anmelden</h1>"),
        (
            vec![("ui_locales", "xx de-AT")],
            Some("fr"),
            "de",
            "<h1>Anmelden</h1>",
        ),
        (
            vec![],
            Some("fr-CA,fr;q=0.9,en;q=0.5"),
            "fr",
            "<h1>Se connecter</h1>",
        ),
        (
            vec![("ui_locales", "ja")],
            Some("es"),
            "es",
            "<h1>Iniciar sesión</h1>",
        ),
        (
            vec![("ui_locales", "ja")],
            Some("ko"),
            "en",
            "<h1>Sign in</h1>",
        ),
    ] {
        let (_, p) = login(s, &extra, accept).await;
        let body = unescape(&p.body);
        assert!(
            body.contains(&format!("<html lang=\"{lang}\">")),
            "{extra:?} {accept:?}: {body}"
        );
        assert!(body.contains(heading), "{extra:?} {accept:?}: {body}");
    }

    // The login POST carries the request, and with it ui_locales: the
    // consent page is German too, scope wording included.
    let (b, p) = login(s, &[("ui_locales", "de")], None).await;
    let consent = page(b.login(&p, ALICE).await);
    assert_eq!(consent.status, 200, "{}", consent.body);
    let body = unescape(&consent.body);
    for text in [
        "<html lang=\"de\">",
        "<strong>Web App</strong> möchte:",
        "<li>bestätigen, wer Sie sind</li>",
        "<li>Ihr Profil sehen (Name, Spitzname, Bild)</li>",
        "Angemeldet als alice.",
        ">Erlauben</button>",
    ] {
        assert!(body.contains(text), "{text} in {body}");
    }

    let disc = s.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        disc["ui_locales_supported"],
        serde_json::json!(["en", "de", "fr", "es"])
    );
}
both!(ui_locales_then_accept_language_then_the_default);

async fn default_locale_is_the_fallback(s: &Server) {
    let (_, p) = login(s, &[], Some("ja")).await;
    assert!(p.body.contains("<html lang=\"fr\">"), "{}", p.body);
    let (_, p) = login(s, &[], Some("en")).await;
    assert!(p.body.contains("<html lang=\"en\">"), "{}", p.body);
}
both!(default_locale_is_the_fallback, "default_locale = \"fr\"\n");

/// Every `t("…")` of the translated templates names a message, and those
/// templates hold no words outside `t()` (only markup, expressions and
/// punctuation). The catalogues themselves have the same messages in
/// every language (unit test `i18n::tests::the_catalogues_have_the_same_messages`).
#[test]
fn translated_templates_leave_no_words_behind() {
    let dir = crate::real_browser::workspace_root().join("crates/frontdesk");
    let en = std::fs::read_to_string(dir.join("locales/en/pages.ftl")).unwrap();
    let ids: Vec<&str> = en
        .lines()
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
        .filter_map(|l| l.split_once(" =").map(|(id, _)| id))
        .collect();
    for name in [
        "base.html",
        "login.html",
        "consent.html",
        "not_allowed.html",
        "error.html",
        "message.html",
    ] {
        let text = std::fs::read_to_string(dir.join("templates").join(name)).unwrap();
        for part in text.split("t(\"").skip(1) {
            let id = part.split('"').next().unwrap();
            assert!(ids.contains(&id), "{name}: t(\"{id}\") is in no catalogue");
        }
        // What a reader would see: drop template tags and expressions,
        // then markup; no letters may remain.
        let mut rest = String::new();
        let mut depth = 0usize;
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            if two == "{{" || two == "{%" {
                depth += 1;
                i += 2;
                continue;
            }
            if depth > 0 && (two == "}}" || two == "%}") {
                depth -= 1;
                i += 2;
                continue;
            }
            if depth == 0 {
                rest.push(chars[i]);
            }
            i += 1;
        }
        let mut visible = String::new();
        let mut in_tag = false;
        for c in rest.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => visible.push(c),
                _ => {}
            }
        }
        let words: String = visible.chars().filter(|c| c.is_alphabetic()).collect();
        assert!(words.is_empty(), "{name}: words outside t(): {visible:?}");
    }
}

/// In Chromium: a German sign-in (`ui_locales=de`) to the consent page;
/// its screenshot is the README's (`docs/screenshots/consent-de.png`, with
/// `FRONTDESK_UPDATE_SCREENSHOTS=1`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_german_consent_page_in_chromium() {
    use crate::real_browser::{browser_available, copy_screenshot_to_docs, element, screenshot};
    if !browser_available() {
        return;
    }
    let s = Server::start(crate::support::Backend::Sqlite, "")
        .await
        .unwrap();
    let procs = tempfile::tempdir().unwrap();
    let (driver, c) = crate::real_browser::chromium(procs.path()).await;
    let (_, challenge) = pkce();
    let run = async {
        c.goto(&authorize_url(
            &s,
            "web-app",
            CB,
            "openid profile",
            &challenge,
            &[("ui_locales", "de")],
        ))
        .await
        .expect("open the login page");
        element(&c, "input#username")
            .await
            .send_keys(ALICE.0)
            .await
            .unwrap();
        element(&c, "input#password")
            .await
            .send_keys(ALICE.1)
            .await
            .unwrap();
        element(&c, "form[action=\"/login\"] button[type=\"submit\"]")
            .await
            .click()
            .await
            .expect("submit");
        let allow = element(&c, "button[name=\"decision\"][value=\"approve\"]").await;
        assert_eq!(allow.text().await.unwrap(), "Erlauben");
        let h1 = element(&c, "h1").await.text().await.unwrap();
        assert_eq!(h1, "Web App möchte:");
        screenshot(&c, "consent-de").await
    };
    let shot = tokio::time::timeout(std::time::Duration::from_secs(60), run).await;
    let _ = c.close().await;
    let shot = shot.unwrap_or_else(|_| {
        panic!(
            "timed out\nfrontdesk:\n{}\nchromedriver:\n{}",
            s.log(),
            driver.log()
        )
    });
    copy_screenshot_to_docs(&shot, "consent-de");
}

/// A client's name with markup reaches the translated pages escaped, in
/// every language (`t()` escapes its arguments before marking the message
/// safe).
async fn arguments_are_escaped(s: &Server) {
    for lang in ["en", "de", "fr", "es"] {
        let (_, challenge) = pkce();
        let b = Browser::new(s);
        let p = page(
            b.get(&authorize_url(
                s,
                "markup-app",
                CB,
                "openid",
                &challenge,
                &[("ui_locales", lang)],
            ))
            .await,
        );
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(!p.body.contains("<img src=x"), "{lang}: {}", p.body);
        assert!(
            p.body.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{lang}: {}",
            p.body
        );
    }
}
both!(
    arguments_are_escaped,
    r#"
[[clients]]
client_id = "markup-app"
client_secret = "markup-app-secret-0123456789abcdef"
client_name = "<img src=x onerror=alert(1)>"
grant_types = ["authorization_code"]
redirect_uris = ["https://app.example.com/cb"]
scope = "openid"
"#
);
