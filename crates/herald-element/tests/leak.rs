//! No leaks, measured: 10,000 elements that each subscribe to the bus are created,
//! connected and removed; afterwards herald's live listeners are back to their baseline,
//! every element value has been freed, and the wasm memory has stopped growing.
//! (`webdriver.json` starts Chromium with `--js-flags=--expose-gc`, so the test can ask
//! for a collection instead of waiting for one.)
//!
//! Collection is not exact: Blink scans the stack conservatively, so a handful of removed
//! elements may stay pinned for a while. A leak keeps all 5,000 of a round; the test
//! allows at most 1% still alive, and at most one wasm page (64 KiB) of growth, while the
//! listener count must be back exactly.
#![cfg(target_arch = "wasm32")]

use std::time::Duration;

use herald_bus::{live_listeners, Bus, Event};
use herald_element::{define, live_elements, CustomElement, Host};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[derive(Serialize, Deserialize)]
struct Tick;

impl Event for Tick {
    const TYPE: &'static str = "test.leak.tick";
    type Data = Self;
}

struct Subscriber;

impl CustomElement for Subscriber {
    fn create(_host: &Host) -> Self {
        Subscriber
    }
    fn connected(&mut self, host: &mut Host) {
        host.set_html("<span>live</span>");
        host.keep(Bus::page().subscribe::<Tick>(|_| {}));
    }
}

const ROUND: usize = 5_000;
/// Element values a collection may leave pinned (1% of a round).
const PINNED: usize = ROUND / 100;
const WASM_PAGE: f64 = 65_536.0;

fn churn(count: usize) {
    let document = web_sys::window().unwrap().document().unwrap();
    let body = document.body().unwrap();
    for _ in 0..count {
        let element = document.create_element("test-leak-subscriber").unwrap();
        body.append_child(&element).unwrap();
        element.remove();
    }
}

fn wasm_memory_bytes() -> f64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    let buffer: js_sys::ArrayBuffer = memory.buffer().unchecked_into();
    buffer.byte_length() as f64
}

/// Collects garbage until every element value is freed (or 5 s pass): finalizers run in
/// tasks after a collection, so it yields between attempts.
async fn collect_until_freed(baseline: usize) -> usize {
    let gc = js_sys::Reflect::get(&js_sys::global(), &"gc".into()).unwrap();
    let gc: js_sys::Function = gc
        .dyn_into()
        .expect("Chromium must run with --js-flags=--expose-gc (see webdriver.json)");
    for _ in 0..100 {
        gc.call0(&JsValue::NULL).unwrap();
        gloo::timers::future::sleep(Duration::from_millis(50)).await;
        if live_elements() <= baseline {
            break;
        }
    }
    live_elements()
}

#[wasm_bindgen_test]
async fn ten_thousand_subscribing_elements_leave_nothing_behind() {
    define::<Subscriber>("test-leak-subscriber").unwrap();
    let listeners = live_listeners();
    let elements = live_elements();

    churn(ROUND);
    let elements_before_collection = live_elements();
    let listeners_after_first = live_listeners();
    let elements_after_first = collect_until_freed(elements).await;
    let memory_after_first = wasm_memory_bytes();

    churn(ROUND);
    let listeners_after_second = live_listeners();
    let elements_after_second = collect_until_freed(elements).await;
    let memory_after_second = wasm_memory_bytes();

    web_sys::console::log_1(&JsValue::from_str(&format!(
        "leak test: {} elements; live listeners {listeners} -> {listeners_after_first} -> {listeners_after_second}; \
         live elements {elements} -> {elements_before_collection} before collection -> {elements_after_first} -> {elements_after_second}; \
         wasm memory {memory_after_first} -> {memory_after_second} bytes",
        2 * ROUND
    )));
    assert_eq!(elements_before_collection, elements + ROUND, "every element got its own value");
    assert_eq!(listeners_after_first, listeners);
    assert_eq!(listeners_after_second, listeners);
    assert!(elements_after_first <= elements + PINNED, "{elements_after_first} element values survived");
    assert!(elements_after_second <= elements + PINNED, "{elements_after_second} element values survived");
    assert!(
        memory_after_second <= memory_after_first + WASM_PAGE,
        "the second 5,000 elements grew the wasm memory from {memory_after_first} to {memory_after_second} bytes"
    );
}
