//! The bus's capabilities within one module: retained events, patterns, request/response,
//! ordering, dead letters, versioned contracts, re-entrant handlers, sliding windows.
//! (Across independently compiled modules: `tests/cross-module`.)
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use herald_bus::{json, Bus, DeadLetter, Event, Irregularity, Request, RequestError, Retention};
use herald_protocol::{Crossing, ThresholdAlert};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;
use web_sys::{CustomEvent, CustomEventInit};

wasm_bindgen_test_configure!(run_in_browser);

type Log<T> = Rc<RefCell<Vec<T>>>;

fn log<T>() -> Log<T> {
    Rc::default()
}

/// Declares an event type with payload `{ n: u32 }`.
macro_rules! event {
    ($name:ident, $ty:literal) => {
        event!($name, $ty, 1);
    };
    ($name:ident, $ty:literal, $version:literal) => {
        #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
        struct $name {
            n: u32,
        }
        impl Event for $name {
            const TYPE: &'static str = $ty;
            const VERSION: u32 = $version;
            type Data = Self;
        }
    };
}

fn dispatch_raw(name: &str, detail: &JsValue) {
    let init = CustomEventInit::new();
    init.set_detail(detail);
    let event = CustomEvent::new_with_event_init_dict(name, &init).unwrap();
    web_sys::window().unwrap().dispatch_event(&event).unwrap();
}

event!(Level, "test.retained.level");

#[wasm_bindgen_test]
async fn late_subscribers_receive_retained_events_first_in_order() {
    let bus = Bus::page();
    bus.retain::<Level>(Retention::LastN(2)).unwrap();
    // the same policy again is fine; another is an error
    bus.retain::<Level>(Retention::LastN(2)).unwrap();
    assert!(bus.retain::<Level>(Retention::LastValue).is_err());
    for n in 1..=3 {
        bus.publish::<Level>(&Level { n }).unwrap();
    }

    let got: Log<u32> = log();
    let sink = got.clone();
    let _late = bus.subscribe::<Level>(move |ev| sink.borrow_mut().push(ev.data.n));
    bus.publish::<Level>(&Level { n: 4 }).unwrap();

    let skipped: Log<u32> = log();
    let sink = skipped.clone();
    let _no_replay = bus
        .subscription::<Level>()
        .no_replay()
        .handle(move |ev| sink.borrow_mut().push(ev.data.n));
    bus.publish::<Level>(&Level { n: 5 }).unwrap();

    assert_eq!(*got.borrow(), vec![2, 3, 4, 5]);
    assert_eq!(*skipped.borrow(), vec![5]);
}

event!(Kept, "test.retained.kept");

