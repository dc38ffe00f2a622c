//! F4: redirect-URI registration (`client::validate_redirect_uri`) and
//! matching at `/authorize` (`authorize::match_redirect_uri`).
//!
//! Modes (first byte): 0 — lines of the input are registration candidates,
//! the last line is the requested URI; 1 — a fixed set of registered URIs and
//! the input as the requested URI; 2 — registered and requested URIs are a
//! fixed prefix (`http://127.0.0.1`, `http://[::1]`, `https://a.example`)
//! followed by fuzz bytes, to reach the loopback rule often.
//!
//! Registration oracle: an accepted URI parses (WHATWG, `url` crate), has no
//! fragment, no user information, no whitespace or controls, a scheme other
//! than `javascript data vbscript file blob about`; `https` has a host; `http`
//! is written literally as `127.0.0.1` or `[::1]` (optionally with a port) and
//! parses to that loopback address; any other scheme contains a `.`.
//!
//! Matching oracle (differential): a request is accepted iff it is
//! byte-identical to a registered URI, or both are `http://127.0.0.1` or
//! `http://[::1]` URIs that differ only in the port (RFC 8252 §7.3), where the
//! requested port is a real port (1–5 digits, at most 65535), so that every
//! accepted URI parses and can carry the response parameters.

use frontdesk_core::authorize::match_redirect_uri;
use frontdesk_core::client::validate_redirect_uri;
use frontdesk_core::model::{AccessTokenFormat, AuthMethod, Client, ClientId, GrantType};
use frontdesk_core::scope::Scope;
use url::{Host, Url};

const FIXED: [&str; 6] = [
    "https://app.example.com/cb",
    "https://app.example.com/cb?a=b",
    "http://127.0.0.1/callback",
    "http://[::1]:8080/cb?x=1",
    "http://127.0.0.1:5000",
    "com.example.app:/oauth2redirect",
];

const PREFIXES: [&str; 3] = ["http://127.0.0.1", "http://[::1]", "https://a.example"];

fn client(uris: Vec<String>) -> Client {
    Client {
        client_id: ClientId("c".into()),
        client_name: "C".into(),
        redirect_uris: uris,
        grant_types: vec![GrantType::AuthorizationCode],
        response_types: vec!["code".into()],
        scope: Scope::default(),
        token_endpoint_auth_method: AuthMethod::None,
        audience: vec![],
        access_token_format: AccessTokenFormat::Jwt,
        first_party: false,
        post_logout_redirect_uris: vec![],
        id_token_signed_response_alg: None,
        always_issue_refresh_token: false,
        refresh_grace_secs: None,
        access_token_ttl: 60,
        refresh_token_ttl: 60,
        secrets: vec![],
        created_at: 0,
        updated_at: 0,
    }
}

/// Checks what registration accepted against the oracle.
fn registration_is_sound(uri: &str) {
    let url = Url::parse(uri).unwrap_or_else(|e| panic!("registered {uri:?} does not parse: {e}"));
    assert!(!uri.contains('#'), "registered a fragment");
    assert!(
        !uri.chars().any(|c| c.is_whitespace() || c.is_control()),
        "registered whitespace"
    );
    assert!(url.username().is_empty() && url.password().is_none());
    let scheme = url.scheme();
    assert!(
        !["javascript", "data", "vbscript", "file", "blob", "about"].contains(&scheme),
        "registered a forbidden scheme"
    );
    match scheme {
        "https" => assert!(url.host_str().is_some_and(|h| !h.is_empty())),
        "http" => {
            let after = &uri[uri.find("://").expect("http without //") + 3..];
            let authority = after.split(['/', '?', '\\']).next().unwrap_or_default();
            let host = authority
                .strip_prefix("127.0.0.1")
                .map(|p| (p, Host::Ipv4([127, 0, 0, 1].into())))
                .or_else(|| {
                    authority
                        .strip_prefix("[::1]")
                        .map(|p| (p, Host::Ipv6(std::net::Ipv6Addr::LOCALHOST)))
                });
            match host {
                Some((port, h)) if port.is_empty() || port.starts_with(':') => {
                    assert_eq!(url.host().map(|x| x.to_owned()), Some(h));
                }
                _ => panic!("registered an http URI not written as 127.0.0.1 or [::1]: {uri:?}"),
            }
        }
        other => assert!(
            other.contains('.'),
            "registered a private scheme without '.'"
        ),
    }
}

/// `http://127.0.0.1[:port]rest` or `http://[::1][:port]rest` → (host, rest),
/// with `rest` empty or starting with `/` or `?` and the port a real one.
fn loopback_parts(uri: &str) -> Option<(&str, &str)> {
    let after = uri.strip_prefix("http://")?;
    let (host, tail) = ["127.0.0.1", "[::1]"]
        .iter()
        .find_map(|h| after.strip_prefix(h).map(|t| (*h, t)))?;
    let rest = match tail.strip_prefix(':') {
        Some(p) => {
            let digits = p.bytes().take_while(u8::is_ascii_digit).count();
            if !(1..=5).contains(&digits) || p[..digits].parse::<u32>().ok()? > 65535 {
                return None;
            }
            &p[digits..]
        }
        None => tail,
    };
    (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')).then_some((host, rest))
}

fn oracle_accepts(registered: &[String], requested: &str) -> bool {
    if registered.iter().any(|r| r == requested) {
        return true;
    }
    let Some(parts) = loopback_parts(requested) else {
        return false;
    };
    registered.iter().any(|r| loopback_parts(r) == Some(parts))
}

fn check_match(registered: Vec<String>, requested: &str) {
    let expected = oracle_accepts(&registered, requested);
    let c = client(registered);
    match match_redirect_uri(&c, requested) {
        None => assert!(!expected, "refused {requested:?} for {:?}", c.redirect_uris),
        Some(v) => {
            assert!(expected, "accepted {requested:?} for {:?}", c.redirect_uris);
            assert_eq!(v.as_str(), requested);
            let url = Url::parse(requested)
                .unwrap_or_else(|e| panic!("accepted {requested:?}, which does not parse: {e}"));
            let out = v.with_params(&[("code", "c0de"), ("state", "s")]);
            assert!(
                out.contains("code=c0de") && out.contains("state=s"),
                "the response parameters were lost: {out:?}"
            );
            assert_eq!(
                Url::parse(&out)
                    .ok()
                    .map(|u| u.host().map(|h| h.to_owned())),
                Some(url.host().map(|h| h.to_owned()))
            );
        }
    }
}

pub fn check(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match mode % 3 {
        0 => {
            let mut lines: Vec<&str> = text.split('\n').collect();
            let Some(requested) = lines.pop() else {
                return;
            };
            let mut registered = Vec::new();
            for l in lines {
                if validate_redirect_uri(l).is_ok() {
                    registration_is_sound(l);
                    registered.push(l.to_owned());
                }
            }
            if validate_redirect_uri(requested).is_ok() {
                registration_is_sound(requested);
            }
            check_match(registered, requested);
        }
        1 => check_match(FIXED.iter().map(|s| (*s).to_owned()).collect(), &text),
        _ => {
            let (a, b) = text.split_once('\n').unwrap_or((&text, ""));
            let pa = PREFIXES[usize::from(mode / 3) % 3];
            let pb = PREFIXES[usize::from(mode / 9) % 3];
            let reg = format!("{pa}{a}");
            let req = format!("{pb}{b}");
            let mut registered = Vec::new();
            if validate_redirect_uri(&reg).is_ok() {
                registration_is_sound(&reg);
                registered.push(reg);
            }
            check_match(registered, &req);
        }
    }
}
