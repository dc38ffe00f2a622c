//! The audit trail (issue 12 item 8): a scripted session, then
//! `GET /admin/audit` returns exactly its events, in order, with who, whom,
//! which client and from where; the same events are log lines under the
//! `audit` target; and no secret of the session appears in any line the
//! server wrote.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::browser::{Browser, End, authorize_url, page, pkce, query, redirect};
use crate::support::{ADMIN_TOKEN, Server, parts};

const CB: &str = "https://audit-app.example.com/cb";
const PASSWORD: &str = "carol-Secret-Pass-8c1f0e";
const WRONG_PASSWORD: &str = "carol-Mistyped-Pass-51d7";

/// JSON log lines, so that the audit lines can be read field by field.
const JSON_LOGS: &str = "log_format = \"json\"\n";

/// What the scripted session produced: the ids to expect in the trail and
/// every secret it handled.
struct Script {
    client_id: String,
    sub: String,
    sid: String,
    /// `X-Request-Id` of the admin request that created the client.
    create_request_id: String,
    secrets: Vec<(&'static str, String)>,
}

async fn admin(s: &Server, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let (status, _, body) = parts(s.admin_req(method, path, body).await).await;
    (status, body)
}

async fn token(s: &Server, client: (&str, &str), form: &[(&str, &str)]) -> (u16, Value) {
    let (status, _, body) = parts(s.post_form("/token", Some(client), form).await).await;
    (status, body)
}

/// Admin creates a client and a user; the user signs in with a wrong, then
/// the right password, consents, gets tokens; the client revokes the access
/// token, refreshes, replays the old refresh token and the code; the user
/// signs out.
async fn scripted_session(s: &Server) -> Script {
    let r = s
        .admin_req(
            Method::POST,
            "/admin/clients",
            Some(json!({
                "client_name": "Audit App",
                "redirect_uris": [CB],
                "grant_types": ["authorization_code", "refresh_token"],
                "scope": "openid offline_access",
                "always_issue_refresh_token": true,
                "refresh_grace_secs": 0,
            })),
        )
        .await;
    let create_request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let (status, _, created) = parts(r).await;
    assert_eq!(status, 201, "{created}");
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let client_secret = created["client_secret"].as_str().unwrap().to_owned();
    let (status, user) = admin(
        s,
        Method::POST,
        "/admin/users",
        Some(json!({"username": "carol", "password": PASSWORD, "email": "carol@example.com"})),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    let sub = user["sub"].as_str().unwrap().to_owned();

    let b = Browser::new(s);
    let (verifier, challenge) = pkce();
    let login = page(
        b.get(&authorize_url(
            s,
            &client_id,
            CB,
            "openid offline_access",
            &challenge,
            &[],
        ))
        .await,
    );
    let csrf = login.input("csrf").unwrap();
    let failed = page(b.login(&login, ("carol", WRONG_PASSWORD)).await);
    assert_eq!(failed.status, 401);
    let consent = page(b.login(&failed, ("carol", PASSWORD)).await);
    assert!(
        consent.body.contains("action=\"/consent\""),
        "{}",
        consent.body
    );
    let cb = redirect(b.consent(&consent, "approve").await);
    let code = query(&cb, "code").unwrap();

    let client = (client_id.as_str(), client_secret.as_str());
    let redeem = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, tokens) = token(s, client, &redeem).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();
    let sid = crate::support::jwt_parts(&id_token).1["sid"]
        .as_str()
        .unwrap()
        .to_owned();

    let r = s
        .post_form("/revoke", Some(client), &[("token", access.as_str())])
        .await;
    assert_eq!(r.status(), 200);
    let (status, rotated) = token(
        s,
        client,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let refresh2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    let access2 = rotated["access_token"].as_str().unwrap().to_owned();
    // Reuse of the consumed token (grace 0): the grant is revoked.
    let (status, reused) = token(
        s,
        client,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        reused,
        json!({"error": "invalid_grant", "error_description": "the refresh token was already used; the grant is revoked"})
    );
    let (status, replayed) = token(s, client, &redeem).await;
    assert_eq!(status, 400);
    assert_eq!(
        replayed,
        json!({"error": "invalid_grant", "error_description": "the authorization code was already used"})
    );

    let logout = format!(
        "{}/logout?id_token_hint={}",
        s.base,
        form_urlencoded::byte_serialize(id_token.as_bytes()).collect::<String>()
    );
    match b.get(&logout).await {
        End::Page(p) => assert!(p.body.contains("You are signed out"), "{}", p.body),
        End::Redirect(u) => panic!("unexpected redirect to {u}"),
    }

    Script {
        client_id,
        sub,
        sid,
        create_request_id,
        secrets: vec![
            ("password", PASSWORD.to_owned()),
            ("wrong password", WRONG_PASSWORD.to_owned()),
            ("client secret", client_secret),
            ("admin token", ADMIN_TOKEN.to_owned()),
            ("code", code),
            ("code verifier", verifier),
            ("csrf token", csrf),
            ("access token", access),
            ("access token 2", access2),
            ("refresh token", refresh),
            ("refresh token 2", refresh2),
            ("id token", id_token),
        ],
    }
}

/// Every event of `GET /admin/audit?<q>`, following `next_cursor`.
async fn all_events(s: &Server, q: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => format!("/admin/audit?{q}"),
            Some(c) => format!("/admin/audit?{q}&cursor={c}"),
        };
        let (status, body) = admin(s, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        out.extend(body["events"].as_array().unwrap().iter().cloned());
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => {
                assert_eq!(body["next_cursor"], Value::Null);
                return out;
            }
        }
    }
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

/// kind, outcome, actor, subject, client_id, detail (`Null`: just a grant_id).
type Expected<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Value,
);

