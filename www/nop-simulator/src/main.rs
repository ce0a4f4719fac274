//! `nop-simulator`: a NOP producer. It simulates noise sensors and posts their readings to
//! the herald gateway as structured-mode CloudEvents, through the public HTTP API, or, with
//! `--amqp URL`, publishes them to a RabbitMQ topic exchange (structured mode of the
//! CloudEvents AMQP binding, persistent, with publisher confirms) as the lecture's NOP
//! does; a gateway bridging that exchange streams them on.
//!
//! It also takes commands: it follows the gateway's stream of `nop.sensor.mute`, mutes
//! (or unmutes) the sensors of its own that a command names, and acknowledges each with
//! `nop.sensor.muted` posted to the gateway in the command's chain (`causationid`: the
//! command's id). A command for a sensor it does not simulate is not its to answer. With
//! `--amqp` it takes them from RabbitMQ instead (the exchange `--commands-exchange`, where
//! the gateway's AMQP bridge out publishes them) and publishes the answers to the broker.
//!
//! And it is the sensors' participant of the recalibration saga (`nop-recalibration`):
//! it takes a sensor of its own offline (no readings) and back online, on the process
//! manager's commands or, choreographed, on the other participants' facts.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Parser;
use herald_client::Client;
use herald_protocol::{CloudEvent, Event, Position, CLOUDEVENTS_JSON};
use nop_events::{MuteSensor, NoiseReading, SensorMuted};
use nop_recalibration::sensor::SensorParticipant;

/// The simulator's CloudEvents `source`.
const SOURCE: &str = "urn:nop:simulator";

/// Simulates NOP noise sensors and posts their readings to a herald gateway.
#[derive(Debug, Parser)]
#[command(name = "nop-simulator", version)]
struct Cli {
    /// The gateway's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8787")]
    gateway: String,
    /// How many sensors to simulate (s-1, s-2, …).
    #[arg(long, default_value_t = 4)]
    sensors: u32,
    /// Milliseconds between two rounds of readings (one per sensor).
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// Stop after this many rounds (default: run until stopped).
    #[arg(long)]
    rounds: Option<u64>,
    /// Publish to this RabbitMQ broker (amqp://user:pass@host:port/vhost) instead of
    /// posting to the gateway.
    #[arg(long)]
    amqp: Option<String>,
    /// With --amqp: the topic exchange to publish to (declared durable when missing);
    /// the routing key is the event type.
    #[arg(long, default_value = "nop")]
    exchange: String,
    /// With --amqp: the topic exchange commands and the sagas' events arrive on (where the
    /// gateway's AMQP bridge out publishes them); the answers go to --exchange.
    #[arg(long, default_value = "nop.commands")]
    commands_exchange: String,
    /// Take no commands (`nop.sensor.mute`) and no part in recalibration sagas.
    #[arg(long)]
    no_commands: bool,
}

/// The producer's switches of one sensor.
#[derive(Default)]
struct Switches {
    /// Muted by a `nop.sensor.mute` command.
    muted: AtomicBool,
    /// Taken offline by a recalibration saga.
    offline: AtomicBool,
}

impl Switches {
    fn silent(&self) -> bool {
        self.muted.load(Ordering::Relaxed) || self.offline.load(Ordering::Relaxed)
    }
}

/// Index of `sensor` (`s-1` is 0) among `sensors`, when it is one of them.
fn index_of(sensor: &str, sensors: usize) -> Option<usize> {
    let n = sensor.strip_prefix("s-")?.parse::<usize>().ok()?;
    n.checked_sub(1).filter(|&i| i < sensors)
}

/// How old a command (or a saga's event) may be, by its `time`, and still be carried out.
const STALE_MS: u64 = 30_000;

/// The producer's part in commands and sagas: what it does on each event and answers.
struct Commands {
    sensors: Arc<Vec<Switches>>,
    participant: SensorParticipant,
}

impl Commands {
    fn new(sensors: Arc<Vec<Switches>>) -> Self {
        Commands { sensors, participant: SensorParticipant::new(SOURCE) }
    }

