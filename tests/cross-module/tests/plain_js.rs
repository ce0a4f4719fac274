//! The plain-JavaScript micro-frontend `<nop-alerts>` (www/nop-alerts/nop-alerts.js, no
//! herald code) interoperating with herald's Rust bus and a Rust micro-frontend.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use herald_bus::Bus;
use nop_events::{NoiseAlert, NoiseReading, SensorSelected};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::HtmlElement;

mod common;

wasm_bindgen_test_configure!(run_in_browser);

const NOP_ALERTS_JS: &str = include_str!("../../../www/nop-alerts/nop-alerts.js");

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

#[wasm_bindgen_test]
async fn the_plain_js_mfe_hears_and_publishes_herald_events() {
    common::import_source(NOP_ALERTS_JS).await;
    nop_noise_meter::register().unwrap();
    let alerts: HtmlElement = document().create_element("nop-alerts").unwrap().unchecked_into();
    alerts.set_attribute("max-loud", "2").unwrap();
    let meter: HtmlElement = document().create_element("nop-noise-meter").unwrap().unchecked_into();
    meter.set_attribute("stream", "/no-gateway-here/events/stream").unwrap();
    document().body().unwrap().append_child(&alerts).unwrap();
    document().body().unwrap().append_child(&meter).unwrap();

    let bus = Bus::page().with_source("/test/rust-sensor");
    let raised = Rc::new(RefCell::new(Vec::new()));
    let sink = raised.clone();
    let _alerts = bus.subscribe::<NoiseAlert>(move |ev| sink.borrow_mut().push((ev.data.clone(), ev.envelope.clone())));

    // Rust → JS: three loud readings; more than two within the window raise an alert
    let mut readings = Vec::new();
    for (i, db) in [90.0, 60.0, 91.0, 95.0].into_iter().enumerate() {
        let reading = NoiseReading { sensor: "s-9".into(), db, at: 1_000 + i as u64 * 1_000 };
        readings.push(bus.publish::<NoiseReading>(&reading).unwrap());
    }
    let raised = raised.borrow().clone();
    assert_eq!(raised.len(), 1, "{raised:?}");
    let (alert, envelope) = &raised[0];
    assert_eq!((alert.sensor.as_str(), alert.count, alert.window_s), ("s-9", 3, 60.0));
    assert_eq!(envelope.source, "/mfe/nop-alerts");
    assert_eq!(envelope.causationid.as_deref(), Some(readings[3].id.as_str()));
    assert_eq!(envelope.correlation_id(), readings[3].id);
    assert_eq!(envelope.sequence(), Some(1));

    // JS → Rust MFE: clicking the alert selects the sensor in the Rust meter
    let button: HtmlElement = alerts
        .query_selector(r#"li[data-sensor="s-9"] button"#)
        .unwrap()
        .expect("the alert is listed")
        .unchecked_into();
    button.click();
    let selected = meter.query_selector(".nop-meter-selected").unwrap().unwrap().text_content();

    // Rust → JS: a selection published from Rust highlights the alert
    bus.publish::<SensorSelected>(&SensorSelected { sensor: "s-1".into() }).unwrap();
    let class_after_other = alerts.query_selector("li").unwrap().unwrap().class_name();
    bus.publish::<SensorSelected>(&SensorSelected { sensor: "s-9".into() }).unwrap();
    let class_after_own = alerts.query_selector("li").unwrap().unwrap().class_name();

    alerts.remove();
    meter.remove();
    assert_eq!(selected.as_deref(), Some("s-9"));
    assert_eq!(class_after_other, "");
    assert_eq!(class_after_own, "nop-selected");
}
