//! NOP's recalibration saga, built twice on the same participants and facts.
//!
//! Recalibrating a sensor spans three steps, each done by the participant that owns it
//! ([`nop_events::RecalibrationStep`]): the sensor's producer takes it **offline**, the
//! calibration service **calibrates** it (a new revision of its calibration record and
//! the `nop.sensor.calibrated` pointer), the producer puts it back **online**. A failure
//! at a step runs the compensations of the steps done before it, the last done first:
//! the calibration is reverted (the replaced document stored again as a new revision,
//! `nop.calibration.reverted`), the sensor is put back online (`nop.sensor.online` with
//! `compensation: true`).
//!
//! - **Orchestrated** ([`orchestrator`]): a process manager owns the saga. It sends each
//!   participant a `nop.recalibration.command` (do or undo a step), waits for the fact that
//!   answers it (`causationid` the command's id) or times out, and decides what comes
//!   next; it says how the saga ended (`nop.recalibration.ended`). The flow is in one
//!   place and can be changed there; the process manager is one more service to run, and
//!   knows every participant.
//! - **Choreographed** ([`sensor`], [`calibrator`]): no coordinator. Each participant
//!   reacts to the facts of the others in the saga's chain: the producer goes offline on
//!   the request, the calibrator calibrates once the sensor is offline, the producer goes
//!   online once it is calibrated; a `nop.recalibration.failed` makes whoever has a step
//!   to undo undo it. Participants stay decoupled and nothing is in the middle; the flow
//!   is spread over them, and nobody knows that the saga ended, or notices that it
//!   stalled.
//!
//! Every event of a saga is in the correlation chain of its request (the saga's id), so
//! the log, the page's bus and devtools show it as one. The decisions are pure functions
//! of the events, tested here; the binary `nop-recalibration` runs the process manager and
//! the calibration participant against a gateway, and `nop-simulator` the producer's.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::VecDeque;

use herald_protocol::{CloudEvent, Event};
use serde::Serialize;
use serde_json::Value;

pub mod calibrator;
pub mod orchestrator;
pub mod sensor;

/// An event to publish.
pub type Outgoing = CloudEvent<Value>;

/// The payload of `event` if it is an `E` (and decodes as one).
pub fn payload<E: Event>(event: &CloudEvent<Value>) -> Option<E::Data> {
    if event.ty != E::TYPE {
        return None;
    }
    serde_json::from_value(event.data.clone()?).ok()
}

/// An event of type `E` in `cause`'s chain (`causationid` its id), about `sensor`, with
/// the id `{saga}.{step}`, the saga being the chain's correlation id: a step's event made
/// again (a participant that read its cause twice) has the same id, and the gateway
/// stores it once (it deduplicates by `source` and `id`).
pub fn caused<E: Event>(cause: &CloudEvent<Value>, step: &str, source: &str, sensor: &str, data: &impl Serialize, now_ms: u64) -> Outgoing {
    CloudEvent::new(format!("{}.{step}", cause.correlation_id()), source, E::TYPE)
        .with_subject(sensor)
        .with_time_millis(now_ms)
        .with_data(serde_json::to_value(data).unwrap_or(Value::Null))
        .caused_by(cause)
}

/// The sagas a participant is part of, by correlation id: at most a capacity of them,
/// the oldest forgotten first (a saga whose end never came does not stay for ever).
#[derive(Debug, Clone)]
pub struct Chains<T> {
    entries: VecDeque<(String, T)>,
    capacity: usize,
}

impl<T> Default for Chains<T> {
    fn default() -> Self {
        Chains::with_capacity(1024)
    }
}

impl<T> Chains<T> {
    /// Room for `capacity` sagas.
    pub fn with_capacity(capacity: usize) -> Self {
        Chains { entries: VecDeque::new(), capacity: capacity.max(1) }
    }

    /// Remembers `value` for the saga `chain` (replacing what was there).
    pub fn insert(&mut self, chain: &str, value: T) {
        self.remove(chain);
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back((chain.to_owned(), value));
    }

    /// What is remembered for `chain`.
    pub fn get(&self, chain: &str) -> Option<&T> {
        self.entries.iter().find(|(c, _)| c == chain).map(|(_, v)| v)
    }

    /// What is remembered for `chain`, to change.
    pub fn get_mut(&mut self, chain: &str) -> Option<&mut T> {
        self.entries.iter_mut().find(|(c, _)| c == chain).map(|(_, v)| v)
    }

    /// Forgets `chain`, handing back what was remembered.
    pub fn remove(&mut self, chain: &str) -> Option<T> {
        let at = self.entries.iter().position(|(c, _)| c == chain)?;
        self.entries.remove(at).map(|(_, v)| v)
    }

    /// How many sagas are remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every remembered saga, the oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.entries.iter().map(|(c, v)| (c.as_str(), v))
    }
}

/// The reason a step fails when the saga's request injected a failure there.
pub const INJECTED: &str = "injected failure";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_forget_the_oldest_saga_when_full() {
        let mut chains = Chains::with_capacity(2);
        chains.insert("a", 1);
        chains.insert("b", 2);
        chains.insert("c", 3);
        assert_eq!(chains.get("a"), None);
        assert_eq!(chains.get("b"), Some(&2));
        chains.insert("b", 4);
        chains.insert("d", 5);
        assert_eq!(chains.get("c"), None, "b was renewed, so c was the oldest");
        assert_eq!(chains.remove("b"), Some(4));
        assert_eq!(chains.len(), 1);
    }
}
