//! `POST /eventgrid/{name}` with the official PyPI `azure-eventgrid` publisher (the SDK
//! users' code runs unchanged against herald) and with bad deliveries.

mod common;

use std::collections::BTreeMap;

use common::*;
use herald_server::{AppState, EventGrid, EventLog};
use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};

const KEY: &str = "eg-key-0123456789";

/// Sends ten events with the SDK in `mode` (`eventgrid` or `cloudevents`), or asks for
/// the validation handshake (`validate`, printing the answer) through the SDK's client.
const SDK: &str = r#"
import sys, json
from azure.core.credentials import AzureKeyCredential
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridPublisherClient, EventGridEvent
endpoint, key, mode = sys.argv[1], sys.argv[2], sys.argv[3]
client = EventGridPublisherClient(endpoint, AzureKeyCredential(key))
if mode == "eventgrid":
    client.send([EventGridEvent(id=f"eg-{i}", subject=f"sensors/s-{i}", event_type="Nop.Noise.Reading",
                                data={"db": 60 + i}, data_version="1.0") for i in range(10)])
elif mode == "cloudevents":
    client.send([CloudEvent(id=f"ce-{i}", source="urn:nop:azure", type="nop.noise.reading",
                            subject=f"s-{i}", data={"db": 70 + i}) for i in range(10)])
elif mode == "validate":
    # the validation event Event Grid sends, made with the SDK's model and posted as Event
    # Grid posts it (the SDK's clients publish notifications only)
    import urllib.request
    v = EventGridEvent(subject="", event_type="Microsoft.EventGrid.SubscriptionValidationEvent", data_version="2",
                       topic="/subscriptions/x/resourceGroups/nop/providers/Microsoft.EventGrid/topics/noise",
                       data={"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6",
                             "validationUrl": "https://rp-eastus2.eventgrid.azure.net/eventsubscriptions/x/validate?id=y"})
    event = {"id": str(v.id), "topic": v.topic, "subject": v.subject, "eventType": v.event_type,
             "eventTime": str(v.event_time), "data": v.data,
             "dataVersion": v.data_version, "metadataVersion": v.metadata_version or "1"}
    request = urllib.request.Request(endpoint, data=json.dumps([event]).encode(), method="POST", headers={
        "content-type": "application/json", "aeg-event-type": "SubscriptionValidation", "aeg-sas-key": key})
    with urllib.request.urlopen(request) as response:
        print(response.status, response.read().decode(), flush=True)
    sys.exit(0)
print("sent", flush=True)
"#;

async fn with_receiver() -> Gateway {
    start(AppState::new(EventLog::in_memory()).with_eventgrid("azure", EventGrid::new(KEY))).await
}

