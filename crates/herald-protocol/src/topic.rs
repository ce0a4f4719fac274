use std::fmt;
use std::str::FromStr;

use crate::Error;

/// A pattern over event types, matched by dot-separated segments with NATS semantics.
///
/// - a literal segment matches itself: `nop.noise.reading`;
/// - `*` matches exactly one segment: `nop.*.reading`;
/// - `>` as the last segment matches one or more remaining segments: `nop.>`.
///
/// The same matcher serves the browser bus and the gateway's streams, so a pattern means
/// the same thing wherever it is written.
///
/// ```
/// use herald_protocol::TopicPattern;
///
/// let p: TopicPattern = "nop.>".parse()?;
/// assert!(p.matches("nop.noise.reading"));
/// assert!(!p.matches("nop"));
/// assert!("nop.noise.*".parse::<TopicPattern>()?.matches("nop.noise.alert"));
/// assert!("nop.>.x".parse::<TopicPattern>().is_err());
/// # Ok::<(), herald_protocol::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TopicPattern {
    raw: String,
    segments: Vec<Segment>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Segment {
    Literal(String),
    One,
    Rest,
}

impl TopicPattern {
    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether the pattern has no wildcard, i.e. names exactly one topic.
    pub fn is_literal(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Literal(_)))
    }

    /// Whether `topic` (an event type such as `nop.noise.reading`) matches this pattern.
    pub fn matches(&self, topic: &str) -> bool {
        let mut parts = topic.split('.');
        for segment in &self.segments {
            match (segment, parts.next()) {
                (_, None) => return false,
                (Segment::Rest, Some(_)) => return true,
                (Segment::One, Some(_)) => {}
                (Segment::Literal(lit), Some(part)) if lit == part => {}
                (Segment::Literal(_), Some(_)) => return false,
            }
        }
        parts.next().is_none()
    }

    /// Whether every topic `other` matches is also matched by this pattern: a grant of
    /// `self` allows a subscription to `other`.
    ///
    /// ```
    /// use herald_protocol::TopicPattern;
    /// let grant: TopicPattern = "nop.>".parse()?;
    /// assert!(grant.covers(&"nop.noise.*".parse()?));
    /// assert!(!"nop.noise.*".parse::<TopicPattern>()?.covers(&"nop.>".parse()?));
    /// # Ok::<(), herald_protocol::Error>(())
    /// ```
    pub fn covers(&self, other: &TopicPattern) -> bool {
        let mut theirs = other.segments.iter();
        for segment in &self.segments {
            match (segment, theirs.next()) {
                (_, None) => return false,
                (Segment::Rest, Some(_)) => return true,
                (Segment::One, Some(Segment::Literal(_) | Segment::One)) => {}
                (Segment::Literal(mine), Some(Segment::Literal(other))) if mine == other => {}
                (_, Some(_)) => return false,
            }
        }
        theirs.next().is_none()
    }
}

impl FromStr for TopicPattern {
    type Err = Error;

    fn from_str(raw: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidPattern {
            pattern: raw.to_owned(),
            reason,
        };
        if raw.is_empty() {
            return Err(invalid("a pattern must not be empty"));
        }
        let mut segments = Vec::new();
        let mut tokens = raw.split('.').peekable();
        while let Some(token) = tokens.next() {
            let segment = match token {
                "" => return Err(invalid("segments must not be empty")),
                "*" => Segment::One,
                ">" if tokens.peek().is_some() => {
                    return Err(invalid("`>` may only be the last segment"))
                }
                ">" => Segment::Rest,
                t if t.contains(['*', '>']) => {
                    return Err(invalid("`*` and `>` must stand alone as a whole segment"))
                }
                t if t.chars().any(|c| c.is_whitespace() || c.is_control()) => {
                    return Err(invalid("segments must not contain whitespace"))
                }
                t => Segment::Literal(t.to_owned()),
            };
            segments.push(segment);
        }
        Ok(TopicPattern {
            raw: raw.to_owned(),
            segments,
        })
    }
}

impl fmt::Display for TopicPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> TopicPattern {
        s.parse().unwrap()
    }

    #[test]
    fn covers_is_containment_of_the_matched_topics() {
        let cases = [
            ("nop.>", "nop.>", true),
            ("nop.>", "nop.noise.*", true),
            ("nop.>", "nop.a.b.c", true),
            ("nop.>", "nop", false),
            ("nop.*", "nop.a", true),
            ("nop.*", "nop.*", true),
            ("nop.*", "nop.>", false),
            ("nop.*", "nop.a.b", false),
            ("nop.a", "nop.*", false),
            ("nop.a", "nop.a", true),
            ("nop.a", "nop.b", false),
            ("*.a", "x.a", true),
            ("*.a", "x.a.b", false),
            (">", "anything.at.all", true),
            ("a.b.c", "a.b", false),
        ];
        for (grant, wanted, expected) in cases {
            assert_eq!(p(grant).covers(&p(wanted)), expected, "{grant} covers {wanted}");
        }
    }

    #[test]
    fn literal_matches_only_itself() {
        let pat = p("nop.noise.reading");
        assert!(pat.is_literal());
        assert!(pat.matches("nop.noise.reading"));
        assert!(!pat.matches("nop.noise"));
        assert!(!pat.matches("nop.noise.reading.v2"));
        assert!(!pat.matches("nop.noise.readings"));
    }

    #[test]
    fn star_matches_exactly_one_segment() {
        let pat = p("nop.*.reading");
        assert!(pat.matches("nop.noise.reading"));
        assert!(pat.matches("nop.x.reading"));
        assert!(!pat.matches("nop.reading"));
        assert!(!pat.matches("nop.a.b.reading"));
        assert!(p("*").matches("nop"));
        assert!(!p("*").matches("nop.noise"));
    }

    #[test]
    fn rest_matches_one_or_more_segments() {
        let pat = p("nop.>");
        assert!(pat.matches("nop.noise"));
        assert!(pat.matches("nop.noise.reading"));
        assert!(!pat.matches("nop"));
        assert!(!pat.matches("nopx.noise"));
        assert!(p(">").matches("anything.at.all"));
        assert!(p("*.>").matches("a.b"));
        assert!(!p("*.>").matches("a"));
    }

    #[test]
    fn rejects_malformed_patterns() {
        for bad in ["", ".", "a..b", "a.", ".a", "a.>.b", "a*", "a.b>", "a b", "a.*x"] {
            assert!(bad.parse::<TopicPattern>().is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn displays_as_written() {
        assert_eq!(p("nop.*.x").to_string(), "nop.*.x");
    }
}
