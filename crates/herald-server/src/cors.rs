//! CORS for the configured origins, and for them only (protocol §3.5).
//!
//! A preflight is what the Fetch standard calls one: `OPTIONS` with `Origin` and
//! `Access-Control-Request-Method`. Any other `OPTIONS` (the webhook abuse-protection
//! handshake of §3.4) goes to its route. A request from an origin not on the list gets no
//! CORS header at all: a preflight from it is `403`, anything else is served as if it came
//! from no browser (the browser then withholds the answer from the page).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppError;

/// How long a browser may cache a preflight's answer, in seconds.
const MAX_AGE_SECS: &str = "600";
const METHODS: &str = "GET, POST, PUT, OPTIONS";
/// The answer headers a page may read (`Access-Control-Expose-Headers`).
const EXPOSED: &str = "grpc-status, grpc-message, grpc-status-details-bin, etag";

/// The middleware: `origins` is the allow-list.
pub(crate) async fn cors(State(origins): State<Arc<Vec<HeaderValue>>>, request: Request, next: Next) -> Response {
    let Some(origin) = request.headers().get(header::ORIGIN).cloned() else {
        return next.run(request).await;
    };
    let allowed = origins.contains(&origin);
    let preflight =
        request.method() == Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = match (preflight, allowed) {
        (true, true) => preflight_answer(request.headers()),
        (true, false) => AppError::Forbidden(format!(
            "cross-origin requests from `{}` are not allowed",
            origin.to_str().unwrap_or("(not text)")
        ))
        .into_response(),
        (false, _) => next.run(request).await,
    };
    let headers = response.headers_mut();
    // the answer depends on the origin: caches must keep them apart
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    if allowed {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        // a gRPC-web answer without a body carries its status in headers
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED));
    }
    response
}

/// `204` granting the methods and the request headers asked for (binary mode sends
/// `ce-*` headers, so any header is granted).
fn preflight_answer(request: &HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(METHODS));
    if let Some(asked) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE_SECS));
    headers.append(
        header::VARY,
        HeaderValue::from_static("access-control-request-method, access-control-request-headers"),
    );
    response
}
