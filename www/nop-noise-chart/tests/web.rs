#![cfg(target_arch = "wasm32")]

use std::time::Duration;

use herald_bus::Bus;
use nop_events::SensorSelected;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::HtmlElement;

wasm_bindgen_test_configure!(run_in_browser);

fn note(chart: &HtmlElement) -> String {
    chart
        .shadow_root()
        .and_then(|root| root.query_selector(".note").ok().flatten())
        .and_then(|note| note.text_content())
        .unwrap_or_default()
}

#[wasm_bindgen_test]
async fn the_yew_chart_renders_in_its_shadow_root_and_follows_the_selection() {
    nop_noise_chart::register().unwrap();
    let document = web_sys::window().unwrap().document().unwrap();
    let chart: HtmlElement = document.create_element("nop-noise-chart").unwrap().unchecked_into();
    chart.set_attribute("stream", "/no-gateway-here/events/stream").unwrap();
    document.body().unwrap().append_child(&chart).unwrap();
    gloo::timers::future::sleep(Duration::from_millis(20)).await;
    let before = note(&chart);

    Bus::page().publish::<SensorSelected>(&SensorSelected { sensor: "s-3".into() }).unwrap();
    gloo::timers::future::sleep(Duration::from_millis(20)).await;
    let after = note(&chart);
    chart.remove();

    assert_eq!(before, "select a sensor");
    assert_eq!(after, "s-3: 0 readings");
}
