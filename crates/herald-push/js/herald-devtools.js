// <herald-devtools>: what herald is doing on this page, as an element any page can add —
// one script (this file) and the tag. A page without the tag loads nothing of it.
//
// - Timeline: every herald bus event from the moment it is connected, across modules
//   (it counts as a pattern subscriber, docs/protocol.md §2.5, so every herald publisher
//   and the page runtime dispatch the `herald:*` copy it listens to); filter by type or
//   source, pause.
// - Causation graph: click an event, see its correlation chain as a tree (each event under
//   the one its `causationid` names).
// - Connections: the page runtime's streams (§2.10): state, transport, position, topics,
//   interests.
// - Live herald listeners per Rust module (the page state's `listeners`), dead letters
//   (`herald.deadletter`) and crashed modules (§2.6).
//
// Every value is shown as text.

const BUS = Symbol.for("herald.bus.v1");
const RUNTIME = Symbol.for("herald.runtime.v1");
const JSON_KEY = Symbol.for("herald.json");
const KEPT = 500;

/** The bus's page state (§2.6), its missing fields filled on reading. */
function busState() {
  let s = globalThis[BUS];
  if (!s) {
    s = { version: 1 };
    Object.defineProperty(globalThis, BUS, { value: s });
  }
  s.retained ??= new Map();
  s.wildcards ??= 0;
  s.records ??= 0;
  s.crashed ??= new Set();
  return s;
}

const STYLE = `
  :host { display: block; font: 12px ui-monospace, monospace; background: #101418; color: #d8dee9; border-radius: 8px; padding: 8px; }
  h3 { margin: 6px 0 4px; font-size: 12px; color: #88c0d0; }
  .bar { display: flex; gap: 6px; align-items: center; }
  input { flex: 1; font: inherit; background: #1c232b; color: inherit; border: 1px solid #3b4252; }
  button { font: inherit; }
  ol { list-style: none; margin: 0; padding: 0; max-height: 14em; overflow: auto; }
  li.event { cursor: pointer; white-space: nowrap; }
  li.event:hover, li.event.chosen { background: #2e3440; }
  ul.graph, ul.graph ul { list-style: none; margin: 0; padding-left: 1.2em; }
  .type { color: #a3be8c; } .source { color: #8fbcbb; } .dim { color: #7b8394; }
`;

