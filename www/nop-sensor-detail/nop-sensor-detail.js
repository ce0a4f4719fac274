// <nop-sensor-detail>: complete vs pointer events — a NOP micro-frontend in plain
// JavaScript that shows the selected sensor's calibration record.
//
// Readings are complete events: all there is to know travels in the event. A calibration
// record is large and changes rarely, so `nop.sensor.calibrated` is a *pointer* event: it
// carries the record's URL at a revision (`{sensor, revision, record, at}`), and this
// element resolves it through the page runtime's `resolve` (docs/protocol.md §2.10),
// which fetches each revision once for the whole page and revalidates un-revisioned URLs
// with their ETag.
//
// Attributes: `stream` — the gateway's stream URL (else the page's
// `<meta name="herald-stream">`, else `/events/stream`); record URLs resolve against it.
// It shows the selected sensor (`nop.sensor.selected`), else the latest one calibrated.
// Every value is shown as text.

const RUNTIME = Symbol.for("herald.runtime.v1");
const LOADING = Symbol.for("herald.runtime.loading");

/** The page runtime: the page's, or the copy beside this file (docs/protocol.md §2.10). */
function pageRuntime() {
  if (globalThis[RUNTIME]) return Promise.resolve(globalThis[RUNTIME]);
  if (!globalThis[LOADING]) {
    const loading = import(new URL("./herald-runtime.js", import.meta.url).href).then((m) => m.runtime());
    Object.defineProperty(globalThis, LOADING, { value: loading, configurable: true });
  }
  return globalThis[LOADING];
}

/** Whether `data` is a `nop.sensor.calibrated` pointer. */
function isPointer(data) {
  return data && typeof data.sensor === "string" && Number.isInteger(data.revision) && typeof data.record === "string";
}

class NopSensorDetail extends HTMLElement {
  #pointers = new Map(); // sensor -> its latest pointer
  #selected = null;
  #shown = null; // the record URL on screen
  #interest = null;
  #title = null;
  #status = null;
  #fields = null;
  #onCalibrated = (e) => {
    const data = e.detail?.data;
    if (!isPointer(data)) return;
    const known = this.#pointers.get(data.sensor);
    if (!known || known.revision <= data.revision) this.#pointers.set(data.sensor, data);
    this.#show();
  };
  #onSelected = (e) => {
    const sensor = e.detail?.data?.sensor;
    if (typeof sensor !== "string") return;
    this.#selected = sensor;
    this.#show();
  };

  connectedCallback() {
    if (!this.#fields) this.#render();
    window.addEventListener("herald:nop.sensor.calibrated", this.#onCalibrated);
    window.addEventListener("herald:nop.sensor.selected", this.#onSelected);
    const stream = this.#stream().href;
    this.#interest = pageRuntime().then((rt) => rt.interest(stream, ["nop.sensor.calibrated"]));
  }

  disconnectedCallback() {
    window.removeEventListener("herald:nop.sensor.calibrated", this.#onCalibrated);
    window.removeEventListener("herald:nop.sensor.selected", this.#onSelected);
    this.#interest?.then((interest) => interest.release());
    this.#interest = null;
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

  async #show() {
    const latest = [...this.#pointers.values()].sort((a, b) => (a.at ?? 0) - (b.at ?? 0)).at(-1);
    const pointer = this.#selected !== null ? this.#pointers.get(this.#selected) : latest;
    const sensor = this.#selected ?? latest?.sensor;
    this.#title.textContent = sensor ? `Calibration of ${sensor}` : "Calibration";
    if (!pointer) {
      this.#shown = null;
      this.#status.textContent = sensor ? `no calibration of ${sensor} seen yet` : "no calibration seen yet";
      this.#fields.replaceChildren();
      return;
    }
    const url = new URL(pointer.record, this.#stream()).href;
    if (url === this.#shown) return;
    this.#shown = url;
    this.#status.textContent = `revision ${pointer.revision}: resolving…`;
    try {
      const rt = await pageRuntime();
      const record = JSON.parse(await rt.resolve(url));
      if (this.#shown !== url) return;
      this.dataset.revision = String(pointer.revision);
      this.#status.textContent = `revision ${pointer.revision}`;
      this.#fields.replaceChildren(...Object.entries(record ?? {}).flatMap(([name, value]) => {
        const term = document.createElement("dt");
        term.textContent = name;
        const definition = document.createElement("dd");
        definition.textContent = typeof value === "string" ? value : JSON.stringify(value);
        return [term, definition];
      }));
    } catch (error) {
      if (this.#shown !== url) return;
      this.#shown = null;
      this.#status.textContent = `revision ${pointer.revision}: the record could not be read (${error?.detail ?? error?.message ?? error})`;
    }
  }

  #render() {
    const card = document.createElement("section");
    card.className = "nop-card nop-sensor-detail";
    this.#title = document.createElement("h2");
    this.#status = document.createElement("p");
    this.#status.className = "nop-status";
    this.#fields = document.createElement("dl");
    card.append(this.#title, this.#status, this.#fields);
    this.replaceChildren(card);
    this.#show();
  }
}

if (!customElements.get("nop-sensor-detail")) customElements.define("nop-sensor-detail", NopSensorDetail);
