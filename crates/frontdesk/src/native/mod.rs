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
//!
//! DPoP (RFC 9449) is on by default for `frontdesk login` (`--no-dpop` turns
//! it off) and asked for with `frontdesk token client-credentials --dpop`:
//! the token requests carry proofs of a fresh ES256 key, so the tokens are
//! bound to it (`token_type: DPoP`, `cnf.jkt`; a public client's refresh
//! token too). A bound token is useless without its key, so the key goes
//! with the tokens: with `--dpop-key FILE` it is kept in FILE (read if it
//! exists, else created 0600, [`KeyFile`]); without, `--output json` prints
//! it as the `dpop_key` member next to the tokens, in the same form (stdout
//! then holds the key as it holds the refresh token: treat it the same).
//! `frontdesk token refresh --dpop-key FILE` refreshes with it and
//! `frontdesk token proof --dpop-key FILE --url … --access-token …` prints
//! a proof for one request (`curl -H "DPoP: $(…)"`).

use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use frontdesk_jose::Algorithm;
use frontdesk_rp::{
    AuthorizationRequest, Check, Client, ClientAuth, DpopKey, Expect, HttpClient, Loopback,
    Provider, TokenResponse,
};
use serde::{Deserialize, Serialize};
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
        conflicts_with = "client_secret_file",
        allow_hyphen_values = true
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
    /// Ask for Bearer tokens: no DPoP proof (RFC 9449) with the token
    /// requests.
    #[arg(long = "no-dpop", conflicts_with = "dpop_key")]
    pub no_dpop: bool,
    /// Keep the DPoP proof key in this file: read if it exists, else
    /// created (mode 0600). Without it the key is new for this login and
    /// `--output json` prints it as `dpop_key`.
    #[arg(long = "dpop-key", value_name = "PATH")]
    pub dpop_key: Option<std::path::PathBuf>,
    /// Sign in with the device flow (RFC 8628) instead of a browser on
    /// this machine: print a URL and a code to enter on any other device,
    /// then wait for the approval. The client must list
    /// `urn:ietf:params:oauth:grant-type:device_code` in its grant types.
    #[arg(long, conflicts_with_all = ["no_browser", "port"])]
    pub device: bool,
}

/// A DPoP proof key on disk or on stdout (`dpop_key`): the private key as
/// base64url PKCS#8 DER (RFC 5208), its algorithm, and its RFC 7638
/// thumbprint (`cnf.jkt` of the tokens bound to it), checked when read.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyFile {
    pub alg: String,
    pub jkt: String,
    pub pkcs8: String,
}

impl KeyFile {
    fn of(key: &DpopKey) -> KeyFile {
        KeyFile {
            alg: key.alg().as_str().to_owned(),
            jkt: key.jkt().to_owned(),
            pkcs8: frontdesk_jose::b64url(key.pkcs8()),
        }
    }

    fn key(&self) -> anyhow::Result<DpopKey> {
        use base64::Engine as _;
        let alg: Algorithm = self
            .alg
            .parse()
            .map_err(|_| anyhow::anyhow!("unknown alg {:?}", self.alg))?;
        let der = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&self.pkcs8)
            .context("pkcs8 is not base64url")?;
        let key = DpopKey::from_pkcs8(alg, &der)?;
        if key.jkt() != self.jkt {
            bail!("the key's thumbprint is not the jkt the file names");
        }
        Ok(key)
    }
}

