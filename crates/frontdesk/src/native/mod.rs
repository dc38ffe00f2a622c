//! Native-app sign-in from the command line (RFC 8252, "OAuth 2.0 for
//! Native Apps"), and two small token helpers for developers.
//!
//! `frontdesk login` is a relying party done the way a native app should:
//! it discovers the issuer's endpoints (OIDC Discovery, `issuer` compared
//! exactly), listens on a loopback port chosen by the OS, sends the user's
//! own browser to `/authorize` with PKCE S256, `state` and `nonce`, accepts
//! only a callback with our `state` and the issuer's RFC 9207 `iss`,
//! exchanges the code on the back channel and verifies the ID token
//! (signature against the issuer's JWKS, `iss`, `aud`, `exp`, `nonce`,
//! `azp`, `at_hash`) before printing anything.
//!
//! Like `gateway/`, this module is a client of frontdesk, not a part of it:
//! it talks to the server over HTTP only and never touches the store, core's
//! protocol logic, `crate::http` or `crate::app`. Tokens appear only on
//! stdout with `--output json`; messages and errors never contain them.
//!
//! * `client.rs` — discovery, JWKS, token and introspection requests.
//! * `loopback.rs` — the one-shot `/callback` listener and its checks.
//! * `id_token.rs` — ID-token validation (OIDC Core §3.1.3.7).

mod client;
mod id_token;
mod loopback;

use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use self::client::{ClientAuth, Http, Metadata, TokenResponse};
use self::loopback::{Check, Loopback};

/// How long `frontdesk login` waits for the browser to come back.
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// What `login` prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// One JSON object with the tokens and the verified ID-token claims.
    Json,
    /// A short summary without tokens.
    Text,
}

/// Flags of `frontdesk login`.
#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// The issuer URL, exactly as the server's discovery document names it.
    #[arg(long, value_name = "URL")]
    pub issuer: String,
    /// The client registered for this app (usually a public client,
    /// `--auth-method none`, with redirect URI `http://127.0.0.1/callback`).
    #[arg(long = "client-id", value_name = "ID")]
    pub client_id: String,
    /// The client's secret, for a confidential client (sent with HTTP Basic).
    #[arg(long = "client-secret", value_name = "SECRET")]
    pub client_secret: Option<String>,
    /// Scopes to ask for.
    #[arg(long, default_value = "openid profile offline_access")]
    pub scope: String,
    /// json: the tokens on stdout; text: a summary without tokens.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Do not try to open a browser; only print the URL.
    #[arg(long = "no-browser")]
    pub no_browser: bool,
    /// Loopback port for the redirect (default: one the OS picks).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
}

/// The issuer and client of a `frontdesk token` helper.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The issuer URL, exactly as the server's discovery document names it.
    #[arg(long, value_name = "URL")]
    pub issuer: String,
    #[arg(long = "client-id", value_name = "ID")]
    pub client_id: String,
    /// The client's secret (omit for a public client).
    #[arg(long = "client-secret", value_name = "SECRET")]
    pub client_secret: Option<String>,
}

impl ClientArgs {
    fn auth(&self) -> ClientAuth {
        ClientAuth {
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
        }
    }
}

/// `frontdesk token …`: helpers for developers.
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Use a refresh token; prints the token response with the new
    /// (rotated) refresh token.
    Refresh {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long = "refresh-token", value_name = "TOKEN")]
        refresh_token: String,
    },
    /// Ask the issuer about a token (RFC 7662); needs client credentials.
    Introspect {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long, value_name = "TOKEN")]
        token: String,
    },
}

