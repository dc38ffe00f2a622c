//! SECURITY.md §5.7 over real TCP: slow and idle connections are closed
//! after `header_read_timeout_secs` (1 s here), bodies that trickle in get
//! 408 after `body_read_timeout_secs` (1 s here), request heads are capped
//! at 16 KiB and 100 fields (431), forms at 100 parameters (RFC 6749 §5.2
//! `invalid_request`) and bodies at 64 KiB (413, on every listener).
//!
//! Deadlines are generous (1 s timeout, 20 s before a test gives up): these
//! tests check that connections are closed, never how fast.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both;
use crate::support::{ADMIN_TOKEN, Server, assert_no_store, basic_header};

const ID: &str = "order-service";
const SECRET: &str = "order-service-secret-0123456789";
const FAST: &str = "header_read_timeout_secs = 1\n";
const FAST_BODY: &str = "body_read_timeout_secs = 1\n";
/// Longest a test waits for the server to close a connection that the
/// 1 s header-read timeout should close.
const GIVE_UP: Duration = Duration::from_secs(20);

/// `host:port` of `http://host:port`.
fn addr(base: &str) -> &str {
    base.strip_prefix("http://").expect("http base URL")
}

pub async fn connect(base: &str) -> TcpStream {
    TcpStream::connect(addr(base)).await.expect("connect")
}

/// What the server sent until it closed the connection. Panics if the
/// connection is still open after [`GIVE_UP`]. A reset counts as closed.
pub async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(GIVE_UP, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open for {GIVE_UP:?}"),
        }
    }
}

/// A response parsed from raw bytes.
#[derive(Debug)]
struct RawResponse {
    status_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn header_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .headers
            .iter()
            .map(|(k, _)| k.to_ascii_lowercase())
            .collect();
        names.sort();
        names
    }
}

/// Splits one response (head + `Content-Length` body) off the front of
/// `bytes`; `None` while it is incomplete.
fn parse_response(bytes: &[u8]) -> Option<(RawResponse, usize)> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..end]).expect("head is ASCII");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line").to_owned();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').expect("header line");
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().expect("content-length"))
        .expect("responses here carry Content-Length");
    let total = end + 4 + len;
    if bytes.len() < total {
        return None;
    }
    let body = bytes[end + 4..total].to_vec();
    Some((
        RawResponse {
            status_line,
            headers,
            body,
        },
        total,
    ))
}

/// Reads exactly one response, leaving the connection open.
async fn read_response(stream: &mut TcpStream) -> RawResponse {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some((r, used)) = parse_response(&got) {
            assert_eq!(used, got.len(), "nothing after the response");
            return r;
        }
        let n = tokio::time::timeout(GIVE_UP, stream.read(&mut buf))
            .await
            .expect("a response in time")
            .expect("read");
        assert!(n > 0, "closed before a full response: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
}

fn get(path: &str, extra_headers: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra_headers}\r\n")
}

/// Drips a request head one header line every 200 ms and never finishes it.
/// Returns what the server sent back and when it closed the connection,
/// counted from before the connection was opened.
async fn slowloris(base: String) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut stream = connect(&base).await;
    let _ = stream
        .write_all(b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    for i in 0.. {
        assert!(
            started.elapsed() < GIVE_UP,
            "the server kept a slow request head open for {GIVE_UP:?}"
        );
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => {
                // Still open: one more header line. A failed write means
                // the server has closed; the next read says so.
                let _ = stream
                    .write_all(format!("X-Slow-{i}: a\r\n").as_bytes())
                    .await;
            }
        }
    }
    (got, started.elapsed())
}

