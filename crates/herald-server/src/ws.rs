//! `GET /events/ws`: the WebSocket transport, subprotocol `cloudevents.json`.
//!
//! Every message, both ways, is one text frame holding one structured-mode CloudEvent
//! (the CloudEvents WebSocket binding). Besides events to publish, a client sends
//! `herald.subscribe` and `herald.unsubscribe` events; the gateway answers each message
//! with `herald.subscribed`, `herald.unsubscribed`, `herald.ack` or `herald.error`, and
//! delivers events with their position in the `heraldposition` extension attribute.
//! `docs/protocol.md` §3.3 is the specification.

use std::collections::HashMap;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use herald_protocol::control::{Ack, Refused, Subscribe, Subscribed, Unsubscribe, Unsubscribed};
use herald_protocol::{CloudEvent, Event, Position, TopicPattern};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::auth::Access;
use crate::feed::{message, Feed, Filter, Item};
use crate::{AppError, AppState};

/// The WebSocket subprotocol of the CloudEvents JSON format.
pub const SUBPROTOCOL: &str = "cloudevents.json";
/// Subscribe: data `{"topic": PATTERN | "topics": [PATTERN, …], "subject"?: S, "from"?: POSITION}`.
pub const SUBSCRIBE_TYPE: &str = <Subscribe as Event>::TYPE;
/// Unsubscribe: data `{"topic": PATTERN}`.
pub const UNSUBSCRIBE_TYPE: &str = <Unsubscribe as Event>::TYPE;
/// The extension attribute that carries a delivered event's position.
pub const POSITION_ATTRIBUTE: &str = herald_protocol::control::POSITION_ATTRIBUTE;

/// Outgoing frames a connection queues before its subscriptions wait (and, if the client
/// stays behind, fall behind the live feed and end with `herald.slow`).
const OUTGOING_FRAMES: usize = 256;

pub(crate) async fn get_ws(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, AppError> {
    let offered = headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == SUBPROTOCOL);
    if !offered {
        return Err(AppError::BadRequest(format!(
            "offer the `{SUBPROTOCOL}` subprotocol (Sec-WebSocket-Protocol)"
        )));
    }
    let limit = state.max_body_bytes;
    Ok(upgrade
        .protocols([SUBPROTOCOL])
        .max_message_size(limit)
        // small buffers: most connections are idle subscribers (the defaults are 128 KiB)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| session(state, access, socket)))
}

/// What subscription tasks hand to the connection's writer.
enum Out {
    Frame(String),
    /// A stored event's message, shared by every connection that sends it.
    Shared(Utf8Bytes),
    /// Send this and close with this code (1001 drain, 1008 too slow): the client
    /// resumes from its last position.
    Last(String, u16, &'static str),
}

/// A subscription's task, stopped when the handle is dropped.
struct Subscription(JoinHandle<()>);

impl Drop for Subscription {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn session(state: AppState, access: Access, socket: WebSocket) {
    let _connection = state.metrics.connection(crate::metrics::Transport::WebSocket);
    let (mut sink, mut source) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Out>(OUTGOING_FRAMES);
    let mut subscriptions: HashMap<String, Subscription> = HashMap::new();
    let mut shutdown = state.shutdown.clone();
    // a ping every interval; a peer that answered none of the last two is gone
    let interval = state.limits.ws_ping_interval;
    let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = tokio::time::Instant::now();
    loop {
        let reply = tokio::select! {
            biased;
            () = async { let _ = shutdown.wait_for(|stop| *stop).await; } => {
                let notice = crate::feed::notice(crate::feed::DRAIN_TYPE, "the gateway is shutting down; resume from your last position");
                let _ = sink.send(text(json_of(&notice))).await;
                let _ = sink.send(Message::Close(Some(CloseFrame { code: 1001, reason: Utf8Bytes::from_static("draining") }))).await;
                return;
            }
            out = out_rx.recv() => match out {
                Some(Out::Frame(frame)) => { if sink.send(text(frame)).await.is_err() { return; } continue; }
                Some(Out::Shared(frame)) => {
                    if sink.send(Message::Text(frame)).await.is_err() { return; }
                    continue;
                }
                Some(Out::Last(frame, code, reason)) => {
                    let _ = sink.send(text(frame)).await;
                    let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))).await;
                    return;
                }
                None => continue,
            },
            _ = pings.tick() => {
                if last_heard.elapsed() > interval * 2 {
                    let reason = Utf8Bytes::from_static("no pong");
                    let _ = sink.send(Message::Close(Some(CloseFrame { code: 1001, reason }))).await;
                    return;
                }
                if sink.send(Message::Ping(bytes::Bytes::from_static(b"herald"))).await.is_err() {
                    return;
                }
                continue;
            }
            message = source.next() => match message {
                Some(Ok(Message::Text(frame))) => {
                    last_heard = tokio::time::Instant::now();
                    handle(&state, &access, &frame, &mut subscriptions, &out_tx).await
                }
                Some(Ok(Message::Binary(_))) => error_reply(None, &AppError::UnsupportedMediaType(
                    format!("`{SUBPROTOCOL}` messages are text frames of JSON"),
                )),
                Some(Err(error)) if too_big(&error) => {
                    // RFC 6455 §7.4.1: 1009, a message too big to process
                    let reason = Utf8Bytes::from(format!("a message is at most {} bytes", state.max_body_bytes));
                    let _ = sink.send(Message::Close(Some(CloseFrame { code: 1009, reason }))).await;
                    return;
                }
                Some(Err(error)) => {
                    if let Some(close) = violation(&error) {
                        let _ = sink.send(Message::Close(Some(close))).await;
                    }
                    return;
                }
                Some(Ok(Message::Close(_))) => {
                    // RFC 6455 §5.5.1: a Close frame is answered with one (the library
                    // queued it, echoing the code); flushed here, then the TCP connection ends
                    let _ = sink.close().await;
                    return;
                }
                None => return,
                Some(Ok(Message::Pong(_))) => {
                    last_heard = tokio::time::Instant::now();
                    continue;
                }
                Some(Ok(_)) => continue, // a ping: answered by the library
            },
        };
        if sink.send(text(json_of(&reply))).await.is_err() {
            return;
        }
    }
}

