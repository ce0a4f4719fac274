use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Event;

/// An event that a subscriber could not take, and why: the payload of `herald.deadletter`.
///
/// Bad input is never a panic: an event whose payload does not decode as the subscriber's
/// type (a foreign module sent garbage, a version mismatch) becomes a dead letter, and
/// everything else goes on.
///
/// `E` is how the original event is held: a [`serde_json::Value`] by default (what a
/// subscriber of `herald.deadletter` reads); herald's browser bus reports the event it
/// could not take as its JSON text, unread (`herald_bus::json::RawJsonBuf`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter<E = Value> {
    /// What was wrong, in words.
    pub reason: String,
    /// The event type the subscriber expected.
    pub subscriber: String,
    /// The payload version the subscriber understands.
    pub version: u32,
    /// The original event as it was received (the DOM event's `detail` as JSON).
    pub event: E,
}

impl<E: Serialize + DeserializeOwned + 'static> Event for DeadLetter<E> {
    const TYPE: &'static str = "herald.deadletter";
    type Data = Self;
}

/// A micro-frontend's wasm module panicked: the payload of `herald.mfe.crashed`.
///
/// The module's elements show a fallback and the module is never called again; the rest
/// of the page goes on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MfeCrashed {
    /// The crashed module, named by the tags it defined (comma-separated).
    pub module: String,
    /// The tag of the element whose callback panicked, if it was one.
    pub element: Option<String>,
    /// The panic message.
    pub message: String,
}

impl Event for MfeCrashed {
    const TYPE: &'static str = "herald.mfe.crashed";
    type Data = Self;
}
