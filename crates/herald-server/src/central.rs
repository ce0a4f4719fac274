//! The central log (docs/protocol.md §3.17): what every part of the system logged about
//! the events it handled, in one place, as [ECS](https://www.elastic.co/guide/en/ecs/current/)
//! JSON lines — the micro-frontends' entries (`POST /logs`, shipped in batches by the page
//! runtime) and a line for every event the gateway accepts and every event a bridge
//! publishes out — each with the event's correlation id as `trace.id`, so one chain can be
//! followed producer → broker → gateway → every module that handled it.
//!
//! Lines go to a writer (standard error or a file, through a bounded non-blocking queue)
//! and, when configured, to an Elasticsearch or OpenSearch `_bulk` endpoint in batches.
//! Neither ever stalls the gateway: a sink that does not keep up loses lines, counted in
//! the metrics.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use herald_protocol::{CloudEvent, Position};
use serde_json::{json, Map, Value};
use tokio::sync::Notify;

use crate::auth::Access;
use crate::{AppError, AppState};

/// The ECS version the lines follow (`ecs.version`).
pub const ECS_VERSION: &str = "8.11.0";

/// The event type a bearer's `publish` grant must cover to log (§3.5).
pub const LOG_TYPE: &str = "herald.log";

/// The most entries one `POST /logs` takes.
pub const MAX_ENTRIES: usize = 1000;

/// The longest `message` of an entry, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// How many lines wait for the `_bulk` endpoint at most; beyond, the oldest are dropped.
const SHIP_QUEUE_LINES: usize = 20_000;
/// The most lines in one `_bulk` request.
const SHIP_BATCH_LINES: usize = 500;
/// How long a line waits for others to fill its batch.
const SHIP_INTERVAL: Duration = Duration::from_secs(1);

/// A log level, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Detail: a line per accepted event.
    Debug,
    /// What happened.
    Info,
    /// Something is off.
    Warn,
    /// Something failed.
    Error,
}

impl Level {
    /// Its name in a line's `log.level`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

impl std::str::FromStr for Level {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "debug" => Ok(Level::Debug),
            "info" => Ok(Level::Info),
            "warn" => Ok(Level::Warn),
            "error" => Ok(Level::Error),
            other => Err(format!("`{other}` is not a level: debug, info, warn or error")),
        }
    }
}

/// Where the central log ships its lines: an Elasticsearch or OpenSearch node.
#[derive(Debug, Clone)]
pub struct Ship {
    /// The node's base URL, `http://127.0.0.1:9200`.
    pub url: String,
    /// The index the lines go to.
    pub index: String,
}

/// The lines waiting for the `_bulk` endpoint.
#[derive(Default)]
struct Queue {
    lines: Mutex<VecDeque<Arc<[u8]>>>,
    ready: Notify,
}

/// The counters of `/metrics`.
#[derive(Default)]
struct Counters {
    written: AtomicU64,
    shipped: AtomicU64,
    dropped: AtomicU64,
    rejected: AtomicU64,
    failures: AtomicU64,
}

/// The central log: its level, its writer and its shipping queue.
pub struct CentralLog {
    level: Level,
    writer: Option<Mutex<Box<dyn Write + Send>>>,
    ship: Option<(Ship, Arc<Queue>)>,
    counters: Arc<Counters>,
}

impl Default for CentralLog {
    fn default() -> Self {
        CentralLog::new(Level::Info)
    }
}

impl std::fmt::Debug for CentralLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CentralLog")
            .field("level", &self.level)
            .field("writer", &self.writer.is_some())
            .field("ship", &self.ship.as_ref().map(|(ship, _)| ship))
            .finish()
    }
}

impl CentralLog {
    /// A central log keeping lines of `level` and above, going nowhere yet.
    pub fn new(level: Level) -> Self {
        CentralLog { level, writer: None, ship: None, counters: Arc::default() }
    }

    /// The same, writing each line to `writer` (give it a non-blocking one: it is written
    /// from request handlers).
    pub fn with_writer(mut self, writer: impl Write + Send + 'static) -> Self {
        self.writer = Some(Mutex::new(Box::new(writer)));
        self
    }

