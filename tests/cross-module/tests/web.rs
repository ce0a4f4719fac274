//! herald's bus across two independently compiled wasm modules: this test module and the
//! peer module in `peer/`, loaded with a dynamic `import()`.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use herald_bus::{Bus, DeadLetter, RequestError, Retention};
use js_sys::Array;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

mod common;
#[path = "../contract.rs"]
mod contract;
use common::call;
use contract::{Add, Double, Hop, Level, PeerLevel};

wasm_bindgen_test_configure!(run_in_browser);

fn numbers(value: JsValue) -> Vec<u32> {
    Array::from(&value).iter().map(|v| v.as_f64().unwrap() as u32).collect()
}

#[wasm_bindgen_test]
async fn a_late_subscriber_in_a_second_module_receives_retained_events() {
    let bus = Bus::page().with_source("/test/main");
    bus.retain::<Level>(Retention::LastN(3)).unwrap();
    for n in 1..=5 {
        bus.publish::<Level>(&Level { n }).unwrap();
    }
    // the peer module subscribes only now, long after the events were published
    call("peer_subscribe_levels", &[]).await;
    bus.publish::<Level>(&Level { n: 6 }).unwrap();
    let received = numbers(call("peer_levels", &[]).await);

    // and the other way round: the peer retains, this module subscribes late
    call("peer_publish_levels", &[JsValue::from(4)]).await;
    let here = Rc::new(RefCell::new(Vec::new()));
    let sink = here.clone();
    let _late = bus.subscribe::<PeerLevel>(move |ev| sink.borrow_mut().push((ev.data.n, ev.envelope.source.clone())));

    call("peer_reset", &[]).await;
    assert_eq!(received, vec![3, 4, 5, 6]);
    assert_eq!(
        *here.borrow(),
        vec![(3, "/test/peer".to_string()), (4, "/test/peer".to_string())]
    );
}

#[wasm_bindgen_test]
async fn request_reply_across_modules_with_success_error_timeout_and_no_responder() {
    let bus = Bus::page().with_source("/test/main");
    // this module asks, the peer answers
    call("peer_answer_add", &[]).await;
    let ok = bus.request::<Add>(&Add { n: 1 }).await;
    let failed = bus.request::<Add>(&Add { n: 13 }).await;
    call("peer_reset", &[]).await;
    let nobody = bus.request::<Add>(&Add { n: 1 }).await;

    // the peer asks, this module answers ... or claims and stays silent
    let no_responder = call("peer_request_double", &[JsValue::from(2), JsValue::from(1000)]).await;
    let responder = bus.respond::<Double>(|req| Ok(req.data.n * 2));
    let answered = call("peer_request_double", &[JsValue::from(21), JsValue::from(1000)]).await;
    drop(responder);
    let claim_only = web_sys::window().unwrap();
    let claimer = wasm_bindgen::closure::Closure::<dyn Fn(web_sys::Event)>::new(|e: web_sys::Event| {
        e.stop_immediate_propagation();
        e.prevent_default();
    });
    claim_only
        .add_event_listener_with_callback_and_bool("herald:xmod.double", claimer.as_ref().unchecked_ref(), true)
        .unwrap();
    let timed_out = call("peer_request_double", &[JsValue::from(1), JsValue::from(50)]).await;
    claim_only
        .remove_event_listener_with_callback_and_bool("herald:xmod.double", claimer.as_ref().unchecked_ref(), true)
        .unwrap();

    assert_eq!(ok, Ok(101));
    assert_eq!(failed, Err(RequestError::Responder("13 is unlucky".into())));
    assert_eq!(nobody, Err(RequestError::NoResponder));
    assert_eq!(no_responder.as_string().as_deref(), Some("no-responder"));
    assert_eq!(answered.as_string().as_deref(), Some("ok:42"));
    assert_eq!(timed_out.as_string().as_deref(), Some("timeout"));
}

#[wasm_bindgen_test]
async fn correlation_and_causation_chain_across_three_hops_and_two_modules() {
    let bus = Bus::page().with_source("/test/main");
    call("peer_relay_hops", &[]).await;
    let relay = bus.clone();
    let hops = Rc::new(RefCell::new(Vec::new()));
    let sink = hops.clone();
    let _chain = bus.subscribe::<Hop>(move |ev| {
        sink.borrow_mut().push(ev.envelope.clone());
        if ev.data.hop == 2 {
            relay.publish::<Hop>(&Hop { hop: 3 }).unwrap();
        }
    });
    let first = bus.publish::<Hop>(&Hop { hop: 1 }).unwrap();
    call("peer_reset", &[]).await;

    let hops = hops.borrow();
    let by_source = |source: &str| hops.iter().filter(|e| e.source == source).cloned().collect::<Vec<_>>();
    let from_peer = by_source("/test/peer");
    let mine = by_source("/test/main");
    assert_eq!(hops.len(), 3, "{hops:?}");
    assert_eq!(from_peer.len(), 1);
    let (second, third) = (&from_peer[0], mine.iter().find(|e| e.id != first.id).unwrap());
    assert_eq!(second.correlation_id(), first.id);
    assert_eq!(second.causationid.as_deref(), Some(first.id.as_str()));
    assert_eq!(third.correlation_id(), first.id);
    assert_eq!(third.causationid.as_deref(), Some(second.id.as_str()));
}

#[wasm_bindgen_test]
async fn garbage_from_another_module_lands_in_the_dead_letter_topic() {
    let bus = Bus::page();
    let letters = Rc::new(RefCell::new(Vec::<DeadLetter>::new()));
    let good = Rc::new(RefCell::new(Vec::new()));
    let (l, g) = (letters.clone(), good.clone());
    let _dead = bus.subscribe::<DeadLetter>(move |ev| l.borrow_mut().push(ev.data.clone()));
    let _typed = bus.subscribe::<Level>(move |ev| g.borrow_mut().push(ev.data.n));

    call("peer_publish_json", &["xmod.level".into(), r#"{"n": "garbage"}"#.into()]).await;
    bus.publish::<Level>(&Level { n: 99 }).unwrap();

    let letters = letters.borrow();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].subscriber, "xmod.level");
    assert_eq!(letters[0].event["source"], "/test/peer");
    assert_eq!(letters[0].event["data"]["n"], "garbage");
    assert_eq!(*good.borrow(), vec![99], "the page keeps working");
}
