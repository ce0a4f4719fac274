use std::cell::{Cell, RefCell};
use std::rc::Rc;

use herald_protocol::{CloudEvent, Event};
use serde::Serialize;
use wasm_bindgen::{JsValue, UnwrapThrowExt};
use web_sys::{Element, EventTarget};

use crate::codec;
use crate::subscribe::SubscriptionBuilder;
use crate::{js, Error, Retention, Subscription};

/// Every herald bus event is a DOM `CustomEvent` named `herald:` followed by its CloudEvents
/// `type`, e.g. `herald:nop.sensor.selected`.
pub const DOM_EVENT_PREFIX: &str = "herald:";

/// The DOM event that carries a copy of every bus event while pattern subscriptions are
/// live (see [`Bus::subscribe_pattern`]).
pub const DOM_WILDCARD_EVENT: &str = "herald:*";

thread_local! {
    /// The events whose handlers are running right now, innermost last: a publish made
    /// inside a handler continues that event's correlation chain.
    static HANDLING: RefCell<Vec<Cause>> = const { RefCell::new(Vec::new()) };
    /// A random prefix that makes this module's event ids unique on the page.
    static MODULE_ID: String = random_hex();
    static NEXT_ID: Cell<u64> = const { Cell::new(1) };
    /// The last sequence number published per source by this module (a module publishes
    /// as a few sources: a list is smaller and quicker than a hash map).
    static SEQUENCES: RefCell<Vec<(Rc<str>, u64)>> = const { RefCell::new(Vec::new()) };
}

struct Cause {
    id: String,
    correlation: String,
    /// Whether the event was valid (validated, or checked where it was made): an event
    /// published while handling it carries these ids, and is checked only if they are.
    valid: bool,
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
        let window = crate::window().expect_throw("herald-bus needs a window");
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
    /// A source must be unique to one publisher on the page: sequence numbers count per
    /// source.
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

    /// Declares event type `E` retained on this page with `policy`: from now on its events
    /// are kept, and every subscriber that subscribes later receives them first, in
    /// order, whichever module published them.
    ///
    /// Declaring again with the same policy is fine; a different policy is an error (the
    /// first declaration holds).
    pub fn retain<E: Event>(&self, policy: Retention) -> Result<(), Error> {
        retain_type(E::TYPE, policy)
    }

    /// Publishes a typed event and returns the envelope that was dispatched.
    ///
    /// Inside a bus handler the event continues the handled event's correlation chain;
    /// anywhere else it starts a new one.
    pub fn publish<E: Event>(&self, data: &E::Data) -> Result<CloudEvent<()>, Error> {
        let event = self.envelope(E::TYPE, E::VERSION).with_data(data);
        // valid by construction when its origin is: checked here, not by every subscriber
        let checked = herald_protocol::is_valid_origin(&self.source, E::TYPE, E::VERSION) && handling_is_valid();
        self.dispatch(&event, checked)?;
        Ok(event.map_data(|_| ()))
    }

    /// Publishes `data` as event type `ty` (payload version 1) with the same envelope as
    /// [`Bus::publish`]; for publishers without a Rust type for the event.
    pub fn publish_json(
        &self,
        ty: &str,
        data: &serde_json::Value,
    ) -> Result<CloudEvent<()>, Error> {
        let event = self.envelope(ty, 1).with_data(data);
        event.validate()?;
        self.dispatch(&event, true)?;
        Ok(event.map_data(|_| ()))
    }

    /// A new envelope from this publisher, as [`Bus::publish`] would send it: a fresh id,
    /// this bus's source, the time, the next sequence number, the payload version, and the
    /// correlation of the event being handled, if any. Use it to send an event elsewhere
    /// (to the gateway, say) as part of the same chain; add the payload with
    /// [`CloudEvent::with_data`].
    pub fn envelope<T>(&self, ty: &str, version: u32) -> CloudEvent<T> {
        let id = NEXT_ID.with(|next| {
            let n = next.get();
            next.set(n + 1);
            MODULE_ID.with(|module| format!("{module}-{n}"))
        });
        let mut event = CloudEvent::new(id, &*self.source, ty);
        event.time = Some(now_rfc3339());
        let sequence = SEQUENCES.with(|all| {
            let mut all = all.borrow_mut();
            let at = match all.iter().position(|(source, _)| **source == *self.source) {
                Some(at) => at,
                None => {
                    all.push((self.source.clone(), 0));
                    all.len() - 1
                }
            };
            all[at].1 += 1;
            all[at].1
        });
        event.set_sequence(sequence);
        event.set_data_version(version);
        if let Some((correlation, cause)) = handling() {
            event.correlationid = Some(correlation);
            event.causationid = Some(cause);
        }
        event
    }

    /// Dispatches a complete envelope as it is, e.g. one that arrived from the gateway.
    pub fn publish_event<T: Serialize>(&self, event: &CloudEvent<T>) -> Result<(), Error> {
        event.validate()?;
        self.dispatch(event, true)
    }

    /// Dispatches `event`; `checked` marks it valid for herald's subscribers, which then
    /// do not validate it again (docs/protocol.md §2.1).
    pub(crate) fn dispatch<T: Serialize>(&self, event: &CloudEvent<T>, checked: bool) -> Result<(), Error> {
        let json = codec::encode(event)?;
        js::herald_dispatch(
            &self.target,
            &interned_name(&event.ty),
            json.as_bytes(),
            false,
            true,
            checked,
        );
        Ok(())
    }

