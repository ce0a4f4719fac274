//! `/hubs/events`: the gateway as an ASP.NET Core SignalR hub, so that SignalR's official
//! clients (`@microsoft/signalr`) connect to it unchanged.
//!
//! It speaks the SignalR transport protocol (negotiate, then a WebSocket, or Server-Sent
//! Events out with `POST`s in) and the JSON hub protocol, version 1: every message is a
//! JSON object ended by the record separator `0x1E`. The hub has two methods:
//!
//! - `StreamEvents(patterns, fromPosition[, head])`, a streaming method: one stream item
//!   per event whose type matches one of `patterns` (a pattern or an array of them) and the
//!   bearer's grants, each item the CloudEvent JSON object with its position in
//!   `heraldposition`, after `fromPosition` (a position, or `null` for live events only) —
//!   the same feed as `GET /events/stream`; with `head` `true`, a `herald.subscribed`
//!   item naming the position the stream goes on from comes first;
//! - `Publish(event)`, completing with the stored event's position, or with the error.
//!
//! `docs/protocol.md` §3.12 is the specification.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::{SinkExt, StreamExt};
use herald_protocol::control::Subscribed;
use herald_protocol::{CloudEvent, Position, TopicPattern};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::auth::Access;
use crate::feed::{Feed, Filter, Item};
use crate::{AppError, AppState};

/// Where the hub is served; its negotiate endpoint is this path followed by `/negotiate`.
pub const HUB_PATH: &str = "/hubs/events";
/// Ends every message of the JSON hub protocol.
const SEPARATOR: char = '\u{1e}';
/// The server pings this often (SignalR's default `KeepAliveInterval`).
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// A client heard from for this long is gone (SignalR's default `ClientTimeoutInterval`;
/// its clients ping every 15 s).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// The handshake must arrive within this (SignalR's default `HandshakeTimeout`).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// Messages queued for one connection before its streams wait (and, if the client stays
/// behind, fall behind the live feed and end the connection as too slow).
const OUTGOING: usize = 256;

/// Queued messages written to the client at once, at most.
const BATCH: usize = 64;

/// The hub's message types (JSON hub protocol).
mod kind {
    pub const INVOCATION: u64 = 1;
    pub const STREAM_ITEM: u64 = 2;
    pub const COMPLETION: u64 = 3;
    pub const STREAM_INVOCATION: u64 = 4;
    pub const CANCEL_INVOCATION: u64 = 5;
    pub const PING: u64 = 6;
    pub const CLOSE: u64 = 7;
}

#[derive(Deserialize)]
pub(crate) struct NegotiateQuery {
    #[serde(rename = "negotiateVersion", default)]
    negotiate_version: Option<String>,
}

/// How long a negotiated connection token waits for its transport.
const UNCLAIMED: Duration = Duration::from_secs(60);
/// Negotiated connections not yet claimed, at most (beyond: `503`).
const MAX_UNCLAIMED: usize = 100_000;

/// The hub's connections by connection token: negotiated and waiting for a transport, or
/// served over Server-Sent Events (whose client sends its messages by `POST`).
#[derive(Default)]
pub(crate) struct Connections {
    by_token: std::sync::Mutex<HashMap<String, Connection>>,
}

