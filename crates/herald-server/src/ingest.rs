//! `POST /events`: the CloudEvents HTTP binding — structured, binary and batch modes.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use herald_protocol::{CloudEvent, Position, CLOUDEVENTS_BATCH_JSON, CLOUDEVENTS_JSON, SPEC_VERSION};
use serde_json::{json, Value};

use crate::auth::Access;
use crate::{AppError, AppState};

pub(crate) async fn post_events(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| AppError::BadRequest("Content-Type is not valid text".into()))
        })
        .transpose()?;
    let media_type = content_type
        .as_deref()
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    let binary = headers.contains_key("ce-specversion");
    if media_type != CLOUDEVENTS_JSON && media_type != CLOUDEVENTS_BATCH_JSON && !binary {
        return Err(AppError::UnsupportedMediaType(format!(
            "POST /events takes a CloudEvent in structured mode (Content-Type: {CLOUDEVENTS_JSON}), \
             in binary mode (ce-* headers, any Content-Type) or a batch (Content-Type: \
             {CLOUDEVENTS_BATCH_JSON}); got Content-Type `{}` and no ce-specversion header",
            if media_type.is_empty() { "(none)" } else { &media_type }
        )));
    }
    let body = body.map_err(|rejection| AppError::body(rejection, state.max_body_bytes))?;

    let (events, batch) = if media_type == CLOUDEVENTS_BATCH_JSON {
        (batch_events(&body)?, true)
    } else if media_type == CLOUDEVENTS_JSON {
        (vec![CloudEvent::from_json(&body)?], false)
    } else {
        (vec![binary_event(&headers, content_type.as_deref(), &body)?], false)
    };

    for event in &events {
        access.check_publish(&event.ty)?;
    }
    let positions = store(&state, events, body.len(), "http").await?;
    let body = if batch {
        json!({ "positions": positions })
    } else {
        json!({ "position": positions[0] })
    };
    Ok((StatusCode::ACCEPTED, Json(body)))
}

/// Stores `events` (from a body of `bytes`, taken in `via`: `http`, `websocket`,
/// `amqp-in:NAME`, … as the central log names it), counts and logs them; their positions.
pub(crate) async fn store(state: &AppState, events: Vec<CloudEvent>, bytes: usize, via: &str) -> Result<Vec<Position>, AppError> {
    store_with_cursors(state, events, bytes, Vec::new(), via).await
}

/// [`store`], setting the named `cursors` in the same commit (a bridge's offsets).
pub(crate) async fn store_with_cursors(
    state: &AppState,
    events: Vec<CloudEvent>,
    bytes: usize,
    cursors: Vec<(String, u64)>,
    via: &str,
) -> Result<Vec<Position>, AppError> {
    let central: Vec<crate::central::Accepted> = if state.central.wants(crate::central::Level::Debug) {
        events.iter().map(crate::central::Accepted::of).collect()
    } else {
        Vec::new()
    };
    // each event is a debug line (a summary of them is at info, [`crate::log_summaries`])
    let summary: Vec<(String, String, String)> = if tracing::enabled!(tracing::Level::DEBUG) {
        events.iter().map(|e| (e.id.clone(), e.ty.clone(), e.correlation_id().to_owned())).collect()
    } else {
        Vec::new()
    };
    let log = state.log.clone();
    let (count, started) = (events.len(), std::time::Instant::now());
    let positions = tokio::task::spawn_blocking(move || {
        let cursors: Vec<(&str, u64)> = cursors.iter().map(|(name, value)| (name.as_str(), *value)).collect();
        log.append_with_cursors(events, &cursors)
    })
        .await
        .map_err(|join| AppError::Internal(format!("ingest was interrupted: {join}")))??;
    state.metrics.ingested(count, bytes, started.elapsed());
    for (position, (id, ty, correlation)) in positions.iter().zip(summary) {
        tracing::debug!(%position, id, r#type = ty, correlationid = correlation, "event accepted");
    }
    state.central.accepted(&central, &positions, via);
    Ok(positions)
}

/// A batch: a JSON array of structured-mode events, every one valid, or none is taken.
pub(crate) fn batch_events(body: &[u8]) -> Result<Vec<CloudEvent>, AppError> {
    let items: Vec<Value> = serde_json::from_slice(body)
        .map_err(|e| AppError::BadRequest(format!("a batch must be a JSON array of CloudEvents: {e}")))?;
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            CloudEvent::from_json(item.to_string().as_bytes())
                .map_err(|e| AppError::BadRequest(format!("batch item {index}: {e}")))
        })
        .collect()
}