#[wasm_bindgen_test]
async fn a_retained_record_holds_its_own_copy_of_the_envelope() {
    let bus = Bus::page();
    bus.retain::<Kept>(Retention::LastValue).unwrap();
    let sent = bus.publish::<Kept>(&Kept { n: 7 }).unwrap();
    // a few more events, of another type, in the same shared chunk
    for n in 0..3 {
        bus.publish::<Level>(&Level { n }).unwrap();
    }
    let read = js_sys::Function::new_no_args(
        r#"
        const [r] = globalThis[Symbol.for("herald.bus.v1")].retained.get("test.retained.kept").events;
        const own = r.utf8.byteOffset === 0 && r.utf8.buffer.byteLength === r.utf8.byteLength;
        const same = r.json === new TextDecoder().decode(r.utf8);
        return JSON.stringify([own, same, r.detail.id, r.detail.data.n, r.at > 0, r.n > 0]);
        "#,
    );
    let read = read.call0(&JsValue::NULL).unwrap().as_string().unwrap();
    assert_eq!(read, format!(r#"[true,true,"{}",7,true,true]"#, sent.id));
}

event!(Aged, "test.retained.aged");

#[wasm_bindgen_test]
async fn max_age_retention_forgets_old_events() {
    let bus = Bus::page();
    bus.retain::<Aged>(Retention::MaxAge(Duration::from_millis(50)))
        .unwrap();
    bus.publish::<Aged>(&Aged { n: 1 }).unwrap();
    gloo::timers::future::sleep(Duration::from_millis(120)).await;
    bus.publish::<Aged>(&Aged { n: 2 }).unwrap();
    let got: Log<u32> = log();
    let sink = got.clone();
    let _late = bus.subscribe::<Aged>(move |ev| sink.borrow_mut().push(ev.data.n));
    assert_eq!(*got.borrow(), vec![2]);
}

event!(PatA, "test.pattern.a");
event!(PatB, "test.pattern.deep.b");
event!(Other, "test.other.c");

#[wasm_bindgen_test]
async fn pattern_subscriptions_receive_raw_envelopes_of_matching_types() {
    let bus = Bus::page();
    bus.retain::<PatA>(Retention::LastValue).unwrap();
    bus.publish::<PatA>(&PatA { n: 1 }).unwrap(); // retained before anyone listens

    let one: Log<String> = log();
    let rest: Log<String> = log();
    let (a, b) = (one.clone(), rest.clone());
    let star = bus
        .subscribe_pattern("test.pattern.*", move |ev| {
            a.borrow_mut()
                .push(format!("{}={}", ev.ty, json::from_str::<serde_json::Value>(ev.data.as_ref().unwrap().get()).unwrap()["n"]))
        })
        .unwrap();
    let _gt = bus
        .subscribe_pattern("test.>", move |ev| b.borrow_mut().push(ev.ty.clone()))
        .unwrap();
    bus.publish::<PatB>(&PatB { n: 2 }).unwrap();
    bus.publish::<PatA>(&PatA { n: 3 }).unwrap();
    bus.publish::<Other>(&Other { n: 4 }).unwrap();
    drop(star);
    bus.publish::<PatA>(&PatA { n: 5 }).unwrap();

    assert_eq!(*one.borrow(), vec!["test.pattern.a=1", "test.pattern.a=3"]);
    assert!(rest.borrow().ends_with(&[
        "test.pattern.deep.b".to_string(),
        "test.pattern.a".to_string(),
        "test.other.c".to_string(),
        "test.pattern.a".to_string(),
    ]));
    assert!(bus.subscribe_pattern("test.>.x", |_| {}).is_err());
}

event!(Add, "test.request.add");
impl Request for Add {
    type Reply = u32;
}
event!(Lonely, "test.request.lonely");
impl Request for Lonely {
    type Reply = u32;
}
event!(Slow, "test.request.slow");
impl Request for Slow {
    type Reply = u32;
}

#[wasm_bindgen_test]
async fn request_response_success_error_timeout_and_no_responder() {
    let bus = Bus::page();
    let _adder = bus.respond::<Add>(|req| {
        if req.data.n == 13 {
            Err("13 is unlucky".into())
        } else {
            Ok(req.data.n + 100)
        }
    });
    // a second responder never sees requests the first one claimed
    let second_calls = Rc::new(RefCell::new(0));
    let counter = second_calls.clone();
    let _second = bus.respond::<Add>(move |_| {
        *counter.borrow_mut() += 1;
        Ok(0)
    });
    // a responder that claims the request but never answers (as a slow JS one might)
    let claim =
        wasm_bindgen::closure::Closure::<dyn Fn(web_sys::Event)>::new(|e: web_sys::Event| {
            e.prevent_default()
        });
    let window = web_sys::window().unwrap();
    use wasm_bindgen::JsCast;
    window
        .add_event_listener_with_callback(
            "herald:test.request.slow",
            claim.as_ref().unchecked_ref(),
        )
        .unwrap();

    let ok = bus.request::<Add>(&Add { n: 1 }).await;
    let failed = bus.request::<Add>(&Add { n: 13 }).await;
    let nobody = bus.request::<Lonely>(&Lonely { n: 1 }).await;
    let slow = bus
        .request::<Slow>(&Slow { n: 1 })
        .timeout(Duration::from_millis(30))
        .await;

    window
        .remove_event_listener_with_callback(
            "herald:test.request.slow",
            claim.as_ref().unchecked_ref(),
        )
        .unwrap();
    assert_eq!(ok, Ok(101));
    assert_eq!(failed, Err(RequestError::Responder("13 is unlucky".into())));
    assert_eq!(nobody, Err(RequestError::NoResponder));
    assert_eq!(slow, Err(RequestError::Timeout(Duration::from_millis(30))));
    assert_eq!(*second_calls.borrow(), 0);
}

#[wasm_bindgen_test]
async fn dropping_a_pending_request_cancels_it() {
    let bus = Bus::page();
    let cancelled: Log<String> = log();
    let sink = cancelled.clone();
    let _watch = bus.subscribe::<herald_bus::RequestCancelled>(move |ev| {
        sink.borrow_mut().push(ev.data.id.clone())
    });
    let claim =
        wasm_bindgen::closure::Closure::<dyn Fn(web_sys::Event)>::new(|e: web_sys::Event| {
            e.prevent_default()
        });
    use wasm_bindgen::JsCast;
    let window = web_sys::window().unwrap();
    window
        .add_event_listener_with_callback(
            "herald:test.request.slow",
            claim.as_ref().unchecked_ref(),
        )
        .unwrap();
    let pending = std::future::IntoFuture::into_future(
        bus.request::<Slow>(&Slow { n: 2 })
            .timeout(Duration::from_secs(10)),
    );
    drop(pending);
    window
        .remove_event_listener_with_callback(
            "herald:test.request.slow",
            claim.as_ref().unchecked_ref(),
        )
        .unwrap();
    assert_eq!(cancelled.borrow().len(), 1);
}

event!(Strict, "test.deadletter.strict");

#[wasm_bindgen_test]
async fn undecodable_events_become_dead_letters_and_nothing_else_breaks() {
    let bus = Bus::page();
    let letters: Log<DeadLetter> = log();
    let envelopes: Log<herald_protocol::CloudEvent<()>> = log();
    let (sink, heads) = (letters.clone(), envelopes.clone());
    let _dl = bus.subscribe::<DeadLetter>(move |ev| {
        sink.borrow_mut().push(ev.data.clone());
        heads.borrow_mut().push(ev.envelope.clone());
    });
    let errors: Log<String> = log();
    let good: Log<u32> = log();
    let (e, g) = (errors.clone(), good.clone());
    let _strict = bus
        .subscription::<Strict>()
        .on_error(move |letter| e.borrow_mut().push(letter.reason.clone()))
        .handle(move |ev| g.borrow_mut().push(ev.data.n));

    let garbage = js_sys::JSON::parse(
        r#"{"specversion":"1.0","id":"bad-1","source":"/foreign","type":"test.deadletter.strict","data":{"n":"not a number"}}"#,
    )
    .unwrap();
    dispatch_raw("herald:test.deadletter.strict", &garbage);
    dispatch_raw(
        "herald:test.deadletter.strict",
        &JsValue::from_str("not even an object"),
    );
    bus.publish::<Strict>(&Strict { n: 7 }).unwrap();

    let letters = letters.borrow();
    assert_eq!(letters.len(), 2);
    assert_eq!(letters[0].subscriber, "test.deadletter.strict");
    assert_eq!(letters[0].event["id"], "bad-1");
    assert!(
        letters[0].reason.contains("payload"),
        "{}",
        letters[0].reason
    );
    assert_eq!(letters[1].event, "not even an object");
    // the envelope: from the subscriber's bus, continuing the original's chain when the
    // original is an envelope, a new chain otherwise
    let envelopes = envelopes.borrow();
    for envelope in envelopes.iter() {
        envelope.validate().unwrap();
        assert_eq!(envelope.ty, "herald.deadletter");
        assert_eq!(envelope.source, bus.source());
        assert!(envelope.time.is_some());
        assert_eq!(
            envelope.datacontenttype.as_deref(),
            Some("application/json")
        );
    }
    assert_ne!(envelopes[0].id, envelopes[1].id);
    assert_eq!(envelopes[0].causationid.as_deref(), Some("bad-1"));
    assert_eq!(envelopes[0].correlation_id(), "bad-1");
    assert_eq!(envelopes[1].causationid, None);
    assert_eq!(errors.borrow().len(), 2);
    assert_eq!(*good.borrow(), vec![7]);
}

event!(StrictV1, "test.deadletter.version");

#[wasm_bindgen_test]
async fn a_dead_letters_version_is_the_subscribers_and_its_event_the_original_object() {
    // docs/protocol.md §1.3, §2.4: a v2 payload for a v1-only subscriber
    let bus = Bus::page();
    let letters: Log<DeadLetter> = log();
    let sink = letters.clone();
    let _dl = bus.subscribe::<DeadLetter>(move |ev| {
        if ev.data.subscriber == "test.deadletter.version" {
            sink.borrow_mut().push(ev.data.clone());
        }
    });
    let _v1 = bus.subscribe::<StrictV1>(|_| {});
    let newer = js_sys::JSON::parse(
        r#"{"specversion":"1.0","id":"v2-1","source":"/newer","type":"test.deadletter.version","dataversion":2,"data":{"n":1}}"#,
    )
    .unwrap();
    dispatch_raw("herald:test.deadletter.version", &newer);
    let letters = letters.borrow();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].version, 1, "the version the subscriber takes, not the event's 2");
    assert!(letters[0].event.is_object(), "the original envelope as an object, not a string");
    assert_eq!(letters[0].event["dataversion"], 2);
    assert_eq!(letters[0].event["id"], "v2-1");
}