    /// The same, shipping lines to `ship`'s `_bulk` endpoint (by the task
    /// [`crate::spawn_bridges`] starts).
    pub fn with_ship(mut self, ship: Ship) -> Self {
        self.ship = Some((ship, Arc::default()));
        self
    }

    /// Whether lines of `level` are kept.
    pub fn wants(&self, level: Level) -> bool {
        level >= self.level && (self.writer.is_some() || self.ship.is_some())
    }

    /// Keeps one line (an ECS document) of `level`.
    pub fn write(&self, level: Level, document: &Value) {
        if !self.wants(level) {
            return;
        }
        let mut line = serde_json::to_vec(document).unwrap_or_default();
        if let Some(writer) = &self.writer {
            line.push(b'\n');
            let mut writer = writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            // a non-blocking writer counts what it drops itself
            let _ = writer.write_all(&line);
            line.pop();
        }
        self.counters.written.fetch_add(1, Ordering::Relaxed);
        if let Some((_, queue)) = &self.ship {
            let mut lines = queue.lines.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if lines.len() >= SHIP_QUEUE_LINES {
                lines.pop_front();
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
            lines.push_back(line.into());
            if lines.len() >= SHIP_BATCH_LINES {
                queue.ready.notify_one();
            }
        }
    }

    /// A line for each event the gateway accepted (`debug`): `events` as they were
    /// stored at `positions`, taken in `via` (`http`, `websocket`, `amqp-in:NAME`, …).
    pub(crate) fn accepted(&self, events: &[Accepted], positions: &[Position], via: &str) {
        for (event, position) in events.iter().zip(positions) {
            let message = format!("accepted {} {} from {} via {via}", event.ty, event.id, event.source);
            self.write(Level::Debug, &gateway_line(Level::Debug, "accepted", &message, event, Some(*position), via));
        }
    }

    /// A line for an event a bridge published out (`debug`).
    pub(crate) fn published(&self, event: &CloudEvent, position: Position, via: &str) {
        if !self.wants(Level::Debug) {
            return;
        }
        let event = Accepted::of(event);
        let message = format!("published {} {} via {via}", event.ty, event.id);
        self.write(Level::Debug, &gateway_line(Level::Debug, "published", &message, &event, Some(position), via));
    }

    /// Appends its counters to the Prometheus text of `/metrics`.
    pub(crate) fn render(&self, text: &mut String) {
        let counters = &self.counters;
        for (name, help, value) in [
            ("herald_central_log_lines_total", "Lines kept by the central log.", &counters.written),
            ("herald_central_log_shipped_total", "Lines the _bulk endpoint took.", &counters.shipped),
            ("herald_central_log_dropped_total", "Lines dropped because the _bulk endpoint did not keep up.", &counters.dropped),
            ("herald_central_log_rejected_total", "Lines the _bulk endpoint refused.", &counters.rejected),
            ("herald_central_log_ship_failures_total", "_bulk requests that failed (retried).", &counters.failures),
        ] {
            text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n", value.load(Ordering::Relaxed)));
        }
    }

    /// The shipping task, when the log ships: sends the queued lines to `_bulk` in
    /// batches, retrying (with backoff) while the endpoint cannot take them.
    pub(crate) fn shipper(&self) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let (ship, queue) = self.ship.clone()?;
        let counters = self.counters.clone();
        Some(ship_lines(ship, queue, counters))
    }
}

/// What a gateway line says of an event.
pub(crate) struct Accepted {
    id: String,
    ty: String,
    source: String,
    subject: Option<String>,
    correlation: String,
    causation: Option<String>,
}

impl Accepted {
    pub(crate) fn of(event: &CloudEvent) -> Self {
        Accepted {
            id: event.id.clone(),
            ty: event.ty.clone(),
            source: event.source.clone(),
            subject: event.subject.clone(),
            correlation: event.correlation_id().to_owned(),
            causation: event.causationid.clone(),
        }
    }
}

/// `value` without its `null` members (and objects left empty by that), at any depth.
fn compact(value: Value) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .map(|(name, member)| (name, compact(member)))
                .filter(|(_, member)| !member.is_null() && member.as_object().is_none_or(|o| !o.is_empty()))
                .collect(),
        ),
        other => other,
    }
}

fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The ECS line of the gateway about `event`.
fn gateway_line(level: Level, action: &str, message: &str, event: &Accepted, position: Option<Position>, via: &str) -> Value {
    compact(json!({
        "@timestamp": timestamp(Utc::now()),
        "log.level": level.as_str(),
        "message": message,
        "ecs.version": ECS_VERSION,
        "service": {"name": "herald-server", "type": "gateway"},
        "event": {"dataset": "herald.gateway", "action": action, "kind": "event"},
        "trace": {"id": event.correlation},
        "herald": {
            "correlationid": event.correlation,
            "causationid": event.causation,
            "position": position.map(|p| p.to_string()),
            "via": via,
            "event": {"id": event.id, "type": event.ty, "source": event.source, "subject": event.subject},
        },
    }))
}

/// One entry of `POST /logs`.
#[derive(Debug)]
struct Entry {
    level: Level,
    message: String,
    module: String,
    time: Option<String>,
    correlationid: Option<String>,
    causationid: Option<String>,
    eventid: Option<String>,
    eventtype: Option<String>,
    labels: Map<String, Value>,
}

impl Entry {
    /// `item` as an entry, or which member is missing or of the wrong type (other members
    /// are ignored).
    fn from_value(item: Value) -> Result<Entry, String> {
        let Value::Object(mut item) = item else {
            return Err("an entry is a JSON object".into());
        };
        let mut text = |name: &str, required: bool| match item.remove(name) {
            Some(Value::String(value)) => Ok(Some(value)),
            None | Some(Value::Null) if !required => Ok(None),
            None | Some(Value::Null) => Err(format!("`{name}` is missing")),
            Some(_) => Err(format!("`{name}` must be a string")),
        };
        let level = text("level", true)?.unwrap_or_default().parse()?;
        let message = text("message", true)?.unwrap_or_default();
        let module = text("module", true)?.unwrap_or_default();
        let time = text("time", false)?;
        let correlationid = text("correlationid", false)?;
        let causationid = text("causationid", false)?;
        let eventid = text("eventid", false)?;
        let eventtype = text("eventtype", false)?;
        let labels = match item.remove("labels") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(labels)) => labels,
            Some(_) => return Err("`labels` must be an object".into()),
        };
        Ok(Entry { level, message, module, time, correlationid, causationid, eventid, eventtype, labels })
    }
}

/// `entry` checked, as its ECS line (received at `now` from `user_agent`), or what is
/// wrong with it.
fn entry_line(entry: Entry, now: DateTime<Utc>, user_agent: Option<&str>) -> Result<(Level, Value), String> {
    if entry.message.len() > MAX_MESSAGE_BYTES {
        return Err(format!("`message` is longer than {MAX_MESSAGE_BYTES} bytes"));
    }
    if entry.module.is_empty() || entry.module.len() > 128 {
        return Err("`module` must be 1 to 128 bytes".into());
    }
    for (field, value) in [
        ("correlationid", &entry.correlationid),
        ("causationid", &entry.causationid),
        ("eventid", &entry.eventid),
        ("eventtype", &entry.eventtype),
    ] {
        if value.as_ref().is_some_and(|v| v.is_empty() || v.len() > 256) {
            return Err(format!("`{field}` must be 1 to 256 bytes"));
        }
    }
    if entry.labels.len() > 32 {
        return Err("`labels` has more than 32 members".into());
    }
    for (key, value) in &entry.labels {
        let name_ok = !key.is_empty() && key.len() <= 64 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !name_ok {
            return Err(format!("label `{key}`: a name is 1 to 64 letters, digits or `_`"));
        }
        let value_ok = match value {
            Value::String(s) => s.len() <= 1024,
            Value::Number(_) | Value::Bool(_) => true,
            _ => false,
        };
        if !value_ok {
            return Err(format!("label `{key}`: a value is a string of at most 1024 bytes, a number or a boolean"));
        }
    }
    let logged = match &entry.time {
        None => now,
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map_err(|e| format!("`time` is not an RFC 3339 timestamp: {e}"))?
            .with_timezone(&Utc),
    };
    let mut line = json!({
        "@timestamp": timestamp(logged),
        "log.level": entry.level.as_str(),
        "message": entry.message,
        "ecs.version": ECS_VERSION,
        "service": {"name": entry.module, "type": "mfe"},
        "event": {"dataset": "herald.mfe", "kind": "event", "created": timestamp(now)},
        "herald": {
            "correlationid": entry.correlationid,
            "causationid": entry.causationid,
            "event": {"id": entry.eventid, "type": entry.eventtype},
        },
    });
    if let Some(correlation) = &entry.correlationid {
        line["trace"] = json!({"id": correlation});
    }
    if !entry.labels.is_empty() {
        line["labels"] = Value::Object(entry.labels);
    }
    if let Some(agent) = user_agent {
        line["user_agent"] = json!({"original": agent});
    }
    Ok((entry.level, compact(line)))
}

