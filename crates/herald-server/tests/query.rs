//! `GET /events/query` (docs/protocol.md §3.15): KQL over the stored events, on a real
//! listener and the SQLite store on disk.

mod common;

use common::*;
use herald_server::{AppState, Auth, EventLog};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: &[u8] = b"test secret, long enough for HS256";

fn event(id: &str, ty: &str, time: &str, correlation: Option<&str>, data: Value) -> Value {
    let mut event = json!({
        "specversion": "1.0", "id": id, "source": "/test/producer", "type": ty, "time": time,
        "datacontenttype": "application/json", "data": data
    });
    if let Some(correlation) = correlation {
        event["correlationid"] = json!(correlation);
    }
    event
}

fn now_minus(minutes: i64) -> String {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64 - minutes * 60_000;
    herald_protocol::rfc3339_from_unix_millis(ms as u64)
}

async fn seeded(gw: &Gateway) -> Vec<String> {
    let mut positions = Vec::new();
    for (i, db) in [55.0, 71.5, 80.25, 64.0].iter().enumerate() {
        let reading = event(&format!("r-{i}"), "nop.noise.reading", &now_minus(10 - i as i64), Some("c-1"), json!({"sensor": format!("s-{i}"), "db": db}));
        positions.push(gw.post_event(&reading).await);
    }
    let alert = |id: &str, correlation: &str, sensor: &str, time: String| {
        event(id, "nop.noise.alert", &time, Some(correlation), json!({"sensor": sensor, "level": 80}))
    };
    positions.push(gw.post_event(&alert("a-1", "c-1", "s-2", now_minus(5))).await);
    positions.push(gw.post_event(&alert("a-2", "c-2", "s-3", now_minus(4))).await);
    positions.push(gw.post_event(&alert("a-3", "c-1", "s-2", now_minus(3))).await);
    // an alert from two days ago, and one with a hostile sensor name
    positions.push(gw.post_event(&alert("a-old", "c-1", "s-2", now_minus(2 * 24 * 60))).await);
    positions.push(gw.post_event(&alert("a-xss", "c-3", "<img src=x onerror=alert(1)>", now_minus(2))).await);
    positions
}

impl Gateway {
    async fn query(&self, kql: &str, token: Option<&str>) -> (u16, Value, String) {
        let mut request = self.client.get(format!("{}/events/query", self.base)).query(&[("q", kql)]);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let media = response.headers()["content-type"].to_str().unwrap().to_owned();
        (status, response.json().await.unwrap(), media)
    }

    async fn rows(&self, kql: &str) -> Value {
        let (status, body, media) = self.query(kql, None).await;
        assert_eq!(status, 200, "{kql}: {body}");
        assert_eq!(media, "application/json");
        body["rows"].clone()
    }
}

