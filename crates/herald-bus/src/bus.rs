use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gloo::events::EventListener;
use herald_protocol::CloudEvent;
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue, UnwrapThrowExt};
use web_sys::{CustomEvent, CustomEventInit, Element, EventTarget};

use crate::{Error, Event};

/// Every herald bus event is a DOM `CustomEvent` named `herald:` followed by its CloudEvents
/// `type`, e.g. `herald:nop.sensor.selected`.
pub const DOM_EVENT_PREFIX: &str = "herald:";

thread_local! {
    /// The events whose handlers are running right now, innermost last: a publish made
    /// inside a handler continues that event's correlation chain.
    static HANDLING: RefCell<Vec<Cause>> = const { RefCell::new(Vec::new()) };
    /// A random prefix that makes this module's event ids unique on the page.
    static MODULE_ID: String = random_hex();
    static NEXT_ID: Cell<u64> = const { Cell::new(1) };
}

struct Cause {
    id: String,
    correlation: String,
}

/// A handle on the bus: where events are dispatched and heard, and the `source` this
/// module publishes as.
///
/// [`Bus::page`] is the page-wide bus on `window`. [`Bus::scoped`] is a bus on an element:
/// its subscribers hear only events published on that element or inside it (shadow roots
/// included), while its own events also reach the page-wide bus, since they bubble and are
/// `composed`.
#[derive(Clone, Debug)]
pub struct Bus {
    target: EventTarget,
    source: Rc<str>,
}

impl Bus {
    /// The page-wide bus (`window`).
    pub fn page() -> Self {
        let window = web_sys::window().expect_throw("herald-bus needs a window");
        Bus::on(window.into())
    }

    /// A bus scoped to `element` and its subtree.
    pub fn scoped(element: &Element) -> Self {
        Bus::on(element.clone().into())
    }

    fn on(target: EventTarget) -> Self {
        let source = MODULE_ID.with(|id| format!("urn:herald:module:{id}"));
        Bus {
            target,
            source: source.into(),
        }
    }

    /// The same bus, publishing with the CloudEvents `source` given (e.g. `/mfe/nop-meter`).
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into().into();
        self
    }

    /// The `source` this handle publishes with.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The DOM target events are dispatched on and heard from.
    pub fn as_raw(&self) -> &EventTarget {
        &self.target
    }

    /// Publishes a typed event and returns the envelope that was dispatched.
    ///
    /// Inside a bus handler the event continues the handled event's correlation chain;
    /// anywhere else it starts a new one.
    pub fn publish<E: Event>(&self, data: &E::Data) -> Result<CloudEvent<()>, Error> {
        let id = NEXT_ID.with(|next| {
            let n = next.get();
            next.set(n + 1);
            MODULE_ID.with(|module| format!("{module}-{n}"))
        });
        let mut event = CloudEvent::new(id, &*self.source, E::TYPE)
            .with_data(data)
            .with_time_millis(js_sys::Date::now() as u64);
        HANDLING.with(|stack| {
            if let Some(cause) = stack.borrow().last() {
                event.correlationid = Some(cause.correlation.clone());
                event.causationid = Some(cause.id.clone());
            }
        });
        self.dispatch(&event)?;
        Ok(event.map_data(|_| ()))
    }

    /// Dispatches a complete envelope as it is, e.g. one that arrived from the gateway.
    pub fn publish_event<T: Serialize>(&self, event: &CloudEvent<T>) -> Result<(), Error> {
        event.validate()?;
        self.dispatch(event)
    }

    fn dispatch<T: Serialize>(&self, event: &CloudEvent<T>) -> Result<(), Error> {
        let detail = event
            .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
            .map_err(|e| Error::Encode(e.to_string()))?;
        let init = CustomEventInit::new();
        init.set_bubbles(true);
        init.set_composed(true);
        init.set_detail(&detail);
        let dom_event = CustomEvent::new_with_event_init_dict(&dom_event_name(&event.ty), &init)?;
        self.target.dispatch_event(&dom_event)?;
        Ok(())
    }

    /// Subscribes `handler` to events of type `E`.
    ///
    /// The payload is decoded once per delivery, before the handler runs. An event whose
    /// `detail` does not decode as `E` is not delivered; it is reported on the console.
    /// Dropping the returned [`Subscription`] unsubscribes.
    pub fn subscribe<E: Event>(&self, mut handler: impl FnMut(&Received<E>) + 'static) -> Subscription {
        let name = dom_event_name(E::TYPE);
        let listener = EventListener::new(&self.target, name, move |dom_event| match decode::<E>(dom_event) {
                Ok(received) => {
                    let _cause = HandlingGuard::enter(&received.envelope);
                    handler(&received);
                }
            Err(error) => web_sys::console::warn_1(&JsValue::from_str(&error.to_string())),
        });
        Subscription { listener }
    }
}

