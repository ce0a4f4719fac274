//! The default store: SQLite (WAL journal, `synchronous=FULL`) in the data directory.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use herald_protocol::{CloudEvent, Position};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};
use serde_json::Value;

use super::{Answer, Appended, EventStore, Records, Retention, Stored};
use crate::query::{Output, Param, Sql};
use crate::StoreError;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS events (
        seq       INTEGER PRIMARY KEY AUTOINCREMENT,
        source    TEXT NOT NULL,
        id        TEXT NOT NULL,
        type      TEXT NOT NULL,
        stored_ms INTEGER NOT NULL,
        json      TEXT NOT NULL,
        UNIQUE (source, id)
    );
    CREATE INDEX IF NOT EXISTS events_by_type ON events (type, seq);
    CREATE TABLE IF NOT EXISTS trimmed (type TEXT PRIMARY KEY, upto INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS records (
        name      TEXT NOT NULL,
        revision  INTEGER NOT NULL,
        stored_ms INTEGER NOT NULL,
        json      TEXT NOT NULL,
        PRIMARY KEY (name, revision)
    );
";

/// Events in an SQLite database, `events.sqlite3` in the data directory.
///
/// Each append is one transaction; its commit is flushed to disk (`fsync` of the
/// write-ahead log) before [`EventStore::append`] returns, so an event answered `202`
/// survives `kill -9` and power loss. Sequence numbers are SQLite's `AUTOINCREMENT`
/// row ids, never reused even when retention removes the newest rows of a topic.
pub struct SqliteStore {
    epoch: u64,
    writer: Mutex<Connection>,
    /// A second connection for replays, so that a long replay does not hold up appends
    /// (WAL readers do not block the writer). `None` in memory, where there is one.
    reader: Option<Mutex<Connection>>,
    /// A third for queries (`GET /events/query`), so that one does not hold up replays.
    querier: Option<Mutex<Connection>>,
    path: String,
    /// The data directory (`None` in memory), where [`EventStore::health`] probes.
    dir: Option<std::path::PathBuf>,
    /// Why the latest append failed, until an append or a health probe succeeds.
    failing: Mutex<Option<String>>,
}

/// Bytes a health probe writes to the data directory while appends fail: the store is
/// healthy again once this much can be written and flushed there.
const PROBE_BYTES: usize = 1024 * 1024;

impl SqliteStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let (file, path) = super::data_file(dir, "events.sqlite3")?;
        let db = |e| StoreError::Database { path: path.clone(), source: Box::new(e) };
        let writer = Connection::open(&file).map_err(db)?;
        writer
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;")
            .map_err(db)?;
        writer.execute_batch(SCHEMA).map_err(db)?;
        let reader = Connection::open_with_flags(&file, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(db)?;
        reader.execute_batch("PRAGMA busy_timeout = 5000;").map_err(db)?;
        let querier = Connection::open_with_flags(&file, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(db)?;
        querier.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;").map_err(db)?;
        let mut store = Self::with(writer, Some(reader), path)?;
        store.querier = Some(Mutex::new(querier));
        store.dir = Some(dir.to_path_buf());
        Ok(store)
    }

    /// A store in memory only: nothing survives the process (tests, throwaway demos).
    pub fn in_memory() -> Result<Self, StoreError> {
        let path = ":memory:".to_owned();
        let db = |e| StoreError::Database { path: path.clone(), source: Box::new(e) };
        let writer = Connection::open_in_memory().map_err(db)?;
        writer.execute_batch(SCHEMA).map_err(db)?;
        Self::with(writer, None, path)
    }

    fn with(writer: Connection, reader: Option<Connection>, path: String) -> Result<Self, StoreError> {
        let db = |e| StoreError::Database { path: path.clone(), source: Box::new(e) };
        let epoch: Option<u64> = writer
            .query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |row| row.get(0))
            .optional()
            .map_err(db)?;
        let epoch = match epoch {
            Some(epoch) => epoch,
            None => {
                let epoch = super::now_millis();
                writer
                    .execute("INSERT INTO meta (key, value) VALUES ('epoch', ?1)", [epoch])
                    .map_err(db)?;
                epoch
            }
        };
        Ok(SqliteStore {
            epoch,
            writer: Mutex::new(writer),
            reader: reader.map(Mutex::new),
            querier: None,
            path,
            dir: None,
            failing: Mutex::new(None),
        })
    }

    fn db(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |e| StoreError::Database {
            path: self.path.clone(),
            source: Box::new(e),
        }
    }

    fn writer(&self) -> MutexGuard<'_, Connection> {
        // SQLite rolls back a transaction left open by a panic; the connection is sound.
        self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        match &self.reader {
            Some(reader) => reader.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
            None => self.writer(),
        }
    }

    fn querier(&self) -> MutexGuard<'_, Connection> {
        match &self.querier {
            Some(querier) => querier.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
            None => self.writer(),
        }
    }

    fn failing(&self) -> MutexGuard<'_, Option<String>> {
        self.failing.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The rows of `sql`, each column as JSON.
    fn run(&self, conn: &Connection, sql: &Sql) -> Result<Vec<Vec<Value>>, rusqlite::Error> {
        let mut select = conn.prepare(&sql.text)?;
        let params = sql.params.iter().map(|p| match p {
            Param::Text(t) => SqlValue::Text(t.clone()),
            Param::Integer(n) => SqlValue::Integer(*n),
            Param::Real(n) => SqlValue::Real(*n),
        });
        let mut rows = select.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(sql.columns.len());
            for (i, (_, output)) in sql.columns.iter().enumerate() {
                let cell: SqlValue = row.get(i)?;
                values.push(match (output, cell) {
                    (_, SqlValue::Null) => Value::Null,
                    (Output::Position, SqlValue::Integer(seq)) => {
                        Value::String(Position::new(self.epoch, seq as u64).to_string())
                    }
                    (Output::Millis, SqlValue::Integer(ms)) => {
                        Value::String(herald_protocol::rfc3339_from_unix_millis(ms.max(0) as u64))
                    }
                    (Output::Json, SqlValue::Text(text)) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
                    (_, SqlValue::Integer(n)) => Value::from(n),
                    (_, SqlValue::Real(n)) => Value::from(n),
                    (_, SqlValue::Text(text)) => Value::String(text),
                    (_, SqlValue::Blob(_)) => Value::Null,
                });
            }
            out.push(values);
        }
        Ok(out)
    }

    /// Appends `events` and sets `cursors` in one transaction, committed before it returns.
    fn append_in_one_transaction(
        &self,
        events: Vec<CloudEvent>,
        cursors: &[(&str, u64)],
    ) -> Result<Vec<Appended>, StoreError> {
        let db = self.db();
        let mut conn = self.writer();
        let tx = write_transaction(&mut conn).map_err(&db)?;
        let now = super::now_millis();
        let mut out = Vec::with_capacity(events.len());
        {
            let mut first = tx
                .prepare_cached("SELECT seq FROM events WHERE source = ?1 AND id = ?2")
                .map_err(&db)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO events (source, id, type, stored_ms, json) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING seq",
                )
                .map_err(&db)?;
            for event in events {
                // Looked up first: a conflicting INSERT would use up a sequence number.
                let repeat: Option<u64> = first
                    .query_row(params![event.source, event.id], |row| row.get(0))
                    .optional()
                    .map_err(&db)?;
                if let Some(seq) = repeat {
                    out.push(Appended::Repeat(Position::new(self.epoch, seq)));
                    continue;
                }
                let json = serde_json::to_string(&event).expect("a CloudEvent always serialises");
                let seq: u64 = insert
                    .query_row(params![event.source, event.id, event.ty, now, json], |row| row.get(0))
                    .map_err(&db)?;
                out.push(Appended::New(Arc::new(Stored::new(Position::new(self.epoch, seq), event, json))));
            }
            let mut set = tx
                .prepare_cached(
                    "INSERT INTO cursors (name, value) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                )
                .map_err(&db)?;
            for (name, value) in cursors {
                set.execute(params![name, value]).map_err(&db)?;
            }
        }
        tx.commit().map_err(&db)?;
        Ok(out)
    }
}

