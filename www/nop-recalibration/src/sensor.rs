//! The sensor producer's part of the saga (`nop-simulator` runs it for its sensors): take
//! a sensor offline, put it back online.
//!
//! Orchestrated, it carries out the process manager's commands for those two steps.
//! Choreographed, it reacts to facts: a request makes it take the sensor offline; the
//! calibration (`nop.sensor.calibrated`) makes it put the sensor back online; a failed
//! calibration, or a reverted one, makes it put the sensor back online as a compensation.

use herald_protocol::CloudEvent;
use nop_events::{
    CalibrationReverted, RecalibrationCommand, RecalibrationFailed, RecalibrationRequested, RecalibrationStep, SagaStyle,
    SensorCalibrated, SensorOffline, SensorOnline,
};
use serde_json::Value;

use crate::{caused, payload, Chains, Outgoing, INJECTED};

/// What the producer is to do to one of its sensors, and the facts to publish once done.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reaction {
    /// `Some((sensor, offline))`: take the sensor offline (`true`) or back online.
    pub set_offline: Option<(String, bool)>,
    /// The events to publish after that, in order.
    pub publish: Vec<Outgoing>,
}

/// The producer's participant: the choreographed sagas of its sensors under way, with the
/// step each injects a failure at.
#[derive(Debug, Clone)]
pub struct SensorParticipant {
    source: String,
    sagas: Chains<Option<RecalibrationStep>>,
}

impl SensorParticipant {
    /// A participant publishing as `source` (the producer's CloudEvents `source`).
    pub fn new(source: &str) -> Self {
        SensorParticipant { source: source.to_owned(), sagas: Chains::default() }
    }

    /// The event types it reacts to.
    pub const TYPES: [&'static str; 5] = [
        <RecalibrationRequested as herald_protocol::Event>::TYPE,
        <RecalibrationCommand as herald_protocol::Event>::TYPE,
        <SensorCalibrated as herald_protocol::Event>::TYPE,
        <RecalibrationFailed as herald_protocol::Event>::TYPE,
        <CalibrationReverted as herald_protocol::Event>::TYPE,
    ];

    /// How many choreographed sagas it is part of now.
    pub fn under_way(&self) -> usize {
        self.sagas.len()
    }

    /// Reacts to `event` when it concerns a sensor `owns` says is the producer's.
    pub fn react(&mut self, event: &CloudEvent<Value>, owns: impl Fn(&str) -> bool, now_ms: u64) -> Reaction {
        let saga = event.correlation_id().to_owned();
        if let Some(request) = payload::<RecalibrationRequested>(event) {
            if request.style != SagaStyle::Choreographed || !owns(&request.sensor) {
                return Reaction::default();
            }
            if request.fail_at == Some(RecalibrationStep::Offline) {
                return self.fail(event, &request.sensor, RecalibrationStep::Offline, now_ms);
            }
            self.sagas.insert(&saga, request.fail_at);
            return self.offline(event, &request.sensor, now_ms);
        }
        if let Some(command) = payload::<RecalibrationCommand>(event) {
            if !owns(&command.sensor) {
                return Reaction::default();
            }
            return match (command.step, command.compensate, command.fail) {
                (RecalibrationStep::Offline, false, true) | (RecalibrationStep::Online, false, true) => {
                    self.fail(event, &command.sensor, command.step, now_ms)
                }
                (RecalibrationStep::Offline, false, false) => self.offline(event, &command.sensor, now_ms),
                (RecalibrationStep::Offline, true, _) => self.online(event, &command.sensor, true, now_ms),
                (RecalibrationStep::Online, false, false) => self.online(event, &command.sensor, false, now_ms),
                // the last step has no compensation; calibrating is not the producer's
                (RecalibrationStep::Online, true, _) | (RecalibrationStep::Calibrate, _, _) => Reaction::default(),
            };
        }
        // the choreographed sagas under way: the other participants' facts
        let Some(&fail_at) = self.sagas.get(&saga) else {
            return Reaction::default();
        };
        if let Some(calibrated) = payload::<SensorCalibrated>(event) {
            if fail_at == Some(RecalibrationStep::Online) {
                // the calibrator reverts on this failure; back online after that
                return self.fail(event, &calibrated.sensor, RecalibrationStep::Online, now_ms);
            }
            self.sagas.remove(&saga);
            return self.online(event, &calibrated.sensor, false, now_ms);
        }
        let compensate = match payload::<RecalibrationFailed>(event) {
            Some(failed) if failed.step == RecalibrationStep::Calibrate => Some(failed.sensor),
            _ => payload::<CalibrationReverted>(event).map(|reverted| reverted.sensor),
        };
        match compensate {
            Some(sensor) if owns(&sensor) => {
                self.sagas.remove(&saga);
                self.online(event, &sensor, true, now_ms)
            }
            _ => Reaction::default(),
        }
    }

