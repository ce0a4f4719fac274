#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use herald_push::{stream_url, Delivery, Error, Position, PushStream};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;
use web_sys::{MessageEvent, MessageEventInit};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn stream_url_resolves_against_the_page_and_repeats_topic() {
    let url = stream_url("/events/stream", &["nop.noise.*", "nop.>"]).unwrap();
    let origin = web_sys::window().unwrap().location().origin().unwrap();
    assert_eq!(url, format!("{origin}/events/stream?topic=nop.noise.*&topic=nop.%3E"));
}

#[wasm_bindgen_test]
async fn an_invalid_pattern_is_an_error_before_anything_opens() {
    let err = PushStream::open("/events/stream", &["nop.>.x"], |_| {}).err().unwrap();
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
}

fn message(id: &str, data: &str) -> MessageEvent {
    let init = MessageEventInit::new();
    init.set_last_event_id(id);
    init.set_data(&JsValue::from_str(data));
    MessageEvent::new_with_event_init_dict("message", &init).unwrap()
}

#[wasm_bindgen_test]
async fn stream_messages_become_deliveries_and_bad_ones_are_skipped() {
    let got: Rc<RefCell<Vec<Delivery>>> = Rc::default();
    let sink = got.clone();
    let stream = PushStream::open("/events/stream", &["nop.>"], move |d| sink.borrow_mut().push(d)).unwrap();
    let es = stream.as_raw();

    let event = r#"{"specversion":"1.0","id":"r-1","source":"/sim","type":"nop.noise.reading","data":{"db":70}}"#;
    es.dispatch_event(&message("5-1", "not json")).unwrap();
    es.dispatch_event(&message("no-position", event)).unwrap();
    es.dispatch_event(&message("5-2", event)).unwrap();
    drop(stream);

    let got = got.borrow();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].position, Position::new(5, 2));
    assert_eq!(got[0].event.id, "r-1");
    assert_eq!(got[0].event.data.as_ref().unwrap()["db"], 70);
}

#[wasm_bindgen_test]
async fn dropping_the_stream_closes_the_event_source() {
    let stream = PushStream::open("/events/stream", &["nop.>"], |_| {}).unwrap();
    let es = stream.as_raw().clone();
    drop(stream);
    assert_eq!(es.ready_state(), web_sys::EventSource::CLOSED);
}
