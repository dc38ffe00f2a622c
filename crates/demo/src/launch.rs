//! `frontdesk demo`: the whole story in one command. Starts, as child
//! processes of this same binary, frontdesk (`serve`, SQLite in the data
//! directory, no admin API), the demo API, the gateway and the demo relying
//! party on local ports (8080, 8082, 8083, 8084 unless flags say
//! otherwise), seeded with a demo user and the clients they need. Ctrl-C
//! stops everything.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};

pub const USER: &str = "demo";
pub const PASSWORD: &str = "demo-password";
const RP_SECRET: &str = "demo-rp-secret-0123456789abcdef";
const GATEWAY_SECRET: &str = "demo-gateway-secret-0123456789abcdef";
const SSO_SECRET: &str = "demo-sso-secret-0123456789abcdef";
/// The photos API's own client, for its token exchanges (RFC 8693).
const PHOTOS_API_SECRET: &str = "demo-photos-api-secret-0123456789abcdef";
/// The guest of "Hotel Group SSO", the second frontdesk the first one
/// offers as an upstream identity provider.
pub const SSO_USER: &str = "guest";
pub const SSO_PASSWORD: &str = "guest-password";

/// Flags of `frontdesk demo` (the data directory is the global `--data-dir`).
#[derive(Debug, Clone, clap::Args)]
pub struct DemoAllArgs {
    /// Port of frontdesk itself (the issuer is http://127.0.0.1:PORT).
    #[arg(long, default_value_t = 8080)]
    pub issuer_port: u16,
    /// Port of the gateway.
    #[arg(long, default_value_t = 8082)]
    pub gateway_port: u16,
    /// Port of the demo API behind the gateway.
    #[arg(long, default_value_t = 8083)]
    pub api_port: u16,
    /// Port of the demo app (the page to open).
    #[arg(long, default_value_t = 8084)]
    pub app_port: u16,
    /// Port of "Hotel Group SSO", a second frontdesk that the first offers
    /// on its login page (its issuer is http://localhost:PORT).
    #[arg(long, default_value_t = 8085)]
    pub sso_port: u16,
}

/// The four addresses, from the flags.
struct Addrs {
    issuer: String,
    gateway: String,
    api: String,
    rp: String,
    /// The upstream's issuer, on `localhost` so that its cookies and the
    /// first frontdesk's (on 127.0.0.1) never meet in one browser.
    sso: String,
}

impl Addrs {
    /// Refuses ports that repeat or are taken, naming the flag to change.
    fn check(args: &DemoAllArgs) -> anyhow::Result<Addrs> {
        let ports = [
            ("frontdesk", "--issuer-port", args.issuer_port),
            ("the gateway", "--gateway-port", args.gateway_port),
            ("the demo API", "--api-port", args.api_port),
            ("the demo app", "--app-port", args.app_port),
            ("Hotel Group SSO", "--sso-port", args.sso_port),
        ];
        for (i, (what, flag, port)) in ports.iter().enumerate() {
            if *port == 0 {
                bail!("{flag} must be a port number (1–65535), not 0");
            }
            if let Some((other, _, _)) = ports[..i].iter().find(|(_, _, p)| p == port) {
                bail!("port {port} is given to both {other} and {what}: change {flag}");
            }
            if let Err(e) = std::net::TcpListener::bind(("127.0.0.1", *port)) {
                bail!(
                    "port {port} for {what} is busy ({e}): stop what uses it, or pick another with {flag}"
                );
            }
        }
        Ok(Addrs {
            issuer: format!("http://127.0.0.1:{}", args.issuer_port),
            gateway: format!("http://127.0.0.1:{}", args.gateway_port),
            api: format!("127.0.0.1:{}", args.api_port),
            rp: format!("http://127.0.0.1:{}", args.app_port),
            sso: format!("http://localhost:{}", args.sso_port),
        })
    }
}

