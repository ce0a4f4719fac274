//! The gateway's Socket.IO namespace (`/herald` on `/socket.io/`) against Socket.IO's
//! official client, `socket.io-client` 4 on Node (tests/clients, installed by
//! `cargo xtask install`), and its bad input against raw Engine.IO requests.

mod common;

use common::clients::*;
use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread")]
async fn the_official_client_polls_upgrades_streams_in_order_and_resumes_across_a_kill_9() {
    follow_across_a_kill_9("socketio.mjs", "polling", "socketio-published-1").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_websocket_only() {
    follow_across_a_kill_9("socketio.mjs", "websocket", "socketio-published-1").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_without_the_grant_is_refused_and_sees_nothing() {
    let data = tempfile::tempdir().unwrap();
    let process = gateway(free_port(), data.path());
    let producer = token(&["sig.>"], &[]);
    let other = token(&[], &["other.>"]);
    let node = Node::run("socketio.mjs", &["refused", &process.base, &other, "sig.>"]);
    let refused = node.until("refused", WAIT * 4);
    assert!(refused.as_str().unwrap().contains("sig.>"), "{refused}");
    // still connected, and counted per transport
    let open = metric(&process.base, "herald_transport_connections{transport=\"socketio\"}").await;
    assert_eq!(open, 1.0);
    post(&process.base, &producer, readings(0, 10)).await;
    assert_eq!(node.until("items", WAIT * 4), 0, "no event of a topic not granted");
    // no token: the namespace refuses the connection (CONNECT_ERROR)
    let node = Node::run("socketio.mjs", &["refused", &process.base, "", "sig.>"]);
    let failed = node.until("connectFailed", WAIT * 4);
    assert!(failed.as_str().unwrap().contains("token"), "{failed}");
}

/// Whether `socket` ends (closes or fails) within [`WAIT`], whatever it sends first.
async fn ends(socket: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin)) -> bool {
    let end = async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => continue,
            }
        }
    };
    tokio::time::timeout(WAIT, end).await.is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_ends_in_the_protocols_own_errors() {
    let data = tempfile::tempdir().unwrap();
    let process = gateway(free_port(), data.path());
    let http = reqwest::Client::new();
    // Engine.IO 3 is not spoken; an unknown session id; a transport that does not exist
    for query in ["EIO=3&transport=polling", "EIO=4&transport=polling&sid=nobody", "EIO=4&transport=carrier-pigeon"] {
        let answer = http.get(format!("{}/socket.io/?{query}", process.base)).send().await.unwrap();
        assert_eq!(answer.status(), 400, "{query}");
    }
    // over a WebSocket: the open packet, then garbage is the end of the connection
    let url = format!("{}/socket.io/?EIO=4&transport=websocket", process.base.replace("http://", "ws://"));
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let open = socket.next().await.unwrap().unwrap();
    assert!(open.to_text().unwrap().starts_with("0{"), "{open:?}");
    socket.send(Message::text("this is not a packet")).await.unwrap();
    assert!(ends(&mut socket).await, "the connection ends");
    // a 10 MB message over a WebSocket: refused, and the gateway serves on
    let url = format!("{}/socket.io/?EIO=4&transport=websocket", process.base.replace("http://", "ws://"));
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    socket.next().await.unwrap().unwrap();
    let _ = socket.send(Message::text(format!("42/herald,[\"publish\",\"{}\"]", "x".repeat(10 << 20)))).await;
    assert!(ends(&mut socket).await, "the oversized message ends the connection");
    assert_eq!(reqwest::get(format!("{}/healthz", process.base)).await.unwrap().status(), 200);
}
