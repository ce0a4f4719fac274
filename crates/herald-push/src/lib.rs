//! # herald-push
//!
//! The browser's client of the herald gateway's server push stream. It opens
//! `GET /events/stream?topic=…` as Server-Sent Events and hands every event to a callback
//! as a decoded [`CloudEvent`], with the stream position the gateway assigned.
//!
//! The browser's `EventSource` reconnects by itself and resends the last `id:` it saw as
//! `Last-Event-ID`, so the gateway resumes the stream where it broke off.
//!
//! ```no_run
//! use herald_push::PushStream;
//!
//! let stream = PushStream::open("/events/stream", &["nop.noise.*"], |delivery| {
//!     let event = &delivery.event;
//!     web_sys::console::log_1(&format!("{} at {}", event.ty, delivery.position).into());
//! })?;
//! // ... later: dropping the handle closes the connection.
//! drop(stream);
//! # Ok::<(), herald_push::Error>(())
//! ```
//!
//! ## Features
//! This crate has no optional features.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod stream;

pub use error::Error;
pub use herald_protocol::{CloudEvent, Position};
pub use stream::{stream_url, Delivery, PushStream};
