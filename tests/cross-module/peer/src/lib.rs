//! The peer module of herald's cross-module browser tests: compiled on its own
//! (`cargo xtask peer`), loaded by the tests with a dynamic `import()`, talking to them only
//! through the DOM.
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::time::Duration;

use herald_bus::{Bus, RequestError, Retention, Subscription};
use wasm_bindgen::prelude::*;

#[path = "../../contract.rs"]
mod contract;
use contract::{Add, Double, Hop, Level, PeerLevel};

thread_local! {
    static KEEP: RefCell<Vec<Subscription>> = const { RefCell::new(Vec::new()) };
    static LEVELS: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

fn bus() -> Bus {
    Bus::page().with_source("/test/peer")
}

fn keep(subscription: Subscription) {
    KEEP.with(|k| k.borrow_mut().push(subscription));
}

/// Subscribes (late) to `xmod.level`, recording what arrives.
#[wasm_bindgen]
pub fn peer_subscribe_levels() {
    keep(bus().subscribe::<Level>(|ev| LEVELS.with(|l| l.borrow_mut().push(ev.data.n))));
}

/// The `xmod.level` values this module received, in order.
#[wasm_bindgen]
pub fn peer_levels() -> Vec<u32> {
    LEVELS.with(|l| l.borrow().clone())
}

/// Declares `xmod.peer.level` retained (last 2) and publishes `1..=n`.
#[wasm_bindgen]
pub fn peer_publish_levels(n: u32) -> Result<(), JsError> {
    let bus = bus();
    bus.retain::<PeerLevel>(Retention::LastN(2))?;
    for n in 1..=n {
        bus.publish::<PeerLevel>(&PeerLevel { n })?;
    }
    Ok(())
}

/// Answers `xmod.add` with `n + 100`, or an error for 13.
#[wasm_bindgen]
pub fn peer_answer_add() {
    keep(bus().respond::<Add>(|req| match req.data.n {
        13 => Err("13 is unlucky".into()),
        n => Ok(n + 100),
    }));
}

/// Asks `xmod.double` of `n`; resolves to `"ok:<reply>"`, `"timeout"`, `"no-responder"` or
/// `"error:<message>"`.
#[wasm_bindgen]
pub async fn peer_request_double(n: u32, timeout_ms: u32) -> String {
    let reply = bus()
        .request::<Double>(&Double { n })
        .timeout(Duration::from_millis(timeout_ms.into()))
        .await;
    match reply {
        Ok(value) => format!("ok:{value}"),
        Err(RequestError::Timeout(_)) => "timeout".into(),
        Err(RequestError::NoResponder) => "no-responder".into(),
        Err(other) => format!("error:{other}"),
    }
}

/// Relays hop 1 as hop 2: the chain continues in this module.
#[wasm_bindgen]
pub fn peer_relay_hops() {
    let relay = bus();
    keep(bus().subscribe::<Hop>(move |ev| {
        if ev.data.hop == 1 {
            let _ = relay.publish::<Hop>(&Hop { hop: 2 });
        }
    }));
}

/// Publishes `data` as event type `ty` without any Rust type: what a foreign module
/// sending garbage looks like.
#[wasm_bindgen]
pub fn peer_publish_json(ty: &str, data: &str) -> Result<(), JsError> {
    let data: serde_json::Value = serde_json::from_str(data)?;
    bus().publish_json(ty, &data)?;
    Ok(())
}

/// Drops every subscription this module made.
#[wasm_bindgen]
pub fn peer_reset() {
    KEEP.with(|k| k.borrow_mut().clear());
}

/// `<test-fragile>`: renders "fine", or panics when connected with an `explode` attribute.
struct Fragile;

impl herald_element::CustomElement for Fragile {
    fn create(_host: &herald_element::Host) -> Self {
        Fragile
    }
    fn connected(&mut self, host: &mut herald_element::Host) {
        if host.element().has_attribute("explode") {
            panic!("fragile exploded");
        }
        host.set_html("fine");
    }
}

/// Defines `<test-fragile>` in this module.
#[wasm_bindgen]
pub fn peer_define_fragile() -> Result<(), JsError> {
    herald_element::define::<Fragile>("test-fragile")?;
    Ok(())
}
