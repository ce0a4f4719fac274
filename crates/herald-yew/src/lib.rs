//! # herald-yew
//!
//! [yew](https://yew.rs) hooks for herald's event bus, so that a yew component takes part in
//! the page's event traffic like any other micro-frontend.
//!
//! - [`use_event`]: the latest payload of a typed event, re-rendering on each new one.
//! - [`use_publish`]: a [`Callback`] that publishes a typed event.
//!
//! Each subscription is owned by an effect and dropped in its teardown, so an unmounted
//! component leaves no listener behind.
//!
//! ```no_run
//! use herald_bus::Event;
//! use herald_yew::{use_event, use_publish};
//! use serde::{Deserialize, Serialize};
//! use yew::prelude::*;
//!
//! #[derive(Clone, PartialEq, Serialize, Deserialize)]
//! struct SensorSelected { sensor: String }
//! impl Event for SensorSelected {
//!     const TYPE: &'static str = "nop.sensor.selected";
//!     type Data = Self;
//! }
//!
//! #[function_component]
//! fn Selected() -> Html {
//!     let selected = use_event::<SensorSelected>();
//!     let select = use_publish::<SensorSelected>();
//!     let onclick = Callback::from(move |_| select.emit(SensorSelected { sensor: "s-1".into() }));
//!     html! {
//!         <button {onclick}>{ selected.map(|s| s.sensor.clone()).unwrap_or_default() }</button>
//!     }
//! }
//! ```
//!
//! ## Features
//! This crate has no optional features.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::rc::Rc;

use herald_bus::{Bus, Event};
use yew::prelude::*;

/// The latest payload of event type `E` on the page-wide bus, `None` until one arrives.
///
/// The component re-renders on every new event. The subscription is made by an effect and
/// dropped in its teardown, so it lives exactly as long as the component.
#[hook]
pub fn use_event<E>() -> Option<Rc<E::Data>>
where
    E: Event,
    E::Data: Clone,
{
    let latest = use_state(|| None::<Rc<E::Data>>);
    {
        let latest = latest.setter();
        use_effect_with((), move |_| {
            let subscription = Bus::page().subscribe::<E>(move |received| {
                latest.set(Some(Rc::new(received.data.clone())));
            });
            move || drop(subscription)
        });
    }
    (*latest).clone()
}

/// A callback that publishes event type `E` on the page-wide bus.
///
/// A payload that cannot be encoded is reported on the console.
#[hook]
pub fn use_publish<E: Event>() -> Callback<E::Data> {
    use_callback((), |data: E::Data, _| {
        if let Err(error) = Bus::page().publish::<E>(&data) {
            web_sys::console::error_1(&error.to_string().into());
        }
    })
}
