//! `<nop-stream-status>`: how the page's stream is doing — the connection's state
//! (`herald.connection`), how many events of its topics reached the bus, how many were
//! repeats (of one among the latest 10,000) or out of order (there should be none:
//! herald-push delivers exactly once, in order) — and the forwarding of every noise
//! alert raised in the page to the gateway, as the same correlation chain (central
//! logging).
//!
//! Attributes: `stream` — the gateway's stream URL (default: the page's
//! `<meta name="herald-stream">`, else `/events/stream`); `topics` —
//! space-separated topic patterns to count (default `nop.noise.reading`); `transport` —
//! `websocket` to ask for the WebSocket transport, `socketio` for Socket.IO, `signalr` for
//! SignalR (default: Server-Sent Events; the first module of the page to connect decides).
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use herald_bus::Bus;
use herald_element::{define_once, CustomElement, Host};
use herald_protocol::Position;
use herald_push::{ConnectionState, Level, Push, Transport, POSITION_ATTRIBUTE};
use nop_events::NoiseAlert;
use wasm_bindgen::prelude::*;
use web_sys::Element;

const TAG: &str = "nop-stream-status";
const DEFAULT_TOPICS: &str = "nop.noise.reading";

/// The small allocator for single-threaded wasm (herald-alloc), instead of dlmalloc.
#[global_allocator]
static ALLOCATOR: herald_alloc::Allocator = herald_alloc::Allocator::new();

#[wasm_bindgen(start)]
fn start() {
    if let Err(error) = register() {
        web_sys::console::error_1(&format!("{TAG}: {error}").into());
    }
}

/// Defines `<nop-stream-status>` unless the page already has it.
pub fn register() -> Result<(), herald_element::Error> {
    define_once::<StreamStatus>(TAG)
}

struct StreamStatus;

/// How many of the latest events a repeat is looked for among. A stream redelivers at
/// most what it replays after a reconnect, far fewer than this, and the memory stays the
/// same however long the page runs.
const RECENT: usize = 10_000;

/// The latest `RECENT` events, as fingerprints of their (`source`, `id`): a sliding
/// window, oldest first, and the same fingerprints sorted for the search. A 64-bit
/// fingerprint makes a false repeat among 10,000 events a chance of about 1 in 10^11,
/// and keeps a hash map's code out of the module.
#[derive(Default)]
struct Recent {
    order: VecDeque<u64>,
    known: Vec<u64>,
}

