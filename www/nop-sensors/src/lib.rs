//! NOP's read model: event sourcing and CQRS on herald.
//!
//! The gateway's log is the event store; this crate's [`Projection`] folds the NOP events
//! of that log, in position order, into the current state of every sensor: its level, how
//! many readings, whether it is muted, its last calibration, its alerts of the last hour.
//! The `nop-sensors` binary follows the gateway's stream into one, serves it over REST
//! (the query side, apart from the command side that writes events), and rebuilds it from
//! position zero on demand (`POST /rebuild`), which must give the same state.
//!
//! ```
//! use herald_protocol::{CloudEvent, Position};
//! use nop_sensors::Projection;
//!
//! let reading: CloudEvent = CloudEvent::new("r-1", "/sim", "nop.noise.reading")
//!     .with_data(serde_json::json!({"sensor": "s-1", "db": 61.5, "at": 1_764_000_000_000u64}));
//! let mut model = Projection::default();
//! model.apply(Position::new(7, 1), &reading);
//! let view = model.view(1_764_000_000_000);
//! assert_eq!(view["sensors"][0]["level_db"], 61.5);
//! assert_eq!(view["position"], "7-1");
//! ```
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use herald_protocol::{CloudEvent, Event, Position};
use nop_events::{NoiseAlert, NoiseReading, SensorCalibrated, SensorMuted};
use serde::Serialize;
use serde_json::{json, Value};

/// How far back "alerts in the last hour" looks.
pub const ALERT_WINDOW_MS: u64 = 3_600_000;

/// One sensor, as the events so far say it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Sensor {
    /// Its id.
    pub sensor: String,
    /// The level of its latest reading, in dB.
    pub level_db: Option<f64>,
    /// How many readings it sent.
    pub readings: u64,
    /// When its latest reading was measured (RFC 3339).
    pub last_reading: Option<String>,
    /// Its latest reading, as it came.
    #[serde(skip)]
    latest: Option<NoiseReading>,
    /// Whether it is muted (the latest `nop.sensor.muted` says so).
    pub muted: bool,
    /// Its latest calibration: the pointer of the latest `nop.sensor.calibrated`.
    pub last_calibration: Option<Calibration>,
    /// When each of its alerts was raised, in milliseconds, oldest first.
    #[serde(skip)]
    alerts: Vec<u64>,
}

/// A calibration record's revision and where to read it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Calibration {
    /// The record's revision.
    pub revision: u64,
    /// The record's URL.
    pub record: String,
    /// When the sensor was calibrated (RFC 3339).
    pub at: String,
}

/// Every sensor's state, folded from the log, and how far into the log it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Projection {
    sensors: BTreeMap<String, Sensor>,
    position: Option<Position>,
    events: u64,
    skipped: u64,
}

impl Projection {
    /// The position of the last event applied.
    pub fn position(&self) -> Option<Position> {
        self.position
    }

    /// How many events were applied (NOP's and any other type, which change nothing).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Applies the event stored at `position`. A NOP event whose payload is not its
    /// contract's changes nothing and is counted as skipped.
    pub fn apply(&mut self, position: Position, event: &CloudEvent) {
        self.position = Some(position);
        self.events += 1;
        let data = event.data.clone().unwrap_or(Value::Null);
        let applied = match event.ty.as_str() {
            NoiseReading::TYPE => serde_json::from_value::<NoiseReading>(data).map(|r| {
                let sensor = self.sensor(&r.sensor);
                sensor.level_db = Some(r.db);
                sensor.readings += 1;
                sensor.last_reading = Some(herald_protocol::rfc3339_from_unix_millis(r.at));
                sensor.latest = Some(r);
            }),
            NoiseAlert::TYPE => serde_json::from_value::<NoiseAlert>(data).map(|a| {
                let alerts = &mut self.sensor(&a.sensor).alerts;
                let at = alerts.partition_point(|&t| t <= a.at);
                alerts.insert(at, a.at);
            }),
            SensorMuted::TYPE => serde_json::from_value::<SensorMuted>(data).map(|m| self.sensor(&m.sensor).muted = m.muted),
            SensorCalibrated::TYPE => serde_json::from_value::<SensorCalibrated>(data).map(|c| {
                self.sensor(&c.sensor).last_calibration = Some(Calibration {
                    revision: c.revision,
                    record: c.record,
                    at: herald_protocol::rfc3339_from_unix_millis(c.at),
                })
            }),
            _ => Ok(()),
        };
        if applied.is_err() {
            self.skipped += 1;
        }
    }

    fn sensor(&mut self, id: &str) -> &mut Sensor {
        self.sensors.entry(id.to_owned()).or_insert_with(|| Sensor {
            sensor: id.to_owned(),
            ..Sensor::default()
        })
    }

