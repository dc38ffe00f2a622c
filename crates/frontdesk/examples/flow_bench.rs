//! Load generator for `bench/`: complete authorization-code + PKCE flows
//! with an existing SSO session (no password hash in the loop). One flow is
//! `GET /authorize` (303 with a code) then `POST /token` (access token +
//! RS256 ID token). Prints flows/s and per-flow latency percentiles.
//!
//! `flow_bench BASE_URL CONNECTIONS SECONDS [mfa]`
//!
//! With `mfa`, the flows are those of the user `bench-mfa`, who first turns
//! on two-step verification from the account page (TOTP), so that every
//! flow goes through the second-factor policy with a session that already
//! has both factors (`bench/mfa.sh` compares the two).

use std::time::{Duration, Instant};

use base64::Engine;

const CLIENT: (&str, &str) = ("bench-app", "bench-app-secret-0123456789");
const REDIRECT: &str = "https://bench.example.com/cb";

fn pkce() -> (String, String) {
    let verifier = frontdesk_core::secret::random_string(48).unwrap_or_default();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(frontdesk_jose::sha256(verifier.as_bytes()));
    (verifier, challenge)
}

fn input(body: &str, name: &str) -> Option<String> {
    let at = body.find(&format!("name=\"{name}\""))?;
    let rest = &body[at..];
    let v = rest.find("value=\"")? + 7;
    let end = rest[v..].find('"')?;
    Some(
        rest[v..v + end]
            .replace("&amp;", "&")
            .replace("&#x2f;", "/")
            .replace("&quot;", "\""),
    )
}

fn authorize_url(base: &str, challenge: &str) -> String {
    // A fresh nonce per flow, as a real client sends (frontdesk logs
    // clients that repeat one).
    let nonce = frontdesk_core::secret::random_string(16).unwrap_or_default();
    format!(
        "{base}/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid%20profile&state=s&nonce={nonce}&code_challenge={challenge}&code_challenge_method=S256",
        CLIENT.0,
        form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    )
}

async fn one_flow(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let (verifier, challenge) = pkce();
    let r = http.get(authorize_url(base, &challenge)).send().await?;
    anyhow::ensure!(r.status() == 303, "authorize answered {}", r.status());
    let loc = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let url = url::Url::parse(loc)?;
    let code = url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| anyhow::anyhow!("no code in {loc}"))?;
    let r = http
        .post(format!("{base}/token"))
        .basic_auth(CLIENT.0, Some(CLIENT.1))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ])
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "token answered {}", r.status());
    let body: serde_json::Value = r.json().await?;
    anyhow::ensure!(body["id_token"].is_string(), "no id_token");
    Ok(())
}

async fn sign_in(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let (_, challenge) = pkce();
    let r = http.get(authorize_url(base, &challenge)).send().await?;
    let login = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let page = http
        .get(format!("{base}{login}"))
        .send()
        .await?
        .text()
        .await?;
    let csrf = input(&page, "csrf").ok_or_else(|| anyhow::anyhow!("no csrf field"))?;
    let request = input(&page, "request").ok_or_else(|| anyhow::anyhow!("no request field"))?;
    let r = http
        .post(format!("{base}/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("request", &request),
            ("username", "bench"),
            ("password", "bench-password-123"),
        ])
        .send()
        .await?;
    anyhow::ensure!(r.status() == 303, "login answered {}", r.status());
    Ok(())
}

/// The page at `path`, following frontdesk's own redirects.
async fn page_at(http: &reqwest::Client, base: &str, path: &str) -> anyhow::Result<String> {
    let mut url = format!("{base}{path}");
    for _ in 0..5 {
        let r = http.get(&url).send().await?;
        if r.status() != 303 {
            return Ok(r.text().await?);
        }
        let loc = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        url = format!("{base}{loc}");
    }
    anyhow::bail!("too many redirects from {path}")
}

/// The current TOTP code of the base32 key shown on the enrolment page.
fn totp_code(key: &str, offset_secs: u64) -> anyhow::Result<String> {
    let key: String = key.chars().filter(|c| !c.is_whitespace()).collect();
    let secret = totp_rs::Secret::try_from_base32(&key)
        .map_err(|e| anyhow::anyhow!("the key on the page: {e:?}"))?;
    let totp = totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(secret)
        .with_account_name("bench-mfa".to_owned())
        .build()
        .map_err(|e| anyhow::anyhow!("TOTP: {e:?}"))?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    Ok(totp.generate(now.as_secs() + offset_secs).to_string())
}

/// Signs `bench-mfa` in on the account page and turns on two-step
/// verification there; the session then has both factors.
async fn sign_in_with_totp(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let login = page_at(http, base, "/account").await?;
    let csrf = input(&login, "csrf").ok_or_else(|| anyhow::anyhow!("no csrf field"))?;
    let r = http
        .post(format!("{base}/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("request", ""),
            ("next", "account"),
            ("username", "bench-mfa"),
            ("password", "bench-password-123"),
        ])
        .send()
        .await?;
    anyhow::ensure!(r.status() == 303, "login answered {}", r.status());
    let enrol = page_at(http, base, "/account/totp").await?;
    let marker = "<code class=\"secret\">";
    let at = enrol
        .find(marker)
        .ok_or_else(|| anyhow::anyhow!("no key on the enrolment page (already enrolled?)"))?
        + marker.len();
    let key = &enrol[at..at + enrol[at..].find("</code>").unwrap_or(0)];
    let csrf = input(&enrol, "csrf").ok_or_else(|| anyhow::anyhow!("no csrf field"))?;
    let r = http
        .post(format!("{base}/login/mfa/enrol"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("request", ""),
            ("next", "account"),
            ("code", &totp_code(key, 0)?),
        ])
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "enrolment answered {}", r.status());
    // The session must now be at the second-factor level: a flow that
    // stops at /login/mfa is an error of this bench, not a slow flow.
    let (_, challenge) = pkce();
    let r = http.get(authorize_url(base, &challenge)).send().await?;
    let loc = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    anyhow::ensure!(
        loc.starts_with(REDIRECT),
        "after enrolment /authorize went to {loc}"
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:9091".into());
    let conns: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(16);
    let secs: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(15);
    let mfa = args.next().as_deref() == Some("mfa");
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(conns)
        .build()?;

    // Sign in once: the SSO cookie then serves every flow.
    if mfa {
        sign_in_with_totp(&http, &base).await?;
    } else {
        sign_in(&http, &base).await?;
    }
    one_flow(&http, &base).await?;

    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let http = http.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                match one_flow(&http, &base).await {
                    Ok(()) => lat.push(t.elapsed()),
                    Err(_) => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        all.extend(l);
        errors += e;
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "RESULT flows={} flows_per_sec={:.0} p50_ms={:.2} p99_ms={:.2} errors={errors}",
        all.len(),
        all.len() as f64 / secs as f64,
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
    );
    Ok(())
}
