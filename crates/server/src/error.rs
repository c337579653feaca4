//! Errors of the service, each with the HTTP status it answers with.

use axum::http::StatusCode;

/// What can go wrong. Messages are shown to the user: they never contain an arm.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    BadRequest(String),
    #[error("not signed in or the session has expired")]
    Unauthenticated,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("too many requests: {0}; try again later")]
    RateLimited(String),
    #[error("the security token of the form is missing or wrong (reload the page and try again)")]
    Csrf,
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// Result of the service.
pub type ServerResult<T> = Result<T, ServerError>;

impl ServerError {
    /// The HTTP status of the error.
    pub fn status(&self) -> StatusCode {
        match self {
            ServerError::Config(_) | ServerError::Database(_) | ServerError::Io(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ServerError::BadRequest(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ServerError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ServerError::Forbidden(_) | ServerError::Csrf => StatusCode::FORBIDDEN,
            ServerError::NotFound(_) => StatusCode::NOT_FOUND,
            ServerError::Conflict(_) => StatusCode::CONFLICT,
            ServerError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The message shown to the user: internal errors are not detailed to the client
    /// (they are logged on the server).
    pub fn public_message(&self) -> String {
        match self {
            ServerError::Database(_) | ServerError::Io(_) | ServerError::Config(_) => {
                "internal error (logged on the server)".to_string()
            }
            other => other.to_string(),
        }
    }
}

/// Shorthand for a 422 error.
pub fn bad(msg: impl Into<String>) -> ServerError {
    ServerError::BadRequest(msg.into())
}
