//! An alternative embedded store on redb, kept for the measurement that compares it with
//! SQLite (`cargo xtask bench store`); build with the `redb` feature.

use std::path::Path;
use std::sync::{Arc, Mutex};

use herald_protocol::{CloudEvent, Position};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::{Appended, EventStore, Retention, Stored};
use crate::StoreError;

const EVENTS: TableDefinition<u64, (u64, &str)> = TableDefinition::new("events");
const KEYS: TableDefinition<(&str, &str), u64> = TableDefinition::new("keys");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const TRIMMED: TableDefinition<&str, u64> = TableDefinition::new("trimmed");

/// Events in a redb database, `events.redb` in the data directory; every commit is
/// durable (`Durability::Immediate`) before [`EventStore::append`] returns.
pub struct RedbStore {
    epoch: u64,
    db: Database,
    // redb allows one write transaction at a time; this orders appends and retention.
    write: Mutex<()>,
    path: String,
}

impl RedbStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let (file, path) = super::data_file(dir, "events.redb")?;
        let err = |e: redb::Error| StoreError::Database { path: path.clone(), source: Box::new(e) };
        let db = Database::create(&file).map_err(|e| err(e.into()))?;
        let tx = db.begin_write().map_err(|e| err(e.into()))?;
        let epoch = {
            let mut meta = tx.open_table(META).map_err(|e| err(e.into()))?;
            let existing = meta.get("epoch").map_err(|e| err(e.into()))?.map(|v| v.value());
            match existing {
                Some(epoch) => epoch,
                None => {
                    let epoch = super::now_millis();
                    meta.insert("epoch", epoch).map_err(|e| err(e.into()))?;
                    meta.insert("head", 0).map_err(|e| err(e.into()))?;
                    epoch
                }
            }
        };
        tx.open_table(EVENTS).map_err(|e| err(e.into()))?;
        tx.open_table(KEYS).map_err(|e| err(e.into()))?;
        tx.open_table(TRIMMED).map_err(|e| err(e.into()))?;
        tx.commit().map_err(|e| err(e.into()))?;
        Ok(RedbStore { epoch, db, write: Mutex::new(()), path })
    }

    fn err(&self) -> impl Fn(redb::Error) -> StoreError + '_ {
        |e| StoreError::Database {
            path: self.path.clone(),
            source: Box::new(e),
        }
    }
}

impl EventStore for RedbStore {
    fn epoch(&self) -> u64 {
        self.epoch
    }

    fn head(&self) -> Result<u64, StoreError> {
        let err = self.err();
        let tx = self.db.begin_read().map_err(|e| err(e.into()))?;
        let meta = tx.open_table(META).map_err(|e| err(e.into()))?;
        let head = meta.get("head").map_err(|e| err(e.into()))?.map(|v| v.value());
        Ok(head.unwrap_or(0))
    }

    fn append(&self, events: Vec<CloudEvent>) -> Result<Vec<Appended>, StoreError> {
        let err = self.err();
        let _write = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let tx = self.db.begin_write().map_err(|e| err(e.into()))?;
        let now = super::now_millis();
        let mut out = Vec::with_capacity(events.len());
        {
            let mut meta = tx.open_table(META).map_err(|e| err(e.into()))?;
            let mut table = tx.open_table(EVENTS).map_err(|e| err(e.into()))?;
            let mut keys = tx.open_table(KEYS).map_err(|e| err(e.into()))?;
            let mut head = meta.get("head").map_err(|e| err(e.into()))?.map(|v| v.value()).unwrap_or(0);
            for event in events {
                let key = (event.source.as_str(), event.id.as_str());
                let first = keys.get(key).map_err(|e| err(e.into()))?.map(|v| v.value());
                if let Some(seq) = first {
                    out.push(Appended::Repeat(Position::new(self.epoch, seq)));
                    continue;
                }
                head += 1;
                let json = serde_json::to_string(&event).expect("a CloudEvent always serialises");
                keys.insert(key, head).map_err(|e| err(e.into()))?;
                table.insert(head, (now, json.as_str())).map_err(|e| err(e.into()))?;
                out.push(Appended::New(Arc::new(Stored::new(Position::new(self.epoch, head), event, json))));
            }
            meta.insert("head", head).map_err(|e| err(e.into()))?;
        }
        tx.commit().map_err(|e| err(e.into()))?;
        Ok(out)
    }

