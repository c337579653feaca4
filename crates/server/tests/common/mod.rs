//! Shared set-up of the service tests: a plan whose arm names are distinctive words (so a
//! leak is found by searching for them), a stratified list, and a running service.
#![allow(dead_code)]

use evidentia_server::testkit::{self, TestServer, Trial};
use evidentia_server::{SecurityConfig, ServeConfig};
use evidentia_trial::randomize::{RandomizationSpec, generate};
use serde_json::{Value, json};

/// The arm names of the test plan; no page a blinded user sees may contain them.
pub const ARMS: [&str; 2] = ["Shamalpha", "Cellzeta"];

/// The cerebral-palsy plan with the arms renamed to [`ARMS`] and a neutral title.
pub fn plan() -> String {
    include_str!("../../../../examples/cp-rct/plan.toml")
        .replace("UCT-MSC", ARMS[1])
        .replace("Control", ARMS[0])
        .lines()
        .map(|l| {
            if l.starts_with("name = \"Intrathecal") {
                "name = \"Test trial\""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A list stratified by site (A, B) and GMFCS band, `per_stratum` slots each.
pub fn list(per_stratum: u32) -> String {
    let spec = RandomizationSpec::parse(
        &ARMS.join(","),
        "1:1",
        "site=A,B;gmfcs=II-III,IV-V",
        "2,4",
        per_stratum,
        20170819,
    )
    .unwrap();
    generate(&spec).unwrap().to_csv()
}

/// Security settings loose enough for load tests.
pub fn loose() -> SecurityConfig {
    SecurityConfig {
        randomize_per_minute: 10_000,
        login_per_minute: 1_000,
        unblind_per_hour: 100,
        ..SecurityConfig::default()
    }
}

/// A fresh service on `db` with the scripted trial.
pub fn trial(db: &str, per_stratum: u32, security: SecurityConfig) -> (TestServer, Trial) {
    let mut cfg = ServeConfig::new(db, "127.0.0.1:0".parse().unwrap());
    cfg.security = security;
    cfg.training = true;
    let server = TestServer::spawn(cfg).unwrap();
    let t = testkit::set_up_trial(
        server.addr,
        server.setup_link.as_deref(),
        &plan(),
        &list(per_stratum),
    )
    .unwrap();
    (server, t)
}

/// The factors of participant `i` (alternating GMFCS bands).
pub fn factors(i: usize) -> Value {
    json!({ "gmfcs": if i.is_multiple_of(2) { "II-III" } else { "IV-V" } })
}

/// Baseline covariates consistent with the factors.
pub fn covariates(i: usize) -> Value {
    json!({
        "cp_type": "spastic_diplegia",
        "gmfcs": if i.is_multiple_of(2) { "III" } else { "IV" },
        "sex": if i.is_multiple_of(3) { "F" } else { "M" },
        "age_months": 60 + i,
        "weight_kg": 18.5
    })
}

/// The databases to run on (SQLite always, PostgreSQL when EVIDENTIA_TEST_PG_URL is set).
pub fn databases(dir: &tempfile::TempDir) -> Vec<String> {
    let dbs = testkit::test_databases(dir.path()).unwrap();
    if dbs.len() == 1 {
        eprintln!("note: EVIDENTIA_TEST_PG_URL not set: PostgreSQL part skipped");
    }
    dbs
}
