//! The orchestrated saga's process manager: it owns each recalibration from its request
//! to its end. It commands one step at a time (`nop.recalibration.command`), takes as the
//! answer only the fact caused by that command, and decides what comes next: the next
//! step; on a failure (or no answer within the step's time) the compensations of the steps
//! done, the last first; then `nop.recalibration.ended`. A compensation that fails or gets
//! no answer ends the saga `stuck`: a person has to look.
//!
//! ```
//! use herald_protocol::{CloudEvent, Event};
//! use nop_events::{RecalibrationCommand, RecalibrationRequested};
//! use nop_recalibration::orchestrator::Orchestrator;
//! use serde_json::json;
//!
//! let mut manager = Orchestrator::new(5_000);
//! let request = CloudEvent::new("r1", "/mfe/nop-recalibration", RecalibrationRequested::TYPE)
//!     .with_data(json!({"sensor": "s-1", "style": "orchestrated"}));
//! let sent = manager.on_event(&request, 0);
//! assert_eq!(sent[0].ty, RecalibrationCommand::TYPE);
//! assert_eq!(sent[0].data.as_ref().unwrap()["step"], "offline");
//! assert_eq!(manager.next_deadline(), Some(5_000));
//! ```

use herald_protocol::{CloudEvent, DeadLetter};
use nop_events::{
    CalibrationReverted, RecalibrationCommand, RecalibrationEnded, RecalibrationFailed, RecalibrationOutcome, RecalibrationRequested,
    RecalibrationStep, SagaStyle, SensorCalibrated, SensorOffline, SensorOnline,
};
use serde_json::Value;

use crate::sensor::step_name;
use crate::{caused, payload, Chains, Outgoing};

/// The process manager's `source`.
pub const SOURCE: &str = "urn:nop:recalibration";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Doing(RecalibrationStep),
    Undoing(RecalibrationStep),
}

#[derive(Debug, Clone)]
struct Saga {
    sensor: String,
    fail_at: Option<RecalibrationStep>,
    phase: Phase,
    /// The command waiting for its answer.
    waiting: CloudEvent<Value>,
    deadline: u64,
    failed: Option<RecalibrationStep>,
    compensated: Vec<RecalibrationStep>,
}

/// The process manager of orchestrated recalibrations.
#[derive(Debug, Clone)]
pub struct Orchestrator {
    step_timeout_ms: u64,
    sagas: Chains<Saga>,
}

impl Orchestrator {
    /// The event types it reacts to.
    pub const TYPES: [&'static str; 6] = [
        <RecalibrationRequested as herald_protocol::Event>::TYPE,
        <SensorOffline as herald_protocol::Event>::TYPE,
        <SensorCalibrated as herald_protocol::Event>::TYPE,
        <SensorOnline as herald_protocol::Event>::TYPE,
        <CalibrationReverted as herald_protocol::Event>::TYPE,
        <RecalibrationFailed as herald_protocol::Event>::TYPE,
    ];

    /// A process manager that gives each step `step_timeout_ms` to be answered.
    pub fn new(step_timeout_ms: u64) -> Self {
        Orchestrator { step_timeout_ms, sagas: Chains::default() }
    }

    /// How many sagas are under way.
    pub fn under_way(&self) -> usize {
        self.sagas.len()
    }

    /// When the next unanswered step times out (milliseconds since the Unix epoch).
    pub fn next_deadline(&self) -> Option<u64> {
        self.sagas.iter().map(|(_, saga)| saga.deadline).min()
    }

