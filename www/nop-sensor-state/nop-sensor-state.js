// <nop-sensor-state>: CQRS's read side on the NOP page — a micro-frontend in plain
// JavaScript showing NOP's read model, every sensor's current state as `nop-sensors`
// projects it from the gateway's event log (its REST API: GET /sensors, POST /rebuild),
// beside the history that <nop-event-query> queries.
//
// Attributes:
// - `projection`: the base URL of `nop-sensors` (else the page's `?projection=` query
//   parameter, else port 8788 of the page's host, where `cargo xtask serve` runs it).
// - `stream`: the gateway's stream URL (else the page's `<meta name="herald-stream">`,
//   else `/events/stream`), where commands go and acknowledgements come from.
// - `ack-timeout-ms`: how long a command waits for its acknowledgement (default 5000).
//
// Commands with acknowledgement: each row's button sends `nop.sensor.mute` upstream
// (through the page runtime, docs/protocol.md §2.10) to the sensor's producer, which
// mutes or unmutes it and acknowledges with `nop.sensor.muted` whose `causationid` is the
// command's id. The row says "pending" until the acknowledgement arrives, then "done", or
// that none came in time.
//
// It reads the model again (at most twice a second) whenever a NOP event that changes it
// passes on the bus, and every 5 s (alerts leave the last hour by themselves). "Rebuild
// from zero" asks for a new projection from position zero and says whether it equals the
// live one. Every value is shown as text.

const CHANGES = ["nop.noise.reading", "nop.noise.alert", "nop.sensor.muted", "nop.sensor.calibrated"];
const SOURCE = "/mfe/nop-sensor-state";
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

