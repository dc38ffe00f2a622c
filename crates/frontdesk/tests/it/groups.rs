//! Groups over real HTTP: a client that requires a group turns everyone
//! else away with a page (and `access_denied` under prompt=none), the
//! `groups` claim reaches the ID token, the JWT access token (RFC 9068
//! §2.2.3.1), userinfo and introspection through the client's release
//! filter, and a removed member's next refresh is refused. Managed with the
//! admin API and the CLI.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::browser::{Browser, End, authorize_url, page, pkce, query, redirect};
use crate::signin::verify_id_token;
use crate::support::{Server, jwt_parts};

const STAFF: (&str, &str) = ("staff-app", "staff-app-secret-0123456789abcdef");
const STAFF_CB: &str = "https://staff.example.com/cb";
const CAROL: (&str, &str) = ("carol", "carol-password-123456");

const CONFIG: &str = r#"
[[clients]]
client_id = "staff-app"
client_secret = "staff-app-secret-0123456789abcdef"
client_name = "Staff App"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://staff.example.com/cb"]
scope = "openid profile groups offline_access"
required_groups = ["staff"]
released_groups = ["staff", "app1:*"]

[[clients]]
client_id = "staff-opaque"
client_secret = "staff-opaque-secret-0123456789abcdef"
client_name = "Staff Opaque"
grant_types = ["authorization_code"]
redirect_uris = ["https://staff.example.com/cb"]
scope = "openid groups"
access_token_format = "opaque"
first_party = true

[[users]]
username = "carol"
password = "carol-password-123456"
email = "carol@example.com"
groups = ["staff", "app1:admin", "finance"]
"#;

async fn token(s: &Server, client: (&str, &str), form: &[(&str, &str)]) -> (u16, Value) {
    let r = s.post_form("/token", Some(client), form).await;
    let status = r.status().as_u16();
    (status, r.json().await.expect("token json"))
}

async fn admin(s: &Server, m: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    s.admin_call(m, path, body).await
}

/// Exchanges a code at staff-app.
async fn exchange(s: &Server, code: &str, verifier: &str) -> (u16, Value) {
    token(
        s,
        STAFF,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", STAFF_CB),
            ("code_verifier", verifier),
        ],
    )
    .await
}

