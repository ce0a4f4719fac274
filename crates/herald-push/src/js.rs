//! herald-push's JavaScript side: the page-level state of each push stream, shared by
//! every module that bundles herald-push — `globalThis[Symbol.for("herald.push.v1")]`
//! (docs/protocol.md §2.10) — and the wrapper around the owner's `EventSource`.
//!
//! The state is keyed by the stream's URL. It records which module owns the connection,
//! the topics each module needs, the last position delivered into the bus, and the
//! recently delivered (`source`, `id`) keys. Every change of interests or ownership is
//! announced with a `herald-push:changed` event on `window`, so the other modules
//! reconsider who connects and with which topics.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
const KEY = Symbol.for("herald.push.v1");
const BUS = Symbol.for("herald.bus.v1");
const SEEN = 4096;
function page() {
  let s = globalThis[KEY];
  if (!s) {
    s = { version: 1, streams: new Map() };
    Object.defineProperty(globalThis, KEY, { value: s });
  }
  return s;
}
function entry(url) {
  const streams = page().streams;
  let st = streams.get(url);
  if (!st) {
    st = { owner: null, interests: new Map(), last: null, seen: new Set(), order: [], source: null,
           channel: null, leader: false, tabs: new Map(), releaseLock: null, onRelay: null };
    streams.set(url, st);
  }
  return st;
}
function crashed(module) {
  const c = globalThis[BUS]?.crashed;
  return !!(c && c.has(module));
}
function notify(url) {
  globalThis.dispatchEvent(new CustomEvent("herald-push:changed", { detail: { url } }));
}
function drop(st) {
  if (st.source) {
    try { st.source.close(); } catch {}
  }
  st.source = null;
}
function localTopics(st) {
  const all = new Set();
  for (const [module, topics] of st.interests) {
    if (!crashed(module)) for (const t of topics) all.add(t);
  }
  return all;
}
// --- one connection per browser: tabs elect a leader with a Web Lock; the leader's
// connection is relayed to the other tabs over a BroadcastChannel ---
function tab() {
  const p = page();
  return (p.tab ??= Math.random().toString(16).slice(2, 14));
}
function leaveTabs(url, st) {
  if (!st.channel) return;
  try { st.channel.postMessage({ kind: "bye", tab: tab() }); } catch {}
  st.channel.close();
  st.channel = null;
  st.tabs = new Map();
  st.leader = false;
  const release = st.releaseLock;
  st.releaseLock = null;
  if (release) release();
}
function joinTabs(url, st) {
  if (st.channel) return true;
  if (typeof BroadcastChannel === "undefined" || !globalThis.navigator?.locks) return false;
  const name = "herald.push:" + url;
  const channel = new BroadcastChannel(name);
  st.channel = channel;
  st.tabs = new Map();
  st.leader = false;
  channel.onmessage = (m) => {
    const msg = m.data;
    if (!msg || typeof msg !== "object" || st.channel !== channel) return;
    if (msg.kind === "topics" && st.leader) {
      if (Array.isArray(msg.topics) && msg.topics.length) st.tabs.set(msg.tab, msg.topics); else st.tabs.delete(msg.tab);
      notify(url);
    } else if (msg.kind === "bye" && st.leader) {
      if (st.tabs.delete(msg.tab)) notify(url);
    } else if (msg.kind === "hello" && !st.leader) {
      sendTopics(st);
    } else if (msg.kind === "event" && !st.leader && st.onRelay) {
      st.onRelay("message", msg.data, msg.id);
    }
  };
  if (!st.pagehide) {
    st.pagehide = true;
    globalThis.addEventListener("pagehide", () => {
      try { st.channel?.postMessage({ kind: "bye", tab: tab() }); } catch {}
    });
  }
  navigator.locks.request(name, () => new Promise((resolve) => {
    if (st.channel !== channel) { resolve(); return; }
    st.leader = true;
    st.releaseLock = resolve;
    channel.postMessage({ kind: "hello" });
    notify(url);
  }));
  return true;
}
function sendTopics(st) {
  if (st.channel && !st.leader) st.channel.postMessage({ kind: "topics", tab: tab(), topics: [...localTopics(st)] });
}
export function push_share(url, wanted) {
  const st = entry(url);
  if (!wanted) return false;
  return joinTabs(url, st);
}
export function push_is_leader(url) {
  const st = entry(url);
  return !st.channel || st.leader;
}
export function push_follow(url, on_relay) {
  const st = entry(url);
  st.onRelay = on_relay ?? null;
  if (on_relay) sendTopics(st);
}
export function push_set_interest(url, module, topics) {
  const st = entry(url);
  if (topics.length) st.interests.set(module, topics); else st.interests.delete(module);
  if (st.interests.size === 0) leaveTabs(url, st);
  notify(url);
}
export function push_union(url) {
  const st = entry(url);
  const all = localTopics(st);
  if (st.channel && st.leader) for (const topics of st.tabs.values()) for (const t of topics) all.add(t);
  return [...all].sort();
}
export function push_owner(url) {
  const st = entry(url);
  if (st.owner !== null && crashed(st.owner)) { drop(st); st.owner = null; }
  return st.owner ?? undefined;
}
export function push_claim(url, module) {
  const st = entry(url);
  if (st.owner !== null && st.owner !== module && !crashed(st.owner)) return false;
  if (st.owner !== module) { drop(st); st.owner = module; }
  return true;
}
export function push_release(url, module) {
  const st = entry(url);
  if (st.owner !== module) return;
  drop(st);
  st.owner = null;
  st.onRelay = null;
  notify(url);
}
export function push_last(url) { return entry(url).last ?? undefined; }
export function push_set_last(url, position) { entry(url).last = position; }
export function push_seen(url, key) {
  const st = entry(url);
  if (st.seen.has(key)) return true;
  st.seen.add(key);
  st.order.push(key);
  if (st.order.length > SEEN) st.seen.delete(st.order.shift());
  return false;
}
// The owner's callback for a connection: never after the connection was replaced, never
// into a crashed module; a module that throws (trapped) gives the connection up.
function guarded(url, module, source, on_item) {
  const st = entry(url);
  return (kind, data, id) => {
    if (st.source !== source) { source.close(); return; }
    if (crashed(module)) { push_release(url, module); return; }
    try {
      on_item(kind, data, id);
    } catch (error) {
      push_release(url, module);
      throw error;
    }
  };
}
// The leader tab relays what its connection receives to the other tabs.
function relay(url, source, data, id) {
  const st = entry(url);
  if (st.source === source && st.channel && st.leader) st.channel.postMessage({ kind: "event", data, id });
}
export function push_open_sse(url, module, href, on_item) {
  const es = new EventSource(href);
  const call = guarded(url, module, es, on_item);
  es.onopen = () => call("open", undefined, undefined);
  es.onerror = () => call("error", undefined, undefined);
  es.onmessage = (e) => {
    relay(url, es, e.data, e.lastEventId);
    call("message", e.data, e.lastEventId);
  };
  entry(url).source = es;
  return es;
}
export function push_open_ws(url, module, href, hello, on_item) {
  const ws = new WebSocket(href, "cloudevents.json");
  const call = guarded(url, module, ws, on_item);
  ws.onopen = () => { ws.send(hello); call("open", undefined, undefined); };
  ws.onclose = () => call("error", undefined, undefined);
  ws.onmessage = (e) => {
    if (typeof e.data !== "string") return;
    relay(url, ws, e.data, "");
    call("message", e.data, "");
  };
  entry(url).source = ws;
  return ws;
}
export function push_send(source, text) {
  if (source.readyState !== 1) return false;
  source.send(text);
  return true;
}
export function push_close(url, source) {
  const st = entry(url);
  source.close();
  if (st.source === source) st.source = null;
}
"#)]
extern "C" {
    /// Sets `module`'s topic patterns for the stream at `url` (empty: none) and
    /// announces the change.
    pub fn push_set_interest(url: &str, module: &str, topics: Vec<String>);
    /// Every live module's topics for `url` (and, in the leader tab, every other tab's),
    /// deduplicated and sorted.
    pub fn push_union(url: &str) -> Vec<String>;
    /// The owning module of `url`'s connection; a crashed owner is dropped first.
    pub fn push_owner(url: &str) -> Option<String>;
    /// Makes `module` the owner unless another live module is; whether it is now.
    pub fn push_claim(url: &str, module: &str) -> bool;
    /// Gives up ownership (closing the connection) and announces it, if `module` owns.
    pub fn push_release(url: &str, module: &str);
    /// The last position delivered into the bus from `url`.
    pub fn push_last(url: &str) -> Option<String>;
    /// Records the last position delivered into the bus.
    pub fn push_set_last(url: &str, position: &str);
    /// Whether `key` was delivered recently; records it if not.
    pub fn push_seen(url: &str, key: &str) -> bool;
    /// Joins the page to the browser-wide election for `url` (Web Locks and a
    /// `BroadcastChannel`) when `wanted` and the browser has both; whether it is in it.
    pub fn push_share(url: &str, wanted: bool) -> bool;
    /// Whether this tab holds the connection for `url` (always, when not sharing).
    pub fn push_is_leader(url: &str) -> bool;
    /// As a follower tab, receive the leader's events through `on_relay` (and send it
    /// this tab's topics); `None` stops.
    pub fn push_follow(url: &str, on_relay: Option<&js_sys::Function>);
    /// Opens the owner's `EventSource` at `href` for the stream `url`; `on_item` gets
    /// `("open" | "error" | "message", data, lastEventId)`.
    pub fn push_open_sse(url: &str, module: &str, href: &str, on_item: &js_sys::Function) -> JsValue;
    /// Opens the owner's WebSocket (`cloudevents.json`) at `href` for the stream `url`,
    /// sending `hello` (the subscription) when it opens; `on_item` as for SSE, with the
    /// position inside each message (`heraldposition`).
    pub fn push_open_ws(url: &str, module: &str, href: &str, hello: &str, on_item: &js_sys::Function) -> JsValue;
    /// Sends `text` on an open WebSocket; whether it was open.
    pub fn push_send(source: &JsValue, text: &str) -> bool;
    /// Closes `source` and forgets it as `url`'s connection.
    pub fn push_close(url: &str, source: &JsValue);
}
