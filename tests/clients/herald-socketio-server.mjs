// A Socket.IO server that is not herald's gateway: the official `socket.io` 4 on Node,
// written to herald's documented namespace (docs/protocol.md §3.13) over an event log of
// its own. It is what herald-push's Socket.IO transport must work with on a page whose
// backend already is Socket.IO; tests/e2e/tests/push_libraries.rs drives it.
//
//   node herald-socketio-server.mjs        prints {"port": N} once it listens on 127.0.0.1
//   POST /control/append {"count": n}       appends n events `sig.reading`, ids sig-K
//   POST /control/cut                       closes every client's transport (they
//     reconnect), and answers each next `subscribe` with `from` with the events from one
//     before it: an event the client has already comes again, and must be dropped
import { createServer } from "node:http";
import { Server } from "socket.io";

const log = []; // [{position, event}], position "1-K" for the K-th event
let replayOneMore = false;

const positionOf = (k) => `1-${k}`;
const sequenceOf = (position) => Number(String(position).split("-")[1] ?? NaN);
function matches(pattern, type) {
  const p = pattern.split(".");
  const t = type.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return i < t.length;
    if (i >= t.length || (p[i] !== "*" && p[i] !== t[i])) return false;
  }
  return p.length === t.length;
}
const wire = (k) => ({ ...log[k - 1].event, heraldposition: positionOf(k) });

function append(event) {
  log.push({ event });
  const k = log.length;
  for (const socket of herald.sockets.values()) {
    if ((socket.data.patterns ?? []).some((p) => matches(p, event.type))) socket.emit("event", wire(k));
  }
  return positionOf(k);
}

const http = createServer((request, response) => {
  let body = "";
  request.on("data", (chunk) => { body += chunk; });
  request.on("end", () => {
    if (request.method === "POST" && request.url === "/control/append") {
      const { count } = JSON.parse(body || "{}");
      for (let n = 0; n < count; n++) {
        const k = log.length;
        append({ specversion: "1.0", id: `sig-${k}`, source: "/test/socketio-server", type: "sig.reading",
          datacontenttype: "application/json", data: { sensor: "s-1", db: 50, at: k } });
      }
      response.end(JSON.stringify({ head: positionOf(log.length) }));
    } else if (request.method === "POST" && request.url === "/control/cut") {
      replayOneMore = true;
      for (const socket of herald.sockets.values()) socket.conn.close();
      response.end("{}");
    } else if (!response.headersSent) {
      response.statusCode = 404;
      response.end();
    }
  });
});
const io = new Server(http, { cors: { origin: true } });
const herald = io.of("/herald");
herald.on("connection", (socket) => {
  socket.on("subscribe", (data, ack) => {
    const patterns = Array.isArray(data?.topics) ? data.topics.map(String) : data?.topic ? [String(data.topic)] : [];
    if (patterns.length === 0) return ack?.({ error: { status: 400, detail: "give `topic` or `topics`" } });
    socket.data.patterns = patterns;
    let after = data.from ? sequenceOf(data.from) : log.length;
    if (data.from && replayOneMore) after -= 1;
    ack?.({ topic: patterns.join(" "), head: positionOf(log.length) });
    for (let k = Math.max(after, 0) + 1; k <= log.length; k++) {
      if (patterns.some((p) => matches(p, log[k - 1].event.type))) socket.emit("event", wire(k));
    }
  });
  socket.on("publish", (event, ack) => {
    if (!event || event.specversion !== "1.0" || !event.id || !event.type) {
      return ack?.({ error: { status: 400, detail: "not a CloudEvent" } });
    }
    ack?.({ position: append(event) });
  });
});
http.listen(0, "127.0.0.1", () => process.stdout.write(JSON.stringify({ port: http.address().port }) + "\n"));
