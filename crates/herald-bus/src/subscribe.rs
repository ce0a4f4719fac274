use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use herald_protocol::{CloudEvent, DeadLetter, Event, TopicPattern};
use wasm_bindgen::{JsCast, JsValue};

use crate::bus::{dom_event_name, HandlingGuard, DOM_WILDCARD_EVENT};
use crate::json::{self, RawJson, RawJsonBuf};
use crate::listener::Listener;
use crate::{codec, js, Bus, Error, Received};

/// A live subscription; dropping it removes its DOM listener.
#[must_use = "dropping a Subscription unsubscribes at once"]
pub struct Subscription {
    listener: Listener,
    _wildcard: Option<WildcardGuard>,
}

impl Subscription {
    pub(crate) fn from_listener(listener: Listener) -> Self {
        Subscription {
            listener,
            _wildcard: None,
        }
    }

    /// Keeps the subscription for the rest of the page's life.
    pub fn forget(self) {
        if let Some(guard) = self._wildcard {
            std::mem::forget(guard);
        }
        self.listener.forget();
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

/// Counts a pattern subscription in the page's shared state while it lives, so that
/// publishers dispatch the `herald:*` copy only when someone listens to it.
struct WildcardGuard;

impl WildcardGuard {
    fn new() -> Self {
        js::herald_wildcards_add(1);
        WildcardGuard
    }
}

impl Drop for WildcardGuard {
    fn drop(&mut self) {
        js::herald_wildcards_add(-1);
    }
}

/// Something irregular about the order of one source's events, reported to an in-order
/// subscriber (see [`SubscriptionBuilder::in_order`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Irregularity {
    /// Events `expected..got` of `source` never arrived; `got` was delivered.
    Gap {
        /// The publisher.
        source: String,
        /// The first missing sequence number.
        expected: u64,
        /// The sequence number that arrived instead.
        got: u64,
    },
    /// An event arrived after a later one of the same source, or twice; it was dropped.
    Stale {
        /// The publisher.
        source: String,
        /// The newest sequence number delivered so far.
        last: u64,
        /// The sequence number that arrived.
        got: u64,
    },
}

/// Reads an older version's payload (JSON text) as the subscriber's.
type Upcaster<D> = Box<dyn Fn(&str) -> Result<D, String>>;
type OnIrregular = Box<dyn FnMut(&Irregularity)>;
type OnError = Box<dyn FnMut(&DeadLetter<RawJsonBuf>)>;
type Handler<E> = Box<dyn FnMut(&Received<E>)>;

/// Options of a subscription to `E`; finish with [`SubscriptionBuilder::handle`].
pub struct SubscriptionBuilder<E: Event> {
    bus: Bus,
    replay: bool,
    on_irregular: Option<OnIrregular>,
    on_error: Option<OnError>,
    upcasters: Vec<(u32, Upcaster<E::Data>)>,
}

impl<E: Event> SubscriptionBuilder<E> {
    pub(crate) fn new(bus: Bus) -> Self {
        SubscriptionBuilder {
            bus,
            replay: true,
            on_irregular: None,
            on_error: None,
            upcasters: Vec::new(),
        }
    }

    /// Does not receive the events retained before subscribing.
    pub fn no_replay(mut self) -> Self {
        self.replay = false;
        self
    }

    /// Delivers each source's events in sequence order: an event older than one already
    /// delivered from the same source is dropped, and a jump in the sequence is delivered
    /// but reported first; both go to `on_irregular`.
    pub fn in_order(mut self, on_irregular: impl FnMut(&Irregularity) + 'static) -> Self {
        self.on_irregular = Some(Box::new(on_irregular));
        self
    }

    /// Also calls `on_error` with every event this subscription could not decode, the event
    /// as its JSON text (it goes to `herald.deadletter` in any case).
    pub fn on_error(mut self, on_error: impl FnMut(&DeadLetter<RawJsonBuf>) + 'static) -> Self {
        self.on_error = Some(Box::new(on_error));
        self
    }

