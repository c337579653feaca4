//! End-to-end browser test of `evidentia serve` in Debian's headless Chromium (issue 8, "Tested in a real browser"):
//! set up a trial (sites, users, plan, randomization list), screen, enrol and randomize at two sites, enter visits
//! and an adverse event, record a loss to follow-up, unblind one participant in an emergency, check the pharmacist's
//! and the manager's views, lock, unblind, and download the unblinded export. A PNG screenshot of every page goes to
//! `NN-name.png` in the directory `EVIDENTIA_SCREENSHOTS` (the committed ones in
//! `docs/screenshots/` were made with `EVIDENTIA_SCREENSHOTS=$PWD/docs/screenshots`), by
//! default in the target directory.
//!
//! Skips (with a message) when `EVIDENTIA_CHROMEDRIVER` is unset; fails when it is set but chromedriver or Chromium
//! cannot be started. `eval "$(.ci/services)"` installs both and sets the variable. Runs on SQLite, and also on
//! PostgreSQL (a fresh database per run) when `EVIDENTIA_TEST_PG_URL` is set.

mod common;
mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::ARMS;
use evidentia_server::ServeConfig;
use evidentia_server::testkit::{self, Client, TestServer, test_databases};
use serde_json::json;
use support::webdriver::{ChromeDriver, Session, TempDir, chromedriver_from_env, http_get};

const PASSWORD: &str = "correct horse battery";
/// How long a page may take to load.
const WAIT: Duration = Duration::from_secs(30);
const EXPORT_FILES: [&str; 5] = [
    "participants.csv",
    "measurements.csv",
    "adverse_events.csv",
    "screening.csv",
    "plan.toml",
];

/// The page driver: navigation relative to the server, screenshots numbered in order, checks of the page messages.
struct Flow<'a> {
    s: &'a Session,
    base: String,
    shots: Option<PathBuf>,
    n: usize,
}

impl Flow<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn go(&self, path: &str) {
        self.s
            .goto(&self.url(path))
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        self.no_error();
    }

    /// Saves a screenshot of the current page as `NN-name.png`.
    fn shot(&mut self, name: &str) {
        self.n += 1;
        if let Some(dir) = &self.shots {
            let path = dir.join(format!("{:02}-{name}.png", self.n));
            self.s
                .screenshot(&path)
                .unwrap_or_else(|e| panic!("screenshot {}: {e}", path.display()));
        }
    }

    fn here(&self) -> String {
        self.s.current_url().unwrap_or_default()
    }

    fn h1(&self) -> String {
        self.s.text("h1").unwrap_or_else(|e| {
            let source = self.s.page_source().unwrap_or_default();
            panic!(
                "no <h1> on {}: {e}; the page is:\n{}",
                self.here(),
                &source[..source.len().min(2000)]
            )
        })
    }

    /// Fails with the page's error message when it shows one.
    fn no_error(&self) {
        let errors = self.s.find_all("p.error").unwrap();
        if let Some(e) = errors.first() {
            panic!(
                "{} ({}) shows an error: {}",
                self.here(),
                self.h1(),
                e.text().unwrap_or_default()
            );
        }
    }

    /// The page's success message (fails when there is an error or none).
    fn ok(&self) -> String {
        self.no_error();
        self.s.text("p.ok").unwrap_or_else(|e| {
            panic!(
                "{} ({}) shows no success message: {e}",
                self.here(),
                self.h1()
            )
        })
    }

    /// The page's error message (fails when there is none).
    fn error(&self) -> String {
        self.s.text("p.error").unwrap_or_else(|e| {
            let main = self.s.text("main").unwrap_or_default();
            panic!(
                "{} shows no error message: {e}; the page says:\n{main}",
                self.here()
            )
        })
    }

    fn fill(&self, id: &str, value: &str) {
        self.s
            .fill(&format!("#{id}"), value)
            .unwrap_or_else(|e| panic!("field {id} on {}: {e}", self.here()));
    }

    fn select(&self, id: &str, value: &str) {
        self.s
            .select(&format!("#{id}"), value)
            .unwrap_or_else(|e| panic!("select {id} on {}: {e}", self.here()));
    }

    fn tick(&self, id: &str) {
        let e = self
            .s
            .find(&format!("#{id}"))
            .unwrap_or_else(|e| panic!("checkbox {id} on {}: {e}", self.here()));
        if !e.is_selected().unwrap() {
            e.click().unwrap();
        }
    }

    /// Sets an input's value directly (date inputs take typed text in the browser's locale format).
    fn set(&self, id: &str, value: &str) {
        let e = self
            .s
            .find(&format!("#{id}"))
            .unwrap_or_else(|e| panic!("field {id} on {}: {e}", self.here()));
        self.s
            .execute(
                "arguments[0].value = arguments[1];",
                vec![e.to_json(), json!(value)],
            )
            .unwrap_or_else(|e| panic!("setting {id} on {}: {e}", self.here()));
    }

    /// Clicks the submit button of the form whose id is `form` (the button's id is `{form}-submit`).
    fn submit(&self, form: &str) {
        self.s
            .click_and_wait(&format!("#{form}-submit"), WAIT)
            .unwrap_or_else(|e| panic!("submitting {form} on {}: {e}", self.here()));
    }

    fn login(&self, user: &str, password: &str) {
        self.go("/login");
        self.fill("username", user);
        self.fill("password", password);
        self.submit("login");
        self.no_error();
        assert_eq!(
            self.here(),
            self.url("/"),
            "login as {user} did not land on the dashboard ({})",
            self.h1()
        );
    }

    fn logout(&self) {
        self.s
            .click_and_wait("#logout", WAIT)
            .expect("sign-out button");
        self.no_error();
    }

    /// Fails when the current page names an arm (for the pages of blinded roles).
    fn blind(&self, whose: &str) {
        let source = self.s.page_source().unwrap();
        for arm in ARMS {
            assert!(
                !source.contains(arm),
                "{whose} sees the arm name {arm:?} on {} ({})",
                self.here(),
                self.h1()
            );
        }
    }

    /// Downloads `/export/{kind}/{file}` with the browser's session cookie.
    fn download(&self, kind: &str, file: &str) -> String {
        let token = self
            .s
            .cookie("evidentia_session")
            .unwrap()
            .expect("the browser holds a session cookie");
        let url = self.url(&format!("/export/{kind}/{file}"));
        let (status, body) = http_get(&url, Some(&format!("evidentia_session={token}")))
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let text = String::from_utf8(body).expect("export is UTF-8");
        assert_eq!(status, 200, "{url}: {text}");
        text
    }
}

