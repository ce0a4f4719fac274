//! # herald-bus
//!
//! The typed event bus of herald's micro-frontends. Its channel is the browser's own
//! [`CustomEvent`](https://developer.mozilla.org/docs/Web/API/CustomEvent): every event is
//! dispatched on a DOM [`EventTarget`](web_sys::EventTarget), so micro-frontends compiled into *different* wasm
//! modules, or written in plain JavaScript, exchange events without ever calling each other.
//!
//! - An event type is a marker type implementing [`Event`] (from `herald-protocol`): a stable `TYPE` name such as
//!   `nop.noise.reading`, a version, and a serde `Data` payload.
//! - [`Bus::publish`] wraps the payload in a [`CloudEvent`] envelope and dispatches it as a
//!   `CustomEvent` named `herald:<TYPE>` whose `detail` is the envelope as a plain object.
//! - [`Bus::subscribe`] listens for that name, decodes the payload once into `Data`, and
//!   hands the handler a [`Received`] event. The returned [`Subscription`] unsubscribes when
//!   dropped.
//! - Publishing from inside a handler continues the handled event's correlation chain
//!   (`correlationid`, `causationid`); publishing elsewhere starts a new chain.
//!
//! `docs/protocol.md` in the repository specifies the DOM protocol for other languages.
//!
//! ```no_run
//! use herald_bus::{Bus, Event};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct SensorSelected { sensor: String }
//!
//! impl Event for SensorSelected {
//!     const TYPE: &'static str = "nop.sensor.selected";
//!     type Data = Self;
//! }
//!
//! let bus = Bus::page().with_source("/mfe/nop-sensor-list");
//! let subscription = bus.subscribe::<SensorSelected>(|event| {
//!     web_sys::console::log_1(&format!("selected {}", event.data.sensor).into());
//! });
//! bus.publish::<SensorSelected>(&SensorSelected { sensor: "s-1".into() })?;
//! drop(subscription); // no more deliveries
//! # Ok::<(), herald_bus::Error>(())
//! ```
//!
//! ## Features
//! - `bench`: exposes `herald_bus::bench`, herald's DOM transport without envelopes or
//!   decoding, for measuring what the rest costs (`cargo xtask bench bus`); not for
//!   applications.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "bench")]
#[doc(hidden)]
pub mod bench;
mod bus;
mod codec;
mod error;
mod js;
pub mod json;
mod listener;
mod request;
mod retention;
mod subscribe;

pub use bus::{handled, Bus, Received, DOM_EVENT_PREFIX, DOM_WILDCARD_EVENT};
pub use error::{Error, JsError};
pub use listener::{live_listeners, LiveListener};

/// Marks this wasm module as crashed: its bus listeners stop calling into it, for good.
/// A wasm instance that panicked must not run again (its state may be half-updated);
/// `herald-element`'s panic hook calls this.
///
/// The module's id ([`module_id`]) is also added to the page's set of crashed modules
/// (`globalThis[Symbol.for("herald.bus.v1")].crashed`), so that other modules can take
/// over what it owned (herald-push's connection, for one).
pub fn mark_crashed() {
    js::herald_mark_crashed(&module_id());
}

/// This wasm module's id on the page: random, fixed for the module's life, the prefix of
/// the ids of the events it publishes.
pub fn module_id() -> String {
    bus::module_id()
}

/// Names this wasm module on the page: adds `name` (herald-element adds each tag it
/// defines) to the module's entry in the page state's `names` (docs/protocol.md §2.6), so
/// that devtools say `nop-sensor-list` where they would say a random module id.
pub fn name_module(name: &str) {
    js::herald_name_module(&bus::module_id(), name);
}

/// The page's `window`; `None` where there is none (a worker).
///
/// Unlike `web_sys::window()`, it does not search `globalThis`, `self` and `global` with a
/// fallback, code that every module calling it would otherwise ship.
pub fn window() -> Option<web_sys::Window> {
    js::herald_window()
}
pub use herald_protocol::{CloudEvent, DeadLetter, Event, MfeCrashed, Request};
pub use request::{
    PendingRequest, RequestBuilder, RequestCancelled, RequestError, CANCEL_TYPE, DEFAULT_TIMEOUT,
    REPLY_ERROR_TYPE, REPLY_TYPE,
};
pub use retention::Retention;
pub use subscribe::{Irregularity, Subscription, SubscriptionBuilder};
