//! Security checks (OWASP ASVS level 2 where it applies): password storage, cookies,
//! session rotation and timeouts, CSRF, same-origin, no state change on GET, rate limits,
//! server-side role and site checks, the one-time set-up link.

mod common;

use std::time::Duration;

use evidentia_server::testkit::{self, Client, TestServer};
use evidentia_server::{Db, SecurityConfig, ServeConfig};
use serde_json::json;
use sqlx::Row;

use common::{covariates, factors};

fn sqlite(dir: &tempfile::TempDir) -> String {
    dir.path().join("s.db").to_string_lossy().to_string()
}

#[test]
fn passwords_cookies_and_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(&dir);
    let (server, mut t) = common::trial(&db, 4, common::loose());

    // The set-up link works once.
    let link = server.setup_link.clone().unwrap();
    let token = link.split("token=").nth(1).unwrap();
    let mut anon = server.client();
    let r = anon
        .post_form(
            "/setup",
            &[
                ("token", token),
                ("username", "intruder"),
                ("password", "another-password-1"),
                ("password2", "another-password-1"),
            ],
        )
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.body);

    // Cookie attributes.
    let mut c = server.client();
    let r = c.login("stat", testkit::PASSWORD).unwrap();
    let cookie = r.header("set-cookie").unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    // Rotation: a new login gives a new token and ends the session presented with it.
    let first = c.session.clone().unwrap();
    c.login("stat", testkit::PASSWORD).unwrap();
    let second = c.session.clone().unwrap();
    assert_ne!(first, second);
    let mut old = Client {
        session: Some(first),
        ..server.client()
    };
    assert_eq!(old.get("/api/v1/me").unwrap().status, 401);
    assert_eq!(c.get("/api/v1/me").unwrap().status, 200);
    // Logout ends the session.
    assert_eq!(
        c.post_json("/api/v1/logout", &json!({})).unwrap().status,
        200
    );
    let mut after = Client {
        session: Some(second),
        ..server.client()
    };
    assert_eq!(after.get("/api/v1/me").unwrap().status, 401);
    // Without a session: API 401, pages redirect to the login page.
    let r = anon.get("/participants").unwrap();
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));
    assert_eq!(anon.get("/api/v1/participants").unwrap().status, 401);
    // Wrong password: one message whether or not the user exists.
    let a = anon.login("stat", "wrong-password-99").unwrap();
    let b = anon.login("nobody", "wrong-password-99").unwrap();
    assert_eq!((a.status, b.status), (403, 403));
    assert_eq!(a.json()["error"], b.json()["error"]);
    // Security headers on every response.
    let r = t.manager.get("/").unwrap();
    assert!(
        r.header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'")
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    drop(server);

    // Argon2id hashes at rest.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let d = Db::open(&db).await.unwrap();
        let rows = sqlx::query("SELECT password_hash FROM users")
            .fetch_all(&d.pool)
            .await
            .unwrap();
        assert_eq!(rows.len(), 6);
        for r in rows {
            let h: String = r.try_get("password_hash").unwrap();
            assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        }
        // Sessions are stored as hashes of their tokens, never the tokens.
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM sessions WHERE token_hash = $1")
            .bind(t.manager.session.clone().unwrap())
            .fetch_one(&d.pool)
            .await
            .unwrap()
            .try_get("n")
            .unwrap();
        assert_eq!(n, 0);
    });
}

#[test]
fn idle_and_absolute_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ServeConfig::new(sqlite(&dir), "127.0.0.1:0".parse().unwrap());
    cfg.security = SecurityConfig {
        idle_timeout: Duration::from_secs(1),
        absolute_timeout: Duration::from_secs(3),
        ..SecurityConfig::default()
    };
    let server = TestServer::spawn(cfg).unwrap();
    let link = server.setup_link.clone().unwrap();
    let token = link.split("token=").nth(1).unwrap().to_string();
    let mut c = server.client();
    c.post_form(
        "/setup",
        &[
            ("token", &token),
            ("username", "manager"),
            ("password", testkit::PASSWORD),
            ("password2", testkit::PASSWORD),
        ],
    )
    .unwrap();
    c.login("manager", testkit::PASSWORD).unwrap();
    assert_eq!(c.get("/api/v1/me").unwrap().status, 200);
    std::thread::sleep(Duration::from_millis(2300));
    assert_eq!(c.get("/api/v1/me").unwrap().status, 401, "idle timeout");
    drop(server);

    // Absolute timeout: a session in constant use still ends.
    let mut cfg = ServeConfig::new(sqlite(&dir), "127.0.0.1:0".parse().unwrap());
    cfg.security = SecurityConfig {
        idle_timeout: Duration::from_secs(100),
        absolute_timeout: Duration::from_secs(2),
        ..SecurityConfig::default()
    };
    let server = TestServer::spawn(cfg).unwrap();
    let mut c = server.client();
    c.login("manager", testkit::PASSWORD).unwrap();
    let start = std::time::Instant::now();
    let mut statuses = Vec::new();
    while start.elapsed() < Duration::from_millis(4500) {
        statuses.push(c.get("/api/v1/me").unwrap().status);
        std::thread::sleep(Duration::from_millis(400));
    }
    assert_eq!(statuses[0], 200);
    assert_eq!(statuses[2], 200, "{statuses:?}");
    assert_eq!(statuses.last(), Some(&401), "{statuses:?}");
}