/// The patterns of a `herald.subscribe` or `herald.unsubscribe` (`topic`, or `topics`),
/// and the subscription's name: the pattern, or the patterns joined by spaces.
pub(crate) fn patterns_of(topic: Option<String>, topics: Option<Vec<String>>) -> Result<(String, Vec<TopicPattern>), AppError> {
    let list = match (topic, topics) {
        (Some(topic), None) => vec![topic],
        (None, Some(topics)) if !topics.is_empty() => topics,
        _ => {
            return Err(AppError::BadRequest(
                "give `topic` (a pattern) or `topics` (a non-empty array of patterns), not both".into(),
            ))
        }
    };
    let patterns = list.iter().map(|t| t.parse::<TopicPattern>()).collect::<Result<Vec<_>, _>>()?;
    Ok((list.join(" "), patterns))
}

/// Handles one incoming frame; the reply to send.
async fn handle(
    state: &AppState,
    access: &Access,
    frame: &str,
    subscriptions: &mut HashMap<String, Subscription>,
    out: &mpsc::Sender<Out>,
) -> CloudEvent {
    let event = match CloudEvent::from_json(frame.as_bytes()) {
        Ok(event) => event,
        Err(e) => return error_reply(None, &AppError::from(e)),
    };
    let result = match event.ty.as_str() {
        SUBSCRIBE_TYPE => subscribe(state, access, &event, subscriptions, out).await,
        UNSUBSCRIBE_TYPE => unsubscribe(&event, subscriptions),
        _ => publish(state, access, &event, frame.len()).await,
    };
    match result {
        Ok(reply) => reply,
        Err(error) => error_reply(Some(&event), &error),
    }
}

fn data_of<T: serde::de::DeserializeOwned>(event: &CloudEvent) -> Result<T, AppError> {
    let data = event.data.clone().unwrap_or(serde_json::Value::Null);
    serde_json::from_value(data).map_err(|e| AppError::BadRequest(format!("`{}` data: {e}", event.ty)))
}

