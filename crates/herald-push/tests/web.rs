#![cfg(target_arch = "wasm32")]
//! herald-push in the browser, without a gateway: backoff, the page state that lets
//! independent modules share one connection, and withdrawal. (The stream itself, against
//! the real gateway, is tested end to end in `tests/e2e`.)

use std::time::Duration;

use std::cell::RefCell;
use std::rc::Rc;

use herald_push::{Backoff, ConnectionState, Error, Push};
use js_sys::Reflect;
use wasm_bindgen::prelude::Closure;
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

#[wasm_bindgen_test]
fn an_elements_stream_url_is_its_attribute_else_the_pages_meta_else_the_default() {
    let document = web_sys::window().unwrap().document().unwrap();
    let element = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&element).unwrap();
    assert_eq!(herald_push::stream_url_of(&element), "/events/stream");
    let meta = document.create_element("meta").unwrap();
    meta.set_attribute("name", herald_push::STREAM_META).unwrap();
    meta.set_attribute("content", "https://gw.example/a/stream").unwrap();
    document.head().unwrap().append_child(&meta).unwrap();
    assert_eq!(herald_push::stream_url_of(&element), "https://gw.example/a/stream");
    element.set_attribute("stream", "  ").unwrap();
    assert_eq!(herald_push::stream_url_of(&element), "https://gw.example/a/stream");
    element.set_attribute("stream", "/b/stream").unwrap();
    assert_eq!(herald_push::stream_url_of(&element), "/b/stream");
    meta.remove();
    element.remove();
    // an absolute stream URL publishes beside it; publish_to resolves too; a URL that is
    // none is a typed error
    let push = Push::new("https://gw.example/a/stream#x").unwrap();
    assert_eq!(push.url(), "https://gw.example/a/stream");
    assert!(Push::new("http://[::1").is_err());
    assert!(push.publish_to("http://[::1").is_err());
}

/// The page runtime (docs/protocol.md §2.10), as any module or script finds it.
fn runtime() -> JsValue {
    Reflect::get(&js_sys::global(), &js_sys::Symbol::for_("herald.runtime.v1")).unwrap()
}

/// Calls the runtime's `name` with `args`, as a plain-JS module would.
fn call(name: &str, args: &[JsValue]) -> JsValue {
    let rt = runtime();
    let f: js_sys::Function = Reflect::get(&rt, &name.into()).unwrap().unchecked_into();
    f.apply(&rt, &args.iter().collect::<js_sys::Array>()).unwrap()
}

/// The runtime's view of `url`'s connection: `herald.connection`'s data, as of now.
fn connection(url: &str) -> JsValue {
    call("connection", &[url.into()])
}

