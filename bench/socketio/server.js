// The Socket.IO side of `cargo xtask bench gateway`: takes events by HTTP POST /events
// (as the herald gateway does) and broadcasts each to every connected socket.
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || 0);
const server = http.createServer((req, res) => {
  if (req.method === "POST" && req.url === "/events") {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      let event;
      try {
        event = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch (e) {
        res.writeHead(400, { "content-type": "text/plain" });
        res.end(String(e));
        return;
      }
      io.emit("event", event);
      res.writeHead(202, { "content-type": "application/json" });
      res.end("{}");
    });
    return;
  }
  res.writeHead(req.url === "/healthz" ? 200 : 404);
  res.end();
});
const io = new Server(server, { transports: ["websocket"], serveClient: false, perMessageDeflate: false });
server.listen(port, "127.0.0.1", 1024, () => {
  console.log(`socket.io listening on http://127.0.0.1:${server.address().port}/`);
});
process.on("SIGTERM", () => process.exit(0));
