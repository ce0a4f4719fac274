//! The event log: an append-only sequence of stored events with positions, durable in a
//! data directory, with a live feed for streams.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use herald_protocol::{CloudEvent, Position};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::StoreError;

/// How many live events a stream may fall behind before it is ended (it then resumes
/// from its last position).
const LIVE_CAPACITY: usize = 4096;

/// One stored event.
#[derive(Debug)]
pub struct Stored {
    /// Where it is in the log.
    pub position: Position,
    /// The event.
    pub event: CloudEvent,
    /// The event as structured-mode JSON, serialised once for every stream.
    pub json: String,
}

/// The gateway's event log.
///
/// Appends are written to `events.jsonl` in the data directory and flushed to disk
/// (`fsync`) before [`EventLog::append`] returns, so an event that was answered with
/// `202` survives a crash. The log is read back on start with the same positions; a record
/// torn by a crash mid-write (never acknowledged) is cut off.
pub struct EventLog {
    epoch: u64,
    inner: Mutex<Inner>,
    live: broadcast::Sender<Arc<Stored>>,
}

struct Inner {
    events: Vec<Arc<Stored>>,
    file: Option<(File, PathBuf)>,
    /// The position of every stored event by (`source`, `id`): a repeat is not stored again.
    seen: HashMap<(String, String), Position>,
}

#[derive(Serialize, Deserialize)]
struct Record<'a> {
    seq: u64,
    #[serde(borrow)]
    event: &'a serde_json::value::RawValue,
}

impl EventLog {
    /// A log that lives in memory only (for tests and throwaway demos).
    pub fn in_memory() -> Self {
        EventLog::with(now_millis(), Vec::new(), None)
    }

