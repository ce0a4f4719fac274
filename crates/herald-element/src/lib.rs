//! # herald-element
//!
//! Defines [custom elements](https://developer.mozilla.org/docs/Web/API/Web_components/Using_custom_elements)
//! from Rust types. A herald micro-frontend is a custom element backed by its own wasm
//! module: the page writes `<nop-noise-meter></nop-noise-meter>` and the module that
//! defined the tag takes over that element's life.
//!
//! A Rust type cannot extend `HTMLElement`, so one small JavaScript class per tag (a shim
//! of a dozen lines) forwards the lifecycle callbacks to a Rust value created for each
//! element. That value lives exactly as long as its element: nothing is leaked per
//! instance. The one closure a definition needs lives as long as the definition itself,
//! which the browser keeps for the page's life.
//!
//! Callbacks receive a [`Host`] — the element, the root it renders into, and a bag of
//! handles — instead of the value storing the element, so that a detached element can be
//! garbage-collected. Whatever `connected` gives to [`Host::keep`] (bus subscriptions,
//! push streams, listeners) is dropped when the element is disconnected: an element moved
//! in the DOM is disconnected and connected again, and re-subscribes.
//!
//! An element may render into an open or closed shadow root with its own CSS, applied as
//! one constructable stylesheet per tag: page CSS does not leak in, its CSS does not leak
//! out.
//!
//! ```no_run
//! use herald_element::{define, CustomElement, Host, Shadow};
//!
//! struct Hello;
//!
//! impl CustomElement for Hello {
//!     const SHADOW: Shadow = Shadow::Open;
//!     fn styles() -> &'static str {
//!         "p { color: rebeccapurple }"
//!     }
//!     fn observed_attributes() -> &'static [&'static str] {
//!         &["name"]
//!     }
//!     fn create(_host: &Host) -> Self {
//!         Hello
//!     }
//!     fn attribute_changed(&mut self, host: &mut Host, _: &str, _: Option<String>, new: Option<String>) {
//!         host.set_html(&format!("<p>Hello, {}!</p>", new.as_deref().unwrap_or("world")));
//!     }
//! }
//!
//! define::<Hello>("x-hello")?;
//! # Ok::<(), herald_element::Error>(())
//! ```
//!
//! ## Features
//! This crate has no optional features.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod element;
mod error;

pub use element::{
    define, define_once, from_js, is_defined, live_elements, to_js, CustomElement, ElementInstance, Host, Shadow,
};
pub use error::Error;
