#![cfg(target_arch = "wasm32")]
//! herald-push in the browser, without a gateway: backoff, the page state that lets
//! independent modules share one connection, and withdrawal. (The stream itself, against
//! the real gateway, is tested end to end in `tests/e2e`.)

use std::time::Duration;

use std::cell::RefCell;
use std::rc::Rc;

use herald_push::{Backoff, ConnectionState, Error, Push};
use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn backoff_doubles_to_the_cap_and_jitters_within_the_upper_half() {
    let backoff = Backoff { base: Duration::from_millis(500), max: Duration::from_secs(30) };
    let ceilings: Vec<u64> = (0..9).map(|n| backoff.ceiling(n).as_millis() as u64).collect();
    assert_eq!(ceilings, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    assert_eq!(backoff.ceiling(u32::MAX), Duration::from_secs(30), "no overflow");
    for attempt in 0..12 {
        let ceiling = backoff.ceiling(attempt);
        for unit in [0.0, 0.25, 0.5, 0.999, js_sys::Math::random()] {
            let delay = backoff.delay(attempt, unit);
            assert!(delay >= ceiling / 2 && delay <= ceiling, "attempt {attempt}: {delay:?} of {ceiling:?}");
        }
    }
    // the jitter spreads: a hundred draws are not all alike
    let draws: std::collections::BTreeSet<u128> =
        (0..100).map(|_| backoff.delay(5, js_sys::Math::random()).as_millis()).collect();
    assert!(draws.len() > 50, "{} distinct delays", draws.len());
}

#[wasm_bindgen_test]
fn the_stream_url_resolves_against_the_page_and_an_invalid_pattern_is_an_error() {
    let push = Push::new("/events/stream?ignored=1").unwrap();
    let origin = web_sys::window().unwrap().location().origin().unwrap();
    assert_eq!(push.url(), format!("{origin}/events/stream"));
    let err = push.subscribe(&["nop.>.x"]).err().unwrap();
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
}

fn page_stream(url: &str) -> JsValue {
    let page = Reflect::get(&js_sys::global(), &js_sys::Symbol::for_("herald.push.v1")).unwrap();
    let streams: js_sys::Map = Reflect::get(&page, &"streams".into()).unwrap().unchecked_into();
    streams.get(&url.into())
}

fn get(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &key.into()).unwrap()
}

async fn next_tick() {
    wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&JsValue::NULL)).await.unwrap();
    sleep(10).await;
}

async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window().unwrap().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms).unwrap();
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
}

/// Records the `herald.connection` states published for `url`.
fn record_states(url: &str) -> (Rc<RefCell<Vec<ConnectionState>>>, herald_bus::Subscription) {
    let states: Rc<RefCell<Vec<ConnectionState>>> = Rc::default();
    let (sink, url) = (states.clone(), url.to_owned());
    let subscription = herald_bus::Bus::page().subscribe::<ConnectionState>(move |event| {
        if event.data.url == url {
            sink.borrow_mut().push(event.data.clone());
        }
    });
    (states, subscription)
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..300 {
        if done() {
            return;
        }
        sleep(10).await;
    }
    panic!("timed out waiting for {what}");
}

