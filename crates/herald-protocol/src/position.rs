use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// A place in the gateway's event stream: `EPOCH-SEQ`.
///
/// `seq` grows by one for every stored event. `epoch` names the log the sequence belongs
/// to: a position from another epoch (a wiped store, another cluster) cannot be resumed
/// from, and the gateway tells the client so instead of guessing.
///
/// Positions order by epoch, then sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// The log's identity.
    pub epoch: u64,
    /// The event's sequence number in that log, starting at 1.
    pub seq: u64,
}

impl Position {
    /// A position in `epoch` at `seq`.
    pub const fn new(epoch: u64, seq: u64) -> Self {
        Position { epoch, seq }
    }

    /// The position right after this one in the same epoch.
    pub const fn next(self) -> Self {
        Position {
            epoch: self.epoch,
            seq: self.seq + 1,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.epoch, self.seq)
    }
}

impl FromStr for Position {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidPosition(s.to_owned());
        let (epoch, seq) = s.trim().split_once('-').ok_or_else(bad)?;
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(epoch) || !digits(seq) {
            return Err(bad());
        }
        Ok(Position {
            epoch: epoch.parse().map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

impl Serialize for Position {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Position {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        let p = Position::new(1733011200, 42);
        assert_eq!(p.to_string(), "1733011200-42");
        assert_eq!("1733011200-42".parse::<Position>().unwrap(), p);
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in ["", "42", "-1", "1-", "a-1", "1-b", "1--2", "1-2-3", "+1-2", "1- 2"] {
            assert_eq!(
                bad.parse::<Position>(),
                Err(Error::InvalidPosition(bad.into())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn orders_by_epoch_then_seq() {
        assert!(Position::new(1, 9) < Position::new(2, 1));
        assert!(Position::new(2, 1) < Position::new(2, 2));
    }

    #[test]
    fn serializes_as_a_string() {
        let json = serde_json::to_string(&Position::new(3, 4)).unwrap();
        assert_eq!(json, "\"3-4\"");
        assert_eq!(serde_json::from_str::<Position>(&json).unwrap(), Position::new(3, 4));
    }
}