event!(Defaulted, "test.defaults.kept");

#[wasm_bindgen_test]
async fn a_page_state_with_fields_missing_gets_their_defaults_on_reading() {
    // docs/protocol.md §2.6: a plain-JS module may have made it with `{version: 1}` alone;
    // the counters other tests' live subscriptions hold (wildcards) and their retention
    // declarations stay, the others go
    use wasm_bindgen::JsCast;
    Bus::page().publish::<Defaulted>(&Defaulted { n: 0 }).unwrap(); // the state exists now
    let state = js_sys::Reflect::get(&js_sys::global(), &js_sys::Symbol::for_("herald.bus.v1")).unwrap();
    let object: js_sys::Object = state.clone().unchecked_into();
    for field in ["records", "crashed"] {
        js_sys::Reflect::delete_property(&object, &field.into()).unwrap();
    }
    Bus::page().retain::<Defaulted>(Retention::LastValue).unwrap();
    Bus::page().publish::<Defaulted>(&Defaulted { n: 1 }).unwrap();
    let get = |field: &str| js_sys::Reflect::get(&state, &field.into()).unwrap();
    assert_eq!(get("records").as_f64(), Some(1.0), "the record counter starts again from 0");
    assert!(get("crashed").is_instance_of::<js_sys::Set>(), "an empty crashed set");
    let replayed: Log<u32> = log();
    let sink = replayed.clone();
    let _late = Bus::page().subscribe::<Defaulted>(move |ev| sink.borrow_mut().push(ev.data.n));
    assert_eq!(*replayed.borrow(), vec![1], "retention works on the refilled state");
}

