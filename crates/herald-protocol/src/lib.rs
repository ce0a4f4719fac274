//! # herald-protocol
//!
//! The wire types that herald's browser crates and its push gateway share. Pure Rust, no
//! I/O, compiled both natively and to `wasm32-unknown-unknown`, so that the browser and the
//! server agree on every byte by construction.
//!
//! - [`Event`], [`Request`]: typed event contracts: a stable type name, a version, a
//!   payload type, and for requests a reply type.
//! - [`DeadLetter`]: the payload of `herald.deadletter`, for events a subscriber could not take.
//! - [`CloudEvent`]: the event envelope, CloudEvents 1.0 in its JSON format, with herald's
//!   two extensions `correlationid` and `causationid`.
//! - [`TopicPattern`]: NATS-style matching of event types by dot-separated segments
//!   (`*` matches one segment, `>` the rest).
//! - [`Position`]: a place in the gateway's stream, written `EPOCH-SEQ`.
//! - [`SlidingWindow`], [`ThresholdAlert`]: stateful consumers over a time window
//!   ("more than 5 readings above 85 dB within 60 s per sensor").
//! - [`control`]: the gateway's control messages (`herald.ack`, `.error`, `.reset`,
//!   `.slow`, `.drain`, `.subscribe(d)`, `.unsubscribe(d)`) and the page runtime's
//!   `herald.connection`, as typed contracts both sides use.
//! - [`Error`]: the one error type of this crate.
//!
//! ```
//! use herald_protocol::{CloudEvent, Position, TopicPattern};
//!
//! let event = CloudEvent::from_json(br#"{
//!     "specversion": "1.0", "id": "r-1", "source": "/sensors/s-1",
//!     "type": "nop.noise.reading", "data": {"sensor": "s-1", "db": 71.5}
//! }"#)?;
//! let pattern: TopicPattern = "nop.noise.*".parse()?;
//! assert!(pattern.matches(&event.ty));
//! assert_eq!(event.correlation_id(), "r-1"); // a new chain starts at its first event
//!
//! let position: Position = "7-42".parse()?;
//! assert_eq!(position.next().to_string(), "7-43");
//! # Ok::<(), herald_protocol::Error>(())
//! ```
//!
//! ## Features
//! This crate has no optional features.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod control;
mod deadletter;
mod error;
mod event;
mod event_serde;
mod event_type;
mod extensions;
mod position;
mod topic;
mod window;

pub use deadletter::{DeadLetter, MfeCrashed};
pub use error::Error;
pub use event_serde::Attributes;
pub use event::{days_from_civil, is_valid_origin, rfc3339_from_unix_millis, unix_millis_from_rfc3339, CloudEvent, EXT_DATAVERSION, EXT_REPLYTO, EXT_SEQUENCE, SPEC_VERSION};
pub use event_type::{Event, Request};
pub use extensions::{ExtensionValue, Extensions};
pub use position::Position;
pub use topic::TopicPattern;
pub use window::{Crossing, SlidingWindow, ThresholdAlert, WindowStats};

/// Media type of a structured-mode CloudEvent (JSON format).
pub const CLOUDEVENTS_JSON: &str = "application/cloudevents+json";
/// Media type of a batch of CloudEvents (JSON format).
pub const CLOUDEVENTS_BATCH_JSON: &str = "application/cloudevents-batch+json";