#[wasm_bindgen_test]
async fn interests_meet_in_the_page_state_and_one_module_owns_one_connection() {
    // There is no gateway here: each attempt fails (404) and is retried after 25 to 50 ms.
    let quick = Backoff { base: Duration::from_millis(50), max: Duration::from_millis(50) };
    let push = Push::new("/herald-push-test/a/stream").unwrap().backoff(quick);
    let url = push.url().to_owned();
    let module = herald_bus::module_id();
    let (states, _recording) = record_states(&url);

    let first = push.subscribe(&["nop.noise.reading"]).unwrap();
    let second = push.subscribe(&["nop.noise.*", "nop.noise.reading"]).unwrap();
    next_tick().await;
    let stream = page_stream(&url);
    let interests: js_sys::Map = get(&stream, "interests").unchecked_into();
    let topics: Vec<String> = js_sys::Array::from(&interests.get(&module.clone().into()))
        .iter()
        .filter_map(|t| t.as_string())
        .collect();
    assert_eq!(topics, ["nop.noise.*", "nop.noise.reading"], "one entry per module, deduplicated");
    assert_eq!(get(&stream, "owner").as_string(), Some(module.clone()));

    until("a connection attempt and its backoff", || {
        let states = states.borrow();
        states.iter().any(|s| s.state == "connecting") && states.iter().any(|s| s.state == "reconnecting")
    })
    .await;
    {
        let states = states.borrow();
        let connecting = states.iter().find(|s| s.state == "connecting").unwrap();
        assert_eq!(connecting.topics, ["nop.noise.*", "nop.noise.reading"]);
        let retry = states.iter().find(|s| s.state == "reconnecting").unwrap().retry_ms.unwrap();
        assert!((25..=50).contains(&retry), "a retry of {retry} ms");
    }

    // a module with no herald code adds a topic through the page state (as <nop-alerts> does)
    interests.set(&"plain-js".into(), &js_sys::Array::of1(&"nop.sensor.selected".into()));
    announce(&url);
    until("a connection with the plain-JS module's topic", || {
        states.borrow().iter().any(|s| s.state == "connecting" && s.topics.contains(&"nop.sensor.selected".to_owned()))
    })
    .await;
    // never more than one EventSource: each attempt replaced the last
    let source = get(&page_stream(&url), "source");
    assert!(source.is_null() || source.is_instance_of::<web_sys::EventSource>());

    drop(first);
    next_tick().await;
    assert_eq!(get(&page_stream(&url), "owner").as_string(), Some(module.clone()), "one interest is left");
    drop(second);
    next_tick().await;
    let stream = page_stream(&url);
    assert!(get(&stream, "owner").is_null(), "the last interest gives the connection up");
    assert!(get(&stream, "source").is_null());
    assert_eq!(states.borrow().last().unwrap().state, "closed");
    let count = states.borrow().len();
    sleep(120).await;
    assert_eq!(states.borrow().len(), count, "no attempts after the connection was given up");
    interests.delete(&"plain-js".into());
}

fn announce(url: &str) {
    let init = web_sys::CustomEventInit::new();
    let detail = js_sys::Object::new();
    Reflect::set(&detail, &"url".into(), &url.into()).unwrap();
    init.set_detail(&detail);
    let event = web_sys::CustomEvent::new_with_event_init_dict("herald-push:changed", &init).unwrap();
    web_sys::window().unwrap().dispatch_event(&event).unwrap();
}

#[wasm_bindgen_test]
async fn offline_pauses_the_connection_and_online_resumes_it() {
    let quick = Backoff { base: Duration::from_millis(50), max: Duration::from_millis(50) };
    let push = Push::new("/herald-push-test/c/stream").unwrap().backoff(quick);
    let (states, _recording) = record_states(push.url());
    let _interest = push.subscribe(&["nop.>"]).unwrap();
    until("a first attempt", || states.borrow().iter().any(|s| s.state == "connecting")).await;
    let window = web_sys::window().unwrap();
    window.dispatch_event(&web_sys::Event::new("offline").unwrap()).unwrap();
    until("the offline state", || states.borrow().last().is_some_and(|s| s.state == "offline")).await;
    let count = states.borrow().len();
    sleep(150).await;
    assert_eq!(states.borrow().len(), count, "no attempts while offline");
    assert!(get(&page_stream(push.url()), "source").is_null());
    window.dispatch_event(&web_sys::Event::new("online").unwrap()).unwrap();
    until("a new attempt once online", || states.borrow().len() > count && states.borrow()[count].state == "connecting")
        .await;
}

#[wasm_bindgen_test]
async fn a_crashed_owner_is_replaced() {
    let slow = Backoff { base: Duration::from_secs(60), max: Duration::from_secs(60) };
    let push = Push::new("/herald-push-test/b/stream").unwrap().backoff(slow);
    let url = push.url().to_owned();
    // another module owns the stream, then crashes
    let stream_owner = "another-module";
    let _interest = {
        let interest = push.subscribe(&["nop.>"]).unwrap();
        next_tick().await;
        interest
    };
    let stream = page_stream(&url);
    Reflect::set(&stream, &"owner".into(), &stream_owner.into()).unwrap();
    let bus = Reflect::get(&js_sys::global(), &js_sys::Symbol::for_("herald.bus.v1")).unwrap();
    let crashed: js_sys::Set = get(&bus, "crashed").unchecked_into();
    crashed.add(&stream_owner.into());
    // the crash is announced on the bus (herald-element's panic hook does this)
    web_sys::window()
        .unwrap()
        .dispatch_event(&web_sys::CustomEvent::new("herald:herald.mfe.crashed").unwrap())
        .unwrap();
    next_tick().await;
    assert_eq!(get(&page_stream(&url), "owner").as_string(), Some(herald_bus::module_id()));
    crashed.delete(&stream_owner.into());
}
