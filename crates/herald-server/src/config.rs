//! The gateway's optional TOML configuration file (`--config`). Flags and environment
//! variables override it; it is the only place for lists of rules (retention, webhooks).
//!
//! ```toml
//! listen = "127.0.0.1:8787"
//! data = "./.herald"
//! cors_origins = ["https://nop.example"]
//!
//! [auth]
//! hs256_secret = "change me"                # and/or:
//! rs256_public_key_file = "jwt-public.pem"
//!
//! [[retention]]
//! pattern = "nop.noise.reading"
//! max_count = 10000
//! max_age_secs = 3600
//!
//! [webhooks.ci]
//! secret = "shared with the sender"
//! type = "nop.ci.finished"
//! allowed_origins = ["ci.example"]
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::{AmqpIn, AmqpOut, EventGrid, KafkaIn, KafkaOut, Retention, Webhook, WebhookOut};

/// The configuration file's contents. Every field is optional.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--data`.
    pub data: Option<PathBuf>,
    /// `--store` (`embedded` or `nats://…`).
    pub store: Option<String>,
    /// `--static-dir`.
    pub static_dir: Option<PathBuf>,
    /// `--max-body-bytes`.
    pub max_body_bytes: Option<usize>,
    /// `--max-queue-bytes`.
    pub max_queue_bytes: Option<usize>,
    /// `--dev-no-auth`.
    pub dev_no_auth: Option<bool>,
    /// `--header-read-timeout-secs`.
    pub header_read_timeout_secs: Option<u64>,
    /// `--body-read-timeout-secs`.
    pub body_read_timeout_secs: Option<u64>,
    /// `--write-timeout-secs`.
    pub write_timeout_secs: Option<u64>,
    /// `--max-header-bytes`.
    pub max_header_bytes: Option<usize>,
    /// `--max-connections-per-ip`.
    pub max_connections_per_ip: Option<usize>,
    /// `--ws-ping-interval-secs`.
    pub ws_ping_interval_secs: Option<u64>,
    /// `--cors-origin` (each).
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// How often retention runs, in seconds (default 30).
    pub retention_interval_secs: Option<u64>,
    /// Token checking.
    #[serde(default)]
    pub auth: AuthConfig,
    /// The JetStream stream, with a NATS store.
    #[serde(default)]
    pub nats: NatsSection,
    /// Retention rules, first match per topic wins.
    #[serde(default)]
    pub retention: Vec<RetentionConfig>,
    /// Webhook receivers by name (`POST /webhooks/{name}`).
    #[serde(default)]
    pub webhooks: BTreeMap<String, WebhookConfig>,
    /// Outbound webhook subscriptions by name.
    #[serde(default)]
    pub webhook_out: BTreeMap<String, WebhookOut>,
    /// `--allow-private-webhook-targets`.
    pub allow_private_webhook_targets: Option<bool>,
    /// `--webhook-origin`.
    pub webhook_origin: Option<String>,
    /// `--central-log`.
    pub central_log: Option<String>,
    /// `--central-log-level`.
    pub central_log_level: Option<String>,
    /// `--central-log-ship`.
    pub central_log_ship: Option<String>,
    /// `--central-log-index`.
    pub central_log_index: Option<String>,
    /// Azure Event Grid receivers by name (`POST /eventgrid/{name}`).
    #[serde(default)]
    pub eventgrid: BTreeMap<String, EventGridConfig>,
    /// `--amqp-url`: the broker of every AMQP bridge that names none.
    pub amqp_url: Option<String>,
    /// Inbound RabbitMQ bridges by name.
    #[serde(default)]
    pub amqp_in: BTreeMap<String, AmqpIn>,
    /// Outbound RabbitMQ bridges by name.
    #[serde(default)]
    pub amqp_out: BTreeMap<String, AmqpOut>,
    /// `--kafka-brokers`: the bootstrap brokers of every Kafka bridge that names none.
    pub kafka_brokers: Option<Vec<String>>,
    /// Inbound Kafka bridges by name.
    #[serde(default)]
    pub kafka_in: BTreeMap<String, KafkaIn>,
    /// Outbound Kafka bridges by name.
    #[serde(default)]
    pub kafka_out: BTreeMap<String, KafkaOut>,
}

/// `[auth]`.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// `--jwt-hs256-secret`.
    pub hs256_secret: Option<String>,
    /// `--jwt-rs256-public-key` (a PEM file).
    pub rs256_public_key_file: Option<PathBuf>,
}