/// The DPoP key in `path`, or a new one written there (0600, never over an
/// existing file).
fn key_from_file(path: &std::path::Path) -> anyhow::Result<DpopKey> {
    let what = || format!("DPoP key file {}", path.display());
    match std::fs::read(path) {
        Ok(bytes) => {
            let file: KeyFile = serde_json::from_slice(&bytes).with_context(what)?;
            file.key().with_context(what)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = DpopKey::generate()?;
            let text = serde_json::to_string_pretty(&KeyFile::of(&key))?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(path).with_context(what)?;
            std::io::Write::write_all(&mut f, format!("{text}\n").as_bytes()).with_context(what)?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(what),
    }
}

/// The proof key of a command: from `--dpop-key`, new when only DPoP is
/// asked for, none without DPoP. The flag says whether the key is kept in a
/// file (else it must go out with the tokens).
fn proof_key(
    dpop: bool,
    file: Option<&std::path::Path>,
) -> anyhow::Result<Option<(DpopKey, bool)>> {
    match (dpop, file) {
        (_, Some(path)) => Ok(Some((key_from_file(path)?, true))),
        (true, None) => Ok(Some((DpopKey::generate()?, false))),
        (false, None) => Ok(None),
    }
}

/// The token response on stdout, with the DPoP key's thumbprint and, when
/// it lives nowhere else, the key.
fn with_key(tokens: &TokenResponse, key: Option<&(DpopKey, bool)>) -> anyhow::Result<Value> {
    let mut out = serde_json::to_value(tokens)?;
    add_key(&mut out, key)?;
    Ok(out)
}

fn add_key(out: &mut Value, key: Option<&(DpopKey, bool)>) -> anyhow::Result<()> {
    if let Some((key, in_file)) = key {
        out["dpop_jkt"] = json!(key.jkt());
        if !in_file {
            out["dpop_key"] = serde_json::to_value(KeyFile::of(key))?;
        }
    }
    Ok(())
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
        conflicts_with = "client_secret_file",
        allow_hyphen_values = true
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
            conflicts_with = "refresh_token_file",
            allow_hyphen_values = true
        )]
        refresh_token: Option<String>,
        /// A file holding the refresh token (one line).
        #[arg(long = "refresh-token-file", value_name = "PATH")]
        refresh_token_file: Option<std::path::PathBuf>,
        /// The DPoP key the refresh token is bound to (`frontdesk login
        /// --dpop-key`); the new tokens are bound to it too.
        #[arg(long = "dpop-key", value_name = "PATH")]
        dpop_key: Option<std::path::PathBuf>,
    },
    /// The client-credentials grant (RFC 6749 §4.4) for a confidential
    /// client; prints the token response (`token_type` Bearer, or DPoP).
    ClientCredentials {
        #[command(flatten)]
        client: ClientArgs,
        /// Scopes to ask for (default: all the client may use).
        #[arg(long)]
        scope: Option<String>,
        /// The API the token is for (RFC 8707), repeatable.
        #[arg(long, value_name = "URI")]
        resource: Vec<String>,
        /// Ask for a DPoP-bound token (RFC 9449) with a new key, printed as
        /// `dpop_key` (unless `--dpop-key` keeps it in a file).
        #[arg(long)]
        dpop: bool,
        /// Bind the token to the DPoP key in this file (created 0600 if it
        /// does not exist); implies `--dpop`.
        #[arg(long = "dpop-key", value_name = "PATH")]
        dpop_key: Option<std::path::PathBuf>,
    },
    /// Print a DPoP proof (RFC 9449 §4.2) for one request, for the `DPoP`
    /// header of e.g. curl; with `--access-token` it carries `ath`, for
    /// `Authorization: DPoP <token>` (§7.1).
    Proof {
        /// The key file (`--dpop-key` of `login` or `client-credentials`).
        #[arg(long = "dpop-key", value_name = "PATH")]
        dpop_key: std::path::PathBuf,
        /// The request's method (`htm`).
        #[arg(long, default_value = "GET")]
        method: String,
        /// The request's URL (`htu`: without query and fragment).
        #[arg(long, value_name = "URL")]
        url: String,
        /// The access token sent with the request; `-` reads it from stdin.
        // Tokens, secrets and nonces are base64url: they may start with
        // `-`, which is a value here, never a flag.
        #[arg(
            long = "access-token",
            value_name = "TOKEN",
            allow_hyphen_values = true
        )]
        access_token: Option<String>,
        /// The server's nonce (its `DPoP-Nonce` header), if it asked for one.
        #[arg(long, allow_hyphen_values = true)]
        nonce: Option<String>,
    },
    /// Ask the issuer about a token (RFC 7662); needs client credentials.
    Introspect {
        #[command(flatten)]
        client: ClientArgs,
        /// The token; `-` reads it from stdin.
        #[arg(long, value_name = "TOKEN", allow_hyphen_values = true)]
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
    let key = proof_key(!args.no_dpop, args.dpop_key.as_deref())?;
    let http = http()?;
    let provider = Provider::discover(&http, &args.issuer).await?;
    let (client, tokens, nonce) = if args.device {
        device_login(&args, provider, secret.as_deref(), key.as_ref()).await?
    } else {
        browser_login(&args, provider, secret.as_deref(), key.as_ref()).await?
    };

    let provider = client.provider();
    let claims = match &tokens.id_token {
        Some(id_token) => {
            provider.load_keys().await?;
            let expect = Expect {
                issuer: provider.issuer(),
                client_id: &args.client_id,
                nonce: nonce.as_deref(),
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
            add_key(&mut out, key.as_ref())?;
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Output::Text => print_summary(
            provider.issuer(),
            &tokens,
            claims.as_ref(),
            key.as_ref().map(|(k, _)| k.jkt()),
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// What a sign-in ends with: the client, its tokens and the `nonce` the
/// ID token must carry (none in the device flow, which has no
/// authorization request to send one in).
type SignedIn = (Client, TokenResponse, Option<String>);

/// The browser sign-in: an authorization request with PKCE, the loopback
/// redirect (RFC 8252), the code exchange.
async fn browser_login(
    args: &LoginArgs,
    provider: Provider,
    secret: Option<&str>,
    key: Option<&(DpopKey, bool)>,
) -> anyhow::Result<SignedIn> {
    let loopback = Loopback::bind(args.port).await?;
    let redirect_uri = loopback.redirect_uri();
    let request =
        AuthorizationRequest::new(&provider, &args.client_id, &redirect_uri, &args.scope)?;
    let mut url = request.url.clone();
    if let Some((k, _)) = key {
        // RFC 9449 §10: the code is bound to the key that will redeem it.
        url.query_pairs_mut().append_pair("dpop_jkt", k.jkt());
    }
    let url = url.as_str();

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

    let mut client = Client::new(provider, auth(&args.client_id, secret));
    if let Some((k, _)) = key {
        client = client.with_dpop(k.clone());
    }
    let tokens = client
        .exchange_code(&code, &redirect_uri, &request.code_verifier)
        .await?;

    Ok((client, tokens, Some(request.nonce)))
}

/// The device flow (RFC 8628): a device code, the URL and the code for
/// the person on stderr, polling until they decide.
async fn device_login(
    args: &LoginArgs,
    provider: Provider,
    secret: Option<&str>,
    key: Option<&(DpopKey, bool)>,
) -> anyhow::Result<SignedIn> {
    let mut client = Client::new(provider, auth(&args.client_id, secret));
    if let Some((k, _)) = key {
        client = client.with_dpop(k.clone());
    }
    let device = client.device_authorization(&args.scope, &[]).await?;
    eprintln!(
        "On any device, open {} and enter the code {}",
        device.verification_uri, device.user_code
    );
    if let Some(complete) = &device.verification_uri_complete {
        eprintln!("(or open {complete} and check that it shows the same code)");
    }
    eprintln!(
        "Waiting for the approval (up to {} minutes)…",
        device.expires_in / 60
    );
    let tokens = client.poll_device(&device).await?;
    Ok((client, tokens, None))
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
            dpop_key,
        } => {
            let refresh_token = secret_value(
                refresh_token.as_deref(),
                refresh_token_file.as_deref(),
                "refresh token",
                &mut stdin,
            )?
            .unwrap_or_default();
            let key = match &dpop_key {
                Some(path) => Some((existing_key(path)?, true)),
                None => None,
            };
            let mut c = client.connect(&http, &mut stdin).await?;
            if let Some((k, _)) = &key {
                c = c.with_dpop(k.clone());
            }
            with_key(&c.refresh(&refresh_token).await?, key.as_ref())?
        }
        TokenCmd::ClientCredentials {
            client,
            scope,
            resource,
            dpop,
            dpop_key,
        } => {
            if !client.has_secret() {
                bail!("client credentials need the client's secret: pass --client-secret");
            }
            let key = proof_key(dpop, dpop_key.as_deref())?;
            let mut c = client.connect(&http, &mut stdin).await?;
            if let Some((k, _)) = &key {
                c = c.with_dpop(k.clone());
            }
            let mut form = vec![("grant_type", "client_credentials")];
            if let Some(s) = &scope {
                form.push(("scope", s));
            }
            form.extend(resource.iter().map(|r| ("resource", r.as_str())));
            with_key(&c.token(&form).await?, key.as_ref())?
        }
        TokenCmd::Proof {
            dpop_key,
            method,
            url,
            access_token,
            nonce,
        } => {
            let key = existing_key(&dpop_key)?;
            let token = secret_value(access_token.as_deref(), None, "access token", &mut stdin)?;
            if let Some(n) = &nonce {
                key.remember_nonce(&url, n);
            }
            if !url::Url::parse(&url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
                bail!("--url {url:?} is not an http(s) URL");
            }
            println!("{}", key.proof(&method, &url, token.as_deref())?);
            return Ok(ExitCode::SUCCESS);
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

/// The key in `path`, which must exist (a new key could not prove anything).
fn existing_key(path: &std::path::Path) -> anyhow::Result<DpopKey> {
    if !path.exists() {
        bail!("DPoP key file {}: no such file", path.display());
    }
    key_from_file(path)
}

fn print_summary(issuer: &str, tokens: &TokenResponse, claims: Option<&Value>, jkt: Option<&str>) {
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
    if let Some(jkt) = jkt {
        println!("DPoP key:      {jkt}");
    }
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
