//! A store on NATS JetStream, which several gateways share: the event log of a cluster.
//!
//! - Each event is a message on the subject `<prefix>.<type>` of one JetStream stream;
//!   its sequence number there is its `SEQ`, and `EPOCH` is the stream's creation time in
//!   milliseconds, so every gateway on the stream gives the same positions and a client
//!   may resume on any of them.
//! - An append publishes with `Nats-Msg-Id` = the event's (`source`, `id`) and waits for
//!   JetStream's acknowledgement: a repeat within the stream's duplicate window is
//!   answered with the first message's sequence and not stored again. No acknowledgement
//!   in time (NATS down) is [`StoreError::Unavailable`]: the gateway answers `503`.
//! - Live events come from an ordered consumer on the stream ([`EventStore::follow`]),
//!   so a gateway streams what every gateway stored, in order; it resumes by itself
//!   after an outage.
//! - Retention is the stream's own limits (messages, age, bytes), enforced by JetStream
//!   from the front of the stream; a position before the stream's first message gets
//!   `herald.reset`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;
use herald_protocol::{CloudEvent, Position};

use super::{Appended, EventStore, Retention, Stored};
use crate::StoreError;

/// How to reach and shape the JetStream stream.
#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// Server URLs (`nats://127.0.0.1:4222`; several, comma-separated, for a cluster).
    pub servers: String,
    /// The stream's name (created when missing).
    pub stream: String,
    /// Events are stored on `<subject_prefix>.<type>`.
    pub subject_prefix: String,
    /// Limits of the stream (`None`: unlimited).
    pub max_messages: Option<i64>,
    /// Oldest message kept.
    pub max_age: Option<Duration>,
    /// Largest size of the stream in bytes.
    pub max_bytes: Option<i64>,
    /// Replicas of the stream in a cluster (1 to 5).
    pub replicas: usize,
    /// How long JetStream remembers message ids to drop repeats.
    pub duplicate_window: Duration,
    /// How long an append waits for JetStream's acknowledgement.
    pub ack_timeout: Duration,
}

impl NatsConfig {
    /// The defaults for `servers`: stream `HERALD`, subjects `herald.events.>`, no
    /// limits, one replica, a two-minute duplicate window, five-second acks.
    pub fn new(servers: impl Into<String>) -> Self {
        NatsConfig {
            servers: servers.into(),
            stream: "HERALD".into(),
            subject_prefix: "herald.events".into(),
            max_messages: None,
            max_age: None,
            max_bytes: None,
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
            ack_timeout: Duration::from_secs(5),
        }
    }
}

