//! Pairwise subject identifiers (OpenID Connect Core §8.1), over real HTTP
//! on SQLite and PostgreSQL (`oidcc-ensure-*`-style checks of the OIDF
//! plans: the same user seen by clients of one sector and of another), and
//! `sector_identifier_uri` (OIDC Registration §5) served by the test.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::browser::{ALICE, Browser, End, authorize_url, page, pkce, query, redirect};
use crate::support::{Server, jwt_parts};

const SECRET: &str = "pairwise-secret-0123456789abcdef";

const CONFIG: &str = r#"
[[clients]]
client_id = "sector-a-1"
client_secret = "pairwise-secret-0123456789abcdef"
client_name = "Sector A, first app"
first_party = true
subject_type = "pairwise"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://a.example.com/cb"]
post_logout_redirect_uris = ["https://a.example.com/bye"]
scope = "openid profile offline_access"

[[clients]]
client_id = "sector-a-2"
client_secret = "pairwise-secret-0123456789abcdef"
client_name = "Sector A, second app"
first_party = true
subject_type = "pairwise"
grant_types = ["authorization_code"]
redirect_uris = ["https://A.example.com/other"]
scope = "openid"

[[clients]]
client_id = "sector-b"
client_secret = "pairwise-secret-0123456789abcdef"
client_name = "Sector B"
first_party = true
subject_type = "pairwise"
grant_types = ["authorization_code"]
redirect_uris = ["https://b.example.com/cb"]
scope = "openid"
access_token_format = "opaque"

[[clients]]
client_id = "public-app"
client_secret = "pairwise-secret-0123456789abcdef"
client_name = "Public App"
first_party = true
grant_types = ["authorization_code"]
redirect_uris = ["https://public.example.com/cb"]
scope = "openid"
"#;

