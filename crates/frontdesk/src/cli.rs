//! The command line: `serve`, and the administration commands that work on
//! the same database while a server runs.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context as _, anyhow, bail};
use clap::{Parser, Subcommand};
use frontdesk_core::manage::{ClientPatch, ClientSpec, DEFAULT_SECRET_GRACE, UserSpec};
use frontdesk_core::model::{AccessTokenFormat, AuthMethod, GrantType, KeyUse, UserClaims};
use frontdesk_core::scope::Scope;
use frontdesk_core::store::Store;
use frontdesk_jose::Algorithm;
use serde_json::json;

use crate::app::{self, Opened};
use crate::config::{self, CommonArgs, ServeArgs};
use crate::ops;

/// Every change made from the command line is recorded as done by `cli`.
const BY: frontdesk_core::audit::Actor = frontdesk_core::audit::Actor::Cli;

/// frontdesk: an OAuth 2.0 and OpenID Connect identity provider.
#[derive(Debug, Parser)]
#[command(name = "frontdesk", version, about)]
pub struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Manage clients (applications).
    #[command(subcommand)]
    Clients(Box<ClientsCmd>),
    /// Manage users.
    #[command(subcommand)]
    Users(UsersCmd),
    /// Manage groups of users.
    #[command(subcommand)]
    Groups(GroupsCmd),
    /// Manage the upstream identity providers added at run time ("Sign in
    /// with …"; `[[upstreams]]` in the configuration file are listed too).
    #[command(subcommand)]
    Upstreams(Box<UpstreamsCmd>),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Move an install between databases (`db copy --from sqlite:… --to postgres://…`).
    #[command(subcommand)]
    Db(crate::db::DbCmd),
    /// Run the API gateway (`--config gateway.toml`).
    Gateway(frontdesk_gateway::GatewayArgs),
    /// Run the demo API (photos and payments) meant to sit behind the gateway.
    DemoApi(frontdesk_demo::api::DemoArgs),
    /// Run the demo relying party (a web app that signs in with frontdesk).
    DemoRp(frontdesk_demo::rp::RpArgs),
    /// Start frontdesk, the gateway, the demo API and the demo app together.
    Demo(frontdesk_demo::launch::DemoAllArgs),
    /// Sign in as a native app (RFC 8252): loopback redirect, PKCE, ID-token checks.
    Login(crate::native::LoginArgs),
    /// Developer helpers: refresh or introspect a token at an issuer.
    #[command(subcommand)]
    Token(crate::native::TokenCmd),
}