    /// The event types it takes.
    fn types() -> Vec<&'static str> {
        let mut types = vec![MuteSensor::TYPE];
        types.extend(SensorParticipant::TYPES);
        types
    }

    /// Carries out `event` (a command, or a fact of a recalibration saga) for the sensors
    /// it simulates; the answers to publish, in order.
    fn handle(&mut self, event: &CloudEvent<serde_json::Value>) -> Vec<CloudEvent<serde_json::Value>> {
        let count = self.sensors.len();
        let sent = event.time.as_deref().and_then(herald_protocol::unix_millis_from_rfc3339);
        if sent.is_some_and(|at| now_millis().saturating_sub(at) > STALE_MS) {
            // a command from long ago (a bridge replaying its backlog): whoever sent it
            // has timed out, and carrying it out now would surprise everyone
            return Vec::new();
        }
        if event.ty == MuteSensor::TYPE {
            let Ok(mute) = serde_json::from_value::<MuteSensor>(event.data.clone().unwrap_or_default()) else {
                eprintln!("nop-simulator: a command {} that is not a MuteSensor; ignored", event.id);
                return Vec::new();
            };
            let Some(switches) = index_of(&mute.sensor, count).map(|i| &self.sensors[i]) else {
                return Vec::new(); // not its sensor: not its to answer
            };
            switches.muted.store(mute.muted, Ordering::Relaxed);
            let ack = SensorMuted { sensor: mute.sensor, muted: mute.muted, at: now_millis() };
            let ack = CloudEvent::new(format!("{}-ack", event.id), SOURCE, SensorMuted::TYPE)
                .with_subject(ack.sensor.clone())
                .with_time_millis(ack.at)
                .with_data(serde_json::to_value(ack).unwrap_or_default())
                .caused_by(event);
            return vec![ack];
        }
        let reaction = self.participant.react(event, |s| index_of(s, count).is_some(), now_millis());
        if let Some((sensor, offline)) = reaction.set_offline {
            if let Some(i) = index_of(&sensor, count) {
                self.sensors[i].offline.store(offline, Ordering::Relaxed);
            }
        }
        reaction.publish
    }
}

