//! `/socket.io/`, namespace `/herald`: the gateway as a Socket.IO v4 server (Engine.IO 4,
//! polling and WebSocket, through socketioxide), so that `socket.io-client` connects to it
//! unchanged.
//!
//! A client connects with `auth: {token}` (the gateway's JWT, §3.5); then:
//! - emits `subscribe` `{topics: [PATTERN, …] | topic: PATTERN, from?: POSITION}` with an
//!   ack, answered `{topic: NAME, head: POSITION}` or `{error: {status, detail}}`, and
//!   receives `event` packets: each the stored CloudEvent with `heraldposition` — the same
//!   feed as `GET /events/stream`;
//! - emits `unsubscribe` `{topics | topic}`, acked `{topic, was_subscribed}`;
//! - emits `publish` with a CloudEvent and an ack, answered `{position}` or `{error}`.
//!
//! `docs/protocol.md` §3.13 is the specification.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_protocol::{CloudEvent, Position, TopicPattern};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use socketioxide::extract::{AckSender, Data, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::{SendError, SocketError, SocketIo};
use tokio::task::JoinHandle;

use crate::auth::Access;
use crate::feed::{Feed, Filter, Item};
use crate::{AppError, AppState};

/// The namespace herald's events are on.
pub const NAMESPACE: &str = "/herald";
/// Packets queued for one socket before an emit has to wait.
const OUTGOING: usize = 256;
/// How long an event may wait for room in a socket's queue before the client counts as
/// too slow and is disconnected (it resumes from its last position).
const SLOW_AFTER: Duration = Duration::from_secs(10);

/// The Socket.IO layer of the gateway's router (it answers `/socket.io/` and passes every
/// other request on).
pub(crate) fn layer(state: &AppState) -> SocketIoLayer {
    let (layer, io) = SocketIo::builder()
        .max_payload(state.max_body_bytes as u64)
        .max_buffer_size(OUTGOING)
        .build_layer();
    let on_connect = {
        let state = state.clone();
        move |socket: SocketRef, TryData(auth): TryData<Value>| {
            let state = state.clone();
            async move { connected(state, socket, auth.ok()) }
        }
    };
    let authorize = {
        let state = state.clone();
        move |TryData(auth): TryData<Value>| {
            let state = state.clone();
            async move { access_of(&state, auth.ok().as_ref()).map(|_| ()) }
        }
    };
    io.ns(NAMESPACE, on_connect.with(authorize));
    layer
}

/// The access of the token in a connection's `auth` payload (`{"token": JWT}`).
fn access_of(state: &AppState, auth: Option<&Value>) -> Result<Access, AppError> {
    let token = auth.and_then(|auth| auth.get("token")).and_then(Value::as_str);
    crate::auth::access_for(state, token)
}

/// A subscription's task, stopped when the handle is dropped.
struct Subscription(JoinHandle<()>);