    /// Accepts events of an older version `Old` of the same type, converted by `upcast`.
    /// Without an upcaster, an event of another version is a dead letter.
    pub fn upcast_from<Old: Event>(
        mut self,
        upcast: impl Fn(Old::Data) -> E::Data + 'static,
    ) -> Self {
        if Old::TYPE != E::TYPE {
            web_sys::console::warn_1(&JsValue::from_str(&format!(
                "herald-bus: an upcaster from `{}` cannot apply to `{}`; ignored",
                Old::TYPE,
                E::TYPE
            )));
            return self;
        }
        let convert: Upcaster<E::Data> = Box::new(move |text| {
            json::from_str::<Old::Data>(text)
                .map(&upcast)
                .map_err(|e| e.to_string())
        });
        self.upcasters.push((Old::VERSION, convert));
        self
    }

    /// Subscribes `handler`. Retained events of `E` (unless [`no_replay`]) are delivered
    /// first, before this returns; then every new event, as it is published.
    ///
    /// [`no_replay`]: SubscriptionBuilder::no_replay
    pub fn handle(self, handler: impl FnMut(&Received<E>) + 'static) -> Subscription {
        let replay = self.replay;
        let delivery = Delivery::new(Typed {
            bus: self.bus.clone(),
            handler: Box::new(handler),
            upcasters: self.upcasters,
            on_error: self.on_error,
            order: self.on_irregular.map(|report| Order {
                last: Vec::new(),
                report,
            }),
        });
        let listener_delivery = delivery.clone();
        let listener = Listener::new(
            self.bus.as_raw(),
            dom_event_name(E::TYPE),
            move |json, invalid, event| {
                listener_delivery.deliver(Incoming::event(json, invalid, event));
            },
        );
        if replay {
            for record in js::herald_retained(E::TYPE).iter() {
                delivery.deliver(Incoming::record(record));
            }
        }
        Subscription {
            listener,
            _wildcard: None,
        }
    }
}

impl Bus {
    /// Subscribes `handler` to every event whose type matches `pattern` (`nop.noise.*`,
    /// `nop.>`), with the payload as its JSON text ([`json::from_str`] reads it, into a
    /// type of the handler's choosing). Retained events of matching types come first, in
    /// the order they were published.
    pub fn subscribe_pattern(
        &self,
        pattern: &str,
        mut handler: impl FnMut(&CloudEvent<RawJsonBuf>) + 'static,
    ) -> Result<Subscription, Error> {
        let pattern: TopicPattern = pattern.parse()?;
        let guard = WildcardGuard::new();
        let matching = pattern.clone();
        let delivery = Delivery::new(move |incoming: Incoming| match incoming.envelope() {
            Ok(event) if matching.matches(&event.ty) => {
                let event = event.map_data(RawJsonBuf::from_raw);
                let _cause = HandlingGuard::enter(&event, true);
                handler(&event);
            }
            Ok(_) => {}
            Err(error) => web_sys::console::warn_1(&JsValue::from_str(&format!(
                "herald-bus: pattern `{matching}` skipped an event: {error}"
            ))),
        });
        let listener_delivery = delivery.clone();
        let listener = Listener::new(
            self.as_raw(),
            DOM_WILDCARD_EVENT.to_owned(),
            move |json, invalid, event| {
                listener_delivery.deliver(Incoming::event(json, invalid, event));
            },
        );
        for entry in js::herald_retained_all().iter() {
            let entry: js_sys::Array = entry.unchecked_into();
            if entry
                .get(0)
                .as_string()
                .is_some_and(|ty| pattern.matches(&ty))
            {
                delivery.deliver(Incoming::record(entry.get(1)));
            }
        }
        Ok(Subscription {
            listener,
            _wildcard: Some(guard),
        })
    }
}

/// One event for a subscription: its envelope's JSON text, why it is not a valid
/// CloudEvent (JavaScript validated what no herald publisher checked), and what carried
/// it (the DOM event or a retained record, docs/protocol.md §2.6), read only to report a
/// `detail` that is not JSON.
struct Incoming {
    json: Option<String>,
    invalid: Option<String>,
    holder: JsValue,
}

impl Incoming {
    fn event(json: Option<String>, invalid: Option<String>, event: web_sys::Event) -> Self {
        Incoming {
            json,
            invalid,
            holder: event.into(),
        }
    }

