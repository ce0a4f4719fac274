//! `<nop-loud-rule>`: NOP's alert rule — more than `max-loud` readings above `threshold`
//! dB within `window-s` seconds — as a stateful consumer in Rust, on herald-protocol's
//! sliding window ([`herald_protocol::SlidingWindow`]), beside the same rule in plain
//! JavaScript (`<nop-alerts>`): it lists the sensors the rule holds for now, and counts
//! how often it fired. It publishes nothing (`<nop-alerts>` raises the page's alerts).
//!
//! Attributes: `threshold` (default 85), `max-loud` (default 3), `window-s` (default
//! 60), `stream` — the gateway's stream URL (default: the page's
//! `<meta name="herald-stream">`, else `/events/stream`).
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::rc::Rc;

use herald_bus::{Bus, Event};
use herald_element::{define_once, CustomElement, Host};
use herald_push::Push;
use nop_events::NoiseReading;
use wasm_bindgen::prelude::*;

pub mod rule;

use rule::{Change, LoudRule};

const TAG: &str = "nop-loud-rule";

/// The small allocator for single-threaded wasm (herald-alloc), instead of dlmalloc.
#[global_allocator]
static ALLOCATOR: herald_alloc::Allocator = herald_alloc::Allocator::new();

#[wasm_bindgen(start)]
fn start() {
    if let Err(error) = register() {
        web_sys::console::error_1(&format!("{TAG}: {error}").into());
    }
}

/// Defines `<nop-loud-rule>` unless the page already has it.
pub fn register() -> Result<(), herald_element::Error> {
    define_once::<NopLoudRule>(TAG)
}

struct NopLoudRule;

/// The number an attribute gives, else `default`.
fn number(host: &Host, name: &str, default: f64) -> f64 {
    host.element().get_attribute(name).and_then(|v| v.trim().parse().ok()).filter(|v: &f64| v.is_finite()).unwrap_or(default)
}

impl CustomElement for NopLoudRule {
    fn create(_host: &Host) -> Self {
        NopLoudRule
    }

    fn connected(&mut self, host: &mut Host) {
        let threshold = number(host, "threshold", 85.0);
        let max_loud = number(host, "max-loud", 3.0).max(0.0) as usize;
        let window_s = number(host, "window-s", 60.0).max(0.001);
        host.set_html(
            "<section class=\"nop-card nop-loud-rule\"><h2>Alert rule in Rust</h2>\
             <p class=\"nop-status\"><span class=\"nop-rule\"></span></p>\
             <ul class=\"nop-rule-over\"></ul>\
             <p>fired <span class=\"nop-rule-fired\">0</span> times</p></section>",
        );
        let (Some(said), Some(list), Some(fired)) = (host.query(".nop-rule"), host.query(".nop-rule-over"), host.query(".nop-rule-fired"))
        else {
            return;
        };
        let seconds = (window_s * 1000.0).round() as u64;
        said.set_text_content(Some(&format!(
            "more than {max_loud} readings above {} within {} s (herald-protocol's sliding window)",
            nop_events::db_label(threshold),
            seconds / 1000
        )));
        // the page runtime's one connection brings the readings onto the bus
        if let Ok(interest) = Push::new(&herald_push::stream_url_of(host.element())).and_then(|push| push.subscribe(&[NoiseReading::TYPE])) {
            host.keep(interest);
        }
        let rule = Rc::new(RefCell::new(LoudRule::new(threshold, max_loud, seconds)));
        let document = host.element().owner_document();
        host.keep(Bus::page().subscribe::<NoiseReading>(move |event| {
            let reading = &event.data;
            // the reading's own time, else now (a reading that says none)
            let at = if reading.at > 0 { reading.at } else { js_sys::Date::now() as u64 };
            let mut rule = rule.borrow_mut();
            match rule.reading(&reading.sensor, reading.db, at) {
                Some(Change::Holds(count)) => {
                    fired.set_text_content(Some(&rule.fired().to_string()));
                    let Some(item) = document.as_ref().and_then(|d| d.create_element("li").ok()) else { return };
                    let _ = item.set_attribute("data-sensor", &reading.sensor);
                    item.set_text_content(Some(&format!("{} · {count} loud readings", reading.sensor)));
                    let _ = list.append_child(&item);
                }
                Some(Change::Ended) => {
                    let mut child = list.first_element_child();
                    while let Some(item) = child {
                        child = item.next_element_sibling();
                        if item.get_attribute("data-sensor").as_deref() == Some(reading.sensor.as_str()) {
                            item.remove();
                        }
                    }
                }
                None => {}
            }
        }));
    }
}
