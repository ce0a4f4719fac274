//! Between envelopes and `CustomEvent.detail` objects: the one place where event data
//! crosses the JS boundary.

use herald_protocol::CloudEvent;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use wasm_bindgen::JsValue;

use crate::Error;

/// The envelope as a plain JS object, exactly its CloudEvents JSON form.
pub(crate) fn encode<T: Serialize>(event: &CloudEvent<T>) -> Result<JsValue, Error> {
    event
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| Error::Encode(e.to_string()))
}

/// A `detail` object as an envelope with payload type `T`.
pub(crate) fn decode<T: DeserializeOwned>(detail: &JsValue) -> Result<CloudEvent<T>, String> {
    if !detail.is_object() {
        return Err("`detail` is not an object".to_owned());
    }
    serde_wasm_bindgen::from_value(detail.clone()).map_err(|e| e.to_string())
}

/// Any JS value as JSON, for reporting it; what JSON cannot express becomes a string.
pub(crate) fn to_json(value: &JsValue) -> Value {
    js_sys::JSON::stringify(value)
        .ok()
        .and_then(|s| s.as_string())
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_else(|| Value::String(format!("{value:?}")))
}
