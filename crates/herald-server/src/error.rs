use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use thiserror::Error;

/// A failure of the event store.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing the data directory failed.
    #[error("event store I/O on {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A stored record could not be read back.
    #[error("event store record {line} in {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: String,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Every error a route answers with, rendered as RFC 9457 `application/problem+json`.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AppError {
    /// 400: the request is malformed; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// 404: no such route or file.
    #[error("no such resource")]
    NotFound,
    /// 413: the body is larger than the configured limit.
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 415: the body's media type is not one this route takes.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 500: the store failed; clients get a generic message, the log gets the detail.
    #[error("the event store failed; the event was not accepted")]
    Store(#[from] StoreError),
}

impl AppError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<herald_protocol::Error> for AppError {
    fn from(e: herald_protocol::Error) -> Self {
        AppError::BadRequest(e.to_string())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let AppError::Store(source) = &self {
            tracing::error!(error = %source, "store failure");
        }
        let body = json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": self.to_string(),
        });
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response()
    }
}