/// Follows the gateway's commands and the recalibration sagas' events for ever, carrying
/// them out ([`Commands::handle`]) and posting the answers to the gateway.
async fn take_commands(gateway: Client, mut commands: Commands) {
    let types = Commands::types();
    let mut from: Option<Position> = None;
    loop {
        let mut answers = Vec::new();
        let result = gateway
            .stream(&types, from.map(|p| p.to_string()).as_deref(), |frame| {
                let Some(position) = frame.position else {
                    return ControlFlow::Break(()); // herald.slow or herald.drain: follow again
                };
                from = Some(position);
                answers.extend(commands.handle(&frame.event));
                // answer what was carried out so far before reading on
                if answers.is_empty() { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
            })
            .await;
        for answer in answers {
            if let Err(error) = gateway.publish(&answer).await {
                eprintln!("nop-simulator: the answer {} did not go: {error}", answer.id);
            }
        }
        if let Err(error) = result {
            eprintln!("nop-simulator: commands: {error}");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// Takes commands and the sagas' events from RabbitMQ for ever: a queue of its own bound
/// to every routing key of `exchange` (where the gateway's AMQP bridge out publishes
/// them), each delivery carried out ([`Commands::handle`]), its answers published to
/// `answers` (the exchange the gateway's bridge in reads), then acknowledged.
async fn take_commands_amqp(url: String, exchange: String, answers: String, mut commands: Commands) {
    loop {
        if let Err(error) = consume_commands(&url, &exchange, &answers, &mut commands).await {
            eprintln!("nop-simulator: commands from RabbitMQ: {error}; connecting again in 1 s");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn consume_commands(url: &str, exchange: &str, answers: &str, commands: &mut Commands) -> Result<(), String> {
    use futures_util::StreamExt;
    use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
    let mut publisher = None;
    let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .map_err(|e| format!("cannot reach RabbitMQ ({e})"))?;
    let channel = connection.create_channel().await.map_err(|e| e.to_string())?;
    declare(&channel, exchange).await?;
    // a queue of this simulator's own: a command sent while it is down is not its to
    // take later (the one who sent it has timed out)
    let options = QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() };
    let queue = channel.queue_declare("".into(), options, lapin::types::FieldTable::default()).await.map_err(|e| e.to_string())?;
    channel
        .queue_bind(queue.name().clone(), exchange.into(), "#".into(), QueueBindOptions::default(), lapin::types::FieldTable::default())
        .await
        .map_err(|e| e.to_string())?;
    let mut deliveries = channel
        .basic_consume(queue.name().clone(), "nop-simulator".into(), BasicConsumeOptions::default(), lapin::types::FieldTable::default())
        .await
        .map_err(|e| e.to_string())?;
    while let Some(delivery) = deliveries.next().await {
        let delivery = delivery.map_err(|e| e.to_string())?;
        match cloudevent_of(&delivery) {
            Ok(event) => {
                for answer in commands.handle(&event) {
                    // unanswered, the command times out where it was sent
                    publish(url, answers, &mut publisher, &answer)
                        .await
                        .map_err(|error| format!("the answer {} did not go: {error}", answer.id))?;
                }
            }
            Err(reason) => eprintln!("nop-simulator: a message on `{exchange}` that is not a CloudEvent ({reason}); dropped"),
        }
        delivery.ack(BasicAckOptions::default()).await.map_err(|e| e.to_string())?;
    }
    Err("the broker ended the consumer".into())
}

/// A delivery as a CloudEvent: binary mode of the CloudEvents AMQP binding (attributes
/// in `cloudEvents:` application properties, `content-type`, the body the data), or
/// structured mode (`application/cloudevents+json`).
fn cloudevent_of(delivery: &lapin::message::Delivery) -> Result<CloudEvent<serde_json::Value>, String> {
    use lapin::types::AMQPValue;
    let properties = &delivery.properties;
    let content_type = properties.content_type().as_ref().map(|c| c.to_string());
    if content_type.as_deref().is_some_and(|c| c.starts_with(CLOUDEVENTS_JSON)) {
        return serde_json::from_slice(&delivery.data).map_err(|e| e.to_string());
    }
    let mut attributes = serde_json::Map::new();
    if let Some(headers) = properties.headers() {
        for (name, value) in headers.inner() {
            let name = name.to_string();
            let Some(attribute) = name.strip_prefix("cloudEvents:").or_else(|| name.strip_prefix("cloudEvents_")) else {
                continue;
            };
            let value = match value {
                AMQPValue::LongString(text) => serde_json::Value::from(String::from_utf8_lossy(text.as_bytes()).into_owned()),
                AMQPValue::ShortString(text) => serde_json::Value::from(text.to_string()),
                AMQPValue::Boolean(b) => serde_json::Value::from(*b),
                AMQPValue::LongLongInt(n) => serde_json::Value::from(*n),
                AMQPValue::LongInt(n) => serde_json::Value::from(*n),
                other => return Err(format!("the attribute `{attribute}` is {other:?}")),
            };
            attributes.insert(attribute.to_owned(), value);
        }
    }
    if let Some(media) = &content_type {
        attributes.insert("datacontenttype".into(), media.clone().into());
        if media.contains("json") {
            let data: serde_json::Value = serde_json::from_slice(&delivery.data).map_err(|e| format!("the body is not JSON: {e}"))?;
            attributes.insert("data".into(), data);
        }
    }
    serde_json::from_value(serde_json::Value::Object(attributes)).map_err(|e| e.to_string())
}

/// Where readings go: the gateway's HTTP API, or a RabbitMQ exchange.
enum Sink {
    Http { client: reqwest::Client, url: String },
    Amqp { url: String, exchange: String, channel: Option<lapin::Channel> },
}

impl Sink {
    fn describe(&self) -> String {
        match self {
            Sink::Http { url, .. } => url.clone(),
            Sink::Amqp { exchange, .. } => format!("the RabbitMQ exchange `{exchange}`"),
        }
    }

    /// Sends one event; `Err` says why it did not go (the caller retries later).
    async fn send(&mut self, event: &CloudEvent<NoiseReading>) -> Result<(), String> {
        match self {
            Sink::Http { client, url } => {
                let response = client
                    .post(url.as_str())
                    .header("content-type", CLOUDEVENTS_JSON)
                    .json(event)
                    .send()
                    .await
                    .map_err(|e| format!("cannot reach the gateway ({e})"))?;
                if response.status().is_success() {
                    return Ok(());
                }
                let status = response.status();
                Err(format!("gateway answered {status}: {}", response.text().await.unwrap_or_default()))
            }
            Sink::Amqp { url, exchange, channel } => {
                let sent = publish(url, exchange, channel, event).await;
                if sent.is_err() {
                    *channel = None; // connect again next time
                }
                sent
            }
        }
    }
}

/// Declares the topic exchange `name` (durable) when it is missing.
async fn declare(channel: &lapin::Channel, name: &str) -> Result<(), String> {
    use lapin::options::ExchangeDeclareOptions;
    channel
        .exchange_declare(
            name.into(),
            lapin::ExchangeKind::Topic,
            ExchangeDeclareOptions { durable: true, ..Default::default() },
            lapin::types::FieldTable::default(),
        )
        .await
        .map_err(|e| e.to_string())
}

/// Publishes `event` in structured mode, its type the routing key, and waits for the
/// broker's confirm.
async fn publish<T: serde::Serialize>(
    url: &str,
    exchange: &str,
    channel: &mut Option<lapin::Channel>,
    event: &CloudEvent<T>,
) -> Result<(), String> {
    use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
    if channel.is_none() {
        let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
            .await
            .map_err(|e| format!("cannot reach RabbitMQ ({e})"))?;
        let opened = connection.create_channel().await.map_err(|e| e.to_string())?;
        declare(&opened, exchange).await?;
        opened.confirm_select(ConfirmSelectOptions::default()).await.map_err(|e| e.to_string())?;
        *channel = Some(opened);
    }
    let channel = channel.as_ref().expect("connected above");
    let body = serde_json::to_vec(event).map_err(|e| e.to_string())?;
    let properties = lapin::BasicProperties::default()
        .with_content_type(CLOUDEVENTS_JSON.into())
        .with_message_id(event.id.as_str().into())
        .with_delivery_mode(2);
    let confirm = channel
        .basic_publish(exchange.into(), event.ty.as_str().into(), BasicPublishOptions::default(), &body, properties)
        .await
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    if confirm.is_nack() {
        return Err(format!("RabbitMQ did not take {} (nack)", event.id));
    }
    Ok(())
}

/// A small xorshift generator: the simulation needs variety, not cryptography.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let run = now_millis();
    let mut rng = Rng(run | 1);
    // each sensor's ambient level: 55 dB, 60 dB, …
    let ambient: Vec<f64> = (0..cli.sensors).map(|i| 55.0 + 5.0 * f64::from(i)).collect();
    let mut levels = ambient.clone();
    let mut sink = match &cli.amqp {
        Some(url) => Sink::Amqp { url: url.clone(), exchange: cli.exchange.clone(), channel: None },
        None => Sink::Http {
            client: reqwest::Client::new(),
            url: format!("{}/events", cli.gateway.trim_end_matches('/')),
        },
    };
    eprintln!("nop-simulator: sending readings of {} sensors to {}", cli.sensors, sink.describe());
    let switches: Arc<Vec<Switches>> = Arc::new((0..cli.sensors).map(|_| Switches::default()).collect());
    if !cli.no_commands {
        let commands = Commands::new(switches.clone());
        match &cli.amqp {
            Some(url) => {
                tokio::spawn(take_commands_amqp(url.clone(), cli.commands_exchange.clone(), cli.exchange.clone(), commands));
            }
            None => {
                tokio::spawn(take_commands(Client::new(&cli.gateway), commands));
            }
        }
    }
    let mut interval = tokio::time::interval(Duration::from_millis(cli.interval_ms.max(1)));
    let mut failures = 0u32;
    let levels_len = levels.len();
    for round in 0.. {
        if cli.rounds.is_some_and(|n| round >= n) {
            break;
        }
        interval.tick().await;
        for (i, level) in levels.iter_mut().enumerate() {
            if switches[i].silent() {
                continue;
            }
            // a random walk that keeps returning to the sensor's ambient level, with the odd
            // loud spike
            let pull = (ambient[i] - *level) * 0.1;
            *level = (*level + pull + (rng.next_f64() - 0.5) * 6.0).clamp(35.0, 80.0);
            // the last sensor stands by a busy road: loud peaks are common there
            let peak_chance = if i + 1 == levels_len { 0.3 } else { 0.03 };
            let spike = if rng.next_f64() < peak_chance { 15.0 + rng.next_f64() * 10.0 } else { 0.0 };
            let sensor = format!("s-{}", i + 1);
            let at = now_millis();
            let reading = NoiseReading {
                sensor: sensor.clone(),
                db: ((*level + spike) * 10.0).round() / 10.0,
                at,
            };
            let event = CloudEvent::new(format!("sim-{run}-{round}-{sensor}"), SOURCE, NoiseReading::TYPE)
                .with_subject(sensor)
                .with_time_millis(at)
                .with_data(reading);
            match sink.send(&event).await {
                Ok(()) => failures = 0,
                Err(error) => {
                    failures += 1;
                    if failures == 1 || failures % 30 == 0 {
                        eprintln!("nop-simulator: {error}; going on with the next readings");
                    }
                }
            }
        }
    }
    ExitCode::SUCCESS
}
