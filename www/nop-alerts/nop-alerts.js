// <nop-alerts>: a NOP micro-frontend written in plain JavaScript, with no herald code,
// speaking herald's DOM protocol (docs/protocol.md §2) with nothing but DOM APIs.
//
// It hears `nop.noise.reading` on the bus. When its `stream` attribute names the
// gateway's stream, it asks the page runtime (docs/protocol.md §2.10) for that topic:
// the runtime holds the page's one connection and carries the readings into the bus,
// whether or not any Rust module is on the page. It raises `nop.noise.alert` when a sensor has more than
// `max-loud` readings (default 3) above `threshold` dB (default 85) within `window-s`
// seconds (default 60), and lists the latest 50 alerts; with the `upstream` attribute it
// also sends each alert to the gateway (through the page runtime). Clicking an alert publishes
// `nop.sensor.selected` in the alert's correlation chain (so <nop-event-query> can trace
// it); the selected sensor's alerts are highlighted. Each alert raised is logged to the
// gateway's central log through the page runtime (`log`, §2.10), in the reading's chain.

const SOURCE = "/mfe/nop-alerts";
const LISTED = 50;
let sequence = 0;
let nextId = 1;
const moduleId = Math.random().toString(16).slice(2, 10);

const RUNTIME = Symbol.for("herald.runtime.v1");
const LOADING = Symbol.for("herald.runtime.loading");

/**
 * The page runtime (docs/protocol.md §2.10): the page's, if it has one or is loading one,
 * else the copy shipped beside this file, which installs itself as the page's.
 */
function pageRuntime() {
  if (globalThis[RUNTIME]) return Promise.resolve(globalThis[RUNTIME]);
  if (!globalThis[LOADING]) {
    const loading = import(new URL("./herald-runtime.js", import.meta.url).href).then((m) => m.runtime());
    Object.defineProperty(globalThis, LOADING, { value: loading, configurable: true });
  }
  return globalThis[LOADING];
}

/** Publishes a herald event on `target` (window: the page-wide bus). */
function publish(target, type, data, cause) {
  const detail = {
    specversion: "1.0",
    id: `${moduleId}-${nextId++}`,
    source: SOURCE,
    type,
    time: new Date().toISOString(),
    datacontenttype: "application/json",
    data,
    // herald's sequence extension: 20 zero-padded digits, per source
    sequence: String(++sequence).padStart(20, "0"),
  };
  if (cause) {
    detail.correlationid = cause.correlationid ?? cause.id;
    detail.causationid = cause.id;
  }
  const init = { bubbles: true, composed: true, detail };
  target.dispatchEvent(new CustomEvent(`herald:${type}`, init));
  // a copy for pattern subscribers, while any are live (docs/protocol.md §2.5)
  if ((globalThis[Symbol.for("herald.bus.v1")]?.wildcards ?? 0) > 0) {
    target.dispatchEvent(new CustomEvent("herald:*", init));
  }
  return detail;
}

/** Whether `detail` is an envelope with the given type and an object payload. */
function isEnvelope(detail, type) {
  return detail && typeof detail === "object" && detail.specversion === "1.0" &&
    detail.type === type && typeof detail.id === "string" && detail.data && typeof detail.data === "object";
}

class NopAlerts extends HTMLElement {
  static observedAttributes = ["threshold", "max-loud", "window-s"];