/// The audit trail of the scripted session, its filters and its pages.
async fn audit_trail_of_a_scripted_session(s: &Server) {
    let script = scripted_session(s).await;
    let (sub, client) = (script.sub.as_str(), script.client_id.as_str());
    let events = all_events(s, "limit=200").await;
    assert_eq!(
        kinds(&events),
        [
            "admin.client.create",
            "admin.user.create",
            "login.failure",
            "login.success",
            "consent.grant",
            "token.revoke",
            "refresh.reuse_detected",
            "code.reuse_detected",
            "session.end",
        ],
        "{events:#?}"
    );
    let user = sub.to_owned();
    let by_client = format!("client:{client}");
    let expect: [Expected; 9] = [
        (
            "admin.client.create",
            "success",
            Some("admin-api"),
            None,
            Some(client),
            json!({}),
        ),
        (
            "admin.user.create",
            "success",
            Some("admin-api"),
            Some(sub),
            None,
            json!({"username": "carol", "has_password": true}),
        ),
        (
            "login.failure",
            "failure",
            None,
            Some(sub),
            Some(client),
            json!({"username": "carol"}),
        ),
        (
            "login.success",
            "success",
            Some(user.as_str()),
            Some(sub),
            Some(client),
            json!({"username": "carol"}),
        ),
        (
            "consent.grant",
            "success",
            Some(user.as_str()),
            Some(sub),
            Some(client),
            json!({"scope": "openid offline_access"}),
        ),
        (
            "token.revoke",
            "success",
            Some(by_client.as_str()),
            Some(sub),
            Some(client),
            json!({"token_type": "access_token"}),
        ),
        (
            "refresh.reuse_detected",
            "refused",
            Some(by_client.as_str()),
            Some(sub),
            Some(client),
            Value::Null,
        ),
        (
            "code.reuse_detected",
            "refused",
            Some(by_client.as_str()),
            Some(sub),
            Some(client),
            Value::Null,
        ),
        (
            "session.end",
            "success",
            Some(user.as_str()),
            Some(sub),
            Some(client),
            json!({"sid": script.sid}),
        ),
    ];
    let mut request_ids = Vec::new();
    for (e, (kind, outcome, actor, subject, client_id, detail)) in events.iter().zip(&expect) {
        assert_eq!(e["kind"], *kind);
        assert_eq!(e["outcome"], *outcome, "{e}");
        assert_eq!(e["actor"].as_str(), *actor, "{e}");
        assert_eq!(e["subject"].as_str(), *subject, "{e}");
        assert_eq!(e["client_id"].as_str(), *client_id, "{e}");
        assert_eq!(e["peer"], "127.0.0.1", "{e}");
        if detail.is_null() {
            // The revoked grant, by id.
            let keys: Vec<&String> = e["detail"].as_object().unwrap().keys().collect();
            assert_eq!(keys, ["grant_id"], "{e}");
        } else {
            assert_eq!(e["detail"], *detail, "{e}");
        }
        let rid = e["request_id"].as_str().unwrap();
        assert_eq!(rid.len(), 32, "{e}");
        request_ids.push(rid.to_owned());
        assert!(e["at"].as_i64().unwrap() > 1_700_000_000, "{e}");
    }
    assert_eq!(request_ids[0], script.create_request_id);
    let mut distinct = request_ids.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), request_ids.len(), "one request, one event");
    let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "ordered by (at, id), ids sort by creation");

    // Filters.
    let cases: [(String, Vec<&str>); 8] = [
        ("kind=login".into(), vec!["login.failure", "login.success"]),
        (
            "kind=login.*".into(),
            vec!["login.failure", "login.success"],
        ),
        (
            "kind=admin".into(),
            vec!["admin.client.create", "admin.user.create"],
        ),
        (
            "kind=code.reuse_detected".into(),
            vec!["code.reuse_detected"],
        ),
        (
            "actor=admin-api".into(),
            vec!["admin.client.create", "admin.user.create"],
        ),
        (
            format!("actor=client:{client}"),
            vec![
                "token.revoke",
                "refresh.reuse_detected",
                "code.reuse_detected",
            ],
        ),
        (format!("subject={sub}&kind=session"), vec!["session.end"]),
        ("subject=nobody".into(), vec![]),
    ];
    for (q, want) in cases {
        assert_eq!(kinds(&all_events(s, &q).await), want, "{q}");
    }
    let by_client = all_events(s, &format!("client_id={client}")).await;
    assert_eq!(by_client.len(), 8, "all but the user's creation");
    let first = events[0]["at"].as_i64().unwrap();
    let last = events[8]["at"].as_i64().unwrap();
    assert_eq!(all_events(s, &format!("since={}", last + 1)).await.len(), 0);
    assert_eq!(all_events(s, &format!("until={first}")).await.len(), 0);
    assert_eq!(
        all_events(s, &format!("since={first}&until={}", last + 1))
            .await
            .len(),
        9
    );

    // Pages of 4: 4 + 4 + 1, the same events in the same order.
    let (status, p1) = admin(s, Method::GET, "/admin/audit?limit=4", None).await;
    assert_eq!(status, 200);
    assert_eq!(p1["events"].as_array().unwrap().len(), 4);
    let paged = all_events(s, "limit=4").await;
    assert_eq!(paged, events);
    let (_, one) = admin(s, Method::GET, "/admin/audit?limit=9", None).await;
    assert_eq!(one["next_cursor"], Value::Null, "exactly one full page");

    // Bad parameters: 400 with a clear description.
    for (q, description) in [
        ("limit=0", "limit must be a whole number from 1 to 200"),
        ("limit=201", "limit must be a whole number from 1 to 200"),
        (
            "cursor=%2A%2A",
            "cursor is not a cursor this server gave out",
        ),
        // Valid base64url, but not an audit key.
        (
            "cursor=bm9wZQ",
            "cursor is not a cursor this server gave out",
        ),
        ("since=yesterday", "since must be a Unix time in seconds"),
        (
            "kind=Login",
            "kind must be a dotted event name such as login or login.failure",
        ),
        ("sub=x", "unknown parameter \"sub\""),
        ("kind=login&kind=consent", "parameter kind is repeated"),
    ] {
        let (status, h, body) = parts(
            s.admin_req(Method::GET, &format!("/admin/audit?{q}"), None)
                .await,
        )
        .await;
        assert_eq!(status, 400, "{q}");
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(
            body,
            json!({"error": "invalid_request", "error_description": description}),
            "{q}"
        );
    }
    // Behind the admin token like the rest of the API.
    let r = s
        .http
        .get(format!("{}/admin/audit", s.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // The same events are log lines under the `audit` target, JSON fields.
    let log = s.log();
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "audit")
        .collect();
    for e in &events {
        let line = lines
            .iter()
            .find(|l| l["fields"]["event_id"] == e["id"])
            .unwrap_or_else(|| panic!("no audit log line for {e}\n{log}"));
        let f = &line["fields"];
        assert_eq!(f["kind"], e["kind"]);
        assert_eq!(f["request_id"], e["request_id"]);
        assert_eq!(f["peer"], "127.0.0.1");
        assert_eq!(f["subject"], e["subject"], "{line}");
        let detail: Value = serde_json::from_str(f["detail"].as_str().unwrap()).unwrap();
        assert_eq!(detail, e["detail"]);
    }
}
both!(audit_trail_of_a_scripted_session, JSON_LOGS);

/// SECURITY.md (log and audit secret leakage): the scripted session with
/// its known password, mistyped password, client secret, admin token, code,
/// PKCE verifier, CSRF token, access, refresh and ID tokens; none of them
/// appears in any line the server process wrote (stdout and stderr), nor in
/// the audit trail.
async fn no_secret_in_any_log_line(s: &Server) {
    let script = scripted_session(s).await;
    let events = all_events(s, "limit=200").await;
    assert_eq!(events.len(), 9, "{events:#?}");
    let trail = serde_json::to_string(&events).unwrap();
    let log = s.log();
    assert!(log.contains("audit event"), "the audit lines are there");
    let everything = format!("{}\n{log}\n{trail}", s.startup.join("\n"));
    for (what, secret) in &script.secrets {
        assert!(secret.len() >= 16, "{what} is long enough to be found");
        for (n, line) in everything.lines().enumerate() {
            assert!(
                !line.contains(secret.as_str()),
                "the {what} appears in output line {n}: {line}"
            );
        }
    }
}
both!(no_secret_in_any_log_line);
