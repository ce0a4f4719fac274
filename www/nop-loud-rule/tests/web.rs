#![cfg(target_arch = "wasm32")]
//! `<nop-loud-rule>` in the browser: the rule holds for a sensor once it has more than
//! `max-loud` loud readings in the window, ends when they leave it, shows sensor names as
//! text, and lets go of the bus when removed.

use herald_bus::Bus;
use nop_events::NoiseReading;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::HtmlElement;

wasm_bindgen_test_configure!(run_in_browser);

fn text(host: &HtmlElement, selector: &str) -> String {
    host.query_selector(selector).unwrap().unwrap().text_content().unwrap()
}

fn reading(sensor: &str, db: f64, at: u64) -> NoiseReading {
    NoiseReading { sensor: sensor.into(), db, at }
}

#[wasm_bindgen_test]
fn the_rule_holds_and_ends_with_the_window_and_shows_names_as_text() {
    nop_loud_rule::register().unwrap();
    let document = web_sys::window().unwrap().document().unwrap();
    let element: HtmlElement = document.create_element("nop-loud-rule").unwrap().unchecked_into();
    element.set_attribute("stream", "/no-gateway-here/events/stream").unwrap();
    element.set_attribute("max-loud", "2").unwrap();
    element.set_attribute("window-s", "10").unwrap();
    document.body().unwrap().append_child(&element).unwrap();
    assert_eq!(text(&element, ".nop-rule"), "more than 2 readings above 85.0 dB within 10 s (herald-protocol's sliding window)");
    assert_eq!(text(&element, ".nop-rule-fired"), "0");

    let hostile = "<img src=x onerror=\"window.__ruleXss = 1\">";
    let bus = Bus::page();
    for at in [1_000, 2_000] {
        bus.publish::<NoiseReading>(&reading(hostile, 90.0, at)).unwrap();
    }
    assert_eq!(text(&element, ".nop-rule-over"), "", "two are not more than two");
    bus.publish::<NoiseReading>(&reading(hostile, 91.0, 3_000)).unwrap();
    assert_eq!(text(&element, ".nop-rule-over"), format!("{hostile} · 3 loud readings"));
    assert_eq!(text(&element, ".nop-rule-fired"), "1");
    assert!(element.query_selector("img").unwrap().is_none(), "a sensor's name is text");
    // ten seconds after the first, it has left the window: the rule ends
    bus.publish::<NoiseReading>(&reading(hostile, 50.0, 11_000)).unwrap();
    assert_eq!(text(&element, ".nop-rule-over"), "");

    element.remove();
    for at in [20_000, 20_001, 20_002] {
        bus.publish::<NoiseReading>(&reading("s-9", 99.0, at)).unwrap();
    }
    assert_eq!(text(&element, ".nop-rule-fired"), "1", "a removed element hears nothing");
}
