//! Evidentia's trial conduct service (`evidentia serve`): web randomization (IWRS) from a
//! list made by `evidentia trial randomize`, with allocation concealment and blinding,
//! screening, enrolment, visit and adverse-event capture, corrections with reasons, a
//! hash-chained append-only audit trail, database lock, unblinding, and the export that
//! `evidentia trial analyze` reads. SQLite by default, PostgreSQL through the same queries.
//! Browser pages in `web`, the JSON API (docs/api.md) in `api`, the rules in `service`.

pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod db;
pub mod error;
pub mod export;
pub mod service;
pub mod testkit;
pub mod web;

pub use app::{Running, ServeConfig, start};
pub use auth::{Role, SecurityConfig};
pub use db::{Backend, Db};
pub use error::{ServerError, ServerResult};

/// Runs the service until Ctrl-C (blocking; builds its own runtime). Prints the address
/// and, on a fresh database, the one-time set-up link.
pub fn serve_blocking(cfg: ServeConfig) -> ServerResult<()> {
    let rt = runtime()?;
    rt.block_on(async move {
        let running = start(cfg).await?;
        if let Some(link) = &running.setup_link {
            println!("Setup link (one-time, creates the first administrator): {link}");
        }
        println!("evidentia serve: listening on http://{}", running.addr);
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
        }
        running.shutdown().await;
        Ok(())
    })
}

/// Checks the audit trail's hash chain (`evidentia serve verify-audit`).
pub fn verify_audit_blocking(db: &str) -> ServerResult<audit::Verification> {
    let rt = runtime()?;
    rt.block_on(async move {
        let db = Db::open(db).await?;
        audit::verify(&db).await
    })
}

fn runtime() -> ServerResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServerError::Io)
}
