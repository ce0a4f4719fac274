// The official SignalR client (`@microsoft/signalr`) on Node against the gateway's hub,
// driven by crates/herald-server/tests/signalr.rs; prints one JSON object per line.
//
//   node signalr.mjs follow BASE TOKEN PATTERN FROM COUNT [sse]  (FROM "-": live only)
//   node signalr.mjs refused BASE TOKEN PATTERN
//
// follow.mjs says what each does.
import * as signalR from "@microsoft/signalr";
import { followSignalR, refusedSignalR } from "./follow.mjs";

const [mode, base, token, pattern, from, count, transport] = process.argv.slice(2);
const say = (line) => process.stdout.write(JSON.stringify(line) + "\n");
if (mode === "refused") {
  await refusedSignalR(signalR, { base, token, pattern }, say);
} else {
  await followSignalR(signalR, { base, token, pattern, from: from === "-" ? null : from, count: Number(count), transport }, say);
}
process.exit(0);
