//! Outbound webhooks against receivers written with PyPI `standardwebhooks` (an
//! independent implementation of the signature scheme): a flaky receiver that is also
//! down for 20 s, across a gateway SIGKILL; a receiver that refuses the handshake; and the
//! REST API.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use common::*;
use herald_server::{AppState, EventLog};
use serde_json::{json, Value};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A receiver on 127.0.0.1:PORT. `flaky`: answers the handshake, fails half the POSTs at
/// random (500), and after 600 good ones is down for 20 s; prints each accepted delivery
/// with whether its signature verified, and exits once COUNT distinct webhook ids came.
/// `refuse`: refuses the handshake, and prints any POST it still gets.
const RECEIVER: &str = r#"
import sys, json, random, threading, time, os
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from standardwebhooks.webhooks import Webhook
port, secret, count, mode = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
verifier, seen, good, lock = Webhook(secret), set(), [0], threading.Lock()
random.seed(16)
class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def do_OPTIONS(self):
        if mode == "refuse":
            self.send_response(403); self.end_headers(); return
        self.send_response(200)
        self.send_header("WebHook-Allowed-Origin", self.headers.get("WebHook-Request-Origin", ""))
        self.send_header("WebHook-Allowed-Rate", "*")
        self.send_header("Allow", "POST")
        self.end_headers()
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if mode == "refuse":
            print(json.dumps({"unexpected": self.headers.get("webhook-id")}), flush=True)
        with lock:
            if random.random() < 0.5:
                self.send_response(500); self.end_headers(); return
            try:
                verifier.verify(body, {k.lower(): v for k, v in self.headers.items()})
                verified = True
            except Exception:
                verified = False
            event = json.loads(body)
            print(json.dumps({"id": self.headers["webhook-id"], "verified": verified, "event": event["id"],
                              "type": self.headers.get("content-type")}), flush=True)
            seen.add(self.headers["webhook-id"])
            good[0] += 1
            self.send_response(204); self.end_headers()
            if len(seen) >= count:
                print("done", flush=True); os._exit(0)
            if good[0] == 600:
                threading.Thread(target=outage, daemon=True).start()
def serve():
    global server
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
def outage():
    server.shutdown(); server.server_close()
    print(json.dumps({"down": time.time()}), flush=True)
    time.sleep(20)
    serve()
    print(json.dumps({"up": time.time()}), flush=True)
serve()
print("ready", flush=True)
time.sleep(600)
"#;

fn receiver(port: u16, count: usize, mode: &str) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut child = herald_brokers::spawn_python(RECEIVER, &[&port.to_string(), SECRET, &count.to_string(), mode]).unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    assert_eq!(rx.recv_timeout(Duration::from_secs(30)).unwrap(), "ready");
    (child, rx)
}

/// Alerts `from..from + count` (the subscription's type) with as many other events.
async fn post_alerts(base: &str, from: usize, count: usize) {
    let events: Vec<Value> = (from..from + count)
        .flat_map(|i| {
            [
                json!({"specversion": "1.0", "id": format!("w-{i:04}"), "source": "urn:nop:alerts", "type": "nop.noise.alert",
                       "datacontenttype": "application/json", "data": {"n": i}}),
                json!({"specversion": "1.0", "id": format!("o-{i:04}"), "source": "urn:nop:other", "type": "nop.other", "data": {}}),
            ]
        })
        .collect();
    post_batch(base, events).await;
}

