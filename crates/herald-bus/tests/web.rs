#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use herald_bus::{Bus, Event, Received};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;
use web_sys::{CustomEvent, CustomEventInit, HtmlElement, ShadowRootInit, ShadowRootMode};

wasm_bindgen_test_configure!(run_in_browser);

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Reading {
    sensor: String,
    db: f64,
}

impl Event for Reading {
    const TYPE: &'static str = "test.noise.reading";
    type Data = Self;
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Alert {
    sensor: String,
}

impl Event for Alert {
    const TYPE: &'static str = "test.noise.alert";
    type Data = Self;
}

fn reading(sensor: &str, db: f64) -> Reading {
    Reading {
        sensor: sensor.into(),
        db,
    }
}

type Log<T> = Rc<RefCell<Vec<T>>>;

fn collect<E: Event>(bus: &Bus) -> (Log<Received<E>>, herald_bus::Subscription)
where
    E::Data: Clone,
{
    let log: Log<Received<E>> = Rc::default();
    let sink = log.clone();
    let sub = bus.subscribe::<E>(move |ev| sink.borrow_mut().push(ev.clone()));
    (log, sub)
}

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

#[wasm_bindgen_test]
async fn custom_event_round_trip_delivers_payload_and_envelope() {
    let bus = Bus::page().with_source("/test/a");
    let (log, _sub) = collect::<Reading>(&bus);

    let sent = bus.publish::<Reading>(&reading("s-1", 71.5)).unwrap();

    let log = log.borrow();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].data, reading("s-1", 71.5));
    assert_eq!(log[0].envelope.id, sent.id);
    assert_eq!(log[0].envelope.source, "/test/a");
    assert_eq!(log[0].envelope.ty, "test.noise.reading");
    assert!(log[0].envelope.time.is_some());
    assert_eq!(log[0].envelope.correlation_id(), sent.id);
}

#[wasm_bindgen_test]
async fn dropped_subscription_receives_nothing() {
    let bus = Bus::page();
    let (log, sub) = collect::<Reading>(&bus);
    bus.publish::<Reading>(&reading("s-1", 1.0)).unwrap();
    drop(sub);
    bus.publish::<Reading>(&reading("s-1", 2.0)).unwrap();

    let got: Vec<f64> = log.borrow().iter().map(|r| r.data.db).collect();
    assert_eq!(got, vec![1.0]);
}

#[wasm_bindgen_test]
async fn subscribers_hear_only_their_type() {
    let bus = Bus::page();
    let (readings, _a) = collect::<Reading>(&bus);
    let (alerts, _b) = collect::<Alert>(&bus);
    bus.publish::<Alert>(&Alert {
        sensor: "s-9".into(),
    })
    .unwrap();

    assert!(readings.borrow().is_empty());
    assert_eq!(alerts.borrow().len(), 1);
}

#[wasm_bindgen_test]
async fn a_plain_js_custom_event_is_received_typed() {
    let bus = Bus::page();
    let (log, _sub) = collect::<Reading>(&bus);
    let detail = js_sys::JSON::parse(
        r#"{"specversion":"1.0","id":"js-1","source":"/plain-js","type":"test.noise.reading",
            "data":{"sensor":"js","db":42}}"#,
    )
    .unwrap();
    let init = CustomEventInit::new();
    init.set_detail(&detail);
    let ev = CustomEvent::new_with_event_init_dict("herald:test.noise.reading", &init).unwrap();
    web_sys::window().unwrap().dispatch_event(&ev).unwrap();

    let log = log.borrow();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].data, reading("js", 42.0));
    assert_eq!(log[0].envelope.source, "/plain-js");
}

#[wasm_bindgen_test]
async fn garbage_payload_is_not_delivered_and_the_bus_keeps_working() {
    let bus = Bus::page();
    let (log, _sub) = collect::<Reading>(&bus);
    let garbage = CustomEventInit::new();
    garbage.set_detail(&JsValue::from_str("not an envelope"));
    let ev = CustomEvent::new_with_event_init_dict("herald:test.noise.reading", &garbage).unwrap();
    web_sys::window().unwrap().dispatch_event(&ev).unwrap();
    // a well-shaped payload in an envelope that breaks the CloudEvents rules
    let bad_envelope = js_sys::JSON::parse(
        r#"{"specversion":"0.3","id":"x","source":"/js","type":"test.noise.reading","data":{"sensor":"bad","db":1}}"#,
    )
    .unwrap();
    let init = CustomEventInit::new();
    init.set_detail(&bad_envelope);
    let ev = CustomEvent::new_with_event_init_dict("herald:test.noise.reading", &init).unwrap();
    web_sys::window().unwrap().dispatch_event(&ev).unwrap();
    bus.publish::<Reading>(&reading("s-2", 3.0)).unwrap();

    let got: Vec<String> = log.borrow().iter().map(|r| r.data.sensor.clone()).collect();
    assert_eq!(got, vec!["s-2".to_string()]);
}

