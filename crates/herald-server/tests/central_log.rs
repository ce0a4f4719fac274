//! The central log (docs/protocol.md §3.17): `POST /logs` on a real listener, ECS JSON
//! lines, and shipping to a real OpenSearch-compatible server (osmem-server), searched with
//! OpenSearch's official Python client; the store going away loses nothing queued.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use herald_brokers::OpenSearch;
use herald_server::central::{CentralLog, Level, Ship, ECS_VERSION};
use herald_server::{spawn_bridges, AppState, Auth, EventLog};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// The lines written, for the test to read.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn read(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines().map(|line| serde_json::from_str(line).expect("each line is one JSON object")).collect()
    }
}

async fn post_logs(gw: &Gateway, body: &str) -> (u16, Value) {
    let response = gw.client.post(format!("{}/logs", gw.base)).header("content-type", "application/json").body(body.to_owned()).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn event(id: &str, ty: &str, correlation: Option<&str>) -> Value {
    let mut event = json!({"specversion": "1.0", "id": id, "source": "urn:nop:simulator", "type": ty});
    if let Some(correlation) = correlation {
        event["correlationid"] = json!(correlation);
    }
    event
}

#[tokio::test]
async fn entries_and_accepted_events_are_ecs_lines_with_the_chain_as_trace_id() {
    let lines = Lines::default();
    let state = AppState::new(EventLog::in_memory()).with_central_log(CentralLog::new(Level::Debug).with_writer(lines.clone()));
    let gw = start(state).await;
    let body = json!([
        {"level": "info", "message": "alert raised", "module": "nop-alerts", "correlationid": "r-1", "eventid": "a-1",
         "eventtype": "nop.noise.alert", "time": "2026-12-03T10:00:00.5Z", "labels": {"sensor": "s-4"}},
        {"level": "debug", "message": "reading shown", "module": "nop-sensor-list"},
    ]);
    assert_eq!(post_logs(&gw, &body.to_string()).await, (202, json!({"accepted": 2})));
    let posted = gw
        .client
        .post(format!("{}/events", gw.base))
        .header("content-type", "application/cloudevents+json")
        .body(event("a-2", "nop.noise.alert", Some("r-1")).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    let position = posted.json::<Value>().await.unwrap()["position"].as_str().unwrap().to_owned();

    let written = lines.read();
    assert_eq!(written.len(), 3, "{written:?}");
    let entry = &written[0];
    assert_eq!(entry["@timestamp"], "2026-12-03T10:00:00.500Z");
    assert_eq!(entry["log.level"], "info");
    assert_eq!(entry["message"], "alert raised");
    assert_eq!(entry["ecs.version"], ECS_VERSION);
    assert_eq!(entry["service"], json!({"name": "nop-alerts", "type": "mfe"}));
    assert_eq!(entry["event"]["dataset"], "herald.mfe");
    assert_eq!(entry["trace"]["id"], "r-1");
    assert_eq!(entry["herald"]["event"], json!({"id": "a-1", "type": "nop.noise.alert"}));
    assert_eq!(entry["labels"], json!({"sensor": "s-4"}));
    assert!(written[1].get("trace").is_none(), "an entry about no chain has no trace: {}", written[1]);
    let accepted = &written[2];
    assert_eq!(accepted["log.level"], "debug");
    assert_eq!(accepted["service"]["name"], "herald-server");
    assert_eq!(accepted["event"]["action"], "accepted");
    assert_eq!(accepted["trace"]["id"], "r-1");
    assert_eq!(accepted["herald"]["position"], position);
    assert_eq!(accepted["herald"]["via"], "http");
    assert_eq!(accepted["herald"]["event"]["source"], "urn:nop:simulator");
}

#[tokio::test]
async fn bad_deliveries_are_a_clear_4xx_and_keep_nothing() {
    let lines = Lines::default();
    let state = AppState::new(EventLog::in_memory())
        .with_max_body_bytes(64 * 1024)
        .with_central_log(CentralLog::new(Level::Debug).with_writer(lines.clone()));
    let gw = start(state).await;
    let good = json!({"level": "info", "message": "m", "module": "x"});
    for (body, says) in [
        (json!({"level": "info"}).to_string(), "JSON array"),
        ("[".to_owned(), "JSON array"),
        ("[]".to_owned(), "1 to 1000"),
        (json!([good, {"level": "loud", "message": "m", "module": "x"}]).to_string(), "entry 1"),
        (json!([{"message": "m", "module": "x"}]).to_string(), "level"),
        (json!([{"level": "info", "message": "m", "module": ""}]).to_string(), "module"),
        (json!([{"level": "info", "message": "m", "module": "x", "time": "noon"}]).to_string(), "time"),
        (json!([{"level": "info", "message": 7, "module": "x"}]).to_string(), "message"),
        (json!([{"level": "info", "message": "m", "module": "x", "labels": {"k": [1]}}]).to_string(), "label"),
        (json!(vec![good.clone(); 1001]).to_string(), "1 to 1000"),
    ] {
        let (status, problem) = post_logs(&gw, &body).await;
        assert_eq!(status, 400, "{body:.80}: {problem}");
        assert!(problem["detail"].as_str().unwrap().contains(says), "{says}: {problem}");
    }
    let form = gw.client.post(format!("{}/logs", gw.base)).header("content-type", "application/x-www-form-urlencoded").body("a=1").send().await.unwrap();
    assert_eq!(form.status(), 415);
    let big = json!([{"level": "info", "message": "x".repeat(100_000), "module": "x"}]).to_string();
    assert_eq!(post_logs(&gw, &big).await.0, 413);
    assert!(lines.read().is_empty(), "a refused delivery keeps none of its entries");
    // sendBeacon's text/plain is taken as JSON
    let beacon = gw.client.post(format!("{}/logs", gw.base)).header("content-type", "text/plain;charset=UTF-8").body(json!([good]).to_string()).send().await.unwrap();
    assert_eq!(beacon.status(), 202);
}

#[tokio::test]
async fn logging_takes_a_token_that_grants_publishing_herald_log() {
    const SECRET: &[u8] = b"test secret, long enough for HS256";
    let token = |publish: &[&str]| {
        let claims = json!({"herald": {"publish": publish, "subscribe": []}, "exp": 4_000_000_000u64});
        encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(SECRET).unwrap()).unwrap()
    };
    let state = AppState::new(EventLog::in_memory()).with_auth(Auth::hs256(SECRET).unwrap());
    let gw = start(state).await;
    let body = json!([{"level": "info", "message": "m", "module": "x"}]).to_string();
    let post = |bearer: Option<String>| {
        let mut request = gw.client.post(format!("{}/logs", gw.base)).header("content-type", "application/json").body(body.clone());
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        request.send()
    };
    assert_eq!(post(None).await.unwrap().status(), 401);
    assert_eq!(post(Some(token(&["nop.>"]))).await.unwrap().status(), 403);
    assert_eq!(post(Some(token(&["herald.log"]))).await.unwrap().status(), 202);
}

/// Waits until the OpenSearch node at `url` finds at least `count` documents.
async fn found(url: &str, index: &str, field: &str, value: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (url, index, field, value) = (url.to_owned(), index.to_owned(), field.to_owned(), value.to_owned());
        let hits = tokio::task::spawn_blocking(move || herald_brokers::search_term(&url, &index, &field, &value))
            .await
            .unwrap()
            .unwrap_or_default();
        if hits.len() >= count || Instant::now() > deadline {
            return hits;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lines_are_shipped_to_opensearch_and_wait_out_its_absence() {
    let mut search = tokio::task::spawn_blocking(OpenSearch::start).await.unwrap().unwrap();
    let ship = Ship { url: search.url(), index: "herald-logs".into() };
    let state = AppState::new(EventLog::in_memory()).with_central_log(CentralLog::new(Level::Debug).with_ship(ship));
    spawn_bridges(&state);
    let gw = start(state).await;
    let entry = |message: &str| json!([{"level": "warn", "message": message, "module": "nop-alerts", "correlationid": "c-9"}]).to_string();
    assert_eq!(post_logs(&gw, &entry("before")).await.0, 202);
    let posted = gw
        .client
        .post(format!("{}/events", gw.base))
        .header("content-type", "application/cloudevents+json")
        .body(event("e-1", "nop.noise.reading", Some("c-9")).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    let hits = found(&search.url(), "herald-logs", "trace.id", "c-9", 2).await;
    let services: Vec<&str> = hits.iter().filter_map(|h| h["service"]["name"].as_str()).collect();
    assert_eq!(services, ["nop-alerts", "herald-server"], "{hits:?}");
    // keyword mappings: the exact term finds it, a part of it does not
    assert!(found(&search.url(), "herald-logs", "service.name", "nop", 0).await.is_empty());

    // the store goes away: lines wait in the queue, and arrive once it is back
    tokio::task::block_in_place(|| search.stop());
    for i in 0..3 {
        assert_eq!(post_logs(&gw, &entry(&format!("while away {i}"))).await.0, 202);
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let failures = metric(&gw, "herald_central_log_ship_failures_total").await;
    assert!(failures >= 1.0, "shipping failed while the store was away: {failures}");
    tokio::task::block_in_place(|| search.start_again()).unwrap();
    let hits = found(&search.url(), "herald-logs", "trace.id", "c-9", 3).await;
    let messages: Vec<&str> = hits.iter().filter_map(|h| h["message"].as_str()).collect();
    assert_eq!(messages, ["while away 0", "while away 1", "while away 2"], "the new store holds what waited");
    assert_eq!(metric(&gw, "herald_central_log_dropped_total").await, 0.0);
}

async fn metric(gw: &Gateway, name: &str) -> f64 {
    let text = gw.client.get(format!("{}/metrics", gw.base)).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok()).unwrap_or(-1.0)
}
