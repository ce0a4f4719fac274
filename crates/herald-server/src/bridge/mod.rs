//! Broker bridges: events in from a broker's queue or topic, and out to it, with the
//! guarantees of HTTP ingest (protocol §3.9).
//!
//! What every bridge shares lives here: how a broker message becomes a CloudEvent (the
//! CloudEvents bindings' structured and binary modes, or a plain JSON body mapped by
//! configuration), the dead letter a message that is no valid event becomes, the
//! reconnection backoff, and each bridge's status for `/metrics` and `/healthz`.

pub(crate) mod amqp;
pub(crate) mod kafka;
pub(crate) mod webhook;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_protocol::{CloudEvent, DeadLetter, Event, TopicPattern, CLOUDEVENTS_BATCH_JSON, CLOUDEVENTS_JSON};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub use amqp::{AmqpIn, AmqpOut};
pub use kafka::{KafkaIn, KafkaOut, Start};
pub use webhook::{sign, WebhookOut};

/// The most bytes of a bad message's body a dead letter keeps.
const DEAD_LETTER_BODY_BYTES: usize = 16 * 1024;

/// A header value as a broker carries it, typed as far as the broker types it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum HeaderValue {
    /// Text (AMQP strings; Kafka headers are bytes and are read as UTF-8).
    Text(String),
    /// Bytes that are not UTF-8 text.
    Bytes(Vec<u8>),
    /// A whole number.
    Integer(i64),
    /// A boolean.
    Boolean(bool),
    /// An AMQP timestamp: seconds since the Unix epoch.
    Timestamp(u64),
    /// Any other type, by its name (a float, a table, an array…).
    Other(&'static str),
}

/// A message from a broker, as the CloudEvents bindings read it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Message {
    /// The message's content type (AMQP `content-type`, Kafka `content-type` header).
    pub content_type: Option<String>,
    /// Every header, in order.
    pub headers: Vec<(String, HeaderValue)>,
    /// The body.
    pub body: Vec<u8>,
    /// The AMQP routing key or the Kafka record key.
    pub key: Option<String>,
    /// The AMQP `message-id` property.
    pub message_id: Option<String>,
}

/// How a message that is neither structured nor binary mode becomes an event: its body
/// is the JSON `data`, and these set the attributes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlainMapping {
    /// The events' `source`.
    pub source: String,
    /// The events' `type`; absent: the routing key (Kafka: the record key) is the type.
    #[serde(default, rename = "type")]
    pub ty: Option<String>,
    /// Set `subject` to the routing key (Kafka: the record key).
    #[serde(default)]
    pub subject_from_key: bool,
}

/// Reads `message` as a CloudEvent by the binding whose headers start with `prefix`
/// (`cloudEvents:` for AMQP, `ce_` for Kafka), or by `plain`; `Err` says why it is none.
pub(crate) fn to_event(
    message: &Message,
    prefix: &str,
    plain: Option<&PlainMapping>,
    max_bytes: usize,
) -> Result<CloudEvent, String> {
    if message.body.len() > max_bytes {
        return Err(format!("the message is {} bytes; the limit is {max_bytes}", message.body.len()));
    }
    let media = message
        .content_type
        .as_deref()
        .map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    if media == CLOUDEVENTS_JSON {
        return CloudEvent::from_json(&message.body).map_err(|e| format!("structured mode: {e}"));
    }
    if media == CLOUDEVENTS_BATCH_JSON {
        return Err(format!("`{CLOUDEVENTS_BATCH_JSON}` is not a mode of the broker bindings: one event per message"));
    }
    let specversion = format!("{prefix}specversion");
    if message.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case(&specversion)) {
        return binary(message, prefix).map_err(|e| format!("binary mode: {e}"));
    }
    match plain {
        Some(plain) => plain_event(message, plain),
        None => Err(format!(
            "neither a structured-mode CloudEvent (content-type `{CLOUDEVENTS_JSON}`) nor binary mode \
             (a `{specversion}` header), and the bridge maps no plain messages"
        )),
    }
}

