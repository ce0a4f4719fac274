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
// - `invalidOf`: why an envelope that herald's JSON reader takes is still not a valid
//   CloudEvent, or `undefined`: `herald_protocol::CloudEvent::validate`'s rules, checks
//   and messages, in its order, over the envelope as JavaScript has it (the reader runs
//   first in Rust, and its errors come first: here types are as it wants them). One copy
//   per module in JavaScript instead of one in each module's wasm. `NOT_STRING`: a
//   control character or a noncharacter (U+FDD0-U+FDEF, the last two of each plane,
//   those of the supplementary planes as surrogate pairs); `SPACE`: Rust's
//   `char::is_whitespace`; a `dataversion` that is not a version stays an extension,
//   as the reader keeps it.
// - `verdict`: what `invalidOf` says of an event or retained record nobody checked, of
//   the envelope the Rust side reads: the detail of an event whose text is a getter of
//   its class (herald's, the page runtime's: the detail is parsed from that text), the
//   text parsed where it is an own property (a record; an earlier herald's event, whose
//   detail may be another object), else the text `jsonOfDetail` gives, as `utf8Of` reads
//   it.
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
const KNOWN = new Set(["specversion", "id", "source", "type", "time", "subject", "datacontenttype",
  "dataschema", "data", "data_base64", "correlationid", "causationid"]);
