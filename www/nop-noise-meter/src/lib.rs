//! `<nop-noise-meter>`: the noise level of the selected sensor (or of the latest reading
//! while none is selected). It hears `nop.sensor.selected` from whichever micro-frontend
//! publishes it.
//!
//! Property: `threshold` — the level in dB above which a reading shows as loud (default
//! 85; `meter.threshold = 70` from any script).
//!
//! Attributes: `stream` — the gateway's stream URL (default: the page's
//! `<meta name="herald-stream">`, else `/events/stream`).
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::rc::Rc;

use herald_bus::{Bus, Event};
use herald_element::{define_once, CustomElement, Host};
use herald_push::Push;
use nop_events::{NoiseReading, SensorSelected};
use wasm_bindgen::prelude::*;
use web_sys::Element;

const TAG: &str = "nop-noise-meter";

/// The small allocator for single-threaded wasm (herald-alloc), instead of dlmalloc.
#[global_allocator]
static ALLOCATOR: herald_alloc::Allocator = herald_alloc::Allocator::new();

#[wasm_bindgen(start)]
fn start() {
    if let Err(error) = register() {
        web_sys::console::error_1(&format!("{TAG}: {error}").into());
    }
}

/// Defines `<nop-noise-meter>` unless the page already has it (the module's start
/// function does this when the module is loaded).
pub fn register() -> Result<(), herald_element::Error> {
    define_once::<NoiseMeter>(TAG)
}

/// The default level above which a reading shows as loud, in dB.
const DEFAULT_THRESHOLD: f64 = 85.0;

struct NoiseMeter {
    threshold: f64,
    view: Option<Rc<RefCell<View>>>,
}

struct View {
    threshold: f64,
    selected_label: Element,
    level: Element,
    sensor: Element,
    /// The latest reading per sensor (a page shows a handful of sensors: a list is
    /// smaller in the wasm than a hash map, and as quick).
    latest: Vec<NoiseReading>,
    newest: Option<String>,
    selected: Option<String>,
}

impl CustomElement for NoiseMeter {
    fn create(_host: &Host) -> Self {
        NoiseMeter {
            threshold: DEFAULT_THRESHOLD,
            view: None,
        }
    }

    /// `meter.threshold = 70`: the level (dB) above which a reading shows as loud.
    fn properties() -> &'static [&'static str] {
        &["threshold"]
    }

    fn property(&self, _host: &Host, name: &str) -> JsValue {
        match name {
            "threshold" => herald_element::to_js(&self.threshold),
            _ => JsValue::UNDEFINED,
        }
    }

    fn set_property(&mut self, _host: &mut Host, name: &str, value: JsValue) -> Result<(), String> {
        match name {
            "threshold" => {
                let threshold: f64 = herald_element::from_js(value)?;
                if !(0.0..=200.0).contains(&threshold) {
                    let given = nop_events::db_label(threshold);
                    return Err(format!("threshold must be between 0 and 200 dB, not {given}"));
                }
                self.threshold = threshold;
                if let Some(view) = &self.view {
                    let mut view = view.borrow_mut();
                    view.threshold = threshold;
                    view.render();
                }
                Ok(())
            }
            other => Err(format!("no property `{other}`")),
        }
    }

    fn connected(&mut self, host: &mut Host) {
        host.set_html(
            "<section class=\"nop-card\"><h2>Noise meter</h2>\
             <p>Selected: <strong class=\"nop-meter-selected\">none</strong></p>\
             <p class=\"nop-meter\"><span class=\"nop-meter-level\">–</span> \
             <span class=\"nop-meter-sensor\"></span></p></section>",
        );
        let find = |selector: &str| host.query(selector).expect_throw("the skeleton was just rendered");
        let view = Rc::new(RefCell::new(View {
            threshold: self.threshold,
            selected_label: find(".nop-meter-selected"),
            level: find(".nop-meter-level"),
            sensor: find(".nop-meter-sensor"),
            latest: Vec::new(),
            newest: None,
            selected: None,
        }));

        let stream_url = herald_push::stream_url_of(host.element());
        let on_reading = view.clone();
        // the page's one stream connection carries the readings onto the bus
        match Push::new(&stream_url).and_then(|push| push.subscribe(&[NoiseReading::TYPE])) {
            Ok(interest) => host.keep(interest),
            Err(error) => view.borrow().level.set_text_content(Some(&format!("stream unavailable: {error}"))),
        }
        host.keep(Bus::page().subscribe::<NoiseReading>(move |event| {
            on_reading.borrow_mut().record(event.data.clone());
        }));

        let on_selected = view.clone();
        host.keep(Bus::page().subscribe::<SensorSelected>(move |event| {
            on_selected.borrow_mut().select(event.data.sensor.clone());
        }));
        self.view = Some(view);
    }

    fn disconnected(&mut self, _host: &mut Host) {
        self.view = None;
    }
}

impl View {
    fn record(&mut self, reading: NoiseReading) {
        self.newest = Some(reading.sensor.clone());
        match self.latest.iter_mut().find(|r| r.sensor == reading.sensor) {
            Some(latest) => *latest = reading,
            None => self.latest.push(reading),
        }
        self.render();
    }

    fn select(&mut self, sensor: String) {
        self.selected_label.set_text_content(Some(&sensor));
        self.selected = Some(sensor);
        self.render();
    }

    fn render(&self) {
        let shown = self.selected.as_ref().or(self.newest.as_ref());
        match shown.and_then(|sensor| self.latest.iter().find(|r| &r.sensor == sensor)) {
            Some(reading) => {
                self.level.set_text_content(Some(&nop_events::db_label(reading.db)));
                self.sensor.set_text_content(Some(&reading.sensor));
                let _ = self.level.class_list().toggle_with_force("nop-loud", reading.db > self.threshold);
            }
            None => {
                self.level.set_text_content(Some("–"));
                self.sensor
                    .set_text_content(shown.map(|s| format!("{s}: no reading yet")).as_deref());
            }
        }
    }
}
