//! Kafka bridges, by the CloudEvents Kafka binding: headers prefixed `ce_` in binary mode
//! (with `content-type` as `datacontenttype`), a `content-type:
//! application/cloudevents+json` header in structured mode.
//!
//! - **In**: every partition of each configured topic, by explicit assignment (no
//!   consumer group). A fetched batch of a partition is stored in one commit together with
//!   the partition's next offset (a cursor in herald's store), so a restart resumes
//!   exactly where the stored events end: nothing lost, nothing stored twice.
//! - **Out**: the stored events whose `type` matches, in position order from a cursor in
//!   the store, produced to one topic with `acks=all`, keyed by `subject` (so one subject's
//!   events keep their order in one partition); the cursor moves past a page only once
//!   every record of it was acknowledged.

use std::collections::BTreeMap;
use std::time::Duration;

use herald_protocol::{CloudEvent, TopicPattern};
use rskafka::client::partition::{Compression, OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{BridgeStatus, HeaderValue, Message, PlainMapping};
use crate::AppState;

/// The header prefix of the CloudEvents Kafka binding.
pub const PREFIX: &str = "ce_";

/// Where a partition without a stored offset starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Start {
    /// Its oldest record.
    #[default]
    Earliest,
    /// Its next record.
    Latest,
}

/// `[kafka_in.NAME]`: events in from Kafka topics.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaIn {
    /// Bootstrap brokers, `host:port`; absent: `--kafka-brokers`.
    #[serde(default)]
    pub brokers: Option<Vec<String>>,
    /// The topics to consume, every partition of each.
    pub topics: Vec<String>,
    /// Where a partition without a stored offset starts.
    #[serde(default)]
    pub start: Start,
    /// How records that are neither structured nor binary mode become events (the record
    /// key stands for the routing key); absent: they are dead letters.
    #[serde(default)]
    pub plain: Option<PlainMapping>,
}

/// `[kafka_out.NAME]`: matching stored events out to a Kafka topic.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaOut {
    /// Bootstrap brokers; absent: `--kafka-brokers`.
    #[serde(default)]
    pub brokers: Option<Vec<String>>,
    /// The topic to produce to (it must exist).
    pub topic: String,
    /// Topic patterns (§4) of the event types to produce.
    pub types: Vec<String>,
}

impl KafkaOut {
    /// Checks the bridge's type patterns (§4).
    pub fn validate(&self) -> Result<(), String> {
        super::validate_types(&self.types)
    }
}

/// The most bytes one fetch asks for (at least one whole record is always returned).
const FETCH_BYTES: i32 = 4 * 1024 * 1024;
/// How long a fetch waits on the broker for new records.
const FETCH_WAIT_MS: i32 = 500;

async fn connect(brokers: &[String]) -> Result<Client, String> {
    // rskafka retries by itself; a bound keeps a dead broker from hanging the bridge
    let build = ClientBuilder::new(brokers.to_vec()).client_id("herald").build();
    tokio::time::timeout(Duration::from_secs(10), build)
        .await
        .map_err(|_| format!("no Kafka broker of {brokers:?} answered within 10 s"))?
        .map_err(|e| format!("cannot connect to Kafka {brokers:?}: {e}"))
}

/// A client for each partition of `topic`, which must exist.
async fn partition_clients(client: &Client, topic: &str) -> Result<Vec<PartitionClient>, String> {
    let topics = client.list_topics().await.map_err(|e| e.to_string())?;
    let found = topics.iter().find(|t| t.name == topic).ok_or_else(|| format!("the topic `{topic}` does not exist"))?;
    let mut partitions = Vec::with_capacity(found.partitions.len());
    for &number in &found.partitions {
        let partition = client
            .partition_client(topic.to_owned(), number, UnknownTopicHandling::Error)
            .await
            .map_err(|e| format!("{topic}/{number}: {e}"))?;
        partitions.push(partition);
    }
    Ok(partitions)
}

/// Runs an inbound bridge until the gateway shuts down, reconnecting with backoff.
pub(crate) async fn run_in(name: String, bridge: KafkaIn, brokers: Vec<String>, state: AppState) {
    let status = state.bridges.status(&format!("kafka-in:{name}"));
    let source = format!("urn:herald:bridge:kafka-in:{name}");
    super::supervise(&name, "Kafka bridge in", &state, &status, || consume(&name, &bridge, &brokers, &source, &state, &status))
        .await;
}

