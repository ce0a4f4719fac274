//! Panic containment: the peer module panics inside an element's callback; the page and
//! this module go on, the peer is never called again, its elements show a fallback, and
//! `herald.mfe.crashed` says what happened. (A page of its own: the peer stays crashed.)
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use herald_bus::{Bus, MfeCrashed};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

mod common;
#[path = "../contract.rs"]
#[allow(dead_code)] // this page uses one contract of the set
mod contract;
use contract::Level;

wasm_bindgen_test_configure!(run_in_browser);

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

#[wasm_bindgen_test]
async fn a_panic_in_one_module_is_contained() {
    common::call("peer_define_fragile", &[]).await;
    common::call("peer_subscribe_levels", &[]).await;

    let bus = Bus::page().with_source("/test/main");
    let crashes = Rc::new(RefCell::new(Vec::<MfeCrashed>::new()));
    let levels = Rc::new(RefCell::new(Vec::new()));
    let (c, l) = (crashes.clone(), levels.clone());
    let _crashes = bus.subscribe::<MfeCrashed>(move |ev| c.borrow_mut().push(ev.data.clone()));
    let _levels = bus.subscribe::<Level>(move |ev| l.borrow_mut().push(ev.data.n));
    // errors that reach the page (an uncaught exception from a crashed module would)
    let errors = Rc::new(RefCell::new(0));
    let counter = errors.clone();
    let on_error = Closure::<dyn Fn(web_sys::Event)>::new(move |_| *counter.borrow_mut() += 1);
    let window = web_sys::window().unwrap();
    window
        .add_event_listener_with_callback("error", on_error.as_ref().unchecked_ref())
        .unwrap();

    let body = document().body().unwrap();
    let healthy = document().create_element("test-fragile").unwrap();
    body.append_child(&healthy).unwrap();
    let before = healthy.text_content();

    let bomb = document().create_element("test-fragile").unwrap();
    bomb.set_attribute("explode", "").unwrap();
    body.append_child(&bomb).unwrap(); // the peer panics in connectedCallback

    bus.publish::<Level>(&Level { n: 7 }).unwrap(); // the peer's subscriber must not run
    let late = document().create_element("test-fragile").unwrap();
    body.append_child(&late).unwrap(); // the crashed module is not called again

    let texts: Vec<Option<String>> = [&healthy, &bomb, &late].iter().map(|e| e.text_content()).collect();
    for element in [&healthy, &bomb, &late] {
        element.remove();
    }
    window
        .remove_event_listener_with_callback("error", on_error.as_ref().unchecked_ref())
        .unwrap();

    assert_eq!(before.as_deref(), Some("fine"));
    let crashes = crashes.borrow();
    assert_eq!(crashes.len(), 1, "{crashes:?}");
    assert_eq!(crashes[0].module, "test-fragile");
    assert_eq!(crashes[0].element.as_deref(), Some("test-fragile"));
    assert!(crashes[0].message.contains("fragile exploded"), "{}", crashes[0].message);
    let fallback = Some("This part of the page stopped working.".to_string());
    assert_eq!(texts, vec![fallback.clone(), fallback.clone(), fallback]);
    assert_eq!(*levels.borrow(), vec![7], "this module keeps publishing and receiving");
    assert_eq!(*errors.borrow(), 0, "nothing escaped to the page");
}
