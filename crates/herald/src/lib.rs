//! # herald
//!
//! A Rust/WebAssembly micro-frontend event runtime. A page is assembled from independent
//! micro-frontends — custom elements, each its own wasm module (or plain JavaScript) — that
//! never call each other: they talk through a typed event bus whose channel is the
//! browser's own `CustomEvent`s, and receive server events from herald's push gateway.
//!
//! This crate re-exports the browser crates behind features:
//!
//! | feature   | default | module              | crate            |
//! |-----------|---------|---------------------|------------------|
//! | (always)  | yes     | [`protocol`]        | `herald-protocol` |
//! | `bus`     | yes     | `bus`               | `herald-bus`     |
//! | `element` | yes     | `element`           | `herald-element` |
//! | `push`    | yes     | `push`              | `herald-push`    |
//! | `yew`     | no      | `yew`               | `herald-yew`     |
//!
//! ```no_run
//! use herald::bus::{Bus, Event};
//! use herald::element::{define, CustomElement};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Ping;
//! impl Event for Ping {
//!     const TYPE: &'static str = "demo.ping";
//!     type Data = Self;
//! }
//!
//! struct PingButton;
//! impl CustomElement for PingButton {
//!     fn create(_host: &herald::element::Host) -> Self { PingButton }
//!     fn connected(&mut self, host: &mut herald::element::Host) {
//!         host.set_html("ping");
//!         Bus::page().publish::<Ping>(&Ping).ok();
//!     }
//! }
//! define::<PingButton>("demo-ping")?;
//! # Ok::<(), herald::element::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use herald_protocol as protocol;

#[cfg(feature = "bus")]
pub use herald_bus as bus;

#[cfg(feature = "element")]
pub use herald_element as element;

#[cfg(feature = "push")]
pub use herald_push as push;

#[cfg(feature = "yew")]
pub use herald_yew as yew;
