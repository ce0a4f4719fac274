//! `nop-sensors` (the binary) against a real herald gateway: the projection follows the
//! log, answers over REST, is rebuilt from position zero equal to the live one, and starts
//! again from zero when the gateway's log is another.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use herald_server::{serve, AppState, EventLog};
use serde_json::{json, Value};

struct Projector {
    child: Child,
    base: String,
}

impl Drop for Projector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn projector(gateway: &str) -> Projector {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nop-sensors"))
        .args(["--gateway", gateway, "--listen", "127.0.0.1:0", "--cors-origin", "http://page.test"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().rsplit_once(" listening on ").unwrap().1.trim_end_matches('/').to_owned();
    Projector { child, base }
}

async fn gateway(dir: &std::path::Path) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let log = EventLog::open(dir).unwrap();
    let task = tokio::spawn(async move { serve(listener, AppState::new(log)).await.unwrap() });
    (base, task)
}

async fn post(gateway: &str, event: Value) -> String {
    let response = reqwest::Client::new()
        .post(format!("{gateway}/events"))
        .header("content-type", "application/cloudevents+json")
        .body(event.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    response.json::<Value>().await.unwrap()["position"].as_str().unwrap().to_owned()
}

fn event(id: &str, ty: &str, data: Value) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "/test", "type": ty, "datacontenttype": "application/json", "data": data})
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// GET `path` until `check` holds of the JSON answer.
async fn until(base: &str, path: &str, check: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        if let Ok(response) = reqwest::get(format!("{base}{path}")).await {
            last = response.json().await.unwrap_or(Value::Null);
            if check(&last) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never got there; last: {last}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_projection_follows_the_log_and_a_rebuild_from_zero_equals_it() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, _server) = gateway(dir.path()).await;
    // events stored before the projector starts are read from position zero
    post(&gw, event("r-1", "nop.noise.reading", json!({"sensor": "s-1", "db": 58.0, "at": now()}))).await;
    post(&gw, event("m-1", "nop.sensor.muted", json!({"sensor": "s-2", "muted": true, "at": now()}))).await;
    let p = projector(&gw);
    post(&gw, event("r-2", "nop.noise.reading", json!({"sensor": "s-1", "db": 91.0, "at": now()}))).await;
    post(&gw, event("a-1", "nop.noise.alert", json!({"sensor": "s-1", "count": 4, "window_s": 60.0, "at": now()}))).await;
    let last = post(
        &gw,
        event("c-1", "nop.sensor.calibrated", json!({"sensor": "s-1", "revision": 2, "record": "/calibrations/s-1?revision=2", "at": now()})),
    )
    .await;

    let view = until(&p.base, "/sensors", |v| v["position"] == json!(last)).await;
    assert_eq!(view["events"], 5);
    let s1 = &view["sensors"][0];
    assert_eq!((s1["sensor"].as_str(), s1["level_db"].as_f64(), s1["readings"].as_u64()), (Some("s-1"), Some(91.0), Some(2)));
    assert_eq!(s1["alerts_last_hour"], 1);
    assert_eq!(s1["last_calibration"]["revision"], 2);
    assert_eq!(view["sensors"][1]["muted"], true);

    let one: Value = reqwest::get(format!("{}/sensors/s-2", p.base)).await.unwrap().json().await.unwrap();
    assert_eq!(one["muted"], true);
    let missing = reqwest::get(format!("{}/sensors/s-404", p.base)).await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["content-type"], "application/problem+json");

    // CORS for the page's origin only
    let client = reqwest::Client::new();
    let allowed = client.get(format!("{}/sensors", p.base)).header("origin", "http://page.test").send().await.unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], "http://page.test");
    let other = client.get(format!("{}/sensors", p.base)).header("origin", "http://evil.test").send().await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // rebuilt from position zero: the same state as the live projection
    let rebuilt: Value = client.post(format!("{}/rebuild", p.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(rebuilt, json!({"position": last, "events": 5, "equal": true}));
    // and it goes on following the log
    let next = post(&gw, event("r-3", "nop.noise.reading", json!({"sensor": "s-3", "db": 40.0, "at": now()}))).await;
    let view = until(&p.base, "/sensors", |v| v["position"] == json!(next)).await;
    assert_eq!(view["sensors"].as_array().unwrap().len(), 3);
    assert_eq!(view["events"], 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_log_behind_the_same_address_is_projected_from_zero() {
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let start = |dir: std::path::PathBuf, stop: tokio::sync::watch::Receiver<bool>| async move {
        let listener = tokio::net::TcpListener::bind(address).await.unwrap();
        let log = EventLog::open(&dir).unwrap();
        tokio::spawn(async move { serve(listener, AppState::new(log).with_shutdown(stop)).await.unwrap() })
    };
    let gw = format!("http://{address}");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let server = start(first.path().to_owned(), stopped).await;
    for i in 0..3 {
        post(&gw, event(&format!("old-{i}"), "nop.noise.reading", json!({"sensor": "old", "db": 50.0, "at": now()}))).await;
    }
    let p = projector(&gw);
    until(&p.base, "/sensors", |v| v["events"] == 3).await;

    // the gateway shuts down (its streams end with herald.drain) and comes back on a new
    // store: its log has another epoch
    stop.send(true).unwrap();
    server.await.unwrap();
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let _server = start(second.path().to_owned(), stopped).await;
    let last = post(&gw, event("new-1", "nop.noise.reading", json!({"sensor": "new", "db": 70.0, "at": now()}))).await;
    let view = until(&p.base, "/sensors", |v| v["position"] == json!(last)).await;
    assert_eq!(view["events"], 1, "{view}");
    assert_eq!(view["sensors"], json!([{"sensor": "new", "level_db": 70.0, "readings": 1, "last_reading": view["sensors"][0]["last_reading"],
        "muted": false, "last_calibration": null, "alerts_last_hour": 0}]));
}
