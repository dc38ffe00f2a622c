//! `frontdesk db copy`: the flags and the summary of
//! `frontdesk_store::copy`, which does the work. Needs no configuration,
//! key or data directory: the rows move as they are (signing keys stay
//! sealed under the same key-encryption key).

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use frontdesk_store::copy::{CopyReport, copy_sqlite_to_postgres};
use serde_json::json;

#[derive(Debug, Subcommand)]
pub enum DbCmd {
    /// Copy a stopped SQLite install, every table and row, into an empty
    /// PostgreSQL database (migrated first), in one transaction; row counts
    /// are compared before it commits. Refuses a target with any row in it
    /// and a source a server still has open.
    Copy {
        /// The SQLite database to read (sqlite:PATH or sqlite://PATH),
        /// opened read-only. Stop the server on it first.
        #[arg(long, value_name = "URL")]
        from: String,
        /// The PostgreSQL database to fill (postgres://…). `-` reads the URL
        /// from one line of stdin, so a password in it stays out of `ps`
        /// and shell history (or leave the password out and use PGPASSWORD
        /// or ~/.pgpass). Never printed.
        #[arg(long, value_name = "URL")]
        to: String,
        /// Print {"tables":[{"table":…,"rows":…},…],"total":…}.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: DbCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        DbCmd::Copy { from, to, json } => {
            let to = if to == "-" { url_from_stdin()? } else { to };
            let report = copy_sqlite_to_postgres(&from, &to)
                .await
                .context("db copy")?;
            if json {
                print_json(&report)?;
            } else {
                print_table(&report);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn url_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("db copy: --to -: cannot read stdin")?;
    let url = line.trim_end_matches(['\r', '\n']);
    if url.is_empty() {
        bail!("db copy: --to -: no URL on standard input");
    }
    Ok(url.to_owned())
}

fn print_json(report: &CopyReport) -> anyhow::Result<()> {
    let tables: Vec<_> = report
        .tables
        .iter()
        .map(|(table, rows)| json!({"table": table, "rows": rows}))
        .collect();
    let v = json!({"tables": tables, "total": report.total_rows()});
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

fn print_table(report: &CopyReport) {
    let width = report
        .tables
        .iter()
        .map(|(t, _)| t.len())
        .chain(["table".len(), "total".len()])
        .max()
        .unwrap_or(5);
    println!("{:<width$}  {:>10}", "table", "rows");
    for (table, rows) in &report.tables {
        println!("{table:<width$}  {rows:>10}");
    }
    println!("{:<width$}  {:>10}", "total", report.total_rows());
    println!(
        "copied {} tables into PostgreSQL in one transaction; every row count matches the source",
        report.tables.len()
    );
}
