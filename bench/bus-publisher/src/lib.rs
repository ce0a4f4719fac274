//! Module A of `cargo xtask bench bus`: publishes NOP readings, and measures the parts of
//! a publish on its own.
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::rc::Rc;

use herald_bus::{json, Bus, Event};
use nop_events::NoiseReading;
use wasm_bindgen::prelude::*;

/// The allocator the NOP micro-frontends ship with (herald-alloc).
#[global_allocator]
static ALLOCATOR: herald_alloc::Allocator = herald_alloc::Allocator::new();

fn reading(i: u32) -> NoiseReading {
    NoiseReading {
        sensor: "s-1".to_owned(),
        db: 60.0 + f64::from(i % 30) / 4.0,
        at: 1_796_000_000_000 + u64::from(i),
    }
}

/// Publishes `n` typed readings on the page bus (heard by module B).
#[wasm_bindgen]
pub fn bench_publish(n: u32) -> Result<(), JsError> {
    let bus = Bus::page().with_source("/bench/a");
    for i in 0..n {
        bus.publish::<NoiseReading>(&reading(i))?;
    }
    Ok(())
}

/// Subscribes in this module and publishes `n` readings to itself; returns how many the
/// handler saw.
#[wasm_bindgen]
pub fn bench_same_module(n: u32) -> Result<u32, JsError> {
    let bus = Bus::page().with_source("/bench/a-self");
    let seen = Rc::new(Cell::new(0u32));
    let counter = seen.clone();
    let subscription = bus.subscribe::<NoiseReading>(move |event| {
        if event.data.db > 0.0 {
            counter.set(counter.get() + 1);
        }
    });
    for i in 0..n {
        bus.publish::<NoiseReading>(&reading(i))?;
    }
    drop(subscription);
    Ok(seen.get())
}

/// The same payload under a type nobody subscribes to.
struct Unheard;

impl Event for Unheard {
    const TYPE: &'static str = "bench.unheard";
    type Data = NoiseReading;
}

/// Publishes `n` readings that no listener hears: envelope, encoding and dispatch, without
/// the subscriber's side.
#[wasm_bindgen]
pub fn bench_publish_unheard(n: u32) -> Result<(), JsError> {
    let bus = Bus::page().with_source("/bench/a-unheard");
    for i in 0..n {
        bus.publish::<Unheard>(&reading(i))?;
    }
    Ok(())
}

/// Dispatches one reading's envelope, written once beforehand, `n` times as a `ty` event:
/// herald's transport alone (`herald_bus::bench`), without making, writing or reading
/// envelopes.
#[wasm_bindgen]
pub fn bench_transport(ty: &str, n: u32) -> Result<(), JsError> {
    let target = web_sys::window().ok_or_else(|| JsError::new("no window"))?;
    let utf8 = bench_sample_json()?;
    for _ in 0..n {
        herald_bus::bench::dispatch(&target, ty, utf8.as_bytes());
    }
    Ok(())
}

/// The length of the envelope `utf8`, which JavaScript hands over as a subscriber's
/// listener does (bytes copied into this module's memory, checked as UTF-8): what getting
/// an envelope into the wasm costs.
#[wasm_bindgen]
pub fn bench_bytes_len(utf8: Vec<u8>) -> usize {
    String::from_utf8(utf8).map_or(0, |text| text.len())
}

/// One reading's envelope as published, as JSON text (for the page to time its part).
#[wasm_bindgen]
pub fn bench_sample_json() -> Result<String, JsError> {
    let bus = Bus::page().with_source("/bench/a-sample");
    let event = bus.envelope(NoiseReading::TYPE, 1).with_data(reading(1));
    Ok(json::to_string(&event)?)
}

/// Times the Rust parts of a publish and a delivery, `n` times each; returns milliseconds
/// as JSON: `{"envelope", "serialize", "read", "validate", "payload"}`.
#[wasm_bindgen]
pub fn bench_parts(n: u32) -> Result<String, JsError> {
    use herald_bus::CloudEvent;
    let performance = web_sys::window()
        .and_then(|w| w.performance())
        .ok_or_else(|| JsError::new("no performance"))?;
    let bus = Bus::page().with_source("/bench/a-parts");
    let sample = bench_sample_json()?;

    let t0 = performance.now();
    let mut ids = 0;
    for i in 0..n {
        let event: CloudEvent<NoiseReading> = bus.envelope(NoiseReading::TYPE, 1).with_data(reading(i));
        ids += event.id.len();
    }
    let t1 = performance.now();
    let event = bus.envelope(NoiseReading::TYPE, 1).with_data(reading(1));
    let mut bytes = 0;
    for _ in 0..n {
        bytes += json::to_string(&event)?.len();
    }
    let t2 = performance.now();
    let mut sum = 0;
    for _ in 0..n {
        sum += json::envelope(&sample)?.id.len();
    }
    let t3 = performance.now();
    let envelope = json::envelope(&sample)?;
    for _ in 0..n {
        envelope.validate()?;
    }
    let t4 = performance.now();
    let payload = envelope.data.as_ref().map_or("null", json::RawJson::get);
    let mut db = 0.0;
    for _ in 0..n {
        db += json::from_str::<NoiseReading>(payload)?.db;
    }
    let t5 = performance.now();
    Ok(format!(
        r#"{{"envelope":{},"serialize":{},"read":{},"validate":{},"payload":{},"check":{}}}"#,
        t1 - t0,
        t2 - t1,
        t3 - t2,
        t4 - t3,
        t5 - t4,
        ids + bytes + sum + db as usize
    ))
}
