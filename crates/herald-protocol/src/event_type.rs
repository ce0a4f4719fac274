use serde::de::DeserializeOwned;
use serde::Serialize;

/// A typed event: a stable name, a version and a payload type.
///
/// Implement it on a marker type, or on the payload itself with `type Data = Self`. It is
/// pure data, so producers, the gateway and browser modules share one definition of an
/// event contract.
///
/// ```
/// use herald_protocol::Event;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct NoiseReading { sensor: String, db: f64, at: u64 }
///
/// impl Event for NoiseReading {
///     const TYPE: &'static str = "nop.noise.reading";
///     type Data = Self;
/// }
/// assert_eq!(NoiseReading::VERSION, 1);
/// ```
pub trait Event: 'static {
    /// The CloudEvents `type`, dot-separated segments: `nop.noise.reading`.
    const TYPE: &'static str;
    /// The version of the payload's contract.
    const VERSION: u32 = 1;
    /// The payload carried in the envelope's `data`.
    type Data: Serialize + DeserializeOwned + 'static;
}

/// An event that asks for an answer: request/response on top of events.
///
/// ```
/// use herald_protocol::{Event, Request};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct CurrentLevel { sensor: String }
/// impl Event for CurrentLevel {
///     const TYPE: &'static str = "nop.noise.level.get";
///     type Data = Self;
/// }
/// impl Request for CurrentLevel {
///     type Reply = f64;
/// }
/// ```
pub trait Request: Event {
    /// The payload of the answer.
    type Reply: Serialize + DeserializeOwned + 'static;
}
