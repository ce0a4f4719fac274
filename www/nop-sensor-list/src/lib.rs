//! `<nop-sensor-list>`: the NOP sensors with their latest level. Clicking a sensor
//! publishes `nop.sensor.selected` on the bus.
//!
//! Request/response, synchronously wrapped: when a sensor is selected, the list asks the
//! server for that sensor's latest reading (`nop.sensor.latest`, herald-bus's
//! `request`, which the page runtime forwards to the gateway, where `nop-sensors`
//! answers) and shows the typed reply, or that none came within 3 s.
//!
//! Attributes: `stream` — the gateway's stream URL (default: the page's
//! `<meta name="herald-stream">`, else `/events/stream`).
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use gloo::events::EventListener;
use herald_bus::{Bus, Event};
use herald_element::{define_once, CustomElement, Host};
use herald_push::Push;
use herald_bus::RequestError;
use nop_events::{LatestReading, NoiseAlert, NoiseReading, SensorSelected};
use wasm_bindgen::prelude::*;
use web_sys::{Document, Element};

const TAG: &str = "nop-sensor-list";
const SOURCE: &str = "/mfe/nop-sensor-list";

/// The small allocator for single-threaded wasm (herald-alloc), instead of dlmalloc.
#[global_allocator]
static ALLOCATOR: herald_alloc::Allocator = herald_alloc::Allocator::new();

#[wasm_bindgen(start)]
fn start() {
    if let Err(error) = register() {
        web_sys::console::error_1(&format!("{TAG}: {error}").into());
    }
}

/// Defines `<nop-sensor-list>` unless the page already has it (the module's start
/// function does this when the module is loaded).
pub fn register() -> Result<(), herald_element::Error> {
    define_once::<SensorList>(TAG)
}

/// One `<nop-sensor-list>`. Everything that refers to the DOM exists only while the
/// element is connected: it is kept by the element's host, which drops it on disconnect.
struct SensorList;

struct View {
    document: Document,
    list: Element,
    status: Element,
    /// The server's answer to "the latest reading of the selected sensor".
    latest: Element,
    /// The rows, sorted by sensor id (a sorted `Vec` is all a few dozen sensors need,
    /// and keeps a B-tree's code out of the module).
    rows: Vec<(String, Element)>,
    selected: Option<String>,
    alerted: Vec<String>,
}

impl CustomElement for SensorList {
    fn create(_host: &Host) -> Self {
        SensorList
    }

