//! `/hubs/events`: the gateway as an ASP.NET Core SignalR hub, so that SignalR's official
//! clients (`@microsoft/signalr`) connect to it unchanged.
//!
//! It speaks the SignalR transport protocol (negotiate, then a WebSocket) and the JSON hub
//! protocol, version 1: every message is a JSON object ended by the record separator
//! `0x1E`, in text frames. The hub has two methods:
//!
//! - `StreamEvents(patterns, fromPosition)`, a streaming method: one stream item per event
//!   whose type matches one of `patterns` (a pattern or an array of them) and the bearer's
//!   grants, each item the CloudEvent JSON object with its position in `heraldposition`,
//!   after `fromPosition` (a position, or `null` for live events only) — the same feed as
//!   `GET /events/stream`;
//! - `Publish(event)`, completing with the stored event's position, or with the error.
//!
//! `docs/protocol.md` §3.12 is the specification.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::{SinkExt, StreamExt};
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

/// `POST /hubs/events/negotiate`: a connection id (and, from negotiate version 1 on, a
/// connection token) and the transports. The bearer's token is checked here already, so a
/// refused client fails before it opens a socket.
pub(crate) async fn negotiate(_access: Access, Query(query): Query<NegotiateQuery>) -> Response {
    let version = query.negotiate_version.as_deref().and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
    let id = random_id();
    let transports = json!([{ "transport": "WebSockets", "transferFormats": ["Text"] }]);
    let body = if version >= 1 {
        json!({ "connectionId": id, "connectionToken": random_id(), "negotiateVersion": 1, "availableTransports": transports })
    } else {
        json!({ "connectionId": id, "negotiateVersion": 0, "availableTransports": transports })
    };
    Json(body).into_response()
}

/// `GET /hubs/events` (`?id=` the connection token): the WebSocket transport.
pub(crate) async fn connect(
    State(state): State<AppState>,
    access: Access,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, AppError> {
    let upgrade = upgrade.map_err(|_| {
        AppError::BadRequest("this hub's transport is WebSockets: connect with a WebSocket upgrade".into())
    })?;
    let limit = state.max_body_bytes;
    Ok(upgrade
        .max_message_size(limit)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| session(state, access, socket)))
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

async fn session(state: AppState, access: Access, socket: WebSocket) {
    let _connection = state.metrics.connection();
    let (mut sink, mut source) = socket.split();
    let mut messages = Messages::default();

    // the handshake: `{"protocol":"json","version":1}`, answered `{}` or `{"error":…}`
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        loop {
            match source.next().await {
                Some(Ok(Message::Text(frame))) => {
                    if let Some(first) = messages.push(&frame).into_iter().next() {
                        return Some(first);
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                _ => return None,
            }
        }
    })
    .await;
    let request = match handshake {
        Ok(Some(request)) => request,
        Ok(None) => return,
        Err(_) => return close(&mut sink, 1002, "no handshake").await,
    };
    if let Err(error) = check_handshake(&request) {
        let _ = sink.send(text(framed(&json!({ "error": error })))).await;
        return close(&mut sink, 1002, "bad handshake").await;
    }
    if sink.send(text(format!("{{}}{SEPARATOR}"))).await.is_err() {
        return;
    }
    // messages that arrived in the handshake's frame after it
    let early: Vec<String> = messages.push("");

    let (out_tx, mut out_rx) = mpsc::channel::<Out>(OUTGOING);
    let mut streams: HashMap<String, Stream> = HashMap::new();
    let mut shutdown = state.shutdown.clone();
    let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = tokio::time::Instant::now();
    let mut backlog = early;
    loop {
        let frame = if backlog.is_empty() {
            tokio::select! {
                biased;
                () = async { let _ = shutdown.wait_for(|stop| *stop).await; } => {
                    let _ = sink.send(text(close_message("herald.drain: the gateway is shutting down; resume from your last position", true))).await;
                    return close(&mut sink, 1001, "draining").await;
                }
                out = out_rx.recv() => match out {
                    Some(Out::Message(message)) => { if sink.send(text(message)).await.is_err() { return; } continue; }
                    Some(Out::Close(error)) => {
                        let _ = sink.send(text(close_message(&error, true))).await;
                        return close(&mut sink, 1008, "too slow").await;
                    }
                    None => continue,
                },
                _ = pings.tick() => {
                    if last_heard.elapsed() > CLIENT_TIMEOUT {
                        let _ = sink.send(text(close_message("the client sent nothing for 30 s", true))).await;
                        return close(&mut sink, 1001, "timeout").await;
                    }
                    if sink.send(text(framed(&json!({ "type": kind::PING })))).await.is_err() { return; }
                    continue;
                }
                message = source.next() => match message {
                    Some(Ok(Message::Text(frame))) => {
                        last_heard = tokio::time::Instant::now();
                        frame
                    }
                    Some(Ok(Message::Binary(_))) => {
                        let _ = sink.send(text(close_message("the JSON hub protocol is sent in text frames", false))).await;
                        return close(&mut sink, 1003, "binary frame").await;
                    }
                    Some(Err(error)) if crate::ws::too_big(&error) => {
                        let error = format!("a message is at most {} bytes", state.max_body_bytes);
                        let _ = sink.send(text(close_message(&error, false))).await;
                        return close(&mut sink, 1009, "message too big").await;
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => { last_heard = tokio::time::Instant::now(); continue; }
                },
            }
        } else {
            Utf8Bytes::from("")
        };
        let mut batch = std::mem::take(&mut backlog);
        batch.extend(messages.push(frame.as_str()));
        for message in batch {
            match handle(&state, &access, &message, &mut streams, &out_tx).await {
                Ok(Some(reply)) => {
                    if sink.send(text(reply)).await.is_err() {
                        return;
                    }
                }
                Ok(None) => {}
                Err(Ending::ClientClosed) => return,
                Err(Ending::Protocol(error)) => {
                    let _ = sink.send(text(close_message(&error, false))).await;
                    return close(&mut sink, 1002, "protocol error").await;
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
    let bytes = serde_json::to_vec(&event).map_err(|e| e.to_string())?;
    let event = CloudEvent::from_json(&bytes).map_err(|e| AppError::from(e).to_string())?;
    access.check_publish(&event.ty).map_err(|e| e.to_string())?;
    let position = crate::ingest::store(state, vec![event], bytes.len()).await.map_err(|e| e.to_string())?;
    Ok(Value::String(position[0].to_string()))
}

/// Starts `StreamEvents(patterns, fromPosition)` for invocation `id`.
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
        Some(Value::String(p)) => Some(p.parse::<Position>().map_err(|e| AppError::from(e).to_string())?),
        Some(_) => return Err("StreamEvents: fromPosition is a position string or null".into()),
    };
    if arguments.next().is_some() {
        return Err("StreamEvents takes two arguments: patterns and fromPosition".into());
    }
    let patterns = patterns
        .iter()
        .map(|p| p.parse::<TopicPattern>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AppError::from(e).to_string())?;
    let grants = access.check_subscribe(&patterns).map_err(|e| e.to_string())?;
    let filter = Filter { patterns, grants, subject: None };
    let mut feed = Feed::open(state, filter, resume).await.map_err(|e| e.to_string())?;
    let out = out.clone();
    let id_json = Value::String(id.to_owned()).to_string();
    let task = tokio::spawn(async move {
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

fn text(message: String) -> Message {
    Message::Text(message.into())
}

async fn close<S: futures_util::Sink<Message> + Unpin>(sink: &mut S, code: u16, reason: &'static str) {
    let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))).await;
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