    /// Opens (or creates) the durable log in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| StoreError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let epoch_path = dir.join("epoch");
        let epoch = match std::fs::read_to_string(&epoch_path) {
            Ok(text) => text.trim().parse().map_err(|_| StoreError::Corrupt {
                path: epoch_path.display().to_string(),
                line: 1,
                reason: format!("`{}` is not an epoch number", text.trim()),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let epoch = now_millis();
                write_durably(&epoch_path, epoch.to_string().as_bytes()).map_err(io(&epoch_path))?;
                epoch
            }
            Err(e) => return Err(io(&epoch_path)(e)),
        };

        let log_path = dir.join("events.jsonl");
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&log_path)
            .map_err(io(&log_path))?;
        let (events, good_len) = read_records(&file, &log_path, epoch)?;
        if good_len < file.metadata().map_err(io(&log_path))?.len() {
            tracing::warn!(path = %log_path.display(), "cutting off a record torn by a crash");
            file.set_len(good_len).map_err(io(&log_path))?;
            file.sync_all().map_err(io(&log_path))?;
        }
        file.seek(SeekFrom::End(0)).map_err(io(&log_path))?;
        Ok(EventLog::with(epoch, events, Some((file, log_path))))
    }

    fn with(epoch: u64, events: Vec<Arc<Stored>>, file: Option<(File, PathBuf)>) -> Self {
        let (live, _) = broadcast::channel(LIVE_CAPACITY);
        EventLog {
            epoch,
            inner: Mutex::new(Inner {
                seen: events
                    .iter()
                    .map(|s| ((s.event.source.clone(), s.event.id.clone()), s.position))
                    .collect(),
                events,
                file,
            }),
            live,
        }
    }

    /// The log's epoch: the first half of every position.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The position of the newest event, or `EPOCH-0` when the log is empty.
    pub fn head(&self) -> Position {
        let inner = self.lock();
        Position::new(self.epoch, inner.events.len() as u64)
    }

    /// Stores `event` durably and publishes it to live streams; returns its position.
    ///
    /// This blocks on disk I/O: call it from a blocking context.
    pub fn append(&self, event: CloudEvent) -> Result<Position, StoreError> {
        Ok(self.append_all(vec![event])?[0])
    }

    /// Stores `events` durably, all or none, with one flush to disk, and publishes them to
    /// live streams in order; returns their positions.
    ///
    /// An event with the (`source`, `id`) of one already stored (or earlier in the same
    /// call) is a repeat: it is not stored again, and its position is the first one's.
    ///
    /// This blocks on disk I/O: call it from a blocking context.
    pub fn append_all(&self, events: Vec<CloudEvent>) -> Result<Vec<Position>, StoreError> {
        let mut inner = self.lock();
        let mut next = inner.events.len() as u64 + 1;
        let mut all_positions = Vec::with_capacity(events.len());
        let mut new: Vec<(Position, CloudEvent)> = Vec::new();
        let mut batch_seen: HashMap<(String, String), Position> = HashMap::new();
        for event in events {
            let key = (event.source.clone(), event.id.clone());
            if let Some(position) = inner.seen.get(&key).or_else(|| batch_seen.get(&key)) {
                all_positions.push(*position);
                continue;
            }
            let position = Position::new(self.epoch, next);
            next += 1;
            batch_seen.insert(key, position);
            all_positions.push(position);
            new.push((position, event));
        }
        if new.is_empty() {
            return Ok(all_positions);
        }
        let jsons: Vec<String> = new
            .iter()
            .map(|(_, event)| serde_json::to_string(event).expect("a CloudEvent always serialises"))
            .collect();
        let positions: Vec<Position> = new.iter().map(|(p, _)| *p).collect();
        let events: Vec<CloudEvent> = new.into_iter().map(|(_, e)| e).collect();
        if let Some((file, path)) = &mut inner.file {
            let mut lines = String::new();
            for (position, json) in positions.iter().zip(&jsons) {
                lines.push_str(&format!("{{\"seq\":{},\"event\":{json}}}\n", position.seq));
            }
            let io = |source| StoreError::Io {
                path: path.display().to_string(),
                source,
            };
            let before = file.metadata().map_err(io)?.len();
            if let Err(error) = file.write_all(lines.as_bytes()).and_then(|()| file.sync_data()) {
                // Leave no partial record behind to corrupt the records after it.
                let _ = file.set_len(before);
                return Err(io(error));
            }
        }
        inner.seen.extend(batch_seen);
        for ((position, event), json) in positions.iter().zip(events).zip(jsons) {
            let stored = Arc::new(Stored {
                position: *position,
                event,
                json,
            });
            inner.events.push(stored.clone());
            // Sent under the lock, so live streams see events in position order.
            let _ = self.live.send(stored);
        }
        Ok(all_positions)
    }

    /// The stored events after `seq`, in order.
    pub fn after(&self, seq: u64) -> Vec<Arc<Stored>> {
        let inner = self.lock();
        let start = usize::try_from(seq).unwrap_or(usize::MAX).min(inner.events.len());
        inner.events[start..].to_vec()
    }

    /// A feed of events appended from now on, together with the head position at the
    /// moment the feed starts (everything after it will arrive on the feed).
    pub fn follow(&self) -> (Position, broadcast::Receiver<Arc<Stored>>) {
        let inner = self.lock();
        let head = Position::new(self.epoch, inner.events.len() as u64);
        (head, self.live.subscribe())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` half-updated: the file is
        // written before the in-memory vector, which is pushed in one step.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn read_records(file: &File, path: &Path, epoch: u64) -> Result<(Vec<Arc<Stored>>, u64), StoreError> {
    let mut reader = BufReader::new(file);
    let mut events = Vec::new();
    let mut good_len = 0u64;
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(|source| StoreError::Io {
            path: path.display().to_string(),
            source,
        })?;
        if n == 0 {
            break;
        }
        let corrupt = |reason: String| StoreError::Corrupt {
            path: path.display().to_string(),
            line: events.len() + 1,
            reason,
        };
        let complete = line.ends_with('\n');
        let record: Record = match serde_json::from_str(line.trim_end()) {
            Ok(record) => record,
            // Only the last record can be torn, and only if the crash came mid-write.
            Err(_) if !complete => break,
            Err(e) => return Err(corrupt(e.to_string())),
        };
        if !complete {
            break;
        }
        let expected = events.len() as u64 + 1;
        if record.seq != expected {
            return Err(corrupt(format!("sequence {} where {expected} was expected", record.seq)));
        }
        let json = record.event.get().to_owned();
        let event = CloudEvent::from_json(json.as_bytes()).map_err(|e| corrupt(e.to_string()))?;
        events.push(Arc::new(Stored {
            position: Position::new(epoch, record.seq),
            event,
            json,
        }));
        good_len += n as u64;
    }
    Ok((events, good_len))
}

fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> CloudEvent {
        CloudEvent::new(id, "/test", "nop.noise.reading").with_data(serde_json::json!({"db": 1}))
    }

    #[test]
    fn positions_count_up_from_one() {
        let log = EventLog::in_memory();
        assert_eq!(log.head().seq, 0);
        assert_eq!(log.append(event("a")).unwrap().seq, 1);
        assert_eq!(log.append(event("b")).unwrap().seq, 2);
        let ids: Vec<_> = log.after(1).iter().map(|s| s.event.id.clone()).collect();
        assert_eq!(ids, ["b"]);
        assert!(log.after(99).is_empty());
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
        let stored = log.after(0);
        assert_eq!(stored.iter().map(|s| s.position).collect::<Vec<_>>(), positions);
        assert_eq!(stored[1].event, event("b"));
        assert_eq!(log.append(event("c")).unwrap(), Position::new(epoch, 3));
    }

    #[test]
    fn a_torn_last_record_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = EventLog::open(dir.path()).unwrap();
            log.append(event("a")).unwrap();
        }
        let path = dir.path().join("events.jsonl");
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"seq\":2,\"event\":{\"specver").unwrap();
        drop(file);

        let log = EventLog::open(dir.path()).unwrap();
        assert_eq!(log.head().seq, 1);
        assert_eq!(log.append(event("b")).unwrap().seq, 2);
        drop(log);
        assert_eq!(EventLog::open(dir.path()).unwrap().after(0).len(), 2);
    }

    #[test]
    fn a_corrupt_complete_record_is_an_error_not_a_silent_loss() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("events.jsonl"), "garbage\n").unwrap();
        assert!(matches!(EventLog::open(dir.path()), Err(StoreError::Corrupt { line: 1, .. })));
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
        let ids: Vec<_> = EventLog::open(dir.path()).unwrap().after(0).iter().map(|s| s.event.id.clone()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
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
        assert_eq!(log.after(0).len(), 2);
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
        assert_eq!(feed.try_recv().unwrap().event.id, "b");
    }
}
