//! The administrator's side of accounts (issue 12 item 7), through the
//! admin API and the CLI: unlock a throttled account, list and end a user's
//! sessions, update claims, page through every list; each change lands in
//! the audit trail with its actor.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::browser::{Browser, page};
use crate::support::{Server, parts};

/// Two failures lock an account, so the test needs few attempts.
const LOW_LIMIT: &str = "login_max_failures_per_account = 2\n";
const ALICE_PW: &str = "correct horse battery staple";

async fn admin(s: &Server, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let (status, _, body) = parts(s.admin_req(method, path, body).await).await;
    (status, body)
}

/// Signs alice in at the bare login page in a fresh browser; returns the
/// browser and the status of the answer.
async fn sign_in(s: &Server, password: &str) -> (Browser, u16) {
    let b = Browser::new(s);
    let login = page(b.get(&format!("{}/login", s.base)).await);
    let answer = page(b.login(&login, ("alice", password)).await);
    (b, answer.status.as_u16())
}

/// Every item of a paged admin list, `limit` at a time.
async fn every_page(s: &Server, path: &str, field: &str, limit: u32) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            None => format!("{path}?limit={limit}"),
            Some(c) => format!("{path}?limit={limit}&cursor={c}"),
        };
        let (status, body) = admin(s, Method::GET, &url, None).await;
        assert_eq!(status, 200, "{url}: {body}");
        let got = body[field].as_array().unwrap();
        assert!(got.len() <= limit as usize);
        items.extend(got.iter().cloned());
        pages += 1;
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return (items, pages),
        }
    }
}

async fn audit_kinds(s: &Server, q: &str) -> Vec<(String, Value)> {
    let (status, body) = admin(s, Method::GET, &format!("/admin/audit?{q}"), None).await;
    assert_eq!(status, 200, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap().to_owned(), e["detail"].clone()))
        .collect()
}

async fn admin_api_unlock_sessions_update(s: &Server) {
    let (_, alice) = admin(s, Method::GET, "/admin/users/alice", None).await;
    let sub = alice["sub"].as_str().unwrap().to_owned();

    // Locked after two failures: even the right password is refused.
    assert_eq!(sign_in(s, "wrong-password-1").await.1, 401);
    assert_eq!(sign_in(s, "wrong-password-2").await.1, 401);
    assert_eq!(sign_in(s, ALICE_PW).await.1, 429);
    let r = s
        .admin_req(Method::POST, "/admin/users/alice/unlock", None)
        .await;
    assert_eq!(r.status(), 204);
    let (b1, status) = sign_in(s, ALICE_PW).await;
    assert_eq!(status, 200, "unlocked");
    let (_b2, status) = sign_in(s, ALICE_PW).await;
    assert_eq!(status, 200);
    let (status, body) = admin(s, Method::POST, "/admin/users/nobody/unlock", None).await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"error": "not_found", "error_description": "no such user"})
        )
    );

    // Two live sessions, in pages of one.
    let (sessions, pages) = every_page(s, "/admin/users/alice/sessions", "sessions", 1).await;
    assert_eq!((sessions.len(), pages), (2, 2), "{sessions:?}");
    for x in &sessions {
        assert_eq!(x["sub"], sub.as_str());
        assert_eq!(x["amr"], json!(["pwd"]));
        assert!(x.get("id_hash").is_none(), "{x}");
        assert_eq!(x["client_ip"], "127.0.0.1");
        let keys: Vec<&String> = x.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "amr",
                "auth_time",
                "client_ip",
                "created_at",
                "expires_at",
                "last_seen_at",
                "sid",
                "sub",
                "user_agent"
            ]
        );
    }
    let first = sessions[0]["sid"].as_str().unwrap().to_owned();
    let second = sessions[1]["sid"].as_str().unwrap().to_owned();

    // Another user's path does not reach alice's session.
    let (status, bob) = admin(
        s,
        Method::POST,
        "/admin/users",
        Some(json!({"username": "bob"})),
    )
    .await;
    assert_eq!(status, 201, "{bob}");
    let no_session = json!({"error": "not_found", "error_description": "no such session"});
    let (status, body) = admin(
        s,
        Method::DELETE,
        &format!("/admin/users/bob/sessions/{first}"),
        None,
    )
    .await;
    assert_eq!((status, body), (404, no_session.clone()));
    let r = s
        .admin_req(
            Method::DELETE,
            &format!("/admin/users/alice/sessions/{first}"),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    let (status, body) = admin(
        s,
        Method::DELETE,
        &format!("/admin/users/alice/sessions/{first}"),
        None,
    )
    .await;
    assert_eq!((status, body), (404, no_session), "already ended");
    let (_, left) = admin(s, Method::GET, "/admin/users/alice/sessions", None).await;
    assert_eq!(left["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(left["sessions"][0]["sid"], second.as_str());
    assert_eq!(left["next_cursor"], Value::Null);
    // The ended session's browser is asked to sign in again.
    let again = page(b1.get(&format!("{}/login", s.base)).await);
    assert!(again.body.contains("name=\"password\""));

    let (status, body) = admin(s, Method::DELETE, "/admin/users/alice/sessions", None).await;
    assert_eq!((status, body), (200, json!({"ended": 1})));
    let (_, none) = admin(s, Method::GET, "/admin/users/alice/sessions", None).await;
    assert_eq!(none, json!({"sessions": [], "next_cursor": null}));

    // Claims: a merge patch; null removes one; unknown names are refused.
    let (status, u) = admin(
        s,
        Method::PATCH,
        "/admin/users/alice",
        Some(json!({"claims": {"nickname": "Al", "name": null}})),
    )
    .await;
    assert_eq!(status, 200, "{u}");
    assert_eq!(u["nickname"], "Al");
    assert!(u.get("name").is_none(), "{u}");
    assert_eq!(u["email"], "alice@example.com", "untouched");
    assert_eq!(u["email_verified"], true, "untouched");
    let (status, body) = admin(
        s,
        Method::PATCH,
        "/admin/users/alice",
        Some(json!({"claims": {"shoe_size": 9}})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error_description"],
        "unknown claim \"shoe_size\": the claims are name, given_name, family_name, nickname, picture, locale, email, email_verified, phone_number, phone_number_verified, address"
    );
    let (status, body) = admin(
        s,
        Method::PATCH,
        "/admin/users/alice",
        Some(json!({"claims": {"email": "not-an-address"}})),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"error": "invalid_request", "error_description": "email must be an e-mail address"})
        )
    );

    // The trail: each change with its actor and what it touched.
    let trail = audit_kinds(s, "actor=admin-api&kind=admin.user").await;
    let want: Vec<(String, Value)> = vec![
        ("admin.user.unlock".into(), json!({})),
        (
            "admin.user.create".into(),
            json!({"username": "bob", "has_password": false}),
        ),
        ("admin.user.session_end".into(), json!({"sid": first})),
        ("admin.user.session_end".into(), json!({"sessions": 1})),
        (
            "admin.user.update".into(),
            json!({"fields": ["name", "nickname"]}),
        ),
    ];
    assert_eq!(trail, want);
}
both!(admin_api_unlock_sessions_update, LOW_LIMIT);

