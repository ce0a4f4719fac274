//! The calibration service's part of the saga: calibrate a sensor (a new revision of its
//! calibration record `nop.calibration.{sensor}`, then the `nop.sensor.calibrated`
//! pointer), and undo that (the replaced document stored again as the next revision,
//! `nop.calibration.reverted`).
//!
//! Orchestrated, it carries out the process manager's `calibrate` commands. Choreographed,
//! it calibrates once the sensor of a saga it heard of is offline, and reverts when the
//! sensor then fails to go back online.

use herald_protocol::CloudEvent;
use nop_events::{
    CalibrationReverted, RecalibrationCommand, RecalibrationFailed, RecalibrationRequested, RecalibrationStep, SagaStyle,
    SensorCalibrated, SensorOffline, SensorOnline,
};
use serde_json::{json, Value};

use crate::{caused, payload, Chains, Outgoing, INJECTED};

/// The calibration service's `source`.
pub const SOURCE: &str = "urn:nop:calibration";

/// What the calibration service is to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// Store a new calibration of `sensor` and publish the pointer, in `cause`'s chain.
    Calibrate {
        /// The sensor.
        sensor: String,
        /// The event that asked for it.
        cause: CloudEvent<Value>,
    },
    /// Store again the document the saga's calibration replaced and publish that, in
    /// `cause`'s chain.
    Revert {
        /// The sensor.
        sensor: String,
        /// The event that asked for it.
        cause: CloudEvent<Value>,
        /// The revision and document to restore (`None`: the factory calibration).
        previous: Option<(u64, Value)>,
    },
    /// Publish this event (a failed step).
    Publish(Outgoing),
}

#[derive(Debug, Clone, Default)]
struct Saga {
    choreographed: bool,
    fail_at: Option<RecalibrationStep>,
    /// What the saga's calibration replaced, once it is done.
    replaced: Option<Option<(u64, Value)>>,
}

/// The calibration participant: the sagas it is part of.
#[derive(Debug, Clone, Default)]
pub struct Calibrator {
    sagas: Chains<Saga>,
}

impl Calibrator {
    /// The event types it reacts to.
    pub const TYPES: [&'static str; 5] = [
        <RecalibrationRequested as herald_protocol::Event>::TYPE,
        <RecalibrationCommand as herald_protocol::Event>::TYPE,
        <SensorOffline as herald_protocol::Event>::TYPE,
        <SensorOnline as herald_protocol::Event>::TYPE,
        <RecalibrationFailed as herald_protocol::Event>::TYPE,
    ];

    /// What to do on `event`, if anything.
    pub fn react(&mut self, event: &CloudEvent<Value>, now_ms: u64) -> Option<Task> {
        let saga = event.correlation_id().to_owned();
        if let Some(request) = payload::<RecalibrationRequested>(event) {
            if request.style == SagaStyle::Choreographed {
                self.sagas.insert(&saga, Saga { choreographed: true, fail_at: request.fail_at, replaced: None });
            }
            return None;
        }
        if let Some(command) = payload::<RecalibrationCommand>(event) {
            if command.step != RecalibrationStep::Calibrate {
                return None;
            }
            if command.compensate {
                let previous = self.sagas.remove(&saga)?.replaced?;
                return Some(Task::Revert { sensor: command.sensor, cause: event.clone(), previous });
            }
            if command.fail {
                return Some(fail(event, &command.sensor, now_ms));
            }
            self.sagas.insert(&saga, Saga::default());
            return Some(Task::Calibrate { sensor: command.sensor, cause: event.clone() });
        }
        let known = self.sagas.get(&saga).filter(|s| s.choreographed)?;
        if let Some(offline) = payload::<SensorOffline>(event) {
            if known.fail_at == Some(RecalibrationStep::Calibrate) {
                self.sagas.remove(&saga);
                return Some(fail(event, &offline.sensor, now_ms));
            }
            return Some(Task::Calibrate { sensor: offline.sensor, cause: event.clone() });
        }
        if let Some(failed) = payload::<RecalibrationFailed>(event) {
            if failed.step == RecalibrationStep::Online {
                let previous = self.sagas.remove(&saga)?.replaced?;
                return Some(Task::Revert { sensor: failed.sensor, cause: event.clone(), previous });
            }
            if failed.step == RecalibrationStep::Offline {
                self.sagas.remove(&saga); // nothing was done: the saga is over
            }
            return None;
        }
        if payload::<SensorOnline>(event).is_some() {
            self.sagas.remove(&saga); // done, or compensated: over either way
        }
        None
    }

