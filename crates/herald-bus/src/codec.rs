//! Envelopes as JSON text: what crosses the JS boundary (see `js` for the other side),
//! read and written by herald's own codec (`json`).

use herald_protocol::CloudEvent;
use serde::Serialize;
use wasm_bindgen::JsValue;

use crate::json::{self, RawJsonBuf};
use crate::{js, Error};

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

/// Any received event as JSON text, for reporting it: its envelope's text when that is
/// JSON, else a JSON string saying what its `detail` is.
pub(crate) fn to_raw(json: Option<&str>, detail: impl FnOnce() -> JsValue) -> RawJsonBuf {
    if let Some(raw) = json.and_then(|json| RawJsonBuf::new(json).ok()) {
        return raw;
    }
    let detail = detail();
    RawJsonBuf::string(&detail.as_string().unwrap_or_else(|| js::herald_text_of(&detail)))
}