/// A delivered event: the decoded payload and its envelope.
#[non_exhaustive]
pub struct Received<E: Event> {
    /// The payload, decoded into the subscriber's type.
    pub data: E::Data,
    /// The envelope: id, source, time, subject, correlation and causation ids.
    pub envelope: CloudEvent<()>,
}

impl<E: Event> Clone for Received<E>
where
    E::Data: Clone,
{
    fn clone(&self) -> Self {
        Received {
            data: self.data.clone(),
            envelope: self.envelope.clone(),
        }
    }
}

impl<E: Event> std::fmt::Debug for Received<E>
where
    E::Data: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Received")
            .field("data", &self.data)
            .field("envelope", &self.envelope)
            .finish()
    }
}

/// A live subscription; dropping it removes the DOM listener.
#[must_use = "dropping a Subscription unsubscribes at once"]
#[derive(Debug)]
pub struct Subscription {
    listener: EventListener,
}

impl Subscription {
    /// Keeps the subscription for the rest of the page's life.
    pub fn forget(self) {
        self.listener.forget();
    }
}

fn dom_event_name(ty: &str) -> String {
    format!("{DOM_EVENT_PREFIX}{ty}")
}

fn decode<E: Event>(dom_event: &web_sys::Event) -> Result<Received<E>, Error> {
    let decode_error = |reason: String| Error::Decode {
        ty: E::TYPE.to_owned(),
        reason,
    };
    let detail = dom_event
        .dyn_ref::<CustomEvent>()
        .map(CustomEvent::detail)
        .ok_or_else(|| decode_error("not a CustomEvent".to_owned()))?;
    let envelope: CloudEvent<E::Data> =
        serde_wasm_bindgen::from_value(detail).map_err(|e| decode_error(e.to_string()))?;
    envelope.validate().map_err(|e| decode_error(e.to_string()))?;
    let mut data = None;
    let envelope = envelope.map_data(|d| data = Some(d));
    let data = match data {
        Some(data) => data,
        // A payload type that accepts `null` (e.g. `()` or `Option<_>`) may omit `data`.
        None => serde_wasm_bindgen::from_value(JsValue::NULL)
            .map_err(|_| decode_error("the event has no `data`".to_owned()))?,
    };
    Ok(Received { data, envelope })
}

/// Marks an event as being handled for as long as it lives.
struct HandlingGuard;

impl HandlingGuard {
    fn enter(envelope: &CloudEvent<()>) -> Self {
        HANDLING.with(|stack| {
            stack.borrow_mut().push(Cause {
                id: envelope.id.clone(),
                correlation: envelope.correlation_id().to_owned(),
            })
        });
        HandlingGuard
    }
}

impl Drop for HandlingGuard {
    fn drop(&mut self) {
        HANDLING.with(|stack| stack.borrow_mut().pop());
    }
}

fn random_hex() -> String {
    let word = || (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
    format!("{:08x}{:08x}", word(), word())
}
