//! The service's guarantees (issue 8), each on SQLite and, when EVIDENTIA_TEST_PG_URL is
//! set, on PostgreSQL: allocation under concurrency, blinding of every blinded role, and
//! the append-only hash-chained audit trail.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use evidentia_server::Db;
use evidentia_server::testkit::{self, Client};
use serde_json::{Value, json};

use common::{ARMS, covariates, factors};

/// Runs `jobs` on `workers` threads (bounded concurrency), collecting results by index.
fn parallel<T: Send + 'static>(workers: usize, jobs: Vec<Box<dyn FnOnce() -> T + Send>>) -> Vec<T> {
    let n = jobs.len();
    let queue = Arc::new(Mutex::new(jobs.into_iter().enumerate().collect::<Vec<_>>()));
    let out = Arc::new(Mutex::new((0..n).map(|_| None).collect::<Vec<Option<T>>>()));
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let q = Arc::clone(&queue);
            let o = Arc::clone(&out);
            std::thread::spawn(move || {
                loop {
                    let job = q.lock().unwrap().pop();
                    let Some((i, f)) = job else { break };
                    let r = f();
                    o.lock().unwrap()[i] = Some(r);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    Arc::try_unwrap(out)
        .ok()
        .unwrap()
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|x| x.unwrap())
        .collect()
}

fn randomize_job(mut c: Client, pid: String) -> Box<dyn FnOnce() -> (String, u16, Value) + Send> {
    Box::new(move || {
        let r = c
            .post_json(&format!("/api/v1/participants/{pid}/randomize"), &json!({}))
            .unwrap();
        (pid, r.status, r.json())
    })
}

#[test]
fn concurrent_randomization_never_reuses_or_skips_a_slot() {
    let dir = tempfile::tempdir().unwrap();
    for db in common::databases(&dir) {
        // 4 strata × 12 slots; 10 participants per stratum.
        let (server, mut t) = common::trial(&db, 12, common::loose());
        let mut pids = Vec::new();
        for site in 0..2 {
            for i in 0..20 {
                let pid = format!("P{site}{i:02}");
                testkit::enrol(
                    &mut t.investigators[site],
                    &pid,
                    &factors(i),
                    &covariates(i),
                    false,
                )
                .unwrap();
                pids.push((site, pid));
            }
        }
        // 40 randomizations plus 12 repeated submissions, 12 at a time, both sites.
        let mut jobs = Vec::new();
        for (site, pid) in &pids {
            jobs.push(randomize_job(t.investigators[*site].clone(), pid.clone()));
        }
        for (site, pid) in pids.iter().step_by(4).take(12) {
            jobs.push(randomize_job(t.investigators[*site].clone(), pid.clone()));
        }
        let results = parallel(12, jobs);
        let mut by_pid: HashMap<String, Vec<i64>> = HashMap::new();
        for (pid, status, body) in &results {
            assert_eq!(*status, 200, "{db}: {pid}: {body}");
            assert!(
                body.get("arm").is_none(),
                "a receipt must not carry an arm: {body}"
            );
            by_pid
                .entry(pid.clone())
                .or_default()
                .push(body["randomization_number"].as_i64().unwrap());
        }
        assert_eq!(by_pid.len(), 40);
        for (pid, numbers) in &by_pid {
            assert!(
                numbers.windows(2).all(|w| w[0] == w[1]),
                "{db}: {pid} got {numbers:?}"
            );
        }
        let mut numbers: Vec<i64> = by_pid.values().map(|v| v[0]).collect();
        numbers.sort();
        numbers.dedup();
        assert_eq!(numbers.len(), 40, "{db}: a slot was allocated twice");
        // Each stratum used exactly its first 10 slots.
        let strata = t.manager.get("/api/v1/strata").unwrap().json();
        for s in strata.as_array().unwrap() {
            assert_eq!(s["used"], 10, "{db}: {s}");
            assert_eq!(s["remaining"], 2, "{db}: {s}");
            assert_eq!(s["warning"], true, "{db}: {s}");
        }
        let v = t.manager.get("/api/v1/audit/verify").unwrap().json();
        assert_eq!(v["ok"], true, "{db}: {v}");
        // The allocations are the list's first slots per stratum, in order of randomization.
        let list: Vec<Vec<String>> = common::list(12)
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect();
        let first_ten: Vec<i64> = list
            .iter()
            .filter(|r| r[1].parse::<u32>().unwrap() <= 10)
            .map(|r| r[5].parse().unwrap())
            .collect();
        let mut expect = first_ten.clone();
        expect.sort();
        assert_eq!(
            numbers, expect,
            "{db}: slots other than the first ten of each stratum were used"
        );

        // A stratum that runs out refuses clearly, names no arm, and nothing is taken.
        for i in 0..3 {
            let pid = format!("X{i}");
            let r = testkit::enrol(
                &mut t.investigators[0],
                &pid,
                &factors(0),
                &covariates(0),
                true,
            );
            if i < 2 {
                r.unwrap();
            } else {
                let e = r.unwrap_err();
                assert!(e.contains("409") && e.contains("no slot left"), "{e}");
                assert!(!ARMS.iter().any(|a| e.contains(a)));
            }
        }
        let v = t.manager.get("/api/v1/audit/verify").unwrap().json();
        assert_eq!(v["ok"], true, "{db}: {v}");
        drop(server);
    }
}

/// Every response a blinded role can obtain, by request.
fn blinded_views(c: &mut Client, pids: &[String]) -> Vec<(String, u16, String)> {
    let mut paths: Vec<String> = [
        "/",
        "/admin/sites",
        "/admin/users",
        "/admin/plan",
        "/admin/list",
        "/admin/strata",
        "/admin/trial",
        "/notifications",
        "/audit",
        "/audit/verify",
        "/screening",
        "/participants",
        "/participants/new",
        "/pharmacy",
        "/export",
        "/export/blinded/participants.csv",
        "/export/blinded/measurements.csv",
        "/export/blinded/adverse_events.csv",
        "/export/blinded/screening.csv",
        "/export/unblinded/participants.csv",
        "/api/v1/me",
        "/api/v1/state",
        "/api/v1/sites",
        "/api/v1/users",
        "/api/v1/plan",
        "/api/v1/list",
        "/api/v1/strata",
        "/api/v1/screening",
        "/api/v1/participants",
        "/api/v1/pharmacy",
        "/api/v1/notifications",
        "/api/v1/export",
        "/api/v1/export?unblinded=true",
        "/api/v1/audit",
        "/api/v1/audit/verify",
        "/api/v1/nothing-here",
        "/nothing-here",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for p in pids {
        paths.push(format!("/participants/{p}"));
        paths.push(format!("/participants/{p}/randomize"));
        paths.push(format!("/participants/{p}/unblind"));
        paths.push(format!("/api/v1/participants/{p}"));
    }
    let mut out = Vec::new();
    for p in paths {
        let r = c.get(&p).unwrap();
        out.push((format!("GET {p}"), r.status, r.body));
    }
    // Error paths: repeated randomization, unknown participant, refused unblinding,
    // malformed bodies, a value out of range.
    for p in pids.iter().take(2) {
        for (path, body) in [
            (format!("/api/v1/participants/{p}/randomize"), json!({})),
            (
                format!("/api/v1/participants/{p}/emergency-unblind"),
                json!({"password": "wrong-password-123", "reason": "test"}),
            ),
            (
                format!("/api/v1/participants/{p}/visits"),
                json!({"visit": "baseline", "visit_date": "2020-01-01", "values": {"gmfm66": 500}}),
            ),
            (
                format!("/api/v1/participants/{p}/status"),
                json!({"kind": "nonsense"}),
            ),
        ] {
            let r = c.post_json(&path, &body).unwrap();
            out.push((format!("POST {path}"), r.status, r.body));
        }
        let r = c
            .post_form(
                &format!("/participants/{p}/randomize"),
                &[("confirm", "yes")],
            )
            .unwrap();
        out.push((format!("POST form randomize {p}"), r.status, r.body));
    }
    let r = c
        .post_json("/api/v1/participants/NOPE/randomize", &json!({}))
        .unwrap();
    out.push(("POST randomize unknown".into(), r.status, r.body));
    let r = c
        .request(
            "POST",
            "/api/v1/sites",
            Some("application/json"),
            b"{not json",
            &[("X-CSRF-Token", &c.csrf.clone().unwrap_or_default())],
        )
        .unwrap();
    out.push(("POST malformed".into(), r.status, r.body));
    out
}

fn assert_no_arm(who: &str, views: &[(String, u16, String)]) {
    for (req, status, body) in views {
        for arm in ARMS {
            assert!(
                !body.to_lowercase().contains(&arm.to_lowercase()),
                "{who}: {req} (HTTP {status}) reveals an arm: {body}"
            );
        }
    }
}

#[test]
fn blinded_roles_never_see_an_arm() {
    let dir = tempfile::tempdir().unwrap();
    for db in common::databases(&dir) {
        let (server, mut t) = common::trial(&db, 8, common::loose());
        let mut pids = Vec::new();
        for site in 0..2 {
            for i in 0..4 {
                let pid = format!("B{site}{i}");
                let receipt = testkit::enrol(
                    &mut t.investigators[site],
                    &pid,
                    &factors(i),
                    &covariates(i),
                    true,
                )
                .unwrap();
                assert!(receipt["randomization_number"].as_i64().is_some());
                let v = t.investigators[site]
                    .post_json(
                        &format!("/api/v1/participants/{pid}/visits"),
                        &json!({"visit": "baseline", "visit_date": receipt["randomized_at"].as_str().unwrap()[..10], "values": {"gmfm66": 40.5, "mas": 2}}),
                    )
                    .unwrap();
                assert_eq!(v.status, 200, "{}", v.body);
                pids.push(pid);
            }
        }
        // Emergency unblinding of one participant by A's delegated investigator.
        let r = t.investigators[0]
            .post_json(
                "/api/v1/participants/B00/emergency-unblind",
                &json!({"password": testkit::PASSWORD, "reason": "anaphylaxis, treating team must know"}),
            )
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        let arm = r.json()["arm"].as_str().unwrap().to_string();
        assert!(
            ARMS.contains(&arm.as_str()),
            "the delegated path shows the arm"
        );
        // The non-delegated investigator of site B cannot.
        let r = t.investigators[1]
            .post_json(
                "/api/v1/participants/B10/emergency-unblind",
                &json!({"password": testkit::PASSWORD, "reason": "x"}),
            )
            .unwrap();
        assert_eq!(r.status, 403, "{}", r.body);
        // The pharmacist of A sees A's arms and nothing of B (positive control of the search).
        let ph = t.pharmacists[0].get("/pharmacy").unwrap().body;
        assert!(
            ARMS.iter().any(|a| ph.contains(a)),
            "the pharmacist sees arms"
        );
        assert!(ph.contains("B00") && !ph.contains("B10"), "{ph}");
        let ph = t.pharmacists[1].get("/api/v1/pharmacy").unwrap().json();
        assert_eq!(ph.as_array().unwrap().len(), 4);
        assert!(
            ph.as_array()
                .unwrap()
                .iter()
                .all(|l| l["participant_id"].as_str().unwrap().starts_with("B1"))
        );
        // The manager is notified, without the arm.
        let n = t.manager.get("/api/v1/notifications").unwrap().body;
        assert!(n.contains("B00") && n.contains("anaphylaxis"), "{n}");

        let views = blinded_views(&mut t.manager, &pids);
        let ok = |views: &[(String, u16, String)], req: &str, needle: &str| {
            let (_, status, body) = views.iter().find(|(r, ..)| r == req).unwrap();
            assert!(
                *status == 200 && body.contains(needle),
                "{req}: HTTP {status}: {body}"
            );
        };
        // The searched responses are real pages, not login redirects.
        ok(&views, "GET /audit", "emergency_unblind");
        ok(&views, "GET /audit", "randomization_number=");
        ok(&views, "GET /notifications", "B00");
        ok(&views, "GET /export/blinded/participants.csv", "B13");
        ok(&views, "GET /api/v1/strata", "site=A;gmfcs=II-III");
        assert_no_arm("manager", &views);
        for (i, inv) in t.investigators.iter_mut().enumerate() {
            let views = blinded_views(inv, &pids);
            ok(&views, "GET /participants", &format!("B{i}3"));
            ok(
                &views,
                &format!("GET /participants/B{i}0"),
                "randomization-number",
            );
            assert_no_arm(&format!("investigator {i}"), &views);
        }
        assert_no_arm("statistician", &blinded_views(&mut t.statistician, &pids));

        // The blinded export codes the arms; after lock and unblinding the statistician
        // gets the names.
        let e = t.statistician.get("/api/v1/export").unwrap().json();
        let parts = e["files"]["participants.csv"].as_str().unwrap();
        assert!(
            parts
                .lines()
                .skip(1)
                .all(|l| l.split(',').nth(1).is_some_and(|a| a == "A" || a == "B")),
            "{parts}"
        );
        assert_eq!(
            t.manager
                .post_json("/api/v1/lock", &json!({"reason": "last visit done"}))
                .unwrap()
                .status,
            200
        );
        assert_no_arm(
            "statistician after lock",
            &blinded_views(&mut t.statistician, &pids),
        );
        assert_eq!(
            t.manager
                .post_json("/api/v1/unblind", &json!({"reason": "analysis"}))
                .unwrap()
                .status,
            200
        );
        let e = t.statistician.get("/api/v1/export?unblinded=true").unwrap();
        assert_eq!(e.status, 200, "{}", e.body);
        assert!(ARMS.iter().all(|a| e.body.contains(a)));
        drop(server);
    }
}

#[test]
fn audit_trail_is_append_only_and_verifiable() {
    let dir = tempfile::tempdir().unwrap();
    for db in common::databases(&dir) {
        let (server, mut t) = common::trial(&db, 4, common::loose());
        let rc = testkit::enrol(
            &mut t.investigators[0],
            "AU1",
            &factors(0),
            &covariates(0),
            true,
        )
        .unwrap();
        let date = rc["randomized_at"].as_str().unwrap()[..10].to_string();
        let r = t.investigators[0]
            .post_json(
                "/api/v1/participants/AU1/visits",
                &json!({"visit": "baseline", "visit_date": date, "values": {"gmfm66": 41}}),
            )
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        // A correction needs a reason and records old and new values.
        let r = t.investigators[0]
            .post_json(
                "/api/v1/participants/AU1/corrections",
                &json!({"visit": "baseline", "outcome": "gmfm66", "value": 42.5, "reason": ""}),
            )
            .unwrap();
        assert_eq!(r.status, 422, "{}", r.body);
        let r = t.investigators[0]
            .post_json("/api/v1/participants/AU1/corrections", &json!({"visit": "baseline", "outcome": "gmfm66", "value": 42.5, "reason": "transcription error"}))
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        let rows = t.manager.get("/api/v1/audit").unwrap().json();
        let rows = rows.as_array().unwrap();
        let c = rows
            .iter()
            .find(|r| r["action"] == "correct_value")
            .unwrap();
        assert_eq!(
            (
                c["old_value"].as_str(),
                c["new_value"].as_str(),
                c["reason"].as_str()
            ),
            (Some("41"), Some("42.5"), Some("transcription error"))
        );
        assert_eq!(c["actor"], "inv_a");
        assert!(c["at"].as_str().unwrap().ends_with('Z'));
        let n = rows.len();
        assert_eq!(
            t.manager.get("/api/v1/audit/verify").unwrap().json()["ok"],
            true
        );
        drop(server);

        // The database itself refuses UPDATE and DELETE on the trail.
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let d = Db::open(&db).await.unwrap();
            for sql in [
                "UPDATE audit SET reason = 'x' WHERE seq = 2",
                "DELETE FROM audit WHERE seq = 2",
            ] {
                let e = sqlx::query(sql).execute(&d.pool).await.unwrap_err();
                assert!(e.to_string().contains("append-only"), "{db}: {sql}: {e}");
            }
            // Someone with file access disables the guard and edits a row: detected.
            let disable = match d.backend {
                evidentia_server::Backend::Sqlite => "DROP TRIGGER audit_no_update",
                evidentia_server::Backend::Postgres => "ALTER TABLE audit DISABLE TRIGGER USER",
            };
            sqlx::raw_sql(disable).execute(&d.pool).await.unwrap();
            sqlx::query("UPDATE audit SET new_value = 'status=draft' WHERE seq = 3")
                .execute(&d.pool)
                .await
                .unwrap();
            let v = evidentia_server::audit::verify(&d).await.unwrap();
            assert!(!v.ok);
            assert!(
                v.problems
                    .iter()
                    .any(|p| p.starts_with("row 3:") && p.contains("edited")),
                "{db}: {:?}",
                v.problems
            );
            // Restore the row by recomputing its hash (a forger): the next link breaks.
            let rows = evidentia_server::audit::rows(&d).await.unwrap();
            let r3 = &rows[2];
            let e = evidentia_server::audit::Entry {
                actor: &r3.actor,
                action: &r3.action,
                entity: &r3.entity,
                old_value: &r3.old_value,
                new_value: &r3.new_value,
                reason: &r3.reason,
            };
            let forged = evidentia_server::audit::row_hash(3, &r3.at, &e, &r3.prev_hash);
            sqlx::query("UPDATE audit SET hash = $1 WHERE seq = 3")
                .bind(&forged)
                .execute(&d.pool)
                .await
                .unwrap();
            let v = evidentia_server::audit::verify(&d).await.unwrap();
            assert!(
                v.problems
                    .iter()
                    .any(|p| p.starts_with("row 4:") && p.contains("link")),
                "{db}: {:?}",
                v.problems
            );
            if d.backend == evidentia_server::Backend::Sqlite {
                sqlx::raw_sql("DROP TRIGGER audit_no_delete")
                    .execute(&d.pool)
                    .await
                    .unwrap();
            }
            // Deleting the last row is detected through the head.
            sqlx::query("DELETE FROM audit WHERE seq = $1")
                .bind(n as i64)
                .execute(&d.pool)
                .await
                .unwrap();
            sqlx::query(
                "UPDATE audit SET hash = (SELECT prev_hash FROM audit WHERE seq = 4) WHERE seq = 3",
            )
            .execute(&d.pool)
            .await
            .unwrap();
            let v = evidentia_server::audit::verify(&d).await.unwrap();
            assert!(!v.ok, "{db}");
            d.pool.close().await;
        });
    }
}