#[test]
fn csrf_origin_methods_roles_and_rate_limits() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(&dir);
    let security = SecurityConfig {
        login_per_minute: 5,
        randomize_per_minute: 3,
        unblind_per_hour: 2,
        ..SecurityConfig::default()
    };
    let (server, mut t) = common::trial(&db, 8, security);
    let site = json!({"code": "C", "name": "Site C"});

    // CSRF: missing or wrong token refused for the API and the forms.
    let m = &mut t.manager;
    let r = m
        .request(
            "POST",
            "/api/v1/sites",
            Some("application/json"),
            site.to_string().as_bytes(),
            &[],
        )
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.body);
    let r = m
        .request(
            "POST",
            "/api/v1/sites",
            Some("application/json"),
            site.to_string().as_bytes(),
            &[("X-CSRF-Token", "0")],
        )
        .unwrap();
    assert_eq!(r.status, 403);
    let r = m
        .request(
            "POST",
            "/admin/sites",
            Some("application/x-www-form-urlencoded"),
            b"code=C&name=Site+C",
            &[],
        )
        .unwrap();
    assert_eq!(r.status, 403);
    assert!(r.body.contains("security token"), "{}", r.body);
    // A foreign Origin is refused even with the right token.
    let csrf = m.csrf.clone().unwrap();
    let r = m
        .request(
            "POST",
            "/api/v1/sites",
            Some("application/json"),
            site.to_string().as_bytes(),
            &[("X-CSRF-Token", &csrf), ("Origin", "http://evil.example")],
        )
        .unwrap();
    assert_eq!(r.status, 403);
    // Nothing was created by the refused requests; GET never changes state.
    assert!(!m.get("/api/v1/sites").unwrap().body.contains("Site C"));
    for path in [
        "/api/v1/lock",
        "/api/v1/unblind",
        "/admin/lock",
        "/logout",
        "/api/v1/list/lock",
    ] {
        assert_eq!(m.get(path).unwrap().status, 405, "GET {path}");
    }
    assert_eq!(
        m.get("/api/v1/state").unwrap().json()["database_locked"],
        false
    );

    // Roles are checked on the server for every request.
    let inv = &mut t.investigators[0];
    assert_eq!(inv.post_json("/api/v1/sites", &site).unwrap().status, 403);
    assert_eq!(
        inv.post_json("/api/v1/lock", &json!({"reason": "x"}))
            .unwrap()
            .status,
        403
    );
    assert_eq!(inv.get("/api/v1/export").unwrap().status, 403);
    assert_eq!(inv.get("/api/v1/audit").unwrap().status, 403);
    assert_eq!(inv.get("/api/v1/pharmacy").unwrap().status, 403);
    assert_eq!(
        t.pharmacists[0].get("/api/v1/participants").unwrap().status,
        403
    );
    assert_eq!(t.pharmacists[0].get("/api/v1/export").unwrap().status, 403);
    assert_eq!(
        t.statistician
            .post_json(
                "/api/v1/screening",
                &json!({"screening_id": "S1", "eligible": true})
            )
            .unwrap()
            .status,
        403
    );
    assert_eq!(
        t.statistician
            .get("/api/v1/export?unblinded=true")
            .unwrap()
            .status,
        403
    );
    assert_eq!(
        t.manager
            .post_json("/api/v1/unblind", &json!({"reason": "early"}))
            .unwrap()
            .status,
        409
    );
    // Sites are separated: B's investigator cannot see or randomize A's participant.
    testkit::enrol(
        &mut t.investigators[0],
        "SEC1",
        &factors(0),
        &covariates(0),
        false,
    )
    .unwrap();
    assert_eq!(
        t.investigators[1]
            .get("/api/v1/participants/SEC1")
            .unwrap()
            .status,
        404
    );
    assert_eq!(
        t.investigators[1]
            .post_json("/api/v1/participants/SEC1/randomize", &json!({}))
            .unwrap()
            .status,
        404
    );

    // Rate limits: randomize (3 per minute per user).
    for i in 0..3 {
        testkit::enrol(
            &mut t.investigators[0],
            &format!("RL{i}"),
            &factors(i),
            &covariates(i),
            true,
        )
        .unwrap();
    }
    testkit::enrol(
        &mut t.investigators[0],
        "RL3",
        &factors(0),
        &covariates(0),
        false,
    )
    .unwrap();
    let r = t.investigators[0]
        .post_json("/api/v1/participants/RL3/randomize", &json!({}))
        .unwrap();
    assert_eq!(r.status, 429, "{}", r.body);
    // Emergency unblinding (2 per hour per user), even with wrong passwords.
    for _ in 0..2 {
        let r = t.investigators[0]
            .post_json(
                "/api/v1/participants/RL0/emergency-unblind",
                &json!({"password": "wrong-password-1", "reason": "x"}),
            )
            .unwrap();
        assert_eq!(r.status, 403);
    }
    let r = t.investigators[0]
        .post_json(
            "/api/v1/participants/RL0/emergency-unblind",
            &json!({"password": testkit::PASSWORD, "reason": "x"}),
        )
        .unwrap();
    assert_eq!(r.status, 429);
    // Login (5 per minute per user name; the set-up signed inv_b in once): the sixth
    // attempt is refused even with the right password.
    let mut c = server.client();
    for _ in 0..4 {
        assert_eq!(c.login("inv_b", "wrong-password-1").unwrap().status, 403);
    }
    assert_eq!(c.login("inv_b", testkit::PASSWORD).unwrap().status, 429);
    // The refusals are in the audit trail.
    let audit = t.manager.get("/api/v1/audit").unwrap().body;
    assert!(audit.contains("login_failed"));
}