/// Slowloris: request heads that trickle in are cut off after the
/// header-read timeout, without an answer, even though bytes keep arriving;
/// meanwhile the server goes on serving everyone else.
async fn slow_request_head_is_cut_off_while_others_are_served(s: &Server) {
    let slow: Vec<_> = (0..8)
        .map(|_| tokio::spawn(slowloris(s.base.clone())))
        .collect();

    // While those drip, ordinary requests get through.
    let r = s.http.get(s.url("/health/live")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .post_form(
            "/token",
            Some((ID, SECRET)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");

    for task in slow {
        let (got, took) = task.await.unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            "",
            "a timed-out head gets no answer"
        );
        // hyper's timer starts once the connection is accepted, after we
        // began connecting: closing earlier would mean something else did.
        assert!(took >= Duration::from_millis(900), "closed after {took:?}");
    }

    // The server is still fine afterwards.
    let r = s.http.get(s.url("/health/live")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
both!(slow_request_head_is_cut_off_while_others_are_served, FAST);

/// A kept-alive connection that sends no next request is closed; so is a
/// connection that never sends anything, on both listeners.
async fn idle_connections_are_closed(s: &Server) {
    let mut stream = connect(&s.base).await;
    // Keep-alive works: two requests on one connection…
    let mut sent = Instant::now();
    for _ in 0..2 {
        sent = Instant::now();
        stream
            .write_all(get("/health/live", "").as_bytes())
            .await
            .unwrap();
        let r = read_response(&mut stream).await;
        assert_eq!(r.status_line, "HTTP/1.1 200 OK");
        assert_eq!(r.header("connection"), None, "kept alive");
        assert_eq!(r.body, br#"{"status":"ok"}"#);
    }
    // …then idling ends it, without another byte from the server. The idle
    // timer cannot have started before the server had our last request.
    let got = read_until_closed(&mut stream).await;
    let took = sent.elapsed();
    assert_eq!(String::from_utf8_lossy(&got), "");
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");

    // Connected, never a byte: closed too, on the public and the admin
    // listener.
    for base in [&s.base, &s.admin] {
        let started = Instant::now();
        let mut stream = connect(base).await;
        let got = read_until_closed(&mut stream).await;
        let took = started.elapsed();
        assert_eq!(String::from_utf8_lossy(&got), "", "{base}");
        assert!(took >= Duration::from_millis(900), "{base}: {took:?}");
    }
}
both!(idle_connections_are_closed, FAST);

/// Request heads: up to 16 KiB (request line, headers and the empty line)
/// and 100 header fields. Above either, hyper answers `431 Request Header
/// Fields Too Large` itself, before any routing (so with an empty body,
/// not JSON), and closes the connection.
async fn oversized_request_head_is_431(s: &Server) {
    const LIMIT: usize = 16 * 1024;
    /// A GET whose whole head is exactly `len` bytes.
    fn head_of_len(len: usize) -> String {
        let bare = get("/health/live", "X-Pad: \r\n").len();
        get(
            "/health/live",
            &format!("X-Pad: {}\r\n", "a".repeat(len - bare)),
        )
    }
    /// `n` header fields in all, `Host` included.
    fn head_with_fields(n: usize) -> String {
        let extra: String = (1..n).map(|i| format!("X-F{i}: a\r\n")).collect();
        get("/health/live", &extra)
    }

    for (head, ok) in [
        (head_of_len(LIMIT), true),
        (head_of_len(LIMIT + 1), false),
        (head_of_len(64 * 1024), false),
        (head_with_fields(100), true),
        (head_with_fields(101), false),
    ] {
        let what = format!("{} bytes, {} lines", head.len(), head.lines().count());
        let mut stream = connect(&s.base).await;
        if ok {
            stream.write_all(head.as_bytes()).await.unwrap();
            let r = read_response(&mut stream).await;
            assert_eq!(r.status_line, "HTTP/1.1 200 OK", "{what}");
            continue;
        }
        // The server may answer and close before it has read everything.
        let _ = stream.write_all(head.as_bytes()).await;
        let got = read_until_closed(&mut stream).await;
        let (r, used) = parse_response(&got).unwrap_or_else(|| panic!("{what}: {got:?}"));
        assert_eq!(used, got.len(), "{what}");
        assert_eq!(
            r.status_line, "HTTP/1.1 431 Request Header Fields Too Large",
            "{what}"
        );
        assert_eq!(
            r.header_names(),
            ["connection", "content-length", "date"],
            "{what}"
        );
        assert_eq!(r.header("connection"), Some("close"), "{what}");
        assert_eq!(r.header("content-length"), Some("0"), "{what}");
        assert!(r.body.is_empty(), "{what}");
    }

    // The reqwest client agrees.
    let r = s
        .http
        .get(s.url("/health/live"))
        .header("x-pad", "a".repeat(LIMIT))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    assert_eq!(r.bytes().await.unwrap().len(), 0);
}
both!(oversized_request_head_is_431);

async fn oauth_error(r: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body: Value = r.json().await.expect("error body is JSON");
    (status, headers, body)
}

/// A JSON error that is never cached.
fn assert_json_no_store(h: &reqwest::header::HeaderMap) {
    assert_no_store(h);
    assert_eq!(h["content-type"], "application/json");
}

async fn post_raw(s: &Server, path: &str, body: String) -> reqwest::Response {
    s.http
        .post(s.url(path))
        .header("authorization", basic_header(ID, SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// `first` and then `x{i}={value}` pairs up to `n` pairs in all.
fn form_with_pairs(first: &str, n: usize, value: &str) -> String {
    let mut form = first.to_owned();
    for i in 1..n {
        form.push_str(&format!("&x{i}={value}"));
    }
    form
}

/// At most 100 form parameters (empty ones count) at the token,
/// introspection and revocation endpoints; the 101st is an RFC 6749 §5.2
/// `invalid_request`.
async fn more_than_100_form_parameters_is_invalid_request(s: &Server) {
    let token = s.m2m_token(&[]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let too_many = json!({"error": "invalid_request", "error_description": "too many parameters"});

    // 100 pairs: unknown parameters are ignored (RFC 6749 §3.2).
    let r = post_raw(
        s,
        "/token",
        form_with_pairs("grant_type=client_credentials", 100, "1"),
    )
    .await;
    assert_eq!(r.status(), 200);

    let token_form = format!("token={token}");
    for (path, first) in [
        ("/token", "grant_type=client_credentials"),
        ("/introspect", token_form.as_str()),
        ("/revoke", token_form.as_str()),
    ] {
        for value in ["1", ""] {
            let r = post_raw(s, path, form_with_pairs(first, 101, value)).await;
            let (status, headers, body) = oauth_error(r).await;
            assert_eq!(status, 400, "{path} {value:?}");
            assert_json_no_store(&headers);
            assert_eq!(body, too_many, "{path} {value:?}");
        }
    }

    // Nothing was revoked by the refused request.
    assert_eq!(s.introspect(&token).await["active"], true);
}
both!(more_than_100_form_parameters_is_invalid_request);

/// Bodies up to 64 KiB; one byte more is 413 with an RFC 6749 §5.2 body.
async fn body_over_64_kib_is_413(s: &Server) {
    const LIMIT: usize = 64 * 1024;
    let padded = |len: usize| {
        let form = "grant_type=client_credentials&pad=";
        format!("{form}{}", "a".repeat(len - form.len()))
    };
    let r = post_raw(s, "/token", padded(LIMIT)).await;
    assert_eq!(r.status(), 200);

    for path in ["/token", "/introspect", "/revoke"] {
        let r = post_raw(s, path, padded(LIMIT + 1)).await;
        let (status, headers, body) = oauth_error(r).await;
        assert_eq!(status, 413, "{path}");
        assert_json_no_store(&headers);
        assert_eq!(
            body,
            json!({"error": "invalid_request", "error_description": "request body too large"}),
            "{path}"
        );
    }
}
both!(body_over_64_kib_is_413);

/// A request head announcing a body of `len` bytes.
fn post_head(path: &str, content_type: &str, authorization: &str, len: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {authorization}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {len}\r\n\r\n"
    )
}

/// What [`trickle`] saw.
struct Trickled {
    response: RawResponse,
    /// Body bytes sent before the answer came.
    sent: usize,
    /// From the head being sent to the whole answer being read.
    took: Duration,
    stream: TcpStream,
}

/// Sends `head`, then `body` one byte every 200 ms until the server answers.
async fn trickle(base: String, head: String, body: Vec<u8>) -> Trickled {
    let mut stream = connect(&base).await;
    let started = Instant::now();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut sent = 0;
    let mut buf = [0u8; 4096];
    loop {
        if let Some((response, used)) = parse_response(&got) {
            assert_eq!(used, got.len(), "nothing after the response");
            return Trickled {
                response,
                sent,
                took: started.elapsed(),
                stream,
            };
        }
        assert!(
            started.elapsed() < GIVE_UP,
            "no answer to a slow body after {GIVE_UP:?}: {got:?}"
        );
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => panic!("closed before a full response: {got:?}"),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            // Nothing yet: one more byte. Once the server has answered it
            // may have stopped reading; a failed write is not the test's
            // business, the answer is.
            Err(_) if got.is_empty() && sent < body.len() => {
                let _ = stream.write_all(&body[sent..=sent]).await;
                sent += 1;
            }
            Err(_) => {}
        }
    }
}

/// A body that trickles in (one byte every 200 ms) is cut off
/// `body_read_timeout_secs` (1 s) after its head with `408 Request Timeout`
/// and `Connection: close`, in the shape of the route: RFC 6749 §5.2 JSON
/// with `no-store` at the back-channel endpoints, the HTML error page on
/// the browser forms, admin JSON on the admin API. Meanwhile both listeners
/// serve everyone else.
async fn slow_request_body_is_408(s: &Server) {
    const FORM: &str = "grant_type=client_credentials&scope=photos%3Aread";
    let basic = basic_header(ID, SECRET);
    let admin_bearer = format!("Bearer {ADMIN_TOKEN}");
    let admin_json = json!({"client_id": "slow", "client_name": "Slow"}).to_string();
    let form = "application/x-www-form-urlencoded";
    let cases = [
        (s.base.clone(), "/token", form, basic.clone(), FORM),
        (
            s.base.clone(),
            "/introspect",
            form,
            basic.clone(),
            "token=abc",
        ),
        (s.base.clone(), "/revoke", form, basic.clone(), "token=abc"),
        (
            s.base.clone(),
            "/login",
            form,
            basic.clone(),
            "username=alice",
        ),
        (
            s.admin.clone(),
            "/admin/clients",
            "application/json",
            admin_bearer,
            admin_json.as_str(),
        ),
    ];
    let slow: Vec<_> = cases
        .iter()
        .map(|(base, path, ctype, auth, body)| {
            let head = post_head(path, ctype, auth, body.len());
            tokio::spawn(trickle(base.clone(), head, body.as_bytes().to_vec()))
        })
        .collect();

    // While those trickle, ordinary requests get through on both listeners.
    let r = s.http.get(s.url("/health/live")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .post_form(
            "/token",
            Some((ID, SECRET)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    let r = s
        .admin_req(reqwest::Method::GET, "/admin/clients", None)
        .await;
    assert_eq!(r.status(), 200);

    let too_slow = json!({"error": "invalid_request", "error_description": "request body not received in time"});
    for ((_, path, _, _, body), task) in cases.iter().zip(slow) {
        let Trickled {
            response: r,
            sent,
            took,
            mut stream,
        } = task.await.unwrap();
        assert_eq!(r.status_line, "HTTP/1.1 408 Request Timeout", "{path}");
        assert_eq!(r.header("connection"), Some("close"), "{path}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{path}");
        // The deadline starts once the head has arrived, after `started`;
        // the upper bound is the deadline plus generous slack, and the body
        // was cut off, not completed.
        assert!(took >= Duration::from_millis(900), "{path}: {took:?}");
        assert!(took < Duration::from_secs(10), "{path}: {took:?}");
        assert!(sent < body.len(), "{path}: the whole body went out");
        if *path == "/login" {
            assert_eq!(
                r.header("content-type"),
                Some("text/html; charset=utf-8"),
                "{path}"
            );
            assert!(r.header("content-security-policy").is_some(), "{path}");
            let page = String::from_utf8(r.body).unwrap();
            assert!(page.contains("took too long"), "{page}");
        } else {
            assert_eq!(
                r.header_names(),
                [
                    "cache-control",
                    "connection",
                    "content-length",
                    "content-type",
                    "date",
                    "pragma",
                    // Every answer names its request (`http::request_context`).
                    "x-request-id"
                ],
                "{path}"
            );
            assert_eq!(r.header("content-type"), Some("application/json"));
            assert_eq!(r.header("pragma"), Some("no-cache"), "{path}");
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(body, too_slow, "{path}");
        }
        // And the connection is closed after the answer.
        let rest = read_until_closed(&mut stream).await;
        assert_eq!(String::from_utf8_lossy(&rest), "", "{path}");
    }

    // Nothing was created by the cut-off admin request; the server is fine.
    let r = s
        .admin_req(reqwest::Method::GET, "/admin/clients/slow", None)
        .await;
    assert_eq!(r.status(), 404);
    let r = s.http.get(s.url("/health/live")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
both!(slow_request_body_is_408, FAST_BODY);

/// A body that arrives in pieces but within `body_read_timeout_secs` is
/// served, and the connection stays open for the next request. (3 pieces
/// within about 0.5 s against a 3 s deadline: the margin is wide on purpose.)
async fn body_in_pieces_within_the_deadline_is_served(s: &Server) {
    const FORM: &str = "grant_type=client_credentials&scope=photos%3Aread";
    let mut stream = connect(&s.base).await;
    let head = post_head(
        "/token",
        "application/x-www-form-urlencoded",
        &basic_header(ID, SECRET),
        FORM.len(),
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for piece in [&FORM[..10], &FORM[10..30], &FORM[30..]] {
        // A real clock is the point: a body that trickles in (within the
        // body-read deadline) is still read whole.
        tokio::time::sleep(Duration::from_millis(200)).await;
        stream.write_all(piece.as_bytes()).await.unwrap();
    }
    let r = read_response(&mut stream).await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.header("connection"), None, "kept alive");
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "photos:read");

    // Same connection, next request.
    stream
        .write_all(get("/health/live", "").as_bytes())
        .await
        .unwrap();
    let r = read_response(&mut stream).await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
}
both!(
    body_in_pieces_within_the_deadline_is_served,
    "body_read_timeout_secs = 3\n"
);

/// Sends a head and a body of `len` bytes, and reads the answer until the
/// server closes the connection (it may answer before reading the body).
async fn post_oversized(base: &str, head: String, body: Vec<u8>) -> RawResponse {
    let mut stream = connect(base).await;
    let mut request = head.into_bytes();
    request.extend_from_slice(&body);
    let _ = stream.write_all(&request).await;
    let got = read_until_closed(&mut stream).await;
    let (r, used) = parse_response(&got).unwrap_or_else(|| panic!("{got:?}"));
    assert_eq!(used, got.len());
    r
}

/// 413 for a body over 64 KiB on every listener, not only at the
/// back-channel endpoints: the browser forms answer with the HTML error
/// page, the admin API with its JSON error; both close the connection.
/// Exactly 64 KiB is read as usual.
async fn body_over_64_kib_is_413_on_browser_forms_and_admin_api(s: &Server) {
    const LIMIT: usize = 64 * 1024;
    let form = "application/x-www-form-urlencoded";
    let padded_form = |len: usize| format!("username=alice&pad={}", "a".repeat(len - 19));
    let padded_json = |len: usize| {
        let v = json!({"client_id": "big", "client_name": "Big", "pad": ""}).to_string();
        let pad = "a".repeat(len - v.len());
        json!({"client_id": "big", "client_name": "Big", "pad": pad}).to_string()
    };
    assert_eq!(padded_form(LIMIT).len(), LIMIT);
    assert_eq!(padded_json(LIMIT).len(), LIMIT);

    // 65 KiB: 413 on every browser form…
    for path in ["/login", "/authorize", "/consent", "/logout"] {
        let body = padded_form(65 * 1024);
        let head = post_head(path, form, "Basic eA==", body.len());
        let r = post_oversized(&s.base, head, body.into_bytes()).await;
        assert_eq!(r.status_line, "HTTP/1.1 413 Payload Too Large", "{path}");
        assert_eq!(
            r.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{path}"
        );
        assert_eq!(r.header("connection"), Some("close"), "{path}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{path}");
        assert!(r.header("content-security-policy").is_some(), "{path}");
        let page = String::from_utf8(r.body).unwrap();
        assert!(page.contains("This form is too large"), "{path}: {page}");
    }
    // …and on the admin API.
    let body = padded_json(65 * 1024);
    let head = post_head(
        "/admin/clients",
        "application/json",
        &format!("Bearer {ADMIN_TOKEN}"),
        body.len(),
    );
    let r = post_oversized(&s.admin, head, body.into_bytes()).await;
    assert_eq!(r.status_line, "HTTP/1.1 413 Payload Too Large");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        body,
        json!({"error": "invalid_request", "error_description": "request body too large"})
    );

    // The same without Content-Length: a chunked body is counted while it
    // is read, in 1 KiB chunks.
    let chunked = |path: &str, ctype: &str, auth: &str, body: String| {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n\
             Content-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        let mut framed = Vec::new();
        for chunk in body.as_bytes().chunks(1024) {
            framed.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            framed.extend_from_slice(chunk);
            framed.extend_from_slice(b"\r\n");
        }
        framed.extend_from_slice(b"0\r\n\r\n");
        (head, framed)
    };
    let (head, framed) = chunked("/login", form, "Basic eA==", padded_form(65 * 1024));
    let r = post_oversized(&s.base, head, framed).await;
    assert_eq!(r.status_line, "HTTP/1.1 413 Payload Too Large");
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let (head, framed) = chunked(
        "/admin/clients",
        "application/json",
        &format!("Bearer {ADMIN_TOKEN}"),
        padded_json(65 * 1024),
    );
    let r = post_oversized(&s.admin, head, framed).await;
    assert_eq!(r.status_line, "HTTP/1.1 413 Payload Too Large");
    assert_eq!(r.header("content-type"), Some("application/json"));

    // Exactly 64 KiB is read: the login form then lacks its CSRF token
    // (403), the client spec has an unknown field (400).
    let r = s
        .http
        .post(s.url("/login"))
        .header("content-type", form)
        .body(padded_form(LIMIT))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = s
        .http
        .post(format!("{}/admin/clients", s.admin))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(padded_json(LIMIT))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = s
        .admin_req(reqwest::Method::GET, "/admin/clients/big", None)
        .await;
    assert_eq!(r.status(), 404);
}
both!(body_over_64_kib_is_413_on_browser_forms_and_admin_api);