#[wasm_bindgen_test]
async fn scoped_events_cross_shadow_roots_and_scoped_subscribers_hear_only_their_subtree() {
    let host: HtmlElement = document().create_element("div").unwrap().unchecked_into();
    document().body().unwrap().append_child(&host).unwrap();
    let shadow = host
        .attach_shadow(&ShadowRootInit::new(ShadowRootMode::Open))
        .unwrap();
    let inner = document().create_element("span").unwrap();
    shadow.append_child(&inner).unwrap();

    let page = Bus::page();
    let (page_log, _p) = collect::<Reading>(&page);
    let (host_log, _h) = collect::<Reading>(&Bus::scoped(&host));

    Bus::scoped(&inner)
        .publish::<Reading>(&reading("inside", 1.0))
        .unwrap();
    page.publish::<Reading>(&reading("outside", 2.0)).unwrap();

    let sensors = |log: &Log<Received<Reading>>| -> Vec<String> {
        log.borrow().iter().map(|r| r.data.sensor.clone()).collect()
    };
    host.remove();
    assert_eq!(sensors(&page_log), vec!["inside", "outside"]);
    assert_eq!(sensors(&host_log), vec!["inside"]);
}

#[wasm_bindgen_test]
async fn handlers_continue_the_correlation_chain_across_three_hops() {
    let bus = Bus::page();
    // hop 2: a reading above 85 dB raises an alert
    let relay = bus.clone();
    let _hop2 = bus.subscribe::<Reading>(move |r| {
        if r.data.db > 85.0 {
            relay
                .publish::<Alert>(&Alert {
                    sensor: r.data.sensor.clone(),
                })
                .unwrap();
        }
    });
    // hop 3: an alert is acknowledged as a reading of 0 dB
    let relay = bus.clone();
    let _hop3 = bus.subscribe::<Alert>(move |a| {
        relay
            .publish::<Reading>(&reading(&a.data.sensor, 0.0))
            .unwrap();
    });
    let (readings, _r) = collect::<Reading>(&bus);
    let (alerts, _a) = collect::<Alert>(&bus);

    let first = bus.publish::<Reading>(&reading("s-3", 90.0)).unwrap();

    let (alert, ack) = {
        let (readings, alerts) = (readings.borrow(), alerts.borrow());
        assert_eq!(alerts.len(), 1);
        assert_eq!(readings.len(), 2);
        // dispatch is synchronous, so the acknowledgement arrives while the first is in flight
        let ack = readings
            .iter()
            .find(|r| r.data.db == 0.0)
            .unwrap()
            .envelope
            .clone();
        (alerts[0].envelope.clone(), ack)
    };
    assert_eq!(alert.correlation_id(), first.id);
    assert_eq!(alert.causationid.as_deref(), Some(first.id.as_str()));
    assert_eq!(ack.correlation_id(), first.id);
    assert_eq!(ack.causationid.as_deref(), Some(alert.id.as_str()));

    // outside any handler, a publish starts a new chain
    let fresh = bus.publish::<Alert>(&Alert { sensor: "x".into() }).unwrap();
    assert_eq!(fresh.correlationid, None);
    assert_eq!(fresh.correlation_id(), fresh.id);
}

#[wasm_bindgen_test]
async fn a_plain_js_listener_reads_a_herald_events_detail_and_its_json_text() {
    // what a plain-JS micro-frontend does (docs/protocol.md §2.1, §2.6)
    let listen = js_sys::Function::new_no_args(
        r#"
        const seen = [];
        window.addEventListener("herald:test.noise.alert", (e) => {
          const detail = e.detail;
          seen.push({
            isCustomEvent: e instanceof CustomEvent,
            same: detail === e.detail,
            type: detail.type,
            sensor: detail.data.sensor,
            keys: Object.keys(detail).includes("id"),
            text: JSON.parse(e[Symbol.for("herald.json")]).id === detail.id,
          });
        });
        return seen;
        "#,
    );
    let seen = listen.call0(&JsValue::NULL).unwrap();
    let sent = Bus::page()
        .publish::<Alert>(&Alert {
            sensor: "s-4".into(),
        })
        .unwrap();

    let seen = js_sys::JSON::stringify(&seen).unwrap().as_string().unwrap();
    assert_eq!(
        seen,
        r#"[{"isCustomEvent":true,"same":true,"type":"test.noise.alert","sensor":"s-4","keys":true,"text":true}]"#
    );
    assert!(!sent.id.is_empty());
}

