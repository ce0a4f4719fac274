#![cfg(target_arch = "wasm32")]

use std::time::Duration;

use gloo::timers::future::sleep;
use herald_bus::{Bus, Event};
use herald_yew::{use_event, use_publish};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::HtmlElement;
use yew::prelude::*;

wasm_bindgen_test_configure!(run_in_browser);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Level {
    db: f64,
}

impl Event for Level {
    const TYPE: &'static str = "test.yew.level";
    type Data = Self;
}

#[function_component]
fn Meter() -> Html {
    let level = use_event::<Level>();
    let publish = use_publish::<Level>();
    let onclick = Callback::from(move |_| publish.emit(Level { db: 99.0 }));
    html! {
        <div>
            <span id="level">{ level.map(|l| format!("{} dB", l.db)).unwrap_or_else(|| "waiting".into()) }</span>
            <button id="loud" {onclick}>{ "loud" }</button>
        </div>
    }
}

fn mount() -> HtmlElement {
    let document = web_sys::window().unwrap().document().unwrap();
    let root: HtmlElement = document.create_element("div").unwrap().unchecked_into();
    document.body().unwrap().append_child(&root).unwrap();
    root
}

async fn settle() {
    sleep(Duration::from_millis(20)).await;
}

fn text(root: &HtmlElement, selector: &str) -> String {
    root.query_selector(selector).unwrap().unwrap().text_content().unwrap()
}

#[wasm_bindgen_test]
async fn use_event_renders_the_latest_payload_and_use_publish_publishes() {
    let root = mount();
    let app = yew::Renderer::<Meter>::with_root(root.clone().into()).render();
    settle().await;
    let before = text(&root, "#level");

    Bus::page().publish::<Level>(&Level { db: 61.5 }).unwrap();
    settle().await;
    let after_bus = text(&root, "#level");

    root.query_selector("#loud").unwrap().unwrap().unchecked_into::<HtmlElement>().click();
    settle().await;
    let after_click = text(&root, "#level");

    app.destroy();
    root.remove();
    assert_eq!(before, "waiting");
    assert_eq!(after_bus, "61.5 dB");
    assert_eq!(after_click, "99 dB");
}
