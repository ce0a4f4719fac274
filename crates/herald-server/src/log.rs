//! The event log: a store plus the live feed that streams follow.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use herald_protocol::{CloudEvent, Position};
use tokio::sync::broadcast;

use crate::store::{Appended, EventStore, Retention, SqliteStore, Stored};
use crate::StoreError;

/// How many live events the feed holds for streams that are behind. A stream further
/// behind than this (or than its byte limit) is ended with `herald.slow`.
const LIVE_CAPACITY: usize = 4096;

/// How many of the newest events the log keeps in memory, and up to how many bytes of
/// their JSON: a stream resuming from a recent position (every page of a fleet after a
/// gateway restart or a network blip) replays from there, shared frames and all, without
/// reading or parsing the store.
const TAIL_EVENTS: usize = 4096;
const TAIL_BYTES: usize = 4 * 1024 * 1024;

/// An event on the live feed, with the total size of the events appended up to and
/// including it: a stream about to send it knows how many bytes it is behind.
#[derive(Debug, Clone)]
pub struct Fed {
    /// The event.
    pub stored: Arc<Stored>,
    /// Bytes of JSON appended to the log up to and including this event (since start).
    pub offset: u64,
}

/// The gateway's event log: appends go to the [`EventStore`] and then, in position
/// order, to every live stream.
pub struct EventLog {
    store: Box<dyn EventStore>,
    shared: Arc<Shared>,
    /// Whether the store hands the live events over (a store several gateways share):
    /// then appends are not sent to the feed here.
    followed: bool,
}

/// What the log and a following store's task share.
struct Shared {
    /// Held across store append and feed send, so live streams see position order.
    head: Mutex<u64>,
    live: broadcast::Sender<Fed>,
    bytes: AtomicU64,
    tail: Mutex<Tail>,
}

/// The newest events, in order: every event stored after `after` is here.
struct Tail {
    after: u64,
    events: VecDeque<Arc<Stored>>,
    bytes: usize,
}

impl Tail {
    fn push(&mut self, stored: Arc<Stored>) {
        self.bytes += stored.json.len();
        self.events.push_back(stored);
        while self.events.len() > TAIL_EVENTS || self.bytes > TAIL_BYTES {
            let Some(oldest) = self.events.pop_front() else { break };
            self.bytes -= oldest.json.len();
            self.after = oldest.position.seq;
        }
    }

    /// Up to `limit` events after `after`, if the tail holds all of them.
    fn read(&self, after: u64, limit: usize) -> Option<Vec<Arc<Stored>>> {
        if after < self.after {
            return None;
        }
        let start = self.events.partition_point(|s| s.position.seq <= after);
        Some(self.events.iter().skip(start).take(limit).cloned().collect())
    }