fn topics(list: &[&str]) -> JsValue {
    list.iter().map(|t| JsValue::from_str(t)).collect::<js_sys::Array>().into()
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
async fn interests_meet_in_the_page_runtime_which_holds_one_connection() {
    // There is no gateway here: each attempt fails (404) and is retried after 25 to 50 ms.
    let quick = Backoff { base: Duration::from_millis(50), max: Duration::from_millis(50) };
    let push = Push::new("/herald-push-test/a/stream").unwrap().backoff(quick);
    let url = push.url().to_owned();
    let (states, _recording) = record_states(&url);

    let first = push.subscribe(&["nop.noise.reading"]).unwrap();
    let second = push.subscribe(&["nop.noise.*", "nop.noise.reading"]).unwrap();
    assert!(runtime().is_object(), "the first module to need it installed the page runtime");

    until("a connection attempt and its backoff", || {
        let states = states.borrow();
        states.iter().any(|s| s.state == "connecting") && states.iter().any(|s| s.state == "reconnecting")
    })
    .await;
    {
        let states = states.borrow();
        let connecting = states.iter().find(|s| s.state == "connecting").unwrap();
        assert_eq!(connecting.topics, ["nop.noise.*", "nop.noise.reading"], "the union, deduplicated and sorted");
        assert_eq!(states.iter().filter(|s| s.state == "connecting").count(), 1, "one connection for both");
        let retry = states.iter().find(|s| s.state == "reconnecting").unwrap().retry_ms.unwrap();
        assert!((25..=50).contains(&retry), "a retry of {retry} ms");
    }

    // a module with no herald code adds a topic through the runtime (as <nop-alerts> does)
    let plain = call("interest", &[url.as_str().into(), topics(&["nop.sensor.selected"])]);
    until("a connection with the plain-JS module's topic", || {
        states.borrow().iter().any(|s| s.state == "connecting" && s.topics.contains(&"nop.sensor.selected".to_owned()))
    })
    .await;

    drop(first);
    drop(second);
    next_tick().await;
    assert_ne!(get(&connection(&url), "state").as_string().as_deref(), Some("closed"), "the plain-JS interest is left");
    let release: js_sys::Function = get(&plain, "release").unchecked_into();
    release.call0(&plain).unwrap();
    release.call0(&plain).unwrap(); // a second release is nothing
    next_tick().await;
    assert_eq!(states.borrow().last().unwrap().state, "closed", "the last interest closes the connection");
    let count = states.borrow().len();
    sleep(120).await;
    assert_eq!(states.borrow().len(), count, "no attempts after the connection was given up");
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
    assert_eq!(get(&connection(push.url()), "state").as_string().as_deref(), Some("offline"));
    window.dispatch_event(&web_sys::Event::new("online").unwrap()).unwrap();
    until("a new attempt once online", || states.borrow().len() > count && states.borrow()[count].state == "connecting")
        .await;
}

#[wasm_bindgen_test]
async fn a_crashed_modules_topics_are_dropped() {
    // each attempt fails (no gateway) and the next one carries the topics of then
    let quick = Backoff { base: Duration::from_millis(50), max: Duration::from_millis(50) };
    let push = Push::new("/herald-push-test/b/stream").unwrap().backoff(quick);
    let url = push.url().to_owned();
    let (states, _recording) = record_states(&url);
    let _interest = push.subscribe(&["nop.>"]).unwrap();
    // another module needs a topic too, then crashes
    let options = js_sys::Object::new();
    Reflect::set(&options, &"module".into(), &"another-module".into()).unwrap();
    let _other = call("interest", &[url.as_str().into(), topics(&["crash.x"]), options.into()]);
    until("a connection with both modules' topics", || {
        states.borrow().iter().any(|s| s.state == "connecting" && s.topics == ["crash.x", "nop.>"])
    })
    .await;
    let bus = Reflect::get(&js_sys::global(), &js_sys::Symbol::for_("herald.bus.v1")).unwrap();
    let crashed: js_sys::Set = get(&bus, "crashed").unchecked_into();
    crashed.add(&"another-module".into());
    // the crash is announced on the bus (herald-element's panic hook does this)
    web_sys::window()
        .unwrap()
        .dispatch_event(&web_sys::CustomEvent::new("herald:herald.mfe.crashed").unwrap())
        .unwrap();
    until("a connection without the crashed module's topic", || {
        let states = states.borrow();
        let crash = states.iter().rposition(|s| s.topics.contains(&"crash.x".to_owned())).unwrap_or(0);
        states[crash..].iter().any(|s| s.state == "connecting" && s.topics == ["nop.>"])
    })
    .await;
    crashed.delete(&"another-module".into());
}

/// Holds the Web Lock of `url`'s election, as a leader tab would, until the returned
/// function is called.
fn hold_the_lock(url: &str) -> js_sys::Function {
    let release = Rc::new(RefCell::new(None::<js_sys::Function>));
    let sink = release.clone();
    let mut hold = move |resolve: js_sys::Function, _reject: js_sys::Function| {
        *sink.borrow_mut() = Some(resolve);
    };
    let held = js_sys::Promise::new(&mut hold);
    let callback = Closure::once_into_js(move || held);
    // navigator.locks.request(name, callback), through Reflect: web-sys marks the Web Locks
    // API unstable
    let navigator = web_sys::window().unwrap().navigator();
    let locks = Reflect::get(&navigator, &"locks".into()).unwrap();
    let request: js_sys::Function = Reflect::get(&locks, &"request".into()).unwrap().unchecked_into();
    request.call2(&locks, &format!("herald.push:{url}").into(), &callback).unwrap();
    let release = release.clone();
    Closure::once_into_js(move || {
        if let Some(resolve) = release.borrow_mut().take() {
            let _ = resolve.call0(&JsValue::NULL);
        }
    })
    .unchecked_into()
}

/// Posts `{name: value, …}` on the tabs' channel, as another tab's runtime would.
fn post(channel: &web_sys::BroadcastChannel, fields: &[(&str, &str)]) {
    let message = js_sys::Object::new();
    for (name, value) in fields {
        Reflect::set(&message, &(*name).into(), &(*value).into()).unwrap();
    }
    channel.post_message(&message).unwrap();
}

fn relay(channel: &web_sys::BroadcastChannel, id: &str, data: &str) {
    post(channel, &[("kind", "event"), ("id", id), ("data", data)]);
}

fn reading(id: &str, db: f64) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"urn:test:leader","type":"test.push.reading","data":{{"db":{db}}}}}"#
    )
}

