//! Envelopes as JSON text: what crosses the JS boundary (see `js` for the other side),
//! read and written by herald's own codec (`json`).

use herald_protocol::CloudEvent;
use serde::Serialize;

use crate::json::{self, RawJson};
use crate::Error;

/// The envelope as its CloudEvents JSON text.
pub(crate) fn encode<T: Serialize>(event: &CloudEvent<T>) -> Result<String, Error> {
    json::to_string(event).map_err(|e| Error::Encode(e.to_string()))
}

/// An envelope's JSON text as an envelope, its payload left as JSON text.
pub(crate) fn decode(json: &str) -> Result<CloudEvent<RawJson<'_>>, String> {
    json::envelope(json).map_err(|e| e.to_string())
}

/// An envelope's bytes as they came from JavaScript, as text: `None` when there are none
/// or they are not UTF-8 (no envelope, then).
pub(crate) fn text(utf8: Option<Vec<u8>>) -> Option<String> {
    utf8.and_then(|bytes| String::from_utf8(bytes).ok())
}