impl Drop for Subscription {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type Subscriptions = Arc<Mutex<HashMap<String, Subscription>>>;

fn connected(state: AppState, socket: SocketRef, auth: Option<Value>) {
    // the middleware let it in: its token is valid
    let Ok(access) = access_of(&state, auth.as_ref()) else {
        let _ = socket.disconnect();
        return;
    };
    let connection = Arc::new(state.metrics.connection(crate::metrics::Transport::SocketIo));
    let subscriptions: Subscriptions = Arc::default();
    {
        let (state, access, subscriptions) = (state.clone(), access.clone(), subscriptions.clone());
        socket.on("subscribe", move |socket: SocketRef, TryData(data): TryData<Value>, ack: AckSender| {
            let (state, access, subscriptions) = (state.clone(), access.clone(), subscriptions.clone());
            async move {
                let answer = match data {
                    Ok(data) => subscribe(&state, &access, &socket, &subscriptions, data).await,
                    Err(e) => Err(AppError::BadRequest(format!("`subscribe` data: {e}"))),
                };
                let _ = ack.send(&answer.unwrap_or_else(|e| error_of(&e)));
            }
        });
    }
    {
        let subscriptions = subscriptions.clone();
        socket.on("unsubscribe", move |TryData(data): TryData<Value>, ack: AckSender| {
            let subscriptions = subscriptions.clone();
            async move {
                let answer = data
                    .map_err(|e| AppError::BadRequest(format!("`unsubscribe` data: {e}")))
                    .and_then(|data| topics_of(data).map(|(name, _, _)| name))
                    .map(|name| {
                        let was = lock(&subscriptions).remove(&name).is_some();
                        json!({ "topic": name, "was_subscribed": was })
                    });
                let _ = ack.send(&answer.unwrap_or_else(|e| error_of(&e)));
            }
        });
    }
    {
        let (state, access) = (state.clone(), access.clone());
        socket.on("publish", move |Data(event): Data<Value>, ack: AckSender| {
            let (state, access) = (state.clone(), access.clone());
            async move {
                let answer = publish(&state, &access, event).await;
                let _ = ack.send(&answer.unwrap_or_else(|e| error_of(&e)));
            }
        });
    }
    socket.on_fallback(|ack: AckSender| async move {
        let _ = ack.send(&error_of(&AppError::BadRequest(
            "unknown event: this namespace takes `subscribe`, `unsubscribe` and `publish`".into(),
        )));
    });
    socket.on_disconnect(move || {
        // the feeds hold the socket: stop them, and the connection is no longer counted
        lock(&subscriptions).clear();
        let _ = &connection;
        async {}
    });
}

fn lock(subscriptions: &Subscriptions) -> std::sync::MutexGuard<'_, HashMap<String, Subscription>> {
    subscriptions.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An ack saying why not: `{"error": {"status", "detail"}}`.
fn error_of(error: &AppError) -> Value {
    json!({ "error": { "status": error.status().as_u16(), "detail": error.to_string() } })
}

#[derive(Deserialize)]
struct Topics {
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    topics: Option<Vec<String>>,
    #[serde(default)]
    from: Option<String>,
}

/// A subscription's name (the patterns joined by spaces), patterns and resume position.
fn topics_of(data: Value) -> Result<(String, Vec<TopicPattern>, Option<Position>), AppError> {
    let data: Topics = serde_json::from_value(data).map_err(|e| AppError::BadRequest(format!("subscription data: {e}")))?;
    let (name, patterns) = crate::ws::patterns_of(data.topic, data.topics)?;
    let from = data.from.as_deref().filter(|p| !p.is_empty()).map(str::parse::<Position>).transpose()?;
    Ok((name, patterns, from))
}

async fn subscribe(
    state: &AppState,
    access: &Access,
    socket: &SocketRef,
    subscriptions: &Subscriptions,
    data: Value,
) -> Result<Value, AppError> {
    let (name, patterns, from) = topics_of(data)?;
    let grants = access.check_subscribe(&patterns)?;
    let mut feed = Feed::open(state, Filter { patterns, grants, subject: None }, from).await?;
    let head = feed.head();
    let socket = socket.clone();
    let topic = name.clone();
    let task = tokio::spawn(async move {
        while let Some(item) = feed.next().await {
            let (frame, last) = match item {
                Item::Event(stored) => (stored.ws_frame().as_str().to_owned(), false),
                Item::Reset { head, mut notice } => {
                    if let Some(Value::Object(data)) = &mut notice.data {
                        data.insert("topic".into(), topic.clone().into());
                    }
                    (crate::store::with_position(&serde_json::to_string(&notice).unwrap_or_default(), head), false)
                }
                // the subscription ends, the connection stays: the client subscribes again
                // from its last position (after a drain, once it has reconnected)
                Item::Drain(mut notice) | Item::Slow(mut notice) => {
                    if let Some(Value::Object(data)) = &mut notice.data {
                        data.insert("topic".into(), topic.clone().into());
                    }
                    (serde_json::to_string(&notice).unwrap_or_default(), true)
                }
            };
            if !emit(&socket, &frame).await {
                // gone, or its queue stayed full: a client that cannot take its events
                let _ = socket.clone().disconnect();
                return;
            }
            if last {
                return;
            }
        }
    });
    // a new subscription to the same patterns replaces the old one
    lock(subscriptions).insert(name.clone(), Subscription(task));
    Ok(json!({ "topic": name, "head": head.to_string() }))
}

/// Emits `event` (JSON text) to `socket`, waiting for room in its queue; `false` when the
/// socket is gone or stayed full for [`SLOW_AFTER`].
async fn emit(socket: &SocketRef, event: &str) -> bool {
    let Ok(raw) = RawValue::from_string(event.to_owned()) else { return false };
    let deadline = tokio::time::Instant::now() + SLOW_AFTER;
    let mut wait = Duration::from_millis(1);
    loop {
        match socket.emit("event", &raw) {
            Ok(()) => return true,
            Err(SendError::Socket(SocketError::InternalChannelFull)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_millis(50));
            }
            Err(_) => return false,
        }
    }
}

async fn publish(state: &AppState, access: &Access, event: Value) -> Result<Value, AppError> {
    let bytes = serde_json::to_vec(&event).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let event = CloudEvent::from_json(&bytes)?;
    access.check_publish(&event.ty)?;
    let position = crate::ingest::store(state, vec![event], bytes.len(), "socketio").await?[0];
    Ok(json!({ "position": position.to_string() }))
}
