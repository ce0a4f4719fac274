// <nop-sagas>: NOP's recalibration saga, run from the page and watched step by step — a
// micro-frontend in plain JavaScript speaking herald's DOM protocol (docs/protocol.md §2)
// and asking the page runtime for the stream and for publishing upstream (§2.10).
//
// Recalibrating a sensor spans three steps, each done by its own participant: the
// sensor's producer (`nop-simulator`) takes it offline, the calibration service
// (`nop-recalibration`) stores a new calibration record, the producer puts it back
// online. A failure at any step runs the compensations of the steps done before it, the
// last first. The form sends `nop.recalibration.requested` (optionally injecting a
// failure at a step) in one of two styles, shown side by side:
//
// - orchestrated: a process manager commands each step (`nop.recalibration.command`) and
//   says how the saga ended (`nop.recalibration.ended`);
// - choreographed: nobody coordinates; each participant reacts to the others' facts, and
//   this element can only infer from those facts that the saga is over.
//
// Every event of a saga carries its request's id as `correlationid`; the element groups
// by it. Attributes: `stream`: the gateway's stream URL (else the page's
// `<meta name="herald-stream">`, else `/events/stream`); `stall-ms`: after how long
// without news a choreographed saga under way is said to be quiet (default 10000).
// Every value is shown as text.

const SOURCE = "/mfe/nop-sagas";
const RUNTIME = Symbol.for("herald.runtime.v1");
const LOADING = Symbol.for("herald.runtime.loading");
const TYPES = [
  "nop.recalibration.requested",
  "nop.recalibration.command",
  "nop.sensor.offline",
  "nop.sensor.calibrated",
  "nop.sensor.online",
  "nop.calibration.reverted",
  "nop.recalibration.failed",
  "nop.recalibration.ended",
];
const STEPS = ["offline", "calibrate", "online"];
const STYLES = ["orchestrated", "choreographed"];
const KEPT = 10; // sagas shown per style

/** The page runtime: the page's, or the copy beside this file (docs/protocol.md §2.10). */
function pageRuntime() {
  if (globalThis[RUNTIME]) return Promise.resolve(globalThis[RUNTIME]);
  if (!globalThis[LOADING]) {
    const loading = import(new URL("./herald-runtime.js", import.meta.url).href).then((m) => m.runtime());
    Object.defineProperty(globalThis, LOADING, { value: loading, configurable: true });
  }
  return globalThis[LOADING];
}

/** A fresh event id (`crypto.randomUUID` exists only in secure contexts). */
function freshId() {
  if (globalThis.crypto?.randomUUID && globalThis.isSecureContext) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const isStep = (s) => STEPS.includes(s);
const isText = (s) => typeof s === "string";

/**
 * The line a saga's event adds, or `null` when the event is not a well-formed one of the
 * saga's types. `data` is the event's payload.
 */
function line(type, data) {
  if (!data || typeof data !== "object") return null;
  switch (type) {
    case "nop.recalibration.command":
      if (!isStep(data.step)) return null;
      return data.compensate ? `command: undo ${data.step}` : `command: ${data.step}`;
    case "nop.sensor.offline":
      return "offline";
    case "nop.sensor.calibrated":
      return Number.isInteger(data.revision) ? `calibrated (revision ${data.revision})` : null;
    case "nop.sensor.online":
      return data.compensation === true ? "compensated: back online" : "online";
    case "nop.calibration.reverted":
      if (!Number.isInteger(data.revision)) return null;
      return Number.isInteger(data.restored)
        ? `compensated: revision ${data.restored} restored (as revision ${data.revision})`
        : `compensated: factory calibration restored (as revision ${data.revision})`;
    case "nop.recalibration.failed":
      return isStep(data.step) && isText(data.reason) ? `failed at ${data.step}: ${data.reason}` : null;
    default:
      return null;
  }
}

/** One saga as the element knows it. */
class Saga {
  constructor(id, sensor, style, failAt) {
    this.id = id;
    this.sensor = sensor;
    this.style = style;
    this.failAt = failAt;
    this.seen = new Set(); // event ids: an event streamed twice is shown once
    this.lines = [];
    this.outcome = "under way";
    this.over = false;
    this.last = Date.now();
  }

  /** Takes one of its events; whether it changed anything. */
  take(event) {
    if (this.seen.has(event.id)) return false;
    this.seen.add(event.id);
    this.last = Date.now();
    const data = event.data;
    if (event.type === "nop.recalibration.ended") {
      if (!data || !isText(data.outcome)) return false;
      this.over = true;
      const undone = Array.isArray(data.compensated) && data.compensated.length ? data.compensated.join(", ") : "nothing";
      this.outcome = data.outcome === "completed" ? "completed"
        : data.outcome === "compensated" ? `compensated (failed at ${data.failed_step}; undone: ${undone})`
        : `${data.outcome} (failed at ${data.failed_step}; undone: ${undone}): a person has to look`;
      return true;
    }
    const text = line(event.type, data);
    if (text === null) return false;
    this.lines.push(text);
    if (this.style === "choreographed") this.#infer(event.type, data);
    return true;
  }

  /** Choreographed: nobody says the saga ended; what the facts so far imply. */
  #infer(type, data) {
    if (type === "nop.sensor.online") {
      this.over = true;
      this.outcome = data.compensation === true ? "compensated (inferred from the facts)" : "completed (inferred from the facts)";
    } else if (type === "nop.recalibration.failed" && data.step === "offline") {
      this.over = true;
      this.outcome = "compensated: nothing was done (inferred from the facts)";
    }
  }
}

