//! Randomization load on loopback: enrols N participants, then randomizes them from C
//! concurrent clients at two sites, and prints throughput and latency percentiles.
//!
//!     cargo run --release -p evidentia-server --example load -- [N] [C] [DB]
//!
//! DB defaults to a temporary SQLite file; pass a postgres:// URL (an empty database, or
//! `pg` to create one on EVIDENTIA_TEST_PG_URL's server) for PostgreSQL.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use evidentia_server::testkit::{self, TestServer};
use evidentia_server::{SecurityConfig, ServeConfig};
use evidentia_trial::randomize::{RandomizationSpec, generate};
use serde_json::json;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(400);
    let clients: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(16);
    let dir = tempfile::tempdir()?;
    let db = match args.get(3).map(String::as_str) {
        Some("pg") => testkit::fresh_postgres_db(&std::env::var("EVIDENTIA_TEST_PG_URL")?)?,
        Some(url) => url.to_string(),
        None => dir.path().join("load.db").to_string_lossy().to_string(),
    };
    let mut cfg = ServeConfig::new(db.clone(), "127.0.0.1:0".parse()?);
    cfg.security = SecurityConfig {
        randomize_per_minute: usize::MAX,
        login_per_minute: 10_000,
        ..SecurityConfig::default()
    };
    let server = TestServer::spawn(cfg)?;
    let per_stratum = (n / 4 + 8) as u32;
    let spec = RandomizationSpec::parse(
        "Control,MSC",
        "1:1",
        "site=A,B;g=x,y",
        "2,4",
        per_stratum,
        1,
    )?;
    let plan = include_str!("../../../examples/cp-rct/plan.toml").replace("UCT-MSC", "MSC");
    let mut t = testkit::set_up_trial(
        server.addr,
        server.setup_link.as_deref(),
        &plan,
        &generate(&spec)?.to_csv(),
    )
    .map_err(|e| format!("set-up: {e}"))?;
    // The plan's covariates do not include the list's factor `g`: enrolment only needs the factors.
    let mut pids = Vec::new();
    for i in 0..n {
        let site = i % 2;
        let pid = format!("L{i:05}");
        testkit::enrol(
            &mut t.investigators[site],
            &pid,
            &json!({"g": if i % 4 < 2 { "x" } else { "y" }}),
            &json!({}),
            false,
        )
        .map_err(|e| format!("enrol: {e}"))?;
        pids.push((site, pid));
    }
    let queue = Arc::new(Mutex::new(pids));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let start = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|w| {
            let q = Arc::clone(&queue);
            let lat = Arc::clone(&latencies);
            let mut cs = [t.investigators[0].clone(), t.investigators[1].clone()];
            std::thread::spawn(move || {
                let _ = w;
                loop {
                    let job = q.lock().ok().and_then(|mut q| q.pop());
                    let Some((site, pid)) = job else { break };
                    let t0 = Instant::now();
                    let r = cs[site]
                        .post_json(&format!("/api/v1/participants/{pid}/randomize"), &json!({}));
                    let ok = matches!(r, Ok(ref r) if r.status == 200);
                    if let Ok(mut l) = lat.lock() {
                        l.push((t0.elapsed(), ok));
                    }
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    let wall = start.elapsed();
    let mut lat = latencies.lock().map_err(|_| "poisoned")?.clone();
    let failed = lat.iter().filter(|(_, ok)| !ok).count();
    lat.sort();
    let q = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize].0;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{} randomizations from {clients} clients on {}: {:.0}/s, latency p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms, failed {failed}",
        lat.len(),
        if db.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        lat.len() as f64 / wall.as_secs_f64(),
        ms(q(0.5)),
        ms(q(0.95)),
        ms(q(1.0)),
    );
    let v = t.manager.get("/api/v1/audit/verify")?.json();
    println!("audit and allocation check: ok = {}", v["ok"]);
    Ok(())
}
