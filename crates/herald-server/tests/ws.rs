//! The WebSocket transport (`cloudevents.json`) and slow consumers, on a real listener.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use herald_server::{AppState, EventLog};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(gw: &Gateway) -> Socket {
    let url = format!("{}/events/ws", gw.base.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "cloudevents.json".parse().unwrap());
    let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "cloudevents.json");
    socket
}

async fn send(socket: &mut Socket, event: &Value) {
    socket.send(Message::text(event.to_string())).await.unwrap();
}

async fn recv(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next()).await.expect("a message in time").unwrap().unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

fn control(id: &str, ty: &str, data: Value) -> Value {
    json!({ "specversion": "1.0", "id": id, "source": "/test/ws", "type": ty, "data": data })
}

#[tokio::test]
async fn subscribe_publish_and_unsubscribe_over_a_websocket() {
    let gw = start(AppState::new(EventLog::in_memory())).await;
    let mut socket = connect(&gw).await;
    send(&mut socket, &control("s1", "herald.subscribe", json!({ "topic": "nop.noise.*" }))).await;
    let subscribed = recv(&mut socket).await;
    assert_eq!(subscribed["type"], "herald.subscribed");
    assert_eq!(subscribed["data"]["topic"], "nop.noise.*");
    assert_eq!(subscribed["causationid"], "s1");

    // an event posted over HTTP arrives with its position
    let position = gw.post_event(&reading("h1", "nop.noise.reading", 70.0)).await;
    let delivered = recv(&mut socket).await;
    assert_eq!(delivered["id"], "h1");
    assert_eq!(delivered["heraldposition"], position);

    // publishing over the socket: acknowledged with the position, and delivered
    let mut event = reading("w1", "nop.noise.alert", 90.0);
    event["correlationid"] = json!("corr-7");
    send(&mut socket, &event).await;
    let (mut ack, mut echo) = (recv(&mut socket).await, recv(&mut socket).await);
    if ack["type"] != "herald.ack" {
        std::mem::swap(&mut ack, &mut echo);
    }
    assert_eq!(ack["type"], "herald.ack");
    assert_eq!(ack["data"]["id"], "w1");
    assert_eq!(ack["correlationid"], "corr-7", "the reply continues the correlation");
    assert_eq!(echo["id"], "w1");
    assert_eq!(echo["heraldposition"], ack["data"]["position"]);

    // events outside the pattern are not delivered; after unsubscribing nothing is
    gw.post_event(&reading("h2", "nop.sensor.selected", 1.0)).await;
    send(&mut socket, &control("u1", "herald.unsubscribe", json!({ "topic": "nop.noise.*" }))).await;
    let unsubscribed = recv(&mut socket).await;
    assert_eq!(unsubscribed["type"], "herald.unsubscribed");
    assert_eq!(unsubscribed["data"]["was_subscribed"], true);
    gw.post_event(&reading("h3", "nop.noise.reading", 1.0)).await;
    assert!(tokio::time::timeout(QUIET, socket.next()).await.is_err(), "nothing after unsubscribing");
}

