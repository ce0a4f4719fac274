use axum::http::{header, Method, StatusCode};
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
    /// The database refused an operation.
    #[error("event store {path}: {source}")]
    Database {
        /// The database file.
        path: String,
        /// The database's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store is out of reach (NATS down): nothing was stored.
    #[error("the event store is unavailable: {0}")]
    Unavailable(String),
    /// The store cannot take this event as it is.
    #[error("{0}")]
    Rejected(String),
    /// A stored record could not be read back.
    #[error("event store record {record} in {path} is corrupt: {reason}")]
    Corrupt {
        /// The database file.
        path: String,
        /// The record's sequence number.
        record: u64,
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
    /// 401: no token, or one that is not valid.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the token does not grant this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such route or file.
    #[error("no such resource")]
    NotFound,
    /// 405: the route exists but does not take this method (the response's `Allow`
    /// header lists those it takes).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409: the request conflicts with what exists (a name taken, a configured item).
    #[error("{0}")]
    Conflict(String),
    /// 408: the request body did not arrive within the body read timeout.
    #[error("{0}")]
    RequestTimeout(String),
    /// 413: the body is larger than the configured limit.
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 413: the request carries more than a limit allows (the message says which).
    #[error("{0}")]
    TooLarge(String),
    /// 415: the body's media type is not one this route takes.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 503: the store is out of reach; nothing was stored, try again.
    #[error("the event store is unavailable; the event was not stored, try again: {0}")]
    Unavailable(String),
    /// 404: the resource named does not exist (the message says which).
    #[error("{0}")]
    NoSuch(String),
    /// 503: the gateway is too busy for this now; try again (the message says what).
    #[error("{0}")]
    Busy(String),
    /// 501: this gateway cannot do what the route asks (the message says why).
    #[error("{0}")]
    NotImplemented(String),
    /// 500: something inside the gateway failed; the message is for the log.
    #[error("the gateway failed to handle the request")]
    Internal(String),
    /// 500: the store failed; clients get a generic message, the log gets the detail.
    #[error("the event store failed; the event was not accepted")]
    Store(StoreError),
}

impl AppError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound | AppError::NoSuch(_) => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AppError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::PayloadTooLarge { .. } | AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Unavailable(_) | AppError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            AppError::Store(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl AppError {
    /// The error for a request body that could not be read: `413` over `limit`, `408`
    /// when it did not arrive in time, `400` otherwise.
    pub(crate) fn body(rejection: axum::extract::rejection::BytesRejection, limit: usize) -> AppError {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return AppError::PayloadTooLarge { limit };
        }
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&rejection);
        while let Some(error) = cause {
            if let Some(timeout) = error.downcast_ref::<crate::serve::BodyTimeout>() {
                return AppError::RequestTimeout(timeout.to_string());
            }
            cause = error.source();
        }
        AppError::BadRequest(format!("could not read the request body: {rejection}"))
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(why) => AppError::Unavailable(why),
            StoreError::Rejected(why) => AppError::BadRequest(why),
            other => AppError::Store(other),
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
        match &self {
            AppError::Store(source) => tracing::error!(error = %source, "store failure"),
            AppError::Internal(detail) => tracing::error!(%detail, "internal failure"),
            _ => {}
        }
        problem(self.status(), &self.to_string())
    }
}

/// An RFC 9457 problem document (`application/problem+json`) with `status` and `detail`;
/// a `401` also carries `WWW-Authenticate: Bearer`.
pub(crate) fn problem(status: StatusCode, detail: &str) -> Response {
    let body = json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut response = (
        status,
        [(header::CONTENT_TYPE, PROBLEM_JSON)],
        body.to_string(),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    }
    response
}

const PROBLEM_JSON: &str = "application/problem+json";

/// Makes every error response a problem document, also those the gateway's own handlers
/// do not write (axum's 404 and 405, its extractors' rejections, the static files'
/// service): their text becomes `detail`, or, when they have none, what [`AppError`] says
/// of their status; their other headers (`Allow`, say) stay.
pub(crate) async fn problem_documents(method: Method, response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let (parts, body) = response.into_parts();
    // such bodies are short texts; a longer one is cut, not waited for
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let mut response = match (status, text.trim()) {
        (StatusCode::NOT_FOUND, "") => AppError::NotFound.into_response(),
        (StatusCode::METHOD_NOT_ALLOWED, "") => {
            AppError::MethodNotAllowed(format!("this route does not take {method}")).into_response()
        }
        (_, "") => problem(status, &status.canonical_reason().unwrap_or("error").to_lowercase()),
        (_, text) => problem(status, text),
    };
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    response
}
