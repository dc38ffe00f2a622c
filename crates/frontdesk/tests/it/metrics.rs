//! `metrics_listen`: Prometheus metrics on their own listener, with
//! bounded labels and no secrets.

use crate::both;
use crate::browser::{ALICE, Browser, SIGNIN_CONFIG, authorize_url, page, pkce};
use crate::support::Server;

pub fn metrics_url(s: &Server) -> String {
    s.startup
        .iter()
        .find_map(|l| l.strip_prefix("metrics on "))
        .unwrap_or_else(|| panic!("no metrics line in {:?}", s.startup))
        .to_owned()
}

/// The value of the sample line `name{labels}` (exact match of the series).
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok()).flatten()
    })
}

async fn counts_requests_tokens_and_errors_per_route(s: &Server) {
    let url = metrics_url(s);
    for _ in 0..2 {
        s.m2m_token(&[]).await;
    }
    let r = s
        .post_form(
            "/token",
            Some(("order-service", "not-the-secret")),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(r.status(), 401);
    let r = s
        .http
        .get(s.url("/no/such/page?x=secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // The public listener does not serve metrics.
    let r = s.http.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 404);

    let r = s.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "text/plain; version=0.0.4"
    );
    let text = r.text().await.unwrap();
    let expect = |series: &str, value: f64| {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    };
    expect(
        r#"frontdesk_tokens_issued_total{grant_type="client_credentials",client_id="order-service"}"#,
        2.0,
    );
    expect(
        r#"frontdesk_oauth_errors_total{error="invalid_client"}"#,
        1.0,
    );
    expect(
        r#"frontdesk_http_requests_total{route="/token",method="POST",status="200"}"#,
        2.0,
    );
    expect(
        r#"frontdesk_http_requests_total{route="/token",method="POST",status="401"}"#,
        1.0,
    );
    // Unrouted paths are one series, whatever the path.
    expect(
        r#"frontdesk_http_requests_total{route="unmatched",method="GET",status="404"}"#,
        2.0,
    );
    expect(
        r#"frontdesk_http_request_duration_seconds_count{route="/token"}"#,
        3.0,
    );
    expect(r#"frontdesk_build_info{version="0.1.0"}"#, 1.0);
    for secret in [
        "order-service-secret",
        "not-the-secret",
        "no/such",
        "access_token",
    ] {
        assert!(!text.contains(secret), "{secret} in metrics");
    }
}
both!(
    counts_requests_tokens_and_errors_per_route,
    "metrics_listen = \"127.0.0.1:0\"\n"
);

/// Login results are counted; the username is never a label.
async fn counts_login_results(s: &Server) {
    let url = metrics_url(s);
    let (_, challenge) = pkce();
    let b = Browser::new(s);
    let login = page(
        b.get(&authorize_url(
            s,
            "app1",
            "https://app1.example.com/cb",
            "openid",
            &challenge,
            &[],
        ))
        .await,
    );
    for _ in 0..2 {
        assert_eq!(
            page(b.login(&login, (ALICE.0, "wrong-password")).await).status,
            401
        );
    }
    b.login(&login, ALICE).await;
    let text = s.http.get(&url).send().await.unwrap().text().await.unwrap();
    assert_eq!(
        sample(&text, r#"frontdesk_logins_total{result="failure"}"#),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"frontdesk_logins_total{result="success"}"#),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains(ALICE.0) && !text.contains(ALICE.1));
}
both!(
    counts_login_results,
    // A top-level key goes before SIGNIN_CONFIG's tables.
    &format!("metrics_listen = \"127.0.0.1:0\"\n{SIGNIN_CONFIG}")
);

/// Without `metrics_listen` nothing listens and nothing is recorded.
async fn metrics_are_off_by_default(s: &Server) {
    assert!(
        !s.startup.iter().any(|l| l.starts_with("metrics on ")),
        "{:?}",
        s.startup
    );
    let r = s.http.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}
both!(metrics_are_off_by_default);