/// Binary mode: each attribute from a header named `prefix` + attribute, typed as the
/// CloudEvents type system allows (strings; integers and booleans for extensions and
/// `dataversion`; an AMQP timestamp for `time`).
fn binary(message: &Message, prefix: &str) -> Result<CloudEvent, String> {
    let mut attributes = serde_json::Map::new();
    for (name, value) in &message.headers {
        let Some(attribute) = name.get(..prefix.len()).filter(|p| p.eq_ignore_ascii_case(prefix)).map(|_| &name[prefix.len()..])
        else {
            continue;
        };
        let attribute = attribute.to_ascii_lowercase();
        let value = match value {
            HeaderValue::Text(text) => match (attribute.as_str(), text.parse::<u32>()) {
                ("dataversion", Ok(version)) => Value::from(version),
                _ => Value::String(text.clone()),
            },
            HeaderValue::Integer(n) => Value::from(*n),
            HeaderValue::Boolean(b) => Value::Bool(*b),
            HeaderValue::Timestamp(secs) if attribute == "time" => Value::String(rfc3339(*secs)),
            HeaderValue::Bytes(_) => return Err(format!("header `{name}` is not UTF-8 text")),
            other => {
                let kind = match other {
                    HeaderValue::Timestamp(_) => "a timestamp (only `time` may be one)",
                    HeaderValue::Other(kind) => kind,
                    _ => "of another type",
                };
                return Err(format!(
                    "header `{name}` is {kind}; attributes are strings, integers, booleans or (`time`) timestamps"
                ));
            }
        };
        if attributes.insert(attribute, value).is_some() {
            return Err(format!("header `{name}` appears more than once"));
        }
    }
    crate::ingest::binary_mode(attributes, prefix, message.content_type.as_deref(), &message.body)
        .map_err(|e| e.to_string())
}

fn plain_event(message: &Message, plain: &PlainMapping) -> Result<CloudEvent, String> {
    let data: Value = serde_json::from_slice(&message.body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let key = message.key.as_deref().filter(|k| !k.is_empty());
    let ty = match (&plain.ty, key) {
        (Some(ty), _) => ty.clone(),
        (None, Some(key)) => key.to_owned(),
        (None, None) => return Err("a plain message needs a routing key (its type) or a configured type".into()),
    };
    // a redelivery must be the same event: the message id, else what the message is
    let id = match &message.message_id {
        Some(id) if !id.is_empty() => id.clone(),
        _ => format!("sha256-{}", digest(&[key.unwrap_or("").as_bytes(), &message.body])),
    };
    let mut event = CloudEvent::new(id, plain.source.clone(), ty).with_data(data);
    event.datacontenttype = Some("application/json".into());
    if plain.subject_from_key {
        event.subject = key.map(str::to_owned);
    }
    event.validate().map_err(|e| e.to_string())?;
    Ok(event)
}

/// The `herald.deadletter` event a message that is no valid event becomes: its payload is
/// a [`DeadLetter`] whose `subscriber` is the bridge (`source`) and whose `event` describes
/// the raw message (`body` as text, or `body_base64`; at most 16 KiB of it, `bytes` the
/// whole size; `headers`; `key`; and `where`, the bridge's place it came from). Its `id`
/// is a digest of the message, so a redelivery is stored once.
pub(crate) fn dead_letter(source: &str, reason: &str, message: &Message, place: Value) -> CloudEvent {
    let kept = &message.body[..message.body.len().min(DEAD_LETTER_BODY_BYTES)];
    let mut raw = serde_json::Map::new();
    match std::str::from_utf8(kept) {
        Ok(text) => raw.insert("body".into(), Value::String(text.to_owned())),
        Err(_) => raw.insert("body_base64".into(), Value::String(crate::ingest::base64(kept))),
    };
    raw.insert("bytes".into(), Value::from(message.body.len()));
    raw.insert("truncated".into(), Value::Bool(kept.len() < message.body.len()));
    let headers: serde_json::Map<String, Value> = message
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), header_json(value)))
        .collect();
    raw.insert("headers".into(), Value::Object(headers));
    raw.insert("content_type".into(), json!(message.content_type));
    raw.insert("key".into(), json!(message.key));
    raw.insert("message_id".into(), json!(message.message_id));
    raw.insert("where".into(), place);
    let header_bytes: Vec<u8> = message
        .headers
        .iter()
        .flat_map(|(name, value)| format!("{name}={value:?};").into_bytes())
        .collect();
    let id = digest(&[source.as_bytes(), message.key.as_deref().unwrap_or("").as_bytes(), &header_bytes, &message.body]);
    let letter = DeadLetter {
        reason: reason.to_owned(),
        subscriber: source.to_owned(),
        version: 1,
        event: Value::Object(raw),
    };
    let mut event = CloudEvent::new(format!("deadletter-{id}"), source, <DeadLetter as Event>::TYPE)
        .with_data(serde_json::to_value(letter).expect("a dead letter serialises"));
    event.datacontenttype = Some("application/json".into());
    event.time = Some(rfc3339(crate::store::now_millis() / 1000));
    event
}