class NopSagas extends HTMLElement {
  #sagas = new Map(); // saga id -> Saga
  #lists = {};
  #said = null;
  #interest = null;
  #quiet = null;
  #onEvent = (e) => this.take(e.detail);

  connectedCallback() {
    if (!this.#said) this.#render();
    for (const type of TYPES) window.addEventListener(`herald:${type}`, this.#onEvent);
    const stream = this.#stream().href;
    this.#interest = pageRuntime().then((rt) => rt.interest(stream, TYPES));
    this.#quiet = setInterval(() => this.#checkQuiet(), 1000);
  }

  disconnectedCallback() {
    for (const type of TYPES) window.removeEventListener(`herald:${type}`, this.#onEvent);
    this.#interest?.then((interest) => interest.release());
    this.#interest = null;
    clearInterval(this.#quiet);
  }

  #stream() {
    const stream = this.getAttribute("stream")
      ?? document.querySelector('meta[name="herald-stream"]')?.getAttribute("content")
      ?? "/events/stream";
    const url = new URL(stream, document.baseURI);
    url.search = "";
    url.hash = "";
    return url;
  }

  #render() {
    const card = document.createElement("section");
    card.className = "nop-card nop-sagas";
    const title = document.createElement("h2");
    title.textContent = "Recalibration sagas";
    const form = document.createElement("form");
    form.className = "nop-saga-form";
    const sensor = Object.assign(document.createElement("input"), { className: "nop-saga-sensor", value: "s-1", name: "sensor" });
    sensor.setAttribute("aria-label", "sensor");
    const style = this.#select("nop-saga-style", STYLES.map((s) => [s, s]));
    const fail = this.#select("nop-saga-fail", [["", "no failure"], ...STEPS.map((s) => [s, `fail at ${s}`])]);
    const start = Object.assign(document.createElement("button"), { className: "nop-saga-start", type: "submit", textContent: "recalibrate" });
    form.append(sensor, style, fail, start);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.start(sensor.value, style.value, fail.value || null);
    });
    this.#said = Object.assign(document.createElement("p"), { className: "nop-saga-said" });
    const columns = document.createElement("div");
    columns.className = "nop-saga-columns";
    for (const s of STYLES) {
      const column = document.createElement("div");
      column.dataset.style = s;
      const heading = document.createElement("h3");
      heading.textContent = s;
      const list = document.createElement("ol");
      list.className = "nop-saga-list";
      column.append(heading, list);
      columns.append(column);
      this.#lists[s] = list;
    }
    card.append(title, form, this.#said, columns);
    this.replaceChildren(card);
  }

  #select(className, options) {
    const select = document.createElement("select");
    select.className = className;
    select.setAttribute("aria-label", className.replace("nop-saga-", ""));
    for (const [value, text] of options) select.append(Object.assign(document.createElement("option"), { value, textContent: text }));
    return select;
  }

