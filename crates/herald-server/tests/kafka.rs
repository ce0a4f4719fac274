//! The Kafka bridges against a real Kafka-protocol broker (tansu, which the xtask installs)
//! and the official Python client (kafka-python) as the independent peer: 5,000 events in
//! from a 3-partition topic with the gateway SIGKILLed mid-way, and the same events out
//! to another topic, read back with their `ce_` headers.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use herald_brokers::Tansu;
use serde_json::Value;

/// Creates the topics `sys.argv[2:]`, three partitions each.
const CREATE: &str = r#"
import sys
from kafka.admin import KafkaAdminClient, NewTopic
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1])
admin.create_topics([NewTopic(t, num_partitions=3, replication_factor=1) for t in sys.argv[2:]])
print("created", flush=True)
"#;

/// Produces `count` readings of ten sensors (the key), binary and structured mode mixed,
/// acks=all, a little apart so that they are still coming when the gateway is killed.
const PRODUCE: &str = r#"
import sys, json, time
from kafka import KafkaProducer
bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
seq = {}
for i in range(count):
    sensor = f"s-{i % 10}"
    n = seq[sensor] = seq.get(sensor, -1) + 1
    eid, data = f"k-{i:05d}", {"sensor": sensor, "db": 40 + i % 50, "seq": n}
    if i % 2 == 0:
        headers = [("ce_specversion", b"1.0"), ("ce_id", eid.encode()), ("ce_source", b"urn:nop:kafka"),
                   ("ce_type", b"nop.noise.reading"), ("ce_subject", sensor.encode()), ("content-type", b"application/json")]
        value = json.dumps(data).encode()
    else:
        headers = [("content-type", b"application/cloudevents+json")]
        value = json.dumps({"specversion": "1.0", "id": eid, "source": "urn:nop:kafka", "type": "nop.noise.reading",
                            "subject": sensor, "datacontenttype": "application/json", "data": data}).encode()
    producer.send(topic, key=sensor.encode(), value=value, headers=headers)
    if i % 50 == 49:
        producer.flush()
        time.sleep(0.05)
producer.flush()
print("produced", count, flush=True)
"#;

/// Reads every partition of a topic from the beginning (assigned, no group) until `count`
/// distinct `ce_id` headers came or `timeout` seconds passed; prints each record.
const READ: &str = r#"
import sys, json, time
from kafka import KafkaConsumer, TopicPartition
bootstrap, topic, count, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
consumer.assign(parts)
consumer.seek_to_beginning(*parts)
seen, deadline = set(), time.time() + timeout
while len(seen) < count and time.time() < deadline:
    for tp, records in consumer.poll(500).items():
        for r in records:
            headers = {k: v.decode() for k, v in r.headers}
            seen.add(headers.get("ce_id"))
            print(json.dumps({"partition": tp.partition, "key": r.key.decode() if r.key else None,
                              "headers": headers, "value": r.value.decode()}), flush=True)
print("done", len(seen), flush=True)
"#;

fn python(code: &str, args: &[&str]) -> String {
    let out = herald_brokers::run_python(code, args).unwrap_or_else(|e| panic!("kafka-python script failed: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}


/// Acceptance 3 of issue 16.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_in_with_a_gateway_kill_and_back_out_with_ce_headers() {
    const EVENTS: usize = 5000;
    let tansu = tokio::task::block_in_place(|| Tansu::start().unwrap());
    let bootstrap = tansu.bootstrap();
    tokio::task::block_in_place(|| python(CREATE, &[&bootstrap, "nop.readings", "nop.out"]));

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "kafka_brokers = [\"{bootstrap}\"]\n\n[kafka_in.nop]\ntopics = [\"nop.readings\"]\n\n\
             [kafka_out.echo]\ntopic = \"nop.out\"\ntypes = [\"nop.noise.reading\"]\n"
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let data = dir.path().join("data");
    let mut process = configured(&data, &config);
    bridge_up(&process.base, "kafka-in:nop").await;
    let base = Arc::new(Mutex::new(process.base.clone()));
    let received = Arc::new(Mutex::new(Vec::new()));
    let reader = tokio::spawn(follow(base.clone(), "topic=nop.>".into(), received.clone()));
    streams_open(&process.base, 1.0).await;

    let count = EVENTS.to_string();
    let mut producer = herald_brokers::spawn_python(PRODUCE, &[&bootstrap, "nop.readings", &count]).unwrap();
    let got = || received.lock().unwrap().len();
    wait_for("2,000 events", Duration::from_secs(120), || got() >= 2000).await;
    process.child.kill().unwrap(); // SIGKILL mid-way
    process.child.wait().unwrap();
    let killed_at = got();
    process = configured(&data, &config);
    *base.lock().unwrap() = process.base.clone();
    let deadline = Instant::now() + Duration::from_secs(120);
    while producer.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the producer did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(producer.wait().unwrap().success());
    wait_for("all 5,000 events", Duration::from_secs(120), || got() >= EVENTS).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    reader.abort();

    let received = received.lock().unwrap().clone();
    assert!(killed_at < EVENTS, "the gateway was killed mid-way ({killed_at})");
    let ids: Vec<&str> = received.iter().map(|(_, e)| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), EVENTS, "exactly 5,000");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), EVENTS, "none twice");
    let mut per_key: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (_, event) in &received {
        per_key.entry(event["subject"].as_str().unwrap()).or_default().push(event["data"]["seq"].as_u64().unwrap());
    }
    for (key, seqs) in &per_key {
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{key}: each partition's order kept");
    }

    // out: the same events, produced to nop.out, read back by kafka-python
    let lines = tokio::task::block_in_place(|| python(READ, &[&bootstrap, "nop.out", &count, "90"]));
    let records: Vec<Value> = lines.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.trim_end().ends_with(&format!("done {EVENTS}")), "{}", lines.lines().last().unwrap_or(""));
    let mut out_per_key: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut partition_of_key: BTreeMap<String, u64> = BTreeMap::new();
    for record in &records {
        let h = &record["headers"];
        assert_eq!(h["ce_specversion"], "1.0");
        assert_eq!(h["ce_type"], "nop.noise.reading");
        assert_eq!(h["ce_source"], "urn:nop:kafka");
        assert_eq!(h["content-type"], "application/json");
        assert_eq!(record["key"], h["ce_subject"], "keyed by subject");
        let key = record["key"].as_str().unwrap().to_owned();
        let partition = record["partition"].as_u64().unwrap();
        assert_eq!(*partition_of_key.entry(key.clone()).or_insert(partition), partition, "one key, one partition");
        let value: Value = serde_json::from_str(record["value"].as_str().unwrap()).unwrap();
        out_per_key.entry(key).or_default().push(value["seq"].as_u64().unwrap());
    }
    for (key, seqs) in &out_per_key {
        // at least once: a page may come again after the kill, but never out of order within it
        let mut distinct = seqs.clone();
        distinct.dedup();
        let mut sorted = distinct.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), EVENTS / 10, "{key}: every event out");
    }
    drop(process);
}