/// A transaction that writes: `BEGIN IMMEDIATE`, which takes the write lock at its start,
/// waiting up to the busy timeout for whoever holds it. A deferred one would take it at
/// its first write, after its reads, and SQLite cannot wait there (the reads' snapshot
/// may be stale by then): it fails at once with "database is locked".
fn write_transaction(conn: &mut Connection) -> rusqlite::Result<Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
}

impl EventStore for SqliteStore {
    fn epoch(&self) -> u64 {
        self.epoch
    }

    fn head(&self) -> Result<u64, StoreError> {
        let seq: Option<u64> = self
            .reader()
            .query_row("SELECT seq FROM sqlite_sequence WHERE name = 'events'", [], |row| row.get(0))
            .optional()
            .map_err(self.db())?;
        Ok(seq.unwrap_or(0))
    }

    fn append(&self, events: Vec<CloudEvent>) -> Result<Vec<Appended>, StoreError> {
        self.append_with_cursors(events, &[])
    }

    fn append_with_cursors(&self, events: Vec<CloudEvent>, cursors: &[(&str, u64)]) -> Result<Vec<Appended>, StoreError> {
        let outcome = self.append_in_one_transaction(events, cursors);
        *self.failing() = outcome.as_ref().err().map(ToString::to_string);
        outcome
    }