/// Every admin list pages with `limit` and `cursor`; bad values are 400.
async fn admin_lists_page(s: &Server) {
    for name in ["u-3", "u-1", "u-2", "u-5", "u-4"] {
        let (status, _) = admin(
            s,
            Method::POST,
            "/admin/users",
            Some(json!({"username": name})),
        )
        .await;
        assert_eq!(status, 201);
    }
    let (all, _) = every_page(s, "/admin/users", "users", 200).await;
    let names: Vec<&str> = all
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "u-1", "u-2", "u-3", "u-4", "u-5"]);
    let (paged, pages) = every_page(s, "/admin/users", "users", 2).await;
    assert_eq!((paged, pages), (all, 3));

    let (all, _) = every_page(s, "/admin/clients", "clients", 200).await;
    assert_eq!(all.len(), 5, "the bootstrap clients");
    let (paged, pages) = every_page(s, "/admin/clients", "clients", 2).await;
    assert_eq!((&paged, pages), (&all, 3));
    let ids: Vec<&str> = all
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted);

    for path in [
        "/admin/users?limit=0",
        "/admin/clients?limit=500",
        "/admin/users/alice/sessions?limit=x",
        "/admin/users/alice/consents?limit=-1",
    ] {
        let (status, body) = admin(s, Method::GET, path, None).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(
            body,
            json!({"error": "invalid_request", "error_description": "limit must be a whole number from 1 to 200"}),
            "{path}"
        );
    }
    let (status, body) = admin(s, Method::GET, "/admin/users?cursor=!!", None).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"error": "invalid_request", "error_description": "cursor is not a cursor this server gave out"})
        )
    );
    let (status, body) = admin(s, Method::GET, "/admin/clients?order=desc", None).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"error": "invalid_request", "error_description": "unknown parameter \"order\""})
        )
    );
}
both!(admin_lists_page);

fn cli_ok(s: &Server, args: &[&str]) -> (String, String) {
    cli_in(s, args, None)
}

fn cli_in(s: &Server, args: &[&str], stdin: Option<&str>) -> (String, String) {
    let o = s.cli(args, stdin);
    let out = String::from_utf8(o.stdout).unwrap();
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(o.status.success(), "{args:?}: {err}\n{out}");
    (out, err)
}

