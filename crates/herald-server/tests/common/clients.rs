//! The official clients of the push libraries (tests/clients, installed by `cargo xtask
//! install`) run by Node against a gateway process, and what their tests share.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::{reading, spawn, Process, WAIT};

pub const SECRET: &str = "signalr test secret, long enough for HS256";
pub const RS: char = '\u{1e}';

pub fn token(publish: &[&str], subscribe: &[&str]) -> String {
    let claims = json!({ "herald": { "publish": publish, "subscribe": subscribe }, "exp": 4_000_000_000u64 });
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(SECRET.as_bytes()).unwrap()).unwrap()
}

/// The folder of the official clients (`npm ci` there by `cargo xtask install`).
pub fn clients() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients");
    assert!(
        dir.join("node_modules/@microsoft/signalr").is_dir() && dir.join("node_modules/socket.io-client").is_dir(),
        "the official clients are not installed in {}: run `cargo xtask install`",
        dir.display()
    );
    dir
}

/// A Node client script, its stdout lines (JSON) arriving on a channel.
pub struct Node {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Node {
    /// Runs `node SCRIPT ARGS…` in tests/clients.
    pub fn run(script: &str, args: &[&str]) -> Node {
        let dir = clients();
        let mut child = Command::new("node")
            .arg(script)
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
    pub fn until(&self, key: &str, wait: Duration) -> Value {
        let deadline = std::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.get(key).is_some() => return line[key].clone(),
                Ok(_) => continue,
                Err(_) => panic!("the client said no `{key}` within {wait:?}"),
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
pub async fn post(base: &str, token: &str, events: Vec<Value>) -> Vec<String> {
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

pub fn readings(from: usize, to: usize) -> Vec<Value> {
    (from..to).map(|n| reading(&format!("sig-{n}"), "sig.reading", n as f64)).collect()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn gateway(port: u16, data: &std::path::Path) -> Process {
    let listen = format!("127.0.0.1:{port}");
    spawn(&["--listen", &listen, "--jwt-hs256-secret", SECRET], data).unwrap()
}

/// 1,000 posted readings and the one the client publishes itself, in order, across a
/// SIGKILL and restart of the gateway, over `transport`, by the Node client `script`
/// (its own event has id `published_id`).
pub async fn follow_across_a_kill_9(script: &str, transport: &str, published_id: &str) {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut process = gateway(port, data.path());
    let base = process.base.clone();
    let producer = token(&["sig.>", "start"], &[]);
    let client = token(&["sig.>"], &["sig.>"]);
    let start = post(&base, &producer, vec![reading("start-1", "start", 0.0)]).await.remove(0);

    let node = Node::run(script, &["follow", &base, &client, "sig.>", &start, "1001", transport]);
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
    if let Some(used) = done.get("transport") {
        assert_eq!(used, "websocket", "Socket.IO upgraded from polling to a WebSocket, or started on one");
    }
    let received = done["received"].as_array().unwrap();
    assert_eq!(received.len(), 1001, "nothing lost");
    let posted: Vec<&str> = received.iter().map(|r| r["id"].as_str().unwrap()).filter(|id| id.starts_with("sig-")).collect();
    let expected: Vec<String> = (0..1000).map(|n| format!("sig-{n}")).collect();
    assert_eq!(posted, expected, "every posted reading, in the order posted");
    let mine = received.iter().find(|r| r["id"] == published_id).expect("its own event came back");
    assert_eq!(mine["position"], published.as_str(), "Publish's result is the event's position");
}


/// Generates the gRPC client's JavaScript code into tests/clients/gen/ (once).
pub fn generate_grpc_client() {
    herald_grpc_codegen::generate().expect("the gRPC client code is generated");
}