/// A binary-mode event: attributes from `ce-*` headers (percent-decoded), the body as
/// `data`, its Content-Type as `datacontenttype`.
pub(crate) fn binary_event(headers: &HeaderMap, content_type: Option<&str>, body: &[u8]) -> Result<CloudEvent, AppError> {
    let mut attributes = serde_json::Map::new();
    for (name, value) in headers {
        let Some(attribute) = name.as_str().strip_prefix("ce-") else {
            continue;
        };
        let value = value
            .to_str()
            .map_err(|_| AppError::BadRequest(format!("header `{name}` is not valid text")))?;
        let value = percent_decode(value)
            .ok_or_else(|| AppError::BadRequest(format!("header `{name}` has invalid percent-encoding")))?;
        // headers carry every attribute as text; herald's one integer extension is parsed
        let value = match (attribute, value.parse::<u32>()) {
            ("dataversion", Ok(version)) => Value::from(version),
            _ => Value::String(value),
        };
        if attributes.insert(attribute.to_owned(), value).is_some() {
            return Err(AppError::BadRequest(format!("header `{name}` appears more than once")));
        }
    }
    binary_mode(attributes, "ce-", content_type, body)
}

/// A binary-mode event of any binding: `attributes` as its headers carried them (named
/// without the binding's `prefix`), the body as data by `content_type` ([`insert_data`]).
pub(crate) fn binary_mode(
    mut attributes: serde_json::Map<String, Value>,
    prefix: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<CloudEvent, AppError> {
    for reserved in ["data", "data_base64", "datacontenttype"] {
        if attributes.contains_key(reserved) {
            return Err(AppError::BadRequest(format!(
                "`{prefix}{reserved}` is not an attribute header in binary mode"
            )));
        }
    }
    if attributes.get("specversion").and_then(Value::as_str) != Some(SPEC_VERSION) {
        return Err(herald_protocol::Error::UnsupportedSpecVersion(
            attributes
                .get("specversion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        )
        .into());
    }
    insert_data(&mut attributes, content_type, body)?;
    Ok(CloudEvent::from_json(Value::Object(attributes).to_string().as_bytes())?)
}

/// Sets `datacontenttype` and `data` (JSON, text) or `data_base64` (anything else) from
/// a body and its Content-Type.
pub(crate) fn insert_data(
    attributes: &mut serde_json::Map<String, Value>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(), AppError> {
    if let Some(content_type) = content_type {
        attributes.insert("datacontenttype".into(), Value::String(content_type.to_owned()));
    }
    if !body.is_empty() {
        let media = content_type
            .map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
            .unwrap_or_default();
        if media == "application/json" || media.ends_with("+json") {
            let data: Value = serde_json::from_slice(body)
                .map_err(|e| AppError::BadRequest(format!("the body is not the JSON its Content-Type says: {e}")))?;
            attributes.insert("data".into(), data);
        } else if media.starts_with("text/") && std::str::from_utf8(body).is_ok() {
            let text = String::from_utf8_lossy(body).into_owned();
            attributes.insert("data".into(), Value::String(text));
        } else {
            attributes.insert("data_base64".into(), Value::String(base64(body)));
        }
    }
    Ok(())
}

/// Percent-decodes a header value (the CloudEvents HTTP binding encodes non-ASCII, space,
/// `"` and `%` that way); `None` for a malformed escape or invalid UTF-8.
pub(crate) fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Standard base64 with padding (RFC 4648 §4), for `data_base64`.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 with or without padding; `None` for anything else.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut bits, mut count) = (0u32, 0);
    for byte in text.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = bits << 6 | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let vectors = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")];
        for (plain, encoded) in vectors {
            assert_eq!(base64(plain.as_bytes()), encoded);
            assert_eq!(base64_decode(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(base64_decode("a b"), None);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("Euro%20%E2%82%AC%20%F0%9F%98%80").as_deref(), Some("Euro € 😀"));
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
    }
}
