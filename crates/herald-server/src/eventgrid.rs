//! `POST /eventgrid/{name}`: deliveries of an Azure Event Grid subscription (or of the
//! `azure-eventgrid` publisher SDKs), in both of Event Grid's schemas (protocol §3.10).
//!
//! - **Event Grid schema** (`Content-Type: application/json`): a JSON array of
//!   `{id, topic, subject, eventType, eventTime, data, dataVersion, metadataVersion}`,
//!   each mapped to a CloudEvent by fixed rules ([`from_event_grid`]).
//! - **CloudEvents schema**: `application/cloudevents-batch+json` (an array) or
//!   `application/cloudevents+json` (one event).
//!
//! A subscription-validation delivery (`aeg-event-type: SubscriptionValidation`) is
//! answered `{"validationResponse": CODE}` and stores nothing; the CloudEvents webhook
//! `OPTIONS` handshake is answered as for webhooks (§3.4). Every request must carry the
//! receiver's key, in `aeg-sas-key` or the `code` query parameter, compared in constant
//! time.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use herald_protocol::{CloudEvent, CLOUDEVENTS_BATCH_JSON, CLOUDEVENTS_JSON, SPEC_VERSION};
use serde_json::{json, Value};

use crate::{AppError, AppState};

/// The most events one delivery may carry (Event Grid's own batches are far smaller).
pub const MAX_BATCH: usize = 5000;

/// The event type of Event Grid's subscription-validation event.
pub const VALIDATION_EVENT: &str = "Microsoft.EventGrid.SubscriptionValidationEvent";

/// The extension attribute an Event Grid event's `dataVersion` is kept in (herald's own
/// `dataversion` is an integer; Event Grid's is any string).
pub const DATA_VERSION_ATTRIBUTE: &str = "eventgriddataversion";

/// One configured Event Grid receiver.
#[derive(Debug, Clone)]
pub struct EventGrid {
    /// The access key (`aeg-sas-key` or `?code=`).
    pub key: Vec<u8>,
    /// The `source` of events that carry no `topic`; default `urn:herald:eventgrid:NAME`.
    pub source: Option<String>,
    /// Origins the CloudEvents `OPTIONS` handshake allows; empty allows any.
    pub allowed_origins: Vec<String>,
    /// Deliveries per minute the handshake announces; `None`: `*`.
    pub allowed_rate: Option<u32>,
}

impl EventGrid {
    /// A receiver checking requests against `key`.
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        EventGrid { key: key.into(), source: None, allowed_origins: Vec::new(), allowed_rate: None }
    }
}

fn receiver<'a>(state: &'a AppState, name: &str) -> Result<&'a EventGrid, AppError> {
    state.eventgrid.get(name).ok_or(AppError::NotFound)
}

/// `401` unless the request carries the receiver's key (header or `code` query), compared
/// in constant time.
fn check_key(grid: &EventGrid, headers: &HeaderMap, query: Option<&str>) -> Result<(), AppError> {
    let given = headers.get("aeg-sas-key").map(|v| v.as_bytes().to_vec()).or_else(|| {
        form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned().into_bytes())
    });
    match given {
        Some(given) if constant_time_eq(&given, &grid.key) => Ok(()),
        Some(_) => Err(AppError::Unauthorized("the Event Grid key does not match".into())),
        None => Err(AppError::Unauthorized(
            "the Event Grid key is required: an `aeg-sas-key` header or a `code` query parameter".into(),
        )),
    }
}