    /// Forgets every event: from now on it holds those stored after `head`.
    fn clear(&mut self, head: u64) {
        self.events.clear();
        self.bytes = 0;
        self.after = head;
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, u64> {
        self.head.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn tail(&self) -> MutexGuard<'_, Tail> {
        self.tail.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends `stored` to the live feed (the caller holds the head lock).
    fn feed(&self, head: &mut u64, stored: Arc<Stored>) {
        *head = (*head).max(stored.position.seq);
        let len = stored.json.len() as u64;
        let offset = self.bytes.fetch_add(len, Ordering::Relaxed) + len;
        self.tail().push(stored.clone());
        let _ = self.live.send(Fed { stored, offset });
    }
}

impl EventLog {
    /// The default durable log in `dir`: an SQLite store ([`SqliteStore`]).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::with_store(SqliteStore::open(dir)?)
    }

    /// A log that lives in memory only (tests, throwaway demos).
    pub fn in_memory() -> Self {
        let store = SqliteStore::in_memory().expect("SQLite opens an in-memory database");
        Self::with_store(store).expect("an empty in-memory store has a head")
    }

    /// The store under the log (queries read it directly).
    pub fn store(&self) -> &dyn EventStore {
        &*self.store
    }

    /// A log over any store.
    pub fn with_store(store: impl EventStore) -> Result<Self, StoreError> {
        let head = store.head()?;
        let (live, _) = broadcast::channel(LIVE_CAPACITY);
        let shared = Arc::new(Shared {
            head: Mutex::new(head),
            live,
            bytes: AtomicU64::new(0),
            tail: Mutex::new(Tail { after: head, events: VecDeque::new(), bytes: 0 }),
        });
        let sink = shared.clone();
        let followed = store.follow(
            head,
            Box::new(move |stored| {
                let mut head = sink.lock();
                if stored.position.seq > *head {
                    sink.feed(&mut head, stored);
                }
            }),
        );
        Ok(EventLog {
            store: Box::new(store),
            shared,
            followed,
        })
    }

    /// Whether the store can take appends now; the reason when not.
    pub fn health(&self) -> Result<(), String> {
        self.store.health()
    }

    /// The log's epoch: the first half of every position.
    pub fn epoch(&self) -> u64 {
        self.store.epoch()
    }

    /// The position of the newest event, or `EPOCH-0` when the log is empty.
    pub fn head(&self) -> Position {
        Position::new(self.epoch(), *self.shared.lock())
    }

    /// The newest position any gateway stored, asked of the store (this gateway's
    /// [`EventLog::head`] may trail it when the store is shared).
    ///
    /// This may block on I/O: call it from a blocking context.
    pub fn durable_head(&self) -> Result<Position, StoreError> {
        Ok(Position::new(self.epoch(), self.store.durable_head()?))
    }

    /// Bytes of JSON sent to the live feed since the gateway started.
    pub fn appended_bytes(&self) -> u64 {
        self.shared.bytes.load(Ordering::Relaxed)
    }

    /// Stores `event` durably and publishes it to live streams; returns its position.
    ///
    /// This blocks on disk I/O: call it from a blocking context.
    pub fn append(&self, event: CloudEvent) -> Result<Position, StoreError> {
        Ok(self.append_all(vec![event])?[0])
    }

    /// Stores `events` durably, all or none, and publishes the new ones to live streams
    /// in order; returns their positions. An event with the (`source`, `id`) of one
    /// already stored (or earlier in the same call) is a repeat: it is not stored again,
    /// and its position is the first one's.
    ///
    /// This blocks on disk I/O: call it from a blocking context.
    pub fn append_all(&self, events: Vec<CloudEvent>) -> Result<Vec<Position>, StoreError> {
        self.append_with_cursors(events, &[])
    }

    /// [`EventLog::append_all`], setting the named `cursors` in the same commit (a
    /// bridge's consumed offsets; see [`EventStore::append_with_cursors`]).
    ///
    /// This blocks on disk I/O: call it from a blocking context.
    pub fn append_with_cursors(&self, events: Vec<CloudEvent>, cursors: &[(&str, u64)]) -> Result<Vec<Position>, StoreError> {
        if self.followed {
            // the store's own feed brings these (and every other gateway's) to the streams
            let appended = self.store.append_with_cursors(events, cursors)?;
            return Ok(appended.iter().map(Appended::position).collect());
        }
        let mut head = self.shared.lock();
        let appended = self.store.append_with_cursors(events, cursors)?;
        for outcome in &appended {
            if let Appended::New(stored) = outcome {
                self.shared.feed(&mut head, stored.clone());
            }
        }
        Ok(appended.iter().map(Appended::position).collect())
    }

    /// The bridge cursor `name`, `None` when never set.
    ///
    /// This blocks on I/O: call it from a blocking context.
    pub fn cursor(&self, name: &str) -> Result<Option<u64>, StoreError> {
        self.store.cursor(name)
    }

    /// Sets the bridge cursor `name` durably.
    ///
    /// This blocks on disk I/O: call it from a blocking context.
    pub fn set_cursor(&self, name: &str, value: u64) -> Result<(), StoreError> {
        self.store.append_with_cursors(Vec::new(), &[(name, value)]).map(|_| ())
    }

    /// Up to `limit` stored events after sequence number `after`, in order.
    ///
    /// This blocks on I/O: call it from a blocking context.
    pub fn read(&self, after: u64, limit: usize) -> Result<Vec<Arc<Stored>>, StoreError> {
        if let Some(recent) = self.read_recent(after, limit) {
            return Ok(recent);
        }
        self.store.read(after, limit)
    }

    /// [`EventLog::read`] from the events kept in memory, without I/O: `None` when they do
    /// not reach back to `after` (read the store then).
    pub fn read_recent(&self, after: u64, limit: usize) -> Option<Vec<Arc<Stored>>> {
        self.shared.tail().read(after, limit)
    }

    /// Every stored event after `after` (tests and tools; streams read in pages).
    pub fn after(&self, after: u64) -> Result<Vec<Arc<Stored>>, StoreError> {
        self.read(after, usize::MAX >> 1)
    }

    /// The topics retention removed events from after sequence number `after` (`None`:
    /// the store cannot say which).
    pub fn trimmed_since(&self, after: u64) -> Result<Option<Vec<String>>, StoreError> {
        self.store.trimmed_since(after)
    }

    /// Removes what `rules` no longer keep; returns how many events.
    pub fn enforce(&self, rules: &[Retention]) -> Result<u64, StoreError> {
        let removed = self.store.enforce(rules, crate::store::now_millis())?;
        if removed > 0 {
            // what retention removed is not replayed from memory either
            let head = self.shared.lock();
            self.shared.tail().clear(*head);
        }
        Ok(removed)
    }

    /// A feed of events appended from now on, together with the head position at the
    /// moment the feed starts (everything after it will arrive on the feed).
    pub fn follow(&self) -> (Position, broadcast::Receiver<Fed>) {
        let head = self.shared.lock();
        (Position::new(self.epoch(), *head), self.shared.live.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> CloudEvent {
        event_of(id, "nop.noise.reading")
    }

    fn event_of(id: &str, ty: &str) -> CloudEvent {
        CloudEvent::new(id, "/test", ty).with_data(serde_json::json!({"db": 1}))
    }

    fn ids(stored: &[Arc<Stored>]) -> Vec<String> {
        stored.iter().map(|s| s.event.id.clone()).collect()
    }

    #[test]
    fn recent_events_are_read_from_memory_and_older_ones_from_the_store() {
        let log = EventLog::in_memory();
        for i in 0..(TAIL_EVENTS + 10) {
            log.append(event(&format!("e{i}"))).unwrap();
        }
        let head = log.head().seq;
        // the newest TAIL_EVENTS are in memory, in order, paged
        let recent = log.read_recent(head - 3, 2).unwrap();
        assert_eq!(ids(&recent), [format!("e{}", TAIL_EVENTS + 7), format!("e{}", TAIL_EVENTS + 8)]);
        assert!(log.read_recent(head, 10).unwrap().is_empty());
        // an older position is the store's to answer, with the same events
        assert!(log.read_recent(5, 10).is_none());
        assert_eq!(ids(&log.read(5, 2).unwrap()), ["e5", "e6"]);
        let from_memory = log.read(head - 100, 100).unwrap();
        let from_store = log.store.read(head - 100, 100).unwrap();
        assert_eq!(ids(&from_memory), ids(&from_store));
    }

    #[test]
    fn retention_empties_the_memory_so_removed_events_are_not_replayed() {
        let log = EventLog::in_memory();
        log.append(event_of("old", "a.x")).unwrap();
        log.append(event_of("keep", "b.x")).unwrap();
        assert_eq!(ids(&log.read_recent(0, 10).unwrap()), ["old", "keep"]);
        let rules = [Retention { pattern: "a.>".parse().unwrap(), max_count: Some(0), max_age: None }];
        assert_eq!(log.enforce(&rules).unwrap(), 1);
        assert!(log.read_recent(0, 10).is_none(), "the memory no longer reaches back");
        assert_eq!(ids(&log.read(0, 10).unwrap()), ["keep"]);
        log.append(event_of("new", "b.x")).unwrap();
        assert_eq!(ids(&log.read_recent(2, 10).unwrap()), ["new"]);
    }

    #[test]
    fn positions_count_up_from_one() {
        let log = EventLog::in_memory();
        assert_eq!(log.head().seq, 0);
        assert_eq!(log.append(event("a")).unwrap().seq, 1);
        assert_eq!(log.append(event("b")).unwrap().seq, 2);
        assert_eq!(ids(&log.after(1).unwrap()), ["b"]);
        assert!(log.after(99).unwrap().is_empty());
        assert_eq!(ids(&log.read(0, 1).unwrap()), ["a"]);
    }

    #[test]
    fn a_reopened_log_has_the_same_events_at_the_same_positions() {
        let dir = tempfile::tempdir().unwrap();
        let (epoch, positions) = {
            let log = EventLog::open(dir.path()).unwrap();
            let p = [log.append(event("a")).unwrap(), log.append(event("b")).unwrap()];
            (log.epoch(), p)
        };
        let log = EventLog::open(dir.path()).unwrap();
        assert_eq!(log.epoch(), epoch);
        let stored = log.after(0).unwrap();
        assert_eq!(stored.iter().map(|s| s.position).collect::<Vec<_>>(), positions);
        assert_eq!(stored[1].event, event("b"));
        assert_eq!(log.append(event("c")).unwrap(), Position::new(epoch, 3));
    }

    #[test]
    fn a_batch_is_stored_in_order_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let positions = {
            let log = EventLog::open(dir.path()).unwrap();
            log.append(event("a")).unwrap();
            log.append_all(vec![event("b"), event("c")]).unwrap()
        };
        assert_eq!(positions.iter().map(|p| p.seq).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(ids(&EventLog::open(dir.path()).unwrap().after(0).unwrap()), ["a", "b", "c"]);
    }

    #[test]
    fn a_repeat_of_source_and_id_is_stored_once_even_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let first = {
            let log = EventLog::open(dir.path()).unwrap();
            let first = log.append(event("a")).unwrap();
            assert_eq!(log.append(event("a")).unwrap(), first);
            let batch = log.append_all(vec![event("b"), event("a"), event("b")]).unwrap();
            assert_eq!(batch[1], first);
            assert_eq!(batch[0], batch[2]);
            first
        };
        let log = EventLog::open(dir.path()).unwrap();
        assert_eq!(log.append(event("a")).unwrap(), first);
        assert_eq!(log.after(0).unwrap().len(), 2);
        // the same id from another source is another event
        let mut other = event("a");
        other.source = "/elsewhere".into();
        assert_eq!(log.append(other).unwrap().seq, 3);
    }

    #[test]
    fn followers_get_every_event_after_the_head() {
        let log = EventLog::in_memory();
        log.append(event("a")).unwrap();
        let (head, mut feed) = log.follow();
        log.append(event("b")).unwrap();
        assert_eq!(head.seq, 1);
        let fed = feed.try_recv().unwrap();
        assert_eq!(fed.stored.event.id, "b");
        assert_eq!(fed.offset, log.appended_bytes());
    }

    #[test]
    fn retention_keeps_the_newest_per_topic_and_records_the_trim() {
        let log = EventLog::in_memory();
        for i in 0..5 {
            log.append(event_of(&format!("r{i}"), "nop.noise.reading")).unwrap();
            log.append(event_of(&format!("a{i}"), "nop.noise.alert")).unwrap();
        }
        let rules = [Retention {
            pattern: "nop.noise.reading".parse().unwrap(),
            max_count: Some(2),
            max_age: None,
        }];
        assert_eq!(log.enforce(&rules).unwrap(), 3);
        let left = ids(&log.after(0).unwrap());
        assert_eq!(left, ["a0", "a1", "a2", "r3", "a3", "r4", "a4"]);
        // r2 was seq 5: a resume from before it missed events of that topic
        assert_eq!(log.trimmed_since(4).unwrap().unwrap(), ["nop.noise.reading"]);
        assert!(log.trimmed_since(5).unwrap().unwrap().is_empty());
        // the trimmed (source, id) may come again: it is outside the retention window
        assert_eq!(log.append(event_of("r0", "nop.noise.reading")).unwrap().seq, 11);
        // and the sequence never goes back even after a trim of the newest
        assert_eq!(log.head().seq, 11);
    }

    #[test]
    fn retention_by_age_removes_what_is_older() {
        let log = EventLog::in_memory();
        log.append(event("old")).unwrap();
        let rules = [Retention {
            pattern: "nop.>".parse().unwrap(),
            max_count: None,
            max_age: Some(std::time::Duration::ZERO),
        }];
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(log.enforce(&rules).unwrap(), 1);
        assert!(log.after(0).unwrap().is_empty());
        assert_eq!(log.append(event("new")).unwrap().seq, 2);
    }
}
