//! Outbound webhooks (protocol §3.11): each matching stored event POSTed to a
//! subscriber's endpoint as a structured-mode CloudEvent, signed by the Standard Webhooks
//! scheme, in position order from a cursor in the store, retried with exponential backoff
//! and jitter, after the endpoint passed the CloudEvents abuse-protection handshake.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use herald_protocol::{CloudEvent, DeadLetter, Event, TopicPattern};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::BridgeStatus;
use crate::{AppState, Stored};

/// A webhook subscription (`[webhook_out.NAME]`, or made through the REST API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookOut {
    /// The endpoint, `http://` or `https://`.
    pub url: String,
    /// Topic patterns (§4) of the event types to deliver.
    pub types: Vec<String>,
    /// The signing secret: `whsec_` and base64 (Standard Webhooks), or any other text,
    /// whose bytes are the key.
    pub secret: String,
    /// Attempts per event before it becomes a dead letter.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// The first retry's wait in milliseconds; each next one doubles, with jitter.
    #[serde(default = "default_retry_base_ms")]
    pub retry_base_ms: u64,
    /// The longest wait between two attempts, in milliseconds (also caps `Retry-After`).
    #[serde(default = "default_retry_max_ms")]
    pub retry_max_ms: u64,
    /// Seconds an attempt may take before it counts as failed.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Stop delivering once an event became a dead letter, until resumed.
    #[serde(default)]
    pub pause_on_dead_letter: bool,
}

fn default_attempts() -> u32 {
    20
}
fn default_retry_base_ms() -> u64 {
    500
}
fn default_retry_max_ms() -> u64 {
    60_000
}
fn default_timeout_secs() -> u64 {
    10
}

impl WebhookOut {
    /// A subscription of `types` to `url`, signed with `secret`, with the default retries.
    pub fn new(url: impl Into<String>, types: Vec<String>, secret: impl Into<String>) -> Self {
        WebhookOut {
            url: url.into(),
            types,
            secret: secret.into(),
            max_attempts: default_attempts(),
            retry_base_ms: default_retry_base_ms(),
            retry_max_ms: default_retry_max_ms(),
            timeout_secs: default_timeout_secs(),
            pause_on_dead_letter: false,
        }
    }

    /// Checks the patterns, the secret and the endpoint: `http`/`https` only, and, unless
    /// `allow_private`, no host that is or resolves to a loopback, private, link-local or
    /// otherwise non-public address (a subscriber must not make the gateway call inside
    /// its own network).
    pub async fn validate(&self, allow_private: bool) -> Result<(), String> {
        super::validate_types(&self.types)?;
        signing_key(&self.secret)?;
        if self.max_attempts == 0 {
            return Err("`max_attempts` must be at least 1".into());
        }
        check_endpoint(&self.url, allow_private).await
    }
}

/// The HMAC key of a secret: the base64 after `whsec_`, or the secret's own bytes.
pub(crate) fn signing_key(secret: &str) -> Result<Vec<u8>, String> {
    match secret.strip_prefix("whsec_") {
        Some(b64) => crate::ingest::base64_decode(b64)
            .filter(|key| !key.is_empty())
            .ok_or_else(|| "a `whsec_` secret is base64 after the prefix".to_owned()),
        None if secret.is_empty() => Err("the secret is empty".into()),
        None => Ok(secret.as_bytes().to_vec()),
    }
}

/// A new secret: `whsec_` and 32 random bytes in base64.
pub(crate) fn new_secret() -> Result<String, String> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| format!("no randomness for a secret: {e}"))?;
    Ok(format!("whsec_{}", crate::ingest::base64(&key)))
}

/// The Standard Webhooks signature of `body` sent as message `id` at `timestamp`:
/// `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`.
pub fn sign(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", crate::ingest::base64(&mac.finalize().into_bytes()))
}

