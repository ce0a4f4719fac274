//! `nop-simulator`: a NOP producer. It simulates noise sensors and posts their readings to
//! the herald gateway as structured-mode CloudEvents, through the public HTTP API, or, with
//! `--amqp URL`, publishes them to a RabbitMQ topic exchange (structured mode of the
//! CloudEvents AMQP binding, persistent, with publisher confirms) as the lecture's NOP
//! does; a gateway bridging that exchange streams them on.
//!
//! It also takes commands: it follows the gateway's stream of `nop.sensor.mute`, mutes
//! (or unmutes) the sensors of its own that a command names, and acknowledges each with
//! `nop.sensor.muted` posted to the gateway in the command's chain (`causationid`: the
//! command's id). A command for a sensor it does not simulate is not its to answer.
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
    /// Take no commands (`nop.sensor.mute`) from the gateway.
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

/// Follows the gateway's commands and the recalibration sagas' events for ever: mutes or
/// unmutes the named sensor when it is one of `sensors`' and acknowledges it; takes part
/// in each recalibration of its sensors (offline, online, and the compensations).
async fn take_commands(gateway: Client, sensors: Arc<Vec<Switches>>) {
    let mut participant = SensorParticipant::new(SOURCE);
    let mut types = vec![MuteSensor::TYPE];
    types.extend(SensorParticipant::TYPES);
    let mut from: Option<Position> = None;
    loop {
        let mut answers = Vec::new();
        let result = gateway
            .stream(&types, from.map(|p| p.to_string()).as_deref(), |frame| {
                let Some(position) = frame.position else {
                    return ControlFlow::Break(()); // herald.slow or herald.drain: follow again
                };
                from = Some(position);
                let event = frame.event;
                if event.ty == MuteSensor::TYPE {
                    let Ok(mute) = serde_json::from_value::<MuteSensor>(event.data.clone().unwrap_or_default()) else {
                        eprintln!("nop-simulator: a command {} that is not a MuteSensor; ignored", event.id);
                        return ControlFlow::Continue(());
                    };
                    if let Some(switches) = index_of(&mute.sensor, sensors.len()).map(|i| &sensors[i]) {
                        switches.muted.store(mute.muted, Ordering::Relaxed);
                        let ack = SensorMuted { sensor: mute.sensor, muted: mute.muted, at: now_millis() };
                        let ack = CloudEvent::new(format!("{}-ack", event.id), SOURCE, SensorMuted::TYPE)
                            .with_subject(ack.sensor.clone())
                            .with_time_millis(ack.at)
                            .with_data(serde_json::to_value(ack).unwrap_or_default())
                            .caused_by(&event);
                        answers.push(ack);
                    }
                } else {
                    let reaction = participant.react(&event, |s| index_of(s, sensors.len()).is_some(), now_millis());
                    if let Some((sensor, offline)) = reaction.set_offline {
                        if let Some(i) = index_of(&sensor, sensors.len()) {
                            sensors[i].offline.store(offline, Ordering::Relaxed);
                        }
                    }
                    answers.extend(reaction.publish);
                }
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

/// Publishes `event` in structured mode and waits for the broker's confirm.
async fn publish(
    url: &str,
    exchange: &str,
    channel: &mut Option<lapin::Channel>,
    event: &CloudEvent<NoiseReading>,
) -> Result<(), String> {
    use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
    if channel.is_none() {
        let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
            .await
            .map_err(|e| format!("cannot reach RabbitMQ ({e})"))?;
        let opened = connection.create_channel().await.map_err(|e| e.to_string())?;
        opened
            .exchange_declare(
                exchange.into(),
                lapin::ExchangeKind::Topic,
                ExchangeDeclareOptions { durable: true, ..Default::default() },
                lapin::types::FieldTable::default(),
            )
            .await
            .map_err(|e| e.to_string())?;
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
        .basic_publish(exchange.into(), NoiseReading::TYPE.into(), BasicPublishOptions::default(), &body, properties)
        .await
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    if confirm.is_nack() {
        return Err("RabbitMQ did not take the reading (nack)".into());
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
        tokio::spawn(take_commands(Client::new(&cli.gateway), switches.clone()));
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