/** A fresh event id (`crypto.randomUUID` exists only in secure contexts). */
function freshId() {
  if (globalThis.crypto?.randomUUID && globalThis.isSecureContext) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
const COLUMNS = [
  ["sensor", "sensor"],
  ["level", (s) => (typeof s.level_db === "number" ? `${s.level_db.toFixed(1)} dB` : "–")],
  ["readings", "readings"],
  ["muted", (s) => (s.muted ? "muted" : "")],
  ["calibration", (s) => (s.last_calibration ? `rev ${s.last_calibration.revision}` : "–")],
  ["alerts (1 h)", "alerts_last_hour"],
];

class NopSensorState extends HTMLElement {
  #status = null;
  #position = null;
  #body = null;
  #rebuilt = null;
  #timer = null;
  #soon = null;
  #interest = null;
  #commands = new Map(); // sensor -> what its latest command's row says
  #waiting = new Map(); // command id -> the acknowledgement's resolver
  #onAck = (e) => {
    const done = this.#waiting.get(e.detail?.causationid);
    if (done) done(e.detail);
  };
  #onChange = () => {
    this.#soon ??= setTimeout(() => {
      this.#soon = null;
      this.refresh();
    }, 500);
  };

  connectedCallback() {
    if (!this.#body) this.#render();
    for (const type of CHANGES) window.addEventListener(`herald:${type}`, this.#onChange);
    window.addEventListener("herald:nop.sensor.muted", this.#onAck);
    const stream = this.#stream().href;
    this.#interest = pageRuntime().then((rt) => rt.interest(stream, ["nop.sensor.muted"]));
    this.#timer = setInterval(() => this.refresh(), 5000);
    this.refresh();
  }

  disconnectedCallback() {
    for (const type of CHANGES) window.removeEventListener(`herald:${type}`, this.#onChange);
    window.removeEventListener("herald:nop.sensor.muted", this.#onAck);
    this.#interest?.then((interest) => interest.release());
    this.#interest = null;
    clearInterval(this.#timer);
    clearTimeout(this.#soon);
    this.#soon = null;
  }

  /** The base URL of the projection's REST API. */
  get projection() {
    const given = this.getAttribute("projection") ?? new URLSearchParams(location.search).get("projection");
    if (given) return new URL(given, document.baseURI);
    return new URL(`${location.protocol}//${location.hostname}:8788/`);
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

  /**
   * Sends the command to mute (or unmute) `sensor` to its producer and waits for the
   * acknowledgement; resolves to what the row then says.
   */
  async command(sensor, muted) {
    const id = freshId();
    const command = {
      specversion: "1.0", id, source: SOURCE, type: "nop.sensor.mute", time: new Date().toISOString(),
      datacontenttype: "application/json", data: { sensor, muted },
    };
    const timeout = Number(this.getAttribute("ack-timeout-ms") ?? 5000);
    const verb = muted ? "mute" : "unmute";
    this.#say(sensor, `${verb}: pending…`, "pending");
    const acked = new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      setTimeout(() => resolve(null), timeout);
    });
    try {
      const rt = await pageRuntime();
      await rt.publish(this.#stream().href, JSON.stringify(command));
    } catch (error) {
      this.#waiting.delete(id);
      return this.#say(sensor, `${verb}: not sent (${error?.detail ?? error?.message ?? error})`, "failed");
    }
    const ack = await acked;
    this.#waiting.delete(id);
    if (!ack) return this.#say(sensor, `${verb}: no acknowledgement within ${timeout / 1000} s`, "timeout");
    this.refresh();
    return this.#say(sensor, `${verb}: done`, "done");
  }

  #say(sensor, text, state) {
    this.#commands.set(sensor, { text, state });
    const row = [...this.#body.rows].find((r) => r.dataset.sensor === sensor);
    if (row) this.#commandCell(row.cells[row.cells.length - 1], sensor);
    return text;
  }

  #commandCell(cell, sensor, muted) {
    const said = this.#commands.get(sensor);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "nop-command";
    const mute = muted ?? cell.parentElement?.dataset.muted !== "true";
    button.textContent = mute ? "mute" : "unmute";
    button.addEventListener("click", () => this.command(sensor, mute));
    const status = document.createElement("span");
    status.className = "nop-command-status";
    status.textContent = said?.text ?? "";
    if (said) cell.parentElement.dataset.command = said.state;
    cell.replaceChildren(button, " ", status);
  }

  /** Reads the model and shows it. */
  async refresh() {
    try {
      const response = await fetch(new URL("sensors", this.projection), { headers: { accept: "application/json" } });
      const model = await response.json();
      if (!response.ok) throw new Error(`${response.status}: ${model?.detail ?? response.statusText}`);
      this.#show(model);
      this.dataset.position = model.position ?? "";
      this.#status.textContent = `${model.sensors.length} sensors, ${model.events} events projected`;
      this.#position.textContent = model.position ?? "none yet";
    } catch (error) {
      this.#status.textContent = `the projection is out of reach: ${error.message ?? error}`;
    }
  }

  /** Rebuilds the projection from position zero and says how it compares. */
  async rebuild() {
    this.#rebuilt.textContent = "rebuilding from position zero…";
    try {
      const response = await fetch(new URL("rebuild", this.projection), { method: "POST" });
      const answer = await response.json();
      if (!response.ok) throw new Error(`${response.status}: ${answer?.detail ?? response.statusText}`);
      this.dataset.rebuilt = answer.equal ? "equal" : "different";
      this.#rebuilt.textContent = `rebuilt from zero up to ${answer.position ?? "the start"}: ${answer.events} events, ` +
        (answer.equal ? "equal to the live projection" : "NOT equal to the live projection");
      this.refresh();
    } catch (error) {
      this.dataset.rebuilt = "failed";
      this.#rebuilt.textContent = `the rebuild failed: ${error.message ?? error}`;
    }
  }

  #render() {
    const card = document.createElement("section");
    card.className = "nop-card nop-sensor-state";
    const title = document.createElement("h2");
    title.textContent = "Sensors now (read model)";
    this.#status = document.createElement("p");
    this.#status.className = "nop-status";
    const at = document.createElement("p");
    at.append("at position ");
    this.#position = document.createElement("code");
    this.#position.className = "nop-position";
    at.append(this.#position);
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    for (const [name] of COLUMNS) head.appendChild(document.createElement("th")).textContent = name;
    head.appendChild(document.createElement("th")).textContent = "command";
    this.#body = table.createTBody();
    const button = document.createElement("button");
    button.type = "button";
    button.className = "nop-rebuild";
    button.textContent = "Rebuild from zero";
    button.addEventListener("click", () => this.rebuild());
    this.#rebuilt = document.createElement("p");
    this.#rebuilt.className = "nop-rebuilt";
    card.append(title, this.#status, at, table, button, this.#rebuilt);
    this.replaceChildren(card);
  }

  #show(model) {
    const sensors = Array.isArray(model?.sensors) ? model.sensors : [];
    this.#body.replaceChildren(...sensors.map((sensor) => {
      const row = document.createElement("tr");
      row.dataset.sensor = String(sensor.sensor);
      row.dataset.muted = String(sensor.muted === true);
      for (const [, value] of COLUMNS) {
        row.insertCell().textContent = String(typeof value === "function" ? value(sensor) : sensor[value] ?? "");
      }
      this.#commandCell(row.insertCell(), String(sensor.sensor), sensor.muted !== true);
      return row;
    }));
  }
}

if (!customElements.get("nop-sensor-state")) customElements.define("nop-sensor-state", NopSensorState);
