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
//! Like the gateway, this module is a client of frontdesk, not a part of
//! it: every step is `frontdesk-rp`'s (discovery, the authorization request,
//! the loopback listener, the token calls, the ID-token checks), over HTTP
//! only. Tokens appear only on stdout with `--output json`; messages and
//! errors never contain them.

use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};
use frontdesk_rp::{
    AuthorizationRequest, Check, Client, ClientAuth, Expect, HttpClient, Loopback, Provider,
    TokenResponse,
};
use serde_json::{Value, json};

/// How long `frontdesk login` waits for the browser to come back.
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Timeout of one request to the issuer, connect included.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Largest answer read from the issuer.
const MAX_BODY: usize = 1024 * 1024;

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
    /// `-` reads it from stdin, so it stays out of `ps` and shell history.
    #[arg(
        long = "client-secret",
        value_name = "SECRET",
        conflicts_with = "client_secret_file"
    )]
    pub client_secret: Option<String>,
    /// A file holding the client's secret (one line).
    #[arg(long = "client-secret-file", value_name = "PATH")]
    pub client_secret_file: Option<std::path::PathBuf>,
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
    /// The client's secret (omit for a public client); `-` reads it from
    /// stdin, so it stays out of `ps` and shell history.
    #[arg(
        long = "client-secret",
        value_name = "SECRET",
        conflicts_with = "client_secret_file"
    )]
    pub client_secret: Option<String>,
    /// A file holding the client's secret (one line).
    #[arg(long = "client-secret-file", value_name = "PATH")]
    pub client_secret_file: Option<std::path::PathBuf>,
}

/// A secret given on the command line: the value, `-` for one line of
/// stdin, or a file (one line; a trailing newline is not part of it).
fn secret_value(
    value: Option<&str>,
    file: Option<&std::path::Path>,
    what: &str,
    stdin: &mut StdinOnce,
) -> anyhow::Result<Option<String>> {
    let read = match (value, file) {
        (Some("-"), _) => stdin.line(what)?,
        (Some(v), _) => v.to_owned(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{what}: cannot read {}: {e}", path.display()))?,
        (None, None) => return Ok(None),
    };
    let v = read.trim_end_matches(['\r', '\n']).to_owned();
    if v.is_empty() {
        bail!("{what} is empty");
    }
    Ok(Some(v))
}

/// Stdin, read at most once: two flags cannot both be `-`.
#[derive(Default)]
struct StdinOnce(bool);

impl StdinOnce {
    fn line(&mut self, what: &str) -> anyhow::Result<String> {
        if std::mem::replace(&mut self.0, true) {
            bail!("{what}: only one value can come from stdin (`-`)");
        }
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| anyhow::anyhow!("{what}: cannot read stdin: {e}"))?;
        Ok(line)
    }
}

impl ClientArgs {
    /// Discovery at `--issuer`, and the client named by the flags.
    async fn connect(&self, http: &HttpClient, stdin: &mut StdinOnce) -> anyhow::Result<Client> {
        let secret = secret_value(
            self.client_secret.as_deref(),
            self.client_secret_file.as_deref(),
            "client secret",
            stdin,
        )?;
        let provider = Provider::discover(http, &self.issuer).await?;
        Ok(Client::new(
            provider,
            auth(&self.client_id, secret.as_deref()),
        ))
    }

    fn has_secret(&self) -> bool {
        self.client_secret.is_some() || self.client_secret_file.is_some()
    }
}

/// A confidential client sends its secret with HTTP Basic; a public one
/// only its `client_id`.
fn auth(client_id: &str, secret: Option<&str>) -> ClientAuth {
    match secret {
        Some(s) => ClientAuth::basic(client_id, s),
        None => ClientAuth::public(client_id),
    }
}

/// The HTTP client of `login` and `token`: no redirects, no proxy, 15 s,
/// 1 MiB answers.
fn http() -> anyhow::Result<HttpClient> {
    Ok(HttpClient::with_limits(TIMEOUT, MAX_BODY)?)
}

