//! Envelopes as JSON text: what crosses the JS boundary (see `js` for the other side),
//! read and written by herald's own codec (`json`).

use herald_protocol::CloudEvent;
use serde::Serialize;
use serde_json::Value;
use wasm_bindgen::JsValue;

use crate::{json, Error};

/// The envelope as its CloudEvents JSON text.
pub(crate) fn encode<T: Serialize>(event: &CloudEvent<T>) -> Result<String, Error> {
    json::to_string(event).map_err(|e| Error::Encode(e.to_string()))
}

/// An envelope's JSON text as an envelope with payload type `T`.
pub(crate) fn decode<'a, T: serde::Deserialize<'a>>(
    json: &'a str,
) -> Result<CloudEvent<T>, String> {
    json::from_str(json).map_err(|e| e.to_string())
}

/// Any received `detail` as JSON, for reporting it: its JSON text when it has one, else
/// what JSON cannot express as a string.
pub(crate) fn to_json(json: Option<&str>, detail: impl FnOnce() -> JsValue) -> Value {
    match json.and_then(|json| json::from_str(json).ok()) {
        Some(value) => value,
        None => {
            let detail = detail();
            Value::String(detail.as_string().unwrap_or_else(|| format!("{detail:?}")))
        }
    }
}
