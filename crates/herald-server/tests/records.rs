//! `/records/{name}` (docs/protocol.md §3.16): the documents pointer events point at, on a
//! real listener and the SQLite store on disk.

mod common;

use common::*;
use herald_server::{AppState, Auth, EventLog};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: &[u8] = b"test secret, long enough for HS256";

#[tokio::test]
async fn revisions_are_stored_served_immutable_and_the_latest_is_revalidated() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(AppState::new(EventLog::open(dir.path()).unwrap())).await;
    let url = format!("{}/records/nop.calibration.s-1", gw.base);
    let put = |document: Value| gw.client.put(&url).header("content-type", "application/json").body(document.to_string()).send();

    let first = put(json!({"sensor": "s-1", "offset_db": -0.5, "curve": [1, 2, 3]})).await.unwrap();
    assert_eq!(first.status(), 201);
    assert_eq!(first.headers()["location"], "/records/nop.calibration.s-1?revision=1");
    assert_eq!(first.headers()["etag"], "\"1\"");
    assert_eq!(
        first.json::<Value>().await.unwrap(),
        json!({"name": "nop.calibration.s-1", "revision": 1, "url": "/records/nop.calibration.s-1?revision=1"})
    );
    let second = put(json!({"sensor": "s-1", "offset_db": 0.25})).await.unwrap();
    assert_eq!(second.status(), 201);
    assert_eq!(second.headers()["etag"], "\"2\"");

    // a revision: immutable
    let one = gw.client.get(format!("{url}?revision=1")).send().await.unwrap();
    assert_eq!(one.status(), 200);
    assert_eq!(one.headers()["content-type"], "application/json");
    assert_eq!(one.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(one.headers()["etag"], "\"1\"");
    assert_eq!(one.json::<Value>().await.unwrap()["offset_db"], -0.5);
    // the plain URL: the latest, revalidated
    let latest = gw.client.get(&url).send().await.unwrap();
    assert_eq!(latest.headers()["cache-control"], "no-cache");
    assert_eq!(latest.headers()["etag"], "\"2\"");
    assert_eq!(latest.json::<Value>().await.unwrap()["offset_db"], 0.25);
    let unchanged = gw.client.get(&url).header("if-none-match", "\"2\"").send().await.unwrap();
    assert_eq!(unchanged.status(), 304);
    assert_eq!(unchanged.headers()["etag"], "\"2\"");
    assert!(unchanged.bytes().await.unwrap().is_empty());
    let changed = gw.client.get(&url).header("if-none-match", "\"1\"").send().await.unwrap();
    assert_eq!(changed.status(), 200);

    // they outlive the gateway
    drop(gw);
    let gw = start(AppState::new(EventLog::open(dir.path()).unwrap())).await;
    let again = gw.client.get(format!("{}/records/nop.calibration.s-1?revision=2", gw.base)).send().await.unwrap();
    assert_eq!(again.json::<Value>().await.unwrap(), json!({"sensor": "s-1", "offset_db": 0.25}));
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx() {
    let gw = start(AppState::new(EventLog::in_memory())).await;
    let put = |name: &str, media: &str, body: &str| {
        gw.client.put(format!("{}/records/{name}", gw.base)).header("content-type", media).body(body.to_owned()).send()
    };
    for (response, status, says) in [
        (put("a.b", "application/json", "{not json").await.unwrap(), 400, "not JSON"),
        (put("a.b", "text/plain", "{}").await.unwrap(), 415, "application/json"),
        (put("a..b", "application/json", "{}").await.unwrap(), 400, "not a record name"),
        (put("a.*", "application/json", "{}").await.unwrap(), 400, "not a record name"),
        (put(&"x".repeat(201), "application/json", "{}").await.unwrap(), 400, "at most 200 bytes"),
        (gw.client.get(format!("{}/records/missing", gw.base)).send().await.unwrap(), 404, "no record `missing`"),
        (gw.client.get(format!("{}/records/a.b?revision=0", gw.base)).send().await.unwrap(), 400, "whole number from 1"),
        (gw.client.get(format!("{}/records/a.b?revision=x", gw.base)).send().await.unwrap(), 400, "whole number from 1"),
    ] {
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        let body: Value = response.json().await.unwrap();
        assert!(body["detail"].as_str().unwrap().contains(says), "{body}");
    }
    put("a.b", "application/json", "{}").await.unwrap();
    let missing = gw.client.get(format!("{}/records/a.b?revision=2", gw.base)).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let big = put("a.b", "application/json", &format!("[{}0]", "0,".repeat(200_000))).await.unwrap();
    assert_eq!(big.status(), 413);
}

#[tokio::test]
async fn grants_cover_records_by_name() {
    let gw = start(AppState::new(EventLog::in_memory()).with_auth(Auth::hs256(SECRET).unwrap())).await;
    let token = |publish: &[&str], subscribe: &[&str]| {
        let claims = json!({ "herald": { "publish": publish, "subscribe": subscribe }, "exp": 4_000_000_000u64 });
        encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(SECRET).unwrap()).unwrap()
    };
    let url = format!("{}/records/nop.calibration.s-1", gw.base);
    let put = |token: &str| gw.client.put(&url).bearer_auth(token).header("content-type", "application/json").body("{}").send();
    assert_eq!(put(&token(&["nop.calibration.*"], &[])).await.unwrap().status(), 201);
    assert_eq!(put(&token(&["nop.noise.*"], &[])).await.unwrap().status(), 403);
    let get = |token: &str| gw.client.get(&url).bearer_auth(token).send();
    assert_eq!(get(&token(&[], &["nop.>"])).await.unwrap().status(), 200);
    assert_eq!(get(&token(&[], &["billing.>"])).await.unwrap().status(), 403);
    assert_eq!(gw.client.get(&url).send().await.unwrap().status(), 401);
}