    /// Remembers that the saga of `cause` calibrated, replacing `previous` (the revision
    /// and document that were the latest, `None` when there was none): what a revert
    /// restores.
    pub fn calibrated(&mut self, cause: &CloudEvent<Value>, previous: Option<(u64, Value)>) {
        if let Some(saga) = self.sagas.get_mut(cause.correlation_id()) {
            saga.replaced = Some(previous);
        }
    }
}

/// The record a sensor's calibration is kept in (docs/protocol.md §3.16).
pub fn record_name(sensor: &str) -> String {
    format!("nop.calibration.{sensor}")
}

/// A sensor's calibration before any was stored.
pub fn factory(sensor: &str) -> Value {
    json!({"sensor": sensor, "offset_db": 0.0, "reference_db": 94.0, "by": "factory"})
}

/// A new calibration of `sensor` at `now_ms` in `saga`: the offset measured against the
/// 94 dB reference (simulated: a few tenths of a dB either way).
pub fn calibration(sensor: &str, saga: &str, now_ms: u64) -> Value {
    let offset = ((now_ms % 41) as f64 - 20.0) / 40.0;
    json!({"sensor": sensor, "offset_db": offset, "reference_db": 94.0, "by": "nop-recalibration", "at": now_ms, "saga": saga})
}

/// The pointer event of a calibration stored as `revision` at `url`.
pub fn calibrated_event(cause: &CloudEvent<Value>, sensor: &str, revision: u64, url: &str, now_ms: u64) -> Outgoing {
    let fact = SensorCalibrated { sensor: sensor.to_owned(), revision, record: url.to_owned(), at: now_ms };
    caused::<SensorCalibrated>(cause, "calibrated", SOURCE, sensor, &fact, now_ms)
}

/// The pointer event of a reverted calibration: `restored`'s document stored again as
/// `revision` at `url`.
pub fn reverted_event(cause: &CloudEvent<Value>, sensor: &str, revision: u64, url: &str, restored: Option<u64>, now_ms: u64) -> Outgoing {
    let fact = CalibrationReverted { sensor: sensor.to_owned(), revision, record: url.to_owned(), restored, at: now_ms };
    caused::<CalibrationReverted>(cause, "reverted", SOURCE, sensor, &fact, now_ms)
}

/// The calibration step failed, for `reason`.
pub fn failed_event(cause: &CloudEvent<Value>, sensor: &str, reason: &str, now_ms: u64) -> Outgoing {
    let fact = RecalibrationFailed { sensor: sensor.to_owned(), step: RecalibrationStep::Calibrate, reason: reason.to_owned() };
    caused::<RecalibrationFailed>(cause, "failed-calibrate", SOURCE, sensor, &fact, now_ms)
}

