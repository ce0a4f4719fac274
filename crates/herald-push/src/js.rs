//! herald-push's JavaScript side: a small client of the page runtime
//! (`js/herald-runtime.js`, docs/protocol.md §2.10), which does the work once per page.
//!
//! The client finds the runtime at `globalThis[Symbol.for("herald.runtime.v1")]`. When
//! the page has none yet, it imports `herald-runtime.js` from the module's own folder
//! (the folder of the wasm-bindgen glue: `cargo xtask mfe`/`dist` and trunk put the file
//! there), once per page however many modules ask at the same time
//! (`globalThis[Symbol.for("herald.runtime.loading")]`), and queues the requests made
//! meanwhile. With the feature `embedded-runtime` the glue imports the runtime itself
//! instead (`embedded.rs`).

use wasm_bindgen::prelude::*;

// - `handle`: what `interest` returns before the runtime is there: released before the
//   runtime came, it never asks; otherwise it forwards its release.
// - `load`: the URL is two folders up from this snippet (`snippets/<crate>/inline0.js`),
//   the module's own folder.
#[wasm_bindgen(inline_js = r#"
const RUNTIME = Symbol.for("herald.runtime.v1");
const LOADING = Symbol.for("herald.runtime.loading");
function load() {
  if (globalThis[RUNTIME]) return Promise.resolve(globalThis[RUNTIME]);
  let loading = globalThis[LOADING];
  if (!loading) {
    const url = new URL("../../herald-runtime.js", import.meta.url).href;
    loading = import(url).then((m) => m.runtime());
    loading.catch((error) => console.error(`herald: cannot load the page runtime from ${url}:`, error));
    Object.defineProperty(globalThis, LOADING, { value: loading, configurable: true });
  }
  return loading;
}
function handle(take) {
  const rt = globalThis[RUNTIME];
  if (rt) return take(rt);
  const later = { real: null, released: false, release() {
    if (this.released) return;
    this.released = true;
    this.real?.release();
  } };
  load().then((rt) => { if (!later.released) later.real = take(rt); }, () => {});
  return later;
}
export function herald_interest(url, topics, transport, perTab, token, backoffBaseMs, backoffMaxMs, module) {
  const options = { transport, perTab, token, backoffBaseMs, backoffMaxMs, module };
  return handle((rt) => rt.interest(url, topics.split(" "), options));
}
export function herald_forward(url, type, token, module) {
  return handle((rt) => rt.forward(url, [type], { token, module }));
}
export function herald_href(url, bare) {
  const base = globalThis.document?.baseURI ?? globalThis.location?.href;
  if (base === undefined) throw new TypeError("no document or location to resolve URLs against");
  const resolved = new URL(url, base);
  if (bare) { resolved.search = ""; resolved.hash = ""; }
  return resolved.href;
}
export function herald_stream_url_of(element, meta) {
  const own = element.getAttribute("stream");
  if (own?.trim()) return own;
  const content = element.ownerDocument?.querySelector(`meta[name="${meta}"]`)?.getAttribute("content");
  return content?.trim() ? content : "/events/stream";
}
export function herald_release(handle) {
  handle.release();
}
export function herald_log(url, token, json) {
  load().then((rt) => rt.log?.(url, json, { token }), () => {});
}
export function herald_resolve(href, token) {
  return load().then(
    (rt) => rt.resolve(href, { token }),
    (error) => { throw { status: 0, detail: `no herald page runtime: ${error}` }; },
  );
}
export function herald_publish(url, publishUrl, token, json) {
  return load().then(
    (rt) => rt.publish(url, json, { publishUrl, token }),
    (error) => { throw { status: 0, detail: `no herald page runtime: ${error}` }; },
  );
}
"#)]
extern "C" {
    /// Declares `topics` (space-separated patterns) needed from the stream `url` until the
    /// returned handle is released, with the options this module states (`None`: not
    /// stated).
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(catch)]
    pub fn herald_interest(
        url: &str,
        topics: &str,
        transport: Option<&str>,
        per_tab: Option<bool>,
        token: Option<&str>,
        base_ms: Option<f64>,
        max_ms: Option<f64>,
        module: &str,
    ) -> Result<JsValue, JsValue>;
    /// Has the page runtime answer the page's requests of type `ty` upstream: each goes to
    /// the gateway, and the server's reply comes back as the request's reply, until the
    /// returned handle is released.
    #[wasm_bindgen(catch)]
    pub fn herald_forward(url: &str, ty: &str, token: Option<&str>, module: &str) -> Result<JsValue, JsValue>;
    /// `url` resolved against the document's base URL (`<base href>`, else the page's
    /// own; in a worker its location), without its query and fragment when `bare`.
    #[wasm_bindgen(catch)]
    pub fn herald_href(url: &str, bare: bool) -> Result<String, JsValue>;
    /// `element`'s `stream` attribute, else the content of the page's `<meta name=META>`,
    /// else `/events/stream`.
    pub fn herald_stream_url_of(element: &web_sys::Element, meta: &str) -> String;
    /// Withdraws an interest (once; again is nothing).
    pub fn herald_release(handle: &JsValue);
    /// Queues the central log entry `json` with the page runtime (once it is there).
    pub fn herald_log(url: &str, token: Option<&str>, json: &str);
    /// Sends the envelope `json` to the gateway; resolves to its position, or rejects
    /// with `{status, detail}`.
    pub fn herald_publish(url: &str, publish_url: &str, token: Option<&str>, json: &str) -> js_sys::Promise;
    /// The document a pointer event points at, as its JSON text (the runtime's
    /// `resolve`: fetched once per revision for the page, revalidated without one).
    pub fn herald_resolve(href: &str, token: Option<&str>) -> js_sys::Promise;
}
