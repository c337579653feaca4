//! `evidentia serve` end to end: a whole simulated trial conducted through the service's
//! API, exported and analysed by `evidentia trial analyze`; the service killed during
//! allocation and restarted with nothing lost; `serve verify-audit` on an intact and on a
//! tampered trail.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use evidentia_server::testkit::{self, Client, TestServer};
use evidentia_server::{Db, SecurityConfig, ServeConfig};
use evidentia_trial::randomize::{RandomizationSpec, generate};
use evidentia_trial::simulate::{Design, simulate};
use serde_json::{Value, json};

fn cp_list(per_stratum: u32) -> String {
    let spec = RandomizationSpec::parse(
        "Control,UCT-MSC",
        "1:1",
        "site=A,B;gmfcs=II-III,IV-V",
        "2,4",
        per_stratum,
        7,
    )
    .unwrap();
    generate(&spec).unwrap().to_csv()
}

fn ok(r: std::io::Result<testkit::Response>) -> Value {
    let r = r.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

#[test]
fn a_simulated_trial_conducted_through_the_service_is_analysed_from_its_export() {
    let plan = Design::CpRct.example_plan();
    let sim = simulate(Design::CpRct, 11).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ServeConfig::new(
        dir.path().join("cp.db").to_string_lossy(),
        "127.0.0.1:0".parse().unwrap(),
    );
    cfg.training = true;
    cfg.security = SecurityConfig {
        randomize_per_minute: 1000,
        ..SecurityConfig::default()
    };
    let server = TestServer::spawn(cfg).unwrap();
    let mut t = testkit::set_up_trial(
        server.addr,
        server.setup_link.as_deref(),
        plan,
        &cp_list(30),
    )
    .unwrap();
    let entered = testkit::enter_simulated(&mut t.investigators, &sim, 30.4375).unwrap();
    ok(t.manager.post_json(
        "/api/v1/lock",
        &json!({"reason": "last participant's 12-month visit"}),
    ));
    ok(t.manager
        .post_json("/api/v1/unblind", &json!({"reason": "final analysis"})));
    let export = ok(t.statistician.get("/api/v1/export?unblinded=true"));
    let data = dir.path().join("export");
    std::fs::create_dir_all(&data).unwrap();
    for (name, text) in export["files"].as_object().unwrap() {
        std::fs::write(data.join(name), text.as_str().unwrap()).unwrap();
    }
    // Every value entered comes back unchanged.
    let measurements = std::fs::read_to_string(data.join("measurements.csv")).unwrap();
    let exported: BTreeSet<String> = measurements
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            format!(
                "{},{},{},{}",
                f[0],
                f[1],
                f[3],
                f[4].parse::<f64>().unwrap()
            )
        })
        .collect();
    assert_eq!(exported, entered);
    let out = dir.path().join("report");
    let r = common::json(&[
        "trial",
        "analyze",
        "--data",
        data.to_str().unwrap(),
        "--plan",
        data.join("plan.toml").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(out.join("report.html").exists());
    assert_eq!(r["primary"].as_array().unwrap().len(), 4, "{r}");
    // CONSORT counts from the service's screening log and dispositions equal the simulation's.
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let c = &results["consort"];
    assert_eq!(c["randomized"], 72, "{c}");
    assert_eq!(c["assessed"], 72, "{c}");
    let lost: u64 = c["arms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["lost_to_follow_up"].as_u64().unwrap())
        .sum();
    let sim_lost = sim
        .participants
        .iter()
        .filter(|p| p.disposition.as_str() == "lost_to_follow_up")
        .count() as u64;
    assert_eq!(lost, sim_lost, "{c}");
    let v = ok(t.manager.get("/api/v1/audit/verify"));
    assert_eq!(v["ok"], true, "{v}");
}

/// Starts `evidentia serve` as a child process on a free port; returns it, its address and
/// its set-up link (on a fresh database).
fn spawn_serve(db: &str) -> (Child, SocketAddr, Option<String>) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_evidentia"))
        .args([
            "serve",
            "--db",
            db,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--randomize-per-minute",
            "100000",
            "--login-per-minute",
            "1000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // On a fresh database the set-up link comes first; "listening on" is the last line.
    let mut link = None;
    for l in lines.by_ref() {
        let l = l.unwrap();
        if l.contains("listening on") {
            break;
        }
        if let Some(i) = l.find("http://") {
            link = Some(l[i..].trim().to_string());
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (child, addr, link)
}

#[test]
fn killed_during_allocation_nothing_is_lost_or_half_written() {
    let dir = tempfile::tempdir().unwrap();
    // SQLite, and PostgreSQL when EVIDENTIA_TEST_PG_URL is set.
    for db in evidentia_server::testkit::test_databases(dir.path()).unwrap() {
        killed_during_allocation(&db);
    }
}

fn killed_during_allocation(db: &str) {
    let db = db.to_string();
    let (mut child, addr, link) = spawn_serve(&db);
    let plan = Design::CpRct.example_plan();
    let mut t = testkit::set_up_trial(addr, link.as_deref(), plan, &cp_list(60)).unwrap();
    let covs = json!({"cp_type": "spastic_diplegia", "gmfcs": "III", "sex": "F", "age_months": 70, "weight_kg": 20});
    let mut pids = Vec::new();
    for i in 0..120 {
        let pid = format!("K{i:03}");
        testkit::enrol(
            &mut t.investigators[i % 2],
            &pid,
            &json!({"gmfcs": "II-III"}),
            &covs,
            false,
        )
        .unwrap();
        pids.push((i % 2, pid));
    }
    // Eight clients randomize as fast as they can; the service is killed (SIGKILL) midway.
    let stop = Arc::new(AtomicBool::new(false));
    let receipts = Arc::new(std::sync::Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..8)
        .map(|w| {
            let mine: Vec<(usize, String)> = pids.iter().skip(w).step_by(8).cloned().collect();
            let clients = [t.investigators[0].clone(), t.investigators[1].clone()];
            let stop = Arc::clone(&stop);
            let receipts = Arc::clone(&receipts);
            std::thread::spawn(move || {
                let mut clients = clients;
                for (site, pid) in mine {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if let Ok(r) = clients[site]
                        .post_json(&format!("/api/v1/participants/{pid}/randomize"), &json!({}))
                        && r.status == 200
                    {
                        receipts
                            .lock()
                            .unwrap()
                            .push((pid, r.json()["randomization_number"].as_i64().unwrap()));
                    }
                }
            })
        })
        .collect();
    let start = std::time::Instant::now();
    while receipts.lock().unwrap().len() < 20 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    let before = receipts.lock().unwrap().clone();
    assert!(
        before.len() >= 20 && before.len() < 120,
        "killed after {} allocations",
        before.len()
    );

    // The chain is intact and every used slot has its allocation and audit row, none skipped.
    let out = common::evidentia(&["serve", "verify-audit", "--db", &db, "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{v}");
    assert_eq!(v["ok"], true, "{v}");

    // Restarted: every receipt handed out is still valid, and the rest can be randomized.
    let (mut child, addr, link) = spawn_serve(&db);
    assert!(
        link.is_none(),
        "no second set-up link on an existing database"
    );
    let mut inv = [Client::new(addr), Client::new(addr)];
    inv[0].login("inv_a", testkit::PASSWORD).unwrap();
    inv[1].login("inv_b", testkit::PASSWORD).unwrap();
    let mut numbers = BTreeSet::new();
    for (site, pid) in &pids {
        let r =
            ok(inv[*site].post_json(&format!("/api/v1/participants/{pid}/randomize"), &json!({})));
        let n = r["randomization_number"].as_i64().unwrap();
        assert!(numbers.insert(n), "number {n} given twice");
        if let Some((_, m)) = before.iter().find(|(p, _)| p == pid) {
            assert_eq!(*m, n, "{pid}: receipt before the kill not kept");
            assert_eq!(r["new"], false);
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let out = common::evidentia(&["serve", "verify-audit", "--db", &db]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("audit trail intact"));

    // An edited row makes verify-audit fail with exit status 1 and name the row.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let d = Db::open(&db).await.unwrap();
        let disable = match d.backend {
            evidentia_server::Backend::Sqlite => "DROP TRIGGER audit_no_update",
            evidentia_server::Backend::Postgres => "ALTER TABLE audit DISABLE TRIGGER USER",
        };
        sqlx::raw_sql(disable).execute(&d.pool).await.unwrap();
        sqlx::query("UPDATE audit SET actor = 'someone' WHERE seq = 5")
            .execute(&d.pool)
            .await
            .unwrap();
        d.pool.close().await;
    });
    let out = common::evidentia(&["serve", "verify-audit", "--db", &db]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("BROKEN") && text.contains("row 5"), "{text}");
}

#[test]
fn serve_refuses_a_bad_database_argument() {
    common::fails_with(
        &["serve", "--db", "a?b.db", "--listen", "127.0.0.1:0"],
        &["may not contain"],
    );
    common::fails_with(
        &[
            "serve",
            "verify-audit",
            "--db",
            "postgres://nobody@127.0.0.1:1/x",
        ],
        &["cannot open database"],
    );
}
