//! `<nop-noise-chart>`: the recent readings of the selected sensor as bars — a yew
//! function component made a custom element by herald-yew.
//!
//! Attributes: `stream` — the gateway's stream URL (default: the page's
//! `<meta name="herald-stream">`, else `/events/stream`); `bars` —
//! how many readings to show (default 20).
#![forbid(unsafe_code)]

use std::collections::VecDeque;

use herald_yew::{define_component, use_event, use_stream, AttributeProps};
use nop_events::{NoiseReading, SensorSelected};
use wasm_bindgen::prelude::*;
use web_sys::HtmlElement;
use yew::prelude::*;

const TAG: &str = "nop-noise-chart";

/// The small allocator for single-threaded wasm (herald-alloc), instead of dlmalloc.
#[global_allocator]
static ALLOCATOR: herald_alloc::Allocator = herald_alloc::Allocator::new();

#[wasm_bindgen(start)]
fn start() {
    if let Err(error) = register() {
        web_sys::console::error_1(&format!("{TAG}: {error}").into());
    }
}

/// Defines `<nop-noise-chart>` unless the page already has it.
pub fn register() -> Result<(), herald_element::Error> {
    if herald_element::is_defined(TAG) {
        return Ok(());
    }
    define_component::<NoiseChart>(TAG)
}

/// The element's attributes as props.
#[derive(Properties, PartialEq, Clone)]
pub struct ChartProps {
    /// The gateway's stream URL.
    pub stream: String,
    /// How many readings to show.
    pub bars: usize,
}

impl Default for ChartProps {
    fn default() -> Self {
        ChartProps {
            stream: "/events/stream".into(),
            bars: 20,
        }
    }
}

impl AttributeProps for ChartProps {
    fn observed() -> &'static [&'static str] {
        &["stream", "bars"]
    }
    fn from_element(element: &HtmlElement) -> Self {
        let defaults = ChartProps::default();
        ChartProps {
            stream: herald_push::stream_url_of(element),
            bars: element
                .get_attribute("bars")
                .and_then(|b| b.parse().ok())
                .filter(|&b| b > 0)
                .unwrap_or(defaults.bars),
        }
    }
}

const STYLE: &str = "
.chart { font-family: system-ui, sans-serif; background: #fff; border-radius: 0.75rem;
  padding: 1rem 1.25rem; box-shadow: 0 1px 3px #0002; }
h2 { margin: 0 0 0.5rem; font-size: 1.1rem; }
.bars { display: flex; align-items: flex-end; gap: 3px; height: 120px; }
.bar { flex: 1; background: #6d8fd6; border-radius: 2px 2px 0 0; }
.bar.loud { background: #c0262d; }
.note { color: #5b6575; font-size: 0.85rem; margin: 0.5rem 0 0; }
";

/// The chart: the bus says which sensor is selected, the stream brings readings.
#[function_component]
fn NoiseChart(props: &ChartProps) -> Html {
    let selected = use_event::<SensorSelected>();
    let readings = use_state(VecDeque::<NoiseReading>::new);
    {
        let readings = readings.clone();
        let bars = props.bars;
        use_stream::<NoiseReading, _>(&props.stream, move |event| {
            {
                let mut next = (*readings).clone();
                next.push_back(event.data.clone());
                // keep enough history for any sensor to fill its bars
                while next.len() > bars * 16 {
                    next.pop_front();
                }
                readings.set(next);
            }
        });
    }
    let sensor = selected.as_ref().map(|s| s.sensor.clone());
    let shown: Vec<&NoiseReading> = match &sensor {
        Some(sensor) => readings.iter().filter(|r| &r.sensor == sensor).collect(),
        None => Vec::new(),
    };
    let shown = &shown[shown.len().saturating_sub(props.bars)..];
    html! {
        <section class="chart">
            <style>{ STYLE }</style>
            <h2>{ "Recent readings" }</h2>
            <div class="bars">
                { for shown.iter().map(|r| {
                    let height = format!("height: {}%", ((r.db - 30.0).clamp(2.0, 90.0) / 90.0 * 100.0).round() as u32);
                    html! { <div class={classes!("bar", (r.db > 85.0).then_some("loud"))} style={height}
                                 title={nop_events::db_label(r.db)}></div> }
                }) }
            </div>
            <p class="note">{
                match &sensor {
                    Some(sensor) => format!("{sensor}: {} readings", shown.len()),
                    None => "select a sensor".to_string(),
                }
            }</p>
        </section>
    }
}
