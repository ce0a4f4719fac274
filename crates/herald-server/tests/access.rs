//! Authorization (JWT grants), CORS and webhooks, on a real listener.

mod common;

use common::*;
use hmac::{Hmac, KeyInit, Mac};
use herald_server::{AppState, Auth, EventLog, Webhook};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};
use sha2::Sha256;

const SECRET: &[u8] = b"test secret, long enough for HS256";
const RSA_PRIVATE: &[u8] = include_bytes!("fixtures/jwt-test-private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("fixtures/jwt-test-public.pem");
const OTHER_RSA_PRIVATE: &[u8] = include_bytes!("fixtures/jwt-other-private.pem");

fn claims(publish: &[&str], subscribe: &[&str]) -> Value {
    json!({ "herald": { "publish": publish, "subscribe": subscribe }, "exp": 4_000_000_000u64 })
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret).unwrap()).unwrap()
}

fn rs256(claims: &Value, private: &[u8]) -> String {
    encode(&Header::new(Algorithm::RS256), claims, &EncodingKey::from_rsa_pem(private).unwrap()).unwrap()
}

async fn secured() -> Gateway {
    let auth = Auth::hs256(SECRET).unwrap().or(Auth::rs256(RSA_PUBLIC).unwrap());
    start(AppState::new(EventLog::in_memory()).with_auth(auth)).await
}

impl Gateway {
    async fn post_as(&self, token: Option<&str>, event: &Value) -> (u16, Value, Option<String>) {
        let mut request = self
            .client
            .post(format!("{}/events", self.base))
            .header(CONTENT_TYPE, CE_JSON)
            .body(event.to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, response.json().await.unwrap_or(Value::Null), challenge)
    }

    async fn get_status(&self, path_and_query: &str, headers: &[(&str, &str)]) -> u16 {
        let mut request = self.client.get(format!("{}{path_and_query}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap().status().as_u16()
    }
}

#[tokio::test]
async fn without_a_valid_token_everything_is_401() {
    let gw = secured().await;
    let event = reading("a", "nop.noise.reading", 1.0);
    let (status, body, challenge) = gw.post_as(None, &event).await;
    assert_eq!(status, 401);
    assert_eq!(challenge.as_deref(), Some("Bearer"));
    assert!(body["detail"].as_str().unwrap().contains("token is required"), "{body}");

    let everything = claims(&[">"], &[">"]);
    let forged = [
        hs256(&everything, b"not the gateway's secret"),
        rs256(&everything, OTHER_RSA_PRIVATE),
        // a valid token with its payload swapped for one granting more
        {
            let real = hs256(&claims(&[], &[]), SECRET);
            let other = hs256(&everything, SECRET);
            let (h, rest) = real.split_once('.').unwrap();
            let sig = rest.rsplit_once('.').unwrap().1;
            let payload = other.split('.').nth(1).unwrap();
            format!("{h}.{payload}.{sig}")
        },
        // alg none
        format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", {
            let other = hs256(&everything, SECRET);
            other.split('.').nth(1).unwrap().to_owned()
        }),
        hs256(&json!({ "herald": { "publish": [">"] }, "exp": 1 }), SECRET), // expired
        "garbage".to_owned(),
    ];
    for token in &forged {
        let (status, body, _) = gw.post_as(Some(token), &event).await;
        assert_eq!(status, 401, "{token}: {body}");
        let query = format!("/events/stream?topic=nop.>&access_token={token}");
        assert_eq!(gw.get_status(&query, &[]).await, 401, "{token}");
    }
    assert_eq!(gw.get_status("/events/stream?topic=nop.>", &[]).await, 401);
}