/// FNV-1a of `source`, a separator no UTF-8 text contains, and `id`.
fn fingerprint(source: &str, id: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in source.bytes().chain([0xff]).chain(id.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

impl Recent {
    /// Records an event; `false` when it is among the latest events already (a repeat).
    fn insert(&mut self, source: &str, id: &str) -> bool {
        let key = fingerprint(source, id);
        let Err(at) = self.known.binary_search(&key) else {
            return false;
        };
        self.known.insert(at, key);
        self.order.push_back(key);
        if self.order.len() > RECENT {
            if let Some(oldest) = self.order.pop_front() {
                if let Ok(at) = self.known.binary_search(&oldest) {
                    self.known.remove(at);
                }
            }
        }
        true
    }
}

#[derive(Default)]
struct Counts {
    events: u64,
    recent: Recent,
    repeats: u64,
    out_of_order: u64,
    /// The newest position seen from each source (a page hears from a few).
    last_by_source: Vec<(String, Position)>,
    forwarded: u64,
}

struct View {
    state: Element,
    events: Element,
    distinct: Element,
    repeats: Element,
    out_of_order: Element,
    forwarded: Element,
    counts: Counts,
}

impl CustomElement for StreamStatus {
    fn create(_host: &Host) -> Self {
        StreamStatus
    }

    fn connected(&mut self, host: &mut Host) {
        host.set_html(
            "<section class=\"nop-card\"><h2>Stream</h2>\
             <p>Connection: <strong class=\"nop-conn\">–</strong></p>\
             <p class=\"nop-counts\">events <b class=\"nop-events\">0</b> · distinct \
             <b class=\"nop-distinct\">0</b> · repeats <b class=\"nop-repeats\">0</b> · \
             out of order <b class=\"nop-disorder\">0</b> · alerts logged \
             <b class=\"nop-forwarded\">0</b></p></section>",
        );
        let find = |selector: &str| host.query(selector).expect_throw("the skeleton was just rendered");
        let view = Rc::new(RefCell::new(View {
            state: find(".nop-conn"),
            events: find(".nop-events"),
            distinct: find(".nop-distinct"),
            repeats: find(".nop-repeats"),
            out_of_order: find(".nop-disorder"),
            forwarded: find(".nop-forwarded"),
            counts: Counts::default(),
        }));
        let element = host.element().clone();
        let stream = herald_push::stream_url_of(&element);
        let topics = element.get_attribute("topics").unwrap_or_else(|| DEFAULT_TOPICS.into());
        let topics: Vec<&str> = topics.split_whitespace().collect();
        let transport = match element.get_attribute("transport").as_deref() {
            Some("websocket") => Transport::WebSocket,
            Some("socketio") => Transport::SocketIo,
            Some("signalr") => Transport::SignalR,
            _ => Transport::Sse,
        };
        let push = match Push::new(&stream).map(|push| push.transport(transport).module(TAG)) {
            Ok(push) => push,
            Err(error) => {
                view.borrow().state.set_text_content(Some(&format!("unavailable: {error}")));
                return;
            }
        };
        match push.subscribe(&topics) {
            Ok(interest) => host.keep(interest),
            Err(error) => view.borrow().state.set_text_content(Some(&format!("unavailable: {error}"))),
        }

        let url = push.url().to_owned();
        let on_state = view.clone();
        host.keep(Bus::page().subscribe::<ConnectionState>(move |event| {
            if event.data.url == url {
                on_state.borrow().state.set_text_content(Some(&event.data.state));
            }
        }));

        for topic in topics {
            let on_event = view.clone();
            match Bus::page().subscribe_pattern(topic, move |event| on_event.borrow_mut().count(event)) {
                Ok(subscription) => host.keep(subscription),
                Err(error) => web_sys::console::error_1(&format!("{TAG}: {error}").into()),
            }
        }

        // Central logging: an alert raised in the page goes to the gateway as a new event
        // of the same correlation chain (the envelope is made inside the handler), and a
        // central log entry says so, with the chain's correlation id.
        let on_alert = view.clone();
        host.keep(Bus::page().subscribe::<NoiseAlert>(move |event| {
            if event.envelope.extensions.contains_key(POSITION_ATTRIBUTE) {
                return; // it came from the gateway already
            }
            let sent = push.publish::<NoiseAlert>(&event.data);
            push.log(Level::Info, "alert logged to the gateway");
            let view = on_alert.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match sent.await {
                    Ok(_) => view.borrow_mut().forwarded(),
                    Err(error) => web_sys::console::warn_1(&format!("{TAG}: alert not logged: {error}").into()),
                }
            });
        }));
    }
}

impl View {
    fn count(&mut self, event: &herald_bus::CloudEvent<herald_bus::json::RawJsonBuf>) {
        let counts = &mut self.counts;
        counts.events += 1;
        if !counts.recent.insert(&event.source, &event.id) {
            counts.repeats += 1;
        }
        let position = event
            .extensions
            .get(POSITION_ATTRIBUTE)
            .and_then(|p| p.as_str())
            .and_then(|p| p.parse::<Position>().ok());
        if let Some(position) = position {
            match counts.last_by_source.iter_mut().find(|(source, _)| *source == event.source) {
                Some((_, last)) if *last >= position => counts.out_of_order += 1,
                Some((_, last)) => *last = position,
                None => counts.last_by_source.push((event.source.clone(), position)),
            }
        }
        self.render();
    }

    fn forwarded(&mut self) {
        self.counts.forwarded += 1;
        self.render();
    }

    fn render(&self) {
        let c = &self.counts;
        self.events.set_text_content(Some(&c.events.to_string()));
        self.distinct.set_text_content(Some(&(c.events - c.repeats).to_string()));
        self.repeats.set_text_content(Some(&c.repeats.to_string()));
        self.out_of_order.set_text_content(Some(&c.out_of_order.to_string()));
        self.forwarded.set_text_content(Some(&c.forwarded.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::{Recent, RECENT};

    #[test]
    fn a_repeat_is_found_among_the_latest_events_and_the_window_stays_bounded() {
        let mut recent = Recent::default();
        assert!(recent.insert("/s", "1"));
        assert!(!recent.insert("/s", "1"), "a repeat");
        assert!(recent.insert("/t", "1"), "the same id from another source");
        for n in 2..=RECENT + 1 {
            assert!(recent.insert("/s", &n.to_string()));
        }
        assert_eq!((recent.order.len(), recent.known.len()), (RECENT, RECENT));
        // the first events have left the window; the latest are still there
        assert!(recent.insert("/s", "1"));
        assert!(!recent.insert("/s", &RECENT.to_string()));
    }
}
