//! `evidentia serve`: the trial conduct service (crate `evidentia-server`), and
//! `evidentia serve verify-audit`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Subcommand};
use evidentia_server::{SecurityConfig, ServeConfig};

use crate::error::{CliError, CliResult};

/// Arguments of `serve`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ServeArgs {
    #[command(subcommand)]
    pub action: Option<ServeAction>,
    /// Database: a SQLite file (created and migrated on first start) or a
    /// postgres://user@host/db URL.
    #[arg(long, default_value = "trial.db")]
    pub db: String,
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Minutes without a request after which a session ends.
    #[arg(long, default_value_t = 30)]
    pub idle_timeout_min: u64,
    /// Hours after login after which a session ends.
    #[arg(long, default_value_t = 12)]
    pub absolute_timeout_h: u64,
    /// Omit the Secure attribute of the session cookie (only for plain-HTTP access from
    /// another host during testing; browsers accept Secure cookies on http://localhost).
    #[arg(long)]
    pub insecure_cookie: bool,
    /// Training mode: dates after today are accepted with a warning, so a whole
    /// follow-up can be rehearsed in one day; every page shows a banner.
    #[arg(long)]
    pub training: bool,
    /// Sign-in attempts allowed per user name per minute (three times as many per client address).
    #[arg(long, default_value_t = 10)]
    pub login_per_minute: usize,
    /// Randomizations allowed per user per minute.
    #[arg(long, default_value_t = 30)]
    pub randomize_per_minute: usize,
    /// Emergency unblindings allowed per user per hour.
    #[arg(long, default_value_t = 5)]
    pub unblind_per_hour: usize,
}

/// `serve` subcommands.
#[derive(Debug, Subcommand)]
pub enum ServeAction {
    /// Recompute the audit trail's hash chain; exit status 1 and the broken rows when any
    /// row was edited or deleted.
    VerifyAudit {
        /// The service's database (SQLite path or postgres:// URL).
        #[arg(long)]
        db: String,
    },
}

pub fn run(a: ServeArgs, json: bool) -> CliResult<()> {
    let fail = |e: evidentia_server::ServerError| CliError::Usage(e.to_string());
    match a.action {
        Some(ServeAction::VerifyAudit { db }) => {
            let v = evidentia_server::verify_audit_blocking(&db).map_err(fail)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&v)
                        .map_err(|e| CliError::Output(e.to_string()))?
                );
            } else if v.ok {
                println!(
                    "audit trail intact: {} rows, every hash and link verified",
                    v.rows
                );
            } else {
                println!("audit trail BROKEN ({} rows):", v.rows);
                for p in &v.problems {
                    println!("  {p}");
                }
            }
            if !v.ok {
                std::process::exit(1);
            }
            Ok(())
        }
        None => {
            let mut cfg = ServeConfig::new(a.db, a.listen);
            cfg.training = a.training;
            cfg.security = SecurityConfig {
                idle_timeout: Duration::from_secs(a.idle_timeout_min.max(1) * 60),
                absolute_timeout: Duration::from_secs(a.absolute_timeout_h.max(1) * 3600),
                secure_cookie: !a.insecure_cookie,
                login_per_minute: a.login_per_minute.max(1),
                randomize_per_minute: a.randomize_per_minute.max(1),
                unblind_per_hour: a.unblind_per_hour.max(1),
            };
            evidentia_server::serve_blocking(cfg).map_err(fail)
        }
    }
}
