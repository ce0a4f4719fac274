// The official SignalR client (`@microsoft/signalr`) against the gateway's hub, driven by
// crates/herald-server/tests/signalr.rs. Prints one JSON object per line on stdout.
//
//   node signalr.mjs follow BASE TOKEN PATTERN FROM COUNT
//     streams PATTERN after position FROM ("-": live only), publishes one event of type
//     `sig.published`, keeps streaming across reconnects (resuming after the last position
//     received) until COUNT items came, then prints {"done": …} with what it saw.
//   node signalr.mjs refused BASE TOKEN PATTERN
//     streams PATTERN and prints {"refused": error} when the hub refuses the stream, or
//     {"items": n} a second later; {"startFailed": error} when it cannot even connect.
import * as signalR from "@microsoft/signalr";

const [mode, base, token, pattern, from, count] = process.argv.slice(2);
const say = (line) => process.stdout.write(JSON.stringify(line) + "\n");
const sequenceOf = (position) => Number(position.split("-")[1]);

const connection = new signalR.HubConnectionBuilder()
  .withUrl(`${base}/hubs/events`, { accessTokenFactory: () => token })
  // try again every 200 ms, for as long as the test lets it
  .withAutomaticReconnect({ nextRetryDelayInMilliseconds: () => 200 })
  .configureLogging(signalR.LogLevel.None)
  .build();

if (mode === "refused") {
  try {
    await connection.start();
  } catch (error) {
    say({ startFailed: String(error.message ?? error) });
    process.exit(0);
  }
  let items = 0;
  connection.stream("StreamEvents", [pattern], null).subscribe({
    next: () => { items += 1; },
    error: (error) => { say({ refused: String(error.message ?? error) }); finish(); },
    complete: () => { say({ completed: true }); finish(); },
  });
  setTimeout(() => { say({ items }); finish(); }, 1000);
  let finished = false;
  async function finish() {
    if (finished) return;
    finished = true;
    await connection.stop();
    process.exit(0);
  }
} else {
  const wanted = Number(count);
  let last = from === "-" ? null : from;
  const received = [];
  let repeated = 0;
  let outOfOrder = 0;
  const ids = new Set();
  let reconnects = 0;
  let stream = null;
  const subscribe = () => {
    stream = connection.stream("StreamEvents", [pattern], last).subscribe({
      next: (event) => {
        const position = event.heraldposition;
        if (ids.has(event.id)) repeated += 1;
        if (last !== null && sequenceOf(position) <= sequenceOf(last)) outOfOrder += 1;
        ids.add(event.id);
        last = position;
        received.push({ id: event.id, position });
        if (received.length % 250 === 0) say({ received: received.length });
        if (received.length === wanted) done();
      },
      // the connection went: onreconnected subscribes again from `last`
      error: () => {},
      complete: () => {},
    });
  };
  connection.onreconnected(() => {
    reconnects += 1;
    say({ reconnected: reconnects });
    subscribe();
  });
  await connection.start();
  subscribe();
  say({ subscribed: true });
  const published = await connection.invoke("Publish", {
    specversion: "1.0",
    id: "signalr-published-1",
    source: "/test/signalr",
    type: "sig.published",
    datacontenttype: "application/json",
    data: { by: "signalr" },
  });
  say({ published });
  async function done() {
    say({ done: { received, repeated, outOfOrder, reconnects } });
    stream?.dispose();
    await connection.stop();
    process.exit(0);
  }
}