    fn offline(&self, cause: &CloudEvent<Value>, sensor: &str, now_ms: u64) -> Reaction {
        let fact = SensorOffline { sensor: sensor.to_owned(), at: now_ms };
        Reaction {
            set_offline: Some((sensor.to_owned(), true)),
            publish: vec![caused::<SensorOffline>(cause, "offline", &self.source, sensor, &fact, now_ms)],
        }
    }

    fn online(&self, cause: &CloudEvent<Value>, sensor: &str, compensation: bool, now_ms: u64) -> Reaction {
        let fact = SensorOnline { sensor: sensor.to_owned(), compensation, at: now_ms };
        let step = if compensation { "online-again" } else { "online" };
        Reaction {
            set_offline: Some((sensor.to_owned(), false)),
            publish: vec![caused::<SensorOnline>(cause, step, &self.source, sensor, &fact, now_ms)],
        }
    }

    fn fail(&self, cause: &CloudEvent<Value>, sensor: &str, step: RecalibrationStep, now_ms: u64) -> Reaction {
        let fact = RecalibrationFailed { sensor: sensor.to_owned(), step, reason: INJECTED.to_owned() };
        let name = format!("failed-{}", step_name(step));
        Reaction { set_offline: None, publish: vec![caused::<RecalibrationFailed>(cause, &name, &self.source, sensor, &fact, now_ms)] }
    }
}

