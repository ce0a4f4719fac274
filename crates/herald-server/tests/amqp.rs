//! The RabbitMQ bridges against a real broker (Debian's `rabbitmq-server`) and the
//! official Python client (pika) as the independent peer: events in with the broker and
//! the gateway killed mid-flow, events out with the gateway killed mid-flow, and twenty
//! kinds of bad message.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use herald_brokers::Rabbit;

fn pika(code: &str, args: &[&str]) -> std::process::Output {
    herald_brokers::run_python(code, args).unwrap_or_else(|e| panic!("pika script failed: {e}"))
}

fn pika_spawn(code: &str, args: &[&str]) -> std::process::Child {
    herald_brokers::spawn_python(code, args).unwrap()
}

fn rabbit() -> Rabbit {
    tokio::task::block_in_place(|| Rabbit::start().unwrap())
}
use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};

/// Publishes `count` readings as publisher `who`, alternating binary and structured mode,
/// each confirmed by the broker; a reading not confirmed (broker down, connection lost)
/// is sent again, with the same id, until it is.
const PUBLISH: &str = r#"
import sys, json, time, pika
url, exchange, who, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
params = pika.URLParameters(url + "?connection_attempts=1&socket_timeout=2&blocked_connection_timeout=5")
def connect():
    while True:
        try:
            c = pika.BlockingConnection(params)
            ch = c.channel()
            ch.confirm_delivery()
            return c, ch
        except Exception:
            time.sleep(0.2)
c, ch = connect()
i = 0
while i < count:
    eid, src = f"{who}-{i:05d}", f"urn:nop:publisher:{who}"
    data = {"sensor": who, "db": 40 + i % 50, "seq": i}
    if i % 2 == 0:
        props = pika.BasicProperties(content_type="application/json", delivery_mode=2, headers={
            "cloudEvents:specversion": "1.0", "cloudEvents:id": eid, "cloudEvents:source": src,
            "cloudEvents:type": "nop.noise.reading", "cloudEvents:subject": who})
        body = json.dumps(data)
    else:
        props = pika.BasicProperties(content_type="application/cloudevents+json", delivery_mode=2)
        body = json.dumps({"specversion": "1.0", "id": eid, "source": src, "type": "nop.noise.reading",
                           "subject": who, "datacontenttype": "application/json", "data": data})
    try:
        ch.basic_publish(exchange, "nop.noise.reading", body, props, mandatory=True)
        i += 1
    except (pika.exceptions.UnroutableError, pika.exceptions.NackError):
        time.sleep(0.1)
    except Exception:
        try:
            c.close()
        except Exception:
            pass
        c, ch = connect()
print("published", count, flush=True)
"#;

/// Prints the number of messages in a queue.
const DEPTH: &str = r#"
import sys, pika
c = pika.BlockingConnection(pika.URLParameters(sys.argv[1]))
print(c.channel().queue_declare(sys.argv[2], passive=True).method.message_count)
"#;

/// Binds a queue to an exchange, says `ready`, then prints every message as a JSON line
/// until `count` distinct message ids came (or `timeout` seconds passed).
const CONSUME: &str = r##"
import sys, json, time, base64, pika
url, exchange, count, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
c = pika.BlockingConnection(pika.URLParameters(url))
ch = c.channel()
ch.exchange_declare(exchange, exchange_type="topic", durable=True)
q = ch.queue_declare("", exclusive=True).method.queue
ch.queue_bind(q, exchange, "#")
print("ready", flush=True)
seen, deadline = set(), time.time() + timeout
for method, props, body in ch.consume(q, inactivity_timeout=1):
    if time.time() > deadline:
        break
    if method is None:
        continue
    headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in (props.headers or {}).items()}
    print(json.dumps({"routing_key": method.routing_key, "message_id": props.message_id,
                      "content_type": props.content_type, "delivery_mode": props.delivery_mode,
                      "headers": headers, "body": body.decode()}), flush=True)
    ch.basic_ack(method.delivery_tag)
    seen.add(props.message_id)
    if len(seen) >= count:
        break
