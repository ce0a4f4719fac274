// What a front end of herald on SignalR, Socket.IO or gRPC-web does, written once for
// Node (signalr.mjs, socketio.mjs, grpc.mjs) and for Chromium (signalr.html,
// socketio.html): the official clients' modules are passed in either way. Each `say`s one object per
// step: {subscribed}, {published}, {received: n} every 250, {reconnected: n}, and last
// {done: {received, repeated, outOfOrder, reconnects}}.

const sequenceOf = (position) => Number(position.split("-")[1]);

/// What a test page does: runs `follow` (one of the follow functions below) with `lib`
/// and the page's query (`?gateway=BASE&token=T&pattern=P&from=POSITION&count=N`),
/// appending each line it says to `window.heraldTest.lines`.
export function fromPage(follow, lib) {
  const query = new URLSearchParams(location.search);
  const lines = [];
  window.heraldTest = { lines };
  return follow(lib, {
    base: query.get("gateway"),
    token: query.get("token") ?? "",
    pattern: query.get("pattern"),
    from: query.get("from"),
    count: Number(query.get("count")),
  }, (line) => lines.push(line));
}

/// The one event each client publishes itself, of type `sig.published`.
const PUBLISHED = {
  specversion: "1.0",
  source: "/test/client",
  type: "sig.published",
  datacontenttype: "application/json",
};

/// Counts what arrives: repeats by id, order by position; resolves `finished` once
/// `count` events came. `last` is the position to resume after.
function tracker(from, count, say) {
  const received = [];
  const ids = new Set();
  let repeated = 0;
  let outOfOrder = 0;
  let resolve;
  const t = {
    last: from,
    done: false,
    finished: new Promise((r) => { resolve = r; }),
    take(event) {
      const position = event.heraldposition;
      if (ids.has(event.id)) repeated += 1;
      if (t.last !== null && sequenceOf(position) <= sequenceOf(t.last)) outOfOrder += 1;
      ids.add(event.id);
      t.last = position;
      received.push({ id: event.id, position });
      if (received.length % 250 === 0) say({ received: received.length });
      if (received.length === count) {
        t.done = true;
        resolve();
      }
    },
    summary: (reconnects) => ({ received, repeated, outOfOrder, reconnects }),
  };
  return t;
}

/// A hub connection to the gateway at `base` that reconnects every 200 ms, for as long as
/// the test lets it; `transport` "sse" keeps it to Server-Sent Events, else SignalR picks
/// (WebSockets).
function hub(signalR, base, token, transport) {
  const options = { accessTokenFactory: () => token };
  if (transport === "sse") options.transport = signalR.HttpTransportType.ServerSentEvents;
  return new signalR.HubConnectionBuilder()
    .withUrl(`${base}/hubs/events`, options)
    .withAutomaticReconnect({ nextRetryDelayInMilliseconds: () => 200 })
    .configureLogging(signalR.LogLevel.None)
    .build();
}

/// SignalR: streams `pattern` after position `from` (null: live only) with
/// `StreamEvents`, publishes one event with `Publish`, and goes on across reconnects, each
/// time from the last position received, until `count` events came.
export async function followSignalR(signalR, { base, token, pattern, from, count, transport }, say) {
  const connection = hub(signalR, base, token, transport);
  const t = tracker(from, count, say);
  let reconnects = 0;
  let stream = null;
  const subscribe = () => {
    // the connection going ends the stream: onreconnected subscribes again
    stream = connection.stream("StreamEvents", [pattern], t.last).subscribe({ next: t.take, error() {}, complete() {} });
  };
  connection.onreconnected(() => {
    reconnects += 1;
    say({ reconnected: reconnects });
    subscribe();
  });
  await connection.start();
  subscribe();
  say({ subscribed: true });
  const published = await connection.invoke("Publish", { ...PUBLISHED, id: "signalr-published-1" });
  say({ published });
  await t.finished;
  say({ done: t.summary(reconnects) });
  stream?.dispose();
  await connection.stop();
}