/// `frontdesk token …`: helpers for developers.
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Use a refresh token; prints the token response with the new
    /// (rotated) refresh token.
    Refresh {
        #[command(flatten)]
        client: ClientArgs,
        /// The refresh token; `-` reads it from stdin.
        #[arg(
            long = "refresh-token",
            value_name = "TOKEN",
            required_unless_present = "refresh_token_file",
            conflicts_with = "refresh_token_file"
        )]
        refresh_token: Option<String>,
        /// A file holding the refresh token (one line).
        #[arg(long = "refresh-token-file", value_name = "PATH")]
        refresh_token_file: Option<std::path::PathBuf>,
    },
    /// Ask the issuer about a token (RFC 7662); needs client credentials.
    Introspect {
        #[command(flatten)]
        client: ClientArgs,
        /// The token; `-` reads it from stdin.
        #[arg(long, value_name = "TOKEN")]
        token: String,
    },
}

/// `frontdesk login`.
pub async fn login(args: LoginArgs) -> anyhow::Result<ExitCode> {
    // Read before the browser step, so a prompt for stdin comes first.
    let secret = secret_value(
        args.client_secret.as_deref(),
        args.client_secret_file.as_deref(),
        "client secret",
        &mut StdinOnce::default(),
    )?;
    let http = http()?;
    let provider = Provider::discover(&http, &args.issuer).await?;
    let loopback = Loopback::bind(args.port).await?;
    let redirect_uri = loopback.redirect_uri();
    let request =
        AuthorizationRequest::new(&provider, &args.client_id, &redirect_uri, &args.scope)?;
    let url = request.url.as_str();

    eprintln!("Open this URL to sign in: {url}");
    if !args.no_browser && !open_browser(url) {
        eprintln!("(could not start a browser: open the URL above yourself)");
    }
    eprintln!(
        "Waiting for the browser to return to {redirect_uri} (up to {} minutes)…",
        CALLBACK_TIMEOUT.as_secs() / 60
    );

    let check = Check {
        state: request.state.clone(),
        issuer: provider.issuer().to_owned(),
        require_iss: provider
            .metadata()
            .authorization_response_iss_parameter_supported,
    };
    let code = loopback.wait(check, CALLBACK_TIMEOUT).await?;

    let client = Client::new(provider, auth(&args.client_id, secret.as_deref()));
    let tokens = client
        .exchange_code(&code, &redirect_uri, &request.code_verifier)
        .await?;

    let provider = client.provider();
    let claims = match &tokens.id_token {
        Some(id_token) => {
            provider.load_keys().await?;
            let expect = Expect {
                issuer: provider.issuer(),
                client_id: &args.client_id,
                nonce: Some(&request.nonce),
                original_nonce: None,
                access_token: Some(&tokens.access_token),
            };
            let claims = provider
                .verify_id_token(id_token, &expect, frontdesk_resource::unix_now())
                .await?;
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
        Output::Text => print_summary(provider.issuer(), &tokens, claims.as_ref()),
    }
    Ok(ExitCode::SUCCESS)
}

/// `frontdesk token refresh|introspect`.
pub async fn token(cmd: TokenCmd) -> anyhow::Result<ExitCode> {
    let http = http()?;
    let mut stdin = StdinOnce::default();
    let out = match cmd {
        TokenCmd::Refresh {
            client,
            refresh_token,
            refresh_token_file,
        } => {
            let refresh_token = secret_value(
                refresh_token.as_deref(),
                refresh_token_file.as_deref(),
                "refresh token",
                &mut stdin,
            )?
            .unwrap_or_default();
            let c = client.connect(&http, &mut stdin).await?;
            serde_json::to_value(c.refresh(&refresh_token).await?)?
        }
        TokenCmd::Introspect { client, token } => {
            let token = secret_value(Some(&token), None, "token", &mut stdin)?.unwrap_or_default();
            let c = client.connect(&http, &mut stdin).await?;
            if !client.has_secret() && c.provider().metadata().introspection_endpoint.is_some() {
                bail!("introspection needs client credentials: pass --client-secret");
            }
            c.introspect(&token).await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}

fn print_summary(issuer: &str, tokens: &TokenResponse, claims: Option<&Value>) {
    match claims {
        Some(c) => {
            let sub = c["sub"].as_str().unwrap_or("?");
            let name = c["preferred_username"]
                .as_str()
                .or_else(|| c["name"].as_str())
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            println!("Signed in to {issuer} as {sub}{name}.");
        }
        None => println!("Signed in to {issuer} (no ID token)."),
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
