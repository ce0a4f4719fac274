//! herald-bus's JavaScript side: the page-level state that every herald module shares,
//! whatever wasm module or script it is — `globalThis[Symbol.for("herald.bus.v1")]`
//! (docs/protocol.md §2.6) — and the hot path of the DOM events themselves. Each module
//! bundles its own copy of this snippet; they agree because the state lives on the page.
//!
//! An envelope crosses the wasm boundary as its JSON text in UTF-8, not field by field,
//! and becomes a JavaScript string only if JavaScript asks for it: `herald_dispatch`
//! copies the publisher's bytes into a shared chunk and dispatches a `CustomEvent` that
//! carries them (`Symbol.for("herald.utf8")`) and makes its JSON text
//! (`Symbol.for("herald.json")`) and its `detail` only when someone reads them (a plain-JS
//! listener, say); `herald_listen`'s listener copies the bytes straight into a herald
//! subscriber's memory, in any module. A `detail` made by anyone else is read with
//! `JSON.stringify`.

use wasm_bindgen::prelude::*;

// The snippet below ships to every browser as it is written, so its notes are here:
// - `keep`: envelopes' bytes are copied out of the publishers' wasm memory into shared
//   `CHUNK`s, one allocation for many events (the first when this module first publishes;
//   a chunk is freed once no event in it is alive).
// - `Body`: an envelope as UTF-8 bytes, and its JSON text and `detail` made from them on
//   first read: one dispatch's, shared by the event and its `herald:*` copy, or a
//   retained record's (docs/protocol.md §2.6), with `at` and `n`: the record has its own
//   copy of the bytes, so that it does not keep the event's whole chunk alive.
// - `HeraldEvent`: a herald bus event, with its envelope as UTF-8 bytes, as JSON text and
//   as `detail`, and whether its publisher checked it (`Symbol.for("herald.checked")`).
// - `jsonOfDetail`: earlier herald publishers kept the text on the detail.
// - `utf8Of`: the envelope of an event (its bytes and text under the symbols) or of a
//   retained record (under `utf8` and `json`) as UTF-8 bytes: the bytes a herald event
//   carries, else its text (an earlier herald publisher's) or its detail's JSON, encoded;
//   `undefined` if the detail is not a JSON object.
// - `herald_dispatch`: `utf8` is a view of the publisher's wasm memory, there only for
//   this call: the event keeps a copy.
// - `crashed`: set when this wasm module panicked: it must not be called again (its state
//   may be inconsistent), so its listeners fall silent.
// - `herald_dead_letter`: publishes a `herald.deadletter` event (docs/protocol.md §2.4)
//   from its parts, in the order herald's Rust bus writes an envelope; `event`, the event
//   that could not be taken, is JSON text and stays as it came (`JSON.stringify` leaves
//   out what is undefined).
// - `herald_detail_json`: what a `detail` that is not JSON is, as a JSON string (a dead
//   letter's `event`).
#[wasm_bindgen(inline_js = r#"
const KEY = Symbol.for("herald.bus.v1");
const JSON_KEY = Symbol.for("herald.json");
const UTF8_KEY = Symbol.for("herald.utf8");
const CHECKED_KEY = Symbol.for("herald.checked");
const decoder = new TextDecoder();
const encoder = new TextEncoder();
const CHUNK = 16384;
let chunk = null;
let used = 0;
function keep(utf8) {
  const len = utf8.length;
  if (len > CHUNK / 8) return utf8.slice();
  if (chunk === null || used + len > CHUNK) {
    chunk = new Uint8Array(CHUNK);
    used = 0;
  }
  chunk.set(utf8, used);
  used += len;
  return chunk.subarray(used - len, used);
}
class Body {
  #text;
  #detail;
  constructor(utf8, checked) {
    this.utf8 = utf8;
    this.checked = checked;
  }
  get json() {
    return (this.#text ??= decoder.decode(this.utf8));
  }
  get detail() {
    return (this.#detail ??= JSON.parse(this.json));
  }
}
class HeraldEvent extends CustomEvent {
  #body;
  constructor(name, init, body) {
    super(name, init);
    this.#body = body;
  }
  get [UTF8_KEY]() {
    return this.#body.utf8;
  }
  get [JSON_KEY]() {
    return this.#body.json;
  }
  get [CHECKED_KEY]() {
    return this.#body.checked;
  }
  get detail() {
    return this.#body.detail;
  }
}
function jsonOfDetail(detail) {
  if (detail === null || typeof detail !== "object") return undefined;
  const json = detail[JSON_KEY];
  if (typeof json === "string") return json;
  try { return JSON.stringify(detail); } catch { return undefined; }
}
function utf8Of(holder, utf8Key, jsonKey) {
  const utf8 = holder[utf8Key];
  if (utf8 instanceof Uint8Array) return utf8;
  const json = holder[jsonKey];
  const text = typeof json === "string" ? json : jsonOfDetail(holder.detail);
  return text === undefined ? undefined : encoder.encode(text);
}
const INIT = { bubbles: true, composed: true, cancelable: false };
const CANCELABLE = { bubbles: true, composed: true, cancelable: true };
export function herald_dispatch(target, name, utf8, cancelable, wildcard, checked) {
  const body = new Body(keep(utf8), checked);
  const init = cancelable ? CANCELABLE : INIT;
  const notCanceled = target.dispatchEvent(new HeraldEvent(name, init, body));
  if (wildcard && (globalThis[KEY]?.wildcards ?? 0) > 0) {
    target.dispatchEvent(new HeraldEvent("herald:*", init, body));
  }
  return notCanceled;
}
let crashed = false;
export function herald_mark_crashed(module) {
  crashed = true;
  const s = state();
  s.crashed.add(module);
}
export function herald_listen(target, name, callback, module) {
  const listeners = (state().listeners ??= new Map());
  listeners.set(module, (listeners.get(module) ?? 0) + 1);
  const listener = (e) => {
    if (crashed) return;
    try {
      callback(utf8Of(e, UTF8_KEY, JSON_KEY), e[CHECKED_KEY] === true, e);
    } catch (error) {
      if (!crashed) throw error;
    }
  };
  target.addEventListener(name, listener);
  return listener;
}
export function herald_name_module(module, name) {
  const names = (state().names ??= new Map());
  const had = names.get(module);
  if (!had) names.set(module, name);
  else if (!had.split(" ").includes(name)) names.set(module, `${had} ${name}`);
}
export function herald_unlisten(target, name, listener, module) {
  target.removeEventListener(name, listener);
  const listeners = (state().listeners ??= new Map());
  const n = (listeners.get(module) ?? 1) - 1;
  if (n > 0) listeners.set(module, n); else listeners.delete(module);
}
export function herald_record_utf8(record) {
  return utf8Of(record, "utf8", "json");
}
export function herald_record_checked(record) {
  return record.checked === true;
}
function state() {
  let s = globalThis[KEY];
  if (!s) {
    s = { version: 1 };
    Object.defineProperty(globalThis, KEY, { value: s });
  }
  s.retained ??= new Map();
  s.wildcards ??= 0;
  s.records ??= 0;
  s.crashed ??= new Set();
  return s;
}
function prune(topic) {
  const p = topic.policy;
  if (p.kind === "age") {
    const oldest = Date.now() - p.ms;
    while (topic.events.length && topic.events[0].at < oldest) topic.events.shift();
  } else {
    const keep = p.kind === "last" ? 1 : p.n;
    if (topic.events.length > keep) topic.events.splice(0, topic.events.length - keep);
  }
}
export function herald_retain(type, kind, n, ms) {
  const s = state();
  const existing = s.retained.get(type);
  if (existing) return JSON.stringify(existing.policy);
  const policy = kind === "last" ? { kind } : kind === "count" ? { kind, n } : { kind, ms };
  const topic = { policy, events: [] };
  s.retained.set(type, topic);
  globalThis.addEventListener("herald:" + type, (e) => {
    const at = Date.now();
    const n = ++s.records;
    topic.events.push(UTF8_KEY in e
      ? Object.assign(new Body(e[UTF8_KEY].slice(), e[CHECKED_KEY] === true), { at, n })
      : typeof e[JSON_KEY] === "string"
        ? { json: e[JSON_KEY], at, n, get detail() { return e.detail; } }
        : { detail: e.detail, at, n });
    prune(topic);
  }, { capture: true });
  return "";
}
export function herald_retained(type) {
  const topic = state().retained.get(type);
  if (!topic) return [];
  prune(topic);
  return topic.events.slice();
}
export function herald_retained_all() {
  const all = [];
  for (const [type, topic] of state().retained) {
    prune(topic);
    for (const record of topic.events) all.push([type, record]);
  }
  all.sort((a, b) => a[1].n - b[1].n);
  return all;
}
export function herald_dead_letter(target, source, correlationid, causationid, reason, subscriber, version, event) {
  const s = state();
  s.deadLetterPrefix ??= Math.random().toString(16).slice(2, 10);
  const id = `deadletter-${s.deadLetterPrefix}-${s.deadLetters = (s.deadLetters ?? 0) + 1}`;
  const time = new Date().toISOString();
  const head = JSON.stringify({ specversion: "1.0", id, source, type: "herald.deadletter", time, datacontenttype: "application/json" });
  const data = JSON.stringify({ reason, subscriber, version }).slice(0, -1) + `,"event":${event}}`;
  const tail = JSON.stringify({ correlationid, causationid });
  const json = `${head.slice(0, -1)},"data":${data}${tail === "{}" ? "}" : "," + tail.slice(1)}`;
  return herald_dispatch(target, "herald:herald.deadletter", encoder.encode(json), false, true, false);
}
export function herald_wildcards_add(delta) { state().wildcards += delta; }
export function herald_number_text(n) { return String(n); }
export function herald_window() { return typeof window === "undefined" ? undefined : window; }
export function herald_detail_json(holder) {
  return JSON.stringify(herald_text_of(holder.detail));
}
export function herald_text_of(value) {
  try { return String(value); } catch { return Object.prototype.toString.call(value); }
}
"#)]
extern "C" {
    /// Dispatches `herald:<type>` (named `name`) carrying the envelope's JSON text `utf8`
    /// (its text and `detail` made from it when read), and with `wildcard` its `herald:*`
    /// copy while pattern subscriptions are live; `checked` says the envelope is valid
    /// (herald's subscribers do not validate it again); returns `dispatchEvent`'s result
    /// (`false` when a listener called `preventDefault`). It cannot throw: a listener's
    /// exception is reported by the browser, not thrown by `dispatchEvent`.
    pub fn herald_dispatch(
        target: &web_sys::EventTarget,
        name: &JsValue,
        utf8: &[u8],
        cancelable: bool,
        wildcard: bool,
        checked: bool,
    ) -> bool;
    /// Listens for `name`, calling `callback` with the envelope's JSON text as UTF-8 (the
    /// bytes the event carries, or its detail's JSON if that is an object) and the event;
    /// counts the listener for `module` in the page state's `listeners`; returns the
    /// listener to remove.
    pub fn herald_listen(
        target: &web_sys::EventTarget,
        name: &str,
        callback: &js_sys::Function,
        module: &str,
    ) -> js_sys::Function;
    /// Silences every listener of this module for good (it panicked), and records the
    /// module as crashed in the page state.
    pub fn herald_mark_crashed(module: &str);
    /// Adds `name` to `module`'s names in the page state's `names`.
    pub fn herald_name_module(module: &str, name: &str);
    /// Removes a listener made by `herald_listen`, and its count.
    pub fn herald_unlisten(target: &web_sys::EventTarget, name: &str, listener: &js_sys::Function, module: &str);
    /// A retained record's envelope as JSON text in UTF-8, `None` if its detail is not an
    /// object JSON can express.
    pub fn herald_record_utf8(record: &JsValue) -> Option<Vec<u8>>;
    /// Whether a retained record's envelope was checked where it was made.
    pub fn herald_record_checked(record: &JsValue) -> bool;
    /// Declares `type` retained; returns `""`, or the JSON of the policy already declared.
    pub fn herald_retain(ty: &str, kind: &str, n: u32, ms: f64) -> String;
    /// The retained records (`{detail, at, n}`, and `json`) of `type`, oldest first.
    pub fn herald_retained(ty: &str) -> js_sys::Array;
    /// Every retained `[type, record]`, in the order they were published.
    pub fn herald_retained_all() -> js_sys::Array;
    /// Publishes on `target` a `herald.deadletter` event from `source`, continuing the
    /// chain given (if any), with these payload fields; `event` is the original event's
    /// JSON text, embedded as it is. Returns `dispatchEvent`'s result.
    #[wasm_bindgen(catch)]
    #[allow(clippy::too_many_arguments)]
    pub fn herald_dead_letter(
        target: &web_sys::EventTarget,
        source: &str,
        correlationid: Option<&str>,
        causationid: Option<&str>,
        reason: &str,
        subscriber: &str,
        version: u32,
        event: &str,
    ) -> Result<bool, JsValue>;
    /// Registers (+1) or releases (-1) a pattern subscription.
    pub fn herald_wildcards_add(delta: i32);
    /// A number as JavaScript writes it: the shortest text that reads back as it, which
    /// for a finite number is JSON.
    pub fn herald_number_text(n: f64) -> String;
    /// The page's `window`; `None` where there is none (a worker).
    pub fn herald_window() -> Option<web_sys::Window>;
    /// Any JavaScript value as text, as `String(value)` writes it (`[object Object]` for
    /// one that refuses).
    pub fn herald_text_of(value: &JsValue) -> String;
    /// `holder.detail` (an event's or a retained record's), which is not JSON, described
    /// as a JSON string.
    pub fn herald_detail_json(holder: &JsValue) -> String;
}