#[wasm_bindgen_test]
async fn an_event_kept_by_javascript_stays_whole_after_many_more_and_a_growing_memory() {
    // a plain-JS listener keeps the first event and reads it only later, after thousands
    // of events (whose bytes fill several chunks) and a wasm memory that has grown
    let keep = js_sys::Function::new_no_args(
        r#"
        const kept = [];
        window.addEventListener("herald:test.noise.alert", (e) => { if (kept.length === 0) kept.push(e); });
        return kept;
        "#,
    );
    let kept = keep.call0(&JsValue::NULL).unwrap();
    let bus = Bus::page();
    let first = bus
        .publish::<Alert>(&Alert {
            sensor: "first".into(),
        })
        .unwrap();
    let heard = Rc::new(RefCell::new(Vec::new()));
    let h = heard.clone();
    // a same-module subscriber that allocates while it handles each event
    let before = wasm_bindgen::memory()
        .unchecked_into::<js_sys::WebAssembly::Memory>()
        .buffer()
        .unchecked_into::<js_sys::ArrayBuffer>()
        .byte_length();
    let _sub = bus.subscribe::<Alert>(move |ev| {
        let mut heard = h.borrow_mut();
        // the first hundred keep 64 KiB each: the memory must grow
        let ballast = vec![1u8; if heard.len() < 100 { 64 * 1024 } else { 0 }];
        heard.push((ev.data.sensor.clone(), ballast));
    });
    for i in 0..2000 {
        bus.publish::<Alert>(&Alert {
            sensor: format!("s-{i}"),
        })
        .unwrap();
    }
    let read = js_sys::Function::new_with_args(
        "kept",
        r#"
        const e = kept[0];
        const text = new TextDecoder().decode(e[Symbol.for("herald.utf8")]);
        return [e.detail.id, e.detail.data.sensor, text === e[Symbol.for("herald.json")]];
        "#,
    );
    let read = js_sys::JSON::stringify(&read.call1(&JsValue::NULL, &kept).unwrap())
        .unwrap()
        .as_string()
        .unwrap();
    assert_eq!(read, format!(r#"["{}","first",true]"#, first.id));
    let heard = heard.borrow();
    assert_eq!(heard.len(), 2000);
    assert_eq!(heard[1999].0, "s-1999");
    let after = wasm_bindgen::memory()
        .unchecked_into::<js_sys::WebAssembly::Memory>()
        .buffer()
        .unchecked_into::<js_sys::ArrayBuffer>()
        .byte_length();
    assert!(
        after > before,
        "the memory did not grow: {before} -> {after}"
    );
}

#[wasm_bindgen_test]
async fn an_envelope_is_checked_once_where_it_is_made_and_one_from_a_bad_origin_is_validated() {
    // what herald's publishers say of their events (docs/protocol.md §2.1)
    let listen = js_sys::Function::new_no_args(
        r#"
        const seen = [];
        window.addEventListener("herald:test.noise.reading", (e) => {
          seen.push([e.detail.source, e[Symbol.for("herald.checked")]]);
        });
        return seen;
        "#,
    );
    let seen = listen.call0(&JsValue::NULL).unwrap();
    let letters: Log<String> = Rc::default();
    let sink = letters.clone();
    let got: Log<String> = Rc::default();
    let into = got.clone();
    let _sub = Bus::page()
        .subscription::<Reading>()
        .no_replay()
        .on_error(move |letter| sink.borrow_mut().push(letter.reason.clone()))
        .handle(move |r| into.borrow_mut().push(r.envelope.source.clone()));

    Bus::page().with_source("/test/checked").publish::<Reading>(&reading("s-1", 1.0)).unwrap();
    // a source with a space is no URI-reference: herald does not vouch for the envelope,
    // and its subscribers validate it as they do any other
    Bus::page().with_source("/test/not checked").publish::<Reading>(&reading("s-2", 2.0)).unwrap();

    let seen = js_sys::JSON::stringify(&seen).unwrap().as_string().unwrap();
    assert_eq!(seen, r#"[["/test/checked",true],["/test/not checked",false]]"#);
    assert_eq!(*got.borrow(), vec!["/test/checked".to_string()]);
    let letters = letters.borrow();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(letters[0].contains("source"), "{}", letters[0]);
}

#[wasm_bindgen_test]
async fn a_published_number_is_written_as_javascript_writes_it() {
    // herald writes short decimals (a sensor's 60.25 dB) itself and asks JavaScript for
    // the rest: either way the text is `String(n)`, the shortest that reads back as `n`
    // (with `.0` after an integer of up to 2^53, so that it stays a float, as serde_json)
    let listen = js_sys::Function::new_no_args(
        r#"
        const wrong = [];
        window.addEventListener("herald:test.noise.reading", (e) => {
          if (e.detail.source !== "/test/decimals") return;
          const written = /"db":([^,}]*)/.exec(e[Symbol.for("herald.json")])[1];
          const db = e.detail.data.db;
          if (written !== (Number.isSafeInteger(db) ? String(db) + ".0" : String(db))) wrong.push(written);
        });
        return wrong;
        "#,
    );
    let wrong = listen.call0(&JsValue::NULL).unwrap();
    let bus = Bus::page().with_source("/test/decimals");
    let mut values = vec![0.001, 0.1, 0.3, 60.25, 63.5, 99.999, 1073741823.5, 1073741824.5, 1e-7, 1e21, 0.1 + 0.2, 42.0];
    values.extend((1..3000).map(|i| f64::from(i) / 8.0 + 0.001 * f64::from(i % 7)));
    for db in values {
        for value in [db, -db] {
            bus.publish::<Reading>(&reading("s-1", value)).unwrap();
        }
    }
    let wrong = js_sys::JSON::stringify(&wrong).unwrap().as_string().unwrap();
    assert_eq!(wrong, "[]");
}
