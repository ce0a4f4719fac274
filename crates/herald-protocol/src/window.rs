//! Stateful consumers: aggregates over a sliding time window, per key.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::time::Duration;

/// Count and sum of the values in a window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WindowStats {
    /// How many values are in the window.
    pub count: usize,
    /// Their sum.
    pub sum: f64,
}

impl WindowStats {
    /// The mean, `None` for an empty window.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

/// Values over the last `span` of time, per key (e.g. per sensor).
///
/// Time is whatever the caller measures in milliseconds (an event's `time`, or
/// `Date.now()`); the window never looks at a clock itself, so it behaves the same in the
/// browser, on the server and in tests. A value is in the window while
/// `newest_time - its_time < span`, where `newest_time` is the latest time the key has seen.
///
/// ```
/// use herald_protocol::SlidingWindow;
/// use std::time::Duration;
///
/// let mut window = SlidingWindow::new(Duration::from_secs(60));
/// window.push("s-1", 0, 70.0);
/// window.push("s-1", 30_000, 80.0);
/// assert_eq!(window.push("s-1", 61_000, 90.0).count, 2); // the first fell out
/// assert_eq!(window.stats(&"s-1").sum, 170.0);
/// ```
#[derive(Clone, Debug)]
pub struct SlidingWindow<K> {
    span_ms: u64,
    keys: HashMap<K, Series>,
}

#[derive(Clone, Debug, Default)]
struct Series {
    /// The latest time this key has seen.
    newest: u64,
    /// Values in time order.
    entries: VecDeque<(u64, f64)>,
}

impl Series {
    fn evict(&mut self, span: u64) {
        while self.entries.front().is_some_and(|&(t, _)| self.newest.saturating_sub(t) >= span) {
            self.entries.pop_front();
        }
    }

    fn stats(&self) -> WindowStats {
        WindowStats {
            count: self.entries.len(),
            sum: self.entries.iter().map(|&(_, v)| v).sum(),
        }
    }
}

impl<K: Eq + Hash + Clone> SlidingWindow<K> {
    /// A window over the last `span`.
    pub fn new(span: Duration) -> Self {
        SlidingWindow {
            span_ms: span.as_millis().try_into().unwrap_or(u64::MAX),
            keys: HashMap::new(),
        }
    }

    /// Adds `value` measured at `at_ms` for `key`; returns the key's stats afterwards.
    ///
    /// A value older than the key's window (it arrived late) is not added.
    pub fn push(&mut self, key: K, at_ms: u64, value: f64) -> WindowStats {
        let span = self.span_ms;
        let series = self.keys.entry(key).or_default();
        series.newest = series.newest.max(at_ms);
        if series.newest.saturating_sub(at_ms) < span {
            // keep entries in time order, even when values arrive out of order
            let index = series.entries.partition_point(|&(t, _)| t <= at_ms);
            series.entries.insert(index, (at_ms, value));
        }
        series.evict(span);
        series.stats()
    }

    /// Moves `key`'s time forward to `at_ms` without adding a value; returns its stats.
    pub fn advance(&mut self, key: &K, at_ms: u64) -> WindowStats {
        let span = self.span_ms;
        match self.keys.get_mut(key) {
            Some(series) => {
                series.newest = series.newest.max(at_ms);
                series.evict(span);
                series.stats()
            }
            None => WindowStats::default(),
        }
    }

    /// Drops every value older than `span` before `now_ms`, and keys left empty; call it
    /// now and then when keys come and go.
    pub fn expire(&mut self, now_ms: u64) {
        let span = self.span_ms;
        self.keys.retain(|_, series| {
            series.newest = series.newest.max(now_ms);
            series.evict(span);
            !series.entries.is_empty()
        });
    }

    /// The key's current stats.
    pub fn stats(&self, key: &K) -> WindowStats {
        self.keys.get(key).map(Series::stats).unwrap_or_default()
    }