    fn cursor(&self, name: &str) -> Result<Option<u64>, StoreError> {
        self.reader()
            .query_row("SELECT value FROM cursors WHERE name = ?1", [name], |row| row.get(0))
            .optional()
            .map_err(self.db())
    }

    /// `200` while appends succeed; after a failed one (a full disk), `503` until
    /// [`PROBE_BYTES`] can be written and flushed in the data directory again.
    fn health(&self) -> Result<(), String> {
        let Some(reason) = self.failing().clone() else { return Ok(()) };
        let Some(dir) = &self.dir else { return Err(reason) };
        let probe = dir.join("health.probe");
        let written = std::fs::File::create(&probe).and_then(|mut file| {
            std::io::Write::write_all(&mut file, &vec![0; PROBE_BYTES])?;
            file.sync_all()
        });
        let _ = std::fs::remove_file(&probe);
        match written {
            Ok(()) => {
                *self.failing() = None;
                Ok(())
            }
            Err(error) => Err(format!("{reason}; the data directory cannot take writes: {error}")),
        }
    }

    fn read(&self, after: u64, limit: usize) -> Result<Vec<Arc<Stored>>, StoreError> {
        let db = self.db();
        let conn = self.reader();
        let mut select = conn
            .prepare_cached("SELECT seq, json FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")
            .map_err(&db)?;
        let rows = select
            .query_map(params![after, limit as i64], |row| Ok((row.get::<_, u64>(0)?, row.get::<_, String>(1)?)))
            .map_err(&db)?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, json) = row.map_err(&db)?;
            let event = CloudEvent::from_json(json.as_bytes()).map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                record: seq,
                reason: e.to_string(),
            })?;
            out.push(Arc::new(Stored::new(Position::new(self.epoch, seq), event, json)));
        }
        Ok(out)
    }

    fn records(&self) -> Option<&dyn Records> {
        Some(self)
    }

    fn types(&self) -> Result<Answer<Vec<String>>, StoreError> {
        let db = self.db();
        let conn = self.querier();
        let mut select = conn.prepare_cached("SELECT DISTINCT type FROM events").map_err(&db)?;
        let rows = select.query_map([], |row| row.get(0)).map_err(&db)?;
        rows.collect::<Result<_, _>>().map(Answer::Done).map_err(db)
    }

    fn query(&self, sql: &Sql) -> Result<Answer<Vec<Vec<Value>>>, StoreError> {
        let db = self.db();
        let mut conn = self.querier();
        let deadline = std::time::Instant::now() + super::QUERY_TIME;
        conn.progress_handler(10_000, Some(move || std::time::Instant::now() > deadline))
            .map_err(&db)?;
        let rows = self.run(&conn, sql);
        // the handler off again (it holds the deadline); the rows are what matter
        let _ = conn.progress_handler(0, None::<fn() -> bool>);
        match rows {
            Ok(rows) => Ok(Answer::Done(rows)),
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::OperationInterrupted => {
                Ok(Answer::TimedOut)
            }
            Err(e) => Err(db(e)),
        }
    }

    fn trimmed_since(&self, after: u64) -> Result<Option<Vec<String>>, StoreError> {
        let db = self.db();
        let conn = self.reader();
        let mut select = conn.prepare_cached("SELECT type FROM trimmed WHERE upto > ?1").map_err(&db)?;
        let rows = select.query_map([after], |row| row.get(0)).map_err(&db)?;
        rows.collect::<Result<_, _>>().map(Some).map_err(db)
    }

    fn enforce(&self, rules: &[Retention], now_millis: u64) -> Result<u64, StoreError> {
        if rules.is_empty() {
            return Ok(0);
        }
        let db = self.db();
        let mut conn = self.writer();
        let tx = write_transaction(&mut conn).map_err(&db)?;
        let topics: Vec<String> = {
            let mut select = tx.prepare("SELECT DISTINCT type FROM events").map_err(&db)?;
            let rows = select.query_map([], |row| row.get(0)).map_err(&db)?;
            rows.collect::<Result<_, _>>().map_err(&db)?
        };
        let mut removed = 0;
        for topic in topics {
            let Some(rule) = Retention::for_topic(rules, &topic) else {
                continue;
            };
            let mut upto: u64 = 0;
            if let Some(age) = rule.max_age {
                let cutoff = now_millis.saturating_sub(age.as_millis() as u64);
                let seq: Option<u64> = tx
                    .query_row(
                        "SELECT max(seq) FROM events WHERE type = ?1 AND stored_ms < ?2",
                        params![topic, cutoff],
                        |row| row.get(0),
                    )
                    .map_err(&db)?;
                upto = upto.max(seq.unwrap_or(0));
            }
            if let Some(count) = rule.max_count {
                let seq: Option<u64> = tx
                    .query_row(
                        "SELECT seq FROM events WHERE type = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2",
                        params![topic, count],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(&db)?;
                upto = upto.max(seq.unwrap_or(0));
            }
            if upto == 0 {
                continue;
            }
            removed += tx
                .execute("DELETE FROM events WHERE type = ?1 AND seq <= ?2", params![topic, upto])
                .map_err(&db)? as u64;
            tx.execute(
                "INSERT INTO trimmed (type, upto) VALUES (?1, ?2)
                 ON CONFLICT (type) DO UPDATE SET upto = max(upto, excluded.upto)",
                params![topic, upto],
            )
            .map_err(&db)?;
        }
        tx.commit().map_err(db)?;
        Ok(removed)
    }
}