async fn cli_users_unlock_sessions_update(s: &Server) {
    // Created without a password: it says so (on stderr, so --json stays JSON).
    let (out, err) = cli_ok(s, &["users", "create", "--username", "dan", "--json"]);
    let dan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(dan["has_password"], false);
    assert_eq!(
        err.trim(),
        "note: dan cannot sign in until a password is set: frontdesk users set-password dan --password-stdin"
    );
    let (_, err) = cli_in(
        s,
        &["users", "create", "--username", "erin", "--password-stdin"],
        Some("erin-password-123\n"),
    );
    assert_eq!(err, "", "a user with a password gets no note");

    let (out, _) = cli_ok(
        s,
        &[
            "users",
            "update",
            "dan",
            "--name",
            "Dan Dare",
            "--email",
            "dan@example.com",
            "--email-verified",
            "true",
        ],
    );
    let u: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (&u["name"], &u["email"], &u["email_verified"]),
        (&json!("Dan Dare"), &json!("dan@example.com"), &json!(true))
    );
    let (out, _) = cli_ok(s, &["users", "update", "dan", "--name", ""]);
    let u: Value = serde_json::from_str(&out).unwrap();
    assert!(u.get("name").is_none(), "{u}");
    assert_eq!(u["email"], "dan@example.com");
    let o = s.cli(&["users", "update", "dan"], None);
    assert!(!o.status.success());
    assert_eq!(
        String::from_utf8(o.stderr).unwrap().trim(),
        "frontdesk: users update: nothing to change (see --help)"
    );

    // Locked, unlocked from the command line.
    assert_eq!(sign_in(s, "wrong-password-1").await.1, 401);
    assert_eq!(sign_in(s, "wrong-password-2").await.1, 401);
    assert_eq!(sign_in(s, ALICE_PW).await.1, 429);
    let (out, _) = cli_ok(s, &["users", "unlock", "alice@example.com"]);
    assert_eq!(
        out.trim(),
        "unlocked alice: failed sign-ins no longer block it"
    );
    let (_b1, status) = sign_in(s, ALICE_PW).await;
    assert_eq!(status, 200);
    let (_b2, status) = sign_in(s, ALICE_PW).await;
    assert_eq!(status, 200);

    let (out, _) = cli_ok(s, &["users", "sessions", "alice", "--json"]);
    let sessions: Value = serde_json::from_str(&out).unwrap();
    let sids: Vec<&str> = sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["sid"].as_str().unwrap())
        .collect();
    assert_eq!(sids.len(), 2, "{sessions}");
    let (out, _) = cli_ok(s, &["users", "sessions", "alice"]);
    assert_eq!(out.lines().count(), 2);
    assert!(
        out.lines().all(|l| l.split('\t').nth(2) == Some("pwd")),
        "{out}"
    );
    let (out, _) = cli_ok(s, &["users", "sessions", "alice", "--end", sids[0]]);
    assert_eq!(out.trim(), format!("ended session {} of alice", sids[0]));
    let o = s.cli(&["users", "sessions", "dan", "--end", sids[1]], None);
    assert!(!o.status.success());
    assert_eq!(
        String::from_utf8(o.stderr).unwrap().trim(),
        "frontdesk: no such session"
    );
    // One sid in 64 starts with `-`: still a value, not a flag.
    let o = s.cli(
        &["users", "sessions", "alice", "--end", "-6YoVJ1VA5L"],
        None,
    );
    assert_eq!(
        String::from_utf8(o.stderr).unwrap().trim(),
        "frontdesk: no such session"
    );
    let (out, _) = cli_ok(s, &["users", "sessions", "alice", "--end-all"]);
    assert_eq!(out.trim(), "ended 1 session(s) of alice");
    let (out, _) = cli_ok(s, &["users", "sessions", "alice", "--json"]);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), json!([]));

    // Listing pages through everything.
    let (out, _) = cli_ok(s, &["users", "list", "--json"]);
    let names: Vec<String> = serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["alice", "dan", "erin"]);

    // The trail names the CLI as the actor and has no peer or request id.
    let (status, body) = admin(s, Method::GET, "/admin/audit?actor=cli", None).await;
    assert_eq!(status, 200);
    let events = body["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "admin.user.create",
            "admin.user.create",
            "admin.user.update",
            "admin.user.update",
            "admin.user.unlock",
            "admin.user.session_end",
            "admin.user.session_end",
        ]
    );
    for e in events {
        assert_eq!(e["peer"], Value::Null, "{e}");
        assert_eq!(e["request_id"], Value::Null, "{e}");
    }
}
both!(cli_users_unlock_sessions_update, LOW_LIMIT);