/// `[nats]`: the stream of a NATS store.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NatsSection {
    /// `--stream`.
    pub stream: Option<String>,
    /// `--stream-max-msgs`.
    pub max_msgs: Option<i64>,
    /// `--stream-max-age-secs`.
    pub max_age_secs: Option<u64>,
    /// `--stream-max-bytes`.
    pub max_bytes: Option<i64>,
    /// `--stream-replicas`.
    pub replicas: Option<usize>,
    /// `--stream-duplicate-window-secs`.
    pub duplicate_window_secs: Option<u64>,
}

/// One `[[retention]]` rule.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Topic pattern (`nop.noise.*`).
    pub pattern: String,
    /// Events kept per topic.
    pub max_count: Option<u64>,
    /// Oldest event kept, in seconds.
    pub max_age_secs: Option<u64>,
}

/// One `[webhooks.NAME]` receiver.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The HMAC-SHA256 secret.
    pub secret: String,
    /// The `type` of the events deliveries become.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Origins the abuse-protection handshake allows (empty: any).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Deliveries per minute announced in the handshake.
    pub allowed_rate: Option<u32>,
}

/// `[eventgrid.NAME]`: an Azure Event Grid receiver.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EventGridConfig {
    /// The access key deliveries carry (`aeg-sas-key` header or `code` query parameter).
    pub key: String,
    /// The `source` of Event Grid events without a `topic`.
    pub source: Option<String>,
    /// Origins the CloudEvents `OPTIONS` handshake allows (empty: any).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Deliveries per minute announced in the handshake.
    pub allowed_rate: Option<u32>,
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// It cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// It is not valid.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl Config {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let config = Config::parse(&text).map_err(|reason| ConfigError::Invalid {
            path: path.display().to_string(),
            reason,
        })?;
        Ok(config)
    }

    /// Parses and checks TOML text.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        config.retention_rules()?;
        Ok(config)
    }

    /// The retention rules, checked.
    pub fn retention_rules(&self) -> Result<Vec<Retention>, String> {
        self.retention
            .iter()
            .map(|rule| {
                if rule.max_count.is_none() && rule.max_age_secs.is_none() {
                    return Err(format!("retention for `{}` sets neither max_count nor max_age_secs", rule.pattern));
                }
                Ok(Retention {
                    pattern: rule.pattern.parse().map_err(|e| format!("retention pattern: {e}"))?,
                    max_count: rule.max_count,
                    max_age: rule.max_age_secs.map(Duration::from_secs),
                })
            })
            .collect()
    }

    /// The Event Grid receivers of the file.
    pub fn eventgrid(&self) -> impl Iterator<Item = (String, EventGrid)> + '_ {
        self.eventgrid.iter().map(|(name, grid)| {
            let mut receiver = EventGrid::new(grid.key.as_bytes());
            receiver.source = grid.source.clone();
            receiver.allowed_origins = grid.allowed_origins.clone();
            receiver.allowed_rate = grid.allowed_rate;
            (name.clone(), receiver)
        })
    }

    /// The webhook receivers of the file.
    pub fn webhooks(&self) -> impl Iterator<Item = (String, Webhook)> + '_ {
        self.webhooks.iter().map(|(name, hook)| {
            let mut webhook = Webhook::new(hook.secret.as_bytes(), hook.event_type.clone());
            webhook.allowed_origins = hook.allowed_origins.clone();
            webhook.allowed_rate = hook.allowed_rate;
            (name.clone(), webhook)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let text = include_str!("config.rs")
            .split("```toml\n")
            .nth(1)
            .unwrap()
            .split("//! ```")
            .next()
            .unwrap()
            .lines()
            .map(|l| l.strip_prefix("//!").unwrap_or(l).strip_prefix(' ').unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let config = Config::parse(&text).unwrap();
        assert_eq!(config.retention_rules().unwrap()[0].max_count, Some(10000));
        assert_eq!(config.webhooks().next().unwrap().1.event_type, "nop.ci.finished");
    }

    #[test]
    fn the_example_in_the_protocol_document_parses() {
        let doc = include_str!("../../../docs/protocol.md");
        let section = doc.split("### 3.8").nth(1).unwrap();
        let text = section.split("```toml\n").nth(1).unwrap().split("```").next().unwrap();
        let config = Config::parse(text).unwrap();
        assert_eq!(config.max_queue_bytes, Some(1048576));
        assert_eq!(config.webhooks().next().unwrap().1.allowed_rate, Some(120));
        assert_eq!(config.auth.rs256_public_key_file.as_deref(), Some(Path::new("jwt.pem")));
    }

    #[test]
    fn unknown_keys_and_bad_rules_are_errors() {
        assert!(Config::parse("listn = \"x\"").unwrap_err().contains("listn"));
        assert!(Config::parse("[[retention]]\npattern = \"a.>\"").unwrap_err().contains("neither"));
        assert!(Config::parse("[[retention]]\npattern = \"a.>.b\"\nmax_count = 1").is_err());
    }
}