const NOT_STRING = /[\0-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff]|[\ud83f\ud87f\ud8bf\ud8ff\ud93f\ud97f\ud9bf\ud9ff\uda3f\uda7f\udabf\udaff\udb3f\udb7f\udbbf\udbff][\udffe\udfff]/;
const SPACE = /[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
const TIME = /^\d{4}-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.\d+)?(?:[Zz]|[+-](\d\d):(\d\d))$/;
const MEDIA = /^[\t\n\f\r ]*[!-.0-~]+\/[!-.0-~]+[\t\n\f\r ]*$/;
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const I32 = (v) => Number.isInteger(v) && v >= -2147483648 && v <= 2147483647;
function isTime(s) {
  const m = TIME.exec(s);
  return !!m && m[1] >= 1 && m[1] <= 12 && m[2] >= 1 && m[2] <= 31 && m[3] <= 23 && m[4] <= 59 && m[5] <= 60
    && !(m[6] > 23) && !(m[7] > 59);
}
function invalidOf(o) {
  if (o === null || typeof o !== "object") return undefined;
  const has = (name) => o[name] !== null && o[name] !== undefined;
  const bad = (name, why) => `attribute \`${name}\` is invalid: ${why}`;
  if (o.specversion !== "1.0") return `specversion \`${o.specversion}\` is not supported; herald speaks CloudEvents 1.0`;
  for (const name of ["id", "source", "type"]) if (o[name] === "") return bad(name, "must be a non-empty string");
  const version = o.dataversion;
  const ext = Object.keys(o).filter((k) => !KNOWN.has(k) && has(k) && !(k === "dataversion" && I32(version) && version >= 0));
  for (const name of ["id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "correlationid", "causationid", ...ext]) {
    if (typeof o[name] === "string" && NOT_STRING.test(o[name])) {
      return bad(name, "must not contain control characters (U+0000-U+001F, U+007F-U+009F) or noncharacters");
    }
  }
  if (SPACE.test(o.source)) return bad("source", "must be a URI-reference (no whitespace)");
  for (const name of ["subject", "correlationid", "causationid"]) if (o[name] === "") return bad(name, "must not be empty when present");
  if (has("time") && !isTime(o.time)) return bad("time", "must be an RFC 3339 timestamp");
  if (has("datacontenttype") && !MEDIA.test(o.datacontenttype.split(";")[0])) {
    return bad("datacontenttype", "must be a media type such as application/json");
  }
  if (has("dataschema") && !(URI.test(o.dataschema) && !SPACE.test(o.dataschema))) return bad("dataschema", "must be an absolute URI");
  if (has("data") && has("data_base64")) return bad("data_base64", "must not be present together with `data`");
  if (has("dataversion") && !(I32(version) && version >= 1)) return bad("dataversion", "must be a positive integer (at most 2147483647)");
  for (const name of ext) {
    if (!/^[a-z0-9]+$/.test(name)) return bad(name, "attribute names must consist of lower-case letters and digits");
    if (typeof o[name] === "number" && !I32(o[name])) return bad(name, "a number must be an Integer: whole, 32-bit, no fraction or exponent");
  }
  return undefined;
}
function verdict(holder, textKey, checked, known) {
  if (checked === true) return undefined;
  try {
    const text = holder[textKey];
    if (typeof text === "string" && !Object.hasOwn(holder, textKey)) return invalidOf(holder.detail);
    const json = known ?? (typeof text === "string" ? text : jsonOfDetail(holder.detail));
    return json === undefined ? undefined : invalidOf(JSON.parse(json));
  } catch {
    return undefined;
  }
}
export function herald_invalid(envelope) {
  return invalidOf(envelope);
}
function jsonOfDetail(detail) {
  if (detail === null || typeof detail !== "object") return undefined;
  const json = detail[JSON_KEY];
  if (typeof json === "string") return json;
  try { return JSON.stringify(detail); } catch { return undefined; }
}
function textOf(holder, jsonKey) {
  const json = holder[jsonKey];
  return typeof json === "string" ? json : jsonOfDetail(holder.detail);
}
function utf8Of(holder, utf8Key, jsonKey) {
  const utf8 = holder[utf8Key];
  if (utf8 instanceof Uint8Array) return utf8;
  const text = textOf(holder, jsonKey);
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
      // an event without herald's bytes (plain JavaScript's) is made JSON text once, for
      // the bytes and for the verdict
      let utf8 = e[UTF8_KEY];
      let text;
      if (!(utf8 instanceof Uint8Array)) {
        text = textOf(e, JSON_KEY);
        utf8 = text === undefined ? undefined : encoder.encode(text);
      }
      callback(utf8, utf8 === undefined ? undefined : verdict(e, JSON_KEY, e[CHECKED_KEY], text), e);
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
export function herald_record_invalid(record) {
  return verdict(record, "json", record.checked);
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
    /// bytes the event carries, or its detail's JSON if that is an object), why the
    /// envelope is not a valid CloudEvent if nobody checked it and it is not (JavaScript's
    /// copy of `CloudEvent::validate`, see `invalidOf` above), and the event;
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
    /// Why a retained record's envelope is not a valid CloudEvent, if it was not checked
    /// where it was made and is not.
    pub fn herald_record_invalid(record: &JsValue) -> Option<String>;
    /// What the snippet's validator says of `envelope` (tests: it must agree with
    /// `CloudEvent::validate`).
    #[doc(hidden)]
    pub fn herald_invalid(envelope: &JsValue) -> Option<String>;
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

/// The snippet's validator (`invalidOf`) against `CloudEvent::validate`: the same verdict
/// and message for every envelope herald's reader takes.
#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use wasm_bindgen_test::wasm_bindgen_test;

    const CASES: &[&str] = &[
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x"}"#,
        r#"{"specversion":"1.0","id":"a","source":"urn:s","type":"t.x","time":"2026-12-01T02:36:01.5+01:30","subject":"s-1","datacontenttype":"application/json; charset=utf-8","dataschema":"https://example.com/s.json","correlationid":"c","causationid":"k","flag":true,"n":-2147483648,"m":2147483647,"note":"x","sequence":"00000000000000000007","dataversion":3,"data":{"a":1}}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","sequence":"seven","data":null,"data_base64":"AA=="}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","sequence":7.5}"#,
        r#"{"specversion":"0.3","id":"a","source":"/s","type":"t.x"}"#,
        r#"{"specversion":"1.0","id":"","source":"/s","type":"t.x"}"#,
        r#"{"specversion":"1.0","id":"a","source":"","type":"t.x"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":""}"#,
        r#"{"specversion":"1.0","id":"a\u0001","source":"/s","type":"t.x"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s\u007f","type":"t.x"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","subject":"\ufdd0"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","note":"\uffff"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","note":"\ud83f\udffe"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","note":"\ud83f\udffd"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","time":"2026-12-01T00:00:00\u0085Z"}"#,
        r#"{"specversion":"1.0","id":"a","source":"a b","type":"t.x"}"#,
        r#"{"specversion":"1.0","id":"a","source":"a\u3000b","type":"t.x"}"#,
        r#"{"specversion":"1.0","id":"a","source":"a\ufeffb","type":"t.x"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","subject":""}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","correlationid":""}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","causationid":""}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","time":"2026-13-01T00:00:00Z"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","time":"2026-12-00T00:00:00Z"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","time":"2026-12-01T24:00:00Z"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","time":"2026-12-01T00:60:00Z"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","time":"2026-12-31T23:59:60Z"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","time":"2026-12-01t00:00:00z"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","time":"2026-12-01 00:00:00-23:59"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","time":"2026-12-01T00:00:00+24:00"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","time":"2026-12-01T00:00:00.Z"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","time":"2026-12-01T00:00:00"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","time":"yesterday"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","datacontenttype":" text/plain "}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","datacontenttype":"json"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","datacontenttype":"a/b/c"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","datacontenttype":"ä/b"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","datacontenttype":"/json"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","dataschema":"x y:z"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","dataschema":"1http://x"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","dataschema":"urn:a b"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","dataschema":"/relative"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","data":1,"data_base64":"AA=="}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","dataversion":0}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","dataversion":-1}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","dataversion":2147483648}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","dataversion":"2"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","dataversion":"2\u0001"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","dataversion":2147483647}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","Bad":"x"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","a-b":"x"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","":"x"}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","n":1.5}"#,
        r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x","n":2147483648}"#,
        r#"{"specversion":"1.0","id":"a\u0002","source":"/s","type":"t.x","time":"nope"}"#,
        r#"{"specversion":"1.0","id":"a","source":"a b","type":"t.x","subject":""}"#,
    ];

    #[wasm_bindgen_test]
    fn the_javascript_validator_says_what_cloud_event_validate_says() {
        for case in CASES {
            let event = crate::json::envelope(case).unwrap_or_else(|e| panic!("{case}: the reader refused it: {e}"));
            let rust = event.validate().err().map(|e| e.to_string());
            let envelope = js_sys::JSON::parse(case).unwrap();
            assert_eq!(super::herald_invalid(&envelope), rust, "{case}");
        }
    }
}
