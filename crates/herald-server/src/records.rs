//! `/records/{name}`: the documents that pointer events point at (docs/protocol.md §3.16).
//!
//! A *pointer* event carries where to read a large, rarely changing document — a URL with
//! its revision — instead of the document (a *complete* event carries it all). The gateway
//! keeps such documents as records: each `PUT` stores the next revision, every revision
//! stays readable under its own URL (immutable, cached for good), and the record's plain
//! URL is its latest revision (revalidated with `ETag`).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use herald_protocol::TopicPattern;

use crate::auth::Access;
use crate::store::Answer;
use crate::{AppError, AppState};

/// The longest record name.
pub const MAX_NAME: usize = 200;

/// The query of `GET /records/{name}`.
#[derive(Debug, Deserialize)]
pub struct RecordQuery {
    revision: Option<String>,
}

/// `name` if it is a record name: dot-separated segments of letters, digits, `-` and `_`
/// (a topic without wildcards, so that grants cover it, §3.5).
fn record_name(name: &str) -> Result<TopicPattern, AppError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.split('.').all(|segment| !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    if !valid {
        return Err(AppError::BadRequest(format!(
            "`{name}` is not a record name: dot-separated segments of letters, digits, `-` and `_`, at most {MAX_NAME} bytes"
        )));
    }
    name.parse().map_err(|e| AppError::BadRequest(format!("`{name}`: {e}")))
}

fn unsupported() -> AppError {
    AppError::NotImplemented("records need the embedded SQLite store (`--store` is another)".into())
}

fn etag(revision: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{revision}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// The URL path of revision `revision` of record `name`.
fn revision_url(name: &str, revision: u64) -> String {
    format!("/records/{name}?revision={revision}")
}

/// `PUT /records/{name}`: a JSON document as the record's next revision; `201` with
/// `Location` (the revision's URL), `ETag`, and `{"name", "revision", "url"}`.
pub async fn put_record(
    State(state): State<AppState>,
    access: Access,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    record_name(&name)?;
    access.check_publish(&name)?;
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    if media != "application/json" && !media.ends_with("+json") {
        return Err(AppError::UnsupportedMediaType(format!(
            "a record is a JSON document (Content-Type: application/json), not `{}`",
            if media.is_empty() { "(none)" } else { &media }
        )));
    }
    let body = body.map_err(|rejection| AppError::body(rejection, state.max_body_bytes))?;
    let document: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| AppError::BadRequest(format!("the record is not JSON: {e}")))?;
    let json = document.to_string();
    let log = state.log.clone();
    let stored_name = name.clone();
    let revision = tokio::task::spawn_blocking(move || match log.store().records() {
        Some(records) => records.put_record(&stored_name, &json),
        None => Ok(Answer::Unsupported),
    })
        .await
        .map_err(|e| AppError::Internal(format!("the record task failed: {e}")))??;
    let Answer::Done(revision) = revision else {
        return Err(unsupported());
    };
    let url = revision_url(&name, revision);
    let mut response = (StatusCode::CREATED, axum::Json(json!({"name": name, "revision": revision, "url": url}))).into_response();
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag(revision));
    if let Ok(location) = HeaderValue::from_str(&url) {
        headers.insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /records/{name}[?revision=N]`: the record's latest revision (`Cache-Control:
/// no-cache`), or revision `N` (`immutable`); `ETag` `"N"`, `304` for a matching
/// `If-None-Match`.
pub async fn get_record(
    State(state): State<AppState>,
    access: Access,
    Path(name): Path<String>,
    Query(query): Query<RecordQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let pattern = record_name(&name)?;
    access.check_subscribe(&[pattern])?;
    let revision = match query.revision.as_deref() {
        None => None,
        Some(text) => Some(text.parse::<u64>().ok().filter(|r| *r > 0).ok_or_else(|| {
            AppError::BadRequest(format!("`revision={text}`: a revision is a whole number from 1"))
        })?),
    };
    let log = state.log.clone();
    let wanted = name.clone();
    let found = tokio::task::spawn_blocking(move || match log.store().records() {
        Some(records) => records.record(&wanted, revision),
        None => Ok(Answer::Unsupported),
    })
        .await
        .map_err(|e| AppError::Internal(format!("the record task failed: {e}")))??;
    let found = match found {
        Answer::Done(found) => found,
        _ => return Err(unsupported()),
    };
    let Some((revision, json)) = found else {
        return Err(AppError::NoSuch(match revision {
            Some(r) => format!("record `{name}` has no revision {r}"),
            None => format!("no record `{name}`"),
        }));
    };
    let cache = if query.revision.is_some() { "public, max-age=31536000, immutable" } else { "no-cache" };
    let tag = etag(revision);
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|list| list.split(',').any(|t| t.trim() == "*" || t.trim().trim_start_matches("W/") == tag.to_str().unwrap_or("")));
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, "application/json")], json).into_response()
    };
    let out = response.headers_mut();
    out.insert(header::ETAG, tag);
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    Ok(response)
}