#[tokio::test]
async fn a_websocket_subscription_resumes_from_a_position() {
    let gw = start(AppState::new(EventLog::in_memory())).await;
    let first = gw.post_event(&reading("a", "nop.noise.reading", 1.0)).await;
    gw.post_event(&reading("b", "nop.noise.reading", 2.0)).await;
    gw.post_event(&reading("c", "nop.other", 3.0)).await;
    let mut socket = connect(&gw).await;
    send(&mut socket, &control("s", "herald.subscribe", json!({ "topic": "nop.noise.>", "from": first }))).await;
    assert_eq!(recv(&mut socket).await["type"], "herald.subscribed");
    assert_eq!(recv(&mut socket).await["id"], "b");
    gw.post_event(&reading("d", "nop.noise.reading", 4.0)).await;
    assert_eq!(recv(&mut socket).await["id"], "d");

    // several patterns in one subscription: one feed, in position order
    send(&mut socket, &control("s3", "herald.subscribe", json!({ "topics": ["nop.other", "nop.noise.>"], "from": first }))).await;
    assert_eq!(recv(&mut socket).await["data"]["topic"], "nop.other nop.noise.>");
    let replayed: Vec<Value> = vec![recv(&mut socket).await, recv(&mut socket).await, recv(&mut socket).await];
    let ids: Vec<&str> = replayed.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["b", "c", "d"]);
    send(&mut socket, &control("u3", "herald.unsubscribe", json!({ "topics": ["nop.other", "nop.noise.>"] }))).await;
    assert_eq!(recv(&mut socket).await["data"]["was_subscribed"], true);

    // a position of another epoch: an in-band reset naming the subscription
    send(&mut socket, &control("s2", "herald.subscribe", json!({ "topic": "x.>", "from": "1-5" }))).await;
    let (a, b) = (recv(&mut socket).await, recv(&mut socket).await);
    let reset = if a["type"] == "herald.reset" { a } else { b };
    assert_eq!(reset["type"], "herald.reset");
    assert_eq!(reset["data"]["topic"], "x.>");
}

#[tokio::test]
async fn bad_websocket_messages_get_an_error_reply_and_the_connection_lives() {
    let gw = start(AppState::new(EventLog::in_memory())).await;
    let mut socket = connect(&gw).await;
    for (frame, status) in [
        (Message::text("not json"), 400),
        (Message::binary(vec![1, 2, 3]), 415),
        (Message::text(json!({ "specversion": "1.0", "id": "x" }).to_string()), 400),
        (Message::text(control("s", "herald.subscribe", json!({ "topic": "a.>.b" })).to_string()), 400),
        (Message::text(control("s", "herald.subscribe", json!({})).to_string()), 400),
        (Message::text(control("s", "herald.subscribe", json!({ "topic": "a", "topics": ["b"] })).to_string()), 400),
        (Message::text(control("s", "herald.subscribe", json!({ "topics": [] })).to_string()), 400),
    ] {
        socket.send(frame).await.unwrap();
        let reply = recv(&mut socket).await;
        assert_eq!(reply["type"], "herald.error");
        assert_eq!(reply["data"]["status"], status, "{reply}");
    }
    send(&mut socket, &reading("ok", "nop.noise.reading", 1.0)).await;
    assert_eq!(recv(&mut socket).await["type"], "herald.ack");
}

#[tokio::test]
async fn a_websocket_without_the_subprotocol_is_refused() {
    let gw = start(AppState::new(EventLog::in_memory())).await;
    let url = format!("{}/events/ws", gw.base.replace("http://", "ws://"));
    let error = tokio_tungstenite::connect_async(url).await.unwrap_err();
    assert!(error.to_string().contains("400"), "{error}");
}