    fn connected(&mut self, host: &mut Host) {
        let document = host
            .element()
            .owner_document()
            .expect_throw("a connected element has a document");
        host.set_html(
            "<section class=\"nop-card\"><h2>Sensors</h2>\
             <p class=\"nop-status\">waiting for readings…</p>\
             <p class=\"nop-latest\"></p>\
             <ul class=\"nop-sensor-list\"></ul></section>",
        );
        let find = |selector: &str| host.query(selector).expect_throw("the skeleton was just rendered");
        let view = Rc::new(RefCell::new(View {
            document,
            list: find("ul"),
            status: find(".nop-status"),
            latest: find(".nop-latest"),
            rows: Vec::new(),
            selected: None,
            alerted: Vec::new(),
        }));
        let bus = Bus::page().with_source(SOURCE);

        let stream_url = herald_push::stream_url_of(host.element());
        let on_reading = view.clone();
        // the page's one stream connection carries the readings onto the bus
        // and answers this page's `nop.sensor.latest` requests upstream
        let interests = Push::new(&stream_url).and_then(|push| Ok((push.subscribe(&[NoiseReading::TYPE])?, push.forward::<LatestReading>()?)));
        match interests {
            Ok((interest, forward)) => {
                host.keep(interest);
                host.keep(forward);
            }
            Err(error) => view.borrow().status.set_text_content(Some(&format!("stream unavailable: {error}"))),
        }
        host.keep(Bus::page().subscribe::<NoiseReading>(move |event| {
            on_reading.borrow_mut().show(&event.data);
        }));

        let on_selected = view.clone();
        host.keep(bus.subscribe::<SensorSelected>(move |event| {
            let sensor = event.data.sensor.clone();
            on_selected.borrow_mut().select(&sensor);
            // ask the server, inside the handler: the request continues the selection's chain
            let asked = Bus::page().request::<LatestReading>(&LatestReading { sensor: sensor.clone() }).timeout(Duration::from_secs(3));
            let latest = on_selected.borrow().latest.clone();
            latest.set_text_content(Some(&format!("asking the server for {sensor}…")));
            wasm_bindgen_futures::spawn_local(async move {
                let said = match asked.await {
                    Ok(Some(reading)) => format!("server: {} {}", reading.sensor, nop_events::db_label(reading.db)),
                    Ok(None) => format!("server: no reading of {sensor} yet"),
                    Err(RequestError::Timeout(_)) => "server: no answer within 3 s".to_owned(),
                    Err(RequestError::Responder(message)) => format!("server: {message}"),
                    Err(_) => "server: the answer could not be read".to_owned(),
                };
                latest.set_text_content(Some(&said));
            });
        }));

        // alerts come from another micro-frontend (plain JavaScript, as it happens)
        let on_alert = view.clone();
        host.keep(bus.subscribe::<NoiseAlert>(move |event| {
            on_alert.borrow_mut().alert(&event.data.sensor);
        }));

        let click = EventListener::new(host.element(), "click", move |event| {
            let sensor = event
                .target()
                .and_then(|t| t.dyn_into::<Element>().ok())
                .and_then(|el| el.closest("[data-sensor]").ok().flatten())
                .and_then(|el| el.get_attribute("data-sensor"));
            if let Some(sensor) = sensor {
                if let Err(error) = bus.publish::<SensorSelected>(&SensorSelected { sensor }) {
                    web_sys::console::error_1(&format!("{TAG}: {error}").into());
                }
            }
        });

        host.keep(click);
    }
}

impl View {
    fn show(&mut self, reading: &NoiseReading) {
        self.status.set_text_content(Some("live"));
        let row = match self.rows.binary_search_by(|(id, _)| id.as_str().cmp(&reading.sensor)) {
            Ok(at) => self.rows[at].1.clone(),
            Err(at) => {
                let row = self.new_row(&reading.sensor);
                // keep rows sorted by sensor id
                let next = self.rows.get(at).map(|(_, el)| el.as_ref());
                let _ = self.list.insert_before(&row, next);
                self.rows.insert(at, (reading.sensor.clone(), row.clone()));
                row
            }
        };
        if let Ok(Some(level)) = row.query_selector(".nop-db") {
            level.set_text_content(Some(&nop_events::db_label(reading.db)));
        }
        let _ = row.class_list().toggle_with_force("nop-loud", reading.db > 85.0);
    }

    fn new_row(&self, sensor: &str) -> Element {
        let row = self.document.create_element("li").expect_throw("create li");
        let _ = row.set_attribute("data-sensor", sensor);
        let button = self.document.create_element("button").expect_throw("create button");
        button.set_text_content(Some(sensor));
        let level = self.document.create_element("span").expect_throw("create span");
        let _ = level.set_attribute("class", "nop-db");
        let _ = row.append_child(&button);
        let _ = row.append_child(&level);
        if self.selected.as_deref() == Some(sensor) {
            let _ = row.class_list().add_1("nop-selected");
        }
        if self.alerted.iter().any(|s| s == sensor) {
            let _ = row.class_list().add_1("nop-alerted");
        }
        row
    }

    fn alert(&mut self, sensor: &str) {
        if !self.alerted.iter().any(|s| s == sensor) {
            self.alerted.push(sensor.to_owned());
        }
        if let Some((_, row)) = self.rows.iter().find(|(id, _)| id == sensor) {
            let _ = row.class_list().add_1("nop-alerted");
        }
    }

    fn select(&mut self, sensor: &str) {
        self.selected = Some(sensor.to_owned());
        for (id, row) in &self.rows {
            let _ = row.class_list().toggle_with_force("nop-selected", id == sensor);
        }
    }
}