enum Connection {
    Negotiated(std::time::Instant),
    Sse(mpsc::Sender<Input>),
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Connection>> {
        self.by_token.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Removes a Server-Sent Events connection's token when its session ends.
struct Registered {
    connections: std::sync::Arc<Connections>,
    token: String,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.connections.lock().remove(&self.token);
    }
}

#[derive(Deserialize)]
pub(crate) struct ConnectionQuery {
    #[serde(default)]
    id: Option<String>,
}

/// `POST /hubs/events/negotiate`: a connection id (and, from negotiate version 1 on, a
/// connection token) and the transports. The bearer's token is checked here already, so a
/// refused client fails before it opens a connection.
pub(crate) async fn negotiate(
    State(state): State<AppState>,
    _access: Access,
    Query(query): Query<NegotiateQuery>,
) -> Result<Response, AppError> {
    let version = query.negotiate_version.as_deref().and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
    let id = random_id();
    let token = if version >= 1 { random_id() } else { id.clone() };
    {
        let mut connections = state.hub_connections.lock();
        connections.retain(|_, c| !matches!(c, Connection::Negotiated(at) if at.elapsed() > UNCLAIMED));
        if connections.len() >= MAX_UNCLAIMED {
            return Err(AppError::Busy("too many SignalR connections are being negotiated; try again".into()));
        }
        connections.insert(token.clone(), Connection::Negotiated(std::time::Instant::now()));
    }
    let transports = json!([
        { "transport": "WebSockets", "transferFormats": ["Text"] },
        { "transport": "ServerSentEvents", "transferFormats": ["Text"] },
    ]);
    let body = if version >= 1 {
        json!({ "connectionId": id, "connectionToken": token, "negotiateVersion": 1, "availableTransports": transports })
    } else {
        json!({ "connectionId": id, "negotiateVersion": 0, "availableTransports": transports })
    };
    Ok(Json(body).into_response())
}

/// `GET /hubs/events` (`?id=` the connection token): the WebSocket transport, or with
/// `Accept: text/event-stream` the Server-Sent Events one.
pub(crate) async fn connect(
    State(state): State<AppState>,
    access: Access,
    Query(query): Query<ConnectionQuery>,
    headers: axum::http::HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, AppError> {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(_) => {
            let wants_sse = headers
                .get(axum::http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/event-stream"));
            if !wants_sse {
                return Err(AppError::BadRequest(
                    "connect with a WebSocket upgrade, or with `Accept: text/event-stream` for Server-Sent Events".into(),
                ));
            }
            return sse(state, access, query.id);
        }
    };
    if let Some(token) = &query.id {
        state.hub_connections.lock().remove(token);
    }
    let limit = state.max_body_bytes;
    Ok(upgrade
        .max_message_size(limit)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| {
            let (sink, source) = socket.split();
            let input = source.map(socket_input).take_while(|input| std::future::ready(input.is_some())).filter_map(std::future::ready);
            session(state, access, Box::pin(input), sink)
        }))
}

/// The Server-Sent Events transport of negotiated connection `token`: hub messages go
/// out as `data:` lines, and come in by `POST /hubs/events?id=TOKEN`.
fn sse(state: AppState, access: Access, token: Option<String>) -> Result<Response, AppError> {
    let token = token.ok_or_else(|| AppError::BadRequest("Server-Sent Events need `?id=` the connection token of negotiate".into()))?;
    let (input_tx, input_rx) = mpsc::channel::<Input>(16);
    {
        let mut connections = state.hub_connections.lock();
        match connections.get(&token) {
            Some(Connection::Negotiated(_)) => {
                connections.insert(token.clone(), Connection::Sse(input_tx));
            }
            Some(Connection::Sse(_)) => {
                return Err(AppError::Conflict("this connection already has its Server-Sent Events stream".into()))
            }
            None => return Err(AppError::NoSuch("no such connection: negotiate first".into())),
        }
    }
    let (body_tx, body_rx) = mpsc::channel::<Result<bytes::Bytes, std::convert::Infallible>>(OUTGOING);
    let registered = Registered { connections: state.hub_connections.clone(), token };
    tokio::spawn(async move {
        let _registered = registered;
        let input = stream_of(input_rx);
        session(state, access, input, SseOutput(body_tx)).await;
    });
    let body = axum::body::Body::from_stream(stream_of(body_rx));
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/event-stream"),
            (axum::http::header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response())
}

/// `POST /hubs/events?id=TOKEN`: the messages of a Server-Sent Events connection's client.
pub(crate) async fn send(
    State(state): State<AppState>,
    Query(query): Query<ConnectionQuery>,
    body: String,
) -> Result<Response, AppError> {
    let sender = match query.id.as_deref().and_then(|token| match state.hub_connections.lock().get(token) {
        Some(Connection::Sse(sender)) => Some(sender.clone()),
        _ => None,
    }) {
        Some(sender) => sender,
        None => return Err(AppError::NoSuch("no such Server-Sent Events connection".into())),
    };
    sender
        .send(Input::Text(body))
        .await
        .map_err(|_| AppError::NoSuch("the connection has ended".into()))?;
    Ok(axum::http::StatusCode::OK.into_response())
}

/// A channel's receiving end as a stream.
fn stream_of<T: Send + 'static>(mut rx: mpsc::Receiver<T>) -> impl futures_util::Stream<Item = T> + Unpin + Send {
    Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

/// A Server-Sent Events body: each hub message one event.
struct SseOutput(mpsc::Sender<Result<bytes::Bytes, std::convert::Infallible>>);

impl Output for SseOutput {
    async fn send(&mut self, messages: String) -> bool {
        self.0.send(Ok(bytes::Bytes::from(format!("data: {messages}\n\n")))).await.is_ok()
    }

