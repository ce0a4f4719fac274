#![cfg(target_arch = "wasm32")]

use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{CustomEvent, CustomEventInit, HtmlElement};

wasm_bindgen_test_configure!(run_in_browser);

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

fn text(host: &HtmlElement, selector: &str) -> String {
    host.query_selector(selector).unwrap().unwrap().text_content().unwrap()
}

/// What a plain-JS micro-frontend would dispatch: no herald code on the sending side.
fn select_from_plain_js(sensor: &str) {
    let detail = js_sys::JSON::parse(&format!(
        r#"{{"specversion":"1.0","id":"js-{sensor}","source":"/plain-js","type":"nop.sensor.selected","data":{{"sensor":"{sensor}"}}}}"#
    ))
    .unwrap();
    let init = CustomEventInit::new();
    init.set_bubbles(true);
    init.set_composed(true);
    init.set_detail(&detail);
    let event = CustomEvent::new_with_event_init_dict("herald:nop.sensor.selected", &init).unwrap();
    web_sys::window().unwrap().dispatch_event(&event).unwrap();
}

#[wasm_bindgen_test]
async fn the_meter_renders_and_follows_selections_only_while_connected() {
    nop_noise_meter::register().unwrap();
    let meter: HtmlElement = document().create_element("nop-noise-meter").unwrap().unchecked_into();
    // a stream URL nobody serves: the meter must still render and hear the bus
    meter.set_attribute("stream", "/no-gateway-here/events/stream").unwrap();
    document().body().unwrap().append_child(&meter).unwrap();

    let initial = text(&meter, ".nop-meter-selected");
    select_from_plain_js("s-7");
    let selected = text(&meter, ".nop-meter-selected");
    let waiting = text(&meter, ".nop-meter-sensor");

    meter.remove();
    select_from_plain_js("s-8"); // heard by nobody: the subscription went with the element
    let after_removal = text(&meter, ".nop-meter-selected");

    document().body().unwrap().append_child(&meter).unwrap(); // re-connected: fresh and live
    select_from_plain_js("s-9");
    let reconnected = text(&meter, ".nop-meter-selected");
    meter.remove();

    assert_eq!(initial, "none");
    assert_eq!(selected, "s-7");
    assert_eq!(waiting, "s-7: no reading yet");
    assert_eq!(after_removal, "s-7");
    assert_eq!(reconnected, "s-9");
}