fn header_json(value: &HeaderValue) -> Value {
    match value {
        HeaderValue::Text(text) => Value::String(text.clone()),
        HeaderValue::Bytes(bytes) => json!({ "base64": crate::ingest::base64(bytes) }),
        HeaderValue::Integer(n) => Value::from(*n),
        HeaderValue::Boolean(b) => Value::Bool(*b),
        HeaderValue::Timestamp(secs) => json!({ "timestamp": secs }),
        HeaderValue::Other(kind) => json!({ "unsupported": kind }),
    }
}

/// The first 128 bits of the SHA-256 of `parts` (each length-prefixed), in hex.
fn digest(parts: &[&[u8]]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// `secs` since the Unix epoch as an RFC 3339 UTC timestamp.
pub(crate) fn rfc3339(secs: u64) -> String {
    let time = time::OffsetDateTime::from_unix_timestamp(secs.min(253_402_300_799) as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    time.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// An event's parts as a binary-mode message: every attribute but the data ones (in the
/// JSON format's names and values), the body (the JSON of `data`; the text of a string
/// `data` of a non-JSON type; the bytes of `data_base64`), and the content type
/// (`datacontenttype`, or `application/json` for `data` without one).
pub(crate) fn binary_parts(event: &CloudEvent) -> (Vec<(String, Value)>, Vec<u8>, Option<String>) {
    let Value::Object(json) = serde_json::to_value(event).expect("a CloudEvent serialises") else {
        unreachable!("an event is a JSON object")
    };
    let json_data = is_json(event.datacontenttype.as_deref());
    let (mut attributes, mut body, mut content_type) = (Vec::new(), Vec::new(), None);
    for (name, value) in json {
        match (name.as_str(), value) {
            ("data", Value::String(text)) if !json_data => body = text.into_bytes(),
            ("data", data) => body = serde_json::to_vec(&data).expect("JSON serialises"),
            ("data_base64", Value::String(b64)) => body = crate::ingest::base64_decode(&b64).unwrap_or_default(),
            ("datacontenttype", Value::String(media)) => content_type = Some(media),
            (_, value) => attributes.push((name, value)),
        }
    }
    if content_type.is_none() && event.data.is_some() {
        content_type = Some("application/json".into());
    }
    (attributes, body, content_type)
}

fn is_json(media: Option<&str>) -> bool {
    let media = media.unwrap_or("application/json").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    media == "application/json" || media.ends_with("+json")
}

/// An outbound bridge's `types`: at least one, each a topic pattern (§4).
pub(crate) fn validate_types(types: &[String]) -> Result<(), String> {
    if types.is_empty() {
        return Err("`types` lists no pattern: the bridge would publish nothing".into());
    }
    patterns(types).map(|_| ())
}

pub(crate) fn patterns(types: &[String]) -> Result<Vec<TopicPattern>, String> {
    types
        .iter()
        .map(|ty| ty.parse::<TopicPattern>().map_err(|e| format!("types: `{ty}`: {e}")))
        .collect()
}

/// Runs blocking store work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, crate::StoreError> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work).await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())
}

/// Keeps a bridge running until the gateway shuts down: `connect` runs one connection's
/// life; when it fails, the bridge is down and tries again after a backoff (reset once a
/// connection was up).
pub(crate) async fn supervise<F, Fut>(name: &str, what: &str, state: &crate::AppState, status: &BridgeStatus, mut connect: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut shutdown = state.shutdown.clone();
    let mut backoff = Backoff::new();
    loop {
        let outcome = tokio::select! {
            outcome = connect() => outcome,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        if status.is_up() {
            backoff.reset();
        }
        if let Err(error) = outcome {
            status.down(&error);
            tracing::warn!(bridge = %name, %error, "{what}: reconnecting");
        }
        let wait = backoff.next();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// Stored events read per outbound page.
const OUT_PAGE: usize = 256;

/// An outbound bridge's loop: the stored events after the cursor `name`, page by page in
/// position order; `send` gets a page's events whose type matches `patterns` and returns
/// once the broker has acknowledged all of them; then the cursor moves past the page.
/// Delivery is therefore at least once: a crash before the cursor's write sends the page
/// again.
pub(crate) async fn publish_from_cursor<F, Fut>(
    state: &crate::AppState,
    status: &BridgeStatus,
    name: &str,
    patterns: &[TopicPattern],
    mut send: F,
) -> Result<(), String>
where
    F: FnMut(Vec<Arc<crate::Stored>>) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let log = state.log.clone();
    let key = name.to_owned();
    let mut cursor = blocking(move || log.cursor(&key)).await?.unwrap_or(0);
    let (_, mut live) = state.log.follow();
    loop {
        let log = state.log.clone();
        let page = blocking(move || log.read(cursor, OUT_PAGE)).await?;
        let head = state.log.head().seq;
        let Some(last) = page.last().map(|s| s.position.seq) else {
            status.set_lag(0);
            // wait for the next event (or a moment, should the feed have lagged)
            let _ = tokio::time::timeout(Duration::from_secs(1), live.recv()).await;
            continue;
        };
        let matching: Vec<_> = page.into_iter().filter(|s| patterns.iter().any(|p| p.matches(&s.event.ty))).collect();
        let count = matching.len();
        if count > 0 {
            let logged: Vec<_> = if state.central.wants(crate::central::Level::Debug) { matching.clone() } else { Vec::new() };
            send(matching).await?;
            for stored in logged {
                state.central.published(&stored.event, stored.position, name);
            }
        }
        let (log, key) = (state.log.clone(), name.to_owned());
        blocking(move || log.set_cursor(&key, last)).await?;
        status.published(count);
        cursor = last;
        status.set_lag(head.saturating_sub(cursor));
    }
}

/// Exponential backoff with full jitter between reconnection attempts: 0.1 s doubling
/// to at most 10 s, each wait a random part of the current bound.
pub(crate) struct Backoff {
    bound: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MOST: Duration = Duration::from_secs(10);

    pub fn new() -> Self {
        Backoff { bound: Self::FIRST }
    }

    /// The next wait.
    pub fn next(&mut self) -> Duration {
        let bound = self.bound;
        self.bound = (self.bound * 2).min(Self::MOST);
        let millis = bound.as_millis() as u64;
        Duration::from_millis(millis / 2 + crate::stream::random_u64() % (millis / 2 + 1))
    }

    /// After a success: start again from the first wait.
    pub fn reset(&mut self) {
        self.bound = Self::FIRST;
    }
}

/// A bridge's state, shown by `/metrics` and `/healthz`.
#[derive(Debug, Default)]
pub struct BridgeStatus {
    up: AtomicI64,
    messages: AtomicU64,
    dead_letters: AtomicU64,
    published: AtomicU64,
    lag: AtomicU64,
    reconnects: AtomicU64,
    failures: AtomicU64,
    paused: std::sync::atomic::AtomicBool,
    resumed: tokio::sync::Notify,
    last_error: Mutex<Option<String>>,
}

impl BridgeStatus {
    pub(crate) fn up(&self) {
        self.up.store(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub(crate) fn down(&self, error: &str) {
        self.up.store(0, Ordering::Relaxed);
        self.reconnects.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.to_owned());
    }

    pub(crate) fn consumed(&self, messages: usize, dead_letters: usize) {
        self.messages.fetch_add(messages as u64, Ordering::Relaxed);
        self.dead_letters.fetch_add(dead_letters as u64, Ordering::Relaxed);
    }

    pub(crate) fn published(&self, events: usize) {
        self.published.fetch_add(events as u64, Ordering::Relaxed);
    }

    /// One failed delivery attempt (an outbound webhook's).
    pub(crate) fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn pause(&self) {
        self.paused.store(true, Ordering::Relaxed);
    }

    /// Lets a paused bridge go on; `false` when it was not paused.
    pub fn resume(&self) -> bool {
        let was = self.paused.swap(false, Ordering::Relaxed);
        self.resumed.notify_waiters();
        was
    }

    /// Whether the bridge waits to be resumed.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    pub(crate) async fn wait_resumed(&self) {
        while self.is_paused() {
            let resumed = self.resumed.notified();
            if !self.is_paused() {
                break;
            }
            resumed.await;
        }
    }

    pub(crate) fn set_lag(&self, lag: u64) {
        self.lag.store(lag, Ordering::Relaxed);
    }

    /// Whether the bridge is connected and working.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed) == 1
    }

    /// Why the bridge is down, when it is.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Events behind: an outbound bridge's events not yet confirmed by the broker; an
    /// inbound one's messages waiting in its queue, as last seen.
    pub fn lag(&self) -> u64 {
        self.lag.load(Ordering::Relaxed)
    }
}

/// Every bridge's status, by name (`amqp-in:NAME`, `amqp-out:NAME`, …).
#[derive(Debug, Default)]
pub struct Bridges(Mutex<BTreeMap<String, Arc<BridgeStatus>>>);

impl Bridges {
    /// The status of the bridge `name`, made when it is first asked for.
    pub fn status(&self, name: &str) -> Arc<BridgeStatus> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).entry(name.to_owned()).or_default().clone()
    }

    /// Every bridge's name and status.
    pub fn all(&self) -> Vec<(String, Arc<BridgeStatus>)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(n, s)| (n.clone(), s.clone())).collect()
    }

    /// The Prometheus lines of every bridge.
    pub(crate) fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let all = self.all();
        if all.is_empty() {
            return;
        }
        let families: [(&str, &str, &str, fn(&BridgeStatus) -> u64); 8] = [
            ("herald_bridge_up", "gauge", "1 while the bridge is connected to its broker.", |s| s.up.load(Ordering::Relaxed) as u64),
            ("herald_bridge_messages_total", "counter", "Messages a bridge consumed and stored (dead letters included).", |s| s.messages.load(Ordering::Relaxed)),
            ("herald_bridge_dead_letters_total", "counter", "Messages a bridge stored as herald.deadletter.", |s| s.dead_letters.load(Ordering::Relaxed)),
            ("herald_bridge_published_total", "counter", "Events a bridge published and the broker confirmed.", |s| s.published.load(Ordering::Relaxed)),
            ("herald_bridge_lag", "gauge", "Events or messages a bridge is behind.", |s| s.lag.load(Ordering::Relaxed)),
            ("herald_bridge_reconnects_total", "counter", "Times a bridge lost its broker and reconnected.", |s| s.reconnects.load(Ordering::Relaxed)),
            ("herald_bridge_failures_total", "counter", "Delivery attempts of an outbound webhook that failed.", |s| s.failures.load(Ordering::Relaxed)),
            ("herald_bridge_paused", "gauge", "1 while an outbound webhook waits to be resumed.", |s| u64::from(s.is_paused())),
        ];
        for (name, kind, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (bridge, status) in &all {
                let _ = writeln!(out, "{name}{{bridge=\"{bridge}\"}} {}", value(status));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(headers: Vec<(&str, HeaderValue)>, content_type: Option<&str>, body: &[u8]) -> Message {
        Message {
            content_type: content_type.map(str::to_owned),
            headers: headers.into_iter().map(|(n, v)| (n.to_owned(), v)).collect(),
            body: body.to_vec(),
            key: Some("nop.noise.reading".into()),
            message_id: None,
        }
    }

    fn text(s: &str) -> HeaderValue {
        HeaderValue::Text(s.into())
    }

    #[test]
    fn binary_mode_reads_typed_headers() {
        let m = message(
            vec![
                ("cloudEvents:specversion", text("1.0")),
                ("cloudEvents:id", text("r-1")),
                ("cloudEvents:source", text("urn:nop:s-1")),
                ("cloudEvents:type", text("nop.noise.reading")),
                ("cloudEvents:time", HeaderValue::Timestamp(1_796_000_000)),
                ("cloudEvents:priority", HeaderValue::Integer(3)),
                ("cloudEvents:dataversion", text("2")),
                ("x-other", HeaderValue::Other("a float")),
            ],
            Some("application/json"),
            br#"{"db": 71.5}"#,
        );
        let event = to_event(&m, "cloudEvents:", None, 1024).unwrap();
        assert_eq!(event.id, "r-1");
        assert_eq!(event.time.as_deref(), Some("2026-11-30T00:53:20Z"));
        assert_eq!(event.data_version(), 2);
        assert_eq!(event.data.unwrap()["db"], 71.5);
        assert_eq!(event.datacontenttype.as_deref(), Some("application/json"));
    }

    #[test]
    fn structured_plain_and_refused() {
        let structured = message(
            vec![],
            Some("application/cloudevents+json; charset=utf-8"),
            br#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x"}"#,
        );
        assert_eq!(to_event(&structured, "ce_", None, 1024).unwrap().id, "a");
        let plain = message(vec![], Some("application/json"), br#"{"db": 1}"#);
        assert!(to_event(&plain, "ce_", None, 1024).unwrap_err().contains("neither"));
        let mapping = PlainMapping { source: "urn:nop:rabbitmq".into(), ty: None, subject_from_key: true };
        let event = to_event(&plain, "ce_", Some(&mapping), 1024).unwrap();
        assert_eq!(event.ty, "nop.noise.reading");
        assert_eq!(event.subject.as_deref(), Some("nop.noise.reading"));
        assert_eq!(event.id, to_event(&plain, "ce_", Some(&mapping), 1024).unwrap().id, "the same message, the same id");
        let big = message(vec![], Some("application/json"), &[b' '; 2048]);
        assert!(to_event(&big, "ce_", Some(&mapping), 1024).unwrap_err().contains("limit"));
        let float = message(
            vec![("ce_specversion", text("1.0")), ("ce_id", HeaderValue::Other("a float"))],
            None,
            b"",
        );
        assert!(to_event(&float, "ce_", None, 1024).unwrap_err().contains("ce_id"));
    }

    #[test]
    fn a_dead_letter_keeps_the_raw_message_and_is_the_same_for_a_redelivery() {
        let m = message(vec![("h", text("v"))], Some("text/plain"), &[0xff, 0xfe]);
        let a = dead_letter("urn:herald:bridge:amqp-in:nop", "not JSON", &m, json!({"queue": "q"}));
        let b = dead_letter("urn:herald:bridge:amqp-in:nop", "not JSON", &m, json!({"queue": "q"}));
        assert_eq!(a.id, b.id);
        assert_eq!(a.ty, "herald.deadletter");
        let data = a.data.unwrap();
        assert_eq!(data["reason"], "not JSON");
        assert_eq!(data["event"]["body_base64"], "//4=");
        assert_eq!(data["event"]["headers"]["h"], "v");
        assert!(a.time.is_some());
    }

    #[test]
    fn backoff_grows_with_jitter_and_stays_bounded() {
        let mut backoff = Backoff::new();
        let waits: Vec<Duration> = (0..12).map(|_| backoff.next()).collect();
        assert!(waits[0] <= Duration::from_millis(100));
        assert!(waits.iter().all(|w| *w <= Duration::from_secs(10)));
        assert!(waits[11] >= Duration::from_secs(5));
        backoff.reset();
        assert!(backoff.next() <= Duration::from_millis(100));
    }
}
