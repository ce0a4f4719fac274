//! Module B of `cargo xtask bench bus`: a typed subscriber that counts what it hears.
#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};

use herald_bus::{Bus, Subscription};
use nop_events::NoiseReading;
use wasm_bindgen::prelude::*;

/// The allocator the NOP micro-frontends ship with (herald-alloc).
#[global_allocator]
static ALLOCATOR: herald_alloc::Allocator = herald_alloc::Allocator::new();

thread_local! {
    static SEEN: Cell<u32> = const { Cell::new(0) };
    static SUBSCRIPTION: RefCell<Option<Subscription>> = const { RefCell::new(None) };
}

/// Subscribes to `nop.noise.reading` (typed) and resets the count.
#[wasm_bindgen]
pub fn bench_subscribe() {
    SEEN.with(|s| s.set(0));
    let subscription = Bus::page().subscription::<NoiseReading>().no_replay().handle(|event| {
        if event.data.db > 0.0 {
            SEEN.with(|s| s.set(s.get() + 1));
        }
    });
    SUBSCRIPTION.with(|s| *s.borrow_mut() = Some(subscription));
}

/// Listens for `ty` with herald's transport alone (`herald_bus::bench`): the envelope's
/// bytes reach this module and are counted, not read.
#[wasm_bindgen]
pub fn bench_listen(ty: &str) -> Result<(), JsError> {
    SEEN.with(|s| s.set(0));
    let target = web_sys::window().ok_or_else(|| JsError::new("no window"))?;
    let subscription = herald_bus::bench::listen(&target, ty, |len| {
        if len > 0 {
            SEEN.with(|s| s.set(s.get() + 1));
        }
    });
    SUBSCRIPTION.with(|s| *s.borrow_mut() = Some(subscription));
    Ok(())
}

/// Unsubscribes; returns how many readings the handler saw.
#[wasm_bindgen]
pub fn bench_unsubscribe() -> u32 {
    SUBSCRIPTION.with(|s| s.borrow_mut().take());
    SEEN.with(Cell::get)
}
