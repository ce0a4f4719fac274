//! Module A of `cargo xtask bench bus`: publishes NOP readings, and measures the parts of
//! a publish on its own.
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::rc::Rc;

use herald_bus::Bus;
use nop_events::NoiseReading;
use wasm_bindgen::prelude::*;

fn reading(i: u32) -> NoiseReading {
    NoiseReading {
        sensor: "s-1".to_owned(),
        db: 60.0 + f64::from(i % 30),
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

impl herald_bus::Event for Unheard {
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
