#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;

use herald_element::{define, is_defined, CustomElement, Error};
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

struct Greeter {
    connections: u32,
}

impl CustomElement for Greeter {
    fn observed_attributes() -> &'static [&'static str] {
        &["name"]
    }
    fn create(_host: &HtmlElement) -> Self {
        record("create");
        Greeter { connections: 0 }
    }
    fn connected(&mut self, host: &HtmlElement) {
        self.connections += 1;
        record(format!("connected {}", self.connections));
        let name = host.get_attribute("name").unwrap_or_else(|| "world".into());
        host.set_text_content(Some(&format!("Hello, {name}!")));
    }
    fn disconnected(&mut self, _host: &HtmlElement) {
        record("disconnected");
    }
    fn attribute_changed(&mut self, host: &HtmlElement, name: &str, old: Option<String>, new: Option<String>) {
        record(format!("{name}: {old:?} -> {new:?}"));
        if host.is_connected() {
            host.set_text_content(Some(&format!("Hello, {}!", new.unwrap_or_default())));
        }
    }
}

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

#[wasm_bindgen_test]
async fn an_element_defined_from_rust_renders_and_follows_its_lifecycle() {
    define::<Greeter>("test-greeter").unwrap();
    assert!(is_defined("test-greeter"));

    let el: HtmlElement = document().create_element("test-greeter").unwrap().unchecked_into();
    el.set_attribute("name", "herald").unwrap();
    document().body().unwrap().append_child(&el).unwrap();
    let rendered = el.text_content();

    el.set_attribute("name", "NOP").unwrap();
    let updated = el.text_content();

    el.remove(); // disconnect ...
    document().body().unwrap().append_child(&el).unwrap(); // ... and connect again
    el.remove();

    assert_eq!(rendered.as_deref(), Some("Hello, herald!"));
    assert_eq!(updated.as_deref(), Some("Hello, NOP!"));
    assert_eq!(
        take_calls(),
        vec![
            "create",
            "name: None -> Some(\"herald\")",
            "connected 1",
            "name: Some(\"herald\") -> Some(\"NOP\")",
            "disconnected",
            "connected 2",
            "disconnected",
        ]
    );
}

struct Other;

impl CustomElement for Other {
    fn create(_host: &HtmlElement) -> Self {
        Other
    }
}

#[wasm_bindgen_test]
async fn defining_a_tag_twice_or_an_invalid_tag_is_an_error() {
    define::<Other>("test-other").unwrap();
    assert_eq!(
        define::<Other>("test-other"),
        Err(Error::AlreadyDefined("test-other".into()))
    );
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
        fn create(_host: &HtmlElement) -> Self {
            Late
        }
        fn connected(&mut self, host: &HtmlElement) {
            host.set_text_content(Some("upgraded"));
        }
    }
    define::<Late>("test-late").unwrap();
    let text = el.text_content();
    el.remove();
    assert_eq!(text.as_deref(), Some("upgraded"));
}
