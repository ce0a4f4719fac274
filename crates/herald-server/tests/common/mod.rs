//! Shared helpers of the gateway tests: a gateway on a real listener, an SSE reader.
#![allow(dead_code)]

pub mod clients;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use herald_server::{serve, AppState};
use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};

pub const CE_JSON: &str = "application/cloudevents+json";

pub struct Gateway {
    pub base: String,
    pub client: reqwest::Client,
    pub _server: tokio::task::JoinHandle<()>,
}

pub async fn start(state: AppState) -> Gateway {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        serve(listener, state).await.unwrap();
    });
    Gateway {
        base,
        client: reqwest::Client::new(),
        _server: server,
    }
}

pub fn reading(id: &str, ty: &str, db: f64) -> Value {
    json!({
        "specversion": "1.0", "id": id, "source": "/test/producer", "type": ty,
        "datacontenttype": "application/json", "data": {"sensor": "s-1", "db": db, "at": 0}
    })
}

impl Gateway {
    pub async fn post(&self, body: impl Into<reqwest::Body>, content_type: &str) -> (u16, Value, String) {
        let response = self
            .client
            .post(format!("{}/events", self.base))
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let media = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        (status, body, media)
    }

    pub async fn post_event(&self, event: &Value) -> String {
        let (status, body, _) = self.post(event.to_string(), CE_JSON).await;
        assert_eq!(status, 202, "{body}");
        body["position"].as_str().unwrap().to_owned()
    }

    pub async fn stream(&self, query: &str, last_event_id: Option<&str>) -> SseReader {
        let mut request = self.client.get(format!("{}/events/stream?{query}", self.base));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()[CONTENT_TYPE], "text/event-stream");
        assert_eq!(response.headers()["x-accel-buffering"], "no");
        SseReader {
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }
}

/// One SSE event: its `id:` and its `data:` lines joined.
#[derive(Debug)]
pub struct Frame {
    pub id: Option<String>,
    pub data: Value,
}

pub struct SseReader {
    pub body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    pub buffer: String,
}

impl SseReader {
    /// The next event, or `None` when the stream ends or fails (no time limit).
    pub async fn next_or_end(&mut self) -> Option<Frame> {
        self.next(Duration::from_secs(3600)).await
    }

    /// The next event (comments skipped), or `None` when nothing arrives within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut id = None;
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim_start().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
                    }
                }
                if data.is_empty() {
                    continue; // a comment (heartbeat)
                }
                return Some(Frame {
                    id,
                    data: serde_json::from_str(&data.join("\n")).unwrap(),
                });
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next()).await.ok()??;
            let Ok(chunk) = chunk else { return None }; // the connection failed
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

pub const WAIT: Duration = Duration::from_secs(5);
pub const QUIET: Duration = Duration::from_millis(300);

pub struct Process {
    pub child: Child,
    pub base: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `herald-server` binary with `args` on the data directory `data`, logging at
/// `warn`; its standard error is a pipe nobody reads. `Err` holds what it said when it
/// did not start.
pub fn spawn(args: &[&str], data: &Path) -> Result<Process, String> {
    spawn_logging(args, data, "warn")
}

/// [`spawn`] with `RUST_LOG` set to `filter`.
pub fn spawn_logging(args: &[&str], data: &Path, filter: &str) -> Result<Process, String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald-server"))
        .args(args)
        .arg("--data")
        .arg(data)
        .env("RUST_LOG", filter)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).map_err(|e| e.to_string())?;
    match line.trim().strip_prefix("herald-server listening on ") {
        Some(url) => Ok(Process { child, base: url.trim_end_matches('/').to_owned() }),
        None => {
            let output = child.wait_with_output().map_err(|e| e.to_string())?;
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }
}


/// Keeps a stream of `query` open against whatever gateway `base` names now and, whenever
/// it ends or fails, resumes with `Last-Event-ID`; pushes each event's (position, id).
pub async fn follow(
    base: std::sync::Arc<std::sync::Mutex<String>>,
    query: String,
    received: std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>,
) {
    let client = reqwest::Client::new();
    let mut last: Option<String> = None;
    loop {
        let url = format!("{}/events/stream?{query}", base.lock().unwrap());
        let mut request = client.get(url);
        if let Some(last) = &last {
            request = request.header("last-event-id", last);
        }
        let Ok(response) = request.send().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let mut sse = SseReader { body: Box::pin(response.bytes_stream()), buffer: String::new() };
        while let Some(frame) = sse.next_or_end().await {
            if let Some(id) = frame.id {
                received.lock().unwrap().push((id.clone(), frame.data));
                last = Some(id);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A metric's value in the `/metrics` text of the gateway at `base`; `name` with its
/// labels, as the text has it (`herald_bridge_up{bridge="amqp-in:nop"}`).
pub async fn metric(base: &str, name: &str) -> f64 {
    metric_or(base, name).await.unwrap_or_else(|| panic!("/metrics has no {name}"))
}

/// [`metric`], `None` when the gateway does not answer or has no such metric.
pub async fn metric_or(base: &str, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("{base}/metrics")).await.ok()?.text().await.ok()?;
    text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Waits (up to 30 s) until `/metrics` of the gateway at `base` says the bridge `bridge`
/// (`amqp-in:nop`, `webhook-out:NAME`, …) is up.
pub async fn bridge_up(base: &str, bridge: &str) {
    let name = format!("herald_bridge_up{{bridge=\"{bridge}\"}}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while metric_or(base, &name).await != Some(1.0) {
        assert!(tokio::time::Instant::now() < deadline, "the bridge {bridge} did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (up to 5 s) until the gateway at `base` has `streams` open streams.
pub async fn streams_open(base: &str, streams: f64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while metric(base, "herald_stream_connections").await < streams {
        assert!(tokio::time::Instant::now() < deadline, "the stream did not open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `GET /healthz` with `Accept: application/json`: the gateway's and its bridges' state.
pub async fn health(base: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The binary without authorization on a free port, with the configuration file `config`.
pub fn configured(data: &Path, config: &str) -> Process {
    spawn(&["--dev-no-auth", "--listen", "127.0.0.1:0", "--config", config], data).unwrap()
}

/// Waits (checking every 50 ms) until `done`, failing after `limit` with `what`.
pub async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Posts `events` as one batch to the gateway at `base`; it must be `202`.
pub async fn post_batch(base: &str, events: Vec<Value>) {
    let response = reqwest::Client::new()
        .post(format!("{base}/events"))
        .header(CONTENT_TYPE, "application/cloudevents-batch+json")
        .body(Value::Array(events).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
}
