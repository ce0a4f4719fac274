//! The events herald-push itself publishes on the bus.

use herald_protocol::Event;
use serde::{Deserialize, Serialize};

/// The state of the page's connection to a gateway stream: published by the module that
/// owns the connection at every change, retained (last value), so an MFE that loads
/// later learns it at once. Type `herald.connection`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// The gateway could not resume the stream from the page's last position (another epoch,
/// ahead of its log, or events removed by retention): whatever an MFE built from earlier
/// events may be out of date, and it should resync. Published on the bus as the gateway
/// sent it. Type `herald.reset`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamReset {
    /// The position the page asked to resume from.
    pub requested: String,
    /// The position the stream goes on from.
    pub head: String,
    /// Why.
    pub reason: String,
}

impl Event for StreamReset {
    const TYPE: &'static str = "herald.reset";
    type Data = Self;
}