fn sdk(gw: &Gateway, key: &str, mode: &str) -> Result<String, String> {
    let endpoint = format!("{}/eventgrid/azure", gw.base);
    herald_brokers::run_python(SDK, &[&endpoint, key, mode]).map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_azure_eventgrid_sdk_publishes_both_schemas_to_herald() {
    let gw = with_receiver().await;
    let mut sse = gw.stream("topic=>", None).await;
    tokio::task::block_in_place(|| sdk(&gw, KEY, "eventgrid")).unwrap();
    tokio::task::block_in_place(|| sdk(&gw, KEY, "cloudevents")).unwrap();
    let mut events = BTreeMap::new();
    while events.len() < 20 {
        let frame = sse.next(WAIT).await.expect("20 events stream out");
        events.insert(frame.data["id"].as_str().unwrap().to_owned(), frame.data);
    }
    // the Event Grid schema, mapped by the documented rules
    let eg = &events["eg-3"];
    assert_eq!(eg["type"], "Nop.Noise.Reading");
    assert_eq!(eg["source"], "urn:herald:eventgrid:azure", "no topic: the receiver's source");
    assert_eq!(eg["subject"], "sensors/s-3");
    assert_eq!(eg["data"]["db"], 63);
    assert_eq!(eg["datacontenttype"], "application/json");
    assert_eq!(eg["eventgriddataversion"], "1.0");
    assert!(eg["time"].as_str().unwrap().starts_with("20"), "{eg}");
    // the CloudEvents schema, as sent
    let ce = &events["ce-4"];
    assert_eq!(ce["source"], "urn:nop:azure");
    assert_eq!(ce["type"], "nop.noise.reading");
    assert_eq!(ce["subject"], "s-4");
    assert_eq!(ce["data"]["db"], 74);
    assert!(sse.next(QUIET).await.is_none());

    // the subscription-validation handshake
    let answer = tokio::task::block_in_place(|| sdk(&gw, KEY, "validate")).unwrap();
    let (status, body) = answer.trim().split_once(' ').unwrap();
    assert_eq!(status, "200");
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body, json!({ "validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6" }));
    assert!(sse.next(QUIET).await.is_none(), "a validation stores nothing");

    // a wrong key: the SDK gets 401
    let refused = tokio::task::block_in_place(|| sdk(&gw, "wrong-key", "eventgrid")).unwrap_err();
    assert!(refused.contains("401"), "{refused}");
    let bare = gw
        .client
        .post(format!("{}/eventgrid/azure", gw.base))
        .header(CONTENT_TYPE, "application/json")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 401);
    assert_eq!(bare.headers()[CONTENT_TYPE], "application/problem+json");
    // the key in the query works too
    let query = gw
        .client
        .post(format!("{}/eventgrid/azure?code={KEY}", gw.base))
        .header(CONTENT_TYPE, "application/cloudevents+json")
        .body(json!({"specversion": "1.0", "id": "q-1", "source": "/q", "type": "nop.q"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 200);
    let unknown = gw.client.post(format!("{}/eventgrid/nope?code={KEY}", gw.base)).body("[]").send().await.unwrap();
    assert_eq!(unknown.status(), 404);
}

fn grid_event(i: usize) -> Value {
    json!({
        "id": format!("b-{i}"), "subject": "s", "eventType": "Nop.X", "eventTime": "2026-12-01T10:00:00Z",
        "data": {"i": i}, "dataVersion": "1", "metadataVersion": "1"
    })
}

/// Acceptance 3 of issue 17: bad deliveries get a clear 4xx and nothing is stored.
#[tokio::test]
async fn bad_event_grid_deliveries_are_4xx_and_store_nothing() {
    // room for 10,000 small items, not for a 5 MB one
    let state = AppState::new(EventLog::in_memory()).with_max_body_bytes(4 << 20).with_eventgrid("azure", EventGrid::new(KEY));
    let gw = start(state).await;
    let mut missing = grid_event(0);
    missing.as_object_mut().unwrap().remove("eventType");
    let ce = json!({"specversion": "1.0", "id": "c", "source": "/c", "type": "nop.c"});
    let cases: Vec<(&str, &str, String, u16, &str)> = vec![
        ("not an array", "application/json", grid_event(0).to_string(), 400, "array"),
        ("not JSON", "application/json", "[{".into(), 400, "JSON"),
        ("10,000 items", "application/json", Value::Array((0..10_000).map(grid_event).collect()).to_string(), 413, "5000"),
        ("a 5 MB item", "application/json", json!([{"id": "big", "data": "x".repeat(5 << 20)}]).to_string(), 413, "limit"),
        ("a missing field", "application/json", json!([grid_event(1), missing]).to_string(), 400, "item 1: `eventType`"),
        ("schemas mixed", "application/json", json!([grid_event(2), ce]).to_string(), 400, "mixes"),
        ("an item that is no object", "application/json", json!([grid_event(3), 7]).to_string(), 400, "item 1"),
        ("an empty batch", "application/json", "[]".into(), 400, "empty"),
        ("a bad CloudEvent", "application/cloudevents-batch+json", json!([{"specversion": "1.0", "id": "x"}]).to_string(), 400, "item 0"),
        ("another media type", "text/plain", "hello".into(), 415, "Event Grid schema"),
        ("a validation without its event", "application/json", json!([grid_event(4)]).to_string(), 400, "validation"),
    ];
    for (what, content_type, body, status, detail) in cases {
        let mut request = gw
            .client
            .post(format!("{}/eventgrid/azure", gw.base))
            .header("aeg-sas-key", KEY)
            .header(CONTENT_TYPE, content_type);
        if what.starts_with("a validation") {
            request = request.header("aeg-event-type", "SubscriptionValidation");
        }
        let response = request.body(body).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{what}");
        assert_eq!(response.headers()[CONTENT_TYPE], "application/problem+json", "{what}");
        let problem: Value = response.json().await.unwrap();
        assert!(problem["detail"].as_str().unwrap().contains(detail), "{what}: {problem}");
    }
    let metrics = gw.client.get(format!("{}/metrics", gw.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("herald_events_ingested_total 0"), "nothing was stored");
}

/// The CloudEvents webhook `OPTIONS` handshake of an Event Grid receiver.
#[tokio::test]
async fn the_eventgrid_endpoint_answers_the_cloudevents_handshake() {
    let mut receiver = EventGrid::new(KEY);
    receiver.allowed_origins = vec!["eventgrid.azure.net".into()];
    let gw = start(AppState::new(EventLog::in_memory()).with_eventgrid("azure", receiver)).await;
    let options = |origin: &'static str| {
        gw.client
            .request(reqwest::Method::OPTIONS, format!("{}/eventgrid/azure", gw.base))
            .header("WebHook-Request-Origin", origin)
            .send()
    };
    let allowed = options("eventgrid.azure.net").await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.headers()["webhook-allowed-origin"], "eventgrid.azure.net");
    assert_eq!(allowed.headers()["webhook-allowed-rate"], "*");
    assert_eq!(options("evil.example").await.unwrap().status(), 403);
}
