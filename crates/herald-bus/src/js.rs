//! The page-level state that every herald module shares, whatever wasm module or script it
//! is: `globalThis[Symbol.for("herald.bus.v1")]` (docs/protocol.md §2.6). Each module
//! bundles its own copy of this snippet; they agree because the state lives on the page.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
const KEY = Symbol.for("herald.bus.v1");
function state() {
  let s = globalThis[KEY];
  if (!s) {
    s = { version: 1, retained: new Map(), wildcards: 0, records: 0 };
    Object.defineProperty(globalThis, KEY, { value: s });
  }
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
    topic.events.push({ detail: e.detail, at: Date.now(), n: ++s.records });
    prune(topic);
  }, { capture: true });
  return "";
}
export function herald_retained(type) {
  const topic = state().retained.get(type);
  if (!topic) return [];
  prune(topic);
  return topic.events.map((r) => r.detail);
}
export function herald_retained_all() {
  const all = [];
  for (const [type, topic] of state().retained) {
    prune(topic);
    for (const r of topic.events) all.push({ type, n: r.n, detail: r.detail });
  }
  all.sort((a, b) => a.n - b.n);
  return all.map((r) => [r.type, r.detail]);
}
export function herald_wildcards() { return state().wildcards; }
export function herald_wildcards_add(delta) { state().wildcards += delta; }
"#)]
extern "C" {
    /// Declares `type` retained; returns `""`, or the JSON of the policy already declared.
    pub fn herald_retain(ty: &str, kind: &str, n: u32, ms: f64) -> String;
    /// The retained `detail`s of `type`, oldest first.
    pub fn herald_retained(ty: &str) -> js_sys::Array;
    /// Every retained `[type, detail]`, in the order they were published.
    pub fn herald_retained_all() -> js_sys::Array;
    /// How many pattern subscriptions are live on the page.
    pub fn herald_wildcards() -> u32;
    /// Registers (+1) or releases (-1) a pattern subscription.
    pub fn herald_wildcards_add(delta: i32);
}