    /// What to publish on `event`, in order.
    pub fn on_event(&mut self, event: &CloudEvent<Value>, now_ms: u64) -> Vec<Outgoing> {
        let chain = event.correlation_id().to_owned();
        if event.ty == <RecalibrationRequested as herald_protocol::Event>::TYPE && payload::<RecalibrationRequested>(event).is_none() {
            return vec![dead_letter(event, now_ms)];
        }
        if let Some(request) = payload::<RecalibrationRequested>(event) {
            if request.style != SagaStyle::Orchestrated || self.sagas.get(&chain).is_some() {
                return Vec::new();
            }
            let mut saga = Saga {
                sensor: request.sensor,
                fail_at: request.fail_at,
                phase: Phase::Doing(RecalibrationStep::Offline),
                waiting: event.clone(),
                deadline: 0,
                failed: None,
                compensated: Vec::new(),
            };
            let first = self.command(&mut saga, event, Phase::Doing(RecalibrationStep::Offline), now_ms);
            self.sagas.insert(&chain, saga);
            return vec![first];
        }
        let Some(mut saga) = self.sagas.remove(&chain) else {
            return Vec::new();
        };
        if event.causationid.as_deref() != Some(saga.waiting.id.as_str()) {
            // not the answer to the command it waits on (a late answer, or another's)
            self.sagas.insert(&chain, saga);
            return Vec::new();
        }
        use RecalibrationStep::{Calibrate, Offline, Online};
        let failure = payload::<RecalibrationFailed>(event).map(|failed| failed.step);
        let next = match (saga.phase, event.ty.as_str(), failure) {
            (Phase::Doing(step), _, Some(failed)) if failed == step => return self.fail(saga, event, step, false, now_ms),
            (Phase::Undoing(_), _, Some(_)) => return self.end(&mut saga, event, RecalibrationOutcome::Stuck, now_ms),
            (Phase::Doing(Offline), ty, _) if ty == <SensorOffline as herald_protocol::Event>::TYPE => Phase::Doing(Calibrate),
            (Phase::Doing(Calibrate), ty, _) if ty == <SensorCalibrated as herald_protocol::Event>::TYPE => Phase::Doing(Online),
            (Phase::Doing(Online), _, _) if payload::<SensorOnline>(event).is_some_and(|on| !on.compensation) => {
                return self.end(&mut saga, event, RecalibrationOutcome::Completed, now_ms);
            }
            (Phase::Undoing(Calibrate), ty, _) if ty == <CalibrationReverted as herald_protocol::Event>::TYPE => {
                saga.compensated.push(Calibrate);
                Phase::Undoing(Offline)
            }
            (Phase::Undoing(Offline), _, _) if payload::<SensorOnline>(event).is_some_and(|on| on.compensation) => {
                saga.compensated.push(Offline);
                return self.end(&mut saga, event, RecalibrationOutcome::Compensated, now_ms);
            }
            _ => {
                self.sagas.insert(&chain, saga);
                return Vec::new();
            }
        };
        let command = self.command(&mut saga, event, next, now_ms);
        self.sagas.insert(&chain, saga);
        vec![command]
    }

    /// What to publish for the steps whose time ran out by `now_ms`: a step that got no
    /// answer failed, a compensation that got none leaves the saga stuck.
    pub fn on_tick(&mut self, now_ms: u64) -> Vec<Outgoing> {
        let due: Vec<String> = self.sagas.iter().filter(|(_, s)| s.deadline <= now_ms).map(|(c, _)| c.to_owned()).collect();
        let mut out = Vec::new();
        for chain in due {
            let Some(mut saga) = self.sagas.remove(&chain) else { continue };
            let cause = saga.waiting.clone();
            match saga.phase {
                Phase::Doing(step) => {
                    let reason = format!("no answer within {} s", self.step_timeout_ms as f64 / 1000.0);
                    let fact = RecalibrationFailed { sensor: saga.sensor.clone(), step, reason };
                    let failed = caused::<RecalibrationFailed>(&cause, &format!("failed-{}", step_name(step)), SOURCE, &saga.sensor, &fact, now_ms);
                    out.push(failed.clone());
                    out.extend(self.fail(saga, &failed, step, true, now_ms));
                }
                Phase::Undoing(_) => out.extend(self.end(&mut saga, &cause, RecalibrationOutcome::Stuck, now_ms)),
            }
        }
        out
    }

    /// `step` failed (`timed_out`: it got no answer, so it may yet happen and is undone
    /// too when it can be): the compensations of what was done, or the end.
    fn fail(&mut self, mut saga: Saga, cause: &CloudEvent<Value>, step: RecalibrationStep, timed_out: bool, now_ms: u64) -> Vec<Outgoing> {
        saga.failed = Some(step);
        let undo = match step {
            RecalibrationStep::Offline if timed_out => Some(RecalibrationStep::Offline),
            RecalibrationStep::Offline => None,
            RecalibrationStep::Calibrate => Some(RecalibrationStep::Offline),
            RecalibrationStep::Online => Some(RecalibrationStep::Calibrate),
        };
        match undo {
            None => self.end(&mut saga, cause, RecalibrationOutcome::Compensated, now_ms),
            Some(first) => {
                let command = self.command(&mut saga, cause, Phase::Undoing(first), now_ms);
                self.sagas.insert(cause.correlation_id(), saga);
                vec![command]
            }
        }
    }

    fn command(&self, saga: &mut Saga, cause: &CloudEvent<Value>, phase: Phase, now_ms: u64) -> Outgoing {
        let (step, compensate) = match phase {
            Phase::Doing(step) => (step, false),
            Phase::Undoing(step) => (step, true),
        };
        let data = RecalibrationCommand { sensor: saga.sensor.clone(), step, compensate, fail: !compensate && saga.fail_at == Some(step) };
        let name = format!("{}-{}", if compensate { "undo" } else { "do" }, step_name(step));
        let command = caused::<RecalibrationCommand>(cause, &name, SOURCE, &saga.sensor, &data, now_ms);
        saga.phase = phase;
        saga.waiting = command.clone();
        saga.deadline = now_ms + self.step_timeout_ms;
        command
    }