/// Runs a CLI command that must succeed; its stdout.
fn cli_ok(s: &Server, args: &[&str]) -> String {
    let out = s.cli(args, None);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn userinfo(s: &Server, at: &str) -> Value {
    let r = s
        .http
        .get(s.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(r.status(), 200);
    r.json().await.expect("userinfo json")
}

/// Signs `user` in at `client` (login, consent when asked) and returns the
/// page or redirect the last step ended on.
async fn sign_in(
    s: &Server,
    b: &Browser,
    client: &str,
    scope: &str,
    challenge: &str,
    user: (&str, &str),
) -> End {
    let login = page(
        b.get(&authorize_url(s, client, STAFF_CB, scope, challenge, &[]))
            .await,
    );
    assert_eq!(login.status, 200, "{}", login.body);
    let mut end = b.login(&login, user).await;
    if let End::Page(p) = &end
        && p.body.contains("action=\"/consent\"")
    {
        end = b.consent(p, "approve").await;
    }
    end
}

async fn required_and_released_groups(s: &Server) {
    // Discovery advertises the scope and the claim.
    let disc = s.get_json("/.well-known/openid-configuration").await;
    assert!(
        disc["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("groups"))
    );
    assert!(
        disc["claims_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("groups"))
    );

    // alice is in no group: after her password she meets a page, not a redirect.
    let b = Browser::new(s);
    let (_, challenge) = pkce();
    let refused = page(sign_in(s, &b, STAFF.0, "openid", &challenge, crate::browser::ALICE).await);
    assert_eq!(refused.status, 403);
    assert!(
        refused.body.contains("has not been given") && refused.body.contains("Staff App"),
        "{}",
        refused.body
    );
    assert!(!refused.body.contains("staff\""), "the page names no group");
    assert!(!refused.body.contains("app1:"), "the page names no group");
    // prompt=none with her session: access_denied back at the client.
    let cb = redirect(
        b.get(&authorize_url(
            s,
            STAFF.0,
            STAFF_CB,
            "openid",
            &challenge,
            &[("prompt", "none")],
        ))
        .await,
    );
    assert_eq!(query(&cb, "error").as_deref(), Some("access_denied"));
    assert_eq!(
        query(&cb, "error_description").as_deref(),
        Some("the user is not a member of a group this client requires")
    );
    // A client without required groups still signs her in (SSO, no password).
    let (status, events) = admin(
        s,
        Method::GET,
        "/admin/audit?kind=authorize.not_admitted",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["client_id"], STAFF.0);
    assert_eq!(events[0]["outcome"], "refused");

    // carol is staff: her tokens carry her groups through the client's filter.
    let b = Browser::new(s);
    let (verifier, challenge) = pkce();
    let cb = redirect(
        sign_in(
            s,
            &b,
            STAFF.0,
            "openid groups offline_access",
            &challenge,
            CAROL,
        )
        .await,
    );
    let code = query(&cb, "code").expect("code");
    let (status, body) = exchange(s, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    let released = json!(["app1:admin", "staff"]);
    let id = verify_id_token(s, body["id_token"].as_str().unwrap(), STAFF.0).await;
    assert_eq!(
        id["groups"], released,
        "finance is not released to this client"
    );
    let at = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(jwt_parts(&at).1["groups"], released);
    assert_eq!(userinfo(s, &at).await["groups"], released);
    let rt = body["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();

    // The admin API sees her groups; she leaves app1:admin and userinfo is live.
    let (status, mine) = admin(s, Method::GET, "/admin/users/carol/groups", None).await;
    assert_eq!(status, 200);
    assert_eq!(mine, json!({"groups": ["app1:admin", "finance", "staff"]}));
    let (status, _) = admin(
        s,
        Method::DELETE,
        "/admin/groups/app1:admin/members/carol",
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(userinfo(s, &at).await["groups"], json!(["staff"]));
    // The JWT stays as issued (it is self-contained); refresh re-reads.
    assert_eq!(jwt_parts(&at).1["groups"], released);
    let (status, body) = token(
        s,
        STAFF,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        jwt_parts(body["access_token"].as_str().unwrap()).1["groups"],
        json!(["staff"])
    );
    let rt = body["refresh_token"].as_str().unwrap().to_owned();

    // Out of staff: the next refresh is refused with RFC 6749 §5.2 JSON.
    let (status, _) = admin(s, Method::DELETE, "/admin/groups/staff/members/carol", None).await;
    assert_eq!(status, 204);
    let (status, body) = token(
        s,
        STAFF,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({
            "error": "invalid_grant",
            "error_description": "the user is not a member of a group this client requires"
        })
    );
    // Removing her again: 404, nothing to remove.
    let (status, body) = admin(s, Method::DELETE, "/admin/groups/staff/members/carol", None).await;
    assert_eq!(status, 404, "{body}");

    // A code issued while she was a member is refused once she is not.
    let (status, _) = admin(s, Method::PUT, "/admin/groups/staff/members/carol", None).await;
    assert_eq!(status, 204);
    let (verifier, challenge) = pkce();
    let cb = redirect(
        b.get(&authorize_url(
            s,
            STAFF.0,
            STAFF_CB,
            "openid groups",
            &challenge,
            &[],
        ))
        .await,
    );
    let code = query(&cb, "code").expect("a code: SSO, consent remembered");
    let (status, _) = admin(s, Method::DELETE, "/admin/groups/staff/members/carol", None).await;
    assert_eq!(status, 204);
    let (status, body) = exchange(s, &code, &verifier).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error_description"],
        "the user is not a member of a group this client requires"
    );
    assert_eq!(body["error"], "invalid_grant");
}
both!(required_and_released_groups, CONFIG);

async fn admin_api_and_cli(s: &Server) {
    let (status, g) = admin(
        s,
        Method::POST,
        "/admin/groups",
        Some(json!({"name": "ops", "description": "On call"})),
    )
    .await;
    assert_eq!(status, 201, "{g}");
    assert_eq!(g["name"], "ops");
    assert_eq!(g["description"], "On call");
    let (status, body) = admin(
        s,
        Method::POST,
        "/admin/groups",
        Some(json!({"name": "ops"})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "conflict");
    let (status, body) = admin(
        s,
        Method::POST,
        "/admin/groups",
        Some(json!({"name": "has space"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_request");
    let (status, _) = admin(s, Method::GET, "/admin/groups/nope", None).await;
    assert_eq!(status, 404);
    // `--required-groups ""` is refused rather than read as "everyone".
    for value in ["", " , "] {
        let out = s.cli(
            &[
                "clients",
                "create",
                "--name",
                "Typo",
                "--grant-type",
                "client_credentials",
                "--required-groups",
                value,
            ],
            None,
        );
        assert!(!out.status.success(), "{value:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--required-groups: no group name given"),
            "{err}"
        );
    }
    let (status, _) = admin(s, Method::PUT, "/admin/groups/nope/members/alice", None).await;
    assert_eq!(status, 404);
    let (status, _) = admin(s, Method::PUT, "/admin/groups/ops/members/nobody", None).await;
    assert_eq!(status, 404);
    // PUT is idempotent.
    for _ in 0..2 {
        let (status, _) = admin(s, Method::PUT, "/admin/groups/ops/members/alice", None).await;
        assert_eq!(status, 204);
    }
    let (status, page) = admin(s, Method::GET, "/admin/groups/ops/members", None).await;
    assert_eq!(status, 200);
    let members = page["members"].as_array().unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["username"], "alice");
    assert_eq!(page["next_cursor"], Value::Null);
    // Paging over the groups, by name: app1:admin, finance, ops, staff.
    let (status, p1) = admin(s, Method::GET, "/admin/groups?limit=3", None).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = p1["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app1:admin", "finance", "ops"]);
    let cursor = p1["next_cursor"].as_str().expect("a second page");
    let (_, p2) = admin(
        s,
        Method::GET,
        &format!("/admin/groups?limit=3&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(p2["groups"][0]["name"], "staff");
    assert_eq!(p2["next_cursor"], Value::Null);

    // The CLI on the same database.
    cli_ok(
        s,
        &[
            "groups",
            "add",
            "auditors",
            "--description",
            "Read the books",
        ],
    );
    assert_eq!(
        cli_ok(s, &["groups", "add-member", "auditors", "alice"]),
        "added alice to auditors\n"
    );
    assert_eq!(
        cli_ok(s, &["groups", "add-member", "auditors", "alice"]),
        "alice is in auditors already\n"
    );
    assert_eq!(cli_ok(s, &["users", "groups", "alice"]), "auditors\nops\n");
    let out = s.cli(&["groups", "add-member", "missing", "alice"], None);
    assert!(!out.status.success());

    // Deleting a group removes its memberships; re-creating it starts empty.
    let (status, _) = admin(s, Method::DELETE, "/admin/groups/ops", None).await;
    assert_eq!(status, 204);
    let (status, _) = admin(
        s,
        Method::POST,
        "/admin/groups",
        Some(json!({"name": "ops"})),
    )
    .await;
    assert_eq!(status, 201);
    let (_, mine) = admin(s, Method::GET, "/admin/users/alice/groups", None).await;
    assert_eq!(mine, json!({"groups": ["auditors"]}));

    // A client's required and released groups through the admin API.
    let (status, c) = admin(
        s,
        Method::PATCH,
        "/admin/clients/staff-opaque",
        Some(json!({"released_groups": ["aud*"]})),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["released_groups"], json!(["aud*"]));
    assert_eq!(c["required_groups"], json!([]));
    let (status, body) = admin(
        s,
        Method::PATCH,
        "/admin/clients/staff-opaque",
        Some(json!({"released_groups": ["a*b"]})),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // Opaque tokens: introspection answers the live groups, filtered.
    let b = Browser::new(s);
    let (verifier, challenge) = pkce();
    let cb = redirect(
        sign_in(
            s,
            &b,
            "staff-opaque",
            "openid groups",
            &challenge,
            crate::browser::ALICE,
        )
        .await,
    );
    let code = query(&cb, "code").expect("code");
    let (status, body) = token(
        s,
        ("staff-opaque", "staff-opaque-secret-0123456789abcdef"),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", STAFF_CB),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let at = body["access_token"].as_str().unwrap();
    let intro = s.introspect(at).await;
    assert_eq!(intro["active"], true);
    assert_eq!(intro["groups"], json!(["auditors"]));
    let (status, _) = admin(
        s,
        Method::DELETE,
        "/admin/groups/auditors/members/alice",
        None,
    )
    .await;
    assert_eq!(status, 204);
    let intro = s.introspect(at).await;
    assert_eq!(intro["groups"], json!([]));
}
both!(admin_api_and_cli, CONFIG);

/// `[[users]] groups` are the configuration's memberships: a restart
/// restores them, and leaves alone the ones an administrator made.
async fn configured_groups_leave_the_others_alone(
    dir: tempfile::TempDir,
    db: crate::support::Database,
) {
    let mut s = Server::start_in(dir, &db.url, CONFIG);
    s.admin_expect(
        Method::POST,
        "/admin/groups",
        Some(json!({"name": "ops"})),
        201,
    )
    .await;
    s.admin_expect(Method::PUT, "/admin/groups/ops/members/carol", None, 204)
        .await;
    s.admin_expect(
        Method::DELETE,
        "/admin/groups/finance/members/carol",
        None,
        204,
    )
    .await;
    s.restart(CONFIG);
    let mine = s
        .admin_expect(Method::GET, "/admin/users/carol/groups", None, 200)
        .await;
    assert_eq!(
        mine,
        json!({"groups": ["app1:admin", "finance", "ops", "staff"]}),
        "finance back from the configuration, ops kept"
    );
}
both!(with_db configured_groups_leave_the_others_alone);