/// Equal bytes, in time that depends on the lengths only.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) async fn post_eventgrid(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let grid = receiver(&state, &name)?.clone();
    check_key(&grid, &headers, query.as_deref())?;
    let body = body.map_err(|rejection| AppError::body(rejection, state.max_body_bytes))?;
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    let kind = headers.get("aeg-event-type").and_then(|v| v.to_str().ok()).unwrap_or("Notification");
    let events = if media == CLOUDEVENTS_JSON {
        vec![CloudEvent::from_json(&body)?]
    } else if media == CLOUDEVENTS_BATCH_JSON || media == "application/json" {
        let items = items(&body)?;
        if kind.eq_ignore_ascii_case("SubscriptionValidation") {
            return validation(&items);
        }
        let source = grid.source.clone().unwrap_or_else(|| format!("urn:herald:eventgrid:{name}"));
        // an item with `specversion` is a CloudEvent; one delivery is one schema
        let cloudevents: Vec<bool> =
            items.iter().map(|item| media == CLOUDEVENTS_BATCH_JSON || item.get("specversion").is_some()).collect();
        if cloudevents.iter().any(|c| *c) && !cloudevents.iter().all(|c| *c) {
            return Err(AppError::BadRequest(
                "the batch mixes Event Grid events and CloudEvents: send one schema per delivery".into(),
            ));
        }
        items
            .into_iter()
            .zip(cloudevents)
            .enumerate()
            .map(|(index, (item, cloudevent))| {
                let event = if cloudevent {
                    CloudEvent::from_json(item.to_string().as_bytes()).map_err(|e| e.to_string())
                } else {
                    from_event_grid(&item, &source)
                };
                event.map_err(|e| AppError::BadRequest(format!("item {index}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        return Err(AppError::UnsupportedMediaType(format!(
            "POST /eventgrid/{name} takes the Event Grid schema (`application/json`, an array) or the \
             CloudEvents schema (`{CLOUDEVENTS_BATCH_JSON}` or `{CLOUDEVENTS_JSON}`); got `{media}`"
        )));
    };
    let positions = crate::ingest::store(&state, events, body.len(), &format!("eventgrid:{name}")).await?;
    // Event Grid's publishers take 200 as success (its own API answers 200), not 202
    Ok((StatusCode::OK, Json(json!({ "positions": positions }))).into_response())
}

/// The body as a JSON array of at most [`MAX_BATCH`] objects.
fn items(body: &[u8]) -> Result<Vec<Value>, AppError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| AppError::BadRequest(format!("the body is not JSON: {e}")))?;
    let Value::Array(items) = value else {
        return Err(AppError::BadRequest("the body must be a JSON array of events".into()));
    };
    if items.is_empty() {
        return Err(AppError::BadRequest("the batch is empty".into()));
    }
    if items.len() > MAX_BATCH {
        return Err(AppError::TooLarge(format!(
            "{} events in one delivery; at most {MAX_BATCH}",
            items.len()
        )));
    }
    if let Some(index) = items.iter().position(|item| !item.is_object()) {
        return Err(AppError::BadRequest(format!("item {index} is not a JSON object")));
    }
    Ok(items)
}

/// The answer to Event Grid's subscription-validation delivery.
fn validation(items: &[Value]) -> Result<Response, AppError> {
    let code = match items {
        [item] if item.get("eventType").and_then(Value::as_str) == Some(VALIDATION_EVENT) => {
            item.pointer("/data/validationCode").and_then(Value::as_str)
        }
        _ => None,
    };
    let code = code.ok_or_else(|| {
        AppError::BadRequest(format!(
            "a SubscriptionValidation delivery holds one `{VALIDATION_EVENT}` event with `data.validationCode`"
        ))
    })?;
    Ok((StatusCode::OK, Json(json!({ "validationResponse": code }))).into_response())
}

