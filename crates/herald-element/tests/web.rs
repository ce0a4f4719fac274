#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;

use herald_bus::{live_listeners, Bus, Event};
use herald_element::{define, define_once, is_defined, CustomElement, Error, Host, Shadow};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::HtmlElement;

wasm_bindgen_test_configure!(run_in_browser);

thread_local! {
    static CALLS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn record(call: impl Into<String>) {
    CALLS.with(|c| c.borrow_mut().push(call.into()));
}

fn take_calls() -> Vec<String> {
    CALLS.with(|c| c.take())
}

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

fn create(tag: &str) -> HtmlElement {
    document().create_element(tag).unwrap().unchecked_into()
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Ping {
    n: u32,
}

impl Event for Ping {
    const TYPE: &'static str = "test.element.ping";
    type Data = Self;
}

struct Greeter {
    connections: u32,
}

impl CustomElement for Greeter {
    fn observed_attributes() -> &'static [&'static str] {
        &["name"]
    }
    fn create(_host: &Host) -> Self {
        record("create");
        Greeter { connections: 0 }
    }
    fn connected(&mut self, host: &mut Host) {
        self.connections += 1;
        record(format!("connected {}", self.connections));
        let name = host.element().get_attribute("name").unwrap_or_else(|| "world".into());
        host.element().set_text_content(Some(&format!("Hello, {name}!")));
        // an element-owned subscription: released on disconnect, made again on connect
        host.keep(Bus::page().subscribe::<Ping>(|ping| record(format!("ping {}", ping.data.n))));
    }
    fn disconnected(&mut self, host: &mut Host) {
        record(format!("disconnected, keeping {}", host.kept()));
    }
    fn attribute_changed(&mut self, host: &mut Host, name: &str, old: Option<String>, new: Option<String>) {
        record(format!("{name}: {old:?} -> {new:?}"));
        if host.element().is_connected() {
            host.element()
                .set_text_content(Some(&format!("Hello, {}!", new.unwrap_or_default())));
        }
    }
}

#[wasm_bindgen_test]
async fn an_element_defined_from_rust_renders_and_follows_its_lifecycle() {
    define::<Greeter>("test-greeter").unwrap();
    assert!(is_defined("test-greeter"));
    let listeners_before = live_listeners();
    let bus = Bus::page();

    let el = create("test-greeter");
    el.set_attribute("name", "herald").unwrap();
    document().body().unwrap().append_child(&el).unwrap();
    let rendered = el.text_content();
    bus.publish::<Ping>(&Ping { n: 1 }).unwrap();
    let listeners_connected = live_listeners();

    el.set_attribute("name", "NOP").unwrap();
    let updated = el.text_content();

    el.remove(); // disconnect: the subscription goes
    bus.publish::<Ping>(&Ping { n: 2 }).unwrap();
    let listeners_disconnected = live_listeners();
    document().body().unwrap().append_child(&el).unwrap(); // ... and comes back
    bus.publish::<Ping>(&Ping { n: 3 }).unwrap();
    el.remove();

    assert_eq!(rendered.as_deref(), Some("Hello, herald!"));
    assert_eq!(updated.as_deref(), Some("Hello, NOP!"));
    assert_eq!(listeners_connected, listeners_before + 1);
    assert_eq!(listeners_disconnected, listeners_before);
    assert_eq!(live_listeners(), listeners_before);
    assert_eq!(
        take_calls(),
        vec![
            "create",
            "name: None -> Some(\"herald\")",
            "connected 1",
            "ping 1",
            "name: Some(\"herald\") -> Some(\"NOP\")",
            "disconnected, keeping 1",
            "connected 2",
            "ping 3",
            "disconnected, keeping 1",
        ]
    );
}

struct Other;

impl CustomElement for Other {
    fn create(_host: &Host) -> Self {
        Other
    }
}

#[wasm_bindgen_test]
async fn defining_a_tag_twice_or_an_invalid_tag_is_an_error() {
    define::<Other>("test-other").unwrap();
    assert_eq!(define::<Other>("test-other"), Err(Error::AlreadyDefined("test-other".into())));
    assert_eq!(define_once::<Other>("test-other"), Ok(()));
    match define::<Other>("nodash") {
        Err(Error::Js(error)) => assert_eq!(error.name, "SyntaxError"),
        other => panic!("expected a SyntaxError, got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn elements_in_the_page_before_definition_are_upgraded() {
    let el = document().create_element("test-late").unwrap();
    document().body().unwrap().append_child(&el).unwrap();
    struct Late;
    impl CustomElement for Late {
        fn create(_host: &Host) -> Self {
            Late
        }
        fn connected(&mut self, host: &mut Host) {
            host.set_html("upgraded");
        }
    }
    define::<Late>("test-late").unwrap();
    let text = el.text_content();
    el.remove();
    assert_eq!(text.as_deref(), Some("upgraded"));
}

struct Styled;

impl CustomElement for Styled {
    const SHADOW: Shadow = Shadow::Open;
    fn styles() -> &'static str {
        "p { color: rgb(0, 128, 0); } :host { display: block; }"
    }
    fn create(_host: &Host) -> Self {
        Styled
    }
    fn connected(&mut self, host: &mut Host) {
        host.set_html(r#"<p class="inside">inside</p>"#);
    }
}

struct Sealed;

impl CustomElement for Sealed {
    const SHADOW: Shadow = Shadow::Closed;
    fn styles() -> &'static str {
        "p { color: rgb(0, 0, 255); }"
    }
    fn create(_host: &Host) -> Self {
        Sealed
    }
    fn connected(&mut self, host: &mut Host) {
        host.set_html("<p>sealed</p>");
        let found = host.query("p").and_then(|p| p.text_content());
        record(format!("sealed sees {found:?}"));
    }
}

fn color(element: &web_sys::Element) -> String {
    web_sys::window()
        .unwrap()
        .get_computed_style(element)
        .unwrap()
        .unwrap()
        .get_property_value("color")
        .unwrap()
}

#[wasm_bindgen_test]
async fn shadow_styles_do_not_leak_in_or_out() {
    define::<Styled>("test-styled").unwrap();
    define::<Sealed>("test-sealed").unwrap();
    // the page says: every <p> is red
    let page_style = document().create_element("style").unwrap();
    page_style.set_text_content(Some("p { color: rgb(255, 0, 0); }"));
    document().head().unwrap().append_child(&page_style).unwrap();
    let outside = document().create_element("p").unwrap();
    let styled = create("test-styled");
    let sealed = create("test-sealed");
    for node in [&outside, styled.as_ref(), sealed.as_ref()] {
        document().body().unwrap().append_child(node).unwrap();
    }

    let inside = styled.shadow_root().unwrap().query_selector("p").unwrap().unwrap();
    let (inside_color, outside_color) = (color(&inside), color(&outside));
    let closed_root_visible = sealed.shadow_root().is_some();
    let calls = take_calls();

    for node in [&outside, styled.as_ref(), sealed.as_ref(), &page_style] {
        node.remove();
    }
    assert_eq!(inside_color, "rgb(0, 128, 0)", "the page's CSS leaked in");
    assert_eq!(outside_color, "rgb(255, 0, 0)", "the element's CSS leaked out");
    assert!(!closed_root_visible, "a closed shadow root is not visible to page scripts");
    assert_eq!(calls, vec!["sealed sees Some(\"sealed\")"]);
}

struct Gauge {
    threshold: f64,
}

impl CustomElement for Gauge {
    fn properties() -> &'static [&'static str] {
        &["threshold", "kind"]
    }
    fn create(_host: &Host) -> Self {
        Gauge { threshold: 85.0 }
    }
    fn connected(&mut self, host: &mut Host) {
        host.set_html(&format!("threshold {}", self.threshold));
    }
    fn property(&self, _host: &Host, name: &str) -> wasm_bindgen::JsValue {
        match name {
            "threshold" => herald_element::to_js(&self.threshold),
            "kind" => herald_element::to_js(&"gauge"),
            _ => wasm_bindgen::JsValue::UNDEFINED,
        }
    }
    fn set_property(&mut self, host: &mut Host, name: &str, value: wasm_bindgen::JsValue) -> Result<(), String> {
        match name {
            "threshold" => {
                self.threshold = herald_element::from_js::<f64>(value)?;
                host.set_html(&format!("threshold {}", self.threshold));
                Ok(())
            }
            other => Err(format!("`{other}` is read-only")),
        }
    }
}

#[wasm_bindgen_test]
async fn typed_properties_are_readable_and_writable_from_javascript() {
    use js_sys::Reflect;
    use wasm_bindgen::JsValue;
    // assigned before the element is upgraded: replayed through the setter on connect
    let el = create("test-gauge");
    Reflect::set(&el, &"threshold".into(), &JsValue::from(70)).unwrap();
    define::<Gauge>("test-gauge").unwrap();
    document().body().unwrap().append_child(&el).unwrap();
    let replayed = Reflect::get(&el, &"threshold".into()).unwrap().as_f64();
    let rendered = el.text_content();

    Reflect::set(&el, &"threshold".into(), &JsValue::from(90.5)).unwrap();
    let updated = (Reflect::get(&el, &"threshold".into()).unwrap().as_f64(), el.text_content());

    let bad = Reflect::set(&el, &"threshold".into(), &JsValue::from_str("loud")).unwrap_err();
    let read_only = Reflect::set(&el, &"kind".into(), &JsValue::from_str("dial")).unwrap_err();
    let kept = Reflect::get(&el, &"threshold".into()).unwrap().as_f64();
    let kind = Reflect::get(&el, &"kind".into()).unwrap().as_string();
    el.remove();

    assert_eq!(replayed, Some(70.0));
    assert_eq!(rendered.as_deref(), Some("threshold 70"));
    assert_eq!(updated, (Some(90.5), Some("threshold 90.5".into())));
    let message = |e: &JsValue| Reflect::get(e, &"message".into()).unwrap().as_string().unwrap();
    let name = |e: &JsValue| Reflect::get(e, &"name".into()).unwrap().as_string().unwrap();
    assert_eq!(name(&bad), "TypeError");
    assert!(message(&bad).starts_with("<test-gauge>.threshold: "), "{}", message(&bad));
    assert!(message(&read_only).contains("read-only"), "{}", message(&read_only));
    assert_eq!(kept, Some(90.5), "a rejected value leaves the state as it was");
    assert_eq!(kind.as_deref(), Some("gauge"));
}

struct Emitter;

impl CustomElement for Emitter {
    const SHADOW: Shadow = Shadow::Closed;
    fn create(_host: &Host) -> Self {
        Emitter
    }
    fn connected(&mut self, host: &mut Host) {
        host.bus().with_source("/test/emitter").publish::<Ping>(&Ping { n: 42 }).unwrap();
    }
}

#[wasm_bindgen_test]
async fn an_element_emits_typed_events_that_leave_its_shadow_root() {
    define::<Emitter>("test-emitter").unwrap();
    let heard = std::rc::Rc::new(RefCell::new(Vec::new()));
    let sink = heard.clone();
    let _page = Bus::page().subscribe::<Ping>(move |ev| sink.borrow_mut().push((ev.data.n, ev.envelope.source.clone())));
    let el = create("test-emitter");
    document().body().unwrap().append_child(&el).unwrap();
    el.remove();
    assert_eq!(*heard.borrow(), vec![(42, "/test/emitter".to_string())]);
}

struct Named;

impl CustomElement for Named {
    fn create(_host: &Host) -> Self {
        Named
    }
}

/// The module's names in the page state (docs/protocol.md §2.6), as devtools read them.
fn names_of_this_module() -> Option<String> {
    let state = js_sys::Reflect::get(&js_sys::global(), &js_sys::Symbol::for_("herald.bus.v1")).ok()?;
    let names: js_sys::Map = js_sys::Reflect::get(&state, &"names".into()).ok()?.dyn_into().ok()?;
    names.get(&herald_bus::module_id().into()).as_string()
}

#[wasm_bindgen_test]
fn defining_a_tag_names_the_module_in_the_page_state_once() {
    define::<Named>("named-one-el").unwrap();
    define::<Named>("named-two-el").unwrap();
    assert!(define_once::<Named>("named-one-el").is_ok());
    let names = names_of_this_module().expect("the module has names");
    let names: Vec<&str> = names.split(' ').collect();
    assert_eq!(names.iter().filter(|n| **n == "named-one-el").count(), 1, "{names:?}");
    assert!(names.contains(&"named-two-el"), "{names:?}");
}
