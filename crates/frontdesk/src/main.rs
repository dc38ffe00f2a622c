//! `frontdesk`: the OAuth 2.0 / OpenID Connect server and its command line.

mod app;
mod audit;
mod branding;
mod cli;
mod client_addr;
mod client_keys;
mod config;
mod db;
mod http;
mod ldap;
mod mail;
mod native;
mod ops;
mod passkeys;
mod serve;
mod telemetry;
mod throttle;
mod upstream;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            // One clear line: the error chain, outermost first.
            eprintln!("frontdesk: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
