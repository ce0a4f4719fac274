// herald's page runtime (docs/protocol.md §2.10): what belongs to the page, not to a
// micro-frontend, done once per page however many modules and herald versions it has.
// It holds the push connection to each gateway stream (Server-Sent Events, a WebSocket,
// Socket.IO or SignalR; one per browser through a Web Lock and a BroadcastChannel), its backoff,
// resume, and exactly-once delivery into the bus, and the upstream publishes.
//
// A page loads it once: from a <script type="module"> of its own, or, when it has none,
// from the folder of the first module that needs it (herald-push's client imports
// herald-runtime.js beside the module's glue; a plain-JS MFE imports the copy beside
// it). Any copy evaluated later (another folder, another herald version) finds the
// runtime installed at globalThis[Symbol.for("herald.runtime.v1")] and installs nothing. Its API is the object there:
//   interest(url, topics, options) -> { release() }
//   publish(url, json, options)    -> Promise<position>
//   forward(url, types, options)   -> { release() }: requests of `types` answered upstream
//   resolve(url, options)          -> Promise<JSON text>: a pointer event's document
//   log(url, entry, options)       -> queues a log entry for the gateway's central log
//   logs()                         -> {queued, sent, dropped, rejected}: what log did
//   connection(url)                -> the last herald.connection data, or undefined
//   streams()                      -> every stream as it is now (for devtools and tests)
const RUNTIME = Symbol.for("herald.runtime.v1");
const BUS = Symbol.for("herald.bus.v1");
const JSON_KEY = Symbol.for("herald.json");
const SEEN = 4096;
const PUSH_SOURCE = "urn:herald:push";
const CONNECTION = "herald.connection";
const TRANSPORTS = ["sse", "websocket", "socketio", "signalr"];
// SignalR: the JSON hub protocol's record separator, and the start of a StreamItem of the
// runtime's one stream (herald's hub writes its members in this order)
const RS = "\u001e";
const HUB_ITEM = '{"type":2,"invocationId":"s","item":';
// Socket.IO: herald's namespace, and the start of an `event` packet in it
const SIO_NS = "/herald";
const SIO_EVENT = `42${SIO_NS},["event",`;