/// Bad records, then a good one, to one partition.
const BAD: &str = r#"
import sys, json
from kafka import KafkaProducer
producer = KafkaProducer(bootstrap_servers=sys.argv[1], acks="all")
CE = [("content-type", b"application/cloudevents+json")]
def binary(**kw):
    h = {"ce_specversion": b"1.0", "ce_id": b"b-1", "ce_source": b"/bad", "ce_type": b"nop.noise.reading"}
    h.update(kw)
    return [(k, v) for k, v in h.items() if v is not None] + [("content-type", b"application/json")]
good = {"specversion": "1.0", "id": "good-1", "source": "/bad", "type": "nop.noise.reading"}
bad = [
    (CE, b"not json"),
    (CE, json.dumps({"specversion": "1.0", "source": "/bad", "type": "t"}).encode()),
    (binary(ce_id=b"\xff\xfe"), b"{}"),
    (binary(ce_specversion=b"0.3"), b"{}"),
    (CE, json.dumps(dict(good, data="x" * (400 * 1024))).encode()),
    ([("content-type", b"application/json")], b"{}"),
]
for headers, value in bad + [(CE, json.dumps(good).encode())]:
    producer.send(sys.argv[2], key=b"k", value=value, headers=headers, partition=0)
producer.flush()
print(len(bad), flush=True)
"#;

/// Records that are no valid event become `herald.deadletter` (with the topic, partition
/// and offset they came from) and the bridge goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_kafka_records_become_dead_letters_and_the_bridge_goes_on() {
    let tansu = tokio::task::block_in_place(|| Tansu::start().unwrap());
    let bootstrap = tansu.bootstrap();
    tokio::task::block_in_place(|| python(CREATE, &[&bootstrap, "nop.bad"]));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, format!("[kafka_in.nop]\nbrokers = [\"{bootstrap}\"]\ntopics = [\"nop.bad\"]\n")).unwrap();
    let process = configured(&dir.path().join("data"), &config.display().to_string());
    let client = reqwest::Client::new();
    let response = client
        .get(format!("{}/events/stream?topic=herald.deadletter&topic=nop.>&lastEventId=0-0", process.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let out = tokio::task::block_in_place(|| python(BAD, &[&bootstrap, "nop.bad"]));
    let bad: usize = out.trim().parse().unwrap();
    // the epoch is not 0: the stream starts with a reset, then goes live from the head
    let mut sse = SseReader { body: Box::pin(response.bytes_stream()), buffer: String::new() };
    let (mut letters, mut good) = (Vec::new(), None);
    while letters.len() < bad || good.is_none() {
        let frame = sse.next(Duration::from_secs(30)).await.expect("every record is stored as something");
        match frame.data["type"].as_str().unwrap() {
            "herald.deadletter" => letters.push(frame.data),
            "herald.reset" => {}
            _ => good = Some(frame.data),
        }
    }
    assert_eq!(good.unwrap()["id"], "good-1");
    let offsets: HashSet<u64> = letters.iter().map(|l| l["data"]["event"]["where"]["offset"].as_u64().unwrap()).collect();
    assert_eq!(offsets, (0..bad as u64).collect(), "one dead letter per bad record, by offset");
    for letter in &letters {
        assert_eq!(letter["source"], "urn:herald:bridge:kafka-in:nop");
        assert_eq!(letter["data"]["event"]["where"]["topic"], "nop.bad");
        assert!(!letter["data"]["reason"].as_str().unwrap().is_empty());
    }
}