/// `POST /logs`: a JSON array of log entries, kept in the central log; `202` with
/// `{"accepted": N}`.
pub(crate) async fn post_logs(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    access.check_publish(LOG_TYPE)?;
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    if media != "application/json" && media != "text/plain" {
        return Err(AppError::UnsupportedMediaType(format!(
            "POST /logs takes a JSON array of entries (Content-Type: application/json), not `{}`",
            if media.is_empty() { "(none)" } else { &media }
        )));
    }
    let body = body.map_err(|rejection| AppError::body(rejection, state.max_body_bytes))?;
    let items: Vec<Value> = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadRequest(format!("the body must be a JSON array of log entries: {e}")))?;
    if items.is_empty() || items.len() > MAX_ENTRIES {
        return Err(AppError::BadRequest(format!("a delivery has 1 to {MAX_ENTRIES} entries, not {}", items.len())));
    }
    let now = Utc::now();
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    // every entry checked before any is kept: a delivery is taken whole or not at all
    let lines = items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            Entry::from_value(item)
                .and_then(|entry| entry_line(entry, now, user_agent))
                .map_err(|e| AppError::BadRequest(format!("entry {index}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let accepted = lines.len();
    for (level, line) in lines {
        state.central.write(level, &line);
    }
    Ok((StatusCode::ACCEPTED, Json(json!({ "accepted": accepted }))))
}

/// Ships `queue`'s lines to `ship` for ever.
async fn ship_lines(ship: Ship, queue: Arc<Queue>, counters: Arc<Counters>) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap_or_default();
    let base = ship.url.trim_end_matches('/').to_owned();
    let mut index_ready = false;
    let mut backoff = Duration::from_millis(500);
    loop {
        let _ = tokio::time::timeout(SHIP_INTERVAL, queue.ready.notified()).await;
        loop {
            let batch: Vec<Arc<[u8]>> = {
                let lines = queue.lines.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                lines.iter().take(SHIP_BATCH_LINES).cloned().collect()
            };
            if batch.is_empty() {
                break;
            }
            if !index_ready {
                index_ready = create_index(&client, &base, &ship.index).await;
            }
            match bulk(&client, &base, &ship.index, &batch).await {
                Ok(refused) => {
                    let mut lines = queue.lines.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    // the batch is the queue's front, but for what was dropped meanwhile
                    for line in &batch {
                        if lines.front().is_some_and(|front| Arc::ptr_eq(front, line)) {
                            lines.pop_front();
                        }
                    }
                    drop(lines);
                    counters.shipped.fetch_add((batch.len() - refused) as u64, Ordering::Relaxed);
                    counters.rejected.fetch_add(refused as u64, Ordering::Relaxed);
                    backoff = Duration::from_millis(500);
                }
                Err(error) => {
                    counters.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%error, url = %base, retry_in_ms = backoff.as_millis() as u64, "central log: _bulk failed");
                    index_ready = false;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}

/// Creates the index with its mapping (every string a `keyword` but `message`, `text`),
/// unless it exists; whether it is there now.
async fn create_index(client: &reqwest::Client, base: &str, index: &str) -> bool {
    let mapping = json!({"mappings": {
        "dynamic_templates": [{"strings": {"match_mapping_type": "string", "unmatch": "message", "mapping": {"type": "keyword"}}}],
        "properties": {"@timestamp": {"type": "date"}, "message": {"type": "text"}},
    }});
    match client.put(format!("{base}/{index}")).json(&mapping).send().await {
        Ok(response) if response.status().is_success() => true,
        Ok(response) => {
            let text = response.text().await.unwrap_or_default();
            text.contains("resource_already_exists_exception")
        }
        Err(_) => false,
    }
}

/// Sends `batch` to `_bulk`; how many lines the endpoint refused, or why it took none.
async fn bulk(client: &reqwest::Client, base: &str, index: &str, batch: &[Arc<[u8]>]) -> Result<usize, String> {
    let mut body = Vec::new();
    for line in batch {
        body.extend_from_slice(b"{\"create\":{}}\n");
        body.extend_from_slice(line);
        body.push(b'\n');
    }
    let response = client
        .post(format!("{base}/{index}/_bulk"))
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("{status}: {}", response.text().await.unwrap_or_default()));
    }
    let answer: Value = response.json().await.map_err(|e| e.to_string())?;
    if answer["errors"] != true {
        return Ok(0);
    }
    let items = answer["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    let refused = items
        .iter()
        .filter(|item| item.as_object().and_then(|o| o.values().next()).is_some_and(|r| r["status"].as_u64().unwrap_or(500) >= 300))
        .count();
    if let Some(reason) = items.iter().find_map(|item| item.as_object()?.values().next()?.get("error").cloned()) {
        tracing::warn!(refused, %reason, "central log: the _bulk endpoint refused lines");
    }
    Ok(refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(value: Value) -> Result<(Level, Value), String> {
        entry_line(Entry::from_value(value)?, Utc::now(), Some("test/1"))
    }

    #[test]
    fn an_entry_is_an_ecs_line_with_its_correlation_as_the_trace() {
        let (level, line) = entry(json!({
            "level": "info", "message": "alert raised", "module": "nop-alerts", "time": "2026-12-03T10:00:00+01:00",
            "correlationid": "r-1", "causationid": "r-4", "eventid": "a-1", "eventtype": "nop.noise.alert", "labels": {"sensor": "s-1"}
        }))
        .unwrap();
        assert_eq!(level, Level::Info);
        assert_eq!(line["@timestamp"], "2026-12-03T09:00:00.000Z");
        assert_eq!(line["log.level"], "info");
        assert_eq!(line["ecs.version"], ECS_VERSION);
        assert_eq!(line["service"]["name"], "nop-alerts");
        assert_eq!(line["trace"]["id"], "r-1");
        assert_eq!(line["herald"]["causationid"], "r-4");
        assert_eq!(line["herald"]["event"]["type"], "nop.noise.alert");
        assert_eq!(line["labels"]["sensor"], "s-1");
        assert_eq!(line["user_agent"]["original"], "test/1");
        let (_, bare) = entry(json!({"level": "warn", "message": "m", "module": "x"})).unwrap();
        assert!(bare.get("trace").is_none() && bare.get("herald").is_none(), "no nulls, no empty objects: {bare}");
    }

    #[test]
    fn a_bad_entry_says_what_is_wrong() {
        let error = entry(json!({"level": "loud", "message": "m", "module": "x"})).unwrap_err();
        assert!(error.contains("loud"), "{error}");
        assert!(entry(json!({"level": "info", "module": "x"})).unwrap_err().contains("message"));
        assert!(entry(json!({"level": "info", "message": "m", "module": ""})).unwrap_err().contains("module"));
        assert!(entry(json!({"level": "info", "message": "m", "module": "x", "time": "yesterday"})).unwrap_err().contains("time"));
        assert!(entry(json!({"level": "info", "message": "m", "module": "x", "labels": {"a b": 1}})).unwrap_err().contains("label"));
        assert!(entry(json!({"level": "info", "message": "m", "module": "x", "labels": {"a": {"deep": 1}}})).unwrap_err().contains("label"));
        let long = "x".repeat(MAX_MESSAGE_BYTES + 1);
        assert!(entry(json!({"level": "info", "message": long, "module": "x"})).unwrap_err().contains("message"));
    }

    #[test]
    fn lines_under_the_level_are_not_kept() {
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let log = CentralLog::new(Level::Info).with_writer(sink.clone());
        log.write(Level::Debug, &json!({"message": "no"}));
        log.write(Level::Warn, &json!({"message": "yes"}));
        let written = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(written, "{\"message\":\"yes\"}\n");
        assert!(!CentralLog::new(Level::Debug).wants(Level::Error), "a log going nowhere wants nothing");
    }
}