    fn end(&mut self, saga: &mut Saga, cause: &CloudEvent<Value>, outcome: RecalibrationOutcome, now_ms: u64) -> Vec<Outgoing> {
        let data = RecalibrationEnded {
            sensor: saga.sensor.clone(),
            outcome,
            failed_step: saga.failed,
            compensated: std::mem::take(&mut saga.compensated),
        };
        vec![caused::<RecalibrationEnded>(cause, "ended", SOURCE, &saga.sensor, &data, now_ms)]
    }
}

/// A request the process manager cannot take (its payload is not a
/// [`RecalibrationRequested`]): a `herald.deadletter` in its chain, carrying it.
fn dead_letter(request: &CloudEvent<Value>, now_ms: u64) -> Outgoing {
    let reason = match serde_json::from_value::<RecalibrationRequested>(request.data.clone().unwrap_or(Value::Null)) {
        Err(error) => format!("not a recalibration request: {error}"),
        Ok(_) => "not a recalibration request".to_owned(),
    };
    let letter = DeadLetter {
        reason,
        subscriber: <RecalibrationRequested as herald_protocol::Event>::TYPE.to_owned(),
        version: 1,
        event: serde_json::to_value(request).unwrap_or(Value::Null),
    };
    CloudEvent::new(format!("{}.deadletter", request.id), SOURCE, <DeadLetter as herald_protocol::Event>::TYPE)
        .with_time_millis(now_ms)
        .with_data(serde_json::to_value(letter).unwrap_or(Value::Null))
        .caused_by(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_protocol::Event;
    use serde_json::json;

    fn request(id: &str, fail_at: Value) -> CloudEvent<Value> {
        CloudEvent::new(id, "/mfe/nop-recalibration", RecalibrationRequested::TYPE)
            .with_data(json!({"sensor": "s-1", "style": "orchestrated", "fail_at": fail_at}))
    }

    /// The participant's answer to `command`: a fact of type `ty`.
    fn answer(command: &Outgoing, ty: &str, data: Value) -> CloudEvent<Value> {
        CloudEvent::new(format!("{}.answer", command.id), "urn:nop:participant", ty).with_data(data).caused_by(command)
    }

    /// Plays a saga, the participants answering each command as `respond` says; the
    /// commands sent (`do-offline`, …) and how it ended.
    fn play(fail_at: Value, respond: impl Fn(&RecalibrationCommand) -> (&'static str, Value)) -> (Vec<String>, Value) {
        let mut manager = Orchestrator::new(1_000);
        let mut sent = manager.on_event(&request("r", fail_at), 0);
        let mut commands = Vec::new();
        for _ in 0..10 {
            let out = sent.pop().expect("something sent");
            if out.ty == RecalibrationEnded::TYPE {
                assert_eq!(manager.under_way(), 0);
                assert_eq!(out.correlation_id(), "r");
                return (commands, out.data.unwrap());
            }
            let command: RecalibrationCommand = serde_json::from_value(out.data.clone().unwrap()).unwrap();
            commands.push(out.id.trim_start_matches("r.").to_owned());
            let (ty, data) = respond(&command);
            sent = manager.on_event(&answer(&out, ty, data), 1);
        }
        panic!("no end");
    }

    /// Participants that do what they are told, and fail what is injected.
    fn honest(command: &RecalibrationCommand) -> (&'static str, Value) {
        if command.fail {
            return (RecalibrationFailed::TYPE, json!({"sensor": "s-1", "step": command.step, "reason": "injected failure"}));
        }
        match (command.step, command.compensate) {
            (RecalibrationStep::Offline, false) => (SensorOffline::TYPE, json!({"sensor": "s-1", "at": 1})),
            (RecalibrationStep::Calibrate, false) => (SensorCalibrated::TYPE, json!({"sensor": "s-1", "revision": 2, "record": "/r", "at": 1})),
            (RecalibrationStep::Online, false) => (SensorOnline::TYPE, json!({"sensor": "s-1", "compensation": false, "at": 1})),
            (RecalibrationStep::Offline, true) => (SensorOnline::TYPE, json!({"sensor": "s-1", "compensation": true, "at": 1})),
            (RecalibrationStep::Calibrate, true) => (CalibrationReverted::TYPE, json!({"sensor": "s-1", "revision": 3, "record": "/r", "restored": 1, "at": 1})),
            (RecalibrationStep::Online, true) => unreachable!("the last step has no compensation"),
        }
    }

    #[test]
    fn a_saga_without_failure_does_the_three_steps_and_completes() {
        let (commands, ended) = play(Value::Null, honest);
        assert_eq!(commands, ["do-offline", "do-calibrate", "do-online"]);
        assert_eq!(ended, json!({"sensor": "s-1", "outcome": "completed", "failed_step": null, "compensated": []}));
    }

    #[test]
    fn a_failure_at_each_step_compensates_what_was_done_the_last_first() {
        let (commands, ended) = play(json!("offline"), honest);
        assert_eq!(commands, ["do-offline"]);
        assert_eq!(ended, json!({"sensor": "s-1", "outcome": "compensated", "failed_step": "offline", "compensated": []}));

        let (commands, ended) = play(json!("calibrate"), honest);
        assert_eq!(commands, ["do-offline", "do-calibrate", "undo-offline"]);
        assert_eq!(ended["compensated"], json!(["offline"]));

        let (commands, ended) = play(json!("online"), honest);
        assert_eq!(commands, ["do-offline", "do-calibrate", "do-online", "undo-calibrate", "undo-offline"]);
        assert_eq!(ended, json!({"sensor": "s-1", "outcome": "compensated", "failed_step": "online", "compensated": ["calibrate", "offline"]}));
    }

    #[test]
    fn a_failed_compensation_leaves_the_saga_stuck() {
        let (commands, ended) = play(json!("online"), |command| {
            if command.step == RecalibrationStep::Calibrate && command.compensate {
                return (RecalibrationFailed::TYPE, json!({"sensor": "s-1", "step": "calibrate", "reason": "the record store is down"}));
            }
            honest(command)
        });
        assert_eq!(commands.last().map(String::as_str), Some("undo-calibrate"));
        assert_eq!(ended["outcome"], "stuck");
    }

    #[test]
    fn only_the_answer_to_the_command_waited_on_moves_the_saga() {
        let mut manager = Orchestrator::new(1_000);
        let sent = manager.on_event(&request("r", Value::Null), 0);
        let stray = answer(&request("r", Value::Null), SensorOffline::TYPE, json!({"sensor": "s-1", "at": 1}));
        assert!(manager.on_event(&stray, 1).is_empty(), "caused by the request, not by the command");
        let answered = answer(&sent[0], SensorOffline::TYPE, json!({"sensor": "s-1", "at": 1}));
        assert_eq!(manager.on_event(&answered, 2)[0].id, "r.do-calibrate");
        assert!(manager.on_event(&answered, 3).is_empty(), "the same answer twice moves it once");
        let other = CloudEvent::new("c", "/x", RecalibrationRequested::TYPE).with_data(json!({"sensor": "s-1", "style": "choreographed"}));
        assert!(manager.on_event(&other, 4).is_empty(), "choreographed sagas have no manager");
    }

    #[test]
    fn a_request_that_is_not_one_is_a_dead_letter_and_starts_nothing() {
        let mut manager = Orchestrator::new(1_000);
        let bad = CloudEvent::new("bad", "/x", RecalibrationRequested::TYPE).with_data(json!({"sensor": "s-1", "style": "sideways"}));
        let out = manager.on_event(&bad, 0);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].ty, "herald.deadletter");
        assert_eq!(out[0].correlation_id(), "bad");
        let letter = out[0].data.as_ref().unwrap();
        assert!(letter["reason"].as_str().unwrap().contains("sideways"), "{letter}");
        assert_eq!(letter["event"]["id"], "bad");
        assert_eq!(manager.under_way(), 0);
    }

    #[test]
    fn a_step_without_an_answer_fails_in_time_and_its_compensation_without_one_leaves_the_saga_stuck() {
        let mut manager = Orchestrator::new(1_000);
        manager.on_event(&request("r", Value::Null), 0);
        assert!(manager.on_tick(999).is_empty());
        let out = manager.on_tick(1_000);
        let kinds: Vec<&str> = out.iter().map(|e| e.id.as_str()).collect();
        // the offline step may yet happen: it is undone too
        assert_eq!(kinds, ["r.failed-offline", "r.undo-offline"]);
        assert_eq!(out[0].data.as_ref().unwrap()["reason"], "no answer within 1 s");
        assert_eq!(manager.next_deadline(), Some(2_000));
        let out = manager.on_tick(2_000);
        assert_eq!(out[0].data.as_ref().unwrap()["outcome"], "stuck");
        assert_eq!(manager.under_way(), 0);
    }
}