  /**
   * Starts a recalibration of `sensor` in `style`, injecting a failure at `failAt` (a step,
   * or `null`); resolves to the saga's id (its request's), or `null` when it was not sent.
   */
  async start(sensor, style, failAt = null) {
    sensor = String(sensor ?? "").trim();
    if (!sensor) return this.#say("a sensor to recalibrate is needed"), null;
    if (!STYLES.includes(style)) return this.#say(`no saga style ${style}`), null;
    if (failAt !== null && !isStep(failAt)) return this.#say(`no step ${failAt}`), null;
    const id = freshId();
    const request = {
      specversion: "1.0", id, source: SOURCE, type: "nop.recalibration.requested", subject: sensor,
      time: new Date().toISOString(), datacontenttype: "application/json",
      data: { sensor, style, fail_at: failAt },
    };
    this.#add(new Saga(id, sensor, style, failAt));
    try {
      const rt = await pageRuntime();
      await rt.publish(this.#stream().href, JSON.stringify(request));
    } catch (error) {
      const saga = this.#sagas.get(id);
      saga.over = true;
      saga.outcome = `not sent (${error?.detail ?? error?.message ?? error})`;
      this.#show(saga);
      return null;
    }
    this.#say(`recalibrating ${sensor}, ${style}`);
    return id;
  }

  /** Takes one event's envelope (a `herald:TYPE` event's `detail`). */
  take(event) {
    if (!event || !isText(event.id) || !isText(event.type)) return;
    if (event.type === "nop.recalibration.requested") {
      const d = event.data;
      if (this.#sagas.has(event.id) || !d || !isText(d.sensor) || !STYLES.includes(d.style)) return;
      this.#add(new Saga(event.id, d.sensor, d.style, isStep(d.fail_at) ? d.fail_at : null));
      return;
    }
    const saga = this.#sagas.get(event.correlationid);
    if (saga && saga.take(event)) this.#show(saga);
  }

  #add(saga) {
    this.#sagas.set(saga.id, saga);
    const kept = [...this.#sagas.values()].filter((s) => s.style === saga.style);
    for (const old of kept.slice(0, Math.max(0, kept.length - KEPT))) {
      this.#sagas.delete(old.id);
      this.#item(old)?.remove();
    }
    this.#show(saga);
  }

  #item(saga) {
    return [...this.#lists[saga.style].children].find((li) => li.dataset.saga === saga.id);
  }

  #show(saga) {
    let item = this.#item(saga);
    if (!item) {
      item = document.createElement("li");
      item.dataset.saga = saga.id;
      item.append(
        Object.assign(document.createElement("p"), { className: "nop-saga-title" }),
        Object.assign(document.createElement("ol"), { className: "nop-saga-steps" }),
        Object.assign(document.createElement("p"), { className: "nop-saga-outcome" }),
      );
      this.#lists[saga.style].prepend(item);
    }
    item.dataset.over = String(saga.over);
    item.querySelector(".nop-saga-title").textContent = `${saga.sensor} · ${saga.failAt ? `fail at ${saga.failAt}` : "no failure"}`;
    item.querySelector(".nop-saga-steps").replaceChildren(
      ...saga.lines.map((text) => Object.assign(document.createElement("li"), { textContent: text })),
    );
    item.querySelector(".nop-saga-outcome").textContent = saga.outcome;
  }

  /** A choreographed saga under way with no news for a while: nobody is there to notice. */
  #checkQuiet() {
    const stall = Number(this.getAttribute("stall-ms") ?? 10000);
    for (const saga of this.#sagas.values()) {
      if (saga.style === "choreographed" && !saga.over && Date.now() - saga.last >= stall) {
        saga.outcome = `no news for ${Math.round((Date.now() - saga.last) / 1000)} s: stalled? nobody coordinates to tell`;
        this.#show(saga);
      }
    }
  }

  #say(text) {
    this.#said.textContent = text;
  }
}

if (!customElements.get("nop-sagas")) customElements.define("nop-sagas", NopSagas);