fn screenshot_dir() -> PathBuf {
    match std::env::var_os("EVIDENTIA_SCREENSHOTS") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        // Not the committed docs/screenshots by default: a test run must not edit the tree.
        // Refresh them with EVIDENTIA_SCREENSHOTS=docs/screenshots.
        _ => Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"),
    }
}

/// Column `name` of a CSV text, one entry per data row.
fn column(csv_text: &str, name: &str) -> Vec<String> {
    let mut r = csv::Reader::from_reader(csv_text.as_bytes());
    let header = r.headers().unwrap().clone();
    let i = header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"));
    r.records()
        .map(|rec| rec.unwrap().get(i).unwrap_or("").to_string())
        .collect()
}

struct Participant<'a> {
    id: &'a str,
    screening: &'a str,
    gmfcs_band: &'a str,
    covariates: [(&'a str, &'a str); 5],
}

/// Screens, enrols and randomizes one participant as the signed-in investigator; returns the randomization number.
fn enrol_and_randomize(f: &mut Flow, p: &Participant, shots: bool) -> u32 {
    f.go("/screening");
    f.fill("screening_id", p.screening);
    f.select("eligible", "yes");
    f.submit("screen");
    assert!(f.ok().contains(p.screening));
    if shots {
        f.shot("screening-log");
    }

    f.go("/participants/new");
    f.fill("participant_id", p.id);
    f.fill("screening_id", p.screening);
    f.select("factor_gmfcs", p.gmfcs_band);
    for (name, value) in p.covariates {
        let id = format!("cov_{name}");
        let tag =
            f.s.find(&format!("#{id}"))
                .unwrap()
                .attribute("type")
                .unwrap();
        match tag.as_deref() {
            Some("text") | Some("number") => f.fill(&id, value),
            _ => f.select(&id, value),
        }
    }
    if shots {
        f.shot("enrol");
    }
    f.submit("enrol");
    assert!(f.ok().contains(p.id));
    assert_eq!(f.s.text("#randomization-number").unwrap(), "not randomized");
    if shots {
        f.shot("participant-enrolled");
    }

    f.s.click_and_wait("#randomize-link", WAIT).unwrap();
    f.no_error();
    // Without the confirmation tick the server refuses.
    f.submit("randomize");
    assert!(f.error().contains("confirm"), "{}", f.error());
    f.tick("confirm");
    if shots {
        f.shot("randomize-review");
    }
    f.submit("randomize");
    f.ok();
    assert_eq!(f.h1(), "Randomization receipt");
    let number: u32 =
        f.s.text("#randomization-number")
            .unwrap()
            .parse()
            .expect("the receipt shows a whole randomization number");
    let at = f.s.text("#randomized-at").unwrap();
    assert!(
        at.len() >= 16 && at.as_bytes()[4] == b'-' && (at.ends_with('Z') || at.contains("UTC")),
        "randomized-at {at:?} is not a UTC time"
    );
    f.blind("the investigator");
    if shots {
        f.shot("randomization-receipt");
    }
    number
}

