//! The smallest herald micro-frontend: `<minimal-mfe>` shows the latest selected sensor.
#![forbid(unsafe_code)]

use herald_bus::Bus;
use herald_element::{define_once, CustomElement, Host};
use nop_events::SensorSelected;
use wasm_bindgen::prelude::*;

struct Minimal;

impl CustomElement for Minimal {
    fn create(_host: &Host) -> Self {
        Minimal
    }
    fn connected(&mut self, host: &mut Host) {
        let element = host.element().clone();
        host.keep(Bus::page().subscribe::<SensorSelected>(move |event| {
            element.set_text_content(Some(&event.data.sensor));
        }));
    }
}

/// The small allocator for single-threaded wasm (herald-alloc), instead of dlmalloc.
#[global_allocator]
static ALLOCATOR: herald_alloc::Allocator = herald_alloc::Allocator::new();

#[wasm_bindgen(start)]
fn start() {
    let _ = define_once::<Minimal>("minimal-mfe");
}