/// A step's name on the wire: `offline`, `calibrate`, `online`.
pub fn step_name(step: RecalibrationStep) -> &'static str {
    match step {
        RecalibrationStep::Offline => "offline",
        RecalibrationStep::Calibrate => "calibrate",
        RecalibrationStep::Online => "online",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_protocol::Event;
    use serde_json::json;

    fn request(id: &str, sensor: &str, style: &str, fail_at: Value) -> CloudEvent<Value> {
        CloudEvent::new(id, "/mfe/nop-recalibration", RecalibrationRequested::TYPE)
            .with_data(json!({"sensor": sensor, "style": style, "fail_at": fail_at}))
    }

    fn fact(cause: &CloudEvent<Value>, ty: &str, data: Value) -> CloudEvent<Value> {
        CloudEvent::new(format!("{}.x", cause.id), "urn:nop:calibration", ty).with_data(data).caused_by(cause)
    }

    fn ours(sensor: &str) -> bool {
        sensor == "s-1"
    }

    #[test]
    fn choreographed_it_goes_offline_on_the_request_and_online_once_calibrated() {
        let mut producer = SensorParticipant::new("urn:nop:simulator");
        let asked = request("r1", "s-1", "choreographed", Value::Null);
        let off = producer.react(&asked, ours, 5);
        assert_eq!(off.set_offline, Some(("s-1".into(), true)));
        let [offline] = off.publish.as_slice() else { panic!("{off:?}") };
        assert_eq!((offline.ty.as_str(), offline.id.as_str()), (SensorOffline::TYPE, "r1.offline"));
        assert_eq!(offline.correlation_id(), "r1");
        assert_eq!(offline.causationid.as_deref(), Some("r1"));
        let calibrated = fact(offline, SensorCalibrated::TYPE, json!({"sensor": "s-1", "revision": 2, "record": "/records/x?revision=2", "at": 1}));
        let on = producer.react(&calibrated, ours, 6);
        assert_eq!(on.set_offline, Some(("s-1".into(), false)));
        assert_eq!(on.publish[0].data.as_ref().unwrap()["compensation"], false);
        assert_eq!(producer.under_way(), 0, "the saga is over for it");
    }

    #[test]
    fn it_ignores_other_producers_sensors_and_orchestrated_requests() {
        let mut producer = SensorParticipant::new("urn:nop:simulator");
        assert_eq!(producer.react(&request("r1", "s-7", "choreographed", Value::Null), ours, 1), Reaction::default());
        assert_eq!(producer.react(&request("r2", "s-1", "orchestrated", Value::Null), ours, 1), Reaction::default());
        let stray = fact(&request("r3", "s-1", "choreographed", Value::Null), SensorCalibrated::TYPE, json!({"sensor": "s-1", "revision": 1, "record": "/r", "at": 1}));
        assert_eq!(producer.react(&stray, ours, 1), Reaction::default(), "not a saga it is part of");
    }

    #[test]
    fn choreographed_failures_put_the_sensor_back_online_as_the_compensation() {
        // failing at offline: nothing done, nothing to undo
        let mut producer = SensorParticipant::new("urn:nop:simulator");
        let at_offline = producer.react(&request("r1", "s-1", "choreographed", json!("offline")), ours, 1);
        assert_eq!(at_offline.set_offline, None);
        assert_eq!(at_offline.publish[0].data.as_ref().unwrap()["step"], "offline");
        assert_eq!(producer.under_way(), 0);

        // failing at calibrate: back online, a compensation
        let asked = request("r2", "s-1", "choreographed", json!("calibrate"));
        let offline = producer.react(&asked, ours, 1).publish.remove(0);
        let failed = fact(&offline, RecalibrationFailed::TYPE, json!({"sensor": "s-1", "step": "calibrate", "reason": INJECTED}));
        let back = producer.react(&failed, ours, 2);
        assert_eq!(back.set_offline, Some(("s-1".into(), false)));
        assert_eq!(back.publish[0].id, "r2.online-again");
        assert_eq!(back.publish[0].data.as_ref().unwrap()["compensation"], true);

        // failing at online: the failure, then back online once the calibration is reverted
        let asked = request("r3", "s-1", "choreographed", json!("online"));
        let offline = producer.react(&asked, ours, 1).publish.remove(0);
        let calibrated = fact(&offline, SensorCalibrated::TYPE, json!({"sensor": "s-1", "revision": 3, "record": "/r", "at": 1}));
        let refused = producer.react(&calibrated, ours, 2);
        assert_eq!(refused.set_offline, None, "it stays offline");
        assert_eq!(refused.publish[0].data.as_ref().unwrap()["step"], "online");
        let reverted = fact(&refused.publish[0], CalibrationReverted::TYPE, json!({"sensor": "s-1", "revision": 4, "record": "/r", "restored": 2, "at": 3}));
        let back = producer.react(&reverted, ours, 3);
        assert_eq!(back.set_offline, Some(("s-1".into(), false)));
        assert_eq!(back.publish[0].data.as_ref().unwrap()["compensation"], true);
    }

    #[test]
    fn orchestrated_it_carries_out_commands_for_its_steps_only() {
        let mut producer = SensorParticipant::new("urn:nop:simulator");
        let asked = request("r1", "s-1", "orchestrated", Value::Null);
        let command = |step: &str, compensate: bool, fail: bool| {
            fact(&asked, RecalibrationCommand::TYPE, json!({"sensor": "s-1", "step": step, "compensate": compensate, "fail": fail}))
        };
        assert_eq!(producer.react(&command("offline", false, false), ours, 1).set_offline, Some(("s-1".into(), true)));
        assert_eq!(producer.react(&command("offline", true, false), ours, 1).publish[0].data.as_ref().unwrap()["compensation"], true);
        assert_eq!(producer.react(&command("online", false, false), ours, 1).publish[0].data.as_ref().unwrap()["compensation"], false);
        let failed = producer.react(&command("online", false, true), ours, 1);
        assert_eq!((failed.set_offline, failed.publish[0].ty.as_str()), (None, RecalibrationFailed::TYPE));
        assert_eq!(producer.react(&command("calibrate", false, false), ours, 1), Reaction::default());
        assert_eq!(producer.under_way(), 0, "orchestrated sagas are the process manager's to remember");
    }
}
