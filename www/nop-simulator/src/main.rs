//! `nop-simulator`: a NOP producer. It simulates noise sensors and posts their readings to
//! the herald gateway as structured-mode CloudEvents, through the public HTTP API.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use herald_protocol::{CloudEvent, Event, CLOUDEVENTS_JSON};
use nop_events::NoiseReading;

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
    let client = reqwest::Client::new();
    let url = format!("{}/events", cli.gateway.trim_end_matches('/'));
    eprintln!("nop-simulator: posting readings of {} sensors to {url}", cli.sensors);
    let mut interval = tokio::time::interval(Duration::from_millis(cli.interval_ms.max(1)));
    let mut failures = 0u32;
    let levels_len = levels.len();
    for round in 0.. {
        if cli.rounds.is_some_and(|n| round >= n) {
            break;
        }
        interval.tick().await;
        for (i, level) in levels.iter_mut().enumerate() {
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
            let event = CloudEvent::new(format!("sim-{run}-{round}-{sensor}"), "urn:nop:simulator", NoiseReading::TYPE)
                .with_subject(sensor)
                .with_time_millis(at)
                .with_data(reading);
            let sent = client
                .post(&url)
                .header("content-type", CLOUDEVENTS_JSON)
                .json(&event)
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => failures = 0,
                Ok(response) => {
                    let status = response.status();
                    let body = response.text().await.unwrap_or_default();
                    eprintln!("nop-simulator: gateway answered {status}: {body}");
                }
                Err(error) => {
                    failures += 1;
                    if failures == 1 || failures % 30 == 0 {
                        eprintln!("nop-simulator: cannot reach the gateway ({error}); retrying");
                    }
                }
            }
        }
    }
    ExitCode::SUCCESS
}