    /// How many keys hold values.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key holds values.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// A change of a [`ThresholdAlert`]'s state for one key.
#[derive(Clone, Debug, PartialEq)]
pub enum Crossing<K> {
    /// More than `max_count` values above the threshold are now in the window.
    Raised {
        /// The key.
        key: K,
        /// How many values above the threshold are in the window.
        count: usize,
    },
    /// The count fell back to `max_count` or fewer.
    Cleared {
        /// The key.
        key: K,
        /// How many values above the threshold are in the window.
        count: usize,
    },
}

/// "More than `max_count` values above `threshold` within `span`, per key" — e.g. more
/// than 5 readings above 85 dB within 60 s per sensor — reporting each crossing once.
///
/// ```
/// use herald_protocol::{Crossing, ThresholdAlert};
/// use std::time::Duration;
///
/// let mut alert = ThresholdAlert::new(Duration::from_secs(60), 85.0, 5);
/// let mut raised = None;
/// for i in 0..6 {
///     raised = alert.push("s-1", i * 1_000, 90.0);
/// }
/// assert_eq!(raised, Some(Crossing::Raised { key: "s-1", count: 6 }));
/// assert_eq!(alert.push("s-1", 70_000, 60.0), Some(Crossing::Cleared { key: "s-1", count: 0 }));
/// ```
#[derive(Clone, Debug)]
pub struct ThresholdAlert<K> {
    above: SlidingWindow<K>,
    threshold: f64,
    max_count: usize,
    raised: HashSet<K>,
}

impl<K: Eq + Hash + Clone> ThresholdAlert<K> {
    /// Alerts when more than `max_count` values strictly above `threshold` fall within `span`.
    pub fn new(span: Duration, threshold: f64, max_count: usize) -> Self {
        ThresholdAlert {
            above: SlidingWindow::new(span),
            threshold,
            max_count,
            raised: HashSet::new(),
        }
    }

    /// Feeds one value; returns the crossing it caused, if any.
    pub fn push(&mut self, key: K, at_ms: u64, value: f64) -> Option<Crossing<K>> {
        let count = if value > self.threshold {
            self.above.push(key.clone(), at_ms, value).count
        } else {
            // a quiet value still moves time forward, so old loud values expire
            self.above.advance(&key, at_ms).count
        };
        let is_raised = self.raised.contains(&key);
        if count > self.max_count && !is_raised {
            self.raised.insert(key.clone());
            Some(Crossing::Raised { key, count })
        } else if count <= self.max_count && is_raised {
            self.raised.remove(&key);
            Some(Crossing::Cleared { key, count })
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn counts_and_sums_per_key_within_the_span() {
        let mut w = SlidingWindow::new(MINUTE);
        w.push("a", 0, 1.0);
        w.push("b", 0, 10.0);
        w.push("a", 59_999, 2.0);
        assert_eq!(w.stats(&"a"), WindowStats { count: 2, sum: 3.0 });
        assert_eq!(w.push("a", 60_000, 4.0), WindowStats { count: 2, sum: 6.0 });
        assert_eq!(w.stats(&"b").count, 1, "keys are independent");
        assert_eq!(w.stats(&"a").mean(), Some(3.0));
        assert_eq!(w.stats(&"zzz").mean(), None);
    }

    #[test]
    fn late_values_are_placed_in_order_or_dropped_when_too_old() {
        let mut w = SlidingWindow::new(MINUTE);
        w.push("a", 100_000, 1.0);
        assert_eq!(w.push("a", 50_000, 5.0).count, 2, "late but within the span");
        assert_eq!(w.push("a", 40_000, 7.0).count, 2, "older than the span: dropped");
        assert_eq!(w.push("a", 109_999, 1.0).count, 3);
        assert_eq!(w.push("a", 110_000, 1.0).count, 3, "the 50 s value expired");
    }

    #[test]
    fn expire_forgets_idle_keys() {
        let mut w = SlidingWindow::new(MINUTE);
        w.push("a", 0, 1.0);
        w.push("b", 30_000, 1.0);
        w.expire(61_000);
        assert_eq!(w.len(), 1);
        w.expire(100_000);
        assert!(w.is_empty());
    }

    #[test]
    fn alert_raises_once_when_more_than_n_loud_values_fall_within_the_span() {
        let mut alert = ThresholdAlert::new(MINUTE, 85.0, 5);
        let mut crossings = Vec::new();
        for i in 0..8u64 {
            // alternate loud and quiet readings, 5 s apart
            let db = if i % 2 == 0 { 90.0 } else { 60.0 };
            crossings.extend(alert.push("s-1", i * 5_000, db));
        }
        assert!(crossings.is_empty(), "4 loud values are not more than 5");
        for i in 8..12u64 {
            crossings.extend(alert.push("s-1", i * 5_000, 86.0));
        }
        assert_eq!(crossings, vec![Crossing::Raised { key: "s-1", count: 6 }]);
        assert_eq!(alert.push("s-1", 12 * 5_000, 85.0), None, "85 is not above 85");
        // exactly 85 dB is not loud; a minute of quiet clears the alert
        assert_eq!(
            alert.push("s-1", 115_000, 50.0),
            Some(Crossing::Cleared { key: "s-1", count: 0 })
        );
        assert_eq!(alert.push("s-2", 0, 99.0), None, "other keys start afresh");
    }
}
