//! The gateway's control messages and the page runtime's own events, as typed contracts:
//! one home for every message of docs/protocol.md §2.10, §3.2 and §3.3 that is not an
//! application's event. The gateway builds its messages from these types and the browser
//! crates read them with the same types.
//!
//! ```
//! use herald_protocol::control::{Ack, StreamNotice, DRAIN};
//! use herald_protocol::{Event, Position};
//!
//! let ack = Ack { id: "r-1".into(), source: "/sensors/s-1".into(), position: "7-42".parse()? };
//! assert_eq!(serde_json::to_value(&ack).unwrap()["position"], "7-42");
//! assert_eq!(<Ack as Event>::TYPE, "herald.ack");
//! let drain = StreamNotice::new("the gateway is shutting down");
//! assert_eq!(DRAIN, "herald.drain");
//! # let _ = drain;
//! # Ok::<(), herald_protocol::Error>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::{Event, Position};

/// The extension attribute that carries a server event's stream position: on every
/// WebSocket delivery (§3.3) and on every server event the page runtime dispatches on
/// the bus (§2.10).
pub const POSITION_ATTRIBUTE: &str = "heraldposition";

/// The `source` of the gateway's own messages.
pub const GATEWAY_SOURCE: &str = "urn:herald:gateway";

/// The `source` of the page runtime's own events (`herald.connection`, the
/// `herald.subscribe` it sends).
pub const PUSH_SOURCE: &str = "urn:herald:push";

/// The type of the notice that ends a stream because the gateway shuts down.
pub const DRAIN: &str = "herald.drain";
/// The type of the notice that ends a stream that fell too far behind.
pub const SLOW: &str = "herald.slow";

/// The payload of `herald.slow` and `herald.drain`: the stream ends; resume from the last
/// position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamNotice {
    /// Why, in words.
    pub reason: String,
}

impl StreamNotice {
    /// A notice saying `reason`.
    pub fn new(reason: impl Into<String>) -> StreamNotice {
        StreamNotice { reason: reason.into() }
    }
}

/// The gateway could not resume a stream from the position asked for (another epoch,
/// ahead of its log, or events removed by retention): whatever a consumer built from
/// earlier events may be out of date, and it should resync. Type `herald.reset`; its
/// stream position (SSE `id:`, or `heraldposition`) is `head`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamReset {
    /// The position asked to resume from.
    pub requested: Position,
    /// The position the stream goes on from.
    pub head: Position,
    /// Why.
    pub reason: String,
    /// Over a WebSocket: the subscription it is about (its name, §3.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
}

impl Event for StreamReset {
    const TYPE: &'static str = "herald.reset";
    type Data = Self;
}

/// A WebSocket subscription request (§3.3): `topic` (one pattern) or `topics` (a
/// non-empty list), optionally a `subject` and a position to resume `from`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscribe {
    /// One pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Several patterns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topics: Option<Vec<String>>,
    /// Only events with this `subject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Resume after this position (`""` or absent: live only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

impl Event for Subscribe {
    const TYPE: &'static str = "herald.subscribe";
    type Data = Self;
}

/// Ends a WebSocket subscription (§3.3): the same `topic` or `topics` it was made with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsubscribe {
    /// One pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Several patterns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topics: Option<Vec<String>>,
}

impl Event for Unsubscribe {
    const TYPE: &'static str = "herald.unsubscribe";
    type Data = Self;
}

/// The answer to `herald.subscribe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscribed {
    /// The subscription's name: the pattern, or the patterns joined by spaces.
    pub topic: String,
    /// The log's head when the subscription was made.
    pub head: Position,
}

impl Event for Subscribed {
    const TYPE: &'static str = "herald.subscribed";
    type Data = Self;
}

/// The answer to `herald.unsubscribe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsubscribed {
    /// The subscription's name.
    pub topic: String,
    /// Whether there was such a subscription.
    pub was_subscribed: bool,
}

impl Event for Unsubscribed {
    const TYPE: &'static str = "herald.unsubscribed";
    type Data = Self;
}

/// The gateway stored an event sent over the WebSocket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The event's `id`.
    pub id: String,
    /// The event's `source`.
    pub source: String,
    /// Where it was stored.
    pub position: Position,
}

impl Event for Ack {
    const TYPE: &'static str = "herald.ack";
    type Data = Self;
}

/// The gateway refused a WebSocket message: type `herald.error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    /// The refused message's `id`; `null` when it was not a CloudEvent.
    pub id: Option<String>,
    /// The HTTP status the same request would have had over HTTP.
    pub status: u16,
    /// What was wrong.
    pub detail: String,
}

impl Event for Refused {
    const TYPE: &'static str = "herald.error";
    type Data = Self;
}

/// The state of the page's connection to a gateway stream, published by the page runtime
/// at every change and retained (last value), so a module that loads later learns it at
/// once. Type `herald.connection` (docs/protocol.md §2.10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionState {
    /// The stream URL (absolute, without query).
    pub url: String,
    /// `connecting`, `open`, `reconnecting` (waiting `retry_ms` before attempt
    /// `attempt`), `offline` (paused until the browser is online), `following` (another
    /// tab of the browser holds the connection and relays its events) or `closed` (no
    /// module needs the stream).
    pub state: String,
    /// Reconnection attempts since the last open connection.
    pub attempt: u32,
    /// While `reconnecting`: the delay before the next attempt.
    pub retry_ms: Option<u64>,
    /// The last position delivered into the bus.
    pub position: Option<String>,
    /// The topic patterns the connection carries.
    pub topics: Vec<String>,
}

impl Event for ConnectionState {
    const TYPE: &'static str = "herald.connection";
    type Data = Self;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_wire_shapes_are_those_of_the_protocol() {
        let reset = StreamReset {
            requested: "1-4".parse().unwrap(),
            head: "2-0".parse().unwrap(),
            reason: "another epoch".into(),
            topic: None,
        };
        assert_eq!(
            serde_json::to_value(&reset).unwrap(),
            json!({"requested": "1-4", "head": "2-0", "reason": "another epoch"})
        );
        let subscribe: Subscribe = serde_json::from_value(json!({"topics": ["a.*"], "from": "1-2"})).unwrap();
        assert_eq!(subscribe.topics.as_deref(), Some(&["a.*".to_owned()][..]));
        assert_eq!(serde_json::to_value(&subscribe).unwrap(), json!({"topics": ["a.*"], "from": "1-2"}));
        let refused = Refused { id: None, status: 400, detail: "x".into() };
        assert_eq!(serde_json::to_value(&refused).unwrap(), json!({"id": null, "status": 400, "detail": "x"}));
        let state: ConnectionState = serde_json::from_value(json!({
            "url": "http://h/events/stream", "state": "open", "attempt": 0, "retry_ms": null,
            "position": null, "topics": ["nop.>"]
        }))
        .unwrap();
        assert_eq!(state.state, "open");
    }
}
