use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::Event;

/// An event that a subscriber could not take, and why: the payload of `herald.deadletter`.
///
/// Bad input is never a panic: an event whose payload does not decode as the subscriber's
/// type (a foreign module sent garbage, a version mismatch) becomes a dead letter, and
/// everything else goes on.
///
/// The original event is kept as its JSON text, unread (it may be anything): parse it when
/// you need to look inside.
///
/// ```
/// use herald_protocol::DeadLetter;
///
/// let letter: DeadLetter = serde_json::from_str(r#"{"reason": "payload: missing field `db`",
///     "subscriber": "nop.noise.reading", "version": 1,
///     "event": {"id": "r-9", "data": {"sensor": "s-1"}}}"#)?;
/// let original: serde_json::Value = serde_json::from_str(letter.event.get())?;
/// assert_eq!(original["id"], "r-9");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeadLetter {
    /// What was wrong, in words.
    pub reason: String,
    /// The event type the subscriber expected.
    pub subscriber: String,
    /// The payload version the subscriber understands.
    pub version: u32,
    /// The original event as it was received, as JSON text: the DOM event's envelope, or
    /// a JSON string describing a `detail` that is not JSON.
    pub event: Box<RawValue>,
}

impl PartialEq for DeadLetter {
    fn eq(&self, other: &Self) -> bool {
        self.reason == other.reason
            && self.subscriber == other.subscriber
            && self.version == other.version
            && self.event.get() == other.event.get()
    }
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