async fn check_endpoint(url: &str, allow_private: bool) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("`{url}`: only http and https endpoints"));
    }
    let host = parsed.host_str().ok_or_else(|| format!("`{url}` has no host"))?.to_owned();
    if allow_private {
        return Ok(());
    }
    let port = parsed.port_or_known_default().unwrap_or(80);
    let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("`{host}` does not resolve: {e}"))?
            .map(|a| a.ip())
            .collect(),
    };
    match addresses.iter().find(|ip| !is_public(ip)) {
        Some(ip) => Err(format!(
            "`{host}` is {ip}, not a public address: endpoints inside the gateway's network need \
             allow_private_webhook_targets"
        )),
        None => Ok(()),
    }
}

/// Whether `ip` is a public unicast address.
fn is_public(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(&IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80) // link local
        }
    }
}

/// Runs subscription `name` until the gateway shuts down or the subscription is removed
/// (the task is aborted): handshake, then deliveries from its cursor.
pub(crate) async fn run(name: String, hook: WebhookOut, origin: String, state: AppState, status: Arc<BridgeStatus>) {
    let cursor = format!("webhook-out:{name}");
    let Ok(patterns) = super::patterns(&hook.types) else { return };
    let Ok(key) = signing_key(&hook.secret) else { return };
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(hook.timeout_secs.max(1)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            status.down(&error.to_string());
            return;
        }
    };
    let source = format!("urn:herald:webhook-out:{name}");
    let delivery = Delivery { hook: &hook, key: &key, client: &client, state: &state, status: &status, source: &source };
    super::supervise(&name, "webhook out", &state, &status, || delivery.run(&origin, &patterns, &cursor)).await;
}

struct Delivery<'a> {
    hook: &'a WebhookOut,
    key: &'a [u8],
    client: &'a reqwest::Client,
    state: &'a AppState,
    status: &'a BridgeStatus,
    source: &'a str,
}