event!(Seq, "test.order.seq");

fn seq_event(source: &str, sequence: u64, n: u32) -> JsValue {
    js_sys::JSON::parse(&format!(
        r#"{{"specversion":"1.0","id":"{source}-{sequence}","source":"{source}","type":"test.order.seq","sequence":"{sequence:020}","data":{{"n":{n}}}}}"#
    ))
    .unwrap()
}

#[wasm_bindgen_test]
async fn in_order_subscribers_drop_stale_events_and_are_told_of_gaps() {
    let bus = Bus::page();
    let got: Log<u32> = log();
    let irregular: Log<Irregularity> = log();
    let (g, i) = (got.clone(), irregular.clone());
    let _ordered = bus
        .subscription::<Seq>()
        .in_order(move |irr| i.borrow_mut().push(irr.clone()))
        .handle(move |ev| g.borrow_mut().push(ev.data.n));
    for (source, sequence, n) in [
        ("/a", 1, 1),
        ("/a", 2, 2),
        ("/b", 7, 70),
        ("/a", 5, 5),
        ("/a", 3, 3),
        ("/a", 5, 55),
        ("/a", 6, 6),
    ] {
        dispatch_raw("herald:test.order.seq", &seq_event(source, sequence, n));
    }
    // our own publishes are numbered per source, one after another
    let first = bus.publish::<Seq>(&Seq { n: 100 }).unwrap();
    let second = bus.publish::<Seq>(&Seq { n: 101 }).unwrap();

    assert_eq!(*got.borrow(), vec![1, 2, 70, 5, 6, 100, 101]);
    assert_eq!(
        *irregular.borrow(),
        vec![
            Irregularity::Gap {
                source: "/a".into(),
                expected: 3,
                got: 5
            },
            Irregularity::Stale {
                source: "/a".into(),
                last: 5,
                got: 3
            },
            Irregularity::Stale {
                source: "/a".into(),
                last: 5,
                got: 5
            },
        ]
    );
    assert_eq!(second.sequence(), first.sequence().map(|s| s + 1));
}

event!(ShapeV1, "test.version.shape");

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct ShapeV2Data {
    n: u32,
    unit: String,
}
struct ShapeV2;
impl Event for ShapeV2 {
    const TYPE: &'static str = "test.version.shape";
    const VERSION: u32 = 2;
    type Data = ShapeV2Data;
}

#[wasm_bindgen_test]
async fn two_versions_live_on_one_page_and_v2_upcasts_v1() {
    let bus = Bus::page();
    let v2: Log<ShapeV2Data> = log();
    let plain_v2: Log<u32> = log();
    let v1: Log<u32> = log();
    let (a, b, c) = (v2.clone(), plain_v2.clone(), v1.clone());
    let _upcasting = bus
        .subscription::<ShapeV2>()
        .upcast_from::<ShapeV1>(|old| ShapeV2Data {
            n: old.n,
            unit: "dB".into(),
        })
        .handle(move |ev| a.borrow_mut().push(ev.data.clone()));
    let _strict_v2 = bus.subscribe::<ShapeV2>(move |ev| b.borrow_mut().push(ev.data.n));
    let _old = bus.subscribe::<ShapeV1>(move |ev| c.borrow_mut().push(ev.data.n));

    bus.publish::<ShapeV1>(&ShapeV1 { n: 1 }).unwrap(); // an old module
    let sent = bus
        .publish::<ShapeV2>(&ShapeV2Data {
            n: 2,
            unit: "dBA".into(),
        })
        .unwrap(); // a new one

    assert_eq!(sent.data_version(), 2);
    assert_eq!(
        *v2.borrow(),
        vec![
            ShapeV2Data {
                n: 1,
                unit: "dB".into()
            },
            ShapeV2Data {
                n: 2,
                unit: "dBA".into()
            }
        ]
    );
    assert_eq!(
        *plain_v2.borrow(),
        vec![2],
        "v1 is a dead letter to a v2 subscriber without upcaster"
    );
    assert_eq!(
        *v1.borrow(),
        vec![1],
        "v2 is a dead letter to a v1 subscriber"
    );
}

