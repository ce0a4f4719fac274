use std::time::Duration;

/// How many events of a retained type the page keeps for late subscribers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Retention {
    /// The latest event only.
    LastValue,
    /// The latest `n` events (at least 1).
    LastN(u32),
    /// Every event younger than this.
    MaxAge(Duration),
}
