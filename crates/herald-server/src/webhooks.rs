//! `POST /webhooks/{name}`: webhook receivers, and the CloudEvents webhook
//! abuse-protection handshake (`OPTIONS` with `WebHook-Request-Origin`).
//!
//! A hook is configured with a secret and an event type. A delivery must carry
//! `X-Hub-Signature-256: sha256=HEX`, the HMAC-SHA256 of the raw body under the secret
//! (the convention of GitHub and many others); it is checked in constant time. The body
//! becomes the `data` of a CloudEvent of the hook's type, whose `id` is the delivery id
//! the sender gave (`webhook-id`, `X-GitHub-Delivery` or `X-Request-Id`), so a redelivery
//! is stored once.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hmac::{Hmac, KeyInit, Mac};
use herald_protocol::CloudEvent;
use sha2::Sha256;

use crate::{AppError, AppState};

/// The header that carries a delivery's signature.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Headers a sender's delivery id is taken from, in this order.
const DELIVERY_ID_HEADERS: [&str; 3] = ["webhook-id", "x-github-delivery", "x-request-id"];

/// One configured webhook receiver.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// The HMAC-SHA256 key.
    pub secret: Vec<u8>,
    /// The `type` of the events deliveries become.
    pub event_type: String,
    /// Sender origins the abuse-protection handshake allows; empty allows any.
    pub allowed_origins: Vec<String>,
    /// Deliveries per minute announced in the handshake; `None` announces `*`.
    pub allowed_rate: Option<u32>,
}

impl Webhook {
    /// A hook checking deliveries with `secret` and storing them as `event_type`.
    pub fn new(secret: impl Into<Vec<u8>>, event_type: impl Into<String>) -> Self {
        Webhook {
            secret: secret.into(),
            event_type: event_type.into(),
            allowed_origins: Vec::new(),
            allowed_rate: None,
        }
    }
}

fn hook<'a>(state: &'a AppState, name: &str) -> Result<&'a Webhook, AppError> {
    state.webhooks.get(name).ok_or(AppError::NotFound)
}

pub(crate) async fn post_webhook(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), AppError> {
    let hook = hook(&state, &name)?.clone();
    let body = body.map_err(|rejection| AppError::body(rejection, state.max_body_bytes))?;
    verify_signature(&hook.secret, &headers, &body)?;

    let id = DELIVERY_ID_HEADERS
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{:016x}{:016x}", crate::stream::random_u64(), crate::stream::random_u64()));
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let mut attributes = serde_json::Map::new();
    attributes.insert("specversion".into(), herald_protocol::SPEC_VERSION.into());
    attributes.insert("id".into(), id.into());
    attributes.insert("source".into(), format!("urn:herald:webhook:{name}").into());
    attributes.insert("type".into(), hook.event_type.clone().into());
    crate::ingest::insert_data(&mut attributes, content_type, &body)?;
    let event = CloudEvent::from_json(serde_json::Value::Object(attributes).to_string().as_bytes())?;
    let position = crate::ingest::store(&state, vec![event], body.len(), &format!("webhook:{name}")).await?[0];
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "position": position }))))
}

fn verify_signature(secret: &[u8], headers: &HeaderMap, body: &[u8]) -> Result<(), AppError> {
    let value = headers
        .get(SIGNATURE_HEADER)
        .ok_or_else(|| AppError::Unauthorized(format!("the `{SIGNATURE_HEADER}` signature header is missing")))?;
    let signature = value
        .to_str()
        .ok()
        .and_then(|value| value.trim().strip_prefix("sha256="))
        .and_then(decode_hex)
        .ok_or_else(|| AppError::Unauthorized(format!("`{SIGNATURE_HEADER}` is not `sha256=` and hex digits")))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&signature)
        .map_err(|_| AppError::Unauthorized("the signature does not match the body".into()))
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The CloudEvents webhook validation handshake: consent is the `WebHook-Allowed-Origin`
/// header, given only when the requesting origin is allowed.
pub(crate) async fn options_webhook(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let hook = hook(&state, &name)?;
    handshake(&name, &hook.allowed_origins, hook.allowed_rate, &headers)
}

/// The answer to an abuse-protection `OPTIONS` of a receiver that accepts the origins
/// `allowed` (empty: any) at `rate` deliveries per minute (`None`: `*`).
pub(crate) fn handshake(name: &str, allowed: &[String], rate: Option<u32>, headers: &HeaderMap) -> Result<Response, AppError> {
    let origin = headers
        .get("webhook-request-origin")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .ok_or_else(|| AppError::BadRequest("the `WebHook-Request-Origin` header is required".into()))?;
    if !allowed.is_empty() && !allowed.iter().any(|o| o.eq_ignore_ascii_case(origin)) {
        return Err(AppError::Forbidden(format!("`{name}` does not accept deliveries from `{origin}`")));
    }
    let origin = HeaderValue::from_str(origin)
        .map_err(|_| AppError::BadRequest("`WebHook-Request-Origin` is not a valid header value".into()))?;
    let rate = match rate {
        Some(rate) => HeaderValue::from(rate),
        None => HeaderValue::from_static("*"),
    };
    let mut response = StatusCode::OK.into_response();
    let out = response.headers_mut();
    out.insert(header::ALLOW, HeaderValue::from_static("POST, OPTIONS"));
    out.insert("webhook-allowed-origin", origin);
    out.insert("webhook-allowed-rate", rate);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex() {
        assert_eq!(decode_hex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex("zz"), None);
        assert_eq!(decode_hex("é1"), None);
    }
}