/// One signed-in flow of `client` in browser `b`: the token response.
async fn flow(s: &Server, b: &Browser, client: &str, cb: &str, extra: &[(&str, &str)]) -> Value {
    let (verifier, challenge) = pkce();
    // sector-a-1 may have refresh tokens.
    let scope = if client == "sector-a-1" {
        "openid offline_access"
    } else {
        "openid"
    };
    let url = authorize_url(s, client, cb, scope, &challenge, extra);
    let to = match b.get(&url).await {
        End::Redirect(u) => u,
        End::Page(p) => redirect(b.login(&p, ALICE).await),
    };
    // (The URL parser writes the host in lower case.)
    assert!(to.as_str().starts_with(&cb.to_lowercase()), "{to}");
    let code = query(&to, "code").unwrap_or_else(|| panic!("{to}"));
    let r = s
        .post_form(
            "/token",
            Some((client, SECRET)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", cb),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn id_sub(t: &Value) -> String {
    jwt_parts(t["id_token"].as_str().unwrap()).1["sub"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn userinfo_sub(s: &Server, at: &str) -> String {
    let r = s
        .http
        .get(s.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["sub"].as_str().unwrap().to_owned()
}

both!(oidcc_pairwise_subjects_per_sector, CONFIG);
async fn oidcc_pairwise_subjects_per_sector(s: &Server) {
    let disc = s.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        disc["subject_types_supported"],
        json!(["public", "pairwise"])
    );
    let alice = s
        .admin_expect(Method::GET, "/admin/users/alice", None, 200)
        .await["sub"]
        .as_str()
        .unwrap()
        .to_owned();

    let b = Browser::new(s);
    let public = flow(s, &b, "public-app", "https://public.example.com/cb", &[]).await;
    assert_eq!(
        id_sub(&public),
        alice,
        "a public client sees the user's own sub"
    );

    let a1 = flow(s, &b, "sector-a-1", "https://a.example.com/cb", &[]).await;
    let sub_a = id_sub(&a1);
    assert_ne!(sub_a, alice);
    assert_eq!(sub_a.len(), 43, "{sub_a}");
    // Every place that client sees a sub says the same one.
    let at = a1["access_token"].as_str().unwrap();
    assert_eq!(jwt_parts(at).1["sub"], sub_a.as_str(), "JWT access token");
    assert_eq!(userinfo_sub(s, at).await, sub_a);
    assert_eq!(s.introspect(at).await["sub"], sub_a.as_str());
    let rt = a1["refresh_token"].as_str().unwrap();
    assert_eq!(s.introspect(rt).await["sub"], sub_a.as_str());
    let r = s
        .post_form(
            "/token",
            Some(("sector-a-1", SECRET)),
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
        .await;
    assert_eq!(r.status(), 200);
    let refreshed: Value = r.json().await.unwrap();
    assert_eq!(id_sub(&refreshed), sub_a, "refreshed ID token");

    // The other client of sector A (its host written in capitals) sees the
    // same sub; sector B another one, also at userinfo through an opaque
    // token and at introspection.
    let a2 = flow(s, &b, "sector-a-2", "https://A.example.com/other", &[]).await;
    assert_eq!(id_sub(&a2), sub_a);
    let sb = flow(s, &b, "sector-b", "https://b.example.com/cb", &[]).await;
    let sub_b = id_sub(&sb);
    assert!(sub_b != sub_a && sub_b != alice, "{sub_b}");
    let opaque = sb["access_token"].as_str().unwrap();
    assert_eq!(userinfo_sub(s, opaque).await, sub_b);
    assert_eq!(s.introspect(opaque).await["sub"], sub_b.as_str());

    // The client's own ID token is a hint for this session: prompt=none
    // answers with a code; another sector's sub is someone else to it.
    let hint = a1["id_token"].as_str().unwrap().to_owned();
    let again = flow(
        s,
        &b,
        "sector-a-1",
        "https://a.example.com/cb",
        &[("id_token_hint", &hint), ("prompt", "none")],
    )
    .await;
    assert_eq!(id_sub(&again), sub_a);
    let (_, challenge) = pkce();
    let claims = format!(r#"{{"id_token":{{"sub":{{"value":"{sub_b}"}}}}}}"#);
    let url = authorize_url(
        s,
        "sector-a-1",
        "https://a.example.com/cb",
        "openid",
        &challenge,
        &[("claims", &claims), ("prompt", "none")],
    );
    let cb = redirect(b.get(&url).await);
    assert_eq!(query(&cb, "error").as_deref(), Some("login_required"));

    // RP-initiated logout with that hint ends the session at once (no
    // confirmation page: the hint names this session's user).
    let url = format!(
        "{}/logout?id_token_hint={hint}&post_logout_redirect_uri={}&state=bye",
        s.base, "https%3A%2F%2Fa.example.com%2Fbye"
    );
    let bye = redirect(b.get(&url).await);
    assert!(
        bye.as_str().starts_with("https://a.example.com/bye"),
        "{bye}"
    );
    assert_eq!(query(&bye, "state").as_deref(), Some("bye"));
    let (_, challenge) = pkce();
    let url = authorize_url(
        s,
        "sector-a-1",
        "https://a.example.com/cb",
        "openid",
        &challenge,
        &[],
    );
    let login = page(b.get(&url).await);
    assert!(login.body.contains("name=\"password\""), "signed out");
}

/// A sector document server: `/uris.json` answers what `doc` holds, and
/// counts fetches.
async fn sector_server(doc: Arc<std::sync::Mutex<String>>, fetches: Arc<AtomicUsize>) -> String {
    use axum::extract::State;
    use axum::routing::get;
    type Shared = State<(Arc<std::sync::Mutex<String>>, Arc<AtomicUsize>)>;
    async fn uris(State((doc, n)): Shared) -> String {
        n.fetch_add(1, Ordering::SeqCst);
        doc.lock().unwrap().clone()
    }
    let app = axum::Router::new()
        .route("/uris.json", get(uris))
        .with_state((doc, fetches));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

both!(a_sector_identifier_uri_is_fetched_and_must_list_the_redirect_uris);
async fn a_sector_identifier_uri_is_fetched_and_must_list_the_redirect_uris(s: &Server) {
    let doc = Arc::new(std::sync::Mutex::new(
        r#"["https://one.example.com/cb"]"#.to_owned(),
    ));
    let fetches = Arc::new(AtomicUsize::new(0));
    let base = sector_server(doc.clone(), fetches.clone()).await;
    let sector_uri = format!("{base}/uris.json");
    let spec = |uris: &[&str], sector: Option<&str>| {
        json!({
            "client_name": "Two hosts",
            "grant_types": ["authorization_code"],
            "redirect_uris": uris,
            "scope": "openid",
            "subject_type": "pairwise",
            "sector_identifier_uri": sector,
        })
    };
    let two = ["https://one.example.com/cb", "https://two.example.com/cb"];

    // Two hosts and no sector: refused before anything is fetched.
    let (status, body) = s
        .admin_call(Method::POST, "/admin/clients", Some(spec(&two, None)))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error_description"],
        "subject_type \"pairwise\": the redirect URIs have more than one host (or none), so a sector_identifier_uri is needed (OpenID Connect Core §8.1)"
    );
    // A document that lists one of the two: refused, saying which.
    let (status, body) = s
        .admin_call(
            Method::POST,
            "/admin/clients",
            Some(spec(&two, Some(&sector_uri))),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error_description"],
        "sector_identifier_uri: the document does not list the redirect URI \"https://two.example.com/cb\" (OpenID Connect Registration §5)"
    );
    assert_eq!(fetches.load(Ordering::SeqCst), 1);

    // Both listed: registered, and the sector is the document's host.
    *doc.lock().unwrap() = json!(two).to_string();
    let created = s
        .admin_expect(
            Method::POST,
            "/admin/clients",
            Some(spec(&two, Some(&sector_uri))),
            201,
        )
        .await;
    assert_eq!(created["subject_type"], "pairwise");
    assert_eq!(created["sector_identifier_uri"], sector_uri.as_str());
    let id = created["client_id"].as_str().unwrap().to_owned();

    // A change that leaves the URIs alone fetches nothing; adding a
    // redirect URI the document lacks is refused and changes nothing.
    let n = fetches.load(Ordering::SeqCst);
    s.admin_expect(
        Method::PATCH,
        &format!("/admin/clients/{id}"),
        Some(json!({"client_name": "Renamed"})),
        200,
    )
    .await;
    assert_eq!(fetches.load(Ordering::SeqCst), n);
    let (status, body) = s
        .admin_call(
            Method::PATCH,
            &format!("/admin/clients/{id}"),
            Some(json!({"redirect_uris": [two[0], two[1], "https://three.example.com/cb"]})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(fetches.load(Ordering::SeqCst), n + 1);
    let shown = s
        .admin_expect(Method::GET, &format!("/admin/clients/{id}"), None, 200)
        .await;
    assert_eq!(shown["redirect_uris"], json!(two));

    // A document server that is gone: refused with why.
    let (status, body) = s
        .admin_call(
            Method::POST,
            "/admin/clients",
            Some(spec(&two, Some("http://127.0.0.1:9/uris.json"))),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error_description"].as_str().unwrap().starts_with(
            "sector_identifier_uri \"http://127.0.0.1:9/uris.json\" could not be fetched"
        ),
        "{body}"
    );

    // The CLI registers the same way.
    let out = s.cli(
        &[
            "clients",
            "create",
            "--name",
            "From the CLI",
            "--grant-type",
            "authorization_code",
            "--redirect-uri",
            two[0],
            "--redirect-uri",
            two[1],
            "--scope",
            "openid",
            "--subject-type",
            "pairwise",
            "--sector-identifier-uri",
            &sector_uri,
            "--json",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
