#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use herald_bus::Bus;
use nop_events::SensorSelected;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::HtmlElement;

wasm_bindgen_test_configure!(run_in_browser);

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

#[wasm_bindgen_test]
async fn clicking_a_sensor_publishes_sensor_selected_on_the_page_bus() {
    nop_sensor_list::register().unwrap();
    let list: HtmlElement = document().create_element("nop-sensor-list").unwrap().unchecked_into();
    list.set_attribute("stream", "/no-gateway-here/events/stream").unwrap();
    document().body().unwrap().append_child(&list).unwrap();
    let status = list.query_selector(".nop-status").unwrap().unwrap().text_content();

    let heard: Rc<RefCell<Vec<(String, String)>>> = Rc::default();
    let sink = heard.clone();
    let _sub = Bus::page().subscribe::<SensorSelected>(move |event| {
        sink.borrow_mut()
            .push((event.data.sensor.clone(), event.envelope.source.clone()));
    });
    // a row as the list renders one for a reading
    let ul = list.query_selector("ul").unwrap().unwrap();
    ul.set_inner_html(r#"<li data-sensor="s-5"><button>s-5</button><span class="nop-db">60.0 dB</span></li>"#);
    let button: HtmlElement = list.query_selector("button").unwrap().unwrap().unchecked_into();
    button.click();

    list.remove();
    button.click(); // detached: its click listener is gone
    let heard = heard.borrow().clone();

    assert_eq!(status.as_deref(), Some("waiting for readings…"));
    assert_eq!(heard, vec![("s-5".to_string(), "/mfe/nop-sensor-list".to_string())]);
}
