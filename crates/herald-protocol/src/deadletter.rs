use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Event;

/// An event that a subscriber could not take, and why: the payload of `herald.deadletter`.
///
/// Bad input is never a panic: an event whose payload does not decode as the subscriber's
/// type (a foreign module sent garbage, a version mismatch) becomes a dead letter, and
/// everything else goes on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// What was wrong, in words.
    pub reason: String,
    /// The event type the subscriber expected.
    pub subscriber: String,
    /// The payload version the subscriber understands.
    pub version: u32,
    /// The original event as it was received (the DOM event's `detail` as JSON).
    pub event: Value,
}

impl Event for DeadLetter {
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
