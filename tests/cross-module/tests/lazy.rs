//! Lazy loading (crates/herald-element/js/herald-lazy.js): a declared micro-frontend's
//! wasm module is not requested until its tag appears in the document, and then once.
#![cfg(target_arch = "wasm32")]

use js_sys::{Promise, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

mod common;

wasm_bindgen_test_configure!(run_in_browser);

const HERALD_LAZY_JS: &str = include_str!("../../../crates/herald-element/js/herald-lazy.js");

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

/// How many times the browser fetched the peer's wasm so far (Resource Timing).
fn peer_wasm_fetches() -> usize {
    let entries = web_sys::window().unwrap().performance().unwrap().get_entries_by_type("resource");
    entries
        .iter()
        .filter(|e| {
            Reflect::get(e, &"name".into())
                .ok()
                .and_then(|n| n.as_string())
                .is_some_and(|n| n.ends_with("/peer-pkg/herald_test_peer_bg.wasm"))
        })
        .count()
}

fn loads(tag: &str) -> f64 {
    let state = Reflect::get(&js_sys::global(), &js_sys::Symbol::for_("herald.lazy.v1")).unwrap();
    let loads: js_sys::Map = Reflect::get(&state, &"loads".into()).unwrap().unchecked_into();
    loads.get(&tag.into()).as_f64().unwrap_or(0.0)
}

#[wasm_bindgen_test]
async fn a_module_loads_only_when_its_tag_first_appears() {
    let origin = web_sys::window().unwrap().location().origin().unwrap();
    // the peer module, started by a one-line loader as an MFE's loader shim would
    let loader = format!(
        "import init, {{ peer_define_fragile }} from '{origin}/peer-pkg/herald_test_peer.js';\
         await init(); peer_define_fragile();"
    );
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/javascript");
    let loader_url = web_sys::Url::create_object_url_with_blob(
        &web_sys::Blob::new_with_str_sequence_and_options(&js_sys::Array::of1(&loader.into()), &options).unwrap(),
    )
    .unwrap();
    let declaration = document().create_element("script").unwrap();
    declaration.set_attribute("type", "application/json").unwrap();
    declaration.set_attribute("data-herald-lazy", "").unwrap();
    declaration.set_text_content(Some(&format!(
        r#"{{"test-fragile": "{loader_url}", "test-never-used": "/nowhere/never.js"}}"#
    )));
    document().head().unwrap().append_child(&declaration).unwrap();
    common::import_source(HERALD_LAZY_JS).await;

    let fetched_before = peer_wasm_fetches();
    let loads_before = loads("test-fragile");

    // a script inserts the tag, nested: the module is fetched and the element upgraded
    let wrapper = document().create_element("div").unwrap();
    wrapper.set_inner_html("<section><test-fragile></test-fragile></section>");
    document().body().unwrap().append_child(&wrapper).unwrap();
    let defined: Promise = web_sys::window().unwrap().custom_elements().when_defined("test-fragile").unwrap();
    JsFuture::from(defined).await.unwrap();
    let rendered = wrapper.text_content();
    // a second one loads nothing more
    let second = document().create_element("test-fragile").unwrap();
    document().body().unwrap().append_child(&second).unwrap();
    let second_rendered = second.text_content();

    let (fetched_after, loads_after, never) = (peer_wasm_fetches(), loads("test-fragile"), loads("test-never-used"));
    wrapper.remove();
    second.remove();
    declaration.remove();

    assert_eq!((fetched_before, loads_before), (0, 0.0), "nothing is requested before the tag appears");
    assert_eq!(rendered.as_deref(), Some("fine"));
    assert_eq!(second_rendered.as_deref(), Some("fine"));
    assert_eq!((fetched_after, loads_after), (1, 1.0));
    assert_eq!(never, 0.0, "a tag that never appears is never loaded");
}