  #loud = new Map(); // sensor -> times (ms) of loud readings in the window
  #raised = new Set();
  #selected = null;
  #list = null;
  #stream = null;
  #interest = null;
  #onReading = (e) => this.#reading(e.detail);
  #onSelected = (e) => {
    if (isEnvelope(e.detail, "nop.sensor.selected")) this.#select(e.detail.data.sensor);
  };
  #alerts = new WeakMap(); // listed item -> the alert's envelope
  #onClick = (e) => {
    const item = e.target.closest?.("[data-sensor]");
    if (item) publish(window, "nop.sensor.selected", { sensor: item.dataset.sensor }, this.#alerts.get(item));
  };

  get threshold() { return Number(this.getAttribute("threshold") ?? 85); }
  set threshold(db) { this.setAttribute("threshold", String(db)); }
  get maxLoud() { return Number(this.getAttribute("max-loud") ?? 3); }
  get windowMs() { return Number(this.getAttribute("window-s") ?? 60) * 1000; }

  connectedCallback() {
    this.innerHTML = `<section class="nop-card"><h2>Alerts</h2>
      <p class="nop-status">more than ${this.maxLoud} readings above ${this.threshold} dB
      within ${this.windowMs / 1000} s</p><ul class="nop-alerts"></ul></section>`;
    this.#list = this.querySelector("ul");
    window.addEventListener("herald:nop.noise.reading", this.#onReading);
    window.addEventListener("herald:nop.sensor.selected", this.#onSelected);
    this.addEventListener("click", this.#onClick);
    // the stream: the `stream` attribute, else the page's <meta name="herald-stream">
    const stream = this.getAttribute("stream")
      ?? document.querySelector('meta[name="herald-stream"]')?.getAttribute("content");
    if (stream) {
      this.#stream = new URL(stream, document.baseURI);
      this.#stream.search = "";
      this.#stream.hash = "";
      const url = this.#stream.href;
      this.#interest = pageRuntime().then(
        (rt) => rt.interest(url, ["nop.noise.reading"]),
        (error) => console.error("nop-alerts: no herald page runtime:", error),
      );
    }
  }

  disconnectedCallback() {
    window.removeEventListener("herald:nop.noise.reading", this.#onReading);
    window.removeEventListener("herald:nop.sensor.selected", this.#onSelected);
    this.removeEventListener("click", this.#onClick);
    this.#interest?.then((interest) => interest?.release());
    this.#interest = null;
    this.#stream = null;
  }

  #reading(event) {
    if (!isEnvelope(event, "nop.noise.reading")) return;
    const { sensor, db, at } = event.data;
    if (typeof sensor !== "string" || typeof db !== "number") return;
    const now = typeof at === "number" && at > 0 ? at : Date.now();
    const times = (this.#loud.get(sensor) ?? []).filter((t) => now - t < this.windowMs);
    if (db > this.threshold) times.push(now);
    this.#loud.set(sensor, times);
    const raised = times.length > this.maxLoud;
    if (raised && !this.#raised.has(sensor)) {
      this.#raised.add(sensor);
      const alert = { sensor, count: times.length, window_s: this.windowMs / 1000, at: now };
      const sent = publish(window, "nop.noise.alert", alert, event);
      if (this.#stream && this.hasAttribute("upstream")) this.#upstream(this.#stream.href, sent);
      if (this.#stream) this.#log(this.#stream.href, alert, sent);
      this.#show(alert, sent);
    } else if (!raised) {
      this.#raised.delete(sensor);
    }
  }

  // logs the alert to the gateway's central log (through the page runtime), in the
  // reading's correlation chain
  #log(url, alert, envelope) {
    const message = `alert raised: ${alert.count} readings above ${this.threshold} dB within ${alert.window_s} s`;
    pageRuntime().then(
      (rt) => rt.log?.(url, { level: "info", message, module: "nop-alerts", event: envelope, labels: { sensor: alert.sensor } }),
      () => {},
    );
  }

  // sends the alert to the gateway too, through the page runtime; the position the
  // gateway stored it at goes in data-upstream
  #upstream(url, envelope) {
    pageRuntime()
      .then((rt) => rt.publish(url, JSON.stringify(envelope)))
      .then(
        (position) => { this.dataset.upstream = position; },
        (error) => console.warn("nop-alerts: the gateway did not take the alert:", error),
      );
  }

  #show(alert, envelope) {
    const item = document.createElement("li");
    this.#alerts.set(item, envelope);
    item.dataset.sensor = alert.sensor;
    item.className = alert.sensor === this.#selected ? "nop-selected" : "";
    item.innerHTML = `<button></button> <span></span>`;
    item.querySelector("button").textContent = alert.sensor;
    item.querySelector("span").textContent = `${alert.count} loud readings`;
    this.#list.prepend(item);
    while (this.#list.children.length > LISTED) this.#list.lastElementChild.remove();
  }

  #select(sensor) {
    this.#selected = sensor;
    for (const item of this.#list?.children ?? []) {
      item.classList.toggle("nop-selected", item.dataset.sensor === sensor);
    }
  }
}

if (!customElements.get("nop-alerts")) customElements.define("nop-alerts", NopAlerts);