    /// The latest reading of `sensor`, as it came (the answer to `nop.sensor.latest`).
    pub fn latest(&self, sensor: &str) -> Option<&NoiseReading> {
        self.sensors.get(sensor)?.latest.as_ref()
    }

    /// One sensor as JSON, its alerts counted over the hour before `now_ms`.
    pub fn sensor_view(&self, id: &str, now_ms: u64) -> Option<Value> {
        self.sensors.get(id).map(|s| sensor_json(s, now_ms))
    }

    /// The whole model as JSON: `{"position", "events", "skipped", "sensors": [...]}`.
    pub fn view(&self, now_ms: u64) -> Value {
        json!({
            "position": self.position.map(|p| p.to_string()),
            "events": self.events,
            "skipped": self.skipped,
            "sensors": self.sensors.values().map(|s| sensor_json(s, now_ms)).collect::<Vec<_>>(),
        })
    }
}

fn sensor_json(sensor: &Sensor, now_ms: u64) -> Value {
    let since = now_ms.saturating_sub(ALERT_WINDOW_MS);
    let mut view = serde_json::to_value(sensor).unwrap_or(Value::Null);
    let recent = sensor.alerts.len() - sensor.alerts.partition_point(|&t| t < since);
    view["alerts_last_hour"] = json!(recent);
    view
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, ty: &str, data: Value) -> CloudEvent {
        CloudEvent::new(id, "/test", ty).with_data(data)
    }

    const NOW: u64 = 1_764_000_000_000;

    #[test]
    fn readings_alerts_mutes_and_calibrations_fold_into_each_sensors_state() {
        let mut model = Projection::default();
        let events = [
            event("1", "nop.noise.reading", json!({"sensor": "s-1", "db": 50.0, "at": NOW - 5000})),
            event("2", "nop.noise.reading", json!({"sensor": "s-1", "db": 91.5, "at": NOW - 4000})),
            event("3", "nop.noise.alert", json!({"sensor": "s-1", "count": 4, "window_s": 60.0, "at": NOW - 3000})),
            event("4", "nop.noise.alert", json!({"sensor": "s-1", "count": 4, "window_s": 60.0, "at": NOW - 2 * ALERT_WINDOW_MS})),
            event("5", "nop.sensor.muted", json!({"sensor": "s-2", "muted": true, "at": NOW})),
            event("6", "nop.sensor.calibrated", json!({"sensor": "s-1", "revision": 3, "record": "/sensors/s-1/calibration?revision=3", "at": NOW})),
            event("7", "nop.sensor.selected", json!({"sensor": "s-9"})),
            event("8", "nop.noise.reading", json!({"sensor": "s-3", "db": "loud"})),
        ];
        for (i, e) in events.iter().enumerate() {
            model.apply(Position::new(9, i as u64 + 1), e);
        }
        let view = model.view(NOW);
        assert_eq!(view["position"], "9-8");
        assert_eq!(view["events"], 8);
        assert_eq!(view["skipped"], 1);
        assert_eq!(
            view["sensors"],
            json!([
                {"sensor": "s-1", "level_db": 91.5, "readings": 2, "last_reading": "2025-11-24T15:59:56.000Z",
                 "muted": false, "alerts_last_hour": 1,
                 "last_calibration": {"revision": 3, "record": "/sensors/s-1/calibration?revision=3", "at": "2025-11-24T16:00:00.000Z"}},
                {"sensor": "s-2", "level_db": null, "readings": 0, "last_reading": null, "muted": true,
                 "last_calibration": null, "alerts_last_hour": 0}
            ])
        );
        assert_eq!(model.sensor_view("s-2", NOW).unwrap()["muted"], true);
        assert!(model.sensor_view("s-9", NOW).is_none());
    }

    #[test]
    fn the_same_events_make_the_same_model_whatever_the_order_alerts_arrive_in() {
        let alert = |id: &str, at: u64| event(id, "nop.noise.alert", json!({"sensor": "s-1", "count": 4, "window_s": 60.0, "at": at}));
        let (mut a, mut b) = (Projection::default(), Projection::default());
        a.apply(Position::new(1, 1), &alert("x", NOW - 10));
        a.apply(Position::new(1, 2), &alert("y", NOW - 20));
        b.apply(Position::new(1, 1), &alert("x", NOW - 10));
        b.apply(Position::new(1, 2), &alert("y", NOW - 20));
        assert_eq!(a, b);
        assert_eq!(a.view(NOW)["sensors"][0]["alerts_last_hour"], 2);
        assert_eq!(a.view(NOW + ALERT_WINDOW_MS)["sensors"][0]["alerts_last_hour"], 0);
    }
}