print("done", flush=True)
"##;

fn config(dir: &Path, toml: &str) -> String {
    let path = dir.join("gateway.toml");
    std::fs::write(&path, toml).unwrap();
    path.display().to_string()
}


fn depth(rabbit: &Rabbit, queue: &str) -> u64 {
    let out = pika(DEPTH, &[&rabbit.url(), queue]);
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// Acceptance 1 of issue 16: 5,000 readings from four pika publishers, binary and
/// structured mixed; the broker SIGKILLed and restarted once, and the gateway SIGKILLed
/// and restarted once, while they flow. A reader resuming by `Last-Event-ID` ends with
/// exactly the 5,000, each publisher's in order, none twice; the queue ends empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_through_rabbitmq_survive_a_broker_kill_and_a_gateway_kill() {
    const PER_PUBLISHER: usize = 1250;
    let mut rabbit = rabbit();
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &format!(
            "[amqp_in.nop]\nurl = \"{}\"\nexchange = \"nop\"\nqueue = \"herald.nop\"\nbindings = [\"nop.#\"]\nprefetch = 64\n",
            rabbit.url()
        ),
    );
    let data = dir.path().join("data");
    let mut process = configured(&data, &config);
    bridge_up(&process.base, "amqp-in:nop").await;
    let base = Arc::new(Mutex::new(process.base.clone()));
    let received = Arc::new(Mutex::new(Vec::new()));
    let reader = tokio::spawn(follow(base.clone(), "topic=nop.>".into(), received.clone()));
    streams_open(&process.base, 1.0).await;

    let url = rabbit.url();
    let count = PER_PUBLISHER.to_string();
    let mut publishers: Vec<_> = ["p1", "p2", "p3", "p4"].iter().map(|who| pika_spawn(PUBLISH, &[&url, "nop", who, &count])).collect();

    let got = || received.lock().unwrap().len();
    wait_for("1,000 readings", Duration::from_secs(120), || got() >= 1000).await;
    tokio::task::block_in_place(|| rabbit.restart()).unwrap(); // SIGKILL, then up again on its data
    wait_for("3,000 readings", Duration::from_secs(180), || got() >= 3000).await;
    process.child.kill().unwrap(); // SIGKILL the gateway
    process.child.wait().unwrap();
    let killed_at = got();
    process = configured(&data, &config);
    *base.lock().unwrap() = process.base.clone();

    for publisher in &mut publishers {
        let deadline = Instant::now() + Duration::from_secs(240);
        while publisher.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "a publisher did not finish");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(publisher.wait().unwrap().success());
    }
    wait_for("all 5,000 readings", Duration::from_secs(120), || got() >= 4 * PER_PUBLISHER).await;
    tokio::time::sleep(Duration::from_millis(500)).await; // anything extra would show now
    reader.abort();

    let received = received.lock().unwrap().clone();
    assert!(killed_at < 4 * PER_PUBLISHER, "the gateway was killed mid-flow");
    let ids: Vec<String> = received.iter().map(|(_, e)| e["id"].as_str().unwrap().to_owned()).collect();
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), 4 * PER_PUBLISHER, "exactly 5,000 deliveries");
    assert_eq!(distinct.len(), 4 * PER_PUBLISHER, "none twice");
    let mut by_publisher: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (_, event) in &received {
        by_publisher.entry(event["subject"].as_str().unwrap().to_owned()).or_default().push(event["data"]["seq"].as_u64().unwrap());
    }
    for (who, seqs) in &by_publisher {
        assert_eq!(seqs.len(), PER_PUBLISHER, "{who}");
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{who}'s readings in order");
    }
    // binary mode kept its attributes: the subject and the JSON data
    assert!(received.iter().all(|(_, e)| e["datacontenttype"] == "application/json" && e["data"]["db"].is_number()));
    let deadline = Instant::now() + Duration::from_secs(15);
    while tokio::task::block_in_place(|| depth(&rabbit, "herald.nop")) > 0 {
        assert!(Instant::now() < deadline, "the queue is not empty: deliveries left unacknowledged");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Acceptance 2 of issue 16: 1,000 matching events posted over HTTP reach a pika consumer,
/// each at least once with its stable message id, despite a gateway SIGKILL mid-way; they
/// read as CloudEvents by the AMQP binding's binary mode; events of other types do not go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_events_go_out_to_rabbitmq_across_a_gateway_kill() {
    const ALERTS: usize = 1000;
    let rabbit = rabbit();
    let mut consumer = pika_spawn(CONSUME, &[&rabbit.url(), "nop.out", &ALERTS.to_string(), "120"]);
    let mut lines = BufReader::new(consumer.stdout.take().unwrap()).lines();
    assert_eq!(tokio::task::block_in_place(|| lines.next()).unwrap().unwrap(), "ready");
    let collected = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<String>>());

    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &format!("[amqp_out.alerts]\nurl = \"{}\"\nexchange = \"nop.out\"\ntypes = [\"nop.noise.alert\"]\n", rabbit.url()),
    );
    let data = dir.path().join("data");
    let mut process = configured(&data, &config);
    let post = |base: String, from: usize| async move {
        let events: Vec<Value> = (from..from + 50)
            .flat_map(|i| {
                [
                    json!({"specversion": "1.0", "id": format!("a-{i:04}"), "source": "urn:nop:alerts", "type": "nop.noise.alert",
                           "subject": format!("s-{}", i % 5), "datacontenttype": "application/json", "data": {"sensor": format!("s-{}", i % 5), "n": i}}),
                    json!({"specversion": "1.0", "id": format!("r-{i:04}"), "source": "urn:nop:sim", "type": "nop.noise.reading", "data": {"db": 1}}),
                ]
            })
            .collect();
        post_batch(&base, events).await;
    };
    for from in (0..ALERTS / 2).step_by(50) {
        post(process.base.clone(), from).await;
    }
    tokio::time::sleep(Duration::from_millis(150)).await; // some go out, not necessarily all
    process.child.kill().unwrap();
    process.child.wait().unwrap();
    process = configured(&data, &config);
    for from in (ALERTS / 2..ALERTS).step_by(50) {
        post(process.base.clone(), from).await;
    }

    let deadline = Instant::now() + Duration::from_secs(150);
    while consumer.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the consumer did not see every alert");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lines = collected.join().unwrap();
    assert_eq!(lines.last().map(String::as_str), Some("done"));
    let messages: Vec<Value> = lines.iter().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
    let ids: HashSet<&str> = messages.iter().map(|m| m["message_id"].as_str().unwrap()).collect();
    let expected: HashSet<String> = (0..ALERTS).map(|i| format!("a-{i:04}")).collect();
    assert_eq!(ids.len(), ALERTS, "every alert, and nothing else");
    assert!(ids.iter().all(|id| expected.contains(*id)));
    for m in &messages {
        let h = &m["headers"];
        assert_eq!(h["cloudEvents:specversion"], "1.0");
        assert_eq!(h["cloudEvents:id"], m["message_id"]);
        assert_eq!(h["cloudEvents:source"], "urn:nop:alerts");
        assert_eq!(h["cloudEvents:type"], "nop.noise.alert");
        assert_eq!(m["routing_key"], "nop.noise.alert");
        assert_eq!(m["content_type"], "application/json");
        assert_eq!(m["delivery_mode"], 2, "persistent");
        let body: Value = serde_json::from_str(m["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["sensor"], h["cloudEvents:subject"]);
    }
    // at-least-once: repeats only from the unconfirmed page at the kill
    assert!(messages.len() - ALERTS <= 256, "{} repeats", messages.len() - ALERTS);
    drop(process);
}

/// Twenty kinds of message that are no valid event, then a good one.
const BAD: &str = r#"
import sys, json, decimal, pika
url, exchange = sys.argv[1], sys.argv[2]
c = pika.BlockingConnection(pika.URLParameters(url))
ch = c.channel()
ch.confirm_delivery()
CE, J = "application/cloudevents+json", "application/json"
def hdr(**kw):
    h = {"cloudEvents:specversion": "1.0", "cloudEvents:id": "b-1", "cloudEvents:source": "/bad", "cloudEvents:type": "nop.noise.reading"}
    for k, v in kw.items():
        name = "cloudEvents:" + k
        if v is None:
            h.pop(name, None)
        else:
            h[name] = v
    return h
good = {"specversion": "1.0", "id": "s-1", "source": "/bad", "type": "nop.noise.reading"}
def without(k):
    e = dict(good); e.pop(k); return json.dumps(e)
bad = [
    (CE, None, "not json"),
    (CE, None, "[1, 2]"),
    (CE, None, without("id")),
    (CE, None, without("source")),
    (CE, None, without("type")),
    (CE, None, json.dumps(dict(good, specversion="0.3"))),
    (CE, None, json.dumps(dict(good, data="x" * (2 * 1024 * 1024)))),
    (CE, None, b"\xff\xfe{\"specversion\": \"1.0\"}"),
    (J, hdr(id=decimal.Decimal("1.5")), "{}"),
    (J, hdr(source={"a": 1}), "{}"),
    (J, hdr(type=["a", "b"]), "{}"),
    (J, hdr(id=None), "{}"),
    (J, hdr(specversion="0.3"), "{}"),
    (J, hdr(), "not json"),
    (J, hdr(time="yesterday"), "{}"),
    (J, hdr(id="a\x00b"), "{}"),
    (J, None, json.dumps({"db": 1})),
    ("application/cloudevents-batch+json", None, json.dumps([good])),
    (J, hdr(dataversion=0), "{}"),
    (CE, None, json.dumps(dict(good, data={"a": 1}, data_base64="AA=="))),
]
for content_type, headers, body in bad:
    ch.basic_publish(exchange, "nop.noise.reading", body, pika.BasicProperties(content_type=content_type, headers=headers, delivery_mode=2), mandatory=True)
ch.basic_publish(exchange, "nop.noise.reading", json.dumps(dict(good, id="good-1")), pika.BasicProperties(content_type=CE, delivery_mode=2), mandatory=True)
print(len(bad), flush=True)
"#;

/// Acceptance 4 of issue 16: each bad message is a `herald.deadletter` with a reason and
/// the raw message, the bridge goes on consuming, nothing else is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_broker_messages_become_dead_letters_and_the_bridge_goes_on() {
    let rabbit = rabbit();
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &format!("[amqp_in.nop]\nurl = \"{}\"\nexchange = \"nop\"\nqueue = \"herald.bad\"\n", rabbit.url()),
    );
    let process = configured(&dir.path().join("data"), &config);
    bridge_up(&process.base, "amqp-in:nop").await;
    let client = reqwest::Client::new();
    let response = client.get(format!("{}/events/stream?topic=herald.deadletter&topic=nop.>", process.base)).send().await.unwrap();
    let mut sse = SseReader { body: Box::pin(response.bytes_stream()), buffer: String::new() };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let out = tokio::task::block_in_place(|| pika(BAD, &[&rabbit.url(), "nop"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "20");

    let mut letters: Vec<Value> = Vec::new();
    let mut good = None;
    while letters.len() < 20 || good.is_none() {
        let Some(frame) = sse.next(Duration::from_secs(20)).await else {
            let reasons: Vec<&Value> = letters.iter().map(|l| &l["data"]["reason"]).collect();
            panic!("every message is stored as something; {} dead letters came: {reasons:#?}", letters.len());
        };
        match frame.data["type"].as_str().unwrap() {
            "herald.deadletter" => letters.push(frame.data),
            _ => good = Some(frame.data),
        }
    }
    assert_eq!(good.unwrap()["id"], "good-1", "the bridge went on consuming");
    let ids: HashSet<&str> = letters.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 20, "twenty different dead letters");
    for letter in &letters {
        assert_eq!(letter["source"], "urn:herald:bridge:amqp-in:nop");
        let data = &letter["data"];
        assert!(!data["reason"].as_str().unwrap().is_empty());
        assert_eq!(data["subscriber"], "urn:herald:bridge:amqp-in:nop");
        assert_eq!(data["event"]["where"]["queue"], "herald.bad");
        assert_eq!(data["event"]["key"], "nop.noise.reading");
        assert!(data["event"]["bytes"].as_u64().is_some());
    }
    let big = letters.iter().find(|l| l["data"]["event"]["bytes"].as_u64() > Some(2_000_000)).expect("the 2 MB one");
    assert_eq!(big["data"]["event"]["truncated"], true);
    assert!(big["data"]["reason"].as_str().unwrap().contains("limit"));
    assert!(sse.next(QUIET).await.is_none(), "nothing else was stored");
    assert_eq!(metric(&process.base, "herald_events_ingested_total").await, 21.0);
    assert_eq!(metric(&process.base, "herald_bridge_dead_letters_total{bridge=\"amqp-in:nop\"}").await, 20.0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::task::block_in_place(|| depth(&rabbit, "herald.bad")) > 0 {
        assert!(Instant::now() < deadline, "the queue never jams: every message acknowledged");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One structured reading, published and confirmed.
const ONE: &str = r#"
import sys, json, pika
c = pika.BlockingConnection(pika.URLParameters(sys.argv[1]))
ch = c.channel()
ch.confirm_delivery()
event = {"specversion": "1.0", "id": sys.argv[3], "source": "/late", "type": "nop.noise.reading", "data": {"db": 1}}
ch.basic_publish(sys.argv[2], "nop.noise.reading", json.dumps(event),
                 pika.BasicProperties(content_type="application/cloudevents+json", delivery_mode=2), mandatory=True)
"#;

/// A broker that is down when the gateway starts: the gateway serves meanwhile (healthz
/// 200, posts stored), shows the bridge down, and the bridge comes up with the broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_down_at_start_is_waited_for_while_the_gateway_serves() {
    let port = herald_brokers::free_port();
    let url = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &format!("[amqp_in.nop]\nurl = \"{url}\"\nexchange = \"nop\"\nqueue = \"herald.late\"\n"));
    let process = configured(&dir.path().join("data"), &config);
    let client = reqwest::Client::new();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(client.get(format!("{}/healthz", process.base)).send().await.unwrap().status(), 200);
    let health = health(&process.base).await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["bridges"]["amqp-in:nop"]["state"], "down", "{health}");
    assert!(health["bridges"]["amqp-in:nop"]["error"].as_str().unwrap().contains("cannot connect"), "{health}");
    assert!(!health.to_string().contains("guest:guest"), "the password is not shown");
    let posted = client
        .post(format!("{}/events", process.base))
        .header(CONTENT_TYPE, CE_JSON)
        .body(reading("http-1", "nop.noise.reading", 1.0).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202, "the rest of the gateway serves");

    let broker_dir = tempfile::tempdir().unwrap();
    let _rabbit = tokio::task::block_in_place(|| Rabbit::start_in(broker_dir.path(), port).unwrap());
    bridge_up(&process.base, "amqp-in:nop").await;
    let response = client.get(format!("{}/events/stream?topic=nop.>", process.base)).send().await.unwrap();
    let mut sse = SseReader { body: Box::pin(response.bytes_stream()), buffer: String::new() };
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio::task::block_in_place(|| pika(ONE, &[&url, "nop", "late-1"]));
    assert_eq!(sse.next(Duration::from_secs(20)).await.unwrap().data["id"], "late-1");
    assert!(metric(&process.base, "herald_bridge_reconnects_total{bridge=\"amqp-in:nop\"}").await >= 1.0);
}
