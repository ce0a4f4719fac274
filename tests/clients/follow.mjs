// What a SignalR front end of herald does, written once for Node (signalr.mjs) and for
// Chromium (signalr.html): `signalR` is the official client's module either way.

const sequenceOf = (position) => Number(position.split("-")[1]);

/// A hub connection to the gateway at `base` that reconnects every 200 ms, for as long as
/// the test lets it; `transport` "sse" keeps it to Server-Sent Events, else SignalR picks
/// (WebSockets).
export function connect(signalR, base, token, transport) {
  const options = { accessTokenFactory: () => token };
  if (transport === "sse") options.transport = signalR.HttpTransportType.ServerSentEvents;
  return new signalR.HubConnectionBuilder()
    .withUrl(`${base}/hubs/events`, options)
    .withAutomaticReconnect({ nextRetryDelayInMilliseconds: () => 200 })
    .configureLogging(signalR.LogLevel.None)
    .build();
}

/// Streams `pattern` after position `from` (null: live only), publishes one event of type
/// `sig.published`, and goes on across reconnects, each time from the last position
/// received, until `count` items came. `say` hears {subscribed}, {published},
/// {received: n} every 250, {reconnected: n}, and last {done: …} with what was seen.
export async function follow(signalR, { base, token, pattern, from, count, transport }, say) {
  const connection = connect(signalR, base, token, transport);
  let last = from;
  const received = [];
  const ids = new Set();
  let repeated = 0;
  let outOfOrder = 0;
  let reconnects = 0;
  let stream = null;
  const finished = new Promise((resolve) => {
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
          if (received.length === count) resolve();
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
    connection.start().then(() => {
      subscribe();
      say({ subscribed: true });
      return connection.invoke("Publish", {
        specversion: "1.0",
        id: "signalr-published-1",
        source: "/test/signalr",
        type: "sig.published",
        datacontenttype: "application/json",
        data: { by: "signalr" },
      });
    }).then((published) => say({ published }), (error) => say({ failed: String(error.message ?? error) }));
  });
  await finished;
  say({ done: { received, repeated, outOfOrder, reconnects } });
  stream?.dispose();
  await connection.stop();
}

/// Streams `pattern` with a token that may not: says {refused: error} when the hub
/// refuses it, {items: n} a second later, or {startFailed: error} when the client cannot
/// even connect.
export async function refused(signalR, { base, token, pattern }, say) {
  const connection = connect(signalR, base, token);
  try {
    await connection.start();
  } catch (error) {
    say({ startFailed: String(error.message ?? error) });
    return;
  }
  let items = 0;
  await new Promise((resolve) => {
    connection.stream("StreamEvents", [pattern], null).subscribe({
      next: () => { items += 1; },
      error: (error) => { say({ refused: String(error.message ?? error) }); resolve(); },
      complete: () => { say({ completed: true }); resolve(); },
    });
    setTimeout(resolve, 1000);
  });
  say({ items });
  await connection.stop();
}
