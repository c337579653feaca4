//! Server-rendered browser pages (no JavaScript). Every page is one `Page` rendered by
//! `templates/page.html`; every state change is a POST carrying the session's CSRF token.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Serialize;

use crate::app::{self, AppState};
use crate::auth::{self, Role, Session};
use crate::error::{ServerError, ServerResult};
use crate::{audit, export, service};

type Fields = Vec<(String, String)>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard))
        .route("/static/style.css", get(stylesheet))
        .route("/setup", get(setup_page).post(setup_post))
        .route("/login", get(login_page).post(login_post))
        .route("/logout", post(logout_post))
        .route("/admin/sites", get(sites_page).post(sites_post))
        .route("/admin/users", get(users_page).post(users_post))
        .route("/admin/users/deactivate", post(deactivate_post))
        .route("/account", get(account_page).post(account_post))
        .route("/admin/plan", get(plan_page).post(plan_post))
        .route("/admin/list", get(list_page).post(list_post))
        .route("/admin/list/lock", post(list_lock_post))
        .route("/admin/list/append", post(list_append_post))
        .route("/admin/strata", get(strata_page))
        .route("/admin/trial", get(trial_page))
        .route("/admin/lock", post(lock_post))
        .route("/admin/unblind", post(unblind_post))
        .route("/notifications", get(notifications_page))
        .route("/audit", get(audit_page))
        .route("/audit/verify", get(audit_verify_page))
        .route("/screening", get(screening_page).post(screening_post))
        .route("/participants", get(participants_page))
        .route("/participants/new", get(enrol_page).post(enrol_post))
        .route("/participants/{id}", get(participant_page))
        .route(
            "/participants/{id}/randomize",
            get(randomize_page).post(randomize_post),
        )
        .route("/participants/{id}/visit", post(visit_post))
        .route("/participants/{id}/correct", post(correct_post))
        .route("/participants/{id}/ae", post(ae_post))
        .route("/participants/{id}/status", post(status_post))
        .route(
            "/participants/{id}/unblind",
            get(unblind_page).post(unblind_participant_post),
        )
        .route("/pharmacy", get(pharmacy_page))
        .route("/export", get(export_page))
        .route("/export/{kind}/{file}", get(export_file))
        .fallback(not_found)
}

// ---------------------------------------------------------------- page model

#[derive(Debug, Clone, Serialize)]
struct Link {
    href: String,
    label: String,
    id: Option<String>,
}

fn link(href: impl Into<String>, label: impl Into<String>) -> Link {
    Link {
        href: href.into(),
        label: label.into(),
        id: None,
    }
}

#[derive(Debug, Clone, Serialize)]
struct Cell {
    text: String,
    href: Option<String>,
}

fn cell(t: impl ToString) -> Cell {
    Cell {
        text: t.to_string(),
        href: None,
    }
}

#[derive(Debug, Clone, Serialize)]
struct Row {
    cells: Vec<Cell>,
    class: Option<String>,
}

fn row(cells: Vec<Cell>) -> Row {
    Row { cells, class: None }
}

#[derive(Debug, Clone, Serialize)]
struct Opt {
    value: String,
    label: String,
}

#[derive(Debug, Clone, Serialize)]
struct Field {
    name: String,
    label: String,
    kind: &'static str,
    value: String,
    options: Vec<Opt>,
    required: bool,
    help: Option<String>,
}

fn field(name: &str, label: &str, kind: &'static str) -> Field {
    Field {
        name: name.into(),
        label: label.into(),
        kind,
        value: String::new(),
        options: Vec::new(),
        required: !matches!(kind, "checkbox" | "hidden"),
        help: None,
    }
}

impl Field {
    fn optional(mut self) -> Self {
        self.required = false;
        self
    }
    fn value(mut self, v: impl Into<String>) -> Self {
        self.value = v.into();
        self
    }
    fn help(mut self, h: impl Into<String>) -> Self {
        self.help = Some(h.into());
        self
    }
    fn options<I: IntoIterator<Item = (String, String)>>(mut self, o: I) -> Self {
        self.options = o
            .into_iter()
            .map(|(value, label)| Opt { value, label })
            .collect();
        self
    }
}

fn opts(values: &[&str]) -> Vec<(String, String)> {
    values
        .iter()
        .map(|v| (v.to_string(), v.replace('_', " ")))
        .collect()
}

#[derive(Debug, Clone, Serialize)]
struct Fact {
    label: String,
    id: Option<String>,
    value: String,
}

fn fact(label: &str, id: Option<&str>, value: impl ToString) -> Fact {
    Fact {
        label: label.into(),
        id: id.map(str::to_string),
        value: value.to_string(),
    }
}

#[derive(Debug, Clone, Serialize, Default)]
struct Section {
    kind: &'static str,
    id: Option<String>,
    heading: Option<String>,
    text: String,
    items: Vec<Fact>,
    links: Vec<Link>,
    headers: Vec<String>,
    rows: Vec<Row>,
    empty: String,
    action: String,
    form_id: Option<String>,
    fields: Vec<Field>,
    submit: String,
    submit_id: Option<String>,
}

fn text(t: impl Into<String>) -> Section {
    Section {
        kind: "text",
        text: t.into(),
        ..Default::default()
    }
}

fn facts(heading: &str, items: Vec<Fact>) -> Section {
    Section {
        kind: "facts",
        heading: Some(heading.into()),
        items,
        ..Default::default()
    }
}

fn links(heading: &str, links: Vec<Link>) -> Section {
    Section {
        kind: "links",
        heading: Some(heading.into()),
        links,
        ..Default::default()
    }
}

fn table(heading: &str, id: &str, headers: &[&str], rows: Vec<Row>, empty: &str) -> Section {
    Section {
        kind: "table",
        id: Some(id.into()),
        heading: Some(heading.into()),
        headers: headers.iter().map(|s| s.to_string()).collect(),
        rows,
        empty: empty.into(),
        ..Default::default()
    }
}

fn form(heading: &str, action: &str, id: &str, fields: Vec<Field>, submit: &str) -> Section {
    Section {
        kind: "form",
        heading: Some(heading.into()),
        action: action.into(),
        form_id: Some(id.into()),
        submit_id: Some(format!("{id}-submit")),
        fields,
        submit: submit.into(),
        ..Default::default()
    }
}

#[derive(Debug, Clone, Serialize, Default)]
struct Page {
    title: String,
    user: Option<auth::User>,
    csrf: String,
    nav: Vec<Link>,
    ok: Option<String>,
    warnings: Vec<String>,
    error: Option<String>,
    sections: Vec<Section>,
    training: bool,
}