impl Delivery<'_> {
    async fn run(&self, origin: &str, patterns: &[TopicPattern], cursor: &str) -> Result<(), String> {
        let rate = self.handshake(origin).await?;
        self.status.up();
        // at most `rate` requests a minute, as the endpoint allowed
        let spacing = rate.map(|per_minute| Duration::from_secs_f64(60.0 / f64::from(per_minute.max(1))));
        super::publish_from_cursor(self.state, self.status, cursor, patterns, |page| async move {
            for stored in page {
                self.deliver(&stored, spacing).await?;
            }
            Ok(())
        })
        .await
    }

    /// The CloudEvents abuse-protection handshake: `OPTIONS` with `WebHook-Request-Origin`;
    /// the endpoint must answer 2xx with `WebHook-Allowed-Origin` naming the origin (or
    /// `*`). The allowed rate, when it names one.
    async fn handshake(&self, origin: &str) -> Result<Option<u32>, String> {
        check_endpoint(&self.hook.url, self.state.allow_private_webhook_targets).await?;
        let response = self
            .client
            .request(reqwest::Method::OPTIONS, &self.hook.url)
            .header("WebHook-Request-Origin", origin)
            .header("WebHook-Request-Rate", "120")
            .send()
            .await
            .map_err(|e| format!("the handshake could not reach the endpoint: {e}"))?;
        let allowed = response.headers().get("webhook-allowed-origin").and_then(|v| v.to_str().ok());
        if !response.status().is_success() || !allowed.is_some_and(|a| a == "*" || a.eq_ignore_ascii_case(origin)) {
            return Err(format!(
                "the endpoint refused the abuse-protection handshake ({}, WebHook-Allowed-Origin {allowed:?}): nothing is delivered",
                response.status()
            ));
        }
        let rate = response
            .headers()
            .get("webhook-allowed-rate")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u32>().ok());
        Ok(rate)
    }

    /// Delivers one event: attempts until a 2xx, a refusal (4xx but 408 and 429: a dead
    /// letter at once), or `max_attempts` (a dead letter with the last status).
    async fn deliver(&self, stored: &Stored, spacing: Option<Duration>) -> Result<(), String> {
        let id = stored.position.to_string();
        let mut backoff = Duration::from_millis(self.hook.retry_base_ms.max(1));
        let most = Duration::from_millis(self.hook.retry_max_ms.max(1));
        let mut last = String::new();
        for attempt in 1..=self.hook.max_attempts {
            if let Some(spacing) = spacing {
                tokio::time::sleep(spacing).await;
            }
            let timestamp = crate::store::now_millis() / 1000;
            let signature = sign(self.key, &id, timestamp, stored.json.as_bytes());
            let sent = self
                .client
                .post(&self.hook.url)
                .header(reqwest::header::CONTENT_TYPE, herald_protocol::CLOUDEVENTS_JSON)
                .header("webhook-id", &id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature)
                .body(stored.json.clone())
                .send()
                .await;
            let retry_after = match sent {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => {
                    let status = response.status();
                    last = format!("the endpoint answered {status}");
                    let retryable = status.is_server_error()
                        || status == reqwest::StatusCode::REQUEST_TIMEOUT
                        || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
                    if !retryable {
                        break;
                    }
                    response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs)
                }
                Err(error) => {
                    last = format!("the request failed: {error}");
                    None
                }
            };
            self.status.failed();
            if attempt == self.hook.max_attempts {
                break;
            }
            let jittered = backoff / 2 + Duration::from_millis(crate::stream::random_u64() % (backoff.as_millis() as u64 / 2 + 1));
            tokio::time::sleep(retry_after.unwrap_or(jittered).min(most)).await;
            backoff = (backoff * 2).min(most);
        }
        self.dead_letter(stored, &last).await
    }

    /// Stores the event as a `herald.deadletter` of this subscription and, when so
    /// configured, pauses it.
    async fn dead_letter(&self, stored: &Stored, last: &str) -> Result<(), String> {
        let reason = format!("not delivered to {} after {} attempt(s): {last}", self.hook.url, self.hook.max_attempts);
        tracing::warn!(position = %stored.position, %reason, "webhook out: a dead letter");
        let letter = DeadLetter {
            reason,
            subscriber: self.source.to_owned(),
            version: 1,
            event: serde_json::from_str::<serde_json::Value>(&stored.json).unwrap_or_default(),
        };
        let mut event = CloudEvent::new(format!("deadletter-{}", stored.position), self.source, <DeadLetter as Event>::TYPE)
            .with_data(serde_json::to_value(letter).expect("a dead letter serialises"));
        event.datacontenttype = Some("application/json".into());
        event.causationid = Some(stored.event.id.clone());
        crate::ingest::store(self.state, vec![event], stored.json.len(), self.source.trim_start_matches("urn:herald:"))
            .await
            .map_err(|e| format!("cannot store the dead letter: {e}"))?;
        self.status.consumed(0, 1);
        if self.hook.pause_on_dead_letter {
            self.status.pause();
            self.status.wait_resumed().await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_webhooks_signature() {
        // the example of the Standard Webhooks specification
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn only_public_addresses_unless_allowed() {
        for private in ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0", "100.64.0.1", "::1", "fd00::1", "fe80::1", "::ffff:127.0.0.1"] {
            assert!(!is_public(&private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(is_public(&public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn endpoints_are_checked() {
        let hook = |url: &str| WebhookOut::new(url, vec!["nop.>".into()], "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert!(hook("ftp://example.com/x").validate(true).await.unwrap_err().contains("http"));
        assert!(hook("http://127.0.0.1:9/x").validate(false).await.unwrap_err().contains("not a public address"));
        assert!(hook("http://[::1]:9/x").validate(false).await.is_err());
        assert!(hook("http://127.0.0.1:9/x").validate(true).await.is_ok());
        let mut bad = hook("http://127.0.0.1:9/x");
        bad.secret = "whsec_not base64!".into();
        assert!(bad.validate(true).await.unwrap_err().contains("base64"));
        assert!(new_secret().unwrap().starts_with("whsec_"));
        assert_eq!(signing_key(&new_secret().unwrap()).unwrap().len(), 32);
    }
}