#[derive(Debug, clap::Args)]
struct ClientFields {
    /// Human-readable name (client_name).
    #[arg(long)]
    name: Option<String>,
    /// Redirect URI; repeat for several.
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// Grant type (authorization_code, refresh_token, client_credentials,
    /// urn:ietf:params:oauth:grant-type:device_code); repeat for several.
    #[arg(long = "grant-type", value_parser = parse_grant)]
    grant_types: Vec<GrantType>,
    /// Allowed scopes, space-separated.
    #[arg(long)]
    scope: Option<String>,
    /// client_secret_basic (default), client_secret_post, private_key_jwt
    /// (with --jwks-file or --jwks-uri), or none (public client).
    #[arg(long = "auth-method", value_parser = parse_auth_method)]
    auth_method: Option<AuthMethod>,
    /// Allowed audience (RFC 8707 resource URI); repeat for several.
    #[arg(long = "audience")]
    audience: Vec<String>,
    /// Access-token format: jwt (default) or opaque.
    #[arg(long = "access-token-format", value_parser = parse_format)]
    access_token_format: Option<AccessTokenFormat>,
    /// Skip the consent page for this client.
    #[arg(long = "first-party")]
    first_party: Option<bool>,
    /// Access-token lifetime in seconds.
    #[arg(long = "access-token-ttl")]
    access_token_ttl: Option<i64>,
    /// Refresh-token lifetime in seconds.
    #[arg(long = "refresh-token-ttl")]
    refresh_token_ttl: Option<i64>,
    /// Where RP-initiated logout may return; repeat for several.
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// ID-token signing algorithm: RS256 (default), PS256, ES256 or EdDSA.
    #[arg(long = "id-token-alg")]
    id_token_alg: Option<String>,
    /// Issue a refresh token on every code exchange, even without offline_access.
    #[arg(long = "always-issue-refresh-token")]
    always_issue_refresh_token: Option<bool>,
    /// Refresh grace window in seconds for this client (0 = off); default:
    /// the server's refresh_grace_secs.
    #[arg(long = "refresh-grace-secs")]
    refresh_grace_secs: Option<i64>,
    /// When this client's users need a second factor: never, if_enrolled or
    /// always; default: the server's require_mfa.
    #[arg(long = "require-mfa", value_parser = parse_require_mfa)]
    require_mfa: Option<frontdesk_core::mfa::RequireMfa>,
    /// Every token request of this client must carry a DPoP proof (RFC 9449
    /// §5.2 dpop_bound_access_tokens).
    #[arg(long = "dpop-bound-access-tokens")]
    dpop_bound_access_tokens: Option<bool>,
    /// Token exchange (RFC 8693): subject tokens for this audience may be
    /// exchanged; repeat for several. With --exchange-audience; on update,
    /// the three --exchange flags replace the policy.
    #[arg(long = "exchange-subject-audience")]
    exchange_subject_audiences: Vec<String>,
    /// Token exchange: tokens for this audience may be asked for; repeat.
    #[arg(long = "exchange-audience")]
    exchange_audiences: Vec<String>,
    /// Token exchange without an actor_token issues tokens without `act`
    /// (impersonation). Default: the client is named as the actor.
    #[arg(long = "exchange-impersonation")]
    exchange_impersonation: Option<bool>,
    /// Update: remove the token exchange policy.
    #[arg(long = "no-token-exchange", conflicts_with_all = ["exchange_subject_audiences", "exchange_audiences", "exchange_impersonation"])]
    no_token_exchange: bool,
    /// Accept this client's authorization requests only through the
    /// pushed authorization request endpoint (RFC 9126 §6).
    #[arg(long = "require-par")]
    require_pushed_authorization_requests: Option<bool>,
    /// A file holding the client's public JWK Set (RFC 7591 jwks), for
    /// private_key_jwt and signed request objects; `none` (update) removes it.
    #[arg(long = "jwks-file")]
    jwks_file: Option<std::path::PathBuf>,
    /// Where the client publishes its public JWK Set (RFC 7591 jwks_uri);
    /// `none` (update) removes it.
    #[arg(long = "jwks-uri")]
    jwks_uri: Option<String>,
    /// The one algorithm of this client's assertions (ES256, EdDSA, PS256,
    /// RS256); `none` (update) allows any again.
    #[arg(long = "token-endpoint-auth-signing-alg")]
    token_endpoint_auth_signing_alg: Option<String>,
    /// The one algorithm of this client's request objects; `none` (update)
    /// allows any again.
    #[arg(long = "request-object-signing-alg")]
    request_object_signing_alg: Option<String>,
    /// Accept this client's authorization requests only as signed request
    /// objects (RFC 9101 §10.5).
    #[arg(long = "require-signed-request-object")]
    require_signed_request_object: Option<bool>,
    /// `false`: this confidential client may leave PKCE out; its OpenID
    /// Connect requests then need a nonce (RFC 9700 §2.1.1). Default true.
    #[arg(long = "require-pkce")]
    require_pkce: Option<bool>,
    /// A security profile for this client: fapi2 (the FAPI 2.0 Security
    /// Profile: private_key_jwt, PAR, DPoP, PS256/ES256/EdDSA, 60 s codes).
    #[arg(long = "profile", value_parser = parse_profile)]
    profile: Option<frontdesk_core::model::ClientProfile>,
    /// The upstream identity providers this client's login page offers,
    /// comma-separated `[[upstreams]]` ids; `all` (update) offers every one
    /// again. Default: all.
    #[arg(long = "allowed-upstreams")]
    allowed_upstreams: Option<String>,
    /// `false`: an "upstream only" client: no password or passkey form on
    /// its login page. Default true.
    #[arg(long = "local-login")]
    local_login: Option<bool>,
    /// Only members of one of these groups (comma-separated) may sign in;
    /// `none` (update) lets everyone in again. Default: everyone.
    #[arg(long = "required-groups")]
    required_groups: Option<String>,
    /// The groups this client's `groups` claim may carry, comma-separated
    /// names or `prefix*`; `all` (update) releases every group again.
    /// Default: all.
    #[arg(long = "released-groups")]
    released_groups: Option<String>,
    /// `public` (default: one sub for every client) or `pairwise` (a sub
    /// of its own per sector, OpenID Connect Core §8).
    #[arg(long = "subject-type", value_parser = parse_subject_type)]
    subject_type: Option<frontdesk_core::model::SubjectType>,
    /// A pairwise client's sector: a JSON array of its redirect URIs at an
    /// https URL (needed when they have more than one host); on update,
    /// `none` removes it.
    #[arg(long = "sector-identifier-uri")]
    sector_identifier_uri: Option<String>,
    /// The client's logo, shown on the consent page (RFC 7591 `logo_uri`;
    /// https). On update, `none` removes it; so for the next three.
    #[arg(long = "logo-uri")]
    logo_uri: Option<String>,
    /// The client's home page (`client_uri`), linked from the consent page.
    #[arg(long = "client-uri")]
    client_uri: Option<String>,
    /// Its privacy policy (`policy_uri`), linked from the consent page.
    #[arg(long = "policy-uri")]
    policy_uri: Option<String>,
    /// Its terms of service (`tos_uri`), linked from the consent page.
    #[arg(long = "tos-uri")]
    tos_uri: Option<String>,
}

/// A comma-separated list, or `keyword` for "none given" (`None`).
fn names_or(v: Option<String>, keyword: &str) -> Option<Option<Vec<String>>> {
    v.map(|s| {
        (s.trim() != keyword).then(|| {
            s.split(',')
                .map(|x| x.trim().to_owned())
                .filter(|x| !x.is_empty())
                .collect()
        })
    })
}

/// `--required-groups`: `none` (everyone may sign in again), or group
/// names. A value with no name in it (`""`, `" , "`) is refused: an empty
/// list would let everyone in, the opposite of what a typo meant.
fn required_groups(v: Option<&str>) -> anyhow::Result<Option<Vec<String>>> {
    match names_or(v.map(str::to_owned), "none") {
        None => Ok(None),
        Some(None) => Ok(Some(Vec::new())),
        Some(Some(list)) if list.is_empty() => {
            bail!("--required-groups: no group name given (write \"none\" to let everyone sign in)")
        }
        Some(Some(list)) => Ok(Some(list)),
    }
}

/// `--allowed-upstreams`: `all` (every configured upstream), or ids.
fn upstream_list(v: Option<String>) -> Option<Option<Vec<String>>> {
    v.map(|s| {
        (s.trim() != "all").then(|| {
            s.split(',')
                .map(|x| x.trim().to_owned())
                .filter(|x| !x.is_empty())
                .collect()
        })
    })
}

fn parse_subject_type(s: &str) -> Result<frontdesk_core::model::SubjectType, String> {
    match s {
        "public" => Ok(frontdesk_core::model::SubjectType::Public),
        "pairwise" => Ok(frontdesk_core::model::SubjectType::Pairwise),
        _ => Err("expected public or pairwise".to_owned()),
    }
}

fn parse_profile(s: &str) -> Result<frontdesk_core::model::ClientProfile, String> {
    match s {
        "fapi2" => Ok(frontdesk_core::model::ClientProfile::Fapi2),
        _ => Err("expected fapi2".to_owned()),
    }
}

/// An update's value for a field that can be removed: unset (keep),
/// `none` (remove), or a value.
fn clearable(v: Option<String>) -> Option<Option<String>> {
    v.map(|v| (v != "none").then_some(v))
}

