// <nop-event-query>: events as the source of truth, queried — a NOP micro-frontend in
// plain JavaScript that asks the gateway's event store (`GET /events/query`, a subset of
// KQL: docs/protocol.md §3.15) and shows the answer as a table.
//
// Attributes:
// - `stream`: the gateway's stream URL (as the other NOP elements take it, else the page's
//   `<meta name="herald-stream">`, else `/events/stream`); the query endpoint is `query`
//   beside it (`/events/query`). `endpoint` names the query endpoint directly instead.
// - `query`: the query it runs first (default: how many events of each type are stored).
//
// It traces correlation chains: when `nop.sensor.selected` arrives on the bus as part of
// a chain (a click on an alert in <nop-alerts> continues the alert's chain), it queries
// every stored event of that correlation id — the reading that raised the alert and the
// alert logged back to the gateway. Every value is shown as text, never as markup.

const DEFAULT_QUERY = "events | summarize count() by type | order by count_ desc";

/** A KQL string literal of `text`. */
function quoted(text) {
  return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** The query of every stored event of correlation chain `correlation`. */
export function traceQuery(correlation) {
  const c = quoted(correlation);
  return `events | where correlationid == ${c} or id == ${c} | project position, time, type, source, id, correlationid, causationid`;
}

/** A cell's value as text: strings as they are, everything else as JSON. */
function cellText(value) {
  if (value === null || value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

class NopEventQuery extends HTMLElement {
  #input = null;
  #status = null;
  #head = null;
  #body = null;
  #running = null;
  #onSelected = (e) => {
    const detail = e.detail;
    // a selection made while handling another event carries that event's chain
    if (!detail || typeof detail !== "object" || typeof detail.correlationid !== "string") return;
    this.run(traceQuery(detail.correlationid));
  };
  #onSubmit = (e) => {
    e.preventDefault();
    this.run(this.#input.value);
  };

  connectedCallback() {
    if (!this.#input) this.#render();
    window.addEventListener("herald:nop.sensor.selected", this.#onSelected);
    this.run(this.getAttribute("query") ?? DEFAULT_QUERY);
  }

  disconnectedCallback() {
    window.removeEventListener("herald:nop.sensor.selected", this.#onSelected);
    this.#running?.abort();
  }

  /** The query endpoint's URL. */
  get endpoint() {
    const explicit = this.getAttribute("endpoint");
    if (explicit) return new URL(explicit, document.baseURI);
    const stream = this.getAttribute("stream")
      ?? document.querySelector('meta[name="herald-stream"]')?.getAttribute("content")
      ?? "/events/stream";
    const url = new URL("query", new URL(stream, document.baseURI));
    url.search = "";
    return url;
  }

  /** Runs `query` and shows its answer (or what was wrong with it). */
  async run(query) {
    this.#input.value = query;
    this.#running?.abort();
    const running = new AbortController();
    this.#running = running;
    this.dataset.state = "running";
    this.#status.textContent = "querying…";
    const url = this.endpoint;
    url.searchParams.set("q", query);
    try {
      const response = await fetch(url, {
        credentials: "include",
        headers: { accept: "application/json" },
        signal: running.signal,
      });
      const answer = await response.json().catch(() => null);
      if (running !== this.#running) return;
      if (!response.ok || !answer || !Array.isArray(answer.columns) || !Array.isArray(answer.rows)) {
        this.#show([], []);
        this.dataset.state = "error";
        this.#status.textContent = `${response.status}: ${answer?.detail ?? response.statusText}`;
        return;
      }
      this.#show(answer.columns, answer.rows);
      this.dataset.state = "done";
      const n = answer.rows.length;
      this.#status.textContent = `${n} row${n === 1 ? "" : "s"}${answer.truncated ? " (more matched)" : ""}`;
    } catch (error) {
      if (running !== this.#running) return;
      this.dataset.state = "error";
      this.#status.textContent = `the gateway could not be asked: ${error.message ?? error}`;
    }
  }

  #render() {
    const card = document.createElement("section");
    card.className = "nop-card nop-event-query";
    const title = document.createElement("h2");
    title.textContent = "Event store query";
    const form = document.createElement("form");
    this.#input = document.createElement("textarea");
    this.#input.name = "q";
    this.#input.rows = 3;
    this.#input.spellcheck = false;
    this.#input.setAttribute("aria-label", "KQL query");
    const button = document.createElement("button");
    button.type = "submit";
    button.textContent = "Run";
    form.append(this.#input, button);
    form.addEventListener("submit", this.#onSubmit);
    this.#status = document.createElement("p");
    this.#status.className = "nop-status";
    this.#status.setAttribute("role", "status");
    const table = document.createElement("table");
    this.#head = table.createTHead().insertRow();
    this.#body = table.createTBody();
    card.append(title, form, this.#status, table);
    this.replaceChildren(card);
  }

  #show(columns, rows) {
    this.#head.replaceChildren(...columns.map((name) => {
      const th = document.createElement("th");
      th.textContent = String(name);
      return th;
    }));
    this.#body.replaceChildren(...rows.map((row) => {
      const tr = document.createElement("tr");
      for (const value of Array.isArray(row) ? row : []) tr.insertCell().textContent = cellText(value);
      return tr;
    }));
  }
}

if (!customElements.get("nop-event-query")) customElements.define("nop-event-query", NopEventQuery);
