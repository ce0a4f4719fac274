//! # herald-push
//!
//! The browser's side of the herald gateway's push stream: server events arrive **on the
//! bus**, so a micro-frontend subscribes the same way to an event from the next element
//! and to one from the server.
//!
//! - [`Push::subscribe`] declares the topics a module needs; the **page runtime**
//!   (`js/herald-runtime.js`, installed once per page by the first module that brings
//!   it) keeps one connection per stream for all its modules, however independently
//!   compiled, in whatever herald version (docs/protocol.md §2.10). A module carries
//!   only its requests to it: no push client, no hash maps, no float formatting.
//! - The connection resumes from the last position after any break (network, gateway
//!   restart, `herald.slow`, `herald.drain`), with exponential backoff and jitter
//!   ([`Backoff`]); it pauses while the browser is offline.
//! - Exactly once into the bus: an event already delivered (by position, or by `source`
//!   and `id`) is not delivered again.
//! - `herald.connection` ([`ConnectionState`], retained) tells MFEs the connection's
//!   state; `herald.reset` ([`StreamReset`]) tells them to resync.
//! - [`Push::publish`] sends an event to the gateway, continuing the correlation chain;
//!   [`Push::log`] logs to the gateway's central log, with the chain's correlation id.
//!
//! ```no_run
//! use herald_push::Push;
//!
//! let push = Push::new("/events/stream")?;
//! let interest = push.subscribe(&["nop.noise.*"])?;
//! // ... events of type nop.noise.* now arrive on herald_bus::Bus::page().
//! drop(interest); // withdraws the topics
//! # Ok::<(), herald_push::Error>(())
//! ```
//!
//! ## Features
//! - `embedded-runtime` (off): the module's glue carries the page runtime and installs it
//!   before the module starts. By default the runtime is loaded once per page from
//!   `herald-runtime.js` beside the module's glue (the page's own copy, if it installed
//!   one first); `cargo xtask mfe` and `cargo xtask dist` put the file there. The
//!   browser tests of crates that use herald-push turn it on.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backoff;
mod client;
mod contracts;
#[cfg(feature = "embedded-runtime")]
mod embedded;
mod error;
mod js;

pub use backoff::Backoff;
pub use client::{stream_url_of, Interest, Level, Push, Transport, STREAM_META};
pub use herald_protocol::control::POSITION_ATTRIBUTE;
pub use contracts::{ConnectionState, StreamReset};
pub use error::Error;
pub use herald_protocol::{CloudEvent, Position};