impl ClientFields {
    /// The token exchange policy the `--exchange-*` flags give; `None`
    /// when none of them is given.
    fn exchange_policy(&self) -> Option<frontdesk_core::model::TokenExchangePolicy> {
        if self.exchange_subject_audiences.is_empty()
            && self.exchange_audiences.is_empty()
            && self.exchange_impersonation.is_none()
        {
            return None;
        }
        Some(frontdesk_core::model::TokenExchangePolicy {
            subject_audiences: self.exchange_subject_audiences.clone(),
            audiences: self.exchange_audiences.clone(),
            impersonation: self.exchange_impersonation.unwrap_or(false),
        })
    }

    /// `--jwks-file` for an update: keep (unset), remove (`none`), or the
    /// file's JWK Set.
    fn jwks_patch(&self) -> anyhow::Result<Option<Option<serde_json::Value>>> {
        if self
            .jwks_file
            .as_deref()
            .is_some_and(|p| p == std::path::Path::new("none"))
        {
            return Ok(Some(None));
        }
        Ok(self.jwks()?.map(Some))
    }

    /// The `--jwks-file` contents as JSON, checked by the registration rules.
    fn jwks(&self) -> anyhow::Result<Option<serde_json::Value>> {
        let Some(path) = &self.jwks_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading --jwks-file {}", path.display()))?;
        let value = serde_json::from_str(&text)
            .with_context(|| format!("--jwks-file {} is not JSON", path.display()))?;
        Ok(Some(value))
    }
}

fn parse_require_mfa(s: &str) -> Result<frontdesk_core::mfa::RequireMfa, String> {
    frontdesk_core::mfa::RequireMfa::parse(s)
        .ok_or_else(|| "expected never, if_enrolled or always".to_owned())
}

