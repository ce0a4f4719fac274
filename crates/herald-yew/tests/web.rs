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

use herald_bus::{live_listeners, Request, RequestError};
use herald_yew::{define_component, use_request, use_subscription, AttributeProps};

#[derive(Properties, PartialEq, Clone, Default)]
struct BadgeProps {
    label: String,
}

impl AttributeProps for BadgeProps {
    fn observed() -> &'static [&'static str] {
        &["label"]
    }
    fn from_element(element: &HtmlElement) -> Self {
        BadgeProps {
            label: element.get_attribute("label").unwrap_or_default(),
        }
    }
}

#[function_component]
fn Badge(props: &BadgeProps) -> Html {
    let level = use_event::<Level>();
    let count = use_state(|| 0u32);
    {
        let count = count.clone();
        use_subscription::<Level, _>(move |_| count.set(*count + 1));
    }
    html! {
        <p>{ format!("{}: {} ({} heard)", props.label, level.map(|l| l.db).unwrap_or(0.0), *count) }</p>
    }
}

fn shadow_text(el: &HtmlElement) -> String {
    el.shadow_root().map(|r| r.text_content().unwrap_or_default()).unwrap_or_default()
}

#[wasm_bindgen_test]
async fn a_yew_component_becomes_a_custom_element() {
    define_component::<Badge>("test-yew-badge").unwrap();
    settle().await; // let other tests' destroyed apps finish their teardowns
    let listeners = live_listeners();
    let document = web_sys::window().unwrap().document().unwrap();
    let el: HtmlElement = document.create_element("test-yew-badge").unwrap().unchecked_into();
    el.set_attribute("label", "s-1").unwrap();
    document.body().unwrap().append_child(&el).unwrap();
    settle().await;
    let first = shadow_text(&el);

    el.set_attribute("label", "s-2").unwrap(); // attributes are props
    Bus::page().publish::<Level>(&Level { db: 72.5 }).unwrap();
    settle().await;
    let second = shadow_text(&el);
    let listeners_mounted = live_listeners();

    el.remove(); // destroyed: effects torn down, subscriptions dropped
    settle().await;
    let after = shadow_text(&el);

    assert!(first.starts_with("s-1: "), "{first}");
    assert_eq!(second, "s-2: 72.5 (1 heard)");
    assert_eq!(listeners_mounted, listeners + 2, "use_event and use_subscription each subscribe");
    assert_eq!(after, "");
    assert_eq!(live_listeners(), listeners);
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Square {
    n: u32,
}

impl Event for Square {
    const TYPE: &'static str = "test.yew.square";
    type Data = Self;
}

impl Request for Square {
    type Reply = u32;
}

#[function_component]
fn Asker() -> Html {
    let ask = use_request::<Square>();
    let onclick = {
        let ask = ask.clone();
        Callback::from(move |_| ask.run(Square { n: 12 }))
    };
    let text = match ask.outcome().as_deref() {
        None if ask.pending() => "asking".to_string(),
        None => "idle".to_string(),
        Some(Ok(reply)) => format!("reply {reply}"),
        Some(Err(RequestError::NoResponder)) => "nobody".to_string(),
        Some(Err(other)) => format!("error {other}"),
    };
    html! { <button id="ask" {onclick}>{ text }</button> }
}

#[wasm_bindgen_test]
async fn use_request_asks_and_renders_the_reply() {
    let root = mount();
    let app = yew::Renderer::<Asker>::with_root(root.clone().into()).render();
    settle().await;
    let idle = text(&root, "#ask");
    let button: HtmlElement = root.query_selector("#ask").unwrap().unwrap().unchecked_into();
    button.click();
    settle().await;
    let unanswered = text(&root, "#ask");

    let _responder = Bus::page().respond::<Square>(|req| Ok(req.data.n * req.data.n));
    button.click();
    settle().await;
    let answered = text(&root, "#ask");
    app.destroy();
    root.remove();

    assert_eq!(idle, "idle");
    assert_eq!(unanswered, "nobody");
    assert_eq!(answered, "reply 144");
}
