//! The HTTP application: state, routes, security headers, sessions and CSRF checks shared
//! by the browser pages (`web`) and the JSON API (`api`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::sync::oneshot;

use crate::auth::{self, RateLimiter, SecurityConfig, Session};
use crate::db::Db;
use crate::error::{ServerError, ServerResult};
use crate::{api, service, web};

/// Name of the session cookie.
pub const COOKIE: &str = "evidentia_session";

/// How to run the service.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// `--db`: a SQLite path or a `postgres://` URL.
    pub db: String,
    /// `--listen`: address and port (port 0 picks a free one).
    pub listen: SocketAddr,
    pub security: SecurityConfig,
    /// Training mode: future dates accepted with a warning (see `Db::training`).
    pub training: bool,
}

impl ServeConfig {
    pub fn new(db: impl Into<String>, listen: SocketAddr) -> Self {
        ServeConfig {
            db: db.into(),
            listen,
            security: SecurityConfig::default(),
            training: false,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub security: Arc<SecurityConfig>,
    pub limiter: Arc<RateLimiter>,
    pub templates: Arc<minijinja::Environment<'static>>,
}

/// A running service.
pub struct Running {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// The one-time set-up link, when the database has no user yet.
    pub setup_link: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting connections and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Waits until the server stops (Ctrl-C).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

fn templates() -> ServerResult<minijinja::Environment<'static>> {
    let mut env = minijinja::Environment::new();
    env.add_template("page.html", include_str!("../templates/page.html"))
        .map_err(|e| ServerError::Config(format!("template: {e}")))?;
    Ok(env)
}

/// Opens (creating and migrating) the database, binds the address and serves until shut down.
pub async fn start(cfg: ServeConfig) -> ServerResult<Running> {
    let mut db = Db::open(&cfg.db).await?;
    db.training = cfg.training;
    let token = service::ensure_setup_token(&db).await?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| ServerError::Config(format!("cannot listen on {}: {e}", cfg.listen)))?;
    let addr = listener.local_addr()?;
    let setup_link = token.map(|t| format!("http://{addr}/setup?token={t}"));
    let state = AppState {
        db,
        security: Arc::new(cfg.security),
        limiter: Arc::new(RateLimiter::default()),
        templates: Arc::new(templates()?),
    };
    let app = router(state);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let server = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = rx.await;
        });
        if let Err(e) = server.await {
            eprintln!("evidentia serve: {e}");
        }
    });
    Ok(Running {
        addr,
        setup_link,
        shutdown: Some(tx),
        task,
    })
}

/// All routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(web::routes())
        .nest("/api/v1", api::routes())
        .layer(DefaultBodyLimit::max(16 * 1024 * 1024))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Security headers on every response, and the same-origin check on every state change.
async fn security_headers(req: Request, next: Next) -> Response {
    if !matches!(*req.method(), Method::GET | Method::HEAD)
        && let Err(e) = check_origin(req.headers())
    {
        return plain_error(e);
    }
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Refuses a state change whose `Origin` (or, without it, `Referer`) names another host.
fn check_origin(headers: &HeaderMap) -> ServerResult<()> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|h| h.to_str().ok());
    match source {
        None => Ok(()),
        Some("null") => Err(ServerError::Forbidden(
            "cross-origin request refused".into(),
        )),
        Some(s) => {
            let after = s.split_once("://").map(|(_, r)| r).unwrap_or(s);
            let origin_host = after.split('/').next().unwrap_or("");
            if origin_host.eq_ignore_ascii_case(host) {
                Ok(())
            } else {
                Err(ServerError::Forbidden(
                    "cross-origin request refused".into(),
                ))
            }
        }
    }
}

fn plain_error(e: ServerError) -> Response {
    (e.status(), e.public_message()).into_response()
}

/// The session token in the request's cookie.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The live session of a request, if any.
pub async fn current_session(st: &AppState, headers: &HeaderMap) -> ServerResult<Option<Session>> {
    match cookie_token(headers) {
        Some(t) => auth::session(&st.db, &t, &st.security).await,
        None => Ok(None),
    }
}

/// The `Set-Cookie` value of a new session.
pub fn session_cookie(st: &AppState, token: &str) -> String {
    format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        st.security.absolute_timeout.as_secs(),
        if st.security.secure_cookie {
            "; Secure"
        } else {
            ""
        }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(st: &AppState) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if st.security.secure_cookie {
            "; Secure"
        } else {
            ""
        }
    )
}

/// Checks a submitted CSRF token against the session's.
pub fn check_csrf(session: &Session, submitted: Option<&str>) -> ServerResult<()> {
    match submitted {
        Some(t) if auth::constant_time_eq(t, &session.csrf) => Ok(()),
        _ => Err(ServerError::Csrf),
    }
}

/// Rate limit helpers.
impl AppState {
    pub fn limit_login(&self, username: &str, ip: &str) -> ServerResult<()> {
        let n = self.security.login_per_minute;
        let w = Duration::from_secs(60);
        self.limiter
            .check(&format!("login:user:{username}"), n, w)?;
        self.limiter.check(&format!("login:ip:{ip}"), n * 3, w)
    }

    pub fn limit_randomize(&self, user: &str) -> ServerResult<()> {
        self.limiter.check(
            &format!("randomize:{user}"),
            self.security.randomize_per_minute,
            Duration::from_secs(60),
        )
    }

    pub fn limit_unblind(&self, user: &str) -> ServerResult<()> {
        self.limiter.check(
            &format!("unblind:{user}"),
            self.security.unblind_per_hour,
            Duration::from_secs(3600),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_check() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("localhost:8080"));
        assert!(check_origin(&h).is_ok());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://localhost:8080"),
        );
        assert!(check_origin(&h).is_ok());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(check_origin(&h).is_err());
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(check_origin(&h).is_err());
    }

    #[test]
    fn cookie_parsing() {
        let mut h = HeaderMap::new();
        let t = "a".repeat(64);
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("x=1; {COOKIE}={t}")).unwrap(),
        );
        assert_eq!(cookie_token(&h), Some(t));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("evidentia_session=short"),
        );
        assert_eq!(cookie_token(&h), None);
    }
}