    fn read(&self, after: u64, limit: usize) -> Result<Vec<Arc<Stored>>, StoreError> {
        let err = self.err();
        let tx = self.db.begin_read().map_err(|e| err(e.into()))?;
        let table = tx.open_table(EVENTS).map_err(|e| err(e.into()))?;
        let mut out = Vec::new();
        for row in table.range(after.saturating_add(1)..).map_err(|e| err(e.into()))?.take(limit) {
            let (seq, value) = row.map_err(|e| err(e.into()))?;
            let (seq, json) = (seq.value(), value.value().1.to_owned());
            let event = CloudEvent::from_json(json.as_bytes()).map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                record: seq,
                reason: e.to_string(),
            })?;
            out.push(Arc::new(Stored::new(Position::new(self.epoch, seq), event, json)));
        }
        Ok(out)
    }

    fn trimmed_since(&self, after: u64) -> Result<Option<Vec<String>>, StoreError> {
        let err = self.err();
        let tx = self.db.begin_read().map_err(|e| err(e.into()))?;
        let table = tx.open_table(TRIMMED).map_err(|e| err(e.into()))?;
        let mut out = Vec::new();
        for row in table.iter().map_err(|e| err(e.into()))? {
            let (topic, upto) = row.map_err(|e| err(e.into()))?;
            if upto.value() > after {
                out.push(topic.value().to_owned());
            }
        }
        Ok(Some(out))
    }

    fn enforce(&self, rules: &[Retention], now_millis: u64) -> Result<u64, StoreError> {
        if rules.is_empty() {
            return Ok(0);
        }
        let err = self.err();
        let _write = self.write.lock().unwrap_or_else(|p| p.into_inner());
        // Newest first, so that counts per topic are of the newest events.
        let mut doomed: Vec<(u64, String, String, String)> = Vec::new();
        {
            let tx = self.db.begin_read().map_err(|e| err(e.into()))?;
            let table = tx.open_table(EVENTS).map_err(|e| err(e.into()))?;
            let mut counts = std::collections::HashMap::<String, u64>::new();
            for row in table.iter().map_err(|e| err(e.into()))?.rev() {
                let (seq, value) = row.map_err(|e| err(e.into()))?;
                let (stored_ms, json) = value.value();
                let event = CloudEvent::from_json(json.as_bytes()).map_err(|e| StoreError::Corrupt {
                    path: self.path.clone(),
                    record: seq.value(),
                    reason: e.to_string(),
                })?;
                let Some(rule) = Retention::for_topic(rules, &event.ty) else { continue };
                let count = counts.entry(event.ty.clone()).or_default();
                *count += 1;
                let too_many = rule.max_count.is_some_and(|max| *count > max);
                let too_old = rule
                    .max_age
                    .is_some_and(|age| stored_ms < now_millis.saturating_sub(age.as_millis() as u64));
                if too_many || too_old {
                    doomed.push((seq.value(), event.ty, event.source, event.id));
                }
            }
        }
        let tx = self.db.begin_write().map_err(|e| err(e.into()))?;
        {
            let mut table = tx.open_table(EVENTS).map_err(|e| err(e.into()))?;
            let mut keys = tx.open_table(KEYS).map_err(|e| err(e.into()))?;
            let mut trimmed = tx.open_table(TRIMMED).map_err(|e| err(e.into()))?;
            for (seq, topic, source, id) in &doomed {
                table.remove(*seq).map_err(|e| err(e.into()))?;
                keys.remove((source.as_str(), id.as_str())).map_err(|e| err(e.into()))?;
                let upto = trimmed.get(topic.as_str()).map_err(|e| err(e.into()))?.map(|v| v.value()).unwrap_or(0);
                if *seq > upto {
                    trimmed.insert(topic.as_str(), *seq).map_err(|e| err(e.into()))?;
                }
            }
        }
        tx.commit().map_err(|e| err(e.into()))?;
        Ok(doomed.len() as u64)
    }
}
