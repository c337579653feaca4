//! Test support, public so that the tests of this crate, of the command line and the
//! browser tests share it: a minimal blocking HTTP/1.1 client with a cookie and CSRF
//! token, an in-process server on its own runtime thread, fresh PostgreSQL databases for
//! tests, and a scripted trial set-up through the JSON API.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::app::{COOKIE, ServeConfig, start};
use crate::error::{ServerError, ServerResult};

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// A client with one session.
#[derive(Debug, Clone)]
pub struct Client {
    pub addr: SocketAddr,
    /// The session token, once signed in.
    pub session: Option<String>,
    /// The CSRF token of the session (from the API login).
    pub csrf: Option<String>,
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn io_err(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::other(msg.into())
}

fn dechunk(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| io_err("bad chunked body"))?;
        let size_txt =
            std::str::from_utf8(&rest[..line_end]).map_err(|_| io_err("bad chunk size"))?;
        let size = usize::from_str_radix(size_txt.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| io_err("bad chunk size"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if rest.len() < size + 2 {
            return Err(io_err("truncated chunk"));
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            session: None,
            csrf: None,
        }
    }

    /// Sends one request (`Connection: close`) and reads the whole response.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
        extra: &[(&str, &str)],
    ) -> std::io::Result<Response> {
        let mut s = TcpStream::connect(self.addr)?;
        s.set_read_timeout(Some(Duration::from_secs(120)))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(ct) = content_type {
            head.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        if let Some(t) = &self.session {
            head.push_str(&format!("Cookie: {COOKIE}={t}\r\n"));
        }
        for (k, v) in extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes())?;
        s.write_all(body)?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| io_err("no end of headers"))?;
        let head = String::from_utf8_lossy(&raw[..split]).to_string();
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| io_err("bad status line"))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let mut body = raw[split + 4..].to_vec();
        if headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
        {
            body = dechunk(&body)?;
        }
        for (k, v) in &headers {
            if k.eq_ignore_ascii_case("set-cookie")
                && let Some(rest) = v.strip_prefix(&format!("{COOKIE}="))
            {
                let value = rest.split(';').next().unwrap_or("");
                self.session = (!value.is_empty()).then(|| value.to_string());
            }
        }
        Ok(Response {
            status,
            headers,
            body: String::from_utf8_lossy(&body).to_string(),
        })
    }

    pub fn get(&mut self, path: &str) -> std::io::Result<Response> {
        self.request("GET", path, None, b"", &[])
    }

    /// A JSON POST carrying the CSRF header.
    pub fn post_json(&mut self, path: &str, body: &Value) -> std::io::Result<Response> {
        let csrf = self.csrf.clone().unwrap_or_default();
        self.request(
            "POST",
            path,
            Some("application/json"),
            body.to_string().as_bytes(),
            &[("X-CSRF-Token", &csrf)],
        )
    }

    /// A form POST (the session's CSRF token added as the `csrf` field when known).
    pub fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> std::io::Result<Response> {
        let mut parts: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect();
        if let Some(c) = &self.csrf {
            parts.push(format!("csrf={c}"));
        }
        self.request(
            "POST",
            path,
            Some("application/x-www-form-urlencoded"),
            parts.join("&").as_bytes(),
            &[],
        )
    }

    /// Signs in through the API; keeps the session cookie and CSRF token.
    pub fn login(&mut self, username: &str, password: &str) -> std::io::Result<Response> {
        let r = self.request(
            "POST",
            "/api/v1/login",
            Some("application/json"),
            json!({ "username": username, "password": password })
                .to_string()
                .as_bytes(),
            &[],
        )?;
        if r.status == 200 {
            self.csrf = r.json()["csrf_token"].as_str().map(str::to_string);
        }
        Ok(r)
    }
}