/// A client that stops reading: the gateway keeps at most its byte limit of events for
/// it, then ends its stream with `herald.slow`; its memory does not grow with the backlog.
#[tokio::test]
async fn a_stream_that_falls_behind_is_closed_with_herald_slow() {
    let limit = 64 * 1024;
    let gw = start(AppState::new(EventLog::in_memory()).with_max_queue_bytes(limit)).await;
    let address = gw.base.strip_prefix("http://").unwrap().to_owned();
    let mut raw = tokio::net::TcpStream::connect(&address).await.unwrap();
    raw.write_all(format!("GET /events/stream?topic=nop.%3E HTTP/1.1\r\nHost: {address}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    // Let the stream start, then publish far more than the limit (and than the socket
    // buffers hold) while the client reads nothing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let padding = "x".repeat(2000);
    let batch: Vec<Value> = (0..2000)
        .map(|i| {
            let mut event = reading(&format!("e{i}"), "nop.noise.reading", 1.0);
            event["data"]["pad"] = json!(padding);
            event
        })
        .collect();
    for chunk in batch.chunks(100) {
        let (status, body, _) = gw.post(serde_json::to_string(chunk).unwrap(), "application/cloudevents-batch+json").await;
        assert_eq!(status, 202, "{body}");
    }
    // Now read everything there is: the stream ends with herald.slow, well short of all.
    let mut bytes = Vec::new();
    let mut buffer = vec![0; 64 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    // the response ends with the notice (the connection itself stays open for reuse)
    while !String::from_utf8_lossy(&bytes).contains("herald.slow") {
        match tokio::time::timeout_at(deadline, raw.read(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => bytes.extend_from_slice(&buffer[..n]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    let delivered = text.matches("\"type\":\"nop.noise.reading\"").count();
    assert!(text.contains("\"type\":\"herald.slow\""), "ends with herald.slow after {delivered} events: {}", &text[..text.len().min(600)]);
    assert!(delivered < 2000, "{delivered} events were delivered: the stream was not cut");
    let metrics = gw.client.get(format!("{}/metrics", gw.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("herald_stream_slow_disconnects_total 1"), "{metrics}");
}

#[tokio::test]
async fn on_shutdown_a_websocket_gets_herald_drain_and_a_going_away_close() {
    let (stop, signal) = tokio::sync::watch::channel(false);
    let gw = start(AppState::new(EventLog::in_memory()).with_shutdown(signal)).await;
    let mut socket = connect(&gw).await;
    send(&mut socket, &control("s", "herald.subscribe", json!({ "topic": "nop.>" }))).await;
    assert_eq!(recv(&mut socket).await["type"], "herald.subscribed");
    stop.send(true).unwrap();
    assert_eq!(recv(&mut socket).await["type"], "herald.drain");
    let close = loop {
        match tokio::time::timeout(WAIT, socket.next()).await.expect("a close in time") {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(u16::from(close.expect("a close frame with a code").code), 1001);
}

/// RFC 6455 §7.4.1: a message over the limit is answered with a Close frame of code 1009
/// (finding 9 of issue 21), not a dropped connection.
#[tokio::test]
async fn an_oversized_message_is_closed_with_1009() {
    let gw = start(AppState::new(EventLog::in_memory()).with_max_body_bytes(1024)).await;
    let mut socket = connect(&gw).await;
    let big = control("big", "nop.noise.reading", json!({ "pad": "x".repeat(4096) }));
    socket.send(Message::text(big.to_string())).await.unwrap();
    let close = loop {
        match tokio::time::timeout(WAIT, socket.next()).await.expect("an answer in time") {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("the connection ended without a Close frame: {other:?}"),
        }
    };
    let close = close.expect("a close frame with a code");
    assert_eq!(u16::from(close.code), 1009);
    assert!(close.reason.contains("1024"), "{}", close.reason);
}

fn pinging_every_second() -> AppState {
    let mut limits = herald_server::Limits::default();
    limits.ws_ping_interval = Duration::from_secs(1);
    AppState::new(EventLog::in_memory()).with_limits(limits)
}

/// The gateway pings; a client that reads (and so answers) stays, one that answers no
/// ping for two intervals is closed with 1001.
#[tokio::test]
async fn a_websocket_that_answers_no_ping_is_closed() {
    let gw = start(pinging_every_second()).await;
    let mut alive = connect(&gw).await;
    let mut silent = connect(&gw).await;
    // the live one reads (tungstenite answers each ping as it reads) for 3.5 s
    let deadline = tokio::time::Instant::now() + Duration::from_millis(3500);
    let mut pings = 0;
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, alive.next()).await {
        if matches!(message.unwrap(), Message::Ping(_)) {
            pings += 1;
        }
    }
    assert!(pings >= 2, "pinged every second ({pings})");
    // the silent one read nothing meanwhile: it has been closed
    let close = loop {
        match tokio::time::timeout(WAIT, silent.next()).await.expect("an answer in time") {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("no Close frame: {other:?}"),
        }
    };
    assert_eq!(u16::from(close.unwrap().code), 1001);
    // and the live one still works
    send(&mut alive, &control("s1", "herald.subscribe", json!({ "topic": "nop.>" }))).await;
    assert_eq!(recv(&mut alive).await["type"], "herald.subscribed");
}

/// A WebSocket opened by hand on a raw TCP connection, to send frames no client library
/// would: what the gateway answers, as the bytes it wrote until it closed.
struct RawSocket(tokio::net::TcpStream);

impl RawSocket {
    async fn open(gw: &Gateway) -> RawSocket {
        let address = gw.base.trim_start_matches("http://").to_owned();
        let mut tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
        let upgrade = format!(
            "GET /events/ws HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: cloudevents.json\r\n\r\n"
        );
        tcp.write_all(upgrade.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8];
            tcp.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
        RawSocket(tcp)
    }

    /// One frame: FIN and `first`'s other bits (RSV, opcode) as given, masked when `masked`.
    async fn frame(&mut self, first: u8, payload: &[u8], masked: bool) {
        assert!(payload.len() < 126);
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut frame = vec![first, payload.len() as u8 | if masked { 0x80 } else { 0 }];
        if masked {
            frame.extend(mask);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        } else {
            frame.extend(payload);
        }
        self.0.write_all(&frame).await.unwrap();
    }

    /// The code and reason of the Close frame the gateway answers with, `None` when the
    /// connection ended without one.
    async fn close_frame(mut self) -> Option<(u16, String)> {
        let mut written = Vec::new();
        let _ = tokio::time::timeout(WAIT, self.0.read_to_end(&mut written)).await.expect("the gateway closes");
        // frames from the server are unmasked, these short: [0x88, len, code, reason]
        let mut at = 0;
        while at + 2 <= written.len() {
            let (first, len) = (written[at], (written[at + 1] & 0x7f) as usize);
            if first == 0x88 && len >= 2 {
                let body = &written[at + 2..at + 2 + len];
                return Some((u16::from_be_bytes([body[0], body[1]]), String::from_utf8_lossy(&body[2..]).into_owned()));
            }
            at += 2 + len;
        }
        None
    }
}

/// RFC 6455 §7.1.7: a frame that breaks the protocol fails the connection with a Close
/// frame, `1002` (protocol error) or `1007` (text that is not UTF-8), not a dropped TCP
/// connection; and §5.5.1: a client's Close frame is answered with one, echoing its code.
#[tokio::test]
async fn protocol_violations_are_closed_with_1002_or_1007_and_a_close_is_echoed() {
    let gw = start(AppState::new(EventLog::in_memory())).await;
    let json = br#"{"specversion":"1.0","id":"1","source":"/t","type":"t.a"}"#;
    for (what, first, payload, masked, code) in [
        ("an unmasked frame", 0x81, &json[..], false, 1002),
        ("reserved bits", 0xc1, &json[..], true, 1002),
        ("a reserved opcode", 0x83, &b"x"[..], true, 1002),
        ("a fragmented ping", 0x09, &b"x"[..], true, 1002),
        ("a continuation of nothing", 0x80, &b"x"[..], true, 1002),
        ("a close code no one may send", 0x88, &999u16.to_be_bytes()[..], true, 1002),
        ("text that is not UTF-8", 0x81, &b"\xff\xfe"[..], true, 1007),
    ] {
        let mut socket = RawSocket::open(&gw).await;
        socket.frame(first, payload, masked).await;
        let close = socket.close_frame().await;
        assert_eq!(close.as_ref().map(|c| c.0), Some(code), "{what}: {close:?}");
    }
    let mut socket = RawSocket::open(&gw).await;
    socket.frame(0x88, &[0x03, 0xe8, b'b', b'y', b'e'], true).await;
    assert_eq!(socket.close_frame().await, Some((1000, "bye".to_owned())));
    // and through a client library: its close handshake completes
    let mut socket = connect(&gw).await;
    socket.close(None).await.unwrap();
    let answered = tokio::time::timeout(WAIT, socket.next()).await.expect("an answer in time");
    assert!(matches!(answered, None | Some(Ok(Message::Close(_)))), "{answered:?}");
}
