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
//! Callbacks receive the host element instead of the value storing it, so that a detached
//! element can be garbage-collected. Release DOM listeners and bus subscriptions in
//! [`CustomElement::disconnected`] and make them again in [`CustomElement::connected`]:
//! an element moved in the DOM is disconnected and connected again.
//!
//! ```no_run
//! use herald_element::{define, CustomElement};
//! use web_sys::HtmlElement;
//!
//! struct Hello;
//!
//! impl CustomElement for Hello {
//!     fn observed_attributes() -> &'static [&'static str] {
//!         &["name"]
//!     }
//!     fn create(_host: &HtmlElement) -> Self {
//!         Hello
//!     }
//!     fn attribute_changed(&mut self, host: &HtmlElement, _: &str, _: Option<String>, new: Option<String>) {
//!         host.set_text_content(Some(&format!("Hello, {}!", new.as_deref().unwrap_or("world"))));
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

pub use element::{define, is_defined, CustomElement, ElementInstance};
pub use error::Error;