impl Records for SqliteStore {
    fn put_record(&self, name: &str, json: &str) -> Result<Answer<u64>, StoreError> {
        let db = self.db();
        let mut conn = self.writer();
        let tx = write_transaction(&mut conn).map_err(&db)?;
        let revision: u64 = tx
            .query_row("SELECT coalesce(max(revision), 0) + 1 FROM records WHERE name = ?1", [name], |row| row.get(0))
            .map_err(&db)?;
        tx.execute(
            "INSERT INTO records (name, revision, stored_ms, json) VALUES (?1, ?2, ?3, ?4)",
            params![name, revision, super::now_millis(), json],
        )
        .map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(Answer::Done(revision))
    }

    fn record(&self, name: &str, revision: Option<u64>) -> Result<Answer<Option<(u64, String)>>, StoreError> {
        let db = self.db();
        let conn = self.reader();
        let found = match revision {
            Some(revision) => conn.query_row(
                "SELECT revision, json FROM records WHERE name = ?1 AND revision = ?2",
                params![name, revision],
                |row| Ok((row.get(0)?, row.get(1)?)),
            ),
            None => conn.query_row(
                "SELECT revision, json FROM records WHERE name = ?1 ORDER BY revision DESC LIMIT 1",
                [name],
                |row| Ok((row.get(0)?, row.get(1)?)),
            ),
        };
        found.optional().map(Answer::Done).map_err(db)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Another connection (an operator's `sqlite3` shell, say, or a reader rebuilding the
    /// WAL index, which takes the write lock for a moment) holds the write lock for `hold`.
    fn hold_the_write_lock(dir: &Path, hold: Duration) -> std::thread::JoinHandle<()> {
        let other = Connection::open(dir.join("events.sqlite3")).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        std::thread::spawn(move || {
            std::thread::sleep(hold);
            other.execute_batch("COMMIT").unwrap();
        })
    }

    #[test]
    fn writes_wait_for_a_write_lock_held_elsewhere_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let event = |id: &str| CloudEvent::new(id, "/test", "nop.noise.reading");
        store.append(vec![event("before")]).unwrap();
        let hold = Duration::from_millis(300);

        let other = hold_the_write_lock(dir.path(), hold);
        let appended = store.append(vec![event("while-held")]);
        other.join().unwrap();
        assert!(appended.is_ok(), "append: {:?}", appended.err());
        assert!(store.health().is_ok());

        let other = hold_the_write_lock(dir.path(), hold);
        let recorded = store.put_record("sensor-1", "{}");
        other.join().unwrap();
        assert!(matches!(recorded, Ok(Answer::Done(1))), "put_record: {:?}", recorded.err());

        let rules = [Retention { pattern: "nop.>".parse().unwrap(), max_count: Some(1), max_age: None }];
        let other = hold_the_write_lock(dir.path(), hold);
        let removed = store.enforce(&rules, super::super::now_millis());
        other.join().unwrap();
        assert!(matches!(removed, Ok(1)), "enforce: {:?}", removed.err());
        let left: Vec<String> = store.read(0, 10).unwrap().iter().map(|s| s.event.id.clone()).collect();
        assert_eq!(left, ["while-held"]);
    }
}