fn fail(cause: &CloudEvent<Value>, sensor: &str, now_ms: u64) -> Task {
    Task::Publish(failed_event(cause, sensor, INJECTED, now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_protocol::Event;

    fn event(id: &str, ty: &str, data: Value, cause: Option<&CloudEvent<Value>>) -> CloudEvent<Value> {
        let e = CloudEvent::new(id, "/test", ty).with_data(data);
        match cause {
            Some(cause) => e.caused_by(cause),
            None => e,
        }
    }

    #[test]
    fn choreographed_it_calibrates_once_the_sensor_is_offline_and_reverts_when_it_cannot_go_online() {
        let mut calibrator = Calibrator::default();
        let asked = event("r1", RecalibrationRequested::TYPE, json!({"sensor": "s-2", "style": "choreographed", "fail_at": "online"}), None);
        assert_eq!(calibrator.react(&asked, 1), None);
        let offline = event("r1.offline", SensorOffline::TYPE, json!({"sensor": "s-2", "at": 1}), Some(&asked));
        let Some(Task::Calibrate { sensor, cause }) = calibrator.react(&offline, 2) else { panic!("no calibration") };
        assert_eq!((sensor.as_str(), cause.id.as_str()), ("s-2", "r1.offline"));
        calibrator.calibrated(&cause, Some((3, json!({"offset_db": 0.1}))));
        let refused = event("r1.failed-online", RecalibrationFailed::TYPE, json!({"sensor": "s-2", "step": "online", "reason": INJECTED}), Some(&offline));
        let Some(Task::Revert { previous, .. }) = calibrator.react(&refused, 3) else { panic!("no revert") };
        assert_eq!(previous, Some((3, json!({"offset_db": 0.1}))));
        assert_eq!(calibrator.react(&refused, 4), None, "reverted once");
    }

    #[test]
    fn choreographed_an_injected_calibration_failure_is_published_and_the_saga_forgotten() {
        let mut calibrator = Calibrator::default();
        let asked = event("r2", RecalibrationRequested::TYPE, json!({"sensor": "s-1", "style": "choreographed", "fail_at": "calibrate"}), None);
        calibrator.react(&asked, 1);
        let offline = event("r2.offline", SensorOffline::TYPE, json!({"sensor": "s-1", "at": 1}), Some(&asked));
        let Some(Task::Publish(failed)) = calibrator.react(&offline, 2) else { panic!("no failure") };
        assert_eq!((failed.id.as_str(), failed.ty.as_str()), ("r2.failed-calibrate", RecalibrationFailed::TYPE));
        assert_eq!(failed.data.as_ref().unwrap()["step"], "calibrate");
        assert_eq!(calibrator.react(&offline, 3), None);
    }

    #[test]
    fn it_does_not_react_to_sagas_it_did_not_hear_of_or_to_orchestrated_facts() {
        let mut calibrator = Calibrator::default();
        let offline = event("x.offline", SensorOffline::TYPE, json!({"sensor": "s-1", "at": 1}), None);
        assert_eq!(calibrator.react(&offline, 1), None);
        let asked = event("r3", RecalibrationRequested::TYPE, json!({"sensor": "s-1", "style": "orchestrated"}), None);
        calibrator.react(&asked, 1);
        let offline = event("r3.offline", SensorOffline::TYPE, json!({"sensor": "s-1", "at": 1}), Some(&asked));
        assert_eq!(calibrator.react(&offline, 2), None, "the process manager commands it");
    }

    #[test]
    fn orchestrated_it_calibrates_fails_or_reverts_on_command() {
        let mut calibrator = Calibrator::default();
        let asked = event("r4", RecalibrationRequested::TYPE, json!({"sensor": "s-1", "style": "orchestrated"}), None);
        let command = |compensate: bool, fail: bool| {
            event("r4.do", RecalibrationCommand::TYPE, json!({"sensor": "s-1", "step": "calibrate", "compensate": compensate, "fail": fail}), Some(&asked))
        };
        assert!(matches!(calibrator.react(&command(false, true), 1), Some(Task::Publish(_))));
        let Some(Task::Calibrate { cause, .. }) = calibrator.react(&command(false, false), 1) else { panic!() };
        calibrator.calibrated(&cause, None);
        assert_eq!(
            calibrator.react(&command(true, false), 2),
            Some(Task::Revert { sensor: "s-1".into(), cause: command(true, false), previous: None })
        );
        let other = event("r5.do", RecalibrationCommand::TYPE, json!({"sensor": "s-1", "step": "offline", "compensate": false}), None);
        assert_eq!(calibrator.react(&other, 3), None, "not its step");
    }

    #[test]
    fn a_calibration_is_a_document_of_the_sensor_against_the_reference() {
        let doc = calibration("s-1", "r1", 1_000);
        assert_eq!(doc["sensor"], "s-1");
        assert_eq!(doc["reference_db"], 94.0);
        assert!(doc["offset_db"].as_f64().unwrap().abs() <= 0.5);
        assert_eq!(record_name("s-1"), "nop.calibration.s-1");
    }
}