/// Acceptance 2 of issue 17.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_a_flaky_receiver_in_order_across_a_gateway_kill() {
    const EVENTS: usize = 2000;
    let (flaky_port, refused_port) = (herald_brokers::free_port(), herald_brokers::free_port());
    let (mut flaky, lines) = tokio::task::block_in_place(|| receiver(flaky_port, EVENTS, "flaky"));
    let (mut refusing, refused_lines) = tokio::task::block_in_place(|| receiver(refused_port, 1, "refuse"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "allow_private_webhook_targets = true\n\n\
             [webhook_out.flaky]\nurl = \"http://127.0.0.1:{flaky_port}/hook\"\ntypes = [\"nop.noise.*\"]\nsecret = \"{SECRET}\"\n\
             retry_base_ms = 10\nretry_max_ms = 1000\nmax_attempts = 200\n\n\
             [webhook_out.refused]\nurl = \"http://127.0.0.1:{refused_port}/hook\"\ntypes = [\"nop.noise.*\"]\nsecret = \"{SECRET}\"\n"
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let data = dir.path().join("data");
    let args = ["--dev-no-auth", "--listen", "127.0.0.1:0", "--config", &config];
    let mut process = spawn(&args, &data).unwrap();
    bridge_up(&process.base, "webhook-out:flaky").await;
    for from in (0..EVENTS / 2).step_by(100) {
        post_alerts(&process.base, from, 100).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    process.child.kill().unwrap(); // SIGKILL mid-way
    process.child.wait().unwrap();
    process = spawn(&args, &data).unwrap();
    for from in (EVENTS / 2..EVENTS).step_by(100) {
        post_alerts(&process.base, from, 100).await;
    }

    let mut deliveries = Vec::new();
    let mut outage = (None, None);
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = tokio::task::block_in_place(|| lines.recv_timeout(left)).expect("the receiver saw every event in time");
        if line == "done" {
            break;
        }
        let value: Value = serde_json::from_str(&line).unwrap();
        if value.get("down").is_some() {
            outage.0 = value["down"].as_f64();
        } else if value.get("up").is_some() {
            outage.1 = value["up"].as_f64();
        } else {
            deliveries.push(value);
        }
    }
    let _ = flaky.wait();
    let (down, back) = (outage.0.expect("the receiver went down"), outage.1.expect("and came back"));
    assert!(back - down >= 19.0);
    assert!(deliveries.iter().all(|d| d["verified"] == true), "every signature verifies with standardwebhooks");
    assert!(deliveries.iter().all(|d| d["type"] == "application/cloudevents+json"));
    // after dedupe by webhook-id, every event once, in order
    let mut seen = HashSet::new();
    let firsts: Vec<&Value> = deliveries.iter().filter(|d| seen.insert(d["id"].as_str().unwrap().to_owned())).collect();
    let events: Vec<&str> = firsts.iter().map(|d| d["event"].as_str().unwrap()).collect();
    let expected: Vec<String> = (0..EVENTS).map(|i| format!("w-{i:04}")).collect();
    assert_eq!(events, expected, "every matching event, in order, nothing else");
    let seqs: Vec<u64> = firsts.iter().map(|d| d["id"].as_str().unwrap().split_once('-').unwrap().1.parse().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "webhook ids are positions, increasing");

    // the receiver that refused the handshake got nothing
    assert!(refused_lines.try_recv().is_err(), "no delivery to a refusing endpoint");
    let health = health(&process.base).await;
    let refused = &health["bridges"]["webhook-out:refused"];
    assert_eq!(refused["state"], "down", "{health}");
    assert!(refused["error"].as_str().unwrap().contains("handshake"), "{refused}");
    let _ = refusing.kill();
    let _ = refusing.wait();
}

/// The REST API: create (a secret made and shown once), list (no secrets), delete; only
/// public endpoints unless allowed; an admin token is needed when authorization is on.
#[tokio::test]
async fn subscriptions_are_made_listed_and_deleted_through_the_api() {
    let gw = start(AppState::new(EventLog::in_memory())).await;
    let api = format!("{}/webhook-subscriptions", gw.base);
    // no loopback target unless the gateway allows private targets
    let refused = gw.client.post(&api).json(&json!({"url": "http://127.0.0.1:9/x", "types": ["nop.>"]})).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    let problem: Value = refused.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("not a public address"), "{problem}");
    for bad in [json!({"url": "ftp://example.com/", "types": ["nop.>"]}), json!({"url": "https://example.com/", "types": []}), json!({"url": "https://example.com/", "types": ["a..b"]}), json!({"types": ["nop.>"]}), json!({"url": "https://example.com/", "types": ["nop.>"], "nope": 1}), json!([1])] {
        let response = gw.client.post(&api).json(&bad).send().await.unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }

    let gw = start(AppState::new(EventLog::in_memory()).with_private_webhook_targets(true)).await;
    let api = format!("{}/webhook-subscriptions", gw.base);
    let made = gw
        .client
        .post(&api)
        .json(&json!({"name": "alerts", "url": "http://127.0.0.1:9/hook", "types": ["nop.noise.alert"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let made: Value = made.json().await.unwrap();
    assert!(made["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(made["name"], "alerts");
    let again = gw.client.post(&api).json(&json!({"name": "alerts", "url": "http://127.0.0.1:9/h", "types": ["x"]})).send().await.unwrap();
    assert_eq!(again.status(), 409);
    let list: Value = gw.client.get(&api).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["subscriptions"][0]["name"], "alerts");
    assert!(!list.to_string().contains("whsec_"), "secrets are never listed");
    assert_eq!(gw.client.delete(format!("{api}/alerts")).send().await.unwrap().status(), 204);
    assert_eq!(gw.client.delete(format!("{api}/alerts")).send().await.unwrap().status(), 404);
    let list: Value = gw.client.get(&api).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["subscriptions"], json!([]));

    // with authorization on, an admin token only
    let secret = b"test secret, long enough for HS256";
    let gw = start(AppState::new(EventLog::in_memory()).with_auth(herald_server::Auth::hs256(secret).unwrap())).await;
    let token = |admin: bool| {
        let claims = json!({ "herald": { "publish": ["nop.>"], "subscribe": ["nop.>"], "admin": admin }, "exp": 4_000_000_000u64 });
        jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &claims, &jsonwebtoken::EncodingKey::from_secret(secret).unwrap()).unwrap()
    };
    let api = format!("{}/webhook-subscriptions", gw.base);
    assert_eq!(gw.client.get(&api).send().await.unwrap().status(), 401);
    assert_eq!(gw.client.get(&api).bearer_auth(token(false)).send().await.unwrap().status(), 403);
    assert_eq!(gw.client.get(&api).bearer_auth(token(true)).send().await.unwrap().status(), 200);
}

/// An endpoint that always fails: each event becomes a `herald.deadletter` with the last
/// status after `max_attempts`; with `pause_on_dead_letter` the subscription pauses until
/// resumed; failures are counted per subscription.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_endpoint_gets_dead_letters_and_a_pause() {
    use axum::routing::post;
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = calls.clone();
    let endpoint = axum::Router::new().route(
        "/hook",
        post(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down for maintenance") }
        })
        .options(|headers: axum::http::HeaderMap| async move {
            let origin = headers["webhook-request-origin"].clone();
            ([("webhook-allowed-origin", origin)], "")
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, endpoint).await.unwrap() });

    let gw = start(AppState::new(EventLog::in_memory()).with_private_webhook_targets(true)).await;
    let api = format!("{}/webhook-subscriptions", gw.base);
    let made = gw
        .client
        .post(&api)
        .json(&json!({"name": "down", "url": url, "types": ["nop.>"], "max_attempts": 3, "retry_base_ms": 10,
                      "retry_max_ms": 20, "pause_on_dead_letter": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let mut sse = gw.stream("topic=herald.deadletter", None).await;
    bridge_up(&gw.base, "webhook-out:down").await;
    gw.post_event(&reading("x-1", "nop.noise.alert", 1.0)).await;
    gw.post_event(&reading("x-2", "nop.noise.alert", 2.0)).await;
    let letter = sse.next(Duration::from_secs(20)).await.expect("a dead letter").data;
    assert_eq!(letter["source"], "urn:herald:webhook-out:down");
    assert_eq!(letter["causationid"], "x-1");
    assert!(letter["data"]["reason"].as_str().unwrap().contains("503"), "{letter}");
    assert_eq!(letter["data"]["event"]["id"], "x-1");
    // paused: x-2 waits
    assert!(sse.next(Duration::from_millis(500)).await.is_none());
    assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 3, "max_attempts attempts, then the pause");
    let list: Value = gw.client.get(&api).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["subscriptions"][0]["state"], "paused");
    assert_eq!(metric(&gw.base, "herald_bridge_failures_total{bridge=\"webhook-out:down\"}").await, 3.0);
    let resumed: Value = gw.client.post(format!("{api}/down/resume")).send().await.unwrap().json().await.unwrap();
    assert_eq!(resumed["resumed"], true);
    let second = sse.next(Duration::from_secs(20)).await.expect("x-2 goes on after the resume").data;
    assert_eq!(second["causationid"], "x-2");
}