/// An Event Grid schema event as a CloudEvent: `id` → `id`; `topic` → `source` (absent:
/// `default_source`); `subject` → `subject`; `eventType` → `type`; `eventTime` → `time`;
/// `data` → `data` (`datacontenttype: application/json`); `dataVersion` → the extension
/// `eventgriddataversion`. `metadataVersion`, when present, must be `"1"`.
pub fn from_event_grid(item: &Value, default_source: &str) -> Result<CloudEvent, String> {
    let text = |name: &str, required: bool| -> Result<Option<String>, String> {
        match item.get(name) {
            None | Some(Value::Null) if required => Err(format!("`{name}` is required")),
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("`{name}` must be a string")),
        }
    };
    let required = |name: &str| text(name, true).map(|v| v.unwrap_or_default());
    let (id, ty, subject, time) = (required("id")?, required("eventType")?, required("subject")?, required("eventTime")?);
    let data_version = required("dataVersion")?;
    if !item.get("data").is_some_and(|d| !d.is_null()) {
        return Err("`data` is required".into());
    }
    if let Some(version) = text("metadataVersion", false)? {
        if version != "1" {
            return Err(format!("`metadataVersion` is `{version}`; Event Grid's schema is version 1"));
        }
    }
    let mut attributes = serde_json::Map::new();
    attributes.insert("specversion".into(), SPEC_VERSION.into());
    attributes.insert("id".into(), id.into());
    attributes.insert("source".into(), text("topic", false)?.unwrap_or_else(|| default_source.to_owned()).into());
    attributes.insert("type".into(), ty.into());
    attributes.insert("subject".into(), subject.into());
    attributes.insert("time".into(), time.into());
    attributes.insert("datacontenttype".into(), "application/json".into());
    attributes.insert(DATA_VERSION_ATTRIBUTE.into(), data_version.into());
    attributes.insert("data".into(), item["data"].clone());
    CloudEvent::from_json(Value::Object(attributes).to_string().as_bytes()).map_err(|e| e.to_string())
}

/// The CloudEvents webhook abuse-protection handshake for an Event Grid receiver.
pub(crate) async fn options_eventgrid(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let grid = receiver(&state, &name)?;
    crate::webhooks::handshake(&name, &grid.allowed_origins, grid.allowed_rate, &headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid_event() -> Value {
        json!({
            "id": "e-1", "topic": "/subscriptions/x/resourceGroups/nop/providers/Microsoft.EventGrid/topics/noise",
            "subject": "sensors/s-1", "eventType": "Nop.Noise.Reading", "eventTime": "2026-12-01T10:00:00.1234567Z",
            "data": {"db": 71.5}, "dataVersion": "1.0", "metadataVersion": "1"
        })
    }

    #[test]
    fn an_event_grid_event_maps_to_a_cloudevent() {
        let event = from_event_grid(&grid_event(), "urn:x").unwrap();
        assert_eq!(event.id, "e-1");
        assert!(event.source.ends_with("/topics/noise"));
        assert_eq!(event.ty, "Nop.Noise.Reading");
        assert_eq!(event.subject.as_deref(), Some("sensors/s-1"));
        assert_eq!(event.time.as_deref(), Some("2026-12-01T10:00:00.1234567Z"));
        assert_eq!(event.extensions.get(DATA_VERSION_ATTRIBUTE), Some(&herald_protocol::ExtensionValue::from("1.0")));
        assert_eq!(event.data.unwrap()["db"], 71.5);
        let mut no_topic = grid_event();
        no_topic.as_object_mut().unwrap().remove("topic");
        assert_eq!(from_event_grid(&no_topic, "urn:herald:eventgrid:nop").unwrap().source, "urn:herald:eventgrid:nop");
    }

    #[test]
    fn missing_or_wrong_fields_are_named() {
        for field in ["id", "eventType", "subject", "eventTime", "data", "dataVersion"] {
            let mut event = grid_event();
            event.as_object_mut().unwrap().remove(field);
            assert!(from_event_grid(&event, "urn:x").unwrap_err().contains(field), "{field}");
        }
        let mut event = grid_event();
        event["metadataVersion"] = json!("2");
        assert!(from_event_grid(&event, "urn:x").unwrap_err().contains("metadataVersion"));
        event = grid_event();
        event["eventTime"] = json!("yesterday");
        assert!(from_event_grid(&event, "urn:x").unwrap_err().contains("time"));
    }

    #[test]
    fn keys_compare_in_constant_time_by_length_first() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