async fn consume(
    name: &str,
    bridge: &KafkaIn,
    brokers: &[String],
    source: &str,
    state: &AppState,
    status: &BridgeStatus,
) -> Result<(), String> {
    let client = connect(brokers).await?;
    let mut partitions = Vec::new();
    for topic in &bridge.topics {
        partitions.extend(partition_clients(&client, topic).await?);
    }
    status.up();
    tracing::info!(topics = ?bridge.topics, partitions = partitions.len(), "Kafka bridge in: consuming");
    // one task per partition; the first failure ends them all and the bridge reconnects
    let mut tasks = tokio::task::JoinSet::new();
    for partition in partitions {
        let (name, bridge, source, state) = (name.to_owned(), bridge.clone(), source.to_owned(), state.clone());
        tasks.spawn(async move { consume_partition(&name, &bridge, partition, &source, &state).await });
    }
    match tasks.join_next().await {
        Some(Ok(Err(error))) => Err(error),
        Some(Err(join)) => Err(join.to_string()),
        Some(Ok(Ok(()))) | None => Err("a partition's consumer ended".into()),
    }
}

/// Consumes one partition from its stored offset, storing each fetched batch with the
/// next offset in one commit.
async fn consume_partition(
    name: &str,
    bridge: &KafkaIn,
    partition: PartitionClient,
    source: &str,
    state: &AppState,
) -> Result<(), String> {
    let (topic, number) = (partition.topic().to_owned(), partition.partition());
    let cursor = format!("kafka-in:{name}:{topic}:{number}");
    let status = state.bridges.status(&format!("kafka-in:{name}"));
    let log = state.log.clone();
    let stored = {
        let cursor = cursor.clone();
        super::blocking(move || log.cursor(&cursor)).await?
    };
    let mut offset = match stored {
        Some(next) => next as i64,
        None => {
            let at = match bridge.start {
                Start::Earliest => OffsetAt::Earliest,
                Start::Latest => OffsetAt::Latest,
            };
            partition.get_offset(at).await.map_err(|e| format!("{topic}/{number}: {e}"))?
        }
    };
    loop {
        let (records, high_watermark) = partition
            .fetch_records(offset, 1..FETCH_BYTES, FETCH_WAIT_MS)
            .await
            .map_err(|e| format!("{topic}/{number}: {e}"))?;
        let records: Vec<_> = records.into_iter().filter(|r| r.offset >= offset).collect();
        let Some(last) = records.last().map(|r| r.offset) else {
            status.set_lag(high_watermark.saturating_sub(offset).max(0) as u64);
            continue;
        };
        let mut events = Vec::with_capacity(records.len());
        let (mut dead, mut bytes) = (0, 0);
        for record in &records {
            let message = message_of(&record.record);
            bytes += message.body.len();
            match super::to_event(&message, PREFIX, bridge.plain.as_ref(), state.max_body_bytes) {
                Ok(event) => events.push(event),
                Err(reason) => {
                    dead += 1;
                    tracing::warn!(%reason, %topic, partition = number, offset = record.offset, "Kafka bridge in: a dead letter");
                    let place = json!({ "topic": topic, "partition": number, "offset": record.offset });
                    events.push(super::dead_letter(source, &reason, &message, place));
                }
            }
        }
        let next = last + 1;
        // the events and the offset after them in one commit: a restart resumes exactly
        crate::ingest::store_with_cursors(state, events, bytes, vec![(cursor.clone(), next as u64)], source.trim_start_matches("urn:herald:bridge:"))
            .await
            .map_err(|e| format!("the store failed: {e}"))?;
        status.consumed(records.len(), dead);
        status.set_lag(high_watermark.saturating_sub(next).max(0) as u64);
        offset = next;
    }
}

/// A record as the bindings read it: its headers as text where they are UTF-8.
fn message_of(record: &Record) -> Message {
    let headers: Vec<(String, HeaderValue)> = record
        .headers
        .iter()
        .map(|(name, value)| {
            let value = match String::from_utf8(value.clone()) {
                Ok(text) => HeaderValue::Text(text),
                Err(bytes) => HeaderValue::Bytes(bytes.into_bytes()),
            };
            (name.clone(), value)
        })
        .collect();
    let content_type = headers.iter().find_map(|(name, value)| match value {
        HeaderValue::Text(text) if name.eq_ignore_ascii_case("content-type") => Some(text.clone()),
        _ => None,
    });
    Message {
        content_type,
        headers,
        body: record.value.clone().unwrap_or_default(),
        key: record.key.as_ref().map(|k| String::from_utf8_lossy(k).into_owned()),
        message_id: None,
    }
}