fn server_toml(a: &Addrs) -> String {
    let rp = &a.rp;
    let sso = &a.sso;
    format!(
        r#"# Written by `frontdesk demo`; applied at every start.
[[upstreams]]
id = "hotel"
display_name = "Hotel Group SSO"
issuer = "{sso}"
client_id = "demo-frontdesk"
client_secret = "{SSO_SECRET}"

[[clients]]
client_id = "demo-rp"
client_secret = "{RP_SECRET}"
client_name = "PhotoBook (demo app)"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["{rp}/callback"]
post_logout_redirect_uris = ["{rp}/"]
scope = "openid profile email offline_access photos:read"
audience = ["https://photos.example.com"]
always_issue_refresh_token = true
access_token_ttl = 120

[[clients]]
client_id = "demo-gateway"
client_secret = "{GATEWAY_SECRET}"
client_name = "Demo gateway (introspection)"
grant_types = ["client_credentials"]
scope = "photos:read"
audience = ["https://photos.example.com"]

# The photos API exchanges the tokens sent to it for tokens to the prints
# service (RFC 8693): same user, narrower audience, itself as the actor.
[[clients]]
client_id = "demo-photos-api"
client_secret = "{PHOTOS_API_SECRET}"
client_name = "Photos API"
grant_types = ["urn:ietf:params:oauth:grant-type:token-exchange"]
scope = "photos:read"
[clients.token_exchange]
subject_audiences = ["https://photos.example.com"]
audiences = ["https://prints.example.com"]

[[users]]
username = "{USER}"
password = "{PASSWORD}"
email = "demo@example.com"
email_verified = true
name = "Demo User"
given_name = "Demo"
family_name = "User"
"#
    )
}

/// "Hotel Group SSO": the upstream, with the first frontdesk as its client.
fn sso_toml(a: &Addrs) -> String {
    format!(
        r#"# Written by `frontdesk demo`; applied at every start.
[[clients]]
client_id = "demo-frontdesk"
client_secret = "{SSO_SECRET}"
client_name = "frontdesk (demo)"
first_party = true
grant_types = ["authorization_code"]
redirect_uris = ["{issuer}/upstream/hotel/callback"]
scope = "openid email profile"

[[users]]
username = "{SSO_USER}"
password = "{SSO_PASSWORD}"
email = "guest@hotel.example"
email_verified = true
name = "Hotel Guest"
"#,
        issuer = a.issuer,
    )
}

fn gateway_toml(a: &Addrs) -> String {
    format!(
        r#"# Written by `frontdesk demo`.
listen = "{g}"
issuer = "{issuer}"
client_id = "demo-gateway"
client_secret = "{GATEWAY_SECRET}"

[[routes]]
method = "GET"
path_prefix = "/photos"
upstream = "http://{api}"
audience = "https://photos.example.com"
scopes = ["photos:read"]
mode = "local"
# The app's tokens are DPoP-bound (RFC 9449): this route takes nothing else.
require_dpop = true
# The photos API exchanges the caller's token (GET /photos/prints).
forward_token = true

[[routes]]
method = "GET"
path_prefix = "/prints"
upstream = "http://{api}"
audience = "https://prints.example.com"
scopes = ["photos:read"]
mode = "local"
"#,
        g = a.gateway.trim_start_matches("http://"),
        issuer = a.issuer,
        api = a.api,
    )
}

