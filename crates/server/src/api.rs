//! The JSON API under `/api/v1` (docs/api.md): the same operations, authentication and
//! role checks as the browser pages. State changes are POSTs carrying the session cookie
//! and the header `X-CSRF-Token` returned at login.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::{self, AppState};
use crate::auth::{self, Session};
use crate::error::{ServerError, ServerResult, bad};
use crate::{audit, export, service};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/me", get(me))
        .route("/state", get(state))
        .route("/sites", get(sites).post(create_site))
        .route("/users", get(users).post(create_user))
        .route("/users/{name}/deactivate", post(deactivate_user))
        .route("/password", post(change_password))
        .route("/plan", get(plan).post(import_plan))
        .route("/list", get(list).post(import_list))
        .route("/list/lock", post(lock_list))
        .route("/list/append", post(append_list))
        .route("/strata", get(strata))
        .route("/screening", get(screening).post(screen))
        .route("/participants", get(participants).post(enrol))
        .route("/participants/{id}", get(participant))
        .route("/participants/{id}/randomize", post(randomize))
        .route("/participants/{id}/visits", post(visit))
        .route("/participants/{id}/corrections", post(correct))
        .route("/participants/{id}/adverse-events", post(adverse_event))
        .route("/participants/{id}/status", post(status))
        .route(
            "/participants/{id}/emergency-unblind",
            post(emergency_unblind),
        )
        .route("/pharmacy", get(pharmacy))
        .route("/notifications", get(notifications))
        .route("/lock", post(lock))
        .route("/unblind", post(unblind))
        .route("/export", get(export_dataset))
        .route("/audit", get(audit_rows))
        .route("/audit/verify", get(audit_verify))
        .fallback(not_found)
}

fn error_response(e: ServerError) -> Response {
    if matches!(
        e,
        ServerError::Database(_) | ServerError::Io(_) | ServerError::Config(_)
    ) {
        eprintln!("evidentia serve: {e}");
    }
    (e.status(), Json(json!({ "error": e.public_message() }))).into_response()
}

fn reply<T: Serialize>(r: ServerResult<T>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => error_response(e),
    }
}

async fn not_found() -> Response {
    error_response(ServerError::NotFound("no such API endpoint".into()))
}