#[tokio::test]
async fn grants_limit_publishing_and_subscribing_with_403() {
    let gw = secured().await;
    let token = hs256(&claims(&["nop.noise.reading"], &["nop.noise.*"]), SECRET);
    let (status, _, _) = gw.post_as(Some(&token), &reading("a", "nop.noise.reading", 1.0)).await;
    assert_eq!(status, 202);
    let (status, body, _) = gw.post_as(Some(&token), &reading("b", "nop.noise.alert", 1.0)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("nop.noise.alert"));

    let auth = format!("Bearer {token}");
    let headers = [("authorization", auth.as_str())];
    assert_eq!(gw.get_status("/events/stream?topic=nop.noise.*", &headers).await, 200);
    assert_eq!(gw.get_status("/events/stream?topic=nop.noise.alert", &headers).await, 200);
    assert_eq!(gw.get_status("/events/stream?topic=nop.>", &headers).await, 403);
    assert_eq!(gw.get_status("/events/stream?topic=nop.noise.*&topic=admin.x", &headers).await, 403);
    // the token may also come as a cookie or a query parameter (EventSource)
    let cookie = format!("theme=dark; herald_token={token}");
    assert_eq!(gw.get_status("/events/stream?topic=nop.noise.*", &[("cookie", &cookie)]).await, 200);
    let query = format!("/events/stream?topic=nop.noise.*&access_token={token}");
    assert_eq!(gw.get_status(&query, &[]).await, 200);
    // RS256 tokens are accepted as well
    let rsa = rs256(&claims(&[], &["nop.>"]), RSA_PRIVATE);
    let query = format!("/events/stream?topic=nop.>&access_token={rsa}");
    assert_eq!(gw.get_status(&query, &[]).await, 200);
}

#[tokio::test]
async fn a_subscriber_never_receives_events_outside_its_grants() {
    let gw = secured().await;
    let publisher = hs256(&claims(&[">"], &[]), SECRET);
    let reader = rs256(&claims(&[], &["nop.noise.reading"]), RSA_PRIVATE);
    let mut sse = gw.stream(&format!("topic=nop.noise.reading&access_token={reader}"), None).await;
    for (id, ty) in [("1", "nop.noise.alert"), ("2", "admin.secret"), ("3", "nop.noise.reading")] {
        let (status, _, _) = gw.post_as(Some(&publisher), &reading(id, ty, 1.0)).await;
        assert_eq!(status, 202);
    }
    let frame = sse.next(WAIT).await.unwrap();
    assert_eq!(frame.data["id"], "3");
    assert!(sse.next(QUIET).await.is_none());

    // a resume replays only the granted topic too
    let mut again = gw
        .stream(&format!("topic=nop.noise.reading&access_token={reader}&lastEventId={}", {
            let head = frame.id.unwrap();
            let (epoch, _) = head.split_once('-').unwrap().to_owned();
            format!("{epoch}-0")
        }), None)
        .await;
    assert_eq!(again.next(WAIT).await.unwrap().data["id"], "3");
    assert!(again.next(QUIET).await.is_none());
}

