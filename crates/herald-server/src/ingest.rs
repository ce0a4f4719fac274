//! `POST /events`: the CloudEvents HTTP binding, structured mode.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use herald_protocol::{CloudEvent, CLOUDEVENTS_JSON};
use serde_json::{json, Value};

use crate::{AppError, AppState};

pub(crate) async fn post_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    if media_type != CLOUDEVENTS_JSON {
        return Err(AppError::UnsupportedMediaType(format!(
            "POST /events takes a structured-mode CloudEvent with Content-Type: {CLOUDEVENTS_JSON}; got `{}`",
            if media_type.is_empty() { "(none)" } else { &media_type }
        )));
    }
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge {
            limit: state.max_body_bytes,
        },
        _ => AppError::BadRequest(format!("could not read the request body: {rejection}")),
    })?;
    let event = CloudEvent::from_json(&body)?;
    let (id, ty, correlation) = (event.id.clone(), event.ty.clone(), event.correlation_id().to_owned());
    let log = state.log.clone();
    let position = tokio::task::spawn_blocking(move || log.append(event))
        .await
        .map_err(|join| AppError::BadRequest(format!("ingest was interrupted: {join}")))??;
    tracing::debug!(%position, id, r#type = ty, correlationid = correlation, "event accepted");
    Ok((StatusCode::ACCEPTED, Json(json!({ "position": position }))))
}
