//! `nop-recalibration`: NOP's recalibration saga against a herald gateway. It runs the
//! process manager of orchestrated sagas and the calibration participant of both styles
//! (the sensors' part is `nop-simulator`'s): it follows the gateway's stream of the
//! saga's events, decides with the pure state machines of this crate, stores calibration
//! records through `PUT /records/{name}` and publishes every command and fact through
//! `POST /events`, in the order decided.

use std::ops::ControlFlow;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use herald_client::{Client, Error};
use herald_protocol::{CloudEvent, Position};
use nop_recalibration::calibrator::{self, Calibrator, Task};
use nop_recalibration::orchestrator::Orchestrator;
use nop_recalibration::Outgoing;
use serde_json::Value;
use tokio::sync::mpsc;

/// Runs NOP's recalibration sagas (the process manager and the calibration service).
#[derive(Debug, Parser)]
#[command(name = "nop-recalibration", version)]
struct Cli {
    /// The gateway's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8787")]
    gateway: String,
    /// Milliseconds the process manager waits for the answer to a command before the
    /// step counts as failed (and its compensations run).
    #[arg(long, default_value_t = 5000)]
    step_timeout_ms: u64,
    /// A bearer token for the gateway (docs/protocol.md §3.5), when it asks for one.
    #[arg(long, env = "HERALD_TOKEN")]
    token: Option<String>,
}

/// The two participants this service runs.
struct Participants {
    orchestrator: Orchestrator,
    calibrator: Calibrator,
}

/// What the worker carries out, one at a time and in order.
enum Work {
    Publish(Outgoing),
    Calibrator(Task),
}

fn now_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Follows the saga's events live for ever, handing each to the participants whose
/// types it is of; resumes after the last position when the stream ends.
async fn follow(gateway: Client, state: Arc<Mutex<Participants>>, work: mpsc::UnboundedSender<Work>) {
    let mut types: Vec<&str> = Orchestrator::TYPES.iter().chain(Calibrator::TYPES.iter()).copied().collect();
    types.sort_unstable();
    types.dedup();
    let mut from: Option<Position> = None;
    loop {
        let result = gateway
            .stream(&types, from.map(|p| p.to_string()).as_deref(), |frame| {
                let Some(position) = frame.position else {
                    return ControlFlow::Break(()); // herald.slow or herald.drain: follow again
                };
                from = Some(position);
                let event = frame.event;
                let now = now_millis();
                let mut participants = state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if Orchestrator::TYPES.contains(&event.ty.as_str()) {
                    for outgoing in participants.orchestrator.on_event(&event, now) {
                        let _ = work.send(Work::Publish(outgoing));
                    }
                }
                if Calibrator::TYPES.contains(&event.ty.as_str()) {
                    if let Some(task) = participants.calibrator.react(&event, now) {
                        let _ = work.send(Work::Calibrator(task));
                    }
                }
                ControlFlow::Continue(())
            })
            .await;
        if let Err(error) = result {
            eprintln!("nop-recalibration: the stream: {error}; following again in 1 s");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// Publishes `event`, retrying while the gateway cannot be reached or is unavailable (the
/// id makes a retry harmless: the gateway stores an event once); an event it refuses is
/// reported and dropped.
async fn publish(gateway: &Client, event: &CloudEvent<Value>) {
    let mut attempt = 0u32;
    loop {
        match gateway.publish(event).await {
            Ok(_) => return,
            Err(Error::Refused { status, detail }) if status < 500 && status != 429 => {
                eprintln!("nop-recalibration: the gateway refused {} ({}): {status} {detail}", event.id, event.ty);
                return;
            }
            Err(error) => {
                attempt += 1;
                if attempt == 1 || attempt % 30 == 0 {
                    eprintln!("nop-recalibration: {} did not go ({error}); trying again", event.id);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Stores a new calibration of `sensor` and says what it replaced; the pointer event of
/// the new revision.
async fn calibrate(gateway: &Client, state: &Mutex<Participants>, sensor: &str, cause: &CloudEvent<Value>) -> Result<Outgoing, Error> {
    let name = calibrator::record_name(sensor);
    let previous = gateway.record(&name).await?;
    let stored = gateway.put_record(&name, &calibrator::calibration(sensor, cause.correlation_id(), now_millis())).await?;
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).calibrator.calibrated(cause, previous);
    Ok(calibrator::calibrated_event(cause, sensor, stored.revision, &stored.url, now_millis()))
}

/// Stores again the document a calibration replaced (the factory one when it replaced
/// none); the pointer event of that new revision.
async fn revert(gateway: &Client, sensor: &str, cause: &CloudEvent<Value>, previous: Option<(u64, Value)>) -> Result<Outgoing, Error> {
    let (restored, document) = match previous {
        Some((revision, document)) => (Some(revision), document),
        None => (None, calibrator::factory(sensor)),
    };
    let stored = gateway.put_record(&calibrator::record_name(sensor), &document).await?;
    Ok(calibrator::reverted_event(cause, sensor, stored.revision, &stored.url, restored, now_millis()))
}

/// Carries out the participants' work in the order it was decided.
async fn work(gateway: Client, state: Arc<Mutex<Participants>>, mut queue: mpsc::UnboundedReceiver<Work>) {
    while let Some(next) = queue.recv().await {
        let event = match next {
            Work::Publish(event) => event,
            Work::Calibrator(Task::Publish(event)) => event,
            Work::Calibrator(Task::Calibrate { sensor, cause }) => match calibrate(&gateway, &state, &sensor, &cause).await {
                Ok(event) => event,
                Err(error) => calibrator::failed_event(&cause, &sensor, &format!("cannot store the calibration: {error}"), now_millis()),
            },
            Work::Calibrator(Task::Revert { sensor, cause, previous }) => match revert(&gateway, &sensor, &cause, previous).await {
                Ok(event) => event,
                Err(error) => {
                    // a compensation that cannot be done: the process manager times out on
                    // it and calls the saga stuck; an operator has to look
                    eprintln!("nop-recalibration: cannot revert the calibration of {sensor}: {error}");
                    continue;
                }
            },
        };
        publish(&gateway, &event).await;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.step_timeout_ms == 0 {
        eprintln!("nop-recalibration: --step-timeout-ms must be at least 1");
        return ExitCode::from(2);
    }
    let gateway = Client::new(&cli.gateway).with_token(cli.token.clone());
    let state = Arc::new(Mutex::new(Participants {
        orchestrator: Orchestrator::new(cli.step_timeout_ms),
        calibrator: Calibrator::default(),
    }));
    let (queue, work_queue) = mpsc::unbounded_channel();
    eprintln!(
        "nop-recalibration: running the recalibration sagas of {} (a step times out after {} ms)",
        gateway.base(),
        cli.step_timeout_ms
    );
    tokio::spawn(follow(gateway.clone(), state.clone(), queue.clone()));
    tokio::spawn(work(gateway, state.clone(), work_queue));
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        let due = state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).orchestrator.on_tick(now_millis());
        for event in due {
            let _ = queue.send(Work::Publish(event));
        }
    }
}
