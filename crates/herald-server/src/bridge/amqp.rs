//! RabbitMQ (AMQP 0-9-1) bridges, by the CloudEvents AMQP binding: application
//! properties (headers) prefixed `cloudEvents:` in binary mode, `content-type:
//! application/cloudevents+json` in structured mode.
//!
//! - **In**: a durable queue, declared and bound to a durable topic exchange with the
//!   configured binding keys, consumed with a prefetch window. Each batch of deliveries is
//!   stored in one commit and only then acknowledged (`multiple`), so a gateway or broker
//!   crash redelivers what was not stored, and the (`source`, `id`) dedupe stores a
//!   redelivery once. A message that is no valid event is stored as `herald.deadletter`
//!   and acknowledged: the queue never jams.
//! - **Out**: the stored events whose `type` matches the bridge's patterns, in position
//!   order from a cursor kept in the store, published in binary mode (persistent, with the
//!   event's `id` as `message-id`) to an exchange under the event type as routing key,
//!   with publisher confirms; the cursor moves only past what the broker confirmed.

use futures_util::{FutureExt, StreamExt};
use herald_protocol::{CloudEvent, TopicPattern};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Backoff, BridgeStatus, HeaderValue, Message, PlainMapping};
use crate::AppState;

/// The header prefix of the CloudEvents AMQP binding.
pub const PREFIX: &str = "cloudEvents:";

/// `[amqp_in.NAME]`: events in from a RabbitMQ queue.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpIn {
    /// The broker, `amqp://user:pass@host:port/vhost`; absent: `--amqp-url`.
    #[serde(default)]
    pub url: Option<String>,
    /// The topic exchange to bind to (declared durable when missing).
    pub exchange: String,
    /// The queue to consume (declared durable when missing).
    pub queue: String,
    /// Binding keys of the queue on the exchange (AMQP topic syntax: `*`, `#`).
    #[serde(default = "every_key")]
    pub bindings: Vec<String>,
    /// Deliveries unacknowledged at once: what bounds the gateway's memory for the bridge.
    #[serde(default = "default_prefetch")]
    pub prefetch: u16,
    /// How messages that are neither structured nor binary mode become events; absent:
    /// they are dead letters.
    #[serde(default)]
    pub plain: Option<PlainMapping>,
}

/// `[amqp_out.NAME]`: matching stored events out to a RabbitMQ exchange.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpOut {
    /// The broker; absent: `--amqp-url`.
    #[serde(default)]
    pub url: Option<String>,
    /// The topic exchange to publish to (declared durable when missing).
    pub exchange: String,
    /// Topic patterns (§4) of the event types to publish.
    pub types: Vec<String>,
}

fn every_key() -> Vec<String> {
    vec!["#".into()]
}

fn default_prefetch() -> u16 {
    64
}

/// Runs an inbound bridge until the gateway shuts down, reconnecting with backoff.
pub(crate) async fn run_in(name: String, bridge: AmqpIn, url: String, state: AppState) {
    let status = state.bridges.status(&format!("amqp-in:{name}"));
    let source = format!("urn:herald:bridge:amqp-in:{name}");
    super::supervise(&name, "AMQP bridge in", &state, &status, || consume(&bridge, &url, &source, &state, &status)).await;
}