    /// The body ends when the session drops this.
    async fn close(&mut self, _code: u16, _reason: impl Into<Utf8Bytes>) {}

    async fn finish(&mut self) {}
}

/// One message from a client. Fields a message type does not use are ignored.
#[derive(Deserialize)]
struct Incoming {
    #[serde(rename = "type")]
    kind: u64,
    #[serde(rename = "invocationId", default)]
    invocation_id: Option<String>,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    arguments: Vec<Value>,
    #[serde(rename = "streamIds", default)]
    stream_ids: Option<Vec<String>>,
}

/// What the stream tasks hand to the connection's writer.
enum Out {
    Message(String),
    /// Send a Close message with this error (reconnecting allowed) and end the connection.
    Close(String),
}

/// A stream's task, stopped when the handle is dropped.
struct Stream(JoinHandle<()>);

impl Drop for Stream {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Text frames cut into hub messages at each separator; a message may span frames.
#[derive(Default)]
struct Messages {
    pending: String,
}

impl Messages {
    fn push(&mut self, frame: &str) -> Vec<String> {
        self.pending.push_str(frame);
        let mut messages = Vec::new();
        while let Some(end) = self.pending.find(SEPARATOR) {
            messages.push(self.pending[..end].to_owned());
            self.pending.drain(..end + SEPARATOR.len_utf8());
        }
        messages
    }
}

/// What a transport brings in.
enum Input {
    /// A text frame (WebSocket) or a POST body (Server-Sent Events): hub messages.
    Text(String),
    /// A binary frame: this hub speaks the JSON protocol only.
    Binary,
    /// A message over the size limit.
    TooBig,
    /// A frame that breaks the WebSocket protocol: the connection fails with this Close
    /// frame (RFC 6455 §7.1.7, [`crate::ws::violation`]).
    Violation(CloseFrame),
    /// A WebSocket ping or pong: the client is alive.
    Alive,
    /// The client's WebSocket Close frame.
    Closed,
}

/// How a session writes to its client: a WebSocket, or a Server-Sent Events body.
trait Output {
    /// Sends one or more hub messages; `false` once the client is gone.
    async fn send(&mut self, messages: String) -> bool;
    /// Ends the connection (`code`, `reason`: a WebSocket's Close frame).
    async fn close(&mut self, code: u16, reason: impl Into<Utf8Bytes>);
    /// Ends the connection the client closed: a WebSocket answers its Close frame
    /// (RFC 6455 §5.5.1).
    async fn finish(&mut self);
}

impl<S: futures_util::Sink<Message> + Unpin> Output for S {
    async fn send(&mut self, messages: String) -> bool {
        SinkExt::send(self, Message::Text(messages.into())).await.is_ok()
    }

    async fn close(&mut self, code: u16, reason: impl Into<Utf8Bytes>) {
        let _ = SinkExt::send(self, Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
    }

    async fn finish(&mut self) {
        // the library queued the answer to the client's Close frame: flushed here
        let _ = SinkExt::close(self).await;
    }
}

/// The WebSocket's frames as [`Input`]; `None` once it closed or failed.
fn socket_input(message: Result<Message, axum::Error>) -> Option<Input> {
    match message {
        Ok(Message::Text(frame)) => Some(Input::Text(frame.as_str().to_owned())),
        Ok(Message::Binary(_)) => Some(Input::Binary),
        Ok(Message::Ping(_) | Message::Pong(_)) => Some(Input::Alive),
        Err(error) if crate::ws::too_big(&error) => Some(Input::TooBig),
        Err(error) => crate::ws::violation(&error).map(Input::Violation),
        Ok(Message::Close(_)) => Some(Input::Closed),
    }
}

async fn session(
    state: AppState,
    access: Access,
    mut input: impl futures_util::Stream<Item = Input> + Unpin,
    mut output: impl Output,
) {
    let _connection = state.metrics.connection(crate::metrics::Transport::SignalR);
    let mut messages = Messages::default();

    // the handshake: `{"protocol":"json","version":1}`, answered `{}` or `{"error":…}`
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        loop {
            match input.next().await {
                Some(Input::Text(frame)) => {
                    if let Some(first) = messages.push(&frame).into_iter().next() {
                        return Some(first);
                    }
                }
                Some(Input::Alive) => {}
                _ => return None,
            }
        }
    })
    .await;
    let request = match handshake {
        Ok(Some(request)) => request,
        Ok(None) => return,
        Err(_) => return output.close(1002, "no handshake").await,
    };
    if let Err(error) = check_handshake(&request) {
        output.send(framed(&json!({ "error": error }))).await;
        return output.close(1002, "bad handshake").await;
    }
    if !output.send(format!("{{}}{SEPARATOR}")).await {
        return;
    }
    // messages that came after the handshake in the same frame
    let mut batch: Vec<String> = messages.push("");

