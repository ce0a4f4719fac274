//! Loading the other modules of a cross-module test page: the separately compiled peer,
//! and plain JavaScript modules from source.
#![allow(dead_code)] // each test file uses the part it needs

use std::cell::RefCell;

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

const PEER: &str = "/peer-pkg/herald_test_peer.js";

thread_local! {
    static PEER_MODULE: RefCell<Option<Object>> = const { RefCell::new(None) };
}

async fn import(url: &JsValue, expression: &str) -> Result<JsValue, JsValue> {
    let import = Function::new_with_args("url", expression);
    let promise: Promise = import.call1(&JsValue::NULL, url)?.unchecked_into();
    JsFuture::from(promise).await
}

/// The peer module, imported and instantiated once per page.
pub async fn peer() -> Object {
    if let Some(module) = PEER_MODULE.with(|p| p.borrow().clone()) {
        return module;
    }
    let module: Object = import(&PEER.into(), "return import(url)")
        .await
        .unwrap_or_else(|e| {
            panic!("cannot import the peer module {PEER} ({e:?}); build it with `cargo xtask peer`")
        })
        .unchecked_into();
    let init: Function = Reflect::get(&module, &"default".into()).unwrap().unchecked_into();
    JsFuture::from(init.call0(&JsValue::NULL).unwrap().unchecked_into::<Promise>())
        .await
        .expect("the peer module initialises");
    PEER_MODULE.with(|p| *p.borrow_mut() = Some(module.clone()));
    module
}

/// Calls the peer's exported function `name`, awaiting it if it returns a promise.
pub async fn call(name: &str, args: &[JsValue]) -> JsValue {
    let module = peer().await;
    let function: Function = Reflect::get(&module, &name.into())
        .unwrap()
        .dyn_into()
        .unwrap_or_else(|_| panic!("the peer exports no `{name}`"));
    let result = function
        .apply(&JsValue::NULL, &args.iter().collect::<Array>())
        .unwrap_or_else(|e| panic!("peer `{name}` threw {e:?}"));
    match result.dyn_into::<Promise>() {
        Ok(promise) => JsFuture::from(promise).await.unwrap(),
        Err(value) => value,
    }
}

/// Imports a JavaScript module from its source text (through a Blob URL).
pub async fn import_source(source: &str) {
    import(
        &source.into(),
        "return import(URL.createObjectURL(new Blob([url], { type: 'text/javascript' })))",
    )
    .await
    .expect("the module loads");
}
