// <nop-sensor-state>: CQRS's read side on the NOP page — a micro-frontend in plain
// JavaScript showing NOP's read model, every sensor's current state as `nop-sensors`
// projects it from the gateway's event log (its REST API: GET /sensors, POST /rebuild),
// beside the history that <nop-event-query> queries.
//
// Attributes:
// - `projection`: the base URL of `nop-sensors` (else the page's `?projection=` query
//   parameter, else port 8788 of the page's host, where `cargo xtask serve` runs it).
//
// It reads the model again (at most twice a second) whenever a NOP event that changes it
// passes on the bus, and every 5 s (alerts leave the last hour by themselves). "Rebuild
// from zero" asks for a new projection from position zero and says whether it equals the
// live one. Every value is shown as text.

const CHANGES = ["nop.noise.reading", "nop.noise.alert", "nop.sensor.muted", "nop.sensor.calibrated"];
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
  #onChange = () => {
    this.#soon ??= setTimeout(() => {
      this.#soon = null;
      this.refresh();
    }, 500);
  };

  connectedCallback() {
    if (!this.#body) this.#render();
    for (const type of CHANGES) window.addEventListener(`herald:${type}`, this.#onChange);
    this.#timer = setInterval(() => this.refresh(), 5000);
    this.refresh();
  }

  disconnectedCallback() {
    for (const type of CHANGES) window.removeEventListener(`herald:${type}`, this.#onChange);
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
    this.#body = table.createTBody();
    const button = document.createElement("button");
    button.type = "button";
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
      for (const [, value] of COLUMNS) {
        row.insertCell().textContent = String(typeof value === "function" ? value(sensor) : sensor[value] ?? "");
      }
      return row;
    }));
  }
}

if (!customElements.get("nop-sensor-state")) customElements.define("nop-sensor-state", NopSensorState);
