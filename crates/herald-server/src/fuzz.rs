//! Entry points for `cargo xtask fuzz` (the `herald-fuzz` crate): the gateway's parsers of
//! untrusted input and its frame writers, reachable without a server. Not an API.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use herald_protocol::{CloudEvent, Position};

use crate::bridge::{HeaderValue as BrokerHeader, Message};

/// A batch body (`application/cloudevents-batch+json`): the events, or why not.
pub fn batch(body: &[u8]) -> Result<Vec<CloudEvent>, String> {
    crate::ingest::batch_events(body).map_err(|e| e.to_string())
}

/// A binary-mode request: `headers` as given (those that are no valid HTTP header are
/// left out, as no client could send them), `content_type`, `body`.
pub fn binary(headers: &[(Vec<u8>, Vec<u8>)], content_type: Option<&str>, body: &[u8]) -> Result<CloudEvent, String> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            map.append(name, value);
        }
    }
    crate::ingest::binary_event(&map, content_type, body).map_err(|e| e.to_string())
}

/// A broker message by the AMQP (`amqp`) or the Kafka binding's rules.
pub fn broker(amqp: bool, headers: &[(String, String)], content_type: Option<String>, body: &[u8], key: Option<String>) -> Result<CloudEvent, String> {
    let message = Message {
        content_type,
        headers: headers.iter().map(|(n, v)| (n.clone(), BrokerHeader::Text(v.clone()))).collect(),
        body: body.to_vec(),
        key,
        message_id: None,
    };
    let prefix = if amqp { crate::bridge::amqp::PREFIX } else { crate::bridge::kafka::PREFIX };
    crate::bridge::to_event(&message, prefix, None, 1 << 20)
}

/// The SSE frame and the WebSocket message of `event` stored at `position`.
pub fn frames(event: CloudEvent, position: Position) -> (bytes::Bytes, String) {
    let json = serde_json::to_string(&event).expect("a CloudEvent serialises");
    let stored = crate::Stored::new(position, event, json);
    (stored.sse_frame(), stored.ws_frame().as_str().to_owned())
}

/// A percent-encoded header value, decoded.
pub fn percent_decode(value: &str) -> Option<String> {
    crate::ingest::percent_decode(value)
}
