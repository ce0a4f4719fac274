//! The gateway's SignalR hub (`/hubs/events`) against SignalR's official client,
//! `@microsoft/signalr` 10 on Node (tests/clients, installed by `cargo xtask install`),
//! and its bad input against a raw WebSocket.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "signalr test secret, long enough for HS256";
const RS: char = '\u{1e}';

fn token(publish: &[&str], subscribe: &[&str]) -> String {
    let claims = json!({ "herald": { "publish": publish, "subscribe": subscribe }, "exp": 4_000_000_000u64 });
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(SECRET.as_bytes()).unwrap()).unwrap()
}

/// The folder of the official clients (`npm ci` there by `cargo xtask install`).
fn clients() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients");
    assert!(
        dir.join("node_modules/@microsoft/signalr").is_dir(),
        "the official SignalR client is not installed in {}: run `cargo xtask install`",
        dir.display()
    );
    dir
}

/// A Node client script, its stdout lines (JSON) arriving on a channel.
struct Node {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Node {
    fn run(args: &[&str]) -> Node {
        let dir = clients();
        let mut child = Command::new("node")
            .arg("signalr.mjs")
            .args(args)
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                if tx.send(value).is_err() {
                    return;
                }
            }
        });
        Node { child, lines }
    }

    /// The next line that has member `key`, within `wait`.
    fn until(&self, key: &str, wait: Duration) -> Value {
        let deadline = std::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.get(key).is_some() => return line[key].clone(),
                Ok(_) => continue,
                Err(_) => panic!("the SignalR client said no `{key}` within {wait:?}"),
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Posts `events` with `token`; their positions.
async fn post(base: &str, token: &str, events: Vec<Value>) -> Vec<String> {
    let response = reqwest::Client::new()
        .post(format!("{base}/events"))
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/cloudevents-batch+json")
        .body(Value::Array(events).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let positions = body["positions"].as_array().cloned().unwrap_or_else(|| vec![body["position"].clone()]);
    positions.iter().map(|p| p.as_str().unwrap().to_owned()).collect()
}

fn readings(from: usize, to: usize) -> Vec<Value> {
    (from..to).map(|n| reading(&format!("sig-{n}"), "sig.reading", n as f64)).collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn gateway(port: u16, data: &std::path::Path) -> Process {
    let listen = format!("127.0.0.1:{port}");
    spawn(&["--listen", &listen, "--jwt-hs256-secret", SECRET], data).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_client_streams_in_order_publishes_and_resumes_across_a_kill_9() {
    follow_across_a_kill_9("websockets").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_over_server_sent_events() {
    follow_across_a_kill_9("sse").await;
}

/// 1,000 posted readings and the one the client publishes itself, in order, across a
/// SIGKILL and restart of the gateway, over `transport`.
async fn follow_across_a_kill_9(transport: &str) {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut process = gateway(port, data.path());
    let base = process.base.clone();
    let producer = token(&["sig.>", "start"], &[]);
    let client = token(&["sig.>"], &["sig.>"]);
    let start = post(&base, &producer, vec![reading("start-1", "start", 0.0)]).await.remove(0);

    let node = Node::run(&["follow", &base, &client, "sig.>", &start, "1001", transport]);
    node.until("subscribed", WAIT * 4);
    let published = node.until("published", WAIT * 4);
    let published = published.as_str().expect("Publish completes with the position").to_owned();
    for batch in (0..500).step_by(100) {
        post(&base, &producer, readings(batch, batch + 100)).await;
    }
    node.until("received", WAIT * 4);
    // cut off mid-stream: no drain, no goodbye; then the same port and data again
    process.child.kill().unwrap();
    process.child.wait().unwrap();
    let process = gateway(port, data.path());
    for batch in (500..1000).step_by(100) {
        post(&process.base, &producer, readings(batch, batch + 100)).await;
    }
    let done = node.until("done", Duration::from_secs(60));
    assert_eq!(done["repeated"], 0, "nothing repeated");
    assert_eq!(done["outOfOrder"], 0, "in log order");
    assert!(done["reconnects"].as_u64().unwrap() >= 1, "the client reconnected: {done}");
    let received = done["received"].as_array().unwrap();
    assert_eq!(received.len(), 1001, "nothing lost");
    let posted: Vec<&str> = received.iter().map(|r| r["id"].as_str().unwrap()).filter(|id| id.starts_with("sig-")).collect();
    let expected: Vec<String> = (0..1000).map(|n| format!("sig-{n}")).collect();
    assert_eq!(posted, expected, "every posted reading, in the order posted");
    let mine = received.iter().find(|r| r["id"] == "signalr-published-1").expect("its own event came back");
    assert_eq!(mine["position"], published.as_str(), "Publish's result is the event's position");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_without_the_grant_is_refused_and_sees_nothing() {
    let data = tempfile::tempdir().unwrap();
    let process = gateway(free_port(), data.path());
    let producer = token(&["sig.>"], &[]);
    let other = token(&[], &["other.>"]);
    let node = Node::run(&["refused", &process.base, &other, "sig.>"]);
    post(&process.base, &producer, readings(0, 10)).await;
    let refused = node.until("refused", WAIT * 4);
    assert!(refused.as_str().unwrap().contains("sig.>"), "{refused}");
    // no token at all: negotiate answers 401 and the client cannot start
    let node = Node::run(&["refused", &process.base, "", "sig.>"]);
    let failed = node.until("startFailed", WAIT * 4);
    assert!(failed.as_str().unwrap().contains("401"), "{failed}");
}

/// A raw WebSocket on the hub, past negotiate and the handshake.
async fn hub_socket(base: &str, token: &str) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = format!("{}/hubs/events?access_token={token}", base.replace("http://", "ws://"));
    let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    socket
}

async fn next_text(socket: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin)) -> Option<String> {
    loop {
        match tokio::time::timeout(WAIT, socket.next()).await.ok()?? {
            Ok(Message::Text(text)) => return Some(text.to_string()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_ends_in_the_protocols_own_errors() {
    let data = tempfile::tempdir().unwrap();
    let process = gateway(free_port(), data.path());
    let client = token(&["sig.>"], &["sig.>"]);

    // a handshake for another protocol: an error answer, then the close
    let mut socket = hub_socket(&process.base, &client).await;
    socket.send(Message::text(format!("{{\"protocol\":\"messagepack\",\"version\":1}}{RS}"))).await.unwrap();
    let answer = next_text(&mut socket).await.unwrap();
    assert!(answer.starts_with("{\"error\":") && answer.contains("messagepack") && answer.ends_with(RS), "{answer}");
    assert_eq!(next_text(&mut socket).await, None);

    // after a good handshake: an unknown method completes with an error, the connection
    // goes on; a malformed message ends it with a Close message
    let mut socket = hub_socket(&process.base, &client).await;
    socket.send(Message::text(format!("{{\"protocol\":\"json\",\"version\":1}}{RS}"))).await.unwrap();
    assert_eq!(next_text(&mut socket).await.unwrap(), format!("{{}}{RS}"));
    socket.send(Message::text(format!("{{\"type\":1,\"invocationId\":\"1\",\"target\":\"Nope\",\"arguments\":[]}}{RS}"))).await.unwrap();
    let completion: Value = serde_json::from_str(next_text(&mut socket).await.unwrap().trim_end_matches(RS)).unwrap();
    assert_eq!((completion["type"].clone(), completion["invocationId"].clone()), (json!(3), json!("1")));
    assert!(completion["error"].as_str().unwrap().contains("Nope"));
    let bad = json!({ "type": 1, "invocationId": "2", "target": "Publish", "arguments": [{ "specversion": "0.3" }] });
    socket.send(Message::text(format!("{bad}{RS}"))).await.unwrap();
    let completion: Value = serde_json::from_str(next_text(&mut socket).await.unwrap().trim_end_matches(RS)).unwrap();
    assert!(completion["error"].is_string() && completion.get("result").is_none(), "{completion}");
    socket.send(Message::text(format!("not json{RS}"))).await.unwrap();
    let close: Value = serde_json::from_str(next_text(&mut socket).await.unwrap().trim_end_matches(RS)).unwrap();
    assert_eq!((close["type"].clone(), close["allowReconnect"].clone()), (json!(7), json!(false)));

    // a 10 MB message: a Close message saying the limit; the gateway serves on
    let mut socket = hub_socket(&process.base, &client).await;
    socket.send(Message::text(format!("{{\"protocol\":\"json\",\"version\":1}}{RS}"))).await.unwrap();
    next_text(&mut socket).await.unwrap();
    let huge = format!("{{\"type\":1,\"target\":\"Publish\",\"arguments\":[\"{}\"]}}{RS}", "x".repeat(10 << 20));
    let _ = socket.send(Message::text(huge)).await;
    let close: Value = serde_json::from_str(next_text(&mut socket).await.unwrap().trim_end_matches(RS)).unwrap();
    assert!(close["error"].as_str().unwrap().contains("at most"), "{close}");
    let healthy = reqwest::get(format!("{}/healthz", process.base)).await.unwrap();
    assert_eq!(healthy.status(), 200);

    // the Server-Sent Events transport's requests, without a negotiated connection
    let http = reqwest::Client::new();
    let hub = format!("{}/hubs/events", process.base);
    let plain = http.get(&hub).bearer_auth(&client).send().await.unwrap();
    assert_eq!(plain.status(), 400, "neither an upgrade nor an event stream");
    let unknown = http.get(format!("{hub}?id=nobody")).bearer_auth(&client).header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(unknown.status(), 404, "an event stream for a connection never negotiated");
    let post = http.post(format!("{hub}?id=nobody")).bearer_auth(&client).body(format!("{{\"type\":6}}{RS}")).send().await.unwrap();
    assert_eq!(post.status(), 404, "messages for a connection that does not exist");
}