fn nav_for(role: Role) -> Vec<Link> {
    let mut v = vec![link("/", "Home"), link("/account", "Account")];
    match role {
        Role::Manager => v.extend([
            link("/admin/sites", "Sites"),
            link("/admin/users", "Users"),
            link("/admin/plan", "Plan"),
            link("/admin/list", "Randomization list"),
            link("/admin/strata", "Slots"),
            link("/admin/trial", "Lock & unblinding"),
            link("/notifications", "Notifications"),
            link("/audit", "Audit trail"),
            link("/export", "Export"),
        ]),
        Role::Investigator => v.extend([
            link("/screening", "Screening"),
            link("/participants", "Participants"),
            link("/participants/new", "Enrol"),
        ]),
        Role::Pharmacist => v.push(link("/pharmacy", "Allocations")),
        Role::Statistician => v.push(link("/export", "Export")),
    }
    v
}

impl Page {
    fn new(title: &str, s: Option<&Session>) -> Page {
        Page {
            title: title.into(),
            user: s.map(|s| s.user.clone()),
            csrf: s.map(|s| s.csrf.clone()).unwrap_or_default(),
            nav: s.map(|s| nav_for(s.user.role)).unwrap_or_default(),
            ..Default::default()
        }
    }

    fn training(mut self, on: bool) -> Page {
        self.training = on;
        self
    }

    fn with(mut self, sec: Section) -> Page {
        self.sections.push(sec);
        self
    }

    fn outcome(mut self, msg: &Msg) -> Page {
        match msg {
            Msg::None => {}
            Msg::Ok(m) => self.ok = Some(m.clone()),
            Msg::Warn(m, w) => {
                self.ok = Some(m.clone());
                self.warnings = w.clone();
            }
            Msg::Err(e) => self.error = Some(e.public_message()),
        }
        self
    }
}

/// The result of the action a page is shown after.
enum Msg {
    None,
    Ok(String),
    Warn(String, Vec<String>),
    Err(ServerError),
}

impl Msg {
    fn from<T>(r: ServerResult<T>, ok: impl FnOnce(T) -> String) -> Msg {
        match r {
            Ok(v) => Msg::Ok(ok(v)),
            Err(e) => Msg::Err(e),
        }
    }
    fn status(&self) -> StatusCode {
        match self {
            Msg::Err(e) => e.status(),
            _ => StatusCode::OK,
        }
    }
}

fn render(st: &AppState, page: &Page, status: StatusCode) -> Response {
    let page = &page.clone().training(st.db.training);
    let html = st
        .templates
        .get_template("page.html")
        .and_then(|t| t.render(page));
    match html {
        Ok(h) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            h,
        )
            .into_response(),
        Err(e) => {
            eprintln!("evidentia serve: template: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

fn show(st: &AppState, page: Page, msg: &Msg) -> Response {
    let status = msg.status();
    render(st, &page.outcome(msg), status)
}

fn error_page(st: &AppState, s: Option<&Session>, e: ServerError) -> Response {
    if matches!(
        e,
        ServerError::Database(_) | ServerError::Io(_) | ServerError::Config(_)
    ) {
        eprintln!("evidentia serve: {e}");
    }
    let status = e.status();
    let title = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        _ => "Error",
    };
    let page = Page::new(title, s).outcome(&Msg::Err(e));
    render(st, &page, status)
}

async fn not_found(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let s = app::current_session(&st, &headers).await.ok().flatten();
    error_page(
        &st,
        s.as_ref(),
        ServerError::NotFound("no such page".into()),
    )
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../templates/style.css"),
    )
        .into_response()
}

/// The session, or a redirect to the login page.
async fn session(st: &AppState, headers: &HeaderMap) -> Result<Session, Response> {
    match app::current_session(st, headers).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(Redirect::to("/login").into_response()),
        Err(e) => Err(error_page(st, None, e)),
    }
}

/// The session of a form submission whose CSRF token matches, and its fields.
async fn posted(
    st: &AppState,
    headers: &HeaderMap,
    f: Fields,
) -> Result<(Session, BTreeMap<String, String>), Response> {
    let s = session(st, headers).await?;
    let map: BTreeMap<String, String> = f.into_iter().collect();
    if let Err(e) = app::check_csrf(&s, map.get("csrf").map(String::as_str)) {
        return Err(error_page(st, Some(&s), e));
    }
    Ok((s, map))
}

fn val<'a>(f: &'a BTreeMap<String, String>, k: &str) -> &'a str {
    f.get(k).map(String::as_str).unwrap_or("")
}

fn checked(f: &BTreeMap<String, String>, k: &str) -> bool {
    matches!(val(f, k), "yes" | "on" | "true")
}

macro_rules! try_page {
    ($st:expr, $s:expr, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return error_page($st, Some($s), e),
        }
    };
}