/// The target date of `visit` in the visit-window table of the participant page shown.
fn target_date(f: &Flow, visit: &str) -> String {
    for row in f.s.find_all("#windows tbody tr").unwrap() {
        let cells: Vec<String> =
            f.s.execute(
                "return Array.from(arguments[0].cells).map(c => c.textContent.trim());",
                vec![row.to_json()],
            )
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap_or("").to_string())
            .collect();
        if cells.first().map(String::as_str) == Some(visit) {
            let date = cells.get(4).cloned().unwrap_or_default();
            assert_eq!(date.len(), 10, "target date of {visit}: {cells:?}");
            return date;
        }
    }
    panic!("no visit window {visit} on {}", f.here());
}

/// Enters one visit (GMFM-66 and MAS) of participant `id` on its target date.
fn enter_visit(f: &Flow, id: &str, visit: &str, gmfm: &str, mas: &str) {
    f.go(&format!("/participants/{id}"));
    let date = target_date(f, visit);
    f.select("visit", visit);
    f.set("visit_date", &date);
    f.fill("out_gmfm66", gmfm);
    f.fill("out_mas", mas);
    f.submit("visit-form");
    assert!(f.ok().contains("saved"), "{}", f.ok());
}

/// The whole flow against a server on `db`; screenshots into `shots` when given.
fn run_flow(chromedriver: &Path, db: String, shots: Option<PathBuf>) {
    let mut cfg = ServeConfig::new(db, "127.0.0.1:0".parse().unwrap());
    // The flow signs in a dozen times from one address within a minute.
    cfg.security = common::loose();
    // Visits are dated at their target days after today's randomization: accepted with a warning.
    cfg.training = true;
    let server = TestServer::spawn(cfg).expect("server starts");
    let base = format!("http://{}", server.addr);
    let setup_link = server
        .setup_link
        .clone()
        .expect("a fresh database prints a set-up link");

    let driver = ChromeDriver::start(chromedriver).unwrap_or_else(|e| {
        panic!(
            "EVIDENTIA_CHROMEDRIVER={} is set but unusable: {e}",
            chromedriver.display()
        )
    });
    let s = driver
        .new_session()
        .unwrap_or_else(|e| panic!("headless Chromium did not start: {e}"));
    let mut f = Flow {
        s: &s,
        base: base.clone(),
        shots,
        n: 0,
    };

    // ---- trial manager: first account, sites, users, plan, list
    s.goto(&setup_link).unwrap();
    f.fill("username", "manager");
    f.fill("password", PASSWORD);
    f.fill("password2", PASSWORD);
    f.shot("setup");
    f.submit("setup");
    assert!(f.ok().contains("sign in"), "{}", f.ok());
    // The set-up link works once.
    s.goto(&setup_link).unwrap();
    f.fill("username", "intruder");
    f.fill("password", PASSWORD);
    f.fill("password2", PASSWORD);
    f.submit("setup");
    f.error();

    f.go("/login");
    f.fill("username", "manager");
    f.fill("password", PASSWORD);
    f.shot("login");
    f.login("manager", PASSWORD);
    f.shot("manager-dashboard");

    f.go("/admin/sites");
    for (code, name) in [("A", "Children's Medical Center"), ("B", "Royan Institute")] {
        f.fill("code", code);
        f.fill("name", name);
        f.submit("add-site");
        assert!(f.ok().contains(code));
    }
    f.shot("sites");

    f.go("/admin/users");
    for (user, role, site, unblind) in [
        ("inv_a", "investigator", "A", true),
        ("inv_b", "investigator", "B", false),
        ("pharm_a", "pharmacist", "A", false),
        ("stat", "statistician", "", false),
    ] {
        f.fill("username", user);
        f.fill("password", PASSWORD);
        f.select("role", role);
        f.select("site", site);
        if unblind {
            f.tick("can_unblind");
        }
        f.submit("add-user");
        assert!(f.ok().contains(user), "{}", f.ok());
    }
    f.shot("users");

    f.go("/admin/plan");
    f.fill("plan", &common::plan());
    f.submit("import-plan");
    f.ok();
    f.shot("plan");

    let list = common::list(30);
    f.go("/admin/list");
    f.fill("list", &list);
    f.tick("production");
    f.submit("import-list");
    f.ok();
    assert_eq!(s.text("#list-status").unwrap(), "production");
    assert_eq!(s.text("#list-sha256").unwrap().len(), 64);
    f.shot("randomization-list");

    f.go("/admin/strata");
    assert_eq!(s.find_all("#strata tbody tr").unwrap().len(), 4);
    f.shot("strata");
    f.logout();

    // ---- site A investigator (delegated for emergency unblinding)
    f.login("inv_a", PASSWORD);
    f.shot("investigator-dashboard");
    let a1 = Participant {
        id: "A-001",
        screening: "SA-001",
        gmfcs_band: "II-III",
        covariates: [
            ("cp_type", "spastic_diplegia"),
            ("gmfcs", "III"),
            ("sex", "F"),
            ("age_months", "96"),
            ("weight_kg", "18.5"),
        ],
    };
    let a2 = Participant {
        id: "A-002",
        screening: "SA-002",
        gmfcs_band: "IV-V",
        covariates: [
            ("cp_type", "spastic_quadriplegia"),
            ("gmfcs", "IV"),
            ("sex", "M"),
            ("age_months", "120"),
            ("weight_kg", "21"),
        ],
    };
    let n1 = enrol_and_randomize(&mut f, &a1, true);
    // A double submit of the randomization returns the original receipt.
    f.go(&format!("/participants/{}/randomize", a1.id));
    assert!(f.ok().contains("Already randomized"), "{}", f.ok());
    assert_eq!(s.text("#randomization-number").unwrap(), n1.to_string());

    enter_visit(&f, a1.id, "baseline", "42.5", "2");
    enter_visit(&f, a1.id, "T1", "47", "1.5");
    f.blind("the investigator");
    f.shot("visits-entered");
    // Out-of-range values are refused.
    f.go(&format!("/participants/{}", a1.id));
    let t2 = target_date(&f, "T2");
    f.select("visit", "T2");
    f.set("visit_date", &t2);
    f.fill("out_gmfm66", "140");
    f.submit("visit-form");
    f.error();
    // A correction needs a reason and is kept.
    f.go(&format!("/participants/{}", a1.id));
    f.s.select("#correct-form [name=visit]", "T1").unwrap();
    f.s.select("#correct-form [name=outcome]", "gmfm66")
        .unwrap();
    f.s.fill("#correct-form [name=value]", "47.5").unwrap();
    f.s.fill(
        "#correct-form [name=reason]",
        "transcription error, checked against the CRF",
    )
    .unwrap();
    f.submit("correct-form");
    f.ok();
    f.s.fill("#ae-form [name=term]", "headache").unwrap();
    let day0 = s.text("#day0").unwrap();
    f.set("onset_date", &day0);
    f.s.select("#ae-form [name=severity]", "mild").unwrap();
    f.s.select("#ae-form [name=serious]", "no").unwrap();
    f.s.select("#ae-form [name=related]", "unknown").unwrap();
    f.submit("ae-form");
    f.ok();
    f.shot("correction-and-adverse-event");

    let n2 = enrol_and_randomize(&mut f, &a2, false);
    assert_ne!(n1, n2);
    enter_visit(&f, a2.id, "baseline", "30", "3");
    f.go(&format!("/participants/{}", a2.id));
    f.s.select("#status-form [name=kind]", "lost_to_follow_up")
        .unwrap();
    f.s.select("#status-form [name=reason_code]", "lost_to_follow_up")
        .unwrap();
    f.s.fill("#status-form [name=reason]", "family moved, no contact")
        .unwrap();
    let t2 = target_date(&f, "T2");
    f.set("date", &t2);
    f.submit("status-form");
    f.ok();
    f.shot("lost-to-follow-up");

    f.go("/participants");
    assert_eq!(s.find_all("#participants tbody tr").unwrap().len(), 2);
    f.blind("the investigator");
    f.shot("participants");

    // Emergency unblinding of A-001: wrong password refused, then the arm.
    f.go(&format!("/participants/{}", a1.id));
    s.click_and_wait("#unblind-link", WAIT).unwrap();
    f.no_error();
    f.fill("password", "not my password at all");
    f.fill(
        "reason",
        "anaphylaxis, treating physician needs the allocation",
    );
    f.submit("unblind");
    f.error();
    f.blind("an investigator who gave a wrong password");
    f.fill("password", PASSWORD);
    f.fill(
        "reason",
        "anaphylaxis, treating physician needs the allocation",
    );
    f.shot("emergency-unblinding");
    f.submit("unblind");
    f.ok();
    let arm_a1 = s.text("#arm").unwrap();
    assert!(ARMS.contains(&arm_a1.as_str()), "arm {arm_a1:?}");
    f.shot("emergency-unblinding-arm");
    f.logout();

    // ---- site B investigator: no delegation, sees only site B
    f.login("inv_b", PASSWORD);
    let b1 = Participant {
        id: "B-001",
        screening: "SB-001",
        gmfcs_band: "II-III",
        covariates: [
            ("cp_type", "spastic_diplegia"),
            ("gmfcs", "II"),
            ("sex", "M"),
            ("age_months", "84"),
            ("weight_kg", "16"),
        ],
    };
    let nb = enrol_and_randomize(&mut f, &b1, false);
    enter_visit(&f, b1.id, "baseline", "55", "1");
    f.go("/participants");
    assert_eq!(s.find_all("#participants tbody tr").unwrap().len(), 1);
    assert!(!s.page_source().unwrap().contains("A-001"));
    f.s.goto(&f.url(&format!("/participants/{}/unblind", b1.id)))
        .unwrap();
    f.error();
    f.blind("an investigator without delegation");
    f.logout();

    // ---- pharmacist of site A: arms of site A only
    f.login("pharm_a", PASSWORD);
    f.go("/pharmacy");
    let rows = s.find_all("#allocations tbody tr").unwrap();
    assert_eq!(rows.len(), 2);
    let page = s.page_source().unwrap();
    assert!(page.contains("A-001") && page.contains("A-002") && !page.contains("B-001"));
    assert!(page.contains(&arm_a1));
    f.shot("pharmacy");
    f.logout();

    // ---- manager: notification without the arm, audit trail, strata
    f.login("manager", PASSWORD);
    f.go("/notifications");
    assert!(s.page_source().unwrap().contains("A-001"));
    f.blind("the manager");
    f.shot("notifications");
    f.go("/audit");
    f.blind("the manager");
    f.shot("audit-trail");
    f.go("/audit/verify");
    assert_eq!(s.text("#audit-ok").unwrap(), "intact");
    f.shot("audit-verify");
    f.go("/admin/strata");
    f.blind("the manager");
    f.logout();

    // ---- statistician before lock: blinded export only
    f.login("stat", PASSWORD);
    f.go("/export");
    assert!(
        s.find_all("#unblinded-participants-csv")
            .unwrap()
            .is_empty()
    );
    f.shot("export-blinded");
    let blinded = f.download("blinded", "participants.csv");
    for arm in ARMS {
        assert!(
            !blinded.contains(arm),
            "the blinded export names {arm}:\n{blinded}"
        );
    }
    assert_eq!(column(&blinded, "participant_id").len(), 3);
    let url = f.url("/export/unblinded/participants.csv");
    let token = s.cookie("evidentia_session").unwrap().unwrap();
    let (status, body) = http_get(&url, Some(&format!("evidentia_session={token}"))).unwrap();
    let body = String::from_utf8_lossy(&body);
    assert_ne!(status, 200, "the unblinded export is served before lock");
    for arm in ARMS {
        assert!(!body.contains(arm));
    }
    f.logout();

    // ---- the rest of the cohort: 72 simulated participants entered through the JSON API by
    // the two sites' investigators (as a site integration would), so that the export can
    // be analysed like the trial's
    let sim = evidentia_trial::simulate::simulate(evidentia_trial::simulate::Design::CpRct, 3)
        .expect("simulated cohort");
    let mut api = [Client::new(server.addr), Client::new(server.addr)];
    assert_eq!(api[0].login("inv_a", PASSWORD).unwrap().status, 200);
    assert_eq!(api[1].login("inv_b", PASSWORD).unwrap().status, 200);
    testkit::enter_simulated(&mut api, &sim, 30.4375).expect("cohort entered through the API");

    // ---- manager: lock, unblind
    f.login("manager", PASSWORD);
    f.go("/admin/trial");
    assert_eq!(s.text("#db-state").unwrap(), "open");
    f.fill("reason", "last participant's last visit done; data cleaned");
    f.shot("database-lock");
    f.submit("lock-db");
    f.ok();
    assert_eq!(s.text("#db-state").unwrap(), "locked");
    f.fill(
        "reason",
        "database locked; statistical analysis plan signed",
    );
    f.submit("unblind-trial");
    f.ok();
    assert_eq!(s.text("#blind-state").unwrap(), "unblinded");
    f.shot("unblinded");
    f.logout();

    // ---- statistician: unblinded export
    f.login("stat", PASSWORD);
    f.go("/export");
    f.shot("export-unblinded");
    let out = TempDir::new("evidentia-e2e-export").unwrap();
    for file in EXPORT_FILES {
        let text = f.download("unblinded", file);
        fs::write(out.path().join(file), text).unwrap();
    }
    let participants = fs::read_to_string(out.path().join("participants.csv")).unwrap();
    let ids = column(&participants, "participant_id");
    let arms = column(&participants, "arm");
    assert_eq!(ids.len(), 3 + 72);
    let a1_row = ids
        .iter()
        .position(|i| i == "A-001")
        .expect("A-001 exported");
    assert_eq!(
        arms[a1_row], arm_a1,
        "the export's arm of A-001 differs from the emergency unblinding"
    );
    assert!(arms.iter().all(|a| ARMS.contains(&a.as_str())), "{arms:?}");
    let numbers = column(&participants, "randomization_number");
    for n in [n1, n2, nb] {
        assert!(numbers.contains(&n.to_string()), "{n} not in {numbers:?}");
    }
    // The export is a dataset that crate `trial` reads with its plan.
    let plan = evidentia_trial::AnalysisPlan::load(&out.path().join("plan.toml")).unwrap();
    let dataset = evidentia_trial::TrialDataset::load(out.path(), &plan)
        .unwrap_or_else(|e| panic!("the unblinded export does not load: {e}"));
    drop(dataset);
    // ... and `evidentia trial analyze` (its library entry point) analyses it by the plan.
    let results =
        evidentia_trial::analysis::analyze_files(out.path(), &out.path().join("plan.toml"))
            .unwrap_or_else(|e| panic!("trial analyze on the export: {e}"));
    assert_eq!(results.consort.randomized, 75);
    assert_eq!(results.primary_lines().len(), 4, "GMFM-66 at T1..T4");
    f.logout();

    drop(s);
    drop(driver);
    drop(server);
}

#[test]
fn trial_conduct_in_headless_chromium() {
    let Some(chromedriver) = chromedriver_from_env() else {
        eprintln!(
            "SKIPPED trial_conduct_in_headless_chromium: EVIDENTIA_CHROMEDRIVER is not set \
             (install chromium and chromium-driver, or run `eval \"$(.ci/services)\"`)"
        );
        return;
    };
    let dir = tempfile::TempDir::new().unwrap();
    let dbs = test_databases(dir.path()).unwrap();
    if dbs.len() == 1 {
        eprintln!("note: EVIDENTIA_TEST_PG_URL not set: PostgreSQL run skipped");
    }
    for (i, db) in dbs.into_iter().enumerate() {
        // Screenshots from the first (SQLite) run only.
        run_flow(&chromedriver, db, (i == 0).then(screenshot_dir));
    }
}
