//! Load generator for `bench/`: complete authorization-code + PKCE flows
//! with an existing SSO session (no password hash in the loop). One flow is
//! `GET /authorize` (303 with a code) then `POST /token` (access token +
//! RS256 ID token). Prints flows/s and per-flow latency percentiles.
//!
//! `flow_bench BASE_URL CONNECTIONS SECONDS`

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:9091".into());
    let conns: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(16);
    let secs: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(15);
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(conns)
        .build()?;

    // Sign in once: the SSO cookie then serves every flow.
    let (_, challenge) = pkce();
    let r = http.get(authorize_url(&base, &challenge)).send().await?;
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