#[test]
fn bad_input_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, mut t) = common::trial(&sqlite(&dir), 4, common::loose());
    let m = &mut t.manager;
    for (path, body, needle) in [
        (
            "/api/v1/sites",
            json!({"code": "a b", "name": "x"}),
            "site code",
        ),
        (
            "/api/v1/sites",
            json!({"code": "A", "name": "dup"}),
            "exists already",
        ),
        (
            "/api/v1/users",
            json!({"username": "u1", "password": "short", "role": "investigator", "site": "A"}),
            "12 characters",
        ),
        (
            "/api/v1/users",
            json!({"username": "u1", "password": "long-enough-pw", "role": "wizard"}),
            "unknown role",
        ),
        (
            "/api/v1/users",
            json!({"username": "u1", "password": "long-enough-pw", "role": "investigator"}),
            "needs a site",
        ),
        (
            "/api/v1/plan",
            json!({"toml": "[trial]\nname = 1"}),
            "plan.toml",
        ),
        (
            "/api/v1/list",
            json!({"csv": "a,b\n1,2"}),
            "locked in production",
        ),
        (
            "/api/v1/list/append",
            json!({"csv": common::list(4), "reason": ""}),
            "reason is required",
        ),
        (
            "/api/v1/list/append",
            json!({"csv": "stratum,sequence,block,block_size,arm,randomization_number\nsite=A;gmfcs=II-III,9,1,2,Nope,999", "reason": "more"}),
            "not one of the plan's arms",
        ),
        (
            "/api/v1/list/append",
            json!({"csv": "stratum,sequence,block,block_size,arm,randomization_number\nsite=A;gmfcs=II-III,9,1,2,Cellzeta,999", "reason": "more"}),
            "continues at sequence 5",
        ),
        ("/api/v1/sites", json!([1, 2]), "request body"),
    ] {
        let r = m.post_json(path, &body).unwrap();
        assert!((400..500).contains(&r.status), "{path}: {}", r.status);
        let e = r.json()["error"].as_str().unwrap_or("").to_string();
        assert!(e.contains(needle), "{path}: {e}");
        assert!(
            !e.contains("Cellzeta") || needle.contains("Cellzeta"),
            "{e}"
        );
    }
    // A valid append continues the stratum, is audited with its reason, and extends it.
    let r = m
        .post_json(
            "/api/v1/list/append",
            &json!({"csv": "stratum,sequence,block,block_size,arm,randomization_number\nsite=A;gmfcs=II-III,5,3,2,Cellzeta,1001\nsite=A;gmfcs=II-III,6,3,2,Shamalpha,1002", "reason": "recruitment above plan"}),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["version"], 2);
    let strata = m.get("/api/v1/strata").unwrap().json();
    let a = strata
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stratum"] == "site=A;gmfcs=II-III")
        .unwrap();
    assert_eq!(a["total"], 6);
    // Data-entry errors name the problem.
    let inv = &mut t.investigators[0];
    let r = inv
        .post_json(
            "/api/v1/screening",
            &json!({"screening_id": "S9", "eligible": false}),
        )
        .unwrap();
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("exclusion reason is required")
    );
    inv.post_json(
        "/api/v1/screening",
        &json!({"screening_id": "S9", "eligible": false, "exclusion_reason": "age"}),
    )
    .unwrap();
    let r = inv
        .post_json(
            "/api/v1/participants",
            &json!({"participant_id": "Z1", "screening_id": "S9", "factors": {"gmfcs": "II-III"}}),
        )
        .unwrap();
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("was not eligible"),
        "{}",
        r.body
    );
    let r = testkit::enrol(inv, "Z2", &json!({"gmfcs": "VI"}), &covariates(0), false).unwrap_err();
    assert!(r.contains("is not one of II-III, IV-V"), "{r}");
    let r =
        testkit::enrol(inv, "Z3", &factors(0), &json!({"age_months": "old"}), false).unwrap_err();
    assert!(r.contains("age_months"), "{r}");
}

