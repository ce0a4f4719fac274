// The official Socket.IO client (`socket.io-client`) on Node against the gateway's
// `/herald` namespace, driven by crates/herald-server/tests/socketio.rs; prints one JSON
// object per line.
//
//   node socketio.mjs follow BASE TOKEN PATTERN FROM COUNT [websocket]  (FROM "-": live only)
//   node socketio.mjs refused BASE TOKEN PATTERN
//
// follow.mjs says what each does; `websocket` skips polling.
import { io } from "socket.io-client";
import { followSocketIo, refusedSocketIo } from "./follow.mjs";

const [mode, base, token, pattern, from, count, only] = process.argv.slice(2);
const say = (line) => process.stdout.write(JSON.stringify(line) + "\n");
if (mode === "refused") {
  await refusedSocketIo(io, { base, token, pattern }, say);
} else {
  const transports = only === "websocket" ? ["websocket"] : undefined;
  await followSocketIo(io, { base, token, pattern, from: from === "-" ? null : from, count: Number(count), transports }, say);
}
process.exit(0);