macro_rules! guard {
    ($x:expr) => {
        match $x {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

// ---------------------------------------------------------------- set-up, login

#[derive(serde::Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

async fn setup_page(State(st): State<AppState>, Query(q): Query<TokenQuery>) -> Response {
    setup_view(&st, &q.token, &Msg::None)
}

fn setup_view(st: &AppState, token: &str, msg: &Msg) -> Response {
    let page = Page::new("Set up the first administrator", None)
        .with(text(
            "This one-time page creates the trial manager's account. The link stops working once used.",
        ))
        .with(form(
            "Trial manager account",
            "/setup",
            "setup",
            vec![
                field("token", "", "hidden").value(token),
                field("username", "User name", "text"),
                field("password", "Password", "password").help("At least 12 characters."),
                field("password2", "Password again", "password"),
            ],
            "Create account",
        ));
    show(st, page, msg)
}

async fn setup_post(State(st): State<AppState>, Form(f): Form<Fields>) -> Response {
    let f: BTreeMap<String, String> = f.into_iter().collect();
    let token = val(&f, "token").to_string();
    let r = async {
        if val(&f, "password") != val(&f, "password2") {
            return Err(ServerError::BadRequest("the two passwords differ".into()));
        }
        service::setup_first_manager(&st.db, &token, val(&f, "username"), val(&f, "password")).await
    }
    .await;
    match r {
        Ok(()) => login_view(&st, &Msg::Ok("Account created: sign in.".into())),
        Err(e) => setup_view(&st, &token, &Msg::Err(e)),
    }
}

async fn login_page(State(st): State<AppState>) -> Response {
    login_view(&st, &Msg::None)
}

fn login_view(st: &AppState, msg: &Msg) -> Response {
    let page = Page::new("Sign in", None).with(form(
        "Account",
        "/login",
        "login",
        vec![
            field("username", "User name", "text"),
            field("password", "Password", "password"),
        ],
        "Sign in",
    ));
    show(st, page, msg)
}

async fn login_post(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let f: BTreeMap<String, String> = f.into_iter().collect();
    let r = async {
        st.limit_login(val(&f, "username"), &peer.ip().to_string())?;
        let previous = app::cookie_token(&headers);
        auth::login(
            &st.db,
            val(&f, "username"),
            val(&f, "password"),
            previous.as_deref(),
        )
        .await
    }
    .await;
    match r {
        Ok((token, _)) => {
            let mut res = Redirect::to("/").into_response();
            if let Ok(v) = HeaderValue::from_str(&app::session_cookie(&st, &token)) {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        Err(e) => login_view(&st, &Msg::Err(e)),
    }
}

async fn logout_post(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let (_, _) = guard!(posted(&st, &headers, f).await);
    if let Some(t) = app::cookie_token(&headers) {
        let _ = auth::end_session(&st.db, &t).await;
    }
    let mut res = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&app::clear_cookie(&st)) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

async fn dashboard(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let s = guard!(session(&st, &headers).await);
    let state = try_page!(&st, &s, service::state(&st.db).await);
    let plan = try_page!(&st, &s, service::plan_summary(&st.db).await);
    let mut page = Page::new("Home", Some(&s)).with(facts(
        "Trial",
        vec![
            fact(
                "Trial",
                Some("trial-name"),
                plan.map(|p| p.name)
                    .unwrap_or_else(|| "no plan imported yet".into()),
            ),
            fact(
                "Randomization list",
                None,
                state
                    .list_status
                    .clone()
                    .unwrap_or_else(|| "not imported".into()),
            ),
            fact(
                "Database",
                Some("db-state"),
                if state.database_locked {
                    "locked"
                } else {
                    "open"
                },
            ),
            fact(
                "Blinding",
                None,
                if state.unblinded {
                    "unblinded"
                } else {
                    "blinded"
                },
            ),
        ],
    ));
    let nav = nav_for(s.user.role);
    page = page.with(links("What you can do", nav.into_iter().skip(1).collect()));
    show(&st, page, &Msg::None)
}

// ---------------------------------------------------------------- manager

async fn sites_page(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let s = guard!(session(&st, &headers).await);
    sites_view(&st, &s, Msg::None).await
}

async fn sites_view(st: &AppState, s: &Session, msg: Msg) -> Response {
    try_page!(st, s, s.user.require(&[Role::Manager]));
    let sites = try_page!(st, s, service::sites(&st.db).await);
    let page = Page::new("Sites", Some(s))
        .with(table(
            "Sites",
            "sites",
            &["Code", "Name"],
            sites
                .iter()
                .map(|x| row(vec![cell(&x.code), cell(&x.name)]))
                .collect(),
            "No site yet.",
        ))
        .with(form(
            "Add a site",
            "/admin/sites",
            "add-site",
            vec![
                field("code", "Code", "text").help("Short code, e.g. TEH"),
                field("name", "Name", "text"),
            ],
            "Add site",
        ));
    show(st, page, &msg)
}

async fn sites_post(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let (s, f) = guard!(posted(&st, &headers, f).await);
    let r = service::create_site(&st.db, &s.user, val(&f, "code"), val(&f, "name")).await;
    sites_view(&st, &s, Msg::from(r, |x| format!("Site {} added.", x.code))).await
}

async fn users_page(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let s = guard!(session(&st, &headers).await);
    users_view(&st, &s, Msg::None).await
}

async fn users_view(st: &AppState, s: &Session, msg: Msg) -> Response {
    let users = try_page!(st, s, service::users(&st.db, &s.user).await);
    let sites = try_page!(st, s, service::sites(&st.db).await);
    let mut site_opts = vec![(String::new(), "(none: manager or statistician)".to_string())];
    site_opts.extend(
        sites
            .iter()
            .map(|x| (x.code.clone(), format!("{} — {}", x.code, x.name))),
    );
    let page = Page::new("Users", Some(s))
        .with(table(
            "Users",
            "users",
            &["User", "Role", "Site", "Emergency unblinding", "Status"],
            users
                .iter()
                .map(|u| {
                    row(vec![
                        cell(&u.username),
                        cell(&u.role),
                        cell(u.site.clone().unwrap_or_default()),
                        cell(if u.can_unblind { "delegated" } else { "" }),
                        cell(if u.active { "active" } else { "deactivated" }),
                    ])
                })
                .collect(),
            "No user.",
        ))
        .with(form(
            "Add a user",
            "/admin/users",
            "add-user",
            vec![
                field("username", "User name", "text"),
                field("password", "Initial password", "password").help("At least 12 characters."),
                field("role", "Role", "select").options(opts(&[
                    "investigator",
                    "pharmacist",
                    "statistician",
                    "manager",
                ])),
                field("site", "Site", "select")
                    .optional()
                    .options(site_opts),
                field(
                    "can_unblind",
                    "Delegated for emergency unblinding (investigators)",
                    "checkbox",
                ),
            ],
            "Add user",
        ))
        .with(form(
            "Deactivate a user",
            "/admin/users/deactivate",
            "deactivate-user",
            vec![
                field("username", "User name", "select").options(
                    users
                        .iter()
                        .filter(|u| u.active && u.username != s.user.username)
                        .map(|u| (u.username.clone(), u.username.clone())),
                ),
                field("reason", "Reason", "text"),
            ],
            "Deactivate",
        ));
    show(st, page, &msg)
}

async fn deactivate_post(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let (s, f) = guard!(posted(&st, &headers, f).await);
    let r = service::deactivate_user(&st.db, &s.user, val(&f, "username"), val(&f, "reason")).await;
    users_view(
        &st,
        &s,
        Msg::from(r, |_| format!("User {} deactivated.", val(&f, "username"))),
    )
    .await
}

async fn account_page(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let s = guard!(session(&st, &headers).await);
    account_view(&st, &s, Msg::None)
}

fn account_view(st: &AppState, s: &Session, msg: Msg) -> Response {
    let page = Page::new("Your account", Some(s)).with(form(
        "Change your password",
        "/account",
        "change-password",
        vec![
            field("current_password", "Current password", "password"),
            field("new_password", "New password", "password").help("At least 12 characters."),
            field("new_password2", "New password again", "password"),
        ],
        "Change password",
    ));
    show(st, page, &msg)
}

async fn account_post(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let (s, f) = guard!(posted(&st, &headers, f).await);
    let r = async {
        if val(&f, "new_password") != val(&f, "new_password2") {
            return Err(ServerError::BadRequest(
                "the two new passwords differ".into(),
            ));
        }
        st.limit_login(&s.user.username, "password-change")?;
        service::change_password(
            &st.db,
            &s.user,
            val(&f, "current_password"),
            val(&f, "new_password"),
        )
        .await
    }
    .await;
    match r {
        Ok(()) => {
            let mut res = login_view(&st, &Msg::Ok("Password changed: sign in again.".into()));
            if let Ok(v) = HeaderValue::from_str(&app::clear_cookie(&st)) {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        Err(e) => account_view(&st, &s, Msg::Err(e)),
    }
}

async fn users_post(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let (s, f) = guard!(posted(&st, &headers, f).await);
    let r = service::create_user(
        &st.db,
        &s.user,
        service::NewUser {
            username: val(&f, "username"),
            password: val(&f, "password"),
            role: val(&f, "role"),
            site: Some(val(&f, "site")),
            can_unblind: checked(&f, "can_unblind"),
        },
    )
    .await;
    users_view(
        &st,
        &s,
        Msg::from(r, |u| format!("User {} added.", u.username)),
    )
    .await
}

async fn plan_page(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let s = guard!(session(&st, &headers).await);
    plan_view(&st, &s, Msg::None).await
}

async fn plan_view(st: &AppState, s: &Session, msg: Msg) -> Response {
    try_page!(st, s, s.user.require(&[Role::Manager]));
    let plan = try_page!(st, s, service::plan_summary(&st.db).await);
    let mut page = Page::new("Analysis plan", Some(s));
    page = match plan {
        Some(p) => page.with(facts(
            "Imported plan",
            vec![
                fact("Trial", None, &p.name),
                fact("SHA-256", Some("plan-sha256"), &p.sha256),
                fact("Arms", None, p.arms),
                fact("Visits", None, p.visits.join(", ")),
                fact("Outcomes", None, p.outcomes.join(", ")),
                fact("Covariates", None, p.covariates.join(", ")),
            ],
        )),
        None => page.with(text("No plan imported yet.")),
    };
    page = page.with(form(
        "Import plan.toml",
        "/admin/plan",
        "import-plan",
        vec![field(
            "plan",
            "plan.toml (format: docs/trial-dataset.md)",
            "textarea",
        )],
        "Import plan",
    ));
    show(st, page, &msg)
}

async fn plan_post(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let (s, f) = guard!(posted(&st, &headers, f).await);
    let r = service::import_plan(&st.db, &s.user, val(&f, "plan")).await;
    plan_view(
        &st,
        &s,
        Msg::from(r, |p| format!("Plan imported (SHA-256 {}).", p.sha256)),
    )
    .await
}

async fn list_page(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let s = guard!(session(&st, &headers).await);
    list_view(&st, &s, Msg::None).await
}

async fn list_view(st: &AppState, s: &Session, msg: Msg) -> Response {
    try_page!(st, s, s.user.require(&[Role::Manager]));
    let info = try_page!(st, s, service::list_info(&st.db).await);
    let mut page = Page::new("Randomization list", Some(s));
    let production = info.as_ref().is_some_and(|i| i.status == "production");
    match &info {
        Some(i) => {
            page = page.with(facts(
                "Imported list",
                vec![
                    fact(
                        "SHA-256 of the imported file",
                        Some("list-sha256"),
                        &i.sha256,
                    ),
                    fact("Status", Some("list-status"), &i.status),
                    fact("Version", None, i.version),
                    fact("Slots", None, i.rows),
                    fact(
                        "Stratification factors",
                        None,
                        i.factors
                            .iter()
                            .map(|(f, l)| format!("{f} ({})", l.join(", ")))
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                ],
            ));
        }
        None => page = page.with(text("No list imported yet.")),
    }
    if production {
        page = page.with(form(
            "Append to the list (locked in production)",
            "/admin/list/append",
            "append-list",
            vec![
                field(
                    "list",
                    "Rows to append (CSV with the list's header)",
                    "textarea",
                ),
                field("reason", "Reason", "text"),
            ],
            "Append",
        ));
    } else {
        page = page.with(form(
            "Import a list made by evidentia trial randomize",
            "/admin/list",
            "import-list",
            vec![
                field("list", "List CSV", "textarea"),
                field("production", "Lock for production now", "checkbox"),
            ],
            "Import list",
        ));
        if info.is_some() {
            page = page.with(form(
                "Lock for production",
                "/admin/list/lock",
                "lock-list",
                vec![],
                "Lock list",
            ));
        }
    }
    show(st, page, &msg)
}

async fn list_post(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let (s, f) = guard!(posted(&st, &headers, f).await);
    let r = service::import_list(&st.db, &s.user, val(&f, "list"), checked(&f, "production")).await;
    list_view(
        &st,
        &s,
        Msg::from(r, |i| {
            format!("List imported: {} slots, {}.", i.rows, i.status)
        }),
    )
    .await
}

async fn list_lock_post(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let (s, _) = guard!(posted(&st, &headers, f).await);
    let r = service::lock_list(&st.db, &s.user).await;
    list_view(
        &st,
        &s,
        Msg::from(r, |_| "The list is locked for production.".into()),
    )
    .await
}

async fn list_append_post(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let (s, f) = guard!(posted(&st, &headers, f).await);
    let r = service::append_list(&st.db, &s.user, val(&f, "list"), val(&f, "reason")).await;
    list_view(
        &st,
        &s,
        Msg::from(r, |i| {
            format!(
                "Appended: the list has {} slots (version {}).",
                i.rows, i.version
            )
        }),
    )
    .await
}

async fn strata_page(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let s = guard!(session(&st, &headers).await);
    let strata = try_page!(&st, &s, service::strata_status(&st.db, &s.user).await);
    let low: Vec<String> = strata
        .iter()
        .filter(|x| x.warning)
        .map(|x| {
            format!(
                "Stratum {} has {} slot(s) left: append to the list before it runs out.",
                x.stratum, x.remaining
            )
        })
        .collect();
    let mut page = Page::new("Slots per stratum", Some(&s)).with(table(
        "Slots",
        "strata",
        &["Stratum", "Total", "Used", "Remaining"],
        strata
            .iter()
            .map(|x| Row {
                cells: vec![
                    cell(&x.stratum),
                    cell(x.total),
                    cell(x.used),
                    cell(x.remaining),
                ],
                class: x.warning.then(|| "warn".to_string()),
            })
            .collect(),
        "No list imported.",
    ));
    page.warnings = low;
    show(&st, page, &Msg::None)
}

async fn trial_page(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let s = guard!(session(&st, &headers).await);
    trial_view(&st, &s, Msg::None).await
}

async fn trial_view(st: &AppState, s: &Session, msg: Msg) -> Response {
    try_page!(st, s, s.user.require(&[Role::Manager]));
    let state = try_page!(st, s, service::state(&st.db).await);
    let mut page = Page::new("Database lock and unblinding", Some(s)).with(facts(
        "State",
        vec![
            fact(
                "Database",
                Some("db-state"),
                if state.database_locked {
                    "locked"
                } else {
                    "open"
                },
            ),
            fact(
                "Blinding",
                Some("blind-state"),
                if state.unblinded {
                    "unblinded"
                } else {
                    "blinded"
                },
            ),
        ],
    ));
    if !state.database_locked {
        page = page.with(form(
            "Lock the database",
            "/admin/lock",
            "lock-db",
            vec![field("reason", "Reason", "text")],
            "Lock database",
        ));
    } else if !state.unblinded {
        page = page.with(form(
            "Unblind the trial",
            "/admin/unblind",
            "unblind-trial",
            vec![field("reason", "Reason", "text")],
            "Unblind",
        ));
    }
    show(st, page, &msg)
}

async fn lock_post(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let (s, f) = guard!(posted(&st, &headers, f).await);
    let r = service::lock_database(&st.db, &s.user, val(&f, "reason")).await;
    trial_view(&st, &s, Msg::from(r, |_| "The database is locked.".into())).await
}

async fn unblind_post(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let (s, f) = guard!(posted(&st, &headers, f).await);
    let r = service::unblind_trial(&st.db, &s.user, val(&f, "reason")).await;
    trial_view(
        &st,
        &s,
        Msg::from(r, |_| {
            "The trial is unblinded: the unblinded export is available.".into()
        }),
    )
    .await
}

async fn notifications_page(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let s = guard!(session(&st, &headers).await);
    let n = try_page!(&st, &s, service::notifications(&st.db, &s.user).await);
    let page = Page::new("Notifications", Some(&s)).with(table(
        "Notifications",
        "notifications",
        &["When (UTC)", "Message"],
        n.iter()
            .map(|x| row(vec![cell(&x.created_at), cell(&x.message)]))
            .collect(),
        "No notification.",
    ));
    show(&st, page, &Msg::None)
}

async fn audit_page(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let s = guard!(session(&st, &headers).await);
    try_page!(&st, &s, s.user.require(&[Role::Manager]));
    let rows = try_page!(&st, &s, audit::rows(&st.db).await);
    let page = Page::new("Audit trail", Some(&s))
        .with(links(
            "Check",
            vec![link("/audit/verify", "Verify the hash chain")],
        ))
        .with(table(
            "Entries (newest first)",
            "audit",
            &[
                "#",
                "When (UTC)",
                "Who",
                "Action",
                "What",
                "Old",
                "New",
                "Why",
            ],
            rows.iter()
                .rev()
                .map(|r| {
                    row(vec![
                        cell(r.seq),
                        cell(&r.at),
                        cell(&r.actor),
                        cell(&r.action),
                        cell(&r.entity),
                        cell(&r.old_value),
                        cell(&r.new_value),
                        cell(&r.reason),
                    ])
                })
                .collect(),
            "No entry.",
        ));
    show(&st, page, &Msg::None)
}

async fn audit_verify_page(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let s = guard!(session(&st, &headers).await);
    try_page!(&st, &s, s.user.require(&[Role::Manager]));
    let v = try_page!(&st, &s, audit::verify(&st.db).await);
    let mut page = Page::new("Audit trail verification", Some(&s)).with(facts(
        "Result",
        vec![
            fact(
                "Chain",
                Some("audit-ok"),
                if v.ok { "intact" } else { "BROKEN" },
            ),
            fact("Rows checked", None, v.rows),
        ],
    ));
    for p in &v.problems {
        page = page.with(text(p.clone()));
    }
    show(&st, page, &Msg::None)
}

// ---------------------------------------------------------------- investigator

async fn screening_page(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let s = guard!(session(&st, &headers).await);
    screening_view(&st, &s, Msg::None).await
}

async fn screening_view(st: &AppState, s: &Session, msg: Msg) -> Response {
    try_page!(st, s, s.user.require(&[Role::Investigator]));
    let log = try_page!(st, s, service::screening_log(&st.db, &s.user).await);
    let page = Page::new("Screening log", Some(s))
        .with(form(
            "Log a screened candidate",
            "/screening",
            "screen",
            vec![
                field("screening_id", "Screening id", "text"),
                field("eligible", "Eligible", "select").options(opts(&["yes", "no"])),
                field("exclusion_reason", "Reason not eligible", "text")
                    .optional()
                    .help("Required when not eligible."),
            ],
            "Log screening",
        ))
        .with(table(
            "Screened",
            "screening-log",
            &["Screening id", "Date", "Eligible", "Reason", "Participant"],
            log.iter()
                .map(|x| {
                    row(vec![
                        cell(&x.screening_id),
                        cell(&x.screened_on),
                        cell(if x.eligible { "yes" } else { "no" }),
                        cell(&x.exclusion_reason),
                        cell(x.participant_id.clone().unwrap_or_default()),
                    ])
                })
                .collect(),
            "Nobody screened yet.",
        ));
    show(st, page, &msg)
}

async fn screening_post(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let (s, f) = guard!(posted(&st, &headers, f).await);
    let r = service::screen(
        &st.db,
        &s.user,
        val(&f, "screening_id"),
        val(&f, "eligible") == "yes",
        val(&f, "exclusion_reason"),
    )
    .await;
    screening_view(
        &st,
        &s,
        Msg::from(r, |x| format!("Screening {} logged.", x.screening_id)),
    )
    .await
}

async fn participants_page(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let s = guard!(session(&st, &headers).await);
    let list = try_page!(&st, &s, service::participants(&st.db, &s.user).await);
    let page = Page::new("Participants", Some(&s))
        .with(links(
            "Actions",
            vec![link("/participants/new", "Enrol a participant")],
        ))
        .with(table(
            "Participants",
            "participants",
            &[
                "Participant",
                "Site",
                "Randomization number",
                "Randomized at (UTC)",
            ],
            list.iter()
                .map(|p| {
                    row(vec![
                        Cell {
                            text: p.participant_id.clone(),
                            href: Some(format!("/participants/{}", p.participant_id)),
                        },
                        cell(&p.site),
                        cell(
                            p.randomization_number
                                .map(|n| n.to_string())
                                .unwrap_or_else(|| "not randomized".into()),
                        ),
                        cell(p.randomized_at.clone().unwrap_or_default()),
                    ])
                })
                .collect(),
            "No participant yet.",
        ));
    show(&st, page, &Msg::None)
}

async fn enrol_page(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let s = guard!(session(&st, &headers).await);
    enrol_view(&st, &s, Msg::None, &BTreeMap::new()).await
}

async fn enrol_view(
    st: &AppState,
    s: &Session,
    msg: Msg,
    prev: &BTreeMap<String, String>,
) -> Response {
    try_page!(st, s, s.user.require(&[Role::Investigator]));
    let plan = try_page!(st, s, service::plan(&st.db).await);
    let factors = try_page!(st, s, service::factors(&st.db).await);
    let keep = matches!(msg, Msg::Err(_));
    let v = |k: &str| {
        if keep {
            val(prev, k).to_string()
        } else {
            String::new()
        }
    };
    let mut fields = vec![
        field("participant_id", "Participant id", "text").value(v("participant_id")),
        field("screening_id", "Screening id (eligible)", "text").value(v("screening_id")),
    ];
    for (name, levels) in factors.iter().filter(|(n, _)| n != "site") {
        let key = format!("factor_{name}");
        fields.push(
            field(&key, &format!("Stratification factor: {name}"), "select")
                .options(levels.iter().map(|l| (l.clone(), l.clone())))
                .value(v(&key)),
        );
    }
    for c in &plan.covariates {
        let key = format!("cov_{}", c.name);
        let f = match &c.levels {
            Some(levels) => {
                let mut o = vec![(String::new(), "(missing)".to_string())];
                o.extend(levels.iter().map(|l| (l.clone(), l.clone())));
                field(&key, &format!("Baseline: {}", c.name), "select").options(o)
            }
            None => field(&key, &format!("Baseline: {}", c.name), "text"),
        };
        fields.push(f.optional().value(v(&key)));
    }
    let page = Page::new("Enrol a participant", Some(s)).with(form(
        "Participant",
        "/participants/new",
        "enrol",
        fields,
        "Enrol",
    ));
    show(st, page, &msg)
}

fn prefixed(f: &BTreeMap<String, String>, prefix: &str) -> BTreeMap<String, String> {
    f.iter()
        .filter_map(|(k, v)| k.strip_prefix(prefix).map(|n| (n.to_string(), v.clone())))
        .collect()
}

async fn enrol_post(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let (s, f) = guard!(posted(&st, &headers, f).await);
    let r = service::enrol(
        &st.db,
        &s.user,
        service::Enrolment {
            participant_id: val(&f, "participant_id"),
            screening_id: val(&f, "screening_id"),
            factors: prefixed(&f, "factor_"),
            covariates: prefixed(&f, "cov_"),
        },
    )
    .await;
    match r {
        Ok(p) => {
            participant_view(
                &st,
                &s,
                &p.participant_id,
                Msg::Ok(format!("{} enrolled.", p.participant_id)),
            )
            .await
        }
        Err(e) => enrol_view(&st, &s, Msg::Err(e), &f).await,
    }
}

async fn participant_page(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let s = guard!(session(&st, &headers).await);
    participant_view(&st, &s, &id, Msg::None).await
}

async fn participant_view(st: &AppState, s: &Session, id: &str, msg: Msg) -> Response {
    try_page!(
        st,
        s,
        s.user
            .require(&[Role::Investigator, Role::Manager, Role::Statistician])
    );
    let p = try_page!(st, s, service::participant(&st.db, &s.user, id).await);
    let plan = try_page!(st, s, service::plan(&st.db).await);
    let mut items = vec![
        fact("Site", None, &p.site),
        fact("Screening id", None, &p.screening_id),
        fact("Enrolled (UTC)", None, &p.enrolled_at),
    ];
    for (k, v) in &p.factors {
        items.push(fact(&format!("Stratum: {k}"), None, v));
    }
    for (k, v) in &p.covariates {
        items.push(fact(k, None, v));
    }
    items.push(fact(
        "Randomization number",
        Some("randomization-number"),
        p.randomization_number
            .map(|n| n.to_string())
            .unwrap_or_else(|| "not randomized".into()),
    ));
    if let Some(d) = &p.day0 {
        items.push(fact("Day 0", Some("day0"), d));
    }
    let mut page = Page::new(&format!("Participant {}", p.participant_id), Some(s))
        .with(facts("Participant", items));
    let investigator = s.user.role == Role::Investigator;
    if !p.randomized {
        if investigator {
            page = page.with(links(
                "Randomization",
                vec![Link {
                    href: format!("/participants/{}/randomize", p.participant_id),
                    label: "Review and randomize".into(),
                    id: Some("randomize-link".into()),
                }],
            ));
        }
        return show(st, page, &msg);
    }
    page = page.with(table(
        "Visit windows (days from day 0)",
        "windows",
        &["Visit", "Target day", "From", "To", "Target date"],
        p.windows
            .iter()
            .map(|w| {
                row(vec![
                    cell(&w.visit),
                    cell(w.target_day),
                    cell(w.from_date.clone().unwrap_or_default()),
                    cell(w.to_date.clone().unwrap_or_default()),
                    cell(w.target_date.clone().unwrap_or_default()),
                ])
            })
            .collect(),
        "",
    ));
    page = page.with(table(
        "Recorded values",
        "values",
        &["Visit", "Date", "Outcome", "Value"],
        p.measurements
            .iter()
            .map(|m| {
                row(vec![
                    cell(&m.visit),
                    cell(&m.visit_date),
                    cell(&m.outcome),
                    cell(m.value),
                ])
            })
            .collect(),
        "No value recorded.",
    ));
    page = page.with(table(
        "Adverse events",
        "adverse-events",
        &["Term", "Onset", "Severity", "Serious", "Related"],
        p.adverse_events
            .iter()
            .map(|a| {
                row(vec![
                    cell(&a.term),
                    cell(&a.onset_date),
                    cell(&a.severity),
                    cell(if a.serious { "yes" } else { "no" }),
                    cell(&a.related),
                ])
            })
            .collect(),
        "No adverse event.",
    ));
    page = page.with(table(
        "Status",
        "status-events",
        &["Kind", "Date", "Reason code", "Reason"],
        p.status_events
            .iter()
            .map(|e| {
                row(vec![
                    cell(&e.kind),
                    cell(&e.date),
                    cell(&e.reason_code),
                    cell(&e.reason),
                ])
            })
            .collect(),
        "In follow-up.",
    ));
    if investigator {
        let base = format!("/participants/{}", p.participant_id);
        let visits: Vec<(String, String)> = plan
            .visits
            .iter()
            .map(|v| (v.label.clone(), v.label.clone()))
            .collect();
        let mut vf = vec![
            field("visit", "Visit", "select").options(visits.clone()),
            field("visit_date", "Visit date", "date"),
        ];
        for o in &plan.outcomes {
            vf.push(
                field(
                    &format!("out_{}", o.name),
                    &format!("{} ({})", o.label, o.unit),
                    "number",
                )
                .optional()
                .help(format!(
                    "Range {} to {}; leave empty if not measured.",
                    o.range[0], o.range[1]
                )),
            );
        }
        page = page.with(form(
            "Enter a visit",
            &format!("{base}/visit"),
            "visit-form",
            vf,
            "Save visit",
        ));
        page = page.with(form(
            "Correct a value",
            &format!("{base}/correct"),
            "correct-form",
            vec![
                field("visit", "Visit", "select").options(visits),
                field("outcome", "Outcome", "select").options(
                    plan.outcomes
                        .iter()
                        .map(|o| (o.name.clone(), o.label.clone())),
                ),
                field("value", "New value", "number"),
                field("reason", "Reason for the change", "text"),
            ],
            "Correct",
        ));
        page = page.with(form(
            "Report an adverse event",
            &format!("{base}/ae"),
            "ae-form",
            vec![
                field("term", "Term", "text"),
                field("onset_date", "Onset date", "date"),
                field("severity", "Severity", "select").options(opts(&service::SEVERITIES)),
                field("serious", "Serious", "select").options(opts(&["no", "yes"])),
                field("related", "Related to the intervention", "select")
                    .options(opts(&service::RELATED)),
            ],
            "Report event",
        ));
        page = page.with(form(
            "Withdrawal, loss to follow-up, discontinuation",
            &format!("{base}/status"),
            "status-form",
            vec![
                field("kind", "What happened", "select").options(opts(&service::STATUS_KINDS)),
                field("reason_code", "Coded reason", "select")
                    .options(opts(&service::REASON_CODES)),
                field("reason", "Details", "text").optional(),
                field("date", "Date", "date"),
            ],
            "Record",
        ));
        if s.user.can_unblind {
            page = page.with(links(
                "Emergency",
                vec![Link {
                    href: format!("{base}/unblind"),
                    label: "Emergency unblinding".into(),
                    id: Some("unblind-link".into()),
                }],
            ));
        }
    }
    show(st, page, &msg)
}

async fn randomize_page(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let s = guard!(session(&st, &headers).await);
    randomize_view(&st, &s, &id, Msg::None).await
}

async fn randomize_view(st: &AppState, s: &Session, id: &str, msg: Msg) -> Response {
    try_page!(st, s, s.user.require(&[Role::Investigator]));
    let p = try_page!(st, s, service::participant(&st.db, &s.user, id).await);
    if p.randomized {
        return participant_view(st, s, id, Msg::Ok("Already randomized.".into())).await;
    }
    let factors = try_page!(st, s, service::factors(&st.db).await);
    let mut fields = Vec::new();
    for (name, levels) in factors.iter().filter(|(n, _)| n != "site") {
        fields.push(
            field(
                &format!("factor_{name}"),
                &format!("Confirm {name}"),
                "select",
            )
            .options(levels.iter().map(|l| (l.clone(), l.clone())))
            .value(p.factors.get(name).cloned().unwrap_or_default()),
        );
    }
    fields.push(field(
        "confirm",
        "I have checked the stratification factors against the source documents",
        "checkbox",
    ));
    let page = Page::new(&format!("Randomize {}", p.participant_id), Some(s))
        .with(facts(
            "Enrolled stratification factors",
            p.factors.iter().map(|(k, v)| fact(k, None, v)).collect(),
        ))
        .with(form(
            "Review and randomize",
            &format!("/participants/{}/randomize", p.participant_id),
            "randomize",
            fields,
            "Randomize",
        ));
    show(st, page, &msg)
}

async fn randomize_post(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let (s, f) = guard!(posted(&st, &headers, f).await);
    if !checked(&f, "confirm") {
        let e =
            ServerError::BadRequest("tick the confirmation box after checking the factors".into());
        return randomize_view(&st, &s, &id, Msg::Err(e)).await;
    }
    let r = async {
        st.limit_randomize(&s.user.username)?;
        service::randomize(&st.db, &s.user, &id, Some(&prefixed(&f, "factor_"))).await
    }
    .await;
    match r {
        Ok(rc) => {
            let page = Page::new("Randomization receipt", Some(&s))
                .with(facts(
                    "Receipt",
                    vec![
                        fact("Participant", Some("participant-id"), &rc.participant_id),
                        fact("Site", None, &rc.site),
                        fact("Randomization number", Some("randomization-number"), rc.randomization_number),
                        fact("Randomized at (UTC)", Some("randomized-at"), &rc.randomized_at),
                    ],
                ))
                .with(text(
                    "Give the randomization number to the cell-preparation unit. The allocation is not shown here.",
                ))
                .with(links("Next", vec![link(format!("/participants/{}", rc.participant_id), "Participant page")]));
            let msg = if rc.new {
                Msg::Ok("Randomized.".into())
            } else {
                Msg::Ok("Already randomized: original receipt.".into())
            };
            show(&st, page, &msg)
        }
        Err(e) => randomize_view(&st, &s, &id, Msg::Err(e)).await,
    }
}

async fn visit_post(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let (s, f) = guard!(posted(&st, &headers, f).await);
    let r = service::record_visit(
        &st.db,
        &s.user,
        &id,
        val(&f, "visit"),
        val(&f, "visit_date"),
        &prefixed(&f, "out_"),
    )
    .await;
    let msg = match r {
        Ok(e) if e.warnings.is_empty() => Msg::Ok(format!("{} value(s) saved.", e.stored)),
        Ok(e) => Msg::Warn(format!("{} value(s) saved.", e.stored), e.warnings),
        Err(e) => Msg::Err(e),
    };
    participant_view(&st, &s, &id, msg).await
}

async fn correct_post(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let (s, f) = guard!(posted(&st, &headers, f).await);
    let r = service::correct_value(
        &st.db,
        &s.user,
        &id,
        val(&f, "visit"),
        val(&f, "outcome"),
        val(&f, "value"),
        val(&f, "reason"),
    )
    .await;
    participant_view(&st, &s, &id, Msg::from(r, |_| "Value corrected.".into())).await
}

async fn ae_post(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let (s, f) = guard!(posted(&st, &headers, f).await);
    let r = service::add_adverse_event(
        &st.db,
        &s.user,
        &id,
        service::NewAdverseEvent {
            term: val(&f, "term"),
            onset_date: val(&f, "onset_date"),
            severity: val(&f, "severity"),
            serious: val(&f, "serious"),
            related: val(&f, "related"),
        },
    )
    .await;
    participant_view(
        &st,
        &s,
        &id,
        Msg::from(r, |_| "Adverse event recorded.".into()),
    )
    .await
}

async fn status_post(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let (s, f) = guard!(posted(&st, &headers, f).await);
    let r = service::record_status(
        &st.db,
        &s.user,
        &id,
        val(&f, "kind"),
        val(&f, "reason_code"),
        val(&f, "reason"),
        val(&f, "date"),
    )
    .await;
    participant_view(&st, &s, &id, Msg::from(r, |_| "Recorded.".into())).await
}

async fn unblind_page(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let s = guard!(session(&st, &headers).await);
    unblind_view(&st, &s, &id, Msg::None)
}

fn unblind_view(st: &AppState, s: &Session, id: &str, msg: Msg) -> Response {
    let allowed = s.user.require(&[Role::Investigator]).and_then(|_| {
        if s.user.can_unblind {
            Ok(())
        } else {
            Err(ServerError::Forbidden(
                "this account is not delegated for emergency unblinding".into(),
            ))
        }
    });
    try_page!(st, s, allowed);
    let page = Page::new(&format!("Emergency unblinding of {id}"), Some(s))
        .with(text(
            "Only for a medical emergency in which the treatment must be known. The trial manager is notified and the event is audited.",
        ))
        .with(form(
            "Confirm",
            &format!("/participants/{id}/unblind"),
            "unblind",
            vec![
                field("password", "Your password", "password"),
                field("reason", "Medical reason", "text"),
            ],
            "Unblind this participant",
        ));
    show(st, page, &msg)
}

async fn unblind_participant_post(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let (s, f) = guard!(posted(&st, &headers, f).await);
    let r = async {
        st.limit_unblind(&s.user.username)?;
        service::emergency_unblind(&st.db, &s.user, &id, val(&f, "password"), val(&f, "reason"))
            .await
    }
    .await;
    match r {
        Ok(arm) => {
            let page = Page::new(&format!("Emergency unblinding of {id}"), Some(&s)).with(facts(
                "Allocation",
                vec![
                    fact("Participant", None, &id),
                    fact("Arm", Some("arm"), arm),
                ],
            ));
            show(
                &st,
                page,
                &Msg::Ok("Unblinded; the trial manager has been notified.".into()),
            )
        }
        Err(e) => unblind_view(&st, &s, &id, Msg::Err(e)),
    }
}

// ---------------------------------------------------------------- pharmacist, export

async fn pharmacy_page(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let s = guard!(session(&st, &headers).await);
    let lines = try_page!(&st, &s, service::pharmacy(&st.db, &s.user).await);
    let page = Page::new("Allocations for cell preparation", Some(&s)).with(table(
        "Randomized participants of your site",
        "allocations",
        &[
            "Randomization number",
            "Participant",
            "Randomized at (UTC)",
            "Arm",
        ],
        lines
            .iter()
            .map(|l| {
                row(vec![
                    cell(l.randomization_number),
                    cell(&l.participant_id),
                    cell(&l.randomized_at),
                    cell(&l.arm),
                ])
            })
            .collect(),
        "Nobody randomized at your site yet.",
    ));
    show(&st, page, &Msg::None)
}

const EXPORT_FILES: [&str; 5] = [
    "participants.csv",
    "measurements.csv",
    "adverse_events.csv",
    "screening.csv",
    "plan.toml",
];

async fn export_page(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let s = guard!(session(&st, &headers).await);
    try_page!(
        &st,
        &s,
        s.user.require(&[Role::Statistician, Role::Manager])
    );
    let state = try_page!(&st, &s, service::state(&st.db).await);
    let mut page = Page::new("Export the trial dataset", Some(&s)).with(links(
        "Blinded export (arms coded)",
        EXPORT_FILES[..4]
            .iter()
            .map(|f| Link {
                href: format!("/export/blinded/{f}"),
                label: f.to_string(),
                id: Some(format!("blinded-{}", f.replace('.', "-"))),
            })
            .collect(),
    ));
    if state.database_locked && state.unblinded {
        page = page.with(links(
            "Unblinded export (for evidentia trial analyze)",
            EXPORT_FILES
                .iter()
                .map(|f| Link {
                    href: format!("/export/unblinded/{f}"),
                    label: f.to_string(),
                    id: Some(format!("unblinded-{}", f.replace('.', "-"))),
                })
                .collect(),
        ));
    } else {
        page = page.with(text(
            "The unblinded export becomes available after database lock and unblinding.",
        ));
    }
    show(&st, page, &Msg::None)
}

async fn export_file(
    State(st): State<AppState>,
    Path((kind, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let s = guard!(session(&st, &headers).await);
    let unblinded = match kind.as_str() {
        "blinded" => false,
        "unblinded" => true,
        _ => {
            return error_page(
                &st,
                Some(&s),
                ServerError::NotFound("no such export".into()),
            );
        }
    };
    let e = try_page!(&st, &s, export::export(&st.db, &s.user, unblinded).await);
    match e.files.get(&file) {
        Some(body) => {
            let ctype = if file.ends_with(".toml") {
                "application/toml"
            } else {
                "text/csv; charset=utf-8"
            };
            let disp = format!("attachment; filename=\"{kind}-{file}\"");
            let mut res = ([(header::CONTENT_TYPE, ctype)], body.clone()).into_response();
            if let Ok(v) = HeaderValue::from_str(&disp) {
                res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            res
        }
        None => error_page(
            &st,
            Some(&s),
            ServerError::NotFound(format!("no file {file}")),
        ),
    }
}
