//! The feature `embedded-runtime`: the module's glue imports the page runtime itself,
//! so it installs (if the page has none) before the module starts, with no file to
//! deploy beside the module. The cost is the runtime's size in every module built so;
//! the default loads one copy per page.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/herald-runtime.js")]
extern "C" {
    /// Installs the page runtime from this module's own copy, unless the page has one.
    #[wasm_bindgen(js_name = runtime)]
    pub fn install() -> JsValue;
}