/// The event log on a JetStream stream (see the module documentation).
pub struct NatsStore {
    runtime: tokio::runtime::Handle,
    reconnected: Arc<tokio::sync::Notify>,
    client: async_nats::Client,
    stream: stream::Stream,
    jetstream: jetstream::Context,
    config: NatsConfig,
    epoch: u64,
    head: Arc<AtomicU64>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl NatsStore {
    /// Connects, and creates the stream if it does not exist (an existing stream keeps
    /// its configuration). Fails when NATS cannot be reached now.
    pub async fn connect(config: NatsConfig) -> Result<Self, StoreError> {
        let servers = config
            .servers
            .split(',')
            .map(|s| s.trim().parse::<async_nats::ServerAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Rejected(format!("NATS server address: {e}")))?;
        // When the connection comes back, the live feed starts over from its last event
        // at once, rather than when its consumer times out.
        let reconnected = Arc::new(tokio::sync::Notify::new());
        let signal = reconnected.clone();
        let client = async_nats::ConnectOptions::new()
            .name("herald-server")
            .event_callback(move |event| {
                let signal = signal.clone();
                async move {
                    if matches!(event, async_nats::Event::Connected) {
                        signal.notify_one();
                    }
                }
            })
            .connect(servers)
            .await
            .map_err(|e| unavailable(format!("cannot reach NATS at {}: {e}", config.servers)))?;
        let jetstream = jetstream::new(client.clone());
        let stream = jetstream
            .get_or_create_stream(stream::Config {
                name: config.stream.clone(),
                subjects: vec![format!("{}.>", config.subject_prefix)],
                max_messages: config.max_messages.unwrap_or(-1),
                max_age: config.max_age.unwrap_or_default(),
                max_bytes: config.max_bytes.unwrap_or(-1),
                num_replicas: config.replicas,
                duplicate_window: config.duplicate_window,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable(format!("JetStream stream {}: {e}", config.stream)))?;
        let mut stream = stream;
        let info = stream.info().await.map_err(unavailable)?;
        let epoch = (info.created.unix_timestamp_nanos() / 1_000_000).max(1) as u64;
        let head = Arc::new(AtomicU64::new(info.state.last_sequence));
        Ok(NatsStore {
            runtime: tokio::runtime::Handle::current(),
            reconnected,
            client,
            stream,
            jetstream,
            config,
            epoch,
            head,
        })
    }

    /// The NATS subject of events of type `ty`; `Rejected` when the type cannot be one.
    fn subject(&self, ty: &str) -> Result<String, StoreError> {
        let valid = !ty.is_empty()
            && ty
                .split('.')
                .all(|token| !token.is_empty() && token != "*" && token != ">" && !token.contains(char::is_whitespace));
        if !valid {
            return Err(StoreError::Rejected(format!(
                "the NATS store keeps event types of dot-separated tokens without spaces, `*` or `>`; `{ty}` is not one"
            )));
        }
        Ok(format!("{}.{ty}", self.config.subject_prefix))
    }

    fn stored(&self, message: &jetstream::Message) -> Result<Arc<Stored>, StoreError> {
        let seq = message.info().map_err(unavailable)?.stream_sequence;
        let json = String::from_utf8(message.payload.to_vec()).map_err(|e| StoreError::Corrupt {
            path: self.config.stream.clone(),
            record: seq,
            reason: e.to_string(),
        })?;
        let event = CloudEvent::from_json(json.as_bytes()).map_err(|e| StoreError::Corrupt {
            path: self.config.stream.clone(),
            record: seq,
            reason: e.to_string(),
        })?;
        Ok(Arc::new(Stored::new(Position::new(self.epoch, seq), event, json)))
    }

    async fn stream_state(&self) -> Result<stream::State, StoreError> {
        let mut stream = self.stream.clone();
        Ok(stream.info().await.map_err(unavailable)?.state.clone())
    }
}

/// The stream's messages from `start_sequence` on, through an ordered consumer (one
/// ephemeral consumer that recreates itself on a gap).
async fn messages_from(stream: &stream::Stream, start_sequence: u64) -> Result<consumer::pull::Ordered, StoreError> {
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence },
            ..Default::default()
        })
        .await
        .map_err(unavailable)?;
    consumer.messages().await.map_err(unavailable)
}

/// The `Nats-Msg-Id` of an event: its source and id, unambiguously joined.
fn message_id(event: &CloudEvent) -> String {
    format!("{}:{}{}", event.source.len(), event.source, event.id)
}

impl EventStore for NatsStore {
    fn epoch(&self) -> u64 {
        self.epoch
    }

    fn head(&self) -> Result<u64, StoreError> {
        Ok(self.head.load(Ordering::Acquire))
    }

    fn durable_head(&self) -> Result<u64, StoreError> {
        Ok(self.runtime.block_on(self.stream_state())?.last_sequence)
    }

    fn append(&self, events: Vec<CloudEvent>) -> Result<Vec<Appended>, StoreError> {
        let subjects = events.iter().map(|e| self.subject(&e.ty)).collect::<Result<Vec<_>, _>>()?;
        self.runtime.block_on(async {
            // publish everything, then wait for every acknowledgement (pipelined)
            let mut pending = Vec::with_capacity(events.len());
            for (event, subject) in events.into_iter().zip(subjects) {
                let json = serde_json::to_string(&event).expect("a CloudEvent always serialises");
                let mut headers = async_nats::HeaderMap::new();
                headers.insert(async_nats::header::NATS_MESSAGE_ID, message_id(&event).as_str());
                let ack = tokio::time::timeout(
                    self.config.ack_timeout,
                    self.jetstream.publish_with_headers(subject, headers, json.clone().into()),
                )
                .await
                .map_err(|_| unavailable("NATS did not take the event in time"))?
                .map_err(unavailable)?;
                pending.push((event, json, ack));
            }
            let mut out = Vec::with_capacity(pending.len());
            for (event, json, ack) in pending {
                let ack = tokio::time::timeout(self.config.ack_timeout, ack)
                    .await
                    .map_err(|_| unavailable("JetStream did not acknowledge the event in time"))?
                    .map_err(unavailable)?;
                let position = Position::new(self.epoch, ack.sequence);
                out.push(if ack.duplicate {
                    Appended::Repeat(position)
                } else {
                    self.head.fetch_max(ack.sequence, Ordering::AcqRel);
                    Appended::New(Arc::new(Stored::new(position, event, json)))
                });
            }
            Ok(out)
        })
    }