    let (out_tx, mut out_rx) = mpsc::channel::<Out>(OUTGOING);
    let mut streams: HashMap<String, Stream> = HashMap::new();
    let mut shutdown = state.shutdown.clone();
    let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = tokio::time::Instant::now();
    loop {
        for message in std::mem::take(&mut batch) {
            match handle(&state, &access, &message, &mut streams, &out_tx).await {
                Ok(Some(reply)) => {
                    if !output.send(reply).await {
                        return;
                    }
                }
                Ok(None) => {}
                Err(Ending::ClientClosed) => return,
                Err(Ending::Protocol(error)) => {
                    output.send(close_message(&error, false)).await;
                    return output.close(1002, "protocol error").await;
                }
            }
        }
        tokio::select! {
            biased;
            () = async { let _ = shutdown.wait_for(|stop| *stop).await; } => {
                output.send(close_message("herald.drain: the gateway is shutting down; resume from your last position", true)).await;
                return output.close(1001, "draining").await;
            }
            out = out_rx.recv() => {
                // what else is ready goes in the same frame (or event): one write for many
                // messages, each ended by its separator
                let mut batch = String::new();
                let mut next = out;
                let mut closing = None;
                let mut taken = 0;
                loop {
                    match next {
                        Some(Out::Message(message)) => batch.push_str(&message),
                        Some(Out::Close(error)) => {
                            closing = Some(error);
                            break;
                        }
                        None => break,
                    }
                    taken += 1;
                    if taken == BATCH {
                        break;
                    }
                    next = out_rx.try_recv().ok();
                }
                if !batch.is_empty() && !output.send(batch).await {
                    return;
                }
                if let Some(error) = closing {
                    output.send(close_message(&error, true)).await;
                    return output.close(1008, "too slow").await;
                }
            }
            _ = pings.tick() => {
                if last_heard.elapsed() > CLIENT_TIMEOUT {
                    output.send(close_message("the client sent nothing for 30 s", true)).await;
                    return output.close(1001, "timeout").await;
                }
                if !output.send(framed(&json!({ "type": kind::PING }))).await { return; }
            }
            message = input.next() => {
                last_heard = tokio::time::Instant::now();
                match message {
                    Some(Input::Text(frame)) => batch = messages.push(&frame),
                    Some(Input::Alive) => {}
                    Some(Input::Binary) => {
                        output.send(close_message("the JSON hub protocol is sent in text frames", false)).await;
                        return output.close(1003, "binary frame").await;
                    }
                    Some(Input::Closed) => return output.finish().await,
                    Some(Input::Violation(close)) => return output.close(close.code, close.reason).await,
                    Some(Input::TooBig) => {
                        let error = format!("a message is at most {} bytes", state.max_body_bytes);
                        output.send(close_message(&error, false)).await;
                        return output.close(1009, "message too big").await;
                    }
                    None => return,
                }
            }
        }
    }
}

/// Why a connection ends while handling a message.
enum Ending {
    /// The client sent a Close message.
    ClientClosed,
    /// The client broke the protocol: the Close message's error.
    Protocol(String),
}

fn check_handshake(request: &str) -> Result<(), String> {
    #[derive(Deserialize)]
    struct Handshake {
        protocol: String,
        version: u64,
    }
    let handshake: Handshake =
        serde_json::from_str(request).map_err(|e| format!("the handshake request is not understood: {e}"))?;
    if handshake.protocol != "json" {
        return Err(format!("The protocol '{}' is not supported: this hub speaks `json`.", handshake.protocol));
    }
    if handshake.version != 1 {
        return Err(format!(
            "The server does not support version {} of the 'json' protocol: it speaks version 1.",
            handshake.version
        ));
    }
    Ok(())
}

/// Handles one hub message; the reply to send now, if any.
async fn handle(
    state: &AppState,
    access: &Access,
    message: &str,
    streams: &mut HashMap<String, Stream>,
    out: &mpsc::Sender<Out>,
) -> Result<Option<String>, Ending> {
    let message: Incoming =
        serde_json::from_str(message).map_err(|e| Ending::Protocol(format!("a message is not understood: {e}")))?;
    // a stream that ended on its own leaves its handle behind: drop those
    streams.retain(|_, stream| !stream.0.is_finished());
    match message.kind {
        kind::INVOCATION => {
            let result = match message.stream_ids {
                Some(ids) if !ids.is_empty() => Err("this hub's methods take no client streams".to_owned()),
                _ => invoke(state, access, message.target.as_deref(), message.arguments).await,
            };
            // an invocation without an id wants no answer
            Ok(message.invocation_id.map(|id| completion(&id, result)))
        }
        kind::STREAM_INVOCATION => {
            let Some(id) = message.invocation_id else {
                return Err(Ending::Protocol("a StreamInvocation needs an invocationId".into()));
            };
            if streams.contains_key(&id) {
                return Ok(Some(completion(&id, Err(format!("the invocation id `{id}` is already in use")))));
            }
            match message.target.as_deref() {
                Some("StreamEvents") => match stream_events(state, access, &id, message.arguments, out).await {
                    Ok(stream) => {
                        streams.insert(id, stream);
                        Ok(None)
                    }
                    Err(error) => Ok(Some(completion(&id, Err(error)))),
                },
                other => Ok(Some(completion(&id, Err(unknown_method(other))))),
            }
        }
        kind::CANCEL_INVOCATION => {
            if let Some(id) = message.invocation_id {
                streams.remove(&id);
            }
            Ok(None)
        }
        kind::PING => Ok(None),
        kind::CLOSE => Err(Ending::ClientClosed),
        kind::STREAM_ITEM | kind::COMPLETION => {
            Err(Ending::Protocol("this hub's methods take no client streams (StreamItem, Completion)".into()))
        }
        // message types of later protocol versions (stateful reconnect's Ack, Sequence)
        // are sent only when negotiated, which this hub never does: ignore them
        _ => Ok(None),
    }
}

fn unknown_method(target: Option<&str>) -> String {
    format!(
        "Failed to invoke '{}': the method does not exist (this hub has StreamEvents and Publish).",
        target.unwrap_or("")
    )
}

/// Runs a non-streaming hub method: `Publish(event)`, whose result is the position.
async fn invoke(state: &AppState, access: &Access, target: Option<&str>, arguments: Vec<Value>) -> Result<Value, String> {
    if target != Some("Publish") {
        return Err(unknown_method(target));
    }
    let [event] = <[Value; 1]>::try_from(arguments)
        .map_err(|args| format!("Publish takes one argument (a CloudEvent), not {}", args.len()))?;
    let bytes = serde_json::to_vec(&event).map_err(|e| hub_error(&AppError::BadRequest(e.to_string())))?;
    let event = CloudEvent::from_json(&bytes).map_err(|e| hub_error(&AppError::from(e)))?;
    access.check_publish(&event.ty).map_err(|e| hub_error(&e))?;
    let position = crate::ingest::store(state, vec![event], bytes.len(), "signalr").await.map_err(|e| hub_error(&e))?;
    Ok(Value::String(position[0].to_string()))
}

/// Starts `StreamEvents(patterns, fromPosition[, head])` for invocation `id`.
async fn stream_events(
    state: &AppState,
    access: &Access,
    id: &str,
    arguments: Vec<Value>,
    out: &mpsc::Sender<Out>,
) -> Result<Stream, String> {
    let mut arguments = arguments.into_iter();
    let patterns: Vec<String> = match arguments.next() {
        Some(Value::String(pattern)) => vec![pattern],
        Some(Value::Array(list)) if !list.is_empty() => list
            .into_iter()
            .map(|p| match p {
                Value::String(p) => Ok(p),
                _ => Err("StreamEvents: every pattern is a string".to_owned()),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err("StreamEvents(patterns, fromPosition): give a pattern or a non-empty array of them".into()),
    };
    let resume = match arguments.next() {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.is_empty() => None,
        Some(Value::String(p)) => Some(p.parse::<Position>().map_err(|e| hub_error(&AppError::from(e)))?),
        Some(_) => return Err("StreamEvents: fromPosition is a position string or null".into()),
    };
    let announce = match arguments.next() {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(_) => return Err("StreamEvents: head is true, false or null".into()),
    };
    if arguments.next().is_some() {
        return Err("StreamEvents takes at most three arguments: patterns, fromPosition and head".into());
    }
    let topic = patterns.join(" ");
    let patterns = patterns
        .iter()
        .map(|p| p.parse::<TopicPattern>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| hub_error(&AppError::from(e)))?;
    let grants = access.check_subscribe(&patterns).map_err(|e| hub_error(&e))?;
    let filter = Filter { patterns, grants, subject: None };
    let mut feed = Feed::open(state, filter, resume).await.map_err(|e| hub_error(&e))?;
    let out = out.clone();
    let id_json = Value::String(id.to_owned()).to_string();
    let first = announce.then(|| {
        let subscribed = crate::feed::message(Subscribed { topic, head: feed.head() });
        stream_item(&id_json, &serde_json::to_string(&subscribed).unwrap_or_default())
    });
    let task = tokio::spawn(async move {
        if let Some(first) = first {
            if out.send(Out::Message(first)).await.is_err() {
                return;
            }
        }
        while let Some(item) = feed.next().await {
            let message = match item {
                Item::Event(stored) => Out::Message(stream_item(&id_json, &stored.ws_frame())),
                Item::Reset { head, notice } => {
                    let notice = serde_json::to_string(&notice).unwrap_or_default();
                    Out::Message(stream_item(&id_json, &crate::store::with_position(&notice, head)))
                }
                Item::Drain(_) => Out::Close("herald.drain: the gateway is shutting down; resume from your last position".into()),
                Item::Slow(_) => Out::Close("herald.slow: the stream fell too far behind; resume from your last position".into()),
            };
            if out.send(message).await.is_err() {
                return;
            }
        }
    });
    Ok(Stream(task))
}

/// A hub error from what the HTTP routes would answer: `STATUS REASON: detail`
/// (`403 Forbidden: the token does not grant …`), so that a client can tell them apart.
fn hub_error(error: &AppError) -> String {
    let status = error.status();
    format!("{} {}: {error}", status.as_u16(), status.canonical_reason().unwrap_or(""))
}

/// A StreamItem of invocation `id_json` (the id as a JSON string) carrying `item` (JSON).
fn stream_item(id_json: &str, item: &str) -> String {
    format!("{{\"type\":{},\"invocationId\":{id_json},\"item\":{item}}}{SEPARATOR}", kind::STREAM_ITEM)
}

fn completion(id: &str, result: Result<Value, String>) -> String {
    framed(&match result {
        Ok(result) => json!({ "type": kind::COMPLETION, "invocationId": id, "result": result }),
        Err(error) => json!({ "type": kind::COMPLETION, "invocationId": id, "error": error }),
    })
}

fn close_message(error: &str, allow_reconnect: bool) -> String {
    framed(&json!({ "type": kind::CLOSE, "error": error, "allowReconnect": allow_reconnect }))
}

fn framed(message: &Value) -> String {
    format!("{message}{SEPARATOR}")
}

/// 22 URL-safe characters of randomness, as SignalR's connection ids are.
fn random_id() -> String {
    let mut bytes = [0u8; 16];
    let _ = getrandom::fill(&mut bytes);
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut n = u128::from_le_bytes(bytes);
    (0..22)
        .map(|_| {
            let c = ALPHABET[(n % 64) as usize] as char;
            n /= 64;
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_at_each_separator_across_frames() {
        let mut messages = Messages::default();
        assert_eq!(messages.push("{\"type\":6}\u{1e}{\"ty"), vec!["{\"type\":6}".to_owned()]);
        assert_eq!(messages.push("pe\":7}\u{1e}"), vec!["{\"type\":7}".to_owned()]);
        assert!(messages.push("").is_empty());
    }

    #[test]
    fn the_handshake_must_ask_for_json_version_1() {
        assert!(check_handshake(r#"{"protocol":"json","version":1}"#).is_ok());
        assert!(check_handshake(r#"{"protocol":"messagepack","version":1}"#).unwrap_err().contains("messagepack"));
        assert!(check_handshake(r#"{"protocol":"json","version":2}"#).is_err());
        assert!(check_handshake("not json").is_err());
    }

    #[test]
    fn a_stream_item_embeds_the_event_json() {
        let id = Value::String("7".into()).to_string();
        assert_eq!(stream_item(&id, r#"{"id":"a"}"#), "{\"type\":2,\"invocationId\":\"7\",\"item\":{\"id\":\"a\"}}\u{1e}");
        let done = completion("3", Ok(json!("1-9")));
        assert_eq!(done, "{\"invocationId\":\"3\",\"result\":\"1-9\",\"type\":3}\u{1e}");
        assert_eq!(random_id().len(), 22);
    }
}