/// The children, killed (and reaped) on drop, in reverse start order.
struct Children(Vec<(&'static str, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, c) in self.0.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `frontdesk ARGS…` with its log in `dir/NAME.log` and waits until
/// it prints `listening on`.
fn start(dir: &Path, name: &'static str, args: &[String]) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("locating this binary")?;
    let log = dir.join(format!("{name}.log"));
    let log_file = std::fs::File::create(&log).with_context(|| format!("{}", log.display()))?;
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("{name}: no stdout"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut told = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if !told && line.starts_with("listening on ") {
                told = tx.send(()).is_ok();
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if rx.recv_timeout(Duration::from_millis(100)).is_ok() {
            return Ok(child);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            bail!("{name} exited ({status}):\n{text}");
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    bail!("{name} did not start in time; see {}", log.display())
}

/// `frontdesk demo`; `data_dir` is the global `--data-dir`.
pub async fn run(data_dir: Option<&Path>, args: DemoAllArgs) -> anyhow::Result<ExitCode> {
    let a = Addrs::check(&args)?;
    let (issuer, gateway, api, rp, sso) = (&a.issuer, &a.gateway, &a.api, &a.rp, &a.sso);
    // A given data directory persists (and may be reused); otherwise a
    // temporary one lives as long as the demo.
    let temp;
    let dir: PathBuf = match data_dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("{}", d.display()))?;
            d.to_path_buf()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("frontdesk-demo-")
                .tempdir()
                .context("creating a temporary data directory")?;
            temp.path().to_path_buf()
        }
    };
    let server_config = dir.join("frontdesk.toml");
    let gateway_config = dir.join("gateway.toml");
    let sso_config = dir.join("sso.toml");
    std::fs::write(&server_config, server_toml(&a))
        .with_context(|| format!("{}", server_config.display()))?;
    std::fs::write(&sso_config, sso_toml(&a))
        .with_context(|| format!("{}", sso_config.display()))?;
    std::fs::write(&gateway_config, gateway_toml(&a))
        .with_context(|| format!("{}", gateway_config.display()))?;
    let s = |x: &str| x.to_owned();
    let path = |p: &Path| p.display().to_string();
    println!("frontdesk demo: starting in {}", dir.display());
    let mut children = Children(Vec::new());
    let sso_listen = sso.replacen("http://localhost:", "127.0.0.1:", 1);
    let steps: [(&'static str, Vec<String>); 5] = [
        (
            "hotel-sso",
            vec![
                s("--config"),
                path(&sso_config),
                s("--data-dir"),
                path(&dir.join("sso-data")),
                s("--database"),
                format!("sqlite://{}", dir.join("sso.db").display()),
                s("serve"),
                s("--listen"),
                sso_listen,
                s("--issuer"),
                s(sso),
            ],
        ),
        (
            "frontdesk",
            vec![
                s("--config"),
                path(&server_config),
                s("--data-dir"),
                path(&dir.join("data")),
                s("--database"),
                format!("sqlite://{}", dir.join("frontdesk.db").display()),
                s("serve"),
                s("--listen"),
                s(issuer.trim_start_matches("http://")),
                s("--issuer"),
                s(issuer),
            ],
        ),
        (
            "demo-api",
            vec![
                s("demo-api"),
                s("--listen"),
                s(api),
                s("--exchange-issuer"),
                s(issuer),
                s("--exchange-client-id"),
                s("demo-photos-api"),
                s("--exchange-client-secret"),
                s(PHOTOS_API_SECRET),
                s("--prints-url"),
                format!("{gateway}/prints"),
            ],
        ),
        (
            "gateway",
            vec![s("--config"), path(&gateway_config), s("gateway")],
        ),
        (
            "demo-rp",
            vec![
                s("demo-rp"),
                s("--listen"),
                s(rp.trim_start_matches("http://")),
                s("--issuer"),
                s(issuer),
                s("--client-id"),
                s("demo-rp"),
                s("--client-secret"),
                s(RP_SECRET),
                s("--redirect-uri"),
                format!("{rp}/callback"),
                s("--gateway"),
                s(gateway),
            ],
        ),
    ];
    for (name, args) in steps {
        let child = tokio::task::block_in_place(|| start(&dir, name, &args))?;
        println!("  {name:<10} is up");
        children.0.push((name, child));
    }
    println!();
    println!("  Open {rp} and click \"Sign in with frontdesk\".");
    println!("  Sign in as {USER} / {PASSWORD},");
    println!(
        "  or with \"Sign in with Hotel Group SSO\" as {SSO_USER} / {SSO_PASSWORD} (a second frontdesk)."
    );
    println!();
    println!("  frontdesk (issuer)  {issuer}");
    println!("  gateway             {gateway}  (GET /photos → demo API, needs photos:read)");
    println!("                      (GET /prints → the prints service, for exchanged tokens)");
    println!("  demo API            http://{api}");
    println!("  demo app            {rp}");
    println!("  Hotel Group SSO     {sso}  (the upstream identity provider)");
    println!("  logs                {}/*.log", dir.display());
    println!();
    println!("Press Ctrl-C to stop.");
    // Ctrl-C, or a plain `kill` (SIGTERM): stop the children either way.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let result = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break Ok(ExitCode::SUCCESS),
            _ = term.recv() => break Ok(ExitCode::SUCCESS),
            _ = tick.tick() => {
                let exited = children
                    .0
                    .iter_mut()
                    .find_map(|(name, c)| match c.try_wait() {
                        Ok(Some(status)) => Some((*name, status)),
                        _ => None,
                    });
                if let Some((name, status)) = exited {
                    break Err(anyhow!("{name} stopped ({status}); see {}/{name}.log", dir.display()));
                }
            }
        }
    };
    println!("\nfrontdesk demo: stopping");
    drop(children);
    result
}
