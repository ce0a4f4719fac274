//! The gateway's SignalR hub (`/hubs/events`) against SignalR's official client,
//! `@microsoft/signalr` 10 on Node (tests/clients, installed by `cargo xtask install`),
//! and its bad input against a raw WebSocket.

mod common;

use common::clients::*;
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread")]
async fn the_official_client_streams_in_order_publishes_and_resumes_across_a_kill_9() {
    follow_across_a_kill_9("signalr.mjs", "websockets", "signalr-published-1").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_over_server_sent_events() {
    follow_across_a_kill_9("signalr.mjs", "sse", "signalr-published-1").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_without_the_grant_is_refused_and_sees_nothing() {
    let data = tempfile::tempdir().unwrap();
    let process = gateway(free_port(), data.path());
    let producer = token(&["sig.>"], &[]);
    let other = token(&[], &["other.>"]);
    let node = Node::run("signalr.mjs", &["refused", &process.base, &other, "sig.>"]);
    post(&process.base, &producer, readings(0, 10)).await;
    let refused = node.until("refused", WAIT * 4);
    assert!(refused.as_str().unwrap().contains("sig.>"), "{refused}");
    // no token at all: negotiate answers 401 and the client cannot start
    let node = Node::run("signalr.mjs", &["refused", &process.base, "", "sig.>"]);
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
async fn with_head_the_first_item_names_the_position_the_stream_goes_on_from() {
    let data = tempfile::tempdir().unwrap();
    let process = gateway(free_port(), data.path());
    let client = token(&["sig.>"], &["sig.>"]);
    let event = |id: &str| json!({"specversion": "1.0", "id": id, "source": "urn:test", "type": "sig.a"});
    let head = post(&process.base, &client, vec![event("h-1")]).await.remove(0);

    let mut socket = hub_socket(&process.base, &client).await;
    socket.send(Message::text(format!("{{\"protocol\":\"json\",\"version\":1}}{RS}"))).await.unwrap();
    assert_eq!(next_text(&mut socket).await.unwrap(), format!("{{}}{RS}"));
    let invoke = json!({"type": 4, "invocationId": "s", "target": "StreamEvents", "arguments": [["sig.a", "sig.b"], null, true]});
    socket.send(Message::text(format!("{invoke}{RS}"))).await.unwrap();
    let item: Value = serde_json::from_str(next_text(&mut socket).await.unwrap().trim_end_matches(RS)).unwrap();
    assert_eq!((item["type"].clone(), item["invocationId"].clone()), (json!(2), json!("s")));
    assert_eq!(item["item"]["type"], "herald.subscribed");
    assert_eq!(item["item"]["data"], json!({"topic": "sig.a sig.b", "head": head}));
    assert!(item["item"].get("heraldposition").is_none(), "{item}");
    let next = post(&process.base, &client, vec![event("h-2")]).await.remove(0);
    let item: Value = serde_json::from_str(next_text(&mut socket).await.unwrap().trim_end_matches(RS)).unwrap();
    assert_eq!(item["item"]["heraldposition"], next.as_str());

    // head must be a boolean (or null)
    let invoke = json!({"type": 4, "invocationId": "t", "target": "StreamEvents", "arguments": ["sig.a", null, "yes"]});
    socket.send(Message::text(format!("{invoke}{RS}"))).await.unwrap();
    let completion: Value = serde_json::from_str(next_text(&mut socket).await.unwrap().trim_end_matches(RS)).unwrap();
    assert_eq!((completion["type"].clone(), completion["invocationId"].clone()), (json!(3), json!("t")));
    assert!(completion["error"].as_str().unwrap().contains("head"), "{completion}");
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
    // (the gateway may close before the client has written it all: then no Close message
    // reaches the client, only the end of the connection)
    let _ = socket.send(Message::text(huge)).await;
    if let Some(close) = next_text(&mut socket).await {
        let close: Value = serde_json::from_str(close.trim_end_matches(RS)).unwrap();
        assert!(close["error"].as_str().unwrap().contains("at most"), "{close}");
    }
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