    fn record(record: JsValue) -> Self {
        Incoming {
            json: codec::text(js::herald_record_utf8(&record)),
            invalid: js::herald_record_invalid(&record),
            holder: record,
        }
    }

    /// The envelope, its payload unread: the reader's errors first, then what the
    /// validation said (one copy per module, whatever the number of subscribed types).
    #[inline(never)]
    fn envelope(&self) -> Result<CloudEvent<RawJson<'_>>, String> {
        let event = codec::decode(
            self.json
                .as_deref()
                .ok_or("`detail` is not a JSON object")?,
        )?;
        match &self.invalid {
            Some(reason) => Err(reason.clone()),
            None => Ok(event),
        }
    }

    /// The event as JSON text: its envelope's, or a JSON string saying what its `detail`
    /// is when that is not JSON.
    fn to_raw(&self) -> RawJsonBuf {
        match self.json.as_deref().map(RawJsonBuf::new) {
            Some(Ok(raw)) => raw,
            _ => RawJsonBuf::new(&js::herald_detail_json(&self.holder))
                .unwrap_or_else(|_| RawJsonBuf::null()),
        }
    }
}

/// Runs a subscription's processing one delivery at a time: a delivery that arrives while
/// the subscription's handler is running (its handler published an event it hears) is
/// queued and runs right after, instead of re-entering the handler.
struct Delivery<P> {
    process: Rc<RefCell<P>>,
    queue: Rc<RefCell<VecDeque<Incoming>>>,
}

impl<P> Clone for Delivery<P> {
    fn clone(&self) -> Self {
        Delivery {
            process: self.process.clone(),
            queue: self.queue.clone(),
        }
    }
}

trait Process {
    fn process(&mut self, incoming: Incoming);
}

impl<F: FnMut(Incoming)> Process for F {
    fn process(&mut self, incoming: Incoming) {
        self(incoming)
    }
}

impl<P: Process> Delivery<P> {
    fn new(process: P) -> Self {
        Delivery {
            process: Rc::new(RefCell::new(process)),
            queue: Rc::default(),
        }
    }

    fn deliver(&self, incoming: Incoming) {
        let Ok(mut process) = self.process.try_borrow_mut() else {
            self.queue.borrow_mut().push_back(incoming);
            return;
        };
        process.process(incoming);
        loop {
            let next = self.queue.borrow_mut().pop_front();
            match next {
                Some(detail) => process.process(detail),
                None => break,
            }
        }
    }
}

struct Order {
    /// The newest sequence number delivered, per source (a page has a few publishers: a
    /// list is smaller and quicker than a hash map).
    last: Vec<(String, u64)>,
    report: OnIrregular,
}

impl Order {
    /// Whether to deliver an event of `source` with `sequence`.
    fn admit(&mut self, source: &str, sequence: u64) -> bool {
        let Some(at) = self.last.iter().position(|(known, _)| known == source) else {
            self.last.push((source.to_owned(), sequence));
            return true;
        };
        let last = self.last[at].1;
        if sequence <= last {
            (self.report)(&Irregularity::Stale {
                source: source.to_owned(),
                last,
                got: sequence,
            });
            return false;
        }
        if sequence > last + 1 {
            (self.report)(&Irregularity::Gap {
                source: source.to_owned(),
                expected: last + 1,
                got: sequence,
            });
        }
        self.last[at].1 = sequence;
        true
    }
}

struct Typed<E: Event> {
    bus: Bus,
    handler: Handler<E>,
    upcasters: Vec<(u32, Upcaster<E::Data>)>,
    on_error: Option<OnError>,
    order: Option<Order>,
}