    fn read(&self, after: u64, limit: usize) -> Result<Vec<Arc<Stored>>, StoreError> {
        self.runtime.block_on(async {
            let state = self.stream_state().await?;
            let last = state.last_sequence;
            if after >= last || limit == 0 {
                return Ok(Vec::new());
            }
            let start = after.saturating_add(1).max(state.first_sequence);
            let mut messages = messages_from(&self.stream, start).await?;
            let mut out = Vec::new();
            while out.len() < limit {
                let next = tokio::time::timeout(self.config.ack_timeout, messages.next())
                    .await
                    .map_err(|_| unavailable("JetStream stopped delivering the replay"))?;
                let Some(message) = next else { break };
                let message = message.map_err(unavailable)?;
                let stored = self.stored(&message)?;
                let seq = stored.position.seq;
                out.push(stored);
                if seq >= last {
                    break;
                }
            }
            Ok(out)
        })
    }

    fn trimmed_since(&self, after: u64) -> Result<Option<Vec<String>>, StoreError> {
        let state = self.runtime.block_on(self.stream_state())?;
        // JetStream's limits remove from the front: events after `after` are gone if the
        // stream now starts later than the next one (which topics, it does not say)
        if state.messages > 0 && after.saturating_add(1) < state.first_sequence {
            return Ok(None);
        }
        if state.messages == 0 && after < state.last_sequence {
            return Ok(None);
        }
        Ok(Some(Vec::new()))
    }

    fn enforce(&self, _rules: &[Retention], _now_millis: u64) -> Result<u64, StoreError> {
        // JetStream enforces the stream's own limits
        Ok(0)
    }

    fn follow(&self, after: u64, deliver: Box<dyn Fn(Arc<Stored>) + Send + Sync>) -> bool {
        let stream = self.stream.clone();
        let head = self.head.clone();
        let reconnected = self.reconnected.clone();
        let (epoch, name) = (self.epoch, self.config.stream.clone());
        self.runtime.spawn(async move {
            let mut last = after;
            loop {
                let mut messages = match messages_from(&stream, last + 1).await {
                    Ok(messages) => messages,
                    Err(error) => {
                        tracing::warn!(%error, stream = %name, "cannot follow the JetStream stream; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                };
                loop {
                    let next = tokio::select! {
                        next = messages.next() => next,
                        () = reconnected.notified() => {
                            tracing::info!(stream = %name, "NATS is back: following the stream again");
                            break;
                        }
                    };
                    let Some(message) = next else { break };
                    let message = match message {
                        Ok(message) => message,
                        Err(error) => {
                            tracing::warn!(%error, stream = %name, "the JetStream feed broke; resuming");
                            break;
                        }
                    };
                    let Ok(info) = message.info() else { continue };
                    let seq = info.stream_sequence;
                    if seq <= last {
                        continue;
                    }
                    let json = String::from_utf8_lossy(&message.payload).into_owned();
                    match CloudEvent::from_json(json.as_bytes()) {
                        Ok(event) => {
                            head.fetch_max(seq, Ordering::AcqRel);
                            deliver(Arc::new(Stored::new(Position::new(epoch, seq), event, json)));
                        }
                        Err(error) => tracing::error!(%error, seq, stream = %name, "skipped a message that is not a CloudEvent"),
                    }
                    last = seq;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        true
    }

    fn health(&self) -> Result<(), String> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            state => Err(format!("NATS is unreachable ({state:?})")),
        }
    }
}