/// SignalR with a token that may not stream `pattern`: {refused: error} when the hub
/// refuses the stream, {items: n} a second later, or {startFailed: error} when the client
/// cannot even connect.
export async function refusedSignalR(signalR, { base, token, pattern }, say) {
  const connection = hub(signalR, base, token);
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

/// A socket on the gateway's `/herald` namespace that reconnects every 200 ms;
/// `transports` as socket.io-client takes them (default: polling, then the upgrade).
function herald(io, base, token, transports) {
  return io(`${base}/herald`, {
    auth: { token },
    transports: transports ?? ["polling", "websocket"],
    reconnectionDelay: 200,
    reconnectionDelayMax: 200,
  });
}

/// Socket.IO: subscribes to `pattern` after `from` with the `subscribe` ack, publishes one
/// event with the `publish` ack, and on every reconnect subscribes again from the last
/// position received, until `count` events came.
export async function followSocketIo(io, { base, token, pattern, from, count, transports }, say) {
  const socket = herald(io, base, token, transports);
  const t = tracker(from, count, say);
  let connects = 0;
  socket.on("event", t.take);
  socket.on("connect", async () => {
    connects += 1;
    if (connects > 1) say({ reconnected: connects - 1 });
    const answer = await socket.emitWithAck("subscribe", { topics: [pattern], from: t.last });
    if (answer.error) return say({ failed: answer.error.detail });
    if (connects > 1) return;
    say({ subscribed: true, transport: socket.io.engine.transport.name });
    const published = await socket.emitWithAck("publish", { ...PUBLISHED, id: "socketio-published-1" });
    say({ published: published.position ?? published });
  });
  await t.finished;
  say({ done: { ...t.summary(connects - 1), transport: socket.io.engine.transport.name } });
  socket.disconnect();
}

/// Socket.IO with a token that may not subscribe to `pattern`: {refused: error} from the
/// ack and {items: n} a second later, or {connectFailed: error} when the namespace
/// refuses the connection.
export async function refusedSocketIo(io, { base, token, pattern }, say) {
  const socket = herald(io, base, token);
  socket.io.reconnection(false);
  let items = 0;
  socket.on("event", () => { items += 1; });
  const connected = await new Promise((resolve) => {
    socket.on("connect", () => resolve(true));
    socket.on("connect_error", (error) => { say({ connectFailed: String(error.message ?? error) }); resolve(false); });
  });
  if (!connected) return;
  const answer = await socket.emitWithAck("subscribe", { topics: [pattern] });
  say({ refused: answer.error?.detail ?? null });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  say({ items });
  socket.disconnect();
}

/// gRPC-web with Connect (`lib`: `createClient` of @connectrpc/connect,
/// `createGrpcWebTransport` of @connectrpc/connect-web, and the `Herald` service that
/// protoc-gen-es generated): `Subscribe` from `from`, one `Publish`, and after the stream
/// fails (the gateway went) `Subscribe` again from the last position, every 200 ms,
/// until `count` events came.
export async function followGrpc(lib, { base, token, pattern, from, count }, say) {
  const client = grpcClient(lib, base, token);
  const t = tracker(from, count, say);
  let reconnects = 0;
  let first = true;
  while (!t.done) {
    try {
      const stream = client.subscribe({ patterns: [pattern], fromPosition: t.last ?? "" });
      if (first) {
        first = false;
        say({ subscribed: true });
        client.publish({ event: grpcEvent("grpc-published-1", { by: "grpc" }) })
          .then((answer) => say({ published: answer.position }), (error) => say({ failed: String(error.message) }));
      }
      for await (const event of stream) {
        t.take({ id: event.id, heraldposition: event.attributes.heraldposition?.attr.value });
        if (t.done) break;
      }
    } catch {
      // the stream ended with the connection: subscribe again from `t.last`
    }
    if (t.done) break;
    reconnects += 1;
    say({ reconnected: reconnects });
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  say({ done: t.summary(reconnects) });
}

/// gRPC-web with a token that may not subscribe to `pattern`: {refused: message, code}
/// when the gateway ends the stream with an error, {items: n} otherwise.
export async function refusedGrpc(lib, { base, token, pattern }, say) {
  const client = grpcClient(lib, base, token);
  let items = 0;
  try {
    for await (const _ of client.subscribe({ patterns: [pattern], fromPosition: "" })) items += 1;
  } catch (error) {
    say({ refused: String(error.message), code: error.code });
  }
  say({ items });
}

function grpcClient(lib, base, token) {
  const interceptors = token ? [(next) => (request) => { request.header.set("authorization", `Bearer ${token}`); return next(request); }] : [];
  return lib.createClient(lib.Herald, lib.createGrpcWebTransport({ baseUrl: base, interceptors }));
}

/// A CloudEvent in its protobuf format (io.cloudevents.v1), JSON data as `text_data`.
function grpcEvent(id, data) {
  return {
    id,
    source: PUBLISHED.source,
    specVersion: "1.0",
    type: PUBLISHED.type,
    attributes: { datacontenttype: { attr: { case: "ceString", value: "application/json" } } },
    data: { case: "textData", value: JSON.stringify(data) },
  };
}