#[tokio::test]
async fn cors_allows_the_configured_origins_only() {
    let state = AppState::new(EventLog::in_memory())
        .with_cors_origins(["https://nop.example".parse().unwrap()]);
    let gw = start(state).await;
    let preflight = |origin: &'static str| {
        gw.client
            .request(reqwest::Method::OPTIONS, format!("{}/events", gw.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type, ce-id, authorization")
            .send()
    };
    let allowed = preflight("https://nop.example").await.unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://nop.example");
    assert_eq!(allowed.headers()["access-control-allow-credentials"], "true");
    let asked = allowed.headers()["access-control-allow-headers"].to_str().unwrap().to_owned();
    assert!(asked.contains("ce-id"), "{asked}");
    let refused = preflight("https://evil.example").await.unwrap();
    assert_eq!(refused.status(), 403);
    // no CORS header at all for an origin that is not on the list (finding 7 of issue 21)
    for name in refused.headers().keys() {
        assert!(!name.as_str().starts_with("access-control-"), "{name} for a refused origin");
    }
    let simple = gw
        .client
        .get(format!("{}/healthz", gw.base))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(simple.status(), 200);
    assert!(simple.headers().keys().all(|name| !name.as_str().starts_with("access-control-")));
    let allowed = gw.client.get(format!("{}/healthz", gw.base)).header("origin", "https://nop.example").send().await.unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://nop.example");
    assert_eq!(allowed.headers()["access-control-allow-credentials"], "true");
}

fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!("sha256={}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

async fn with_webhook() -> Gateway {
    with_webhook_and_cors(&[]).await
}

async fn with_webhook_and_cors(origins: &[&str]) -> Gateway {
    let mut hook = Webhook::new(b"hook secret".to_vec(), "nop.ci.finished");
    hook.allowed_origins = vec!["ci.example".into()];
    hook.allowed_rate = Some(120);
    // webhooks carry their own proof (the signature), so they work with auth on
    let auth = Auth::hs256(SECRET).unwrap();
    let origins = origins.iter().map(|o| o.parse().unwrap());
    start(AppState::new(EventLog::in_memory()).with_auth(auth).with_webhook("ci", hook).with_cors_origins(origins)).await
}

#[tokio::test]
async fn a_signed_webhook_delivery_becomes_an_event_once() {
    let gw = with_webhook().await;
    let reader = hs256(&claims(&[], &["nop.>"]), SECRET);
    let mut sse = gw.stream(&format!("topic=nop.ci.*&access_token={reader}"), None).await;
    let body = br#"{"build": 42, "ok": true}"#;
    let deliver = |signature: Option<String>| {
        let mut request = gw
            .client
            .post(format!("{}/webhooks/ci", gw.base))
            .header(CONTENT_TYPE, "application/json")
            .header("x-github-delivery", "d-1")
            .body(&body[..]);
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        request.send()
    };
    let first = deliver(Some(sign(b"hook secret", body))).await.unwrap();
    assert_eq!(first.status(), 202);
    let position: Value = first.json().await.unwrap();
    let again: Value = deliver(Some(sign(b"hook secret", body))).await.unwrap().json().await.unwrap();
    assert_eq!(again["position"], position["position"], "a redelivery is the same event");

    let event = sse.next(WAIT).await.unwrap().data;
    assert_eq!(event["type"], "nop.ci.finished");
    assert_eq!(event["source"], "urn:herald:webhook:ci");
    assert_eq!(event["id"], "d-1");
    assert_eq!(event["data"]["build"], 42);
    assert!(sse.next(QUIET).await.is_none(), "stored and streamed once");
}

#[tokio::test]
async fn a_webhook_with_a_bad_or_missing_signature_is_401() {
    let gw = with_webhook().await;
    let body = br#"{"build": 43}"#;
    let cases = [
        None,
        Some(sign(b"wrong secret", body)),
        Some(sign(b"hook secret", br#"{"build": 44}"#)),
        Some("sha256=zz".to_owned()),
        // the right digest without its `sha256=` prefix is malformed (finding 6 of issue 21)
        Some(sign(b"hook secret", body).trim_start_matches("sha256=").to_owned()),
        Some(sign(b"hook secret", body)[..20].to_owned()),
    ];
    for signature in cases {
        let mut request = gw
            .client
            .post(format!("{}/webhooks/ci", gw.base))
            .header(CONTENT_TYPE, "application/json")
            .body(&body[..]);
        if let Some(signature) = &signature {
            request = request.header("x-hub-signature-256", signature);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{signature:?}");
        assert_eq!(response.headers()[CONTENT_TYPE], "application/problem+json");
    }
    let unknown = gw.client.post(format!("{}/webhooks/nope", gw.base)).body("{}").send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(gw.metrics_text().await.contains("herald_events_ingested_total 0"), "nothing was stored");
}

#[tokio::test]
async fn the_webhook_abuse_protection_handshake() {
    handshake(with_webhook().await).await;
}

/// With CORS on, the handshake still reaches its receiver (finding 6 of issue 21): an
/// `OPTIONS` without `Access-Control-Request-Method` is no preflight.
#[tokio::test]
async fn the_webhook_handshake_with_cors_on() {
    let gw = with_webhook_and_cors(&["https://nop.example"]).await;
    let unknown = gw
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/webhooks/nope", gw.base))
        .header("WebHook-Request-Origin", "ci.example")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    handshake(gw).await;
}

async fn handshake(gw: Gateway) {
    let options = |origin: Option<&'static str>| {
        let mut request = gw.client.request(reqwest::Method::OPTIONS, format!("{}/webhooks/ci", gw.base));
        if let Some(origin) = origin {
            request = request.header("WebHook-Request-Origin", origin).header("WebHook-Request-Rate", "120");
        }
        request.send()
    };
    let allowed = options(Some("ci.example")).await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.headers()["webhook-allowed-origin"], "ci.example");
    assert_eq!(allowed.headers()["webhook-allowed-rate"], "120");
    assert!(allowed.headers()["allow"].to_str().unwrap().contains("POST"));

    let refused = options(Some("evil.example")).await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.headers().get("webhook-allowed-origin").is_none());
    assert_eq!(options(None).await.unwrap().status(), 400);
}

impl Gateway {
    async fn metrics_text(&self) -> String {
        self.client.get(format!("{}/metrics", self.base)).send().await.unwrap().text().await.unwrap()
    }
}