#[test]
fn password_change_and_deactivation_end_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut t) = common::trial(&sqlite(&dir), 4, common::loose());
    let change = |c: &mut Client, current: &str, new: &str| {
        c.post_json(
            "/api/v1/password",
            &json!({"current_password": current, "new_password": new}),
        )
        .unwrap()
    };
    let mut second = server.client();
    second.login("stat", testkit::PASSWORD).unwrap();
    assert_eq!(
        change(&mut t.statistician, "not-my-password-1", "a-new-password-2").status,
        403
    );
    assert_eq!(
        change(&mut t.statistician, testkit::PASSWORD, "short").status,
        422
    );
    let r = change(&mut t.statistician, testkit::PASSWORD, "a-new-password-2");
    assert_eq!(r.status, 200, "{}", r.body);
    // Every session of the user ended; the new password works, the old one not.
    assert_eq!(t.statistician.get("/api/v1/me").unwrap().status, 401);
    assert_eq!(second.get("/api/v1/me").unwrap().status, 401);
    let mut c = server.client();
    assert_eq!(c.login("stat", testkit::PASSWORD).unwrap().status, 403);
    assert_eq!(c.login("stat", "a-new-password-2").unwrap().status, 200);

    // Deactivation by the manager, with a reason; the account is locked out at once.
    let r = t
        .manager
        .post_json("/api/v1/users/inv_b/deactivate", &json!({"reason": ""}))
        .unwrap();
    assert_eq!(r.status, 422);
    let r = t
        .manager
        .post_json(
            "/api/v1/users/inv_b/deactivate",
            &json!({"reason": "left the study team"}),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(t.investigators[1].get("/api/v1/me").unwrap().status, 401);
    assert_eq!(
        server
            .client()
            .login("inv_b", testkit::PASSWORD)
            .unwrap()
            .status,
        403
    );
    assert_eq!(
        t.investigators[0]
            .post_json("/api/v1/users/inv_a/deactivate", &json!({"reason": "x"}))
            .unwrap()
            .status,
        403
    );
    let users = t.manager.get("/api/v1/users").unwrap().json();
    let b = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "inv_b")
        .unwrap();
    assert_eq!(b["active"], false);
    let audit = t.manager.get("/api/v1/audit").unwrap().body;
    assert!(audit.contains("left the study team") && audit.contains("change_password"));
}

#[test]
fn html_is_escaped_and_the_schema_is_versioned() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(&dir);
    let (server, mut t) = common::trial(&db, 4, common::loose());
    let r = t
        .manager
        .post_json(
            "/api/v1/sites",
            &json!({"code": "X", "name": "<script>alert(1)</script> & co"}),
        )
        .unwrap();
    assert_eq!(r.status, 200);
    let page = t.manager.get("/admin/sites").unwrap().body;
    assert!(!page.contains("<script>alert"), "unescaped: {page}");
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; co"),
        "{page}"
    );
    drop(server);

    // Reopening applies nothing twice; a database from a newer program is refused.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let d = Db::open(&db).await.unwrap();
        assert_eq!(d.schema_version().await.unwrap(), 1);
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM schema_migrations")
            .fetch_one(&d.pool)
            .await
            .unwrap()
            .try_get("n")
            .unwrap();
        assert_eq!(n, 1);
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 'x')",
        )
        .execute(&d.pool)
        .await
        .unwrap();
        d.pool.close().await;
        let e = Db::open(&db).await.unwrap_err().to_string();
        assert!(e.contains("schema version 99"), "{e}");
    });
}