/// Runs an outbound bridge until the gateway shuts down, reconnecting with backoff.
pub(crate) async fn run_out(name: String, bridge: KafkaOut, brokers: Vec<String>, state: AppState) {
    let status = state.bridges.status(&format!("kafka-out:{name}"));
    let cursor = format!("kafka-out:{name}");
    let Ok(patterns) = super::patterns(&bridge.types) else { return };
    super::supervise(&name, "Kafka bridge out", &state, &status, || produce(&bridge, &brokers, &patterns, &cursor, &state, &status))
        .await;
}

async fn produce(
    bridge: &KafkaOut,
    brokers: &[String],
    patterns: &[TopicPattern],
    cursor: &str,
    state: &AppState,
    status: &BridgeStatus,
) -> Result<(), String> {
    let client = connect(brokers).await?;
    let partitions = partition_clients(&client, &bridge.topic).await?;
    if partitions.is_empty() {
        return Err(format!("the topic `{}` has no partitions", bridge.topic));
    }
    status.up();
    super::publish_from_cursor(state, status, cursor, patterns, |page| {
        let partitions = &partitions;
        async move {
            let mut by_partition: BTreeMap<usize, Vec<Record>> = BTreeMap::new();
            for stored in page {
                let (record, key) = binary_record(&stored.event);
                let index = partition_of(key.as_deref().unwrap_or(stored.event.source.as_bytes()), partitions.len());
                by_partition.entry(index).or_default().push(record);
            }
            for (index, records) in by_partition {
                partitions[index]
                    .produce(records, Compression::NoCompression)
                    .await
                    .map_err(|e| format!("{}/{}: {e}", partitions[index].topic(), partitions[index].partition()))?;
            }
            Ok(())
        }
    })
    .await
}

/// An event as a Kafka record in binary mode: each attribute a `ce_` header (its JSON
/// text form: strings as they are, numbers and booleans as written), `datacontenttype`
/// as `content-type`, the data as the value, the `subject` as the key.
pub(crate) fn binary_record(event: &CloudEvent) -> (Record, Option<Vec<u8>>) {
    let (attributes, body, content_type) = super::binary_parts(event);
    let mut headers: BTreeMap<String, Vec<u8>> = attributes
        .into_iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(text) => text,
                other => other.to_string(),
            };
            (format!("{PREFIX}{name}"), text.into_bytes())
        })
        .collect();
    if let Some(media) = content_type {
        headers.insert("content-type".into(), media.into_bytes());
    }
    let key = event.subject.as_ref().map(|s| s.as_bytes().to_vec());
    let record = Record { key: key.clone(), value: Some(body), headers, timestamp: chrono_now() };
    (record, key)
}

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// The partition of `key` among `count`: Kafka's own default (murmur2 of the key bytes,
/// positive), so herald and other producers put a key in the same partition.
fn partition_of(key: &[u8], count: usize) -> usize {
    (murmur2(key) & 0x7fff_ffff) as usize % count.max(1)
}

/// Kafka's murmur2 (the Java client's `Utils.murmur2`).
fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_java_client() {
        // Kafka's own test vectors (clients/src/test/.../UtilsTest.java, testMurmur2)
        let cases: [(&[u8], i32); 4] =
            [(b"21", -973932308), (b"foobar", -790332482), (b"a-little-bit-long-string", -985981536), (b"a-little-bit-longer-string", -1486304829)];
        for (data, expected) in cases {
            assert_eq!(murmur2(data) as i32, expected, "{}", String::from_utf8_lossy(data));
        }
    }

    #[test]
    fn an_event_as_a_binary_record() {
        let event = CloudEvent::new("a-1", "urn:nop:alerts", "nop.noise.alert")
            .with_subject("s-1")
            .with_data(json!({"n": 1}));
        let (record, key) = binary_record(&event);
        assert_eq!(key.as_deref(), Some(&b"s-1"[..]));
        assert_eq!(record.headers["ce_id"], b"a-1");
        assert_eq!(record.headers["ce_specversion"], b"1.0");
        assert_eq!(record.headers["content-type"], b"application/json");
        assert_eq!(record.value.as_deref(), Some(&br#"{"n":1}"#[..]));
        // and it reads back as the same event
        let back = super::super::to_event(&message_of(&record), PREFIX, None, 1 << 20).unwrap();
        assert_eq!(back.id, "a-1");
        assert_eq!(back.data, event.data);
    }
}