/// A service running on its own runtime thread; stopped on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub setup_link: Option<String>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Starts the service with `cfg` (use port 0 for a free port).
    pub fn spawn(cfg: ServeConfig) -> ServerResult<TestServer> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(ServerError::Io(e)));
                    return;
                }
            };
            rt.block_on(async move {
                match start(cfg).await {
                    Ok(running) => {
                        let _ = ready_tx.send(Ok((running.addr, running.setup_link.clone())));
                        let _ = stop_rx.await;
                        running.shutdown().await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        });
        let (addr, setup_link) = ready_rx
            .recv()
            .map_err(|_| ServerError::Config("the server thread ended".into()))??;
        Ok(TestServer {
            addr,
            setup_link,
            shutdown: Some(stop_tx),
            thread: Some(thread),
        })
    }

    pub fn client(&self) -> Client {
        Client::new(self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Creates an empty PostgreSQL database on the server of `base_url` and returns its URL.
pub fn fresh_postgres_db(base_url: &str) -> ServerResult<String> {
    let name = format!(
        "evidentia_t_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        crate::clock::now().unix % 100_000
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(base_url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await?;
        pool.close().await;
        Ok::<_, ServerError>(())
    })?;
    let (prefix, _) = base_url
        .rsplit_once('/')
        .ok_or_else(|| ServerError::Config(format!("bad PostgreSQL URL {base_url}")))?;
    Ok(format!("{prefix}/{name}"))
}

/// The databases a test should run against: a fresh SQLite file in `dir`, and a fresh
/// PostgreSQL database when `EVIDENTIA_TEST_PG_URL` is set.
pub fn test_databases(dir: &std::path::Path) -> ServerResult<Vec<String>> {
    let mut v = vec![dir.join("trial.db").to_string_lossy().to_string()];
    if let Ok(url) = std::env::var("EVIDENTIA_TEST_PG_URL")
        && !url.is_empty()
    {
        v.push(fresh_postgres_db(&url)?);
    }
    Ok(v)
}

/// The password every scripted account gets.
pub const PASSWORD: &str = "correct-horse-battery-1";

/// The signed-in accounts of a scripted trial.
pub struct Trial {
    pub manager: Client,
    /// Investigators of sites A and B; A's is delegated for emergency unblinding.
    pub investigators: [Client; 2],
    pub pharmacists: [Client; 2],
    pub statistician: Client,
}

fn expect(step: &str, r: std::io::Result<Response>, status: u16) -> Result<Response, String> {
    match r {
        Ok(r) if r.status == status => Ok(r),
        Ok(r) => Err(format!("{step}: HTTP {} {}", r.status, r.body)),
        Err(e) => Err(format!("{step}: {e}")),
    }
}

/// Sets a fresh service up through the set-up link and the API: sites A and B, the
/// accounts of [`Trial`], the plan and the list (locked for production).
pub fn set_up_trial(
    addr: SocketAddr,
    setup_link: Option<&str>,
    plan_toml: &str,
    list_csv: &str,
) -> Result<Trial, String> {
    let link = setup_link.ok_or("no set-up link")?;
    let token = link.split("token=").nth(1).ok_or("no token")?.to_string();
    let mut m = Client::new(addr);
    expect(
        "setup",
        m.post_form(
            "/setup",
            &[
                ("token", &token),
                ("username", "manager"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
            ],
        ),
        200,
    )?;
    expect("manager login", m.login("manager", PASSWORD), 200)?;
    for (code, name) in [("A", "Site A hospital"), ("B", "Site B hospital")] {
        expect(
            "site",
            m.post_json("/api/v1/sites", &json!({"code": code, "name": name})),
            200,
        )?;
    }
    let accounts = [
        ("inv_a", "investigator", Some("A"), true),
        ("inv_b", "investigator", Some("B"), false),
        ("pharm_a", "pharmacist", Some("A"), false),
        ("pharm_b", "pharmacist", Some("B"), false),
        ("stat", "statistician", None, false),
    ];
    for (u, role, site, unblind) in accounts {
        expect(
            "user",
            m.post_json(
                "/api/v1/users",
                &json!({"username": u, "password": PASSWORD, "role": role, "site": site, "can_unblind": unblind}),
            ),
            200,
        )?;
    }
    expect(
        "plan",
        m.post_json("/api/v1/plan", &json!({"toml": plan_toml})),
        200,
    )?;
    expect(
        "list",
        m.post_json(
            "/api/v1/list",
            &json!({"csv": list_csv, "production": true}),
        ),
        200,
    )?;
    let mut signed = Vec::new();
    for (u, ..) in accounts {
        let mut c = Client::new(addr);
        expect(u, c.login(u, PASSWORD), 200)?;
        signed.push(c);
    }
    let mut it = signed.into_iter();
    let mut next = || it.next().ok_or("missing account");
    Ok(Trial {
        manager: m,
        investigators: [next()?, next()?],
        pharmacists: [next()?, next()?],
        statistician: next()?,
    })
}

/// Screens, enrols and (when `randomize`) randomizes one participant through the API;
/// returns the randomization receipt (or the enrolment) as JSON.
pub fn enrol(
    inv: &mut Client,
    participant: &str,
    factors: &Value,
    covariates: &Value,
    randomize: bool,
) -> Result<Value, String> {
    let sid = format!("S-{participant}");
    expect(
        "screen",
        inv.post_json(
            "/api/v1/screening",
            &json!({"screening_id": sid, "eligible": true}),
        ),
        200,
    )?;
    let r = expect(
        "enrol",
        inv.post_json(
            "/api/v1/participants",
            &json!({"participant_id": participant, "screening_id": sid, "factors": factors, "covariates": covariates}),
        ),
        200,
    )?;
    if !randomize {
        return Ok(r.json());
    }
    let r = expect(
        "randomize",
        inv.post_json(
            &format!("/api/v1/participants/{participant}/randomize"),
            &json!({"confirm_factors": factors}),
        ),
        200,
    )?;
    Ok(r.json())
}

/// The GMFCS band (stratification level) of a GMFCS level.
fn gmfcs_band(level: &str) -> &'static str {
    if matches!(level, "I" | "II" | "III") {
        "II-III"
    } else {
        "IV-V"
    }
}

/// Conducts a simulated trial (crate `trial`'s simulator) through the API, as a site
/// integration would: each participant is screened, enrolled (GMFCS band as the
/// stratification factor), randomized by the service, then their visits (dated at
/// day 0 + the simulated time), adverse events and disposition are entered; sites
/// alternate between the two investigators. Needs training mode (the visits lie in the
/// future). Returns the entered values as `participant,visit,outcome,value` lines.
pub fn enter_simulated(
    investigators: &mut [Client; 2],
    sim: &evidentia_trial::TrialDataset,
    days_per_unit: f64,
) -> Result<std::collections::BTreeSet<String>, String> {
    use evidentia_trial::dataset::Date;
    let mut entered = std::collections::BTreeSet::new();
    let covariate_names = ["cp_type", "gmfcs", "sex", "age_months", "weight_kg"];
    for (i, p) in sim.participants.iter().enumerate() {
        let inv = &mut investigators[i % 2];
        let gmfcs = p.attributes.get("gmfcs").cloned().unwrap_or_default();
        let covs: serde_json::Map<String, Value> = covariate_names
            .iter()
            .filter_map(|k| p.attributes.get(*k).map(|v| (k.to_string(), json!(v))))
            .collect();
        let rc = enrol(
            inv,
            &p.id,
            &json!({"gmfcs": gmfcs_band(&gmfcs)}),
            &Value::Object(covs),
            true,
        )?;
        let day0 = rc["randomized_at"]
            .as_str()
            .and_then(|t| Date::parse(t.get(..10)?))
            .ok_or_else(|| format!("{}: no randomization time in {rc}", p.id))?;
        let at = |day: i64| {
            day0.add_days(day)
                .map(|d| d.to_string())
                .unwrap_or_default()
        };
        let mut visits: Vec<&str> = Vec::new();
        for m in sim.measurements.iter().filter(|m| m.participant_id == p.id) {
            if !visits.contains(&m.visit.as_str()) {
                visits.push(&m.visit);
            }
        }
        let mut last_day = 0;
        for v in visits {
            let ms: Vec<_> = sim
                .measurements
                .iter()
                .filter(|m| m.participant_id == p.id && m.visit == v)
                .collect();
            let day = (ms[0].time * days_per_unit).round() as i64;
            last_day = last_day.max(day);
            let values: serde_json::Map<String, Value> = ms
                .iter()
                .map(|m| (m.outcome.clone(), json!(m.value)))
                .collect();
            expect(
                "visit",
                inv.post_json(
                    &format!("/api/v1/participants/{}/visits", p.id),
                    &json!({"visit": v, "visit_date": at(day), "values": values}),
                ),
                200,
            )?;
            for m in ms {
                entered.insert(format!(
                    "{},{},{},{}",
                    m.participant_id, m.visit, m.outcome, m.value
                ));
            }
        }
        for ae in sim
            .adverse_events
            .iter()
            .filter(|a| a.participant_id == p.id)
        {
            expect(
                "adverse event",
                inv.post_json(
                    &format!("/api/v1/participants/{}/adverse-events", p.id),
                    &json!({"term": ae.term, "onset_date": at(i64::from(ae.onset_day)),
                            "severity": ae.severity.as_str(), "serious": ae.serious, "related": ae.related.as_str()}),
                ),
                200,
            )?;
        }
        let status = match p.disposition.as_str() {
            "completed" => None,
            "withdrew_consent" => Some(("withdrawal", "withdrawal_by_parent_or_guardian")),
            "lost_to_follow_up" => Some(("lost_to_follow_up", "lost_to_follow_up")),
            "died" => Some(("death", "death")),
            _ => Some(("withdrawal", "other")),
        };
        if let Some((kind, code)) = status {
            expect(
                "status",
                inv.post_json(
                    &format!("/api/v1/participants/{}/status", p.id),
                    &json!({"kind": kind, "reason_code": code, "reason": "as simulated", "date": at(last_day + 1)}),
                ),
                200,
            )?;
        }
    }
    Ok(entered)
}
