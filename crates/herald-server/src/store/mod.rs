//! Event stores: where the gateway keeps events, behind one trait.
//!
//! The gateway needs little from a store, and nothing that only one machine can do, so a
//! distributed log (NATS JetStream, say) can stand in for the embedded one:
//!
//! - a **global sequence**: every stored event gets the next number of one total order,
//!   and an **epoch** that changes whenever that order starts again (a new store), so
//!   that a position `EPOCH-SEQ` from another history is recognised, never misread;
//! - **append** of a batch, all or none, durable before it returns, with repeats of a
//!   (`source`, `id`) already stored answered with the first position;
//! - **replay** from a position, in pages;
//! - **retention** per topic, enforced by the store, with a record of how far each topic
//!   was trimmed so that a stream resuming behind it is told (`herald.reset`).
//!
//! [`SqliteStore`] is the default: SQLite in WAL mode, one fsync per append (see
//! `docs/ARCHITECTURE.md` for the measurement that chose it over redb).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;

use herald_protocol::{CloudEvent, Position, TopicPattern};

use crate::StoreError;

mod sqlite;
pub use sqlite::SqliteStore;

mod nats;
pub use nats::{NatsConfig, NatsStore};

#[cfg(feature = "redb")]
mod redb_store;
#[cfg(feature = "redb")]
pub use redb_store::RedbStore;

/// One stored event.
#[derive(Debug)]
pub struct Stored {
    /// Where it is in the log.
    pub position: Position,
    /// The event.
    pub event: CloudEvent,
    /// The event as structured-mode JSON, serialised once for every stream.
    pub json: String,
    sse: OnceLock<Bytes>,
    ws: OnceLock<Utf8Bytes>,
}

impl Stored {
    /// An event stored at `position`, with `json` its structured-mode serialisation.
    pub fn new(position: Position, event: CloudEvent, json: String) -> Self {
        Stored {
            position,
            event,
            json,
            sse: OnceLock::new(),
            ws: OnceLock::new(),
        }
    }

    /// The event as one Server-Sent Events frame, `id: POSITION`, `data: JSON` — built
    /// once, then shared by every stream that sends it. (Compact JSON has no line
    /// breaks, so one `data:` line carries it.)
    pub fn sse_frame(&self) -> Bytes {
        self.sse
            .get_or_init(|| Bytes::from(format!("id: {}\ndata: {}\n\n", self.position, self.json)))
            .clone()
    }

    /// The event as a WebSocket text message: the JSON with the `heraldposition`
    /// extension attribute in front — built once, then shared.
    pub fn ws_frame(&self) -> Utf8Bytes {
        self.ws
            .get_or_init(|| Utf8Bytes::from(with_position(&self.json, self.position)))
            .clone()
    }
}

/// `json` (a structured-mode event) with the `heraldposition` attribute added in front.
pub(crate) fn with_position(json: &str, position: Position) -> String {
    let rest = json.strip_prefix('{').unwrap_or(json);
    let separator = if rest.trim_start().starts_with('}') { "" } else { "," };
    format!("{{\"{}\":\"{position}\"{separator}{rest}", crate::POSITION_ATTRIBUTE)
}

/// What [`EventStore::append`] did with one event of a batch.
#[derive(Debug, Clone)]
pub enum Appended {
    /// Stored now, at this position.
    New(Arc<Stored>),
    /// A repeat of the (`source`, `id`) of an event stored earlier, at this position;
    /// not stored again.
    Repeat(Position),
}

impl Appended {
    /// The event's position, new or first.
    pub fn position(&self) -> Position {
        match self {
            Appended::New(stored) => stored.position,
            Appended::Repeat(position) => *position,
        }
    }
}

/// How long events of the topics matching `pattern` are kept: the topic (the event
/// `type`) keeps at most `max_count` events, none older than `max_age`. The first rule
/// whose pattern matches a topic applies to it; a topic no rule matches is kept forever.
#[derive(Debug, Clone, PartialEq)]
pub struct Retention {
    /// Which topics this rule covers.
    pub pattern: TopicPattern,
    /// At most this many events per topic.
    pub max_count: Option<u64>,
    /// No event older than this (by the time the gateway stored it).
    pub max_age: Option<Duration>,
}

impl Retention {
    /// The rule for `topic`: the first in `rules` whose pattern matches it.
    pub fn for_topic<'a>(rules: &'a [Retention], topic: &str) -> Option<&'a Retention> {
        rules.iter().find(|rule| rule.pattern.matches(topic))
    }
}

