//! The alert rule as a pure stateful consumer: more than `max_loud` readings above
//! `threshold` within a window, per sensor, on herald-protocol's [`SlidingWindow`].
//!
//! ```
//! use nop_loud_rule::rule::{Change, LoudRule};
//!
//! let mut rule = LoudRule::new(85.0, 3, 60_000);
//! for at in [0, 1_000, 2_000] {
//!     assert_eq!(rule.reading("s-4", 90.0, at), None);
//! }
//! assert_eq!(rule.reading("s-4", 91.0, 3_000), Some(Change::Holds(4)));
//! // a minute later the first loud readings have left the window
//! assert_eq!(rule.reading("s-4", 50.0, 61_500), Some(Change::Ended));
//! ```

use std::time::Duration;

use herald_protocol::SlidingWindow;

/// What a reading changed about a sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The rule holds for the sensor now (it did not before), with this many loud readings
    /// in the window.
    Holds(usize),
    /// The rule no longer holds for it.
    Ended,
}

/// The rule's state: the loud readings of each sensor in the window.
#[derive(Debug, Clone)]
pub struct LoudRule {
    threshold: f64,
    max_loud: usize,
    loud: SlidingWindow<String>,
    holding: Vec<String>,
    fired: u64,
}

impl LoudRule {
    /// More than `max_loud` readings above `threshold` dB within `window_ms`.
    pub fn new(threshold: f64, max_loud: usize, window_ms: u64) -> Self {
        LoudRule { threshold, max_loud, loud: SlidingWindow::new(Duration::from_millis(window_ms)), holding: Vec::new(), fired: 0 }
    }

    /// Takes `sensor`'s reading of `db` at `at_ms`; what changed for the sensor.
    pub fn reading(&mut self, sensor: &str, db: f64, at_ms: u64) -> Option<Change> {
        let key = sensor.to_owned();
        let stats = if db > self.threshold { self.loud.push(key, at_ms, db) } else { self.loud.advance(&key, at_ms) };
        let holds = stats.count > self.max_loud;
        let held = self.holding.iter().position(|s| s == sensor);
        match (holds, held) {
            (true, None) => {
                self.holding.push(sensor.to_owned());
                self.fired += 1;
                Some(Change::Holds(stats.count))
            }
            (false, Some(at)) => {
                self.holding.remove(at);
                Some(Change::Ended)
            }
            _ => None,
        }
    }

    /// The sensors the rule holds for now, in the order it fired.
    pub fn holding(&self) -> &[String] {
        &self.holding
    }

    /// How often it fired.
    pub fn fired(&self) -> u64 {
        self.fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_fires_once_per_episode_per_sensor_and_ends_when_the_window_empties() {
        let mut rule = LoudRule::new(85.0, 3, 60_000);
        for (i, at) in [0u64, 10_000, 20_000].into_iter().enumerate() {
            assert_eq!(rule.reading("s-1", 86.0 + i as f64, at), None);
        }
        assert_eq!(rule.reading("s-2", 99.0, 20_500), None, "another sensor has its own window");
        assert_eq!(rule.reading("s-1", 85.0, 25_000), None, "at the threshold is not above it");
        assert_eq!(rule.reading("s-1", 95.0, 30_000), Some(Change::Holds(4)));
        assert_eq!(rule.reading("s-1", 95.0, 31_000), None, "it holds already");
        assert_eq!(rule.holding(), ["s-1"]);
        assert_eq!(rule.fired(), 1);
        // at 60 s the first loud reading leaves: four remain (10, 20, 30, 31 s)
        assert_eq!(rule.reading("s-1", 40.0, 60_000), None);
        // at 70 s the one of 10 s leaves too: three, not more than three
        assert_eq!(rule.reading("s-1", 40.0, 70_000), Some(Change::Ended));
        assert!(rule.holding().is_empty());
        // a late reading, older than the window, changes nothing
        assert_eq!(rule.reading("s-1", 99.0, 1_000), None);
    }
}