#[derive(Debug, Subcommand)]
enum ClientsCmd {
    /// Register a client; prints client_id and client_secret once.
    Create {
        #[command(flatten)]
        fields: ClientFields,
        /// Use this client_id instead of a generated one.
        #[arg(long = "client-id")]
        client_id: Option<String>,
        /// Print {"client_id":…,"client_secret":…}.
        #[arg(long)]
        json: bool,
    },
    /// List clients.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one client (never its secret).
    Show { client_id: String },
    /// Change a client's metadata.
    Update {
        client_id: String,
        #[command(flatten)]
        fields: ClientFields,
    },
    /// Delete a client.
    Delete { client_id: String },
    /// Issue a new secret; the old one keeps working for --grace-secs.
    RotateSecret {
        client_id: String,
        #[arg(long = "grace-secs", default_value_t = DEFAULT_SECRET_GRACE)]
        grace_secs: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum UsersCmd {
    /// Create a user.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: Option<String>,
        /// Mark the email address as verified.
        #[arg(long = "email-verified")]
        email_verified: bool,
        #[arg(long)]
        name: Option<String>,
        #[arg(long = "given-name")]
        given_name: Option<String>,
        #[arg(long = "family-name")]
        family_name: Option<String>,
        /// Read the password from standard input (one line).
        #[arg(long = "password-stdin")]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// List users (every page).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a user by username, email or sub.
    Show { user: String },
    /// Change a user's claims; an empty value removes a claim.
    Update {
        user: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long = "given-name")]
        given_name: Option<String>,
        #[arg(long = "family-name")]
        family_name: Option<String>,
        #[arg(long)]
        nickname: Option<String>,
        #[arg(long)]
        picture: Option<String>,
        #[arg(long)]
        locale: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// true or false.
        #[arg(long = "email-verified")]
        email_verified: Option<bool>,
        #[arg(long = "phone-number")]
        phone_number: Option<String>,
        /// true or false.
        #[arg(long = "phone-number-verified")]
        phone_number_verified: Option<bool>,
        /// The postal address as a JSON object of the OpenID Connect
        /// members (formatted, street_address, locality, region,
        /// postal_code, country), set whole.
        #[arg(long)]
        address: Option<String>,
    },
    /// Clear the failed-login counters that lock the account.
    Unlock { user: String },
    /// Remove the user's two-step verification (authenticator app and
    /// recovery codes), e.g. after a lost phone.
    ResetMfa { user: String },
    /// List the user's live sessions, or end one or all of them.
    Sessions {
        user: String,
        /// End the session with this sid (and revoke its grants). Sids are
        /// base64url, so one may start with `-`: it is still the value.
        #[arg(
            long = "end",
            value_name = "SID",
            conflicts_with = "end_all",
            allow_hyphen_values = true
        )]
        end: Option<String>,
        /// End every live session of the user.
        #[arg(long = "end-all")]
        end_all: bool,
        #[arg(long)]
        json: bool,
    },
    /// List the groups the user is in.
    Groups {
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// List the user's connections to upstream identity providers, or
    /// remove one.
    UpstreamLinks {
        user: String,
        /// Disconnect the user from this upstream (its `[[upstreams]]` id).
        #[arg(long = "remove", value_name = "UPSTREAM")]
        remove: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Set a user's password, read from standard input.
    SetPassword {
        user: String,
        #[arg(long = "password-stdin", required = true)]
        password_stdin: bool,
    },
    /// Disable a user.
    Disable { user: String },
    /// Enable a disabled user.
    Enable { user: String },
    /// Delete a user.
    Delete { user: String },
    /// Mail the user a password-reset link now (through `[smtp]`, or to
    /// the outbox folder without it).
    SendReset { user: String },
    /// Mail the user a new e-mail verification link now.
    SendVerification { user: String },
}

#[derive(Debug, Subcommand)]
enum GroupsCmd {
    /// List the groups.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Create a group.
    Add {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Delete a group and every membership in it.
    Remove { name: String },
    /// List a group's members.
    Members {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Add a user (username, e-mail or sub) to a group.
    AddMember { name: String, user: String },
    /// Remove a user from a group.
    RemoveMember { name: String, user: String },
}

async fn groups_cmd(o: &Opened, cmd: GroupsCmd) -> anyhow::Result<()> {
    let now = app::now();
    match cmd {
        GroupsCmd::List { json } => {
            let mut req = frontdesk_core::page::PageRequest {
                limit: frontdesk_core::page::MAX_LIMIT,
                after: None,
            };
            let mut all = Vec::new();
            loop {
                let page = ops::list_groups(&o.db, &req).await?;
                req.after = page.items.last().map(|g| g.name.clone());
                all.extend(page.items);
                if page.next_cursor.is_none() {
                    break;
                }
            }
            if json {
                print_json(&serde_json::Value::Array(
                    all.iter().map(ops::group_view).collect(),
                ))?;
            } else {
                for g in &all {
                    println!("{}\t{}", g.name, g.description);
                }
            }
        }
        GroupsCmd::Add { name, description } => {
            ops::create_group(&o.db, &BY, &name, &description, now).await?;
            println!("created group {name}");
        }
        GroupsCmd::Remove { name } => {
            ops::delete_group(&o.db, &BY, &name, now).await?;
            println!("deleted group {name}");
        }
        GroupsCmd::Members { name, json } => {
            let mut req = frontdesk_core::page::PageRequest {
                limit: frontdesk_core::page::MAX_LIMIT,
                after: None,
            };
            let mut all = Vec::new();
            loop {
                let page = ops::group_members(&o.db, &name, &req).await?;
                req.after = page.items.last().map(|m| m.username.clone());
                all.extend(page.items);
                if page.next_cursor.is_none() {
                    break;
                }
            }
            if json {
                print_json(&serde_json::Value::Array(
                    all.iter()
                        .map(|m| json!({"sub": m.sub, "username": m.username, "added_at": m.added_at}))
                        .collect(),
                ))?;
            } else {
                for m in &all {
                    println!("{}\t{}", m.username, m.sub);
                }
            }
        }
        GroupsCmd::AddMember { name, user } => {
            if ops::add_group_member(&o.db, &BY, &name, &user, now).await? {
                println!("added {user} to {name}");
            } else {
                println!("{user} is in {name} already");
            }
        }
        GroupsCmd::RemoveMember { name, user } => {
            ops::remove_group_member(&o.db, &BY, &name, &user, now).await?;
            println!("removed {user} from {name}");
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
enum UpstreamsCmd {
    /// List every upstream: the configuration file's and the added ones.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add an upstream; running servers offer it within a second. The
    /// flags are the `[[upstreams]]` keys.
    Add(Box<UpstreamArgs>),
    /// Remove an added upstream, every account's link to it and the group
    /// memberships its sign-ins made (the accounts stay).
    Remove { id: String },
}

/// `frontdesk upstreams add`: the keys of an `[[upstreams]]` table.
#[derive(Debug, clap::Args)]
struct UpstreamArgs {
    /// `[a-z0-9_-]{1,32}`: the callback is ISSUER/upstream/ID/callback.
    id: String,
    #[arg(long = "display-name")]
    display_name: String,
    /// An image of the theme directory, shown on the button.
    #[arg(long)]
    icon: Option<String>,
    /// github, google, microsoft (with --tenant), gitlab or apple.
    #[arg(long)]
    preset: Option<String>,
    #[arg(long)]
    tenant: Option<String>,
    /// oidc (default) or oauth2.
    #[arg(long)]
    kind: Option<String>,
    #[arg(long)]
    issuer: Option<String>,
    #[arg(long = "authorization-endpoint")]
    authorization_endpoint: Option<String>,
    #[arg(long = "token-endpoint")]
    token_endpoint: Option<String>,
    #[arg(long = "userinfo-endpoint")]
    userinfo_endpoint: Option<String>,
    #[arg(long = "emails-endpoint")]
    emails_endpoint: Option<String>,
    #[arg(long = "client-id")]
    client_id: String,
    /// The secret itself; prefer --client-secret-file (a command line is
    /// visible to other users of the machine).
    #[arg(long = "client-secret", allow_hyphen_values = true)]
    client_secret: Option<String>,
    /// A file holding the secret; it is read now and stored sealed.
    #[arg(long = "client-secret-file")]
    client_secret_file: Option<std::path::PathBuf>,
    /// With --token-endpoint-auth-method private_key_jwt: a PKCS#8 PEM
    /// private key, read now and stored sealed.
    #[arg(long = "private-key-file")]
    private_key_file: Option<std::path::PathBuf>,
    /// client_secret_basic (default), client_secret_post or private_key_jwt.
    #[arg(long = "token-endpoint-auth-method")]
    token_endpoint_auth_method: Option<String>,
    /// query (default) or form_post.
    #[arg(long = "response-mode")]
    response_mode: Option<String>,
    /// Comma-separated.
    #[arg(long, value_delimiter = ',')]
    scopes: Option<Vec<String>>,
    /// Create an account at the first sign-in (default true).
    #[arg(long)]
    provision: Option<bool>,
    #[arg(long = "link-by-email")]
    link_by_email: Option<bool>,
    #[arg(long = "subject-claim")]
    subject_claim: Option<String>,
    #[arg(long = "email-claim")]
    email_claim: Option<String>,
    #[arg(long = "name-claim")]
    name_claim: Option<String>,
    #[arg(long = "username-claim")]
    username_claim: Option<String>,
    /// Comma-separated.
    #[arg(long = "copy-claims", value_delimiter = ',')]
    copy_claims: Option<Vec<String>>,
    #[arg(long = "groups-claim")]
    groups_claim: Option<String>,
    #[arg(long = "group-prefix", allow_hyphen_values = true)]
    group_prefix: Option<String>,
    #[arg(long = "propagate-logout")]
    propagate_logout: Option<bool>,
}

async fn upstreams_cmd(
    o: &Opened,
    settings: &config::Settings,
    cmd: UpstreamsCmd,
) -> anyhow::Result<()> {
    let now = app::now();
    match cmd {
        UpstreamsCmd::List { json } => {
            let all = ops::list_upstreams(&o.db, &o.kek, settings.upstreams.iter()).await?;
            if json {
                print_json(&serde_json::Value::Array(all))?;
            } else {
                for u in &all {
                    let s = |k: &str| u[k].as_str().unwrap_or_default().to_owned();
                    let at = if s("kind") == "oauth2" {
                        s("authorization_endpoint")
                    } else {
                        s("issuer")
                    };
                    let status = u["error"].as_str().unwrap_or("");
                    println!(
                        "{}\t{}\t{}\t{}\t{status}",
                        s("id"),
                        s("source"),
                        s("display_name"),
                        at
                    );
                }
            }
        }
        UpstreamsCmd::Add(a) => {
            let a = *a;
            let client_secret = match (a.client_secret, a.client_secret_file) {
                (Some(_), Some(_)) => {
                    bail!("give --client-secret or --client-secret-file, not both")
                }
                (Some(s), None) => Some(s),
                (None, Some(f)) => Some(
                    std::fs::read_to_string(&f)
                        .map_err(|e| anyhow!("{}: {e}", f.display()))?
                        .trim()
                        .to_owned(),
                ),
                (None, None) => None,
            };
            let spec = crate::upstream::UpstreamConfig {
                id: a.id,
                display_name: a.display_name,
                icon: a.icon,
                kind: a.kind,
                preset: a.preset,
                tenant: a.tenant,
                issuer: a.issuer,
                authorization_endpoint: a.authorization_endpoint,
                token_endpoint: a.token_endpoint,
                userinfo_endpoint: a.userinfo_endpoint,
                emails_endpoint: a.emails_endpoint,
                client_id: a.client_id,
                client_secret,
                client_secret_file: None,
                private_key: a
                    .private_key_file
                    .map(|f| {
                        std::fs::read_to_string(&f).map_err(|e| anyhow!("{}: {e}", f.display()))
                    })
                    .transpose()?,
                private_key_file: None,
                token_endpoint_auth_method: a.token_endpoint_auth_method,
                response_mode: a.response_mode,
                scopes: a.scopes,
                provision: a.provision,
                link_by_email: a.link_by_email,
                subject_claim: a.subject_claim,
                email_claim: a.email_claim,
                name_claim: a.name_claim,
                username_claim: a.username_claim,
                copy_claims: a.copy_claims,
                groups_claim: a.groups_claim,
                group_prefix: a.group_prefix,
                propagate_logout: a.propagate_logout,
            };
            let taken = |id: &str| {
                settings.upstreams.iter().any(|u| u.id == id)
                    || settings.ldap.iter().any(|d| d.id == id)
            };
            let is_image = |f: &str| crate::branding::is_image(&settings.branding.assets, f);
            let added = ops::add_upstream(&o.db, &o.kek, &BY, spec, taken, is_image, now).await?;
            println!(
                "added upstream {}; register {}/upstream/{}/callback at the provider",
                added.id,
                settings.issuer.trim_end_matches('/'),
                added.id
            );
        }
        UpstreamsCmd::Remove { id } => {
            let configured = settings.upstreams.iter().any(|u| u.id == id);
            let r = ops::remove_upstream(&o.db, &BY, &id, configured, now).await?;
            println!(
                "removed upstream {id} ({} account links, {} group memberships)",
                r.links, r.memberships
            );
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
enum KeysCmd {
    /// List signing keys with their state and dates.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Publish the next signing key now; it starts signing after the
    /// pre-publication window, and the current key retires then.
    Rotate {
        /// access_token, id_token, or all.
        #[arg(long = "use", default_value = "all")]
        key_use: String,
        /// Algorithm of the new key (default: ES256 for access tokens, RS256 for ID tokens).
        #[arg(long)]
        alg: Option<String>,
    },
}

fn parse_grant(s: &str) -> Result<GrantType, String> {
    GrantType::parse(s).ok_or_else(|| format!("unknown grant type {s:?}"))
}

fn parse_auth_method(s: &str) -> Result<AuthMethod, String> {
    AuthMethod::parse(s).ok_or_else(|| format!("unknown auth method {s:?}"))
}

fn parse_format(s: &str) -> Result<AccessTokenFormat, String> {
    match s {
        "jwt" => Ok(AccessTokenFormat::Jwt),
        "opaque" => Ok(AccessTokenFormat::Opaque),
        _ => Err(format!("unknown access-token format {s:?} (jwt or opaque)")),
    }
}

fn parse_scope(s: Option<String>) -> anyhow::Result<Option<Scope>> {
    s.map(|s| Scope::parse(&s).map_err(|e| anyhow!("--scope: {e}")))
        .transpose()
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // The gateway and the demo apps have their own configuration, not the
    // server's: each crate's `run` gets the global flags it reads.
    let common = &cli.common;
    match cli.command {
        Command::Gateway(a) => {
            let json_logs = common.log_format.as_deref() == Some("json");
            return frontdesk_gateway::run(common.config.as_deref(), json_logs, a).await;
        }
        Command::DemoApi(a) => return frontdesk_demo::api::run(a).await,
        Command::DemoRp(a) => return frontdesk_demo::rp::run(a).await,
        Command::Demo(a) => {
            return frontdesk_demo::launch::run(common.data_dir.as_deref(), a).await;
        }
        Command::Login(a) => return crate::native::login(a).await,
        Command::Token(t) => return crate::native::token(t).await,
        Command::Db(d) => return crate::db::run(d).await,
        _ => {}
    }
    let serve_args = match &cli.command {
        Command::Serve(a) => a.clone(),
        _ => ServeArgs::default(),
    };
    let settings = config::load(&cli.common, &serve_args)?;
    let serving = matches!(cli.command, Command::Serve(_));
    init_logging(settings.json_logs, settings.log_level.as_deref(), serving);
    if serving {
        crate::serve::run(settings).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let opened = app::open(&settings).await?;
    let result = match cli.command {
        Command::Serve(_) | Command::Gateway(_) | Command::DemoApi(_) => Ok(()),
        Command::DemoRp(_) | Command::Demo(_) => Ok(()),
        Command::Login(_) | Command::Token(_) | Command::Db(_) => Ok(()),
        Command::Clients(c) => clients(&opened, *c).await,
        Command::Users(u) => users(&opened, &settings, u).await,
        Command::Keys(k) => keys_cmd(&opened, k).await,
        Command::Groups(g) => groups_cmd(&opened, g).await,
        Command::Upstreams(u) => upstreams_cmd(&opened, &settings, *u).await,
    };
    opened.db.close().await;
    result.map(|()| ExitCode::SUCCESS)
}

fn init_logging(json: bool, level: Option<&str>, serving: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if serving { "info" } else { "warn" };
    let filter =
        EnvFilter::try_new(level.unwrap_or(default)).unwrap_or_else(|_| EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn print_json(v: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

async fn clients(o: &Opened, cmd: ClientsCmd) -> anyhow::Result<()> {
    let now = app::now();
    match cmd {
        ClientsCmd::Create {
            fields,
            client_id,
            json,
        } => {
            let jwks = fields.jwks()?;
            let token_exchange = fields.exchange_policy();
            let required = required_groups(fields.required_groups.as_deref())?;
            let Some(name) = fields.name else {
                bail!("clients create: --name is required");
            };
            let spec = ClientSpec {
                client_id,
                client_secret: None,
                client_name: name,
                redirect_uris: fields.redirect_uris,
                grant_types: (!fields.grant_types.is_empty()).then_some(fields.grant_types),
                response_types: None,
                scope: parse_scope(fields.scope)?.unwrap_or_default(),
                token_endpoint_auth_method: fields.auth_method,
                audience: fields.audience,
                access_token_format: fields.access_token_format.unwrap_or_default(),
                first_party: fields.first_party.unwrap_or(false),
                access_token_ttl: fields.access_token_ttl,
                refresh_token_ttl: fields.refresh_token_ttl,
                post_logout_redirect_uris: fields.post_logout_redirect_uris,
                id_token_signed_response_alg: fields.id_token_alg,
                always_issue_refresh_token: fields.always_issue_refresh_token.unwrap_or(false),
                refresh_grace_secs: fields.refresh_grace_secs,
                require_mfa: fields.require_mfa,
                dpop_bound_access_tokens: fields.dpop_bound_access_tokens.unwrap_or(false),
                token_exchange,
                require_pushed_authorization_requests: fields
                    .require_pushed_authorization_requests
                    .unwrap_or(false),
                jwks,
                jwks_uri: fields.jwks_uri,
                token_endpoint_auth_signing_alg: fields.token_endpoint_auth_signing_alg,
                request_object_signing_alg: fields.request_object_signing_alg,
                require_signed_request_object: fields
                    .require_signed_request_object
                    .unwrap_or(false),
                require_pkce: fields.require_pkce,
                profile: fields.profile,
                allowed_upstreams: upstream_list(fields.allowed_upstreams).flatten(),
                local_login: fields.local_login,
                required_groups: required.unwrap_or_default(),
                released_groups: names_or(fields.released_groups, "all").flatten(),
                subject_type: fields.subject_type,
                sector_identifier_uri: fields.sector_identifier_uri,
                logo_uri: fields.logo_uri,
                client_uri: fields.client_uri,
                policy_uri: fields.policy_uri,
                tos_uri: fields.tos_uri,
            };
            let new = ops::create_client(&o.core, &o.db, &BY, spec, now).await?;
            if json {
                println!(
                    "{}",
                    json!({"client_id": new.client.client_id, "client_secret": new.client_secret})
                );
            } else {
                println!("client_id:     {}", new.client.client_id);
                match new.client_secret {
                    Some(s) => {
                        println!("client_secret: {s}");
                        println!("(the secret is shown only now: store it safely)");
                    }
                    None if new.client.token_endpoint_auth_method == AuthMethod::PrivateKeyJwt => {
                        println!(
                            "(private_key_jwt: no secret; the client signs with its own keys)"
                        );
                    }
                    None => println!("(public client: no secret)"),
                }
            }
        }
        ClientsCmd::List { json } => {
            let list = ops::all_clients(&o.db).await?;
            if json {
                print_json(&serde_json::Value::Array(
                    list.iter().map(ops::client_view).collect(),
                ))?;
            } else {
                for c in list {
                    let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
                    println!(
                        "{}\t{}\t{}\t{}",
                        c.client_id,
                        c.client_name,
                        grants.join(","),
                        c.scope
                    );
                }
            }
        }
        ClientsCmd::Show { client_id } => {
            print_json(&ops::client_view(
                &ops::get_client(&o.db, &client_id).await?,
            ))?;
        }
        ClientsCmd::Update { client_id, fields } => {
            let jwks = fields.jwks_patch()?;
            let required = required_groups(fields.required_groups.as_deref())?;
            let token_exchange = if fields.no_token_exchange {
                Some(None)
            } else {
                fields.exchange_policy().map(Some)
            };
            let patch = ClientPatch {
                client_name: fields.name,
                redirect_uris: (!fields.redirect_uris.is_empty()).then_some(fields.redirect_uris),
                grant_types: (!fields.grant_types.is_empty()).then_some(fields.grant_types),
                response_types: None,
                scope: parse_scope(fields.scope)?,
                token_endpoint_auth_method: fields.auth_method,
                audience: (!fields.audience.is_empty()).then_some(fields.audience),
                access_token_format: fields.access_token_format,
                first_party: fields.first_party,
                access_token_ttl: fields.access_token_ttl,
                refresh_token_ttl: fields.refresh_token_ttl,
                post_logout_redirect_uris: (!fields.post_logout_redirect_uris.is_empty())
                    .then_some(fields.post_logout_redirect_uris),
                id_token_signed_response_alg: fields.id_token_alg,
                always_issue_refresh_token: fields.always_issue_refresh_token,
                refresh_grace_secs: fields.refresh_grace_secs,
                require_mfa: fields.require_mfa,
                dpop_bound_access_tokens: fields.dpop_bound_access_tokens,
                token_exchange,
                require_pushed_authorization_requests: fields.require_pushed_authorization_requests,
                jwks,
                jwks_uri: clearable(fields.jwks_uri),
                token_endpoint_auth_signing_alg: clearable(fields.token_endpoint_auth_signing_alg),
                request_object_signing_alg: clearable(fields.request_object_signing_alg),
                require_signed_request_object: fields.require_signed_request_object,
                require_pkce: fields.require_pkce,
                profile: fields.profile.map(Some),
                allowed_upstreams: upstream_list(fields.allowed_upstreams),
                local_login: fields.local_login,
                required_groups: required,
                released_groups: names_or(fields.released_groups, "all"),
                subject_type: fields.subject_type,
                sector_identifier_uri: clearable(fields.sector_identifier_uri),
                logo_uri: clearable(fields.logo_uri),
                client_uri: clearable(fields.client_uri),
                policy_uri: clearable(fields.policy_uri),
                tos_uri: clearable(fields.tos_uri),
            };
            let c = ops::update_client(&o.db, &BY, &client_id, patch, now).await?;
            print_json(&ops::client_view(&c))?;
        }
        ClientsCmd::Delete { client_id } => {
            ops::delete_client(&o.db, &BY, &client_id, now).await?;
            println!("deleted client {client_id}");
        }
        ClientsCmd::RotateSecret {
            client_id,
            grace_secs,
            json,
        } => {
            let (secret, until) =
                ops::rotate_secret(&o.core, &o.db, &BY, &client_id, grace_secs, now).await?;
            if json {
                println!(
                    "{}",
                    json!({"client_id": client_id, "client_secret": secret, "previous_secret_expires_at": until})
                );
            } else {
                println!("client_id:     {client_id}");
                println!("client_secret: {secret}");
                println!("the previous secret works until {}", fmt_time(until));
            }
        }
    }
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    let line = s.lines().next().unwrap_or_default().to_owned();
    if line.is_empty() {
        bail!("no password on standard input");
    }
    Ok(line)
}

async fn users(
    o: &Opened,
    settings: &crate::config::Settings,
    cmd: UsersCmd,
) -> anyhow::Result<()> {
    let now = app::now();
    match cmd {
        UsersCmd::Create {
            username,
            email,
            email_verified,
            name,
            given_name,
            family_name,
            password_stdin,
            json,
        } => {
            let password = if password_stdin {
                Some(read_password()?)
            } else {
                None
            };
            let spec = UserSpec {
                username,
                password,
                password_hash: None,
                disabled: false,
                groups: None,
                claims: UserClaims {
                    name,
                    given_name,
                    family_name,
                    email,
                    email_verified,
                    ..UserClaims::default()
                },
            };
            let user = ops::create_user(&o.db, &BY, spec, now).await?;
            if json {
                print_json(&ops::user_view(&user))?;
            } else {
                println!("created user {} (sub {})", user.username, user.sub);
            }
            if user.password_hash.is_empty() {
                // On stderr, so that --json output stays one JSON document.
                eprintln!(
                    "note: {} {}: frontdesk users set-password {} --password-stdin",
                    user.username,
                    ops::NO_PASSWORD_NOTE,
                    user.username
                );
            }
        }
        UsersCmd::List { json } => {
            let list = ops::all_users(&o.db).await?;
            if json {
                print_json(&serde_json::Value::Array(
                    list.iter().map(ops::user_view).collect(),
                ))?;
            } else {
                for u in list {
                    let state = if u.disabled { "disabled" } else { "active" };
                    println!(
                        "{}\t{}\t{}\t{}",
                        u.sub,
                        u.username,
                        u.claims.email.unwrap_or_default(),
                        state
                    );
                }
            }
        }
        UsersCmd::Show { user } => {
            print_json(&ops::user_view(&ops::get_user(&o.db, &user).await?))?
        }
        UsersCmd::Update {
            user,
            name,
            given_name,
            family_name,
            nickname,
            picture,
            locale,
            email,
            email_verified,
            phone_number,
            phone_number_verified,
            address,
        } => {
            let mut patch = serde_json::Map::new();
            for (claim, value) in [
                ("name", name),
                ("given_name", given_name),
                ("family_name", family_name),
                ("nickname", nickname),
                ("picture", picture),
                ("locale", locale),
                ("email", email),
                ("phone_number", phone_number),
            ] {
                if let Some(v) = value {
                    let v = if v.is_empty() {
                        serde_json::Value::Null
                    } else {
                        serde_json::Value::String(v)
                    };
                    patch.insert(claim.to_owned(), v);
                }
            }
            if let Some(v) = email_verified {
                patch.insert("email_verified".to_owned(), serde_json::Value::Bool(v));
            }
            if let Some(v) = phone_number_verified {
                patch.insert(
                    "phone_number_verified".to_owned(),
                    serde_json::Value::Bool(v),
                );
            }
            if let Some(a) = address {
                let v = if a.is_empty() {
                    serde_json::Value::Null
                } else {
                    serde_json::from_str(&a).context("--address must be a JSON object")?
                };
                patch.insert("address".to_owned(), v);
            }
            if patch.is_empty() {
                bail!("users update: nothing to change (see --help)");
            }
            let u = ops::update_claims(&o.db, &BY, &user, patch, now).await?;
            print_json(&ops::user_view(&u))?;
        }
        UsersCmd::Unlock { user } => {
            let u = ops::unlock_user(&o.db, &BY, &user, now).await?;
            println!(
                "unlocked {}: failed sign-ins no longer block it",
                u.username
            );
        }
        UsersCmd::ResetMfa { user } => {
            let u = ops::reset_mfa(&o.db, &BY, &user, now).await?;
            println!(
                "two-step verification removed for {}: the next sign-in is the password alone",
                u.username
            );
        }
        UsersCmd::Sessions {
            user,
            end,
            end_all,
            json,
        } => {
            if let Some(sid) = end {
                ops::end_user_session(&o.db, &BY, &user, &sid, now).await?;
                println!("ended session {sid} of {user}");
            } else if end_all {
                let n = ops::end_user_sessions(&o.db, &BY, &user, now).await?;
                println!("ended {n} session(s) of {user}");
            } else {
                let mut req = frontdesk_core::page::PageRequest {
                    limit: frontdesk_core::page::MAX_LIMIT,
                    after: None,
                };
                let mut all = Vec::new();
                loop {
                    let (_, page) = ops::user_sessions(&o.db, &user, &req, now).await?;
                    req.after = page
                        .next_cursor
                        .as_deref()
                        .and_then(frontdesk_core::page::decode_cursor);
                    all.extend(page.items);
                    if req.after.is_none() {
                        break;
                    }
                }
                if json {
                    print_json(&serde_json::Value::Array(
                        all.iter().map(ops::session_view).collect(),
                    ))?;
                } else {
                    for s in &all {
                        println!(
                            "{}\t{}\t{}\t{}",
                            s.sid,
                            fmt_time(s.auth_time),
                            s.amr.join(","),
                            fmt_time(s.expires_at)
                        );
                    }
                }
            }
        }
        UsersCmd::Groups { user, json } => {
            let groups = ops::user_groups(&o.db, &user).await?;
            if json {
                print_json(&json!(groups))?;
            } else {
                for g in &groups {
                    println!("{g}");
                }
            }
        }
        UsersCmd::UpstreamLinks { user, remove, json } => {
            if let Some(upstream) = remove {
                ops::remove_upstream_link(&o.db, &BY, &user, &upstream, now).await?;
                println!("disconnected {user} from {upstream}");
            } else {
                let links = ops::user_upstream_links(&o.db, &user).await?;
                if json {
                    print_json(&serde_json::Value::Array(
                        links.iter().map(ops::upstream_link_view).collect(),
                    ))?;
                } else {
                    for l in &links {
                        println!(
                            "{}\t{}\t{}",
                            l.upstream,
                            l.upstream_sub,
                            fmt_time(l.created_at)
                        );
                    }
                }
            }
        }
        UsersCmd::SetPassword { user, .. } => {
            ops::set_password(&o.db, &BY, &user, read_password()?, now).await?;
            println!("password changed for {user}");
        }
        UsersCmd::Disable { user } => {
            ops::set_disabled(&o.db, &BY, &user, true, now).await?;
            println!("disabled {user}");
        }
        UsersCmd::Enable { user } => {
            ops::set_disabled(&o.db, &BY, &user, false, now).await?;
            println!("enabled {user}");
        }
        UsersCmd::Delete { user } => {
            ops::delete_user(&o.db, &BY, &user, now).await?;
            println!("deleted {user}");
        }
        UsersCmd::SendReset { user } => send_link(o, settings, &user, false, now).await?,
        UsersCmd::SendVerification { user } => send_link(o, settings, &user, true, now).await?,
    }
    Ok(())
}

/// `users send-reset` / `users send-verification`: sends at once, so a
/// relay's refusal is reported here.
async fn send_link(
    o: &Opened,
    settings: &crate::config::Settings,
    user: &str,
    verify: bool,
    now: i64,
) -> anyhow::Result<()> {
    let mailer = crate::mail::Mailer::new(
        &settings.mail,
        &settings.issuer,
        &settings.branding.product_name,
    )?;
    let to = ops::send_link(&o.db, &BY, &mailer, &settings.links, user, verify, now).await?;
    let what = if verify {
        "an e-mail verification"
    } else {
        "a password-reset"
    };
    match &settings.mail.smtp {
        Some(_) => println!("sent {what} link to {to}"),
        None => println!(
            "wrote {what} link for {to} to {} (no [smtp] configured)",
            settings.mail.outbox.display()
        ),
    }
    Ok(())
}

fn fmt_time(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

async fn keys_cmd(o: &Opened, cmd: KeysCmd) -> anyhow::Result<()> {
    let now = app::now();
    match cmd {
        KeysCmd::List { json } => {
            let stored = o.db.signing_keys().await?;
            let rows: Vec<serde_json::Value> = stored
                .iter()
                .map(|k| {
                    json!({
                        "kid": k.kid,
                        "alg": k.alg,
                        "use": k.key_use.as_str(),
                        "state": o.rotation.state(k, now).as_str(),
                        "created_at": k.created_at,
                        "activates_at": k.activates_at,
                        "retired_at": k.retired_at,
                    })
                })
                .collect();
            if json {
                print_json(&serde_json::Value::Array(rows))?;
            } else {
                println!(
                    "{:<44} {:<6} {:<12} {:<8} {:<21} {:<21} retired",
                    "kid", "alg", "use", "state", "created", "signs from"
                );
                for k in &stored {
                    println!(
                        "{:<44} {:<6} {:<12} {:<8} {:<21} {:<21} {}",
                        k.kid,
                        k.alg,
                        k.key_use.as_str(),
                        o.rotation.state(k, now).as_str(),
                        fmt_time(k.created_at),
                        fmt_time(k.activates_at),
                        k.retired_at.map(fmt_time).unwrap_or_else(|| "-".into())
                    );
                }
            }
        }
        KeysCmd::Rotate { key_use, alg } => {
            let uses = match key_use.as_str() {
                "all" => vec![KeyUse::AccessToken, KeyUse::IdToken],
                other => vec![
                    KeyUse::parse(other)
                        .ok_or_else(|| anyhow!("--use must be access_token, id_token or all"))?,
                ],
            };
            let alg: Option<Algorithm> = alg
                .map(|a| {
                    a.parse()
                        .map_err(|_| anyhow!("--alg must be ES256, RS256, PS256 or EdDSA"))
                })
                .transpose()?;
            let published =
                ops::rotate_keys(&o.db, &BY, &o.kek, &o.rotation, &uses, alg, now).await?;
            for key in published {
                println!(
                    "published {} ({}, {}): signs from {}; the current key retires then",
                    key.kid,
                    key.alg,
                    key.key_use.as_str(),
                    fmt_time(key.activates_at)
                );
            }
        }
    }
    Ok(())
}