function create() {
  const streams = new Map();
  const prefix = randomHex(8);
  let ids = 0;
  let tab = null;

  function randomHex(n) {
    const bytes = new Uint8Array(Math.ceil(n / 2));
    (globalThis.crypto ?? { getRandomValues: (b) => b.map(() => Math.floor(Math.random() * 256)) }).getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("").slice(0, n);
  }
  function nextId() {
    return `push-${prefix}-${++ids}`;
  }
  function tabId() {
    return (tab ??= randomHex(12));
  }
  function crashed(module) {
    const c = globalThis[BUS]?.crashed;
    return !!(module && c && c.has(module));
  }
  // the bus's page state (docs/protocol.md §2.6), its missing fields filled on reading
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

  // --- the bus: what the runtime dispatches is a bus event (§2.1) whose JSON text herald
  // subscribers read as it is, and whose detail is made when JavaScript reads it
  class PageEvent extends CustomEvent {
    #text;
    #detail;
    constructor(name, text, detail) {
      super(name, { bubbles: true, composed: true, cancelable: false });
      this.#text = text;
      this.#detail = detail;
    }
    get [JSON_KEY]() {
      return this.#text;
    }
    get detail() {
      return (this.#detail ??= JSON.parse(this.#text));
    }
  }
  function dispatch(type, text, detail) {
    globalThis.dispatchEvent(new PageEvent("herald:" + type, text, detail));
    if ((globalThis[BUS]?.wildcards ?? 0) > 0) globalThis.dispatchEvent(new PageEvent("herald:*", text, detail));
  }
  // herald.connection is retained, last value (§2.7): a module that loads later learns it
  function retainConnection() {
    const s = busState();
    if (s.retained.has(CONNECTION)) return;
    const topic = { policy: { kind: "last" }, events: [] };
    s.retained.set(CONNECTION, topic);
    globalThis.addEventListener("herald:" + CONNECTION, (e) => {
      const at = Date.now();
      const n = ++s.records;
      const json = e[JSON_KEY];
      topic.events.push(typeof json === "string" ? { json, at, n, get detail() { return e.detail; } } : { detail: e.detail, at, n });
      if (topic.events.length > 1) topic.events.splice(0, topic.events.length - 1);
    }, { capture: true });
  }
  function envelope(type, data) {
    return { specversion: "1.0", id: nextId(), source: PUSH_SOURCE, type, time: new Date().toISOString(),
             datacontenttype: "application/json", data };
  }

  // --- streams
  function stream(url) {
    let st = streams.get(url);
    if (!st) {
      st = { url, interests: new Map(), options: null, last: null, seen: new Set(), order: [],
             connection: null, retry: null, attempt: 0, state: null, scheduled: false,
             channel: null, leader: false, tabs: new Map(), releaseLock: null, following: false,
             acks: new Map() };
      streams.set(url, st);
    }
    return st;
  }
  function localTopics(st) {
    const all = new Set();
    for (const { topics, module } of st.interests.values()) {
      if (!crashed(module)) for (const t of topics) all.add(t);
    }
    return all;
  }
  function union(st) {
    const all = localTopics(st);
    if (st.channel && st.leader) for (const topics of st.tabs.values()) for (const t of topics) all.add(t);
    return [...all].sort();
  }
  function live(st) {
    for (const { module } of st.interests.values()) if (!crashed(module)) return true;
    return false;
  }
  function schedule(st) {
    if (st.scheduled) return;
    st.scheduled = true;
    queueMicrotask(() => {
      st.scheduled = false;
      reconcile(st);
    });
  }
  function announce(st, state, retryMs) {
    const data = { url: st.url, state, attempt: st.attempt, retry_ms: retryMs ?? null, position: st.last,
                   topics: st.connection ? st.connection.topics.slice() : [] };
    st.state = data;
    const event = envelope(CONNECTION, data);
    dispatch(CONNECTION, JSON.stringify(event), undefined);
  }

  // --- one connection per browser: tabs elect a leader with a Web Lock; the leader's
  // connection is relayed to the other tabs over a BroadcastChannel
  function leaveTabs(st) {
    if (!st.channel) return;
    try { st.channel.postMessage({ kind: "bye", tab: tabId() }); } catch {}
    st.channel.close();
    st.channel = null;
    st.tabs = new Map();
    st.leader = false;
    const release = st.releaseLock;
    st.releaseLock = null;
    if (release) release();
  }
  function joinTabs(st) {
    if (st.channel) return true;
    if (typeof BroadcastChannel === "undefined" || !globalThis.navigator?.locks) return false;
    const name = "herald.push:" + st.url;
    const channel = new BroadcastChannel(name);
    st.channel = channel;
    st.tabs = new Map();
    st.leader = false;
    channel.onmessage = (m) => {
      const msg = m.data;
      if (!msg || typeof msg !== "object" || st.channel !== channel) return;
      if (msg.kind === "topics" && st.leader) {
        if (Array.isArray(msg.topics) && msg.topics.length) st.tabs.set(msg.tab, msg.topics); else st.tabs.delete(msg.tab);
        tellHead(st);
        schedule(st);
      } else if (msg.kind === "bye" && st.leader) {
        if (st.tabs.delete(msg.tab)) schedule(st);
      } else if (msg.kind === "hello" && !st.leader) {
        sendTopics(st);
      } else if (msg.kind === "event" && !st.leader && st.following) {
        onMessage(st, String(msg.data), String(msg.id ?? ""));
      } else if (msg.kind === "head" && !st.leader && st.following) {
        started(st, msg.head);
      }
    };
    if (!st.pagehide) {
      st.pagehide = true;
      globalThis.addEventListener("pagehide", () => {
        try { st.channel?.postMessage({ kind: "bye", tab: tabId() }); } catch {}
      });
    }
    navigator.locks.request(name, () => new Promise((resolve) => {
      if (st.channel !== channel) { resolve(); return; }
      st.leader = true;
      st.releaseLock = resolve;
      channel.postMessage({ kind: "hello" });
      schedule(st);
    }));
    return true;
  }
  function sendTopics(st) {
    if (st.channel && !st.leader) st.channel.postMessage({ kind: "topics", tab: tabId(), topics: [...localTopics(st)] });
  }

  // --- the connection
  function close(st) {
    const had = !!(st.connection || st.retry);
    if (st.retry) { clearTimeout(st.retry); st.retry = null; }
    if (st.connection) {
      try { st.connection.source.close(); } catch {}
      st.connection = null;
    }
    return had;
  }
  function failAcks(st, detail) {
    const waiting = [...st.acks.values()];
    st.acks.clear();
    for (const { reject } of waiting) reject({ status: 0, detail });
  }
  function reconcile(st) {
    decide(st);
    if (!live(st)) {
      const had = close(st);
      failAcks(st, "the connection closed before the gateway acknowledged");
      leaveTabs(st);
      st.following = false;
      if (had) announce(st, "closed");
      return;
    }
    if (!online) {
      if (close(st)) announce(st, "offline");
      return;
    }
    if (!st.options.perBrowser && st.channel) leaveTabs(st);
    if (st.options.perBrowser && joinTabs(st) && !st.leader) {
      // another tab holds the connection: receive its events, send it our topics
      const had = close(st);
      sendTopics(st);
      if (!st.following || had) {
        st.following = true;
        announce(st, "following");
      }
      return;
    }
    st.following = false;
    const topics = union(st);
    if (st.retry) return; // the pending reconnect uses the topics of then
    const same = (c) => c.topics.join("\n") === topics.join("\n") && c.transport === st.options.transport
      && c.token === st.options.token;
    if (st.connection && same(st.connection)) return;
    if (st.connection) {
      try { st.connection.source.close(); } catch {}
      st.connection = null;
    }
    try {
      st.connection = open(st, topics);
    } catch (error) {
      console.error(`herald: cannot open ${st.url}:`, error);
      return;
    }
    announce(st, "connecting");
  }
  function wsUrl(url) {
    const base = url.slice(0, Math.max(0, url.lastIndexOf("/")));
    return (base + "/ws").replace(/^https:/, "wss:").replace(/^http:/, "ws:");
  }
  function open(st, topics) {
    const { token, transport } = st.options;
    const connection = { source: null, transport, token, open: false, topics };
    const on = (kind, data, id) => {
      if (st.connection !== connection) return;
      if (kind === "open") {
        st.attempt = 0;
        connection.open = true;
        announce(st, "open");
      } else if (kind === "error") {
        reconnect(st, false);
      } else {
        if (st.channel && st.leader) st.channel.postMessage({ kind: "event", data, id });
        onMessage(st, data, id);
      }
    };
    if (transport === "websocket") {
      const href = new URL(wsUrl(st.url));
      if (token) href.searchParams.append("access_token", token);
      const data = { topics };
      if (st.last) data.from = st.last;
      const hello = JSON.stringify(envelope("herald.subscribe", data));
      const ws = new WebSocket(href.href, "cloudevents.json");
      ws.onopen = () => { ws.send(hello); on("open"); };
      ws.onclose = () => on("error");
      ws.onmessage = (e) => { if (typeof e.data === "string") on("message", e.data, ""); };
      connection.source = ws;
    } else if (transport === "socketio") {
      connection.source = socketIo(st, connection, topics, on);
    } else if (transport === "signalr") {
      connection.source = signalR(st, connection, topics, on);
    } else {
      const href = new URL(st.url);
      for (const t of topics) href.searchParams.append("topic", t);
      if (st.last) href.searchParams.append("lastEventId", st.last);
      href.searchParams.append("head", "true");
      if (token) href.searchParams.append("access_token", token);
      const es = new EventSource(href.href);
      es.onopen = () => on("open");
      es.onerror = () => on("error");
      es.onmessage = (e) => on("message", e.data, e.lastEventId);
      connection.source = es;
    }
    return connection;
  }
  // Socket.IO (Engine.IO 4 over a WebSocket, no polling): `/socket.io/` on the stream
  // URL's origin, namespace `/herald`, herald's event names (docs/protocol.md §3.13). The
  // connection counts as open once the `subscribe` is acked; `event`s go to `on` as
  // their JSON text, cut out of the packet.
  function socketIo(st, connection, topics, on) {
    const href = new URL(st.url);
    const ws = new WebSocket(`${href.protocol === "https:" ? "wss:" : "ws:"}//${href.host}/socket.io/?EIO=4&transport=websocket`);
    const send = (packet) => { if (ws.readyState === 1) ws.send(packet); };
    connection.emit = (name, json, answer) => {
      const ack = ++connection.acks;
      connection.answers.set(ack, answer);
      send(`42${SIO_NS},${ack}["${name}",${json}]`);
    };
    connection.acks = 0;
    connection.answers = new Map();
    ws.onmessage = (e) => {
      const p = typeof e.data === "string" ? e.data : "";
      if (p[0] === "0") return send(`40${SIO_NS},${JSON.stringify(connection.token ? { token: connection.token } : {})}`);
      if (p === "2") return send("3");
      if (p.startsWith(SIO_EVENT)) {
        const body = p.slice(SIO_EVENT.length);
        if (body.endsWith("]")) on("message", body.slice(0, -1), "");
        return;
      }
      if (p.startsWith(`40${SIO_NS},`)) {
        const data = { topics };
        if (st.last) data.from = st.last;
        return connection.emit("subscribe", JSON.stringify(data), (answer) => {
          if (answer?.error) {
            console.warn("herald: the Socket.IO server refused the subscription:", JSON.stringify(answer.error));
            on("error");
          } else {
            if (st.connection === connection) started(st, answer?.head);
            on("open");
          }
        });
      }
      const ack = /^43\/herald,(\d+)(.*)$/s.exec(p);
      if (ack) {
        const answer = connection.answers.get(Number(ack[1]));
        connection.answers.delete(Number(ack[1]));
        let args = [];
        try { args = JSON.parse(ack[2]); } catch {}
        return answer?.(Array.isArray(args) ? args[0] : undefined);
      }
      // refused (44), disconnected by the server (41), or closing (1)
      if (p.startsWith(`44${SIO_NS}`) || p.startsWith(`41${SIO_NS}`) || p === "1") {
        if (p.startsWith("44")) console.warn("herald: the Socket.IO server refused the connection:", p.slice(SIO_NS.length + 3));
        on("error");
      }
    };
    ws.onclose = () => on("error");
    return ws;
  }
  // SignalR (the JSON hub protocol over a WebSocket, negotiate skipped): the hub
  // `/hubs/events` on the stream URL's origin, `StreamEvents(topics, last)` (docs/protocol.md
  // §3.12). Open once the handshake is answered; each StreamItem's item is a message.
  function signalR(st, connection, topics, on) {
    const href = new URL(st.url);
    const hub = new URL("/hubs/events", href);
    hub.protocol = href.protocol === "https:" ? "wss:" : "ws:";
    if (connection.token) hub.searchParams.append("access_token", connection.token);
    const ws = new WebSocket(hub.href);
    const send = (message) => { if (ws.readyState === 1) ws.send(JSON.stringify(message) + RS); };
    connection.acks = 0;
    connection.answers = new Map();
    connection.emit = (name, json, answer) => {
      const id = `p${++connection.acks}`;
      connection.answers.set(id, answer);
      if (ws.readyState === 1) ws.send(`{"type":1,"invocationId":"${id}","target":"${name}","arguments":[${json}]}${RS}`);
    };
    let handshaken = false;
    ws.onopen = () => ws.send(`{"protocol":"json","version":1}${RS}`);
    ws.onmessage = (e) => {
      for (const m of (typeof e.data === "string" ? e.data : "").split(RS)) {
        if (!m) continue;
        if (m.startsWith(HUB_ITEM) && m.endsWith("}")) { on("message", m.slice(HUB_ITEM.length, -1), ""); continue; }
        let message;
        try { message = JSON.parse(m); } catch { continue; }
        if (!handshaken) {
          handshaken = true;
          if (message.error) {
            console.warn("herald: the SignalR hub refused the handshake:", message.error);
            return on("error");
          }
          send({ type: 4, invocationId: "s", target: "StreamEvents", arguments: [topics, st.last ?? null, true] });
          on("open");
        } else if (message.type === 2 && message.invocationId === "s") {
          on("message", JSON.stringify(message.item), "");
        } else if (message.type === 3) {
          const answer = connection.answers.get(message.invocationId);
          connection.answers.delete(message.invocationId);
          if (answer) answer(message);
          else {
            // the stream ended: refused, or the hub completed it
            if (message.error) console.warn("herald: the SignalR hub ended the stream:", message.error);
            return on("error");
          }
        } else if (message.type === 6) {
          send({ type: 6 });
        } else if (message.type === 7) {
          return on("error");
        }
      }
    };
    ws.onclose = () => on("error");
    return ws;
  }
  // Closes the connection and opens it again after the backoff delay (`soon`: the first
  // step's, for a planned close such as a drain).
  function reconnect(st, soon) {
    failAcks(st, "the connection closed before the gateway acknowledged");
    if (!st.connection) return;
    try { st.connection.source.close(); } catch {}
    st.connection = null;
    const attempt = soon ? 0 : st.attempt;
    st.attempt += 1;
    const { base, max } = st.options.backoff;
    const ceiling = Math.min(max, base * 2 ** Math.min(attempt, 31));
    const delay = Math.floor(ceiling / 2 + (ceiling / 2) * Math.random());
    st.retry = setTimeout(() => {
      st.retry = null;
      reconcile(st);
    }, delay);
    announce(st, "reconnecting", delay);
  }
  // The position a stream goes on from, as its gateway says when it opens: until an event
  // comes, a reconnect (new topics, a restarted gateway) resumes from there, so that what
  // is stored in between is not lost.
  function started(st, head) {
    if (!st.last && typeof head === "string" && position(head)) st.last = head;
    tellHead(st);
  }
  // The leader's position, for the tabs that follow it: one that joined after the leader's
  // connection opened, or whose transport names its head in no message (Socket.IO's ack),
  // would otherwise have none until an event comes, and a takeover would start from the
  // next event stored.
  function tellHead(st) {
    if (st.channel && st.leader && st.last) st.channel.postMessage({ kind: "head", head: st.last });
  }
  function position(text) {
    const m = /^(\d+)-(\d+)$/.exec(text);
    return m ? { epoch: m[1], seq: BigInt(m[2]) } : null;
  }
  function onMessage(st, text, id) {
    let event;
    try {
      event = JSON.parse(text);
    } catch (error) {
      console.warn("herald: skipped a stream message that is not JSON:", error);
      return;
    }
    if (!event || typeof event !== "object" || Array.isArray(event) || event.specversion !== "1.0"
        || typeof event.id !== "string" || !event.id || typeof event.source !== "string" || !event.source
        || typeof event.type !== "string" || !event.type) {
      console.warn("herald: skipped a stream message that is not a CloudEvent:", text.slice(0, 200));
      return;
    }
    // over a WebSocket the position travels in the event
    if (!id && typeof event.heraldposition === "string") id = event.heraldposition;
    const data = event.data && typeof event.data === "object" ? event.data : {};
    switch (event.type) {
      case "herald.drain":
      case "herald.slow":
        reconnect(st, event.type === "herald.drain");
        return;
      case "herald.subscribed":
        started(st, data.head);
        return;
      case "herald.unsubscribed":
        return;
      case "herald.ack":
      case "herald.error": {
        let key = `${data.source}\u0000${data.id}`;
        if (!st.acks.has(key)) key = [...st.acks.keys()].find((k) => k.endsWith(`\u0000${data.id}`));
        const waiting = key === undefined ? undefined : st.acks.get(key);
        if (!waiting) return;
        st.acks.delete(key);
        if (event.type === "herald.ack") waiting.resolve(String(data.position ?? ""));
        else {
          console.warn("herald: the gateway refused a message:", JSON.stringify(data));
          waiting.reject({ status: Number(data.status) || 0, detail: String(data.detail ?? "") });
        }
        return;
      }
      case "herald.reset":
        // resync from the head the gateway goes on from
        st.last = id || st.last;
        dispatch(event.type, text, event);
        return;
    }
    const at = position(id);
    if (!at) {
      console.warn(`herald: skipped \`${event.id}\` without a position`);
      return;
    }
    const last = st.last && position(st.last);
    if (last && last.epoch === at.epoch && at.seq <= last.seq) return; // delivered already
    st.last = id;
    const key = `${event.source}\u0000${event.id}`;
    if (st.seen.has(key)) return; // the same event under another position
    st.seen.add(key);
    st.order.push(key);
    if (st.order.length > SEEN) st.seen.delete(st.order.shift());
    if (event.heraldposition !== id) {
      event.heraldposition = id;
      text = JSON.stringify(event);
    }
    dispatch(event.type, text, event);
  }

  // --- the API
  // the options an interest states; undefined where it states none
  function stated(given) {
    const o = given ?? {};
    return {
      transport: TRANSPORTS.includes(o.transport) ? o.transport : undefined,
      perBrowser: typeof o.perTab === "boolean" ? !o.perTab : undefined,
      token: typeof o.token === "string" && o.token ? o.token : undefined,
      base: Number(o.backoffBaseMs) > 0 ? Number(o.backoffBaseMs) : undefined,
      max: Number(o.backoffMaxMs) > 0 ? Number(o.backoffMaxMs) : undefined,
    };
  }
  // each option as the earliest live interest that states it says, else its default
  function decide(st) {
    const pick = (name, fallback) => {
      for (const { options, module } of st.interests.values()) {
        if (!crashed(module) && options[name] !== undefined) return options[name];
      }
      return fallback;
    };
    st.options = {
      transport: pick("transport", "sse"),
      perBrowser: pick("perBrowser", true),
      token: pick("token", null),
      backoff: { base: pick("base", 500), max: pick("max", 30000) },
    };
  }
  let handles = 0;
  function interest(url, topics, given) {
    url = String(url);
    if (!Array.isArray(topics)) throw new TypeError("herald: interest(url, topics): topics must be an array of patterns");
    const st = stream(url);
    retainConnection();
    const key = ++handles;
    st.interests.set(key, { topics: topics.map(String), module: given?.module ?? null, options: stated(given) });
    schedule(st);
    let released = false;
    return {
      release() {
        if (released) return;
        released = true;
        st.interests.delete(key);
        schedule(st);
      },
    };
  }
  function publish(url, json, given) {
    const st = streams.get(String(url));
    const o = given ?? {};
    const text = String(json);
    // the page's open Socket.IO or SignalR connection carries it, answered by the
    // `publish` ack or `Publish`'s completion
    const over = st?.connection?.transport;
    if ((over === "socketio" || over === "signalr") && st.connection.open && st.connection.source.readyState === 1) {
      return new Promise((resolve, reject) => {
        const key = `${over}\u0000${st.connection.acks + 1}`;
        st.acks.set(key, { resolve, reject });
        st.connection.emit(over === "socketio" ? "publish" : "Publish", text, (answer) => {
          if (!st.acks.delete(key)) return;
          const position = over === "socketio" ? answer?.position : answer?.result;
          if (typeof position === "string") resolve(position);
          else if (over === "socketio") {
            reject({ status: Number(answer?.error?.status) || 0, detail: String(answer?.error?.detail ?? JSON.stringify(answer)) });
          } else {
            // the hub's error is `STATUS REASON: detail`
            const error = String(answer?.error ?? JSON.stringify(answer));
            reject({ status: Number(/^(\d{3}) /.exec(error)?.[1]) || 0, detail: error });
          }
        });
      });
    }
    // the page's open WebSocket carries it, answered by herald.ack / herald.error
    if (st?.connection?.transport === "websocket" && st.connection.open && st.connection.source.readyState === 1) {
      let event;
      try { event = JSON.parse(text); } catch { event = {}; }
      return new Promise((resolve, reject) => {
        st.acks.set(`${event.source}\u0000${event.id}`, { resolve, reject });
        st.connection.source.send(text);
      });
    }
    let target = o.publishUrl;
    if (!target) target = String(url).slice(0, Math.max(0, String(url).lastIndexOf("/")));
    const token = o.token ?? st?.options?.token;
    const headers = { "content-type": "application/cloudevents+json" };
    if (token) headers.authorization = `Bearer ${token}`;
    return fetch(target, { method: "POST", headers, body: text }).then(
      async (response) => {
        const body = await response.text();
        let answer = null;
        try { answer = JSON.parse(body); } catch {}
        if (response.status !== 202) {
          throw { status: response.status, detail: typeof answer?.detail === "string" ? answer.detail : body };
        }
        if (typeof answer?.position !== "string") throw { status: 202, detail: `no position in ${body}` };
        return answer.position;
      },
      (error) => { throw { status: 0, detail: String(error?.message ?? error) }; },
    );
  }
  // --- requests answered upstream (§2.10): the runtime claims the page's requests of
  // `types` (§2.8) as their responder, publishes each to the gateway, and hands the page
  // the server's reply (herald.reply or herald.reply.error whose causationid is the
  // request's id) as the request's reply event
  const awaiting = new Map(); // request id -> the reply event's name
  const REPLIES = ["herald.reply", "herald.reply.error"];
  function onRequest(url) {
    return (e) => {
      if (!e.cancelable || e.defaultPrevented) return;
      const text = typeof e[JSON_KEY] === "string" ? e[JSON_KEY] : JSON.stringify(e.detail);
      let request;
      try { request = JSON.parse(text); } catch { return; }
      const replyTo = request?.replyto;
      if (typeof request?.id !== "string" || typeof replyTo !== "string") return;
      e.preventDefault(); // claimed: the gateway's responder answers it
      awaiting.set(request.id, replyTo);
      publish(url, text).catch((error) => {
        if (!awaiting.delete(request.id)) return;
        const failed = envelope("herald.reply.error", { message: `the request did not reach the gateway: ${error?.detail ?? error}` });
        failed.causationid = request.id;
        failed.correlationid = request.correlationid ?? request.id;
        const json = JSON.stringify(failed);
        globalThis.dispatchEvent(new PageEvent(replyTo, json, undefined));
      });
    };
  }
  function onReply(e) {
    const text = typeof e[JSON_KEY] === "string" ? e[JSON_KEY] : JSON.stringify(e.detail);
    let reply;
    try { reply = JSON.parse(text); } catch { return; }
    const replyTo = awaiting.get(reply?.causationid);
    if (replyTo === undefined) return;
    awaiting.delete(reply.causationid);
    globalThis.dispatchEvent(new PageEvent(replyTo, text, undefined));
  }
  for (const type of REPLIES) globalThis.addEventListener("herald:" + type, onReply);
  globalThis.addEventListener("herald:herald.request.cancel", (e) => {
    const id = e.detail?.data?.id;
    if (typeof id === "string") awaiting.delete(id);
  });
  function forward(url, types, given) {
    url = String(url);
    if (!Array.isArray(types)) throw new TypeError("herald: forward(url, types): types must be an array of event types");
    const listeners = types.map(String).map((type) => {
      const listener = onRequest(url);
      globalThis.addEventListener("herald:" + type, listener);
      return [type, listener];
    });
    const replies = interest(url, REPLIES, given);
    let released = false;
    return {
      release() {
        if (released) return;
        released = true;
        replies.release();
        for (const [type, listener] of listeners) globalThis.removeEventListener("herald:" + type, listener);
      },
    };
  }
  // --- pointers (§2.10): the document a pointer event points at, fetched once per
  // revision (a URL with `revision` never changes) and revalidated with its ETag
  // otherwise; one cache for the page, whoever asks
  const documents = new Map(); // absolute URL -> Promise<{text, etag}>
  const pointerStats = { fetched: 0, revalidated: 0, reused: 0 };
  const DOCUMENTS = 256;
  function resolve(href, given) {
    const base = globalThis.document?.baseURI ?? globalThis.location?.href;
    const url = new URL(String(href), base);
    const key = url.href;
    const immutable = url.searchParams.has("revision");
    const known = documents.get(key);
    if (known && immutable) {
      pointerStats.reused++;
      documents.delete(key);
      documents.set(key, known); // most recently used last
      return known.then((d) => d.text);
    }
    const headers = { accept: "application/json" };
    if (given?.token) headers.authorization = `Bearer ${given.token}`;
    const fetching = (known ?? Promise.resolve(null)).catch(() => null).then((before) => {
      if (before?.etag) headers["if-none-match"] = before.etag;
      return fetch(key, { headers, credentials: "same-origin" }).then(async (response) => {
        if (response.status === 304 && before) {
          pointerStats.revalidated++;
          return before;
        }
        const text = await response.text();
        if (!response.ok) {
          let detail = text;
          try { detail = JSON.parse(text).detail ?? text; } catch {}
          throw { status: response.status, detail };
        }
        pointerStats.fetched++;
        return { text, etag: response.headers.get("etag") };
      });
    });
    documents.delete(key);
    documents.set(key, fetching);
    fetching.catch(() => { if (documents.get(key) === fetching) documents.delete(key); });
    while (documents.size > DOCUMENTS) documents.delete(documents.keys().next().value);
    return fetching.then((d) => d.text);
  }
  // --- the central log (§2.10, §3.17): the modules' entries, queued for the page and
  // sent to the gateway's POST /logs in batches; never more than LOG_QUEUE waiting
  const LEVELS = ["debug", "info", "warn", "error"];
  const LOG_BATCH = 50, LOG_QUEUE = 500, LOG_DELAY = 1000;
  const logQueues = new Map(); // logs URL -> {entries, timer, sending, failures, token}
  const logStats = { sent: 0, dropped: 0, rejected: 0 };
  const nonEmpty = (v) => (typeof v === "string" && v !== "" ? v : undefined);
  function log(url, given, options) {
    const e = typeof given === "string" ? JSON.parse(given) : given;
    if (!e || !LEVELS.includes(e.level) || typeof e.message !== "string" || !nonEmpty(e.module)) {
      throw new TypeError('herald: log(url, entry): entry needs level ("debug", "info", "warn", "error"), message and module');
    }
    const o = options ?? {};
    const target = String(o.logUrl ?? new URL("../logs", String(url)).href);
    let q = logQueues.get(target);
    if (!q) logQueues.set(target, (q = { entries: [], timer: null, sending: false, failures: 0, token: undefined }));
    q.token = o.token ?? q.token ?? streams.get(String(url))?.options?.token;
    const about = e.event && typeof e.event === "object" ? e.event : {};
    const entry = { level: e.level, message: e.message, module: e.module, time: nonEmpty(e.time) ?? new Date().toISOString() };
    const fields = {
      correlationid: nonEmpty(e.correlationid) ?? nonEmpty(about.correlationid) ?? nonEmpty(about.id),
      causationid: nonEmpty(e.causationid) ?? nonEmpty(about.causationid),
      eventid: nonEmpty(e.eventid) ?? nonEmpty(about.id),
      eventtype: nonEmpty(e.eventtype) ?? nonEmpty(about.type),
    };
    for (const [name, value] of Object.entries(fields)) if (value !== undefined) entry[name] = value;
    if (e.labels && typeof e.labels === "object") entry.labels = e.labels;
    q.entries.push(entry);
    if (q.entries.length > LOG_QUEUE) {
      q.entries.shift();
      logStats.dropped++;
    }
    if (q.entries.length >= LOG_BATCH && !q.failures) sendLogs(target, q, false);
    else q.timer ??= setTimeout(() => sendLogs(target, q, false), LOG_DELAY);
  }
  function sendLogs(target, q, leaving) {
    clearTimeout(q.timer);
    q.timer = null;
    if (q.sending || !q.entries.length) return;
    const batch = q.entries.splice(0, leaving ? LOG_BATCH : LOG_QUEUE);
    const headers = { "content-type": "application/json" };
    if (q.token) headers.authorization = `Bearer ${q.token}`;
    q.sending = true;
    // leaving the page: `keepalive` lets the request outlive it
    fetch(target, { method: "POST", headers, body: JSON.stringify(batch), keepalive: leaving, credentials: "same-origin" })
      .then((response) => {
        if (response.ok) {
          logStats.sent += batch.length;
          q.failures = 0;
          return;
        }
        if (response.status >= 500 || response.status === 408 || response.status === 429) throw response.status;
        // refused (a bad entry, no grant, no central log there): sending again would not help
        logStats.rejected += batch.length;
        if (!q.warned) console.warn(`herald: ${target} refused ${batch.length} log entries (${response.status})`);
        q.warned = true;
      })
      .catch(() => {
        // not delivered: first in line again, sent after a pause
        q.entries.unshift(...batch);
        const over = q.entries.length - LOG_QUEUE;
        if (over > 0) {
          q.entries.splice(0, over);
          logStats.dropped += over;
        }
        q.failures++;
      })
      .finally(() => {
        q.sending = false;
        if (q.entries.length && !q.timer) {
          q.timer = setTimeout(() => sendLogs(target, q, false), q.failures ? Math.min(30000, 1000 * 2 ** q.failures) : LOG_DELAY);
        }
      });
  }
  const leave = () => { for (const [target, q] of logQueues) sendLogs(target, q, true); };
  globalThis.addEventListener?.("pagehide", leave);
  globalThis.document?.addEventListener?.("visibilitychange", () => { if (globalThis.document.visibilityState === "hidden") leave(); });
  function logs() {
    let queued = 0;
    for (const q of logQueues.values()) queued += q.entries.length;
    return { queued, ...logStats };
  }
  // the stream's last herald.connection data, its position as of now
  function connection(url) {
    const st = streams.get(String(url));
    if (!st?.state) return undefined;
    return { ...st.state, topics: st.state.topics.slice(), position: st.last };
  }
  // what devtools and tests read: every stream the page has, as it is now
  function list() {
    return [...streams.values()].map((st) => ({
      url: st.url,
      state: st.state?.state ?? "idle",
      leader: !!(st.channel && st.leader),
      following: st.following,
      transport: st.connection?.transport ?? null,
      href: st.connection?.source?.url ?? null,
      readyState: st.connection?.source?.readyState ?? null,
      topics: union(st),
      position: st.last,
      interests: st.interests.size,
    }));
  }
  // as the browser's online/offline events last said
  let online = globalThis.navigator?.onLine !== false;
  for (const name of ["online", "offline", "herald:herald.mfe.crashed"]) {
    globalThis.addEventListener(name, () => {
      if (name !== "herald:herald.mfe.crashed") online = name === "online";
      for (const st of streams.values()) schedule(st);
    });
  }
  return Object.freeze({ version: 1, interest, publish, forward, resolve, pointers: () => ({ ...pointerStats }), log, logs, connection, streams: list });
}

/** The page's runtime: installed by the first copy of this file a page evaluates. */
export function runtime() {
  let rt = globalThis[RUNTIME];
  if (!rt) {
    rt = create();
    Object.defineProperty(globalThis, RUNTIME, { value: rt });
  }
  return rt;
}

// Evaluating this file installs the runtime (a page's <script type="module"> of it, an
// import()), unless the page has one.
runtime();