event!(Echo, "test.reentrant.echo");

#[wasm_bindgen_test]
async fn a_handler_that_publishes_what_it_hears_gets_it_after_returning() {
    let bus = Bus::page();
    let got: Log<u32> = log();
    let sink = got.clone();
    let relay = bus.clone();
    let _echo = bus.subscribe::<Echo>(move |ev| {
        sink.borrow_mut().push(ev.data.n);
        if ev.data.n < 3 {
            relay.publish::<Echo>(&Echo { n: ev.data.n + 1 }).unwrap();
        }
    });
    bus.publish::<Echo>(&Echo { n: 1 }).unwrap();
    assert_eq!(*got.borrow(), vec![1, 2, 3]);
}

event!(Loud, "test.window.loud");

#[wasm_bindgen_test]
async fn a_sliding_window_runs_inside_a_subscription() {
    let bus = Bus::page();
    let alert = RefCell::new(ThresholdAlert::new(Duration::from_secs(60), 85.0, 5));
    let crossings: Log<Crossing<String>> = log();
    let sink = crossings.clone();
    let _stateful = bus.subscribe::<Loud>(move |ev| {
        let at = u64::from(ev.data.n) * 1_000;
        let db = if ev.data.n <= 6 { 90.0 } else { 40.0 };
        if let Some(crossing) = alert.borrow_mut().push(ev.envelope.source.clone(), at, db) {
            sink.borrow_mut().push(crossing);
        }
    });
    for n in 1..=6 {
        bus.publish::<Loud>(&Loud { n }).unwrap();
    }
    bus.publish::<Loud>(&Loud { n: 70 }).unwrap();
    let source = bus.source().to_owned();
    assert_eq!(
        *crossings.borrow(),
        vec![
            Crossing::Raised {
                key: source.clone(),
                count: 6
            },
            Crossing::Cleared {
                key: source,
                count: 0
            },
        ]
    );
}

event!(Legacy, "test.legacy.format");

#[wasm_bindgen_test]
async fn events_and_records_of_earlier_herald_publishers_are_still_read() {
    // earlier herald versions on the same page: events carrying their JSON text as an own
    // `Symbol.for("herald.json")` string, or on their `detail`; retained records with
    // `json` and no `utf8` (docs/protocol.md §2.1, §2.6)
    let bus = Bus::page();
    bus.retain::<Legacy>(Retention::LastN(10)).unwrap();
    let old = js_sys::Function::new_no_args(
        r#"
        const envelope = (n) => JSON.stringify({specversion: "1.0", id: "old-" + n,
          source: "/old", type: "test.legacy.format", data: {n}});
        const init = {bubbles: true, composed: true};
        // text on the event (with a detail that is not the envelope: the text wins)
        const first = new CustomEvent("herald:test.legacy.format", {...init, detail: {n: 99}});
        first[Symbol.for("herald.json")] = envelope(1);
        window.dispatchEvent(first);
        // text on the detail
        const detail = JSON.parse(envelope(2));
        detail[Symbol.for("herald.json")] = envelope(2);
        window.dispatchEvent(new CustomEvent("herald:test.legacy.format", {...init, detail}));
        // a record written by an earlier version's retention listener
        const topic = globalThis[Symbol.for("herald.bus.v1")].retained.get("test.legacy.format");
        topic.events.push({json: envelope(3), at: Date.now(), n: 1e9,
          get detail() { return JSON.parse(envelope(3)); }});
        "#,
    );
    old.call0(&JsValue::NULL).unwrap();
    let got: Log<u32> = log();
    let sink = got.clone();
    let _sub = bus.subscribe::<Legacy>(move |ev| sink.borrow_mut().push(ev.data.n));
    assert_eq!(*got.borrow(), vec![1, 2, 3]);
}
