//! The `herald-server` binary as a process: SIGTERM drains, SIGKILL loses nothing that
//! was acknowledged, and the startup rules of authorization.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

fn gateway(data: &Path) -> Process {
    spawn(&["--dev-no-auth", "--listen", "127.0.0.1:0"], data).unwrap()
}

#[tokio::test]
async fn authorization_is_required_and_dev_mode_is_loopback_only() {
    let data = tempfile::tempdir().unwrap();
    let error = spawn(&["--listen", "127.0.0.1:0"], data.path()).err().unwrap();
    assert!(error.contains("--dev-no-auth"), "{error}");
    let error = spawn(&["--dev-no-auth", "--listen", "0.0.0.0:0"], data.path()).err().unwrap();
    assert!(error.contains("loopback"), "{error}");
    let error = spawn(&["--listen", "127.0.0.1:0", "--jwt-hs256-secret", "s", "--dev-no-auth"], data.path()).err().unwrap();
    assert!(error.contains("exclude"), "{error}");
    // a key turns authorization on, on any address
    let process = spawn(&["--listen", "127.0.0.1:0", "--jwt-hs256-secret", "a secret"], data.path()).unwrap();
    let status = reqwest::get(format!("{}/events/stream?topic=a", process.base)).await.unwrap().status();
    assert_eq!(status, 401);
}

#[test]
fn the_help_documents_every_setting() {
    let output = Command::new(env!("CARGO_BIN_EXE_herald-server")).arg("--help").output().unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in [
        "--config", "--listen", "--data", "--static-dir", "--max-body-bytes", "--max-queue-bytes", "--dev-no-auth",
        "--jwt-hs256-secret", "--jwt-rs256-public-key", "--cors-origin", "--log-format", "HERALD_LISTEN",
        "--store", "--stream", "--stream-max-msgs", "--stream-max-age-secs", "--stream-max-bytes",
        "--stream-replicas", "--stream-duplicate-window-secs", "--header-read-timeout-secs", "--body-read-timeout-secs",
        "--write-timeout-secs", "--max-header-bytes", "--max-connections-per-ip", "--amqp-url", "--kafka-brokers",
        "--allow-private-webhook-targets", "--webhook-origin", "--ws-ping-interval-secs",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[tokio::test]
async fn sigterm_sends_herald_drain_to_streams_and_exits_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let mut process = gateway(data.path());
    let client = reqwest::Client::new();
    let response = client.get(format!("{}/events/stream?topic=nop.>", process.base)).send().await.unwrap();
    let mut sse = SseReader { body: Box::pin(response.bytes_stream()), buffer: String::new() };
    let pid = process.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let notice = sse.next(WAIT).await.expect("a notice before the stream ends");
    assert_eq!(notice.data["type"], "herald.drain");
    assert!(notice.id.is_none(), "the notice does not move the client's position");
    for _ in 0..100 {
        if let Some(status) = process.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            // and it no longer accepts connections
            assert!(client.get(format!("{}/healthz", process.base)).send().await.is_err());
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the gateway did not exit within 10 s of SIGTERM");
}

const EVENTS: usize = 600;
const KILL_AFTER: usize = 200;

/// The producer posts EVENTS events, one at a time; a post that is not answered 2xx
/// (the gateway is down) is retried with the same id until it is: at-least-once from
/// the producer, made exactly-once by the gateway's (source, id) dedupe.
async fn produce(base: Arc<Mutex<String>>, accepted: Arc<Mutex<Vec<String>>>) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
    for i in 0..EVENTS {
        let event = reading(&format!("p-{i:04}"), "nop.noise.reading", i as f64);
        loop {
            let url = format!("{}/events", base.lock().unwrap());
            let sent = client.post(url).header("content-type", CE_JSON).body(event.to_string()).send().await;
            if matches!(&sent, Ok(r) if r.status() == 202) {
                accepted.lock().unwrap().push(format!("p-{i:04}"));
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_nothing_acknowledged_and_repeats_nothing() {
    let data = tempfile::tempdir().unwrap();
    let mut process = gateway(data.path());
    let base = Arc::new(Mutex::new(process.base.clone()));
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let received = Arc::new(Mutex::new(Vec::new()));
    let reader = tokio::spawn(follow(base.clone(), "topic=nop.>".into(), received.clone()));
    // the reader's first stream starts at the head: let it open before anything is posted
    let metrics = format!("{}/metrics", process.base);
    for _ in 0..200 {
        let text = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
        if text.contains("herald_stream_connections 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let producer = tokio::spawn(produce(base.clone(), accepted.clone()));

    while accepted.lock().unwrap().len() < KILL_AFTER {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    process.child.kill().unwrap(); // SIGKILL: no drain, no flush, no goodbye
    process.child.wait().unwrap();
    let killed_at = accepted.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let restarted = gateway(data.path());
    *base.lock().unwrap() = restarted.base.clone();

    tokio::time::timeout(Duration::from_secs(60), producer).await.expect("the producer finishes").unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while received.lock().unwrap().len() < EVENTS && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // anything extra would show now
    reader.abort();

    let accepted = accepted.lock().unwrap().clone();
    let received = received.lock().unwrap().clone();
    assert!(killed_at < EVENTS, "the kill came mid-stream");
    assert_eq!(accepted.len(), EVENTS);
    let ids: Vec<String> = received.iter().map(|(_, event)| event["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, accepted, "exactly the acknowledged events, in order, none twice");
    let positions: Vec<u64> = received.iter().map(|(p, _)| p.split_once('-').unwrap().1.parse().unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "positions only go up");
}
