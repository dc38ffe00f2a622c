//! Local validations per second of `Validator` next to the raw ES256
//! verification of `frontdesk_jose::verify` (the same token, key set and
//! expectations), single thread. Run by `bench/resource.sh`:
//!
//! ```sh
//! taskset -c 0 cargo run --release -p frontdesk-resource --example validate_bench
//! ```

#![allow(clippy::expect_used)]

use std::time::{Duration, Instant};

use frontdesk_jose::{AccessTokenClaims, Algorithm, Expectations, Jwks, SigningKey};
use frontdesk_resource::{Validator, unix_now};

const ISS: &str = "https://id.example.com";
const AUD: &str = "https://photos.example.com";

fn rate(round: Duration, mut f: impl FnMut() -> bool) -> f64 {
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < round {
        for _ in 0..100 {
            assert!(f());
        }
        n += 100;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    frontdesk_jose::install_crypto_provider();
    let (key, _) = SigningKey::generate(Algorithm::ES256).expect("key");
    let now = unix_now();
    let claims = AccessTokenClaims {
        iss: ISS.into(),
        sub: "order-service".into(),
        aud: vec![AUD.to_owned(), "https://payments.example.com".to_owned()].into(),
        exp: now + 3600,
        iat: now,
        jti: "0190f3a0-7c1e-7d2a-9b1e-4f6a2c3d4e5f".into(),
        client_id: "order-service".into(),
        scope: Some("photos:read charge:customer".into()),
        auth_time: None,
        acr: None,
        amr: None,
        cnf: None,
        groups: None,
        act: None,
        may_act: None,
    };
    let token = key.sign(Some("at+jwt"), &claims).expect("sign");
    // Two more keys in the set, as during a rotation.
    let mut jwks = Jwks { keys: vec![] };
    for _ in 0..2 {
        jwks.keys.push(
            SigningKey::generate(Algorithm::ES256)
                .expect("key")
                .0
                .public_jwk()
                .clone(),
        );
    }
    jwks.keys.push(key.public_jwk().clone());
    let expect = Expectations {
        issuer: ISS.into(),
        audience: Some(vec![AUD.into()]),
        typ: Some("at+jwt".into()),
        forbidden_typ: vec![],
        algorithms: vec![
            Algorithm::ES256,
            Algorithm::EdDSA,
            Algorithm::RS256,
            Algorithm::PS256,
        ],
        leeway_secs: 10,
        require_iat: true,
    };
    let validator = Validator::new(ISS, AUD, jwks.clone());
    let remembering = Validator::new(ISS, AUD, jwks.clone()).with_cache(10_000);
    let round = Duration::from_secs(2);
    let (mut raw_best, mut val_best, mut hit_best) = (0f64, 0f64, 0f64);
    for _ in 0..4 {
        raw_best = raw_best.max(rate(round, || {
            frontdesk_jose::verify::<AccessTokenClaims>(&token, &jwks, &expect, now).is_ok()
        }));
        val_best = val_best.max(rate(round, || {
            validator.validate(&token, &["photos:read"], now).is_ok()
        }));
        hit_best = hit_best.max(rate(round, || {
            remembering.validate(&token, &["photos:read"], now).is_ok()
        }));
    }
    println!("token bytes          {}", token.len());
    println!("jose::verify ES256   {raw_best:.0}/s");
    println!("Validator::validate  {val_best:.0}/s");
    println!("ratio                {:.1} %", 100.0 * val_best / raw_best);
    println!("Validator, remembered token (with_cache) {hit_best:.0}/s");
}