#[test]
fn randomization_receipt_and_export_round_trip_values() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db").to_string_lossy().to_string();
    let (_server, mut t) = common::trial(&db, 4, common::loose());
    let rc = testkit::enrol(
        &mut t.investigators[1],
        "RT1",
        &factors(1),
        &covariates(1),
        true,
    )
    .unwrap();
    let again = t.investigators[1]
        .post_json("/api/v1/participants/RT1/randomize", &json!({}))
        .unwrap()
        .json();
    assert_eq!(again["randomization_number"], rc["randomization_number"]);
    assert_eq!(again["new"], false);
    // Factors that differ from the enrolment are refused at the review step.
    testkit::enrol(
        &mut t.investigators[1],
        "RT2",
        &factors(1),
        &covariates(1),
        false,
    )
    .unwrap();
    let r = t.investigators[1]
        .post_json(
            "/api/v1/participants/RT2/randomize",
            &json!({"confirm_factors": {"gmfcs": "II-III"}}),
        )
        .unwrap();
    assert_eq!(r.status, 422, "{}", r.body);
    let day0 = rc["randomized_at"].as_str().unwrap()[..10].to_string();
    let p = t.investigators[1]
        .get("/api/v1/participants/RT1")
        .unwrap()
        .json();
    assert_eq!(p["day0"], day0);
    let w: BTreeMap<String, i64> = p["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["visit"].as_str().unwrap().to_string(),
                w["target_day"].as_i64().unwrap(),
            )
        })
        .collect();
    // Months of 30.4375 days: T1 day 30, T2 day 91, T3 day 183, T4 day 365.
    assert_eq!(w["T1"], 30);
    assert_eq!(w["T2"], 91);
    assert_eq!(w["T3"], 183);
    assert_eq!(w["T4"], 365);
    // Out-of-range and unknown values are refused; an out-of-window date is a warning.
    let post =
        |c: &mut Client, v: Value| c.post_json("/api/v1/participants/RT1/visits", &v).unwrap();
    let r = post(
        &mut t.investigators[1],
        json!({"visit": "T1", "visit_date": day0, "values": {"gmfm66": 101}}),
    );
    assert_eq!(r.status, 422);
    assert!(r.body.contains("outside its range"), "{}", r.body);
    let r = post(
        &mut t.investigators[1],
        json!({"visit": "T1", "visit_date": day0, "values": {"cst_fa": 0.5}}),
    );
    assert!(r.body.contains("not measured at visit T1"), "{}", r.body);
    let r = post(
        &mut t.investigators[1],
        json!({"visit": "T1", "visit_date": day0, "values": {"gmfm66": 44.25}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.json()["warnings"][0]
            .as_str()
            .unwrap()
            .contains("outside its window")
    );
    let r = post(
        &mut t.investigators[1],
        json!({"visit": "T1", "visit_date": day0, "values": {"gmfm66": 45}}),
    );
    assert_eq!(
        r.status, 409,
        "a second entry needs a correction: {}",
        r.body
    );
    let e = t.statistician.get("/api/v1/export").unwrap().json();
    let m = e["files"]["measurements.csv"].as_str().unwrap();
    assert!(m.contains("RT1,T1,0,gmfm66,44.25"), "{m}");
    let parts = e["files"]["participants.csv"].as_str().unwrap();
    assert!(parts.starts_with("participant_id,arm,site,randomization_date,disposition,last_visit,disposition_reason,randomization_number,stratum_gmfcs,cp_type,gmfcs,sex,age_months,weight_kg"), "{parts}");
}