/// A durable, totally ordered event store.
///
/// Every method may block on I/O: the gateway calls them from blocking threads
/// (`tokio::task::spawn_blocking`), never on the async runtime.
pub trait EventStore: Send + Sync + 'static {
    /// The epoch of this store's sequence.
    fn epoch(&self) -> u64;

    /// The sequence number of the newest event (`0` when none was ever stored).
    fn head(&self) -> Result<u64, StoreError>;

    /// The newest sequence number stored by anyone, asked of the store itself (for a
    /// store several gateways share, [`EventStore::head`] may trail it). Default: `head`.
    fn durable_head(&self) -> Result<u64, StoreError> {
        self.head()
    }

    /// Stores the new events of `events` durably, all or none, in order, and says for
    /// each event of the batch what became of it. An event whose (`source`, `id`) is
    /// already stored, or earlier in the same batch, is a [`Appended::Repeat`].
    fn append(&self, events: Vec<CloudEvent>) -> Result<Vec<Appended>, StoreError>;

    /// Up to `limit` stored events after sequence number `after`, in order.
    fn read(&self, after: u64, limit: usize) -> Result<Vec<Arc<Stored>>, StoreError>;

    /// The topics from which retention removed an event with a sequence number above
    /// `after`: a stream of one of them resuming from `after` has missed events. `None`
    /// when the store cannot tell which topics: every stream resuming from `after` has to
    /// be told to resync.
    fn trimmed_since(&self, after: u64) -> Result<Option<Vec<String>>, StoreError>;

    /// Stores `events` as [`EventStore::append`] does and, in the same commit, sets each
    /// named cursor of `cursors` (a bridge's progress: an offset consumed, a position
    /// published). Default: only without cursors, for a store that keeps none.
    fn append_with_cursors(&self, events: Vec<CloudEvent>, cursors: &[(&str, u64)]) -> Result<Vec<Appended>, StoreError> {
        if cursors.is_empty() {
            return self.append(events);
        }
        Err(StoreError::Rejected("this event store keeps no bridge cursors: use the embedded store".into()))
    }

    /// The value of the cursor `name`, `None` when it was never set.
    fn cursor(&self, name: &str) -> Result<Option<u64>, StoreError> {
        let _ = name;
        Err(StoreError::Rejected("this event store keeps no bridge cursors: use the embedded store".into()))
    }

    /// Removes the events `rules` no longer keep, as of `now_millis`; returns how many.
    fn enforce(&self, rules: &[Retention], now_millis: u64) -> Result<u64, StoreError>;

    /// For a store that several gateways share: starts handing `deliver` every event
    /// stored after sequence number `after` — by any gateway — in order, and returns
    /// `true`; the log then sends its streams what it is handed, not what it appended.
    /// A store only this gateway writes returns `false` (the default).
    fn follow(&self, after: u64, deliver: Box<dyn Fn(Arc<Stored>) + Send + Sync>) -> bool {
        let _ = (after, deliver);
        false
    }

    /// Whether the store can take appends now; the reason when not (`/healthz`).
    fn health(&self) -> Result<(), String> {
        Ok(())
    }

    /// The store's records (docs/protocol.md §3.16), if it keeps any. Default: none.
    fn records(&self) -> Option<&dyn Records> {
        None
    }

    /// Every event type stored (for `GET /events/query`, to keep an answer to the types
    /// the asker may read). Default: [`Answer::Unsupported`].
    fn types(&self) -> Result<Answer<Vec<String>>, StoreError> {
        Ok(Answer::Unsupported)
    }

    /// Runs one compiled query (`GET /events/query`, docs/protocol.md §3.15): at most
    /// `sql.limit + 1` rows, each a JSON value per column of `sql.columns`, or
    /// [`Answer::TimedOut`] when it ran longer than `QUERY_TIME`. Default:
    /// [`Answer::Unsupported`].
    fn query(&self, sql: &crate::query::Sql) -> Result<Answer<Vec<Vec<serde_json::Value>>>, StoreError> {
        let _ = sql;
        Ok(Answer::Unsupported)
    }
}

/// What the gateway's records (`/records/{name}`, the documents pointer events point at,
/// docs/protocol.md §3.16) need of a store; a store without them answers
/// [`Answer::Unsupported`].
pub trait Records {
    /// Stores `json` as the next revision of record `name` (durably, before it returns);
    /// the revision, from 1.
    fn put_record(&self, name: &str, json: &str) -> Result<Answer<u64>, StoreError>;

    /// Revision `revision` of record `name` (`None`: its latest) and its JSON text;
    /// `None` when there is no such record or revision.
    fn record(&self, name: &str, revision: Option<u64>) -> Result<Answer<Option<(u64, String)>>, StoreError>;
}

/// How long one query may run.
pub const QUERY_TIME: Duration = Duration::from_secs(5);

/// What a store answers a query with.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer<T> {
    /// The answer.
    Done(T),
    /// It ran longer than [`QUERY_TIME`] and was stopped.
    TimedOut,
    /// This store cannot run queries.
    Unsupported,
}

/// The file `name` in the data directory `dir` (created if missing), and its path as the
/// store's errors name it: where an embedded store keeps its events.
pub(crate) fn data_file(dir: &std::path::Path, name: &str) -> Result<(std::path::PathBuf, String), StoreError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let file = dir.join(name);
    let path = file.display().to_string();
    Ok((file, path))
}

pub(crate) fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