impl<E: Event> Process for Typed<E> {
    fn process(&mut self, incoming: Incoming) {
        match self.decode(&incoming) {
            Ok(received) => {
                if let (Some(order), Some(sequence)) =
                    (&mut self.order, received.envelope.sequence())
                {
                    if !order.admit(&received.envelope.source, sequence) {
                        return;
                    }
                }
                let _cause = HandlingGuard::enter(&received.envelope, true);
                (self.handler)(&received);
            }
            Err(reason) => dead_letter(
                &self.bus,
                &mut self.on_error,
                E::TYPE,
                E::VERSION,
                reason,
                &incoming,
            ),
        }
    }
}

impl<E: Event> Typed<E> {
    fn decode(&self, incoming: &Incoming) -> Result<Received<E>, String> {
        let event = envelope_of(incoming, E::TYPE)?;
        let version = event.data_version();
        let mut raw = None;
        let envelope = event.map_data(|d| raw = Some(d));
        let text = raw.as_ref().map_or("null", RawJson::get);
        let data = if version == E::VERSION {
            json::from_str::<E::Data>(text).map_err(|e| format!("payload: {e}"))?
        } else {
            let upcast = self
                .upcasters
                .iter()
                .find(|(from, _)| *from == version)
                .map(|(_, upcast)| upcast)
                .ok_or_else(|| {
                    format!(
                        "payload version {version} is not understood by this subscriber (version {})",
                        E::VERSION
                    )
                })?;
            upcast(text).map_err(|e| format!("payload of version {version}: {e}"))?
        };
        Ok(Received::new(data, envelope))
    }
}

/// An event of type `ty` as its envelope with the payload unread: the payload stays raw
/// JSON until its version says which type to read it as. (Not generic: one copy per
/// module, whatever the number of subscribed types.)
#[inline(never)]
fn envelope_of<'a>(incoming: &'a Incoming, ty: &str) -> Result<CloudEvent<RawJson<'a>>, String> {
    let event = incoming.envelope()?;
    if event.ty != ty {
        return Err(format!("the event's type `{}` is not `{ty}`", event.ty));
    }
    Ok(event)
}

/// Reports an event that a subscriber of `subscriber` (payload `version`) could not take:
/// to the console, to the subscription's `on_error`, and as a `herald.deadletter` event on
/// `bus`. (Not generic: one copy per module.)
#[inline(never)]
fn dead_letter(
    bus: &Bus,
    on_error: &mut Option<OnError>,
    subscriber: &'static str,
    version: u32,
    reason: String,
    incoming: &Incoming,
) {
    let letter = DeadLetter {
        reason,
        subscriber: subscriber.to_owned(),
        version,
        event: incoming.to_raw(),
    };
    web_sys::console::warn_1(&JsValue::from_str(&format!(
        "herald-bus: dead letter for a `{subscriber}` subscriber: {}",
        letter.reason
    )));
    if let Some(on_error) = on_error {
        on_error(&letter);
    }
    // A dead letter that cannot be decoded as a dead letter is not sent on again.
    if subscriber == <DeadLetter>::TYPE {
        return;
    }
    // The page's JavaScript side writes the envelope (id, time): a module that only
    // subscribes carries no JSON writer. Its chain is the original's when that reads as an
    // envelope, else the chain of the event being handled, if any.
    let chain = match codec::decode(letter.event.get()) {
        Ok(original) => Some((original.correlation_id().to_owned(), original.id)),
        Err(_) => crate::bus::handling(),
    };
    let (correlation, cause) = chain.unzip();
    let sent = js::herald_dead_letter(
        bus.as_raw(),
        bus.source(),
        correlation.as_deref(),
        cause.as_deref(),
        &letter.reason,
        subscriber,
        version,
        letter.event.get(),
    );
    if let Err(error) = sent {
        web_sys::console::error_1(&JsValue::from_str(&format!(
            "herald-bus: could not publish a dead letter: {}",
            js::herald_text_of(&error)
        )));
    }
}