#[wasm_bindgen_test]
async fn a_follower_tab_delivers_the_leaders_events_exactly_once_and_resyncs_on_reset() {
    let push = Push::new("/herald-push-test/d/stream").unwrap();
    let url = push.url().to_owned();
    // "another tab" leads: it holds the lock and relays over the channel
    let release = hold_the_lock(&url);
    sleep(20).await;
    let (states, _recording) = record_states(&url);
    let seen: Rc<RefCell<Vec<(String, String)>>> = Rc::default();
    let sink = seen.clone();
    let _events = herald_bus::Bus::page()
        .subscribe_pattern("test.push.>", move |event| {
            let position = event.extensions.get("heraldposition").and_then(|p| p.as_str()).unwrap_or("").to_owned();
            sink.borrow_mut().push((event.id.clone(), position));
        })
        .unwrap();
    let resets: Rc<RefCell<Vec<herald_push::StreamReset>>> = Rc::default();
    let reset_sink = resets.clone();
    let _resets = herald_bus::Bus::page().subscribe::<herald_push::StreamReset>(move |event| {
        reset_sink.borrow_mut().push(event.data.clone());
    });
    let _interest = push.subscribe(&["test.push.>"]).unwrap();
    until("the follower state", || states.borrow().iter().any(|s| s.state == "following")).await;
    assert_eq!(get(&connection(&url), "state").as_string().as_deref(), Some("following"), "a follower has no connection");

    let leader = web_sys::BroadcastChannel::new(&format!("herald.push:{url}")).unwrap();
    relay(&leader, "7-1", &reading("r-1", 60.0));
    relay(&leader, "7-2", &reading("r-2", 61.0));
    relay(&leader, "7-2", &reading("r-2", 61.0)); // the same position again
    relay(&leader, "7-1", &reading("r-1", 60.0)); // an older position
    relay(&leader, "7-3", &reading("r-2", 61.0)); // the same source and id, another position
    relay(&leader, "7-4", &reading("r-3", 62.0));
    relay(&leader, "", r#"{"specversion":"1.0","id":"n","source":"urn:herald:gateway","type":"herald.slow","data":{"reason":"x"}}"#);
    until("the relayed events", || seen.borrow().len() >= 3).await;
    sleep(50).await;
    let ids: Vec<(String, String)> = seen.borrow().clone();
    assert_eq!(
        ids,
        [("r-1".into(), "7-1".into()), ("r-2".into(), "7-2".into()), ("r-3".into(), "7-4".into())],
        "exactly once, with the position on the envelope"
    );
    assert_eq!(get(&connection(&url), "position").as_string().as_deref(), Some("7-4"));

    // the leader's stream was reset: the page resyncs from the head it names
    relay(
        &leader,
        "9-0",
        r#"{"specversion":"1.0","id":"reset-9-0","source":"urn:herald:gateway","type":"herald.reset","data":{"requested":"7-4","head":"9-0","reason":"the position is from another epoch of the event log"}}"#,
    );
    until("the reset on the bus", || !resets.borrow().is_empty()).await;
    assert_eq!(resets.borrow()[0].head.to_string(), "9-0");
    assert_eq!(get(&connection(&url), "position").as_string().as_deref(), Some("9-0"));
    relay(&leader, "9-1", &reading("r-4", 63.0));
    until("an event of the new epoch", || seen.borrow().len() == 4).await;

    // the leader tab goes away: this tab takes over the connection
    release.call0(&JsValue::NULL).unwrap();
    until("the connection taken over", || states.borrow().iter().any(|s| s.state == "connecting")).await;
    let taken = states.borrow().iter().find(|s| s.state == "connecting").cloned().unwrap();
    assert_eq!(taken.position.as_deref(), Some("9-1"), "resumes from the last position");
}

fn tell_head(channel: &web_sys::BroadcastChannel, head: &str) {
    post(channel, &[("kind", "head"), ("head", head)]);
}

#[wasm_bindgen_test]
async fn a_follower_without_events_takes_over_from_the_head_its_leader_told() {
    let push = Push::new("/herald-push-test/h/stream").unwrap();
    let url = push.url().to_owned();
    let release = hold_the_lock(&url);
    sleep(20).await;
    let (states, _recording) = record_states(&url);
    let _interest = push.subscribe(&["test.push.>"]).unwrap();
    until("the follower state", || states.borrow().iter().any(|s| s.state == "following")).await;

    // no event has come: the leader's position is all this tab has to go on from
    let leader = web_sys::BroadcastChannel::new(&format!("herald.push:{url}")).unwrap();
    tell_head(&leader, "not a position");
    tell_head(&leader, "5-3");
    tell_head(&leader, "5-9"); // a later head does not move a position already taken
    sleep(50).await;
    release.call0(&JsValue::NULL).unwrap();
    until("the connection taken over", || states.borrow().iter().any(|s| s.state == "connecting")).await;
    let taken = states.borrow().iter().find(|s| s.state == "connecting").cloned().unwrap();
    assert_eq!(taken.position.as_deref(), Some("5-3"), "resumes from the head the leader told");
}

#[derive(Debug, PartialEq, serde::Deserialize)]
struct Calibration {
    sensor: String,
    offset_db: f64,
}

#[wasm_bindgen_test]
async fn a_pointer_resolves_to_its_typed_document_or_a_clear_error() {
    let push = Push::new("/events/stream").unwrap();
    // a document as a data: URL (the test server has no gateway)
    let pointer = "data:application/json,%7B%22sensor%22%3A%22s-1%22%2C%22offset_db%22%3A-1.5%7D";
    let calibration: Calibration = push.resolve(pointer).await.unwrap();
    assert_eq!(calibration, Calibration { sensor: "s-1".into(), offset_db: -1.5 });

    // not of the type asked for
    let wrong = push.resolve::<Calibration>("data:application/json,%7B%22sensor%22%3A1%7D").await;
    match wrong {
        Err(Error::Document { url, reason }) => {
            assert!(url.starts_with("data:"), "{url}");
            assert!(!reason.is_empty());
        }
        other => panic!("expected a Document error, got {other:?}"),
    }

    // a status other than 2xx, with its status
    match push.resolve::<Calibration>("/no-such-record-here").await {
        Err(Error::Rejected { status, .. }) => assert_eq!(status, 404),
        other => panic!("expected a 404, got {other:?}"),
    }
}