    /// Subscribes `handler` to events of type `E`, with the default options: retained
    /// events first, no ordering, dead letters to `herald.deadletter`. See
    /// [`Bus::subscription`] for the options.
    pub fn subscribe<E: Event>(&self, handler: impl FnMut(&Received<E>) + 'static) -> Subscription {
        self.subscription::<E>().handle(handler)
    }

    /// Starts a subscription to `E` with options: replay, in-order delivery, an error
    /// callback, upcasting of older payload versions.
    pub fn subscription<E: Event>(&self) -> SubscriptionBuilder<E> {
        SubscriptionBuilder::new(self.clone())
    }
}

pub(crate) fn retain_type(ty: &str, policy: Retention) -> Result<(), Error> {
    let (kind, n, ms) = match policy {
        Retention::LastValue => ("last", 1, 0.0),
        Retention::LastN(n) => ("count", n.max(1), 0.0),
        Retention::MaxAge(age) => ("age", 0, age.as_millis() as f64),
    };
    let existing = js::herald_retain(ty, kind, n, ms);
    if existing.is_empty() {
        return Ok(());
    }
    let wanted = match policy {
        Retention::LastValue => r#"{"kind":"last"}"#.to_owned(),
        Retention::LastN(_) => format!(r#"{{"kind":"count","n":{n}}}"#),
        // an integer, as JavaScript writes it (and no float printer in the wasm)
        Retention::MaxAge(_) => format!(r#"{{"kind":"age","ms":{}}}"#, ms as u64),
    };
    if existing == wanted {
        Ok(())
    } else {
        Err(Error::RetentionConflict {
            ty: ty.to_owned(),
            existing,
        })
    }
}

/// Dispatches an envelope under `name` without the `herald:*` copy (requests, replies).
pub(crate) fn dispatch_named<T: Serialize>(
    target: &EventTarget,
    name: &str,
    event: &CloudEvent<T>,
    cancelable: bool,
) -> Result<bool, Error> {
    Ok(dispatch_json(
        target,
        name,
        &codec::encode(event)?,
        cancelable,
    ))
}

/// Dispatches an envelope's JSON text under `name`, without the `herald:*` copy; returns
/// `dispatchEvent`'s result.
pub(crate) fn dispatch_json(
    target: &EventTarget,
    name: &str,
    json: &str,
    cancelable: bool,
) -> bool {
    js::herald_dispatch(
        target,
        &JsValue::from_str(name),
        json.as_bytes(),
        cancelable,
        false,
        false,
    )
}

/// A delivered event: the decoded payload and its envelope.
#[non_exhaustive]
pub struct Received<E: Event> {
    /// The payload, decoded into the subscriber's type.
    pub data: E::Data,
    /// The envelope: id, source, time, subject, correlation and causation ids, sequence.
    pub envelope: CloudEvent<()>,
}

impl<E: Event> Received<E> {
    pub(crate) fn new(data: E::Data, envelope: CloudEvent<()>) -> Self {
        Received { data, envelope }
    }
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

pub(crate) fn dom_event_name(ty: &str) -> String {
    format!("{DOM_EVENT_PREFIX}{ty}")
}

/// The DOM event name of `ty` as a JS string, made once per type and module: a publish
/// then hands JS a reference instead of copying the name across.
pub(crate) fn interned_name(ty: &str) -> JsValue {
    thread_local! {
        static NAMES: RefCell<Vec<(String, JsValue)>> = const { RefCell::new(Vec::new()) };
    }
    NAMES.with(|names| {
        if let Some((_, name)) = names.borrow().iter().find(|(known, _)| known == ty) {
            return name.clone();
        }
        let name = JsValue::from_str(&dom_event_name(ty));
        names.borrow_mut().push((ty.to_owned(), name.clone()));
        name
    })
}

/// `Date.now()` as an RFC 3339 timestamp, formatted once per millisecond.
fn now_rfc3339() -> String {
    thread_local! {
        static LAST: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = js_sys::Date::now() as u64;
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != now {
            *last = (now, herald_protocol::rfc3339_from_unix_millis(now));
        }
        last.1.clone()
    })
}

/// The correlation id and id of the event whose handler is running, if any (what an
/// event published now continues): for a log entry about it, say.
pub fn handled() -> Option<(String, String)> {
    handling()
}

/// The correlation id and id of the event being handled, if any: what an event published
/// now continues.
pub(crate) fn handling() -> Option<(String, String)> {
    HANDLING.with(|stack| {
        let stack = stack.borrow();
        let cause = stack.last()?;
        Some((cause.correlation.clone(), cause.id.clone()))
    })
}

/// Whether the event being handled, if any, was valid: what an event published now takes
/// from it (its ids) is then valid too.
fn handling_is_valid() -> bool {
    HANDLING.with(|stack| stack.borrow().last().is_none_or(|cause| cause.valid))
}

/// Marks an event as being handled for as long as it lives.
pub(crate) struct HandlingGuard;

impl HandlingGuard {
    /// `valid`: whether the envelope was validated (or checked where it was made).
    pub(crate) fn enter<T>(envelope: &CloudEvent<T>, valid: bool) -> Self {
        HANDLING.with(|stack| {
            stack.borrow_mut().push(Cause {
                id: envelope.id.clone(),
                correlation: envelope.correlation_id().to_owned(),
                valid,
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

pub(crate) fn module_id() -> String {
    MODULE_ID.with(String::clone)
}

fn random_hex() -> String {
    let word = || (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
    format!("{:08x}{:08x}", word(), word())
}