async fn authed(st: &AppState, headers: &HeaderMap, post: bool) -> ServerResult<Session> {
    let s = app::current_session(st, headers)
        .await?
        .ok_or(ServerError::Unauthenticated)?;
    if post {
        app::check_csrf(
            &s,
            headers.get("x-csrf-token").and_then(|v| v.to_str().ok()),
        )?;
    }
    Ok(s)
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> ServerResult<T> {
    b.map(|Json(v)| v)
        .map_err(|e| bad(format!("request body: {}", e.body_text())))
}

macro_rules! get_handler {
    ($name:ident, |$st:ident, $s:ident| $body:expr) => {
        async fn $name(State($st): State<AppState>, headers: HeaderMap) -> Response {
            reply(
                async {
                    let $s = authed(&$st, &headers, false).await?;
                    $body.await
                }
                .await,
            )
        }
    };
}

macro_rules! post_handler {
    ($name:ident, $ty:ty, |$st:ident, $s:ident, $b:ident| $body:expr) => {
        async fn $name(
            State($st): State<AppState>,
            headers: HeaderMap,
            b: Result<Json<$ty>, JsonRejection>,
        ) -> Response {
            reply(
                async {
                    let $s = authed(&$st, &headers, true).await?;
                    let $b = body(b)?;
                    $body.await
                }
                .await,
            )
        }
    };
}

macro_rules! post_participant_handler {
    ($name:ident, $ty:ty, |$st:ident, $s:ident, $id:ident, $b:ident| $body:expr) => {
        async fn $name(
            State($st): State<AppState>,
            Path($id): Path<String>,
            headers: HeaderMap,
            b: Result<Json<$ty>, JsonRejection>,
        ) -> Response {
            reply(
                async {
                    let $s = authed(&$st, &headers, true).await?;
                    let $b = body(b)?;
                    $body.await
                }
                .await,
            )
        }
    };
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

async fn login(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    b: Result<Json<LoginBody>, JsonRejection>,
) -> Response {
    let r = async {
        let b = body(b)?;
        st.limit_login(&b.username, &peer.ip().to_string())?;
        let previous = app::cookie_token(&headers);
        auth::login(&st.db, &b.username, &b.password, previous.as_deref()).await
    }
    .await;
    match r {
        Ok((token, s)) => {
            let mut res = Json(json!({ "csrf_token": s.csrf, "user": s.user })).into_response();
            if let Ok(v) = HeaderValue::from_str(&app::session_cookie(&st, &token)) {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        Err(e) => error_response(e),
    }
}

async fn logout(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let r = async {
        authed(&st, &headers, true).await?;
        if let Some(t) = app::cookie_token(&headers) {
            auth::end_session(&st.db, &t).await?;
        }
        Ok(json!({ "signed_out": true }))
    }
    .await;
    let mut res = reply(r);
    if res.status() == StatusCode::OK
        && let Ok(v) = HeaderValue::from_str(&app::clear_cookie(&st))
    {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

get_handler!(me, |st, s| async move {
    Ok(json!({ "user": s.user, "csrf_token": s.csrf }))
});
get_handler!(state, |st, s| async move {
    let _ = &s;
    service::state(&st.db).await
});
get_handler!(sites, |st, s| async move {
    let _ = &s;
    service::sites(&st.db).await
});

#[derive(Deserialize)]
struct SiteBody {
    code: String,
    name: String,
}
post_handler!(create_site, SiteBody, |st, s, b| async move {
    service::create_site(&st.db, &s.user, &b.code, &b.name).await
});

get_handler!(users, |st, s| async move {
    service::users(&st.db, &s.user).await
});

#[derive(Deserialize)]
struct UserBody {
    username: String,
    password: String,
    role: String,
    #[serde(default)]
    site: Option<String>,
    #[serde(default)]
    can_unblind: bool,
}
post_handler!(create_user, UserBody, |st, s, b| async move {
    service::create_user(
        &st.db,
        &s.user,
        service::NewUser {
            username: &b.username,
            password: &b.password,
            role: &b.role,
            site: b.site.as_deref(),
            can_unblind: b.can_unblind,
        },
    )
    .await
});

#[derive(Deserialize)]
struct PasswordBody {
    current_password: String,
    new_password: String,
}
post_handler!(change_password, PasswordBody, |st, s, b| async move {
    st.limit_login(&s.user.username, "password-change")?;
    service::change_password(&st.db, &s.user, &b.current_password, &b.new_password).await?;
    Ok::<_, ServerError>(json!({ "changed": true, "signed_out": true }))
});

#[derive(Deserialize)]
struct DeactivateBody {
    reason: String,
}
post_participant_handler!(
    deactivate_user,
    DeactivateBody,
    |st, s, name, b| async move {
        service::deactivate_user(&st.db, &s.user, &name, &b.reason).await?;
        Ok::<_, ServerError>(json!({ "username": name, "active": false }))
    }
);

get_handler!(plan, |st, s| async move {
    s.user.require(&[
        auth::Role::Manager,
        auth::Role::Statistician,
        auth::Role::Investigator,
    ])?;
    service::plan_summary(&st.db).await
});

#[derive(Deserialize)]
struct PlanBody {
    toml: String,
}
post_handler!(import_plan, PlanBody, |st, s, b| async move {
    service::import_plan(&st.db, &s.user, &b.toml).await
});

get_handler!(list, |st, s| async move {
    s.user.require(&[auth::Role::Manager])?;
    service::list_info(&st.db).await
});

#[derive(Deserialize)]
struct ListBody {
    csv: String,
    #[serde(default)]
    production: bool,
}
post_handler!(import_list, ListBody, |st, s, b| async move {
    service::import_list(&st.db, &s.user, &b.csv, b.production).await
});

#[derive(Deserialize)]
struct Empty {}
post_handler!(lock_list, Empty, |st, s, b| async move {
    let _ = b;
    service::lock_list(&st.db, &s.user).await
});

#[derive(Deserialize)]
struct AppendBody {
    csv: String,
    reason: String,
}
post_handler!(append_list, AppendBody, |st, s, b| async move {
    service::append_list(&st.db, &s.user, &b.csv, &b.reason).await
});

get_handler!(strata, |st, s| async move {
    service::strata_status(&st.db, &s.user).await
});
get_handler!(screening, |st, s| async move {
    service::screening_log(&st.db, &s.user).await
});

#[derive(Deserialize)]
struct ScreenBody {
    screening_id: String,
    eligible: bool,
    #[serde(default)]
    exclusion_reason: String,
}
post_handler!(screen, ScreenBody, |st, s, b| async move {
    service::screen(
        &st.db,
        &s.user,
        &b.screening_id,
        b.eligible,
        &b.exclusion_reason,
    )
    .await
});

get_handler!(participants, |st, s| async move {
    service::participants(&st.db, &s.user).await
});

async fn participant(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    reply(
        async {
            let s = authed(&st, &headers, false).await?;
            s.user.require(&[
                auth::Role::Investigator,
                auth::Role::Manager,
                auth::Role::Statistician,
            ])?;
            service::participant(&st.db, &s.user, &id).await
        }
        .await,
    )
}

fn strings(m: BTreeMap<String, Value>) -> BTreeMap<String, String> {
    m.into_iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s,
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (k, s)
        })
        .collect()
}

#[derive(Deserialize)]
struct EnrolBody {
    participant_id: String,
    screening_id: String,
    #[serde(default)]
    factors: BTreeMap<String, Value>,
    #[serde(default)]
    covariates: BTreeMap<String, Value>,
}
post_handler!(enrol, EnrolBody, |st, s, b| async move {
    service::enrol(
        &st.db,
        &s.user,
        service::Enrolment {
            participant_id: &b.participant_id,
            screening_id: &b.screening_id,
            factors: strings(b.factors),
            covariates: strings(b.covariates),
        },
    )
    .await
});

#[derive(Deserialize)]
struct RandomizeBody {
    #[serde(default)]
    confirm_factors: Option<BTreeMap<String, Value>>,
}
post_participant_handler!(randomize, RandomizeBody, |st, s, id, b| async move {
    st.limit_randomize(&s.user.username)?;
    let confirm = b.confirm_factors.map(strings);
    service::randomize(&st.db, &s.user, &id, confirm.as_ref()).await
});

#[derive(Deserialize)]
struct VisitBody {
    visit: String,
    visit_date: String,
    values: BTreeMap<String, Value>,
}
post_participant_handler!(visit, VisitBody, |st, s, id, b| async move {
    service::record_visit(
        &st.db,
        &s.user,
        &id,
        &b.visit,
        &b.visit_date,
        &strings(b.values),
    )
    .await
});

#[derive(Deserialize)]
struct CorrectBody {
    visit: String,
    outcome: String,
    value: Value,
    reason: String,
}
post_participant_handler!(correct, CorrectBody, |st, s, id, b| async move {
    let value = match b.value {
        Value::String(s) => s,
        other => other.to_string(),
    };
    service::correct_value(
        &st.db, &s.user, &id, &b.visit, &b.outcome, &value, &b.reason,
    )
    .await
});

#[derive(Deserialize)]
struct AeBody {
    term: String,
    onset_date: String,
    severity: String,
    serious: bool,
    related: String,
}
post_participant_handler!(adverse_event, AeBody, |st, s, id, b| async move {
    service::add_adverse_event(
        &st.db,
        &s.user,
        &id,
        service::NewAdverseEvent {
            term: &b.term,
            onset_date: &b.onset_date,
            severity: &b.severity,
            serious: if b.serious { "yes" } else { "no" },
            related: &b.related,
        },
    )
    .await
});

#[derive(Deserialize)]
struct StatusBody {
    kind: String,
    reason_code: String,
    #[serde(default)]
    reason: String,
    date: String,
}
post_participant_handler!(status, StatusBody, |st, s, id, b| async move {
    service::record_status(
        &st.db,
        &s.user,
        &id,
        &b.kind,
        &b.reason_code,
        &b.reason,
        &b.date,
    )
    .await
});

#[derive(Deserialize)]
struct UnblindBody {
    password: String,
    reason: String,
}
post_participant_handler!(emergency_unblind, UnblindBody, |st, s, id, b| async move {
    st.limit_unblind(&s.user.username)?;
    let arm = service::emergency_unblind(&st.db, &s.user, &id, &b.password, &b.reason).await?;
    Ok::<_, ServerError>(json!({ "participant_id": id, "arm": arm }))
});

get_handler!(pharmacy, |st, s| async move {
    service::pharmacy(&st.db, &s.user).await
});
get_handler!(notifications, |st, s| async move {
    service::notifications(&st.db, &s.user).await
});

#[derive(Deserialize)]
struct ReasonBody {
    reason: String,
}
post_handler!(lock, ReasonBody, |st, s, b| async move {
    service::lock_database(&st.db, &s.user, &b.reason).await
});
post_handler!(unblind, ReasonBody, |st, s, b| async move {
    service::unblind_trial(&st.db, &s.user, &b.reason).await
});

#[derive(Deserialize)]
struct ExportQuery {
    #[serde(default)]
    unblinded: bool,
}
async fn export_dataset(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    reply(
        async {
            let s = authed(&st, &headers, false).await?;
            let q = q.map_err(|e| bad(e.body_text()))?;
            export::export(&st.db, &s.user, q.unblinded).await
        }
        .await,
    )
}

get_handler!(audit_rows, |st, s| async move {
    s.user.require(&[auth::Role::Manager])?;
    audit::rows(&st.db).await
});
get_handler!(audit_verify, |st, s| async move {
    s.user.require(&[auth::Role::Manager])?;
    audit::verify(&st.db).await
});
