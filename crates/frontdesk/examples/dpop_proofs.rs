//! Proofs for `bench/`: COUNT DPoP proofs (RFC 9449) by one ES256 key for
//! `POST URL`, one per line, each with its own `jti`, made before a run so
//! that the load generator spends nothing on signing and the server's cost
//! of checking them is what the run measures.
//!
//! `cargo run --release --example dpop_proofs -- http://127.0.0.1:9091/token 100000 > proofs`

use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use frontdesk_jose::dpop::{self, Proof};
use frontdesk_jose::{Algorithm, SigningKey};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:9091/token".into());
    let count: u64 = args.next().as_deref().unwrap_or("100000").parse()?;
    let (key, _) = SigningKey::generate(Algorithm::ES256)?;
    let iat = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let run = frontdesk_core::secret::random_string(8)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for i in 0..count {
        let jti = format!("{run}-{i}");
        let proof = dpop::make(
            &key,
            &Proof {
                method: "POST",
                uri: &url,
                access_token: None,
                nonce: None,
                jti: &jti,
                iat,
            },
        )?;
        writeln!(out, "{proof}")?;
    }
    out.flush()?;
    Ok(())
}