class HeraldDevtools extends HTMLElement {
  #root = this.attachShadow({ mode: "open" });
  #events = [];
  #paused = false;
  #chosen = null; // a correlation id
  #counting = false;
  #timer = null;
  #drawing = false;
  #parts = {};
  #onEvent = (e) => {
    let envelope;
    try {
      envelope = typeof e[JSON_KEY] === "string" ? JSON.parse(e[JSON_KEY]) : e.detail;
    } catch {
      return;
    }
    if (!envelope || typeof envelope !== "object") return;
    this.#events.push({
      at: new Date(),
      type: String(envelope.type),
      source: String(envelope.source),
      id: String(envelope.id),
      correlation: String(envelope.correlationid ?? envelope.id),
      causation: envelope.causationid == null ? null : String(envelope.causationid),
      reason: envelope.type === "herald.deadletter" ? String(envelope.data?.reason ?? "") : null,
    });
    if (this.#events.length > KEPT) this.#events.splice(0, this.#events.length - KEPT);
    this.#draw();
  };

  connectedCallback() {
    if (!this.#parts.timeline) this.#render();
    if (!this.#counting) {
      busState().wildcards += 1;
      this.#counting = true;
    }
    window.addEventListener("herald:*", this.#onEvent);
    this.#timer = setInterval(() => this.#drawState(), 1000);
    this.#drawState();
  }

  disconnectedCallback() {
    window.removeEventListener("herald:*", this.#onEvent);
    if (this.#counting) {
      busState().wildcards -= 1;
      this.#counting = false;
    }
    clearInterval(this.#timer);
  }

  #render() {
    const style = document.createElement("style");
    style.textContent = STYLE;
    const make = (tag, className, text) => {
      const node = document.createElement(tag);
      if (className) node.className = className;
      if (text) node.textContent = text;
      return node;
    };
    const title = make("h3", "", "herald devtools · timeline");
    const bar = make("div", "bar");
    const filter = make("input");
    filter.placeholder = "filter by type or source";
    filter.addEventListener("input", () => this.#draw(true));
    const pause = make("button", "pause", "pause");
    pause.addEventListener("click", () => {
      this.#paused = !this.#paused;
      pause.textContent = this.#paused ? "resume" : "pause";
      this.#draw(true);
    });
    const count = make("span", "dim count");
    bar.append(filter, pause, count);
    const timeline = make("ol", "timeline");
    timeline.addEventListener("click", (e) => {
      const item = e.target.closest?.("li.event");
      if (!item) return;
      this.#chosen = item.dataset.correlation;
      this.#draw(true);
    });
    const graph = make("div", "graph");
    const connections = make("ol", "connections");
    const letters = make("ol", "letters");
    const crashed = make("p", "crashed");
    const listeners = make("ol", "listeners");
    this.#root.replaceChildren(style, title, bar, timeline,
      make("h3", "", "causation graph (click an event)"), graph,
      make("h3", "", "connections"), connections,
      make("h3", "", "live listeners per module"), listeners,
      make("h3", "", "dead letters"), letters,
      make("h3", "", "crashed modules"), crashed);
    this.#parts = { filter, count, timeline, graph, connections, letters, crashed, listeners };
  }

  #draw(now) {
    if (this.#paused && !now) return;
    if (this.#drawing) return;
    this.#drawing = true;
    requestAnimationFrame(() => {
      this.#drawing = false;
      this.#drawTimeline();
      this.#drawGraph();
      this.#drawLetters();
    });
  }

  #drawTimeline() {
    const { filter, count, timeline } = this.#parts;
    const wanted = filter.value.trim();
    const shown = this.#events.filter((e) => !wanted || e.type.includes(wanted) || e.source.includes(wanted)).slice(-100);
    count.textContent = `${shown.length} of ${this.#events.length}${this.#paused ? " · paused" : ""}`;
    timeline.replaceChildren(...shown.reverse().map((e) => {
      const item = document.createElement("li");
      item.className = e.correlation === this.#chosen ? "event chosen" : "event";
      item.dataset.correlation = e.correlation;
      item.dataset.type = e.type;
      const time = document.createElement("span");
      time.className = "dim";
      time.textContent = e.at.toISOString().slice(11, 23);
      const type = document.createElement("span");
      type.className = "type";
      type.textContent = e.type;
      const source = document.createElement("span");
      source.className = "source";
      source.textContent = e.source;
      item.append(time, " ", type, " ", source);
      return item;
    }));
  }

  #drawGraph() {
    const { graph } = this.#parts;
    if (this.#chosen === null) {
      graph.textContent = "";
      return;
    }
    const chain = this.#events.filter((e) => e.correlation === this.#chosen);
    const ids = new Set(chain.map((e) => e.id));
    const children = new Map();
    for (const e of chain) {
      const parent = e.causation !== null && ids.has(e.causation) ? e.causation : null;
      if (!children.has(parent)) children.set(parent, []);
      // one node per id (an event dispatched twice, by two routes, shows once)
      if (!children.get(parent).some((c) => c.id === e.id)) children.get(parent).push(e);
    }
    const tree = (parent) => {
      const list = document.createElement("ul");
      list.className = "graph";
      for (const e of children.get(parent) ?? []) {
        const item = document.createElement("li");
        item.dataset.type = e.type;
        const type = document.createElement("span");
        type.className = "type";
        type.textContent = e.type;
        const source = document.createElement("span");
        source.className = "source";
        source.textContent = e.source;
        item.append(type, " ", source, " ");
        const id = document.createElement("span");
        id.className = "dim";
        id.textContent = e.id;
        item.append(id);
        if (children.has(e.id)) item.append(tree(e.id));
        list.append(item);
      }
      return list;
    };
    const heading = document.createElement("p");
    heading.className = "dim";
    heading.textContent = `correlation ${this.#chosen}: ${ids.size} events`;
    graph.replaceChildren(heading, tree(null));
  }

  #drawLetters() {
    const letters = this.#events.filter((e) => e.type === "herald.deadletter").slice(-10);
    this.#parts.letters.replaceChildren(...letters.map((e) => {
      const item = document.createElement("li");
      item.textContent = `${e.source}: ${e.reason}`;
      return item;
    }));
    if (!letters.length) this.#parts.letters.textContent = "none";
  }

  #drawState() {
    const streams = globalThis[RUNTIME]?.streams?.() ?? [];
    this.#parts.connections.replaceChildren(...streams.map((s) => {
      const item = document.createElement("li");
      item.className = "connection";
      item.textContent = `${s.url} · ${s.state}${s.leader ? " (leader)" : ""} · ${s.transport ?? "–"} · position ${s.position ?? "none"} · ` +
        `${s.interests} interests · topics ${s.topics.join(" ")}`;
      return item;
    }));
    if (!streams.length) this.#parts.connections.textContent = "no page runtime streams";
    // a module by the tags it defined (the page state's `names`), and its id
    const names = globalThis[BUS]?.names ?? new Map();
    const named = (module) => names.has(module) ? `${names.get(module)} (module ${module})` : `module ${module}`;
    const listeners = [...(globalThis[BUS]?.listeners ?? new Map())];
    this.#parts.listeners.replaceChildren(...listeners.map(([module, n]) => {
      const item = document.createElement("li");
      item.className = "module";
      item.textContent = `${named(module)}: ${n} listener${n === 1 ? "" : "s"}`;
      return item;
    }));
    if (!listeners.length) this.#parts.listeners.textContent = "none";
    const crashed = [...(globalThis[BUS]?.crashed ?? [])];
    this.#parts.crashed.textContent = crashed.length ? crashed.map(named).join(", ") : "none";
  }
}

if (!customElements.get("herald-devtools")) customElements.define("herald-devtools", HeraldDevtools);
