//! # herald-yew
//!
//! [yew](https://yew.rs) hooks for herald's event bus, so that a yew component takes part in
//! the page's event traffic like any other micro-frontend.
//!
//! - [`define_component`]: a yew component becomes a custom element: attributes map to
//!   props (re-rendering on change), it renders into the element's shadow root, and it is
//!   destroyed when the element is disconnected.
//! - [`use_event`]: the latest payload of a typed event (retained events included),
//!   re-rendering on each new one.
//! - [`use_subscription`]: calls a function for every event of a type.
//! - [`use_publish`]: a [`Callback`] that publishes a typed event.
//! - [`use_request`]: request/response from a component, with its state.
//! - [`use_stream`]: events of a type from the gateway's push stream.
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

use herald_bus::{Bus, Event, Received, Request, RequestError};
use yew::prelude::*;

mod element;

pub use element::{define_component, AttributeProps};

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

/// Calls `f` for every event of type `E` on the page-wide bus (retained events first), for
/// as long as the component lives. The subscription is made once, by an effect, and dropped
/// in its teardown; it always calls the `f` of the latest render.
#[hook]
pub fn use_subscription<E, F>(f: F)
where
    E: Event,
    F: Fn(&Received<E>) + 'static,
{
    let latest = use_mut_ref(|| None::<Rc<dyn Fn(&Received<E>)>>);
    *latest.borrow_mut() = Some(Rc::new(f));
    use_effect_with((), move |_| {
        let subscription = Bus::page().subscribe::<E>(move |received| {
            let current = latest.borrow().clone();
            if let Some(f) = current {
                f(received);
            }
        });
        move || drop(subscription)
    });
}

/// What came back from a request: the reply, or why there is none.
type Outcome<R> = Option<Rc<Result<R, RequestError>>>;

/// The state of a [`use_request`]: what came back from the last request, if it finished.
pub struct UseRequestHandle<Q: Request> {
    outcome: UseStateHandle<Outcome<Q::Reply>>,
    pending: UseStateHandle<bool>,
}

impl<Q: Request> UseRequestHandle<Q> {
    /// Sends `data` as a request (timeout: herald-bus's default); the component re-renders
    /// when the reply, or the reason there is none, arrives.
    pub fn run(&self, data: Q::Data) {
        let (outcome, pending) = (self.outcome.clone(), self.pending.clone());
        pending.set(true);
        yew::platform::spawn_local(async move {
            let reply = Bus::page().request::<Q>(&data).await;
            outcome.set(Some(Rc::new(reply)));
            pending.set(false);
        });
    }

    /// The outcome of the last finished request.
    pub fn outcome(&self) -> Option<Rc<Result<Q::Reply, RequestError>>> {
        (*self.outcome).clone()
    }

    /// Whether a request is in flight.
    pub fn pending(&self) -> bool {
        *self.pending
    }
}

impl<Q: Request> Clone for UseRequestHandle<Q> {
    fn clone(&self) -> Self {
        UseRequestHandle {
            outcome: self.outcome.clone(),
            pending: self.pending.clone(),
        }
    }
}

/// Request/response from a component: `let ask = use_request::<Q>(); ask.run(q);` and
/// read `ask.outcome()` when it re-renders. A reply that arrives after the component is
/// gone is dropped.
#[hook]
pub fn use_request<Q: Request>() -> UseRequestHandle<Q> {
    UseRequestHandle {
        outcome: use_state(|| None),
        pending: use_state(|| false),
    }
}

/// Calls `f` with every event of type `E` from the gateway's push stream at `url`
/// (`/events/stream`, say), for as long as the component lives and `url` stays the same.
/// The effect declares the interest in `E`'s topic ([`herald_push::Push::subscribe`]: the
/// page shares one connection among all its modules) and subscribes to `E` on the page
/// bus, where the stream's events arrive; both are dropped in its teardown. It always
/// calls the `f` of the latest render.
#[hook]
pub fn use_stream<E, F>(url: &str, f: F)
where
    E: Event,
    F: Fn(&Received<E>) + 'static,
{
    let latest = use_mut_ref(|| None::<Rc<dyn Fn(&Received<E>)>>);
    *latest.borrow_mut() = Some(Rc::new(f));
    use_effect_with(url.to_owned(), move |url| {
        let interest = herald_push::Push::new(url).and_then(|push| push.subscribe(&[E::TYPE]));
        if let Err(error) = &interest {
            web_sys::console::error_1(&format!("herald-yew: cannot use the stream {url}: {error}").into());
        }
        let subscription = Bus::page().subscribe::<E>(move |received| {
            let current = latest.borrow().clone();
            if let Some(f) = current {
                f(received);
            }
        });
        move || {
            drop(subscription);
            drop(interest);
        }
    });
}