/// One connection's life: declare, bind, consume until an error.
async fn consume(bridge: &AmqpIn, url: &str, source: &str, state: &AppState, status: &BridgeStatus) -> Result<(), String> {
    let connection = Connection::connect(url, ConnectionProperties::default())
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", redacted(url)))?;
    let channel = connection.create_channel().await.map_err(|e| e.to_string())?;
    channel
        .basic_qos(bridge.prefetch, BasicQosOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    declare_exchange(&channel, &bridge.exchange).await?;
    let queue = channel
        .queue_declare(
            bridge.queue.as_str().into(),
            QueueDeclareOptions { durable: true, ..Default::default() },
            FieldTable::default(),
        )
        .await
        .map_err(|e| format!("queue `{}`: {e}", bridge.queue))?;
    status.set_lag(u64::from(queue.message_count()));
    for key in &bridge.bindings {
        channel
            .queue_bind(
                bridge.queue.as_str().into(),
                bridge.exchange.as_str().into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| format!("binding `{key}`: {e}"))?;
    }
    let mut consumer = channel
        .basic_consume(
            bridge.queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
    status.up();
    // waits after a store failure (the connection stays)
    let mut backoff = Backoff::new();
    tracing::info!(queue = %bridge.queue, exchange = %bridge.exchange, "AMQP bridge in: consuming");
    let place = |delivery: &Delivery| {
        json!({ "exchange": delivery.exchange.as_str(), "routing_key": delivery.routing_key.as_str(), "queue": bridge.queue })
    };
    loop {
        let first = consumer
            .next()
            .await
            .ok_or("the broker cancelled the consumer")?
            .map_err(|e| e.to_string())?;
        // what else is already here joins the batch: one commit, one acknowledgement
        let mut batch = vec![first];
        while batch.len() < usize::from(bridge.prefetch.max(1)) {
            match consumer.next().now_or_never() {
                Some(Some(Ok(delivery))) => batch.push(delivery),
                Some(Some(Err(e))) => return Err(e.to_string()),
                Some(None) => return Err("the broker cancelled the consumer".into()),
                None => break,
            }
        }
        let mut events = Vec::with_capacity(batch.len());
        let mut dead = 0;
        let mut bytes = 0;
        for delivery in &batch {
            let message = message_of(delivery);
            bytes += message.body.len();
            match super::to_event(&message, PREFIX, bridge.plain.as_ref(), state.max_body_bytes) {
                Ok(event) => events.push(event),
                Err(reason) => {
                    dead += 1;
                    tracing::warn!(%reason, routing_key = %delivery.routing_key, "AMQP bridge in: a dead letter");
                    events.push(super::dead_letter(source, &reason, &message, place(delivery)));
                }
            }
        }
        let last = batch.last().expect("a batch has a first delivery");
        match crate::ingest::store(state, events, bytes, source.trim_start_matches("urn:herald:bridge:")).await {
            Ok(_) => {
                last.ack(BasicAckOptions { multiple: true }).await.map_err(|e| e.to_string())?;
                status.consumed(batch.len(), dead);
                backoff.reset();
            }
            Err(error) => {
                // not stored: the broker keeps them for a later try, nothing is lost
                tracing::error!(%error, "AMQP bridge in: the store failed; the messages go back to the queue");
                let _ = last.nack(BasicNackOptions { multiple: true, requeue: true }).await;
                tokio::time::sleep(backoff.next()).await;
            }
        }
    }
}

/// Declares the durable topic exchange `name` (a no-op when it exists so).
async fn declare_exchange(channel: &lapin::Channel, name: &str) -> Result<(), String> {
    let options = ExchangeDeclareOptions { durable: true, ..Default::default() };
    channel
        .exchange_declare(name.into(), ExchangeKind::Topic, options, FieldTable::default())
        .await
        .map_err(|e| format!("exchange `{name}`: {e}"))
}

/// A delivery as the bindings read it.
fn message_of(delivery: &Delivery) -> Message {
    let properties = &delivery.properties;
    let headers = properties
        .headers()
        .as_ref()
        .map(|table| table.inner().iter().map(|(name, value)| (name.to_string(), header_value(value))).collect())
        .unwrap_or_default();
    Message {
        content_type: properties.content_type().as_ref().map(ToString::to_string),
        headers,
        body: delivery.data.clone(),
        key: Some(delivery.routing_key.to_string()),
        message_id: properties.message_id().as_ref().map(ToString::to_string),
    }
}

fn header_value(value: &AMQPValue) -> HeaderValue {
    match value {
        AMQPValue::LongString(s) => match std::str::from_utf8(s.as_bytes()) {
            Ok(text) => HeaderValue::Text(text.to_owned()),
            Err(_) => HeaderValue::Bytes(s.as_bytes().to_vec()),
        },
        AMQPValue::ShortString(s) => HeaderValue::Text(s.to_string()),
        AMQPValue::Boolean(b) => HeaderValue::Boolean(*b),
        AMQPValue::ShortShortInt(n) => HeaderValue::Integer((*n).into()),
        AMQPValue::ShortShortUInt(n) => HeaderValue::Integer((*n).into()),
        AMQPValue::ShortInt(n) => HeaderValue::Integer((*n).into()),
        AMQPValue::ShortUInt(n) => HeaderValue::Integer((*n).into()),
        AMQPValue::LongInt(n) => HeaderValue::Integer((*n).into()),
        AMQPValue::LongUInt(n) => HeaderValue::Integer((*n).into()),
        AMQPValue::LongLongInt(n) => HeaderValue::Integer(*n),
        AMQPValue::Timestamp(t) => HeaderValue::Timestamp(*t),
        AMQPValue::ByteArray(bytes) => HeaderValue::Bytes(bytes.as_slice().to_vec()),
        AMQPValue::Float(_) | AMQPValue::Double(_) => HeaderValue::Other("a float"),
        AMQPValue::DecimalValue(_) => HeaderValue::Other("a decimal"),
        AMQPValue::FieldArray(_) => HeaderValue::Other("an array"),
        AMQPValue::FieldTable(_) => HeaderValue::Other("a table"),
        AMQPValue::Void => HeaderValue::Other("void"),
    }
}

/// The URL without its password, for logs and errors.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// Runs an outbound bridge until the gateway shuts down, reconnecting with backoff.
pub(crate) async fn run_out(name: String, bridge: AmqpOut, url: String, state: AppState) {
    let status = state.bridges.status(&format!("amqp-out:{name}"));
    let cursor = format!("amqp-out:{name}");
    // the configuration was checked at start ([`AmqpOut::validate`])
    let Ok(patterns) = super::patterns(&bridge.types) else { return };
    super::supervise(&name, "AMQP bridge out", &state, &status, || publish(&bridge, &url, &patterns, &cursor, &state, &status))
        .await;
}

async fn publish(
    bridge: &AmqpOut,
    url: &str,
    patterns: &[TopicPattern],
    cursor: &str,
    state: &AppState,
    status: &BridgeStatus,
) -> Result<(), String> {
    let connection = Connection::connect(url, ConnectionProperties::default())
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", redacted(url)))?;
    let channel = connection.create_channel().await.map_err(|e| e.to_string())?;
    declare_exchange(&channel, &bridge.exchange).await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    status.up();
    super::publish_from_cursor(state, status, cursor, patterns, |page| {
        let channel = &channel;
        async move {
            for stored in &page {
                let (properties, body) = binary_message(&stored.event);
                channel
                    .basic_publish(
                        bridge.exchange.as_str().into(),
                        stored.event.ty.as_str().into(),
                        BasicPublishOptions::default(),
                        &body,
                        properties,
                    )
                    .await
                    .map_err(|e| e.to_string())?;
            }
            let returned = channel.wait_for_confirms().await.map_err(|e| e.to_string())?;
            if !returned.is_empty() {
                tracing::warn!(count = returned.len(), "AMQP bridge out: the exchange routed some events to no queue");
            }
            Ok(())
        }
    })
    .await
}

/// An event as an AMQP message in binary mode: each attribute a `cloudEvents:` header
/// (strings as strings, Integer extensions and `dataversion` as integers, booleans as
/// booleans), `datacontenttype` as `content-type`, the data as the body.
pub(crate) fn binary_message(event: &CloudEvent) -> (BasicProperties, Vec<u8>) {
    let (attributes, body, content_type) = super::binary_parts(event);
    let mut headers = FieldTable::default();
    for (name, value) in attributes {
        let value = match value {
            Value::String(text) => AMQPValue::LongString(text.into()),
            Value::Bool(b) => AMQPValue::Boolean(b),
            Value::Number(n) => AMQPValue::LongLongInt(n.as_i64().unwrap_or_default()),
            _ => continue,
        };
        headers.insert(format!("{PREFIX}{name}").into(), value);
    }
    let mut properties = BasicProperties::default()
        .with_headers(headers)
        .with_message_id(event.id.as_str().into())
        .with_delivery_mode(2);
    if let Some(media) = content_type {
        properties = properties.with_content_type(media.into());
    }
    (properties, body)
}

impl AmqpOut {
    /// Checks the bridge's type patterns (§4).
    pub fn validate(&self) -> Result<(), String> {
        super::validate_types(&self.types)
    }
}