/// `frontdesk login`.
pub async fn login(args: LoginArgs) -> anyhow::Result<ExitCode> {
    let http = Http::new()?;
    let meta = http.discover(&args.issuer).await?;
    let loopback = Loopback::bind(args.port).await?;
    let redirect_uri = loopback.redirect_uri();

    // RFC 7636 §4.1: 32 random bytes → a 43-character verifier.
    let verifier = random(32)?;
    let challenge = frontdesk_jose::b64url(&frontdesk_jose::sha256(verifier.as_bytes()));
    let state = random(16)?;
    let nonce = random(16)?;

    let mut url = url::Url::parse(&meta.authorization_endpoint)
        .map_err(|e| anyhow!("authorization_endpoint: {e}"))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &args.client_id)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", &args.scope)
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");

    eprintln!("Open this URL to sign in: {url}");
    if !args.no_browser && !open_browser(url.as_str()) {
        eprintln!("(could not start a browser: open the URL above yourself)");
    }
    eprintln!(
        "Waiting for the browser to return to {redirect_uri} (up to {} minutes)…",
        CALLBACK_TIMEOUT.as_secs() / 60
    );

    let check = Check {
        state,
        issuer: meta.issuer.clone(),
        require_iss: meta.authorization_response_iss_parameter_supported,
    };
    let code = loopback.wait(check, CALLBACK_TIMEOUT).await?;

    let auth = ClientAuth {
        client_id: args.client_id.clone(),
        client_secret: args.client_secret.clone(),
    };
    let raw = http
        .token_request(
            &meta,
            &auth,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &redirect_uri),
                ("code_verifier", &verifier),
            ],
        )
        .await?;
    let tokens = token_response(raw)?;

    let claims = match &tokens.id_token {
        Some(id_token) => {
            let jwks = http.jwks(&meta).await?;
            let expected = id_token::Expected {
                issuer: &meta.issuer,
                client_id: &args.client_id,
                nonce: &nonce,
                access_token: &tokens.access_token,
            };
            let claims = id_token::verify(id_token, &jwks, &expected, unix_now())?;
            Some(serde_json::to_value(claims)?)
        }
        None if has_scope(tokens.scope.as_deref().unwrap_or(&args.scope), "openid") => {
            bail!("the token response has no id_token although openid was granted")
        }
        None => None,
    };

    match args.output {
        Output::Json => {
            let mut out = json!({
                "access_token": tokens.access_token,
                "token_type": tokens.token_type,
                "expires_in": tokens.expires_in,
                "scope": tokens.scope,
            });
            if let Some(rt) = &tokens.refresh_token {
                out["refresh_token"] = json!(rt);
            }
            if let Some(id) = &tokens.id_token {
                out["id_token"] = json!(id);
            }
            out["id_token_claims"] = claims.unwrap_or(Value::Null);
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Output::Text => print_summary(&meta, &tokens, claims.as_ref()),
    }
    Ok(ExitCode::SUCCESS)
}

/// `frontdesk token refresh|introspect`.
pub async fn token(cmd: TokenCmd) -> anyhow::Result<ExitCode> {
    let http = Http::new()?;
    let out = match cmd {
        TokenCmd::Refresh {
            client,
            refresh_token,
        } => {
            let meta = http.discover(&client.issuer).await?;
            let raw = http
                .token_request(
                    &meta,
                    &client.auth(),
                    &[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", &refresh_token),
                    ],
                )
                .await?;
            token_response(raw.clone())?;
            raw
        }
        TokenCmd::Introspect { client, token } => {
            let meta = http.discover(&client.issuer).await?;
            http.introspect(&meta, &client.auth(), &token).await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}

/// Checks a token response's shape (RFC 6749 §5.1): a Bearer access token.
fn token_response(raw: Value) -> anyhow::Result<TokenResponse> {
    let tokens: TokenResponse = serde_json::from_value(raw)
        .map_err(|e| anyhow!("the token endpoint's answer is not a token response: {e}"))?;
    if !tokens.token_type.eq_ignore_ascii_case("bearer") {
        bail!(
            "the token endpoint issued a {:?} token; only Bearer is supported",
            client::one_line(&tokens.token_type)
        );
    }
    Ok(tokens)
}

fn print_summary(meta: &Metadata, tokens: &TokenResponse, claims: Option<&Value>) {
    match claims {
        Some(c) => {
            let sub = c["sub"].as_str().unwrap_or("?");
            let name = c["preferred_username"]
                .as_str()
                .or_else(|| c["name"].as_str())
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            println!("Signed in to {} as {sub}{name}.", meta.issuer);
        }
        None => println!("Signed in to {} (no ID token).", meta.issuer),
    }
    println!("scope:         {}", tokens.scope.as_deref().unwrap_or("-"));
    match tokens.expires_in {
        Some(s) => println!("access token:  {}, expires in {s} s", tokens.token_type),
        None => println!("access token:  {}", tokens.token_type),
    }
    let refresh = if tokens.refresh_token.is_some() {
        "received"
    } else {
        "none"
    };
    println!("refresh token: {refresh}");
    println!("(tokens are not shown in text output: use --output json)");
}

fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split(' ').any(|s| s == wanted)
}

fn random(bytes: usize) -> anyhow::Result<String> {
    frontdesk_core::secret::random_string(bytes).map_err(|e| anyhow!("{e}"))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Starts the system browser on `url` (RFC 8252 §6: an external user-agent,
/// never an embedded one). Returns whether a launcher could be started.
fn open_browser(url: &str) -> bool {
    #[cfg(target_os = "macos")]
    let mut cmd = std::process::Command::new("open");
    #[cfg(target_os = "windows")]
    let mut cmd = {
        let mut c = std::process::Command::new("rundll32");
        c.arg("url.dll,FileProtocolHandler");
        c
    };
    #[cfg(not(any(target_os = "macos", target_os = "windows")))]
    let mut cmd = std::process::Command::new("xdg-open");
    cmd.arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match cmd.spawn() {
        Ok(mut child) => {
            // Reap the launcher; it usually exits at once.
            std::thread::spawn(move || {
                let _ = child.wait();
            });
            true
        }
        Err(_) => false,
    }
}