#[tokio::test]
async fn the_alerts_of_one_correlation_id_in_log_order() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(AppState::new(EventLog::open(dir.path()).unwrap())).await;
    let positions = seeded(&gw).await;

    let (status, body, _) = gw
        .query(r#"events | where type == "nop.noise.alert" and correlationid == "c-1" | project position, id, data.sensor"#, None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["columns"], json!(["position", "id", "data.sensor"]));
    assert_eq!(
        body["rows"],
        json!([[positions[4], "a-1", "s-2"], [positions[6], "a-3", "s-2"], [positions[7], "a-old", "s-2"]])
    );

    // the last hour only, newest first
    let rows = gw
        .rows(r#"events | where type == "nop.noise.alert" and correlationid == "c-1" and time > ago(1h) | project id, time | order by time desc"#)
        .await;
    let ids: Vec<&str> = rows.as_array().unwrap().iter().map(|row| row[0].as_str().unwrap()).collect();
    assert_eq!(ids, ["a-3", "a-1"]);
    // after `project`, only its columns are there to sort by (as in KQL)
    let (status, body, _) = gw.query("events | project id | order by time desc", None).await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("no such column in the answer"), "{body}");

    // the default columns: the whole event, data as JSON
    let rows = gw.rows(r#"events | where id == "a-2""#).await;
    let row = rows[0].as_array().unwrap();
    assert_eq!(row[0], json!(positions[5]));
    assert_eq!(row[2], json!("nop.noise.alert"));
    assert_eq!(row[6], json!("c-2"));
    assert_eq!(row[8], json!({"sensor": "s-3", "level": 80}));
    assert!(row[1].as_str().unwrap().ends_with('Z'), "{row:?}");
}

#[tokio::test]
async fn summaries_payload_comparisons_positions_and_take() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(AppState::new(EventLog::open(dir.path()).unwrap())).await;
    let positions = seeded(&gw).await;

    let rows = gw.rows("events | summarize count() by type | order by count_ desc").await;
    assert_eq!(rows, json!([["nop.noise.alert", 5], ["nop.noise.reading", 4]]));
    let rows = gw
        .rows(r#"events | where type == "nop.noise.alert" | where time > ago(1d) | summarize alerts = count() by data.sensor | order by alerts desc, data.sensor asc"#)
        .await;
    assert_eq!(rows, json!([["s-2", 2], ["<img src=x onerror=alert(1)>", 1], ["s-3", 1]]));
    let rows = gw.rows("events | where data.db > 60 | project data.db | order by data.db asc").await;
    // numbers sort as numbers (9 before 10), not as their text
    assert_eq!(rows, json!([[64.0], [71.5], [80.25]]));
    let rows = gw.rows("events | project id, data.db | top 2 by data.db").await;
    assert_eq!(rows, json!([["r-2", 80.25], ["r-1", 71.5]]));
    let rows = gw.rows(&format!(r#"events | where position > "{}" | project id | take 2"#, positions[6])).await;
    assert_eq!(rows, json!([["a-old"], ["a-xss"]]));
    let rows = gw.rows(r#"events | where source startswith "/TEST" and id !in ("r-0", "r-1") | summarize count()"#).await;
    assert_eq!(rows, json!([[7]]));
    // `has`: a whole term, any case (the source is /test/producer)
    let rows = gw.rows(r#"events | where source has "PRODUCER" and source !has "prod" | summarize count()"#).await;
    assert_eq!(rows, json!([[9]]));
    let rows = gw.rows(r#"events | where data.sensor has "img" | project id"#).await;
    assert_eq!(rows, json!([["a-xss"]]));

    let (status, body, _) = gw.query("events | take 3", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["rows"].as_array().unwrap().len(), 3);
    assert_eq!(body["truncated"], true, "{body}");
}

#[tokio::test]
async fn bad_queries_are_400_problem_documents_and_the_store_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(AppState::new(EventLog::open(dir.path()).unwrap())).await;
    seeded(&gw).await;
    for (kql, says) in [
        ("", "`q` is required"),
        ("events | extend x = 1", "`extend` is not in herald's subset"),
        ("events | where type == 'a'; DROP TABLE events", "unexpected character `;`"),
        ("events | take 20000", "at most 10000 rows"),
        ("traces", "unknown table `traces`"),
    ] {
        let (status, body, media) = gw.query(kql, None).await;
        assert_eq!(status, 400, "{kql}: {body}");
        assert_eq!(media, "application/problem+json");
        assert!(body["detail"].as_str().unwrap().contains(says), "{kql}: {body}");
    }
    let response = gw.client.get(format!("{}/events/query", gw.base)).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(gw.rows("events | summarize count()").await, json!([[9]]));
}

#[tokio::test]
async fn deep_nesting_is_a_400_and_the_most_comparisons_run_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(AppState::new(EventLog::open(dir.path()).unwrap())).await;
    seeded(&gw).await;
    // 1300 `(` once overflowed a gateway thread's stack and took the process down
    for kql in [
        format!("events | where {}type == 'a'{}", "(".repeat(1300), ")".repeat(1300)),
        format!("events | where {}type == 'a'{}", "not(".repeat(33), ")".repeat(33)),
    ] {
        let (status, body, media) = gw.query(&kql, None).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(media, "application/problem+json");
        assert!(body["detail"].as_str().unwrap().contains("nest at most 32 deep"), "{body}");
    }
    // 256 comparisons (the most), nested 32 deep (the most), compile and run
    let ors = format!("{}id=='a-1' or id=='a-3'", "id=='x' or ".repeat(254));
    let kql = format!("events | where {}{ors}{} | summarize count()", "(".repeat(32), ")".repeat(32));
    assert_eq!(gw.rows(&kql).await, json!([[2]]));
    let (status, body, _) = gw.query(&format!("{kql} or id == 'x'").replace(" | summarize count()", ""), None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("at most 256 comparisons"), "{body}");
}

#[tokio::test]
async fn a_token_reads_only_the_types_its_subscribe_grants_cover() {
    let dir = tempfile::tempdir().unwrap();
    let open = start(AppState::new(EventLog::open(dir.path()).unwrap())).await;
    seeded(&open).await;
    drop(open);
    let state = AppState::new(EventLog::open(dir.path()).unwrap()).with_auth(Auth::hs256(SECRET).unwrap());
    let gw = start(state).await;
    let token = |subscribe: &[&str]| {
        let claims = json!({ "herald": { "publish": [], "subscribe": subscribe }, "exp": 4_000_000_000u64 });
        encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(SECRET).unwrap()).unwrap()
    };
    let kql = "events | summarize count() by type";
    let (status, body, _) = gw.query(kql, Some(&token(&["nop.noise.alert"]))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows"], json!([["nop.noise.alert", 5]]));
    let (status, body, _) = gw.query(kql, Some(&token(&["billing.>"]))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows"], json!([]));
    let (status, _, _) = gw.query(kql, None).await;
    assert_eq!(status, 401);
}