async fn subscribe(
    state: &AppState,
    access: &Access,
    request: &CloudEvent,
    subscriptions: &mut HashMap<String, Subscription>,
    out: &mpsc::Sender<Out>,
) -> Result<CloudEvent, AppError> {
    let data: Subscribe = data_of(request)?;
    let (name, patterns) = patterns_of(data.topic, data.topics)?;
    let resume = data.from.as_deref().filter(|s| !s.is_empty()).map(str::parse::<Position>).transpose()?;
    let grants = access.check_subscribe(&patterns)?;
    let filter = Filter {
        patterns,
        grants,
        subject: data.subject,
    };
    let mut feed = Feed::open(state, filter, resume).await?;
    let head = feed.head();
    let topic = name.clone();
    let out = out.clone();
    let task = tokio::spawn(async move {
        while let Some(item) = feed.next().await {
            let frame = match item {
                Item::Event(stored) => Out::Shared(stored.ws_frame()),
                Item::Reset { head, mut notice } => {
                    if let Some(serde_json::Value::Object(data)) = &mut notice.data {
                        data.insert("topic".into(), topic.clone().into());
                    }
                    Out::Frame(crate::store::with_position(&json_of(&notice), head))
                }
                Item::Drain(notice) => Out::Last(json_of(&notice), 1001, "draining"),
                Item::Slow(notice) => Out::Last(json_of(&notice), 1008, "too slow"),
            };
            if out.send(frame).await.is_err() {
                return;
            }
        }
    });
    // a new subscription to the same pattern replaces the old one
    subscriptions.insert(name.clone(), Subscription(task));
    Ok(reply(request, Subscribed { topic: name, head }))
}

fn unsubscribe(request: &CloudEvent, subscriptions: &mut HashMap<String, Subscription>) -> Result<CloudEvent, AppError> {
let data: Unsubscribe = data_of(request)?;
    let (name, _) = patterns_of(data.topic, data.topics)?;
    let was = subscriptions.remove(&name).is_some();
    Ok(reply(request, Unsubscribed { topic: name, was_subscribed: was }))
}

async fn publish(state: &AppState, access: &Access, event: &CloudEvent, bytes: usize) -> Result<CloudEvent, AppError> {
    access.check_publish(&event.ty)?;
    let position = crate::ingest::store(state, vec![event.clone()], bytes, "websocket").await?[0];
    Ok(reply(event, Ack { id: event.id.clone(), source: event.source.clone(), position }))
}

/// A gateway reply to `request`, of the contract `E`: it continues the request's correlation.
fn reply<E: Event<Data = E> + serde::Serialize>(request: &CloudEvent, data: E) -> CloudEvent {
    message::<E>(data).caused_by(request)
}


fn error_reply(request: Option<&CloudEvent>, error: &AppError) -> CloudEvent {
    let refused = Refused {
        id: request.map(|r| r.id.clone()),
        status: error.status().as_u16(),
        detail: error.to_string(),
    };
    match request {
        Some(request) => reply::<Refused>(request, refused),
        None => message::<Refused>(refused),
    }
}


/// Whether a read failed because the message (or a frame) was over the size limit.
pub(crate) fn too_big(error: &axum::Error) -> bool {
    use tungstenite::error::{CapacityError, Error};
    matches!(read_error(error), Some(Error::Capacity(CapacityError::MessageTooLong { .. })))
}

/// The WebSocket library's own error under axum's.
fn read_error(error: &axum::Error) -> Option<&tungstenite::Error> {
    std::error::Error::source(error)?.downcast_ref()
}

/// The Close frame that fails the connection after a read `error` the client caused
/// (RFC 6455 §7.1.7, §7.4.1): `1002` a protocol error (an unmasked frame, reserved bits or
/// opcodes, a fragmented or oversized control frame, a continuation with nothing to
/// continue, an invalid close code), `1007` a text message that is not UTF-8; `None` for
/// any other error (the connection is gone, or too big: [`too_big`]).
pub(crate) fn violation(error: &axum::Error) -> Option<CloseFrame> {
    use tungstenite::error::Error;
    let (code, reason) = match read_error(error)? {
        Error::Protocol(error) => (1002, error.to_string()),
        Error::Utf8(_) => (1007, "a text message that is not UTF-8".to_owned()),
        _ => return None,
    };
    // a Close frame's reason is at most 123 bytes (§5.5: a control frame's payload is at
    // most 125, two of them the code)
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Some(CloseFrame { code, reason: Utf8Bytes::from(&reason[..end]) })
}

fn json_of(event: &CloudEvent) -> String {
    serde_json::to_string(event).expect("a CloudEvent always serialises")
}

fn text(frame: String) -> Message {
    Message::Text(frame.into())
}
