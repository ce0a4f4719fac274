use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{Error, ExtensionValue, Extensions};

/// The only CloudEvents `specversion` herald speaks.
pub const SPEC_VERSION: &str = "1.0";

/// Extension attribute: the publisher's sequence number of the event, per `source`
/// (the CloudEvents `sequence` extension: a lexicographically ordered string; herald
/// writes 20 zero-padded decimal digits, see [`CloudEvent::sequence`]).
pub const EXT_SEQUENCE: &str = "sequence";
/// Extension attribute: the version of the event type's payload contract; absent means 1.
pub const EXT_DATAVERSION: &str = "dataversion";
/// Extension attribute of a request: the DOM event name its reply is dispatched as.
pub const EXT_REPLYTO: &str = "replyto";

/// A CloudEvents 1.0 event in its JSON format, with herald's extensions.
///
/// `T` is the type of `data`: [`serde_json::Value`] when the payload is not yet decoded (the
/// gateway, pattern subscribers), or a typed payload when it is (typed subscribers decode the
/// payload once, straight into `T`).
///
/// herald adds two extension attributes (lower-case, as the CloudEvents spec requires):
/// - `correlationid`: the id shared by every event of one causal chain; a chain's first
///   event has none, and [`CloudEvent::correlation_id`] is then its own `id`;
/// - `causationid`: the `id` of the event whose handling produced this one.
///
/// Other extension attributes are kept as they came, in [`CloudEvent::extensions`].
#[derive(Clone, Debug, PartialEq)]
pub struct CloudEvent<T = Value> {
    /// Always `"1.0"`.
    pub specversion: String,
    /// Identifies the event; unique per `source`.
    pub id: String,
    /// Identifies the context in which the event happened (a URI-reference).
    pub source: String,
    /// The event type, dot-separated segments such as `nop.noise.reading`.
    pub ty: String,
    /// When the event happened (RFC 3339).
    pub time: Option<String>,
    /// The subject of the event within the source, e.g. a sensor id.
    pub subject: Option<String>,
    /// Media type of `data`, e.g. `application/json`.
    pub datacontenttype: Option<String>,
    /// URI of the schema `data` adheres to.
    pub dataschema: Option<String>,
    /// The payload.
    pub data: Option<T>,
    /// A binary payload, base64-encoded (CloudEvents JSON format); exclusive with `data`.
    pub data_base64: Option<String>,
    /// herald extension: the correlation id of the chain this event belongs to.
    pub correlationid: Option<String>,
    /// herald extension: the id of the event that caused this one.
    pub causationid: Option<String>,
    /// Any other extension attributes, by name.
    pub extensions: Extensions,
    /// Extension `sequence`, when it is a decimal number (any other `sequence` value stays
    /// in `extensions`); see [`CloudEvent::sequence`].
    pub(crate) sequence: Option<u64>,
    /// Extension `dataversion`; see [`CloudEvent::data_version`].
    pub(crate) dataversion: Option<u32>,
}

impl<T> CloudEvent<T> {
    /// A new event with the required attributes and nothing else.
    pub fn new(id: impl Into<String>, source: impl Into<String>, ty: impl Into<String>) -> Self {
        CloudEvent {
            specversion: SPEC_VERSION.to_owned(),
            id: id.into(),
            source: source.into(),
            ty: ty.into(),
            ..Self::blank()
        }
    }

    /// An event with every attribute empty or absent (not a valid event until filled in).
    pub(crate) fn blank() -> Self {
        CloudEvent {
            specversion: String::new(),
            id: String::new(),
            source: String::new(),
            ty: String::new(),
            time: None,
            subject: None,
            datacontenttype: None,
            dataschema: None,
            data: None,
            data_base64: None,
            correlationid: None,
            causationid: None,
            extensions: Extensions::new(),
            sequence: None,
            dataversion: None,
        }
    }

    /// Sets a JSON payload (and `datacontenttype: application/json`).
    pub fn with_data(mut self, data: T) -> Self {
        self.data = Some(data);
        self.datacontenttype = Some("application/json".to_owned());
        self
    }

    /// Sets `subject`.
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets `time` from milliseconds since the Unix epoch.
    pub fn with_time_millis(mut self, unix_millis: u64) -> Self {
        self.time = Some(rfc3339_from_unix_millis(unix_millis));
        self
    }

    /// The correlation id of this event's chain: `correlationid`, or the event's own `id`
    /// when it starts a chain.
    pub fn correlation_id(&self) -> &str {
        self.correlationid.as_deref().unwrap_or(&self.id)
    }

    /// Marks this event as caused by `cause`: it joins the cause's correlation chain and
    /// names the cause's `id` as its `causationid`.
    pub fn caused_by<U>(mut self, cause: &CloudEvent<U>) -> Self {
        self.correlationid = Some(cause.correlation_id().to_owned());
        self.causationid = Some(cause.id.clone());
        self
    }

    /// Replaces the payload, keeping every attribute.
    pub fn map_data<U>(self, f: impl FnOnce(T) -> U) -> CloudEvent<U> {
        match self.try_map_data(|data| Ok::<U, std::convert::Infallible>(f(data))) {
            Ok(event) => event,
            Err(never) => match never {},
        }
    }

    /// Replaces the payload with the result of a fallible conversion, keeping every
    /// attribute.
    pub fn try_map_data<U, E>(self, f: impl FnOnce(T) -> Result<U, E>) -> Result<CloudEvent<U>, E> {
        Ok(CloudEvent {
            specversion: self.specversion,
            id: self.id,
            source: self.source,
            ty: self.ty,
            time: self.time,
            subject: self.subject,
            datacontenttype: self.datacontenttype,
            dataschema: self.dataschema,
            data: self.data.map(f).transpose()?,
            data_base64: self.data_base64,
            correlationid: self.correlationid,
            causationid: self.causationid,
            extensions: self.extensions,
            sequence: self.sequence,
            dataversion: self.dataversion,
        })
    }

    /// The publisher's sequence number (extension `sequence`), if the event has a valid one.
    pub fn sequence(&self) -> Option<u64> {
        self.sequence
    }

    /// Sets the sequence number, written as 20 zero-padded digits so that the string
    /// order the CloudEvents `sequence` extension prescribes is the numeric order.
    pub fn set_sequence(&mut self, sequence: u64) {
        self.extensions.remove(EXT_SEQUENCE);
        self.sequence = Some(sequence);
    }

    /// The payload contract's version (extension `dataversion`); 1 when absent.
    pub fn data_version(&self) -> u32 {
        self.dataversion.unwrap_or(1)
    }

    /// Sets `dataversion`; version 1, the default, is written by leaving it out.
    pub fn set_data_version(&mut self, version: u32) {
        self.dataversion = (version != 1).then_some(version);
    }

    /// Checks the CloudEvents 1.0 rules on every context attribute.
    ///
    /// Serde already guarantees that the required attributes are present and strings; this
    /// checks their values: `specversion` is `1.0`, required strings are non-empty, `time`
    /// is RFC 3339, media types and URIs have their basic shape, extension names are
    /// lower-case alphanumerics (their values are scalars by type), and `data` and `data_base64`
    /// are not both set.
    pub fn validate(&self) -> Result<(), Error> {
        if self.specversion != SPEC_VERSION {
            return Err(Error::UnsupportedSpecVersion(self.specversion.clone()));
        }
        for (name, value) in [("id", &self.id), ("source", &self.source), ("type", &self.ty)] {
            if value.is_empty() {
                return Err(invalid(name, "must be a non-empty string"));
            }
        }
        // every String-typed attribute (and the other text ones) holds only the characters
        // the CloudEvents type system allows in a String
        let text = [
            ("id", Some(&self.id)),
            ("source", Some(&self.source)),
            ("type", Some(&self.ty)),
            ("subject", self.subject.as_ref()),
            ("time", self.time.as_ref()),
            ("datacontenttype", self.datacontenttype.as_ref()),
            ("dataschema", self.dataschema.as_ref()),
            ("correlationid", self.correlationid.as_ref()),
            ("causationid", self.causationid.as_ref()),
        ];
        let extensions = self.extensions.iter().filter_map(|(name, value)| match value {
            ExtensionValue::String(s) => Some((name, Some(s))),
            _ => None,
        });
        for (name, value) in text.into_iter().chain(extensions) {
            if value.is_some_and(|v| !is_string(v)) {
                return Err(invalid(name, "must not contain control characters (U+0000-U+001F, U+007F-U+009F) or noncharacters"));
            }
        }
        if self.source.chars().any(char::is_whitespace) {
            return Err(invalid("source", "must be a URI-reference (no whitespace)"));
        }
        for (name, value) in [
            ("subject", &self.subject),
            ("correlationid", &self.correlationid),
            ("causationid", &self.causationid),
        ] {
            if value.as_deref() == Some("") {
                return Err(invalid(name, "must not be empty when present"));
            }
        }
        if let Some(time) = &self.time {
            if !is_rfc3339(time) {
                return Err(invalid("time", "must be an RFC 3339 timestamp"));
            }
        }
        if let Some(media) = &self.datacontenttype {
            if !is_media_type(media) {
                return Err(invalid("datacontenttype", "must be a media type such as application/json"));
            }
        }
        if let Some(uri) = &self.dataschema {
            if !is_absolute_uri(uri) {
                return Err(invalid("dataschema", "must be an absolute URI"));
            }
        }
        if self.data.is_some() && self.data_base64.is_some() {
            return Err(invalid("data_base64", "must not be present together with `data`"));
        }
        if self.dataversion == Some(0) || self.extensions.contains_key(EXT_DATAVERSION) {
            return Err(invalid(EXT_DATAVERSION, "must be a positive integer (at most 2147483647)"));
        }
        for (name, value) in &self.extensions {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
                return Err(invalid(
                    name,
                    "attribute names must consist of lower-case letters and digits",
                ));
            }
            // the JSON format's numbers are the type system's Integer: 32-bit, no fraction
            let number = matches!(value, ExtensionValue::Integer(_) | ExtensionValue::Number(_));
            if number && value.as_integer().is_none() {
                return Err(invalid(
                    name,
                    "a number must be an Integer: whole, 32-bit, no fraction or exponent",
                ));
            }
        }
        Ok(())
    }
}

impl CloudEvent<Value> {
    /// Parses and validates one structured-mode CloudEvent (JSON format).
    ///
    /// Attributes whose value is JSON `null` are treated as absent.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        let event: CloudEvent = serde_json::from_slice(bytes)?;
        event.validate()?;
        Ok(event)
    }

    /// Decodes `data` into a typed payload, keeping every attribute.
    pub fn decode<T: DeserializeOwned>(self) -> Result<CloudEvent<T>, Error> {
        self.try_map_data(|data| T::deserialize(data).map_err(|e| invalid("data", &e.to_string())))
    }
}

/// Whether every envelope made as herald's bus makes one — a fresh non-empty id, the time
/// now, a `sequence`, the correlation of an event already valid — from `source`, of type
/// `ty`, with payload `version`, is valid: the parts a publisher chooses, checked without
/// the envelope. (herald-bus marks such events checked, and its subscribers do not
/// validate them again: docs/protocol.md §2.1.)
///
/// ```
/// assert!(herald_protocol::is_valid_origin("/mfe/nop-meter", "nop.noise.reading", 1));
/// assert!(!herald_protocol::is_valid_origin("/mfe/nop meter", "nop.noise.reading", 1));
/// assert!(!herald_protocol::is_valid_origin("/mfe/nop-meter", "", 1));
/// assert!(!herald_protocol::is_valid_origin("/mfe/nop-meter", "nop.noise.reading", 0));
/// ```
pub fn is_valid_origin(source: &str, ty: &str, version: u32) -> bool {
    !source.is_empty()
        && !ty.is_empty()
        && is_string(source)
        && is_string(ty)
        && !source.chars().any(char::is_whitespace)
        && (1..=i32::MAX as u32).contains(&version)
}

/// Whether `value` is a CloudEvents String: no control characters (U+0000-U+001F,
/// U+007F-U+009F) and no noncharacters (U+FDD0-U+FDEF, the last two code points of each
/// plane); a Rust `str` has no surrogates.
fn is_string(value: &str) -> bool {
    !value.chars().any(|c| {
        let n = c as u32;
        c.is_control() || (0xFDD0..=0xFDEF).contains(&n) || n & 0xFFFE == 0xFFFE
    })
}

fn invalid(name: &str, reason: &str) -> Error {
    Error::InvalidAttribute {
        name: name.to_owned(),
        reason: reason.to_owned(),
    }
}

fn is_media_type(s: &str) -> bool {
    // by bytes, like `is_absolute_uri`: `type/subtype`, then parameters after `;`
    let essence = s.as_bytes().split(|&b| b == b';').next().unwrap_or_default().trim_ascii();
    let token = |t: &[u8]| !t.is_empty() && t.iter().all(|&b| b.is_ascii_graphic() && b != b'/');
    let mut parts = essence.splitn(2, |&b| b == b'/');
    match (parts.next(), parts.next()) {
        (Some(ty), Some(sub)) => token(ty) && token(sub),
        _ => false,
    }
}

fn is_absolute_uri(s: &str) -> bool {
    // by bytes: this runs for every event a subscriber decodes, and small code matters in
    // a micro-frontend's wasm
    let b = s.as_bytes();
    match b.iter().position(|&c| c == b':') {
        Some(colon) => {
            b.first().is_some_and(u8::is_ascii_alphabetic)
                && b[..colon]
                    .iter()
                    .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// Whether `s` is an RFC 3339 `date-time`, e.g. `2026-12-01T02:36:01.5Z`.
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| b.get(range).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let num = |range: std::ops::Range<usize>| -> u32 {
        b[range].iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'))
    };
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !matches!(b[10], b'T' | b't' | b' ')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let (month, day, hour, minute, second) = (num(5..7), num(8..10), num(11..13), num(14..16), num(17..19));
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit())
                && (h1 - b'0') * 10 + (h2 - b'0') <= 23
                && (m1 - b'0') * 10 + (m2 - b'0') <= 59
        }
        _ => false,
    }
}

/// Formats milliseconds since the Unix epoch as an RFC 3339 UTC timestamp
/// (`2026-12-01T02:36:01.500Z`).
pub fn rfc3339_from_unix_millis(unix_millis: u64) -> String {
    let secs = unix_millis / 1000;
    let millis = unix_millis % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days from 1970-01-01 to a civil date (Howard Hinnant's days_from_civil).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (month, day) = (i64::from(month), i64::from(day));
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An RFC 3339 timestamp (as [`CloudEvent::validate`] takes one: any offset, any number of
/// fraction digits, of which milliseconds count) as milliseconds since the Unix epoch;
/// `None` when it is not one, or is before 1970.
///
/// ```
/// use herald_protocol::{rfc3339_from_unix_millis, unix_millis_from_rfc3339};
/// assert_eq!(unix_millis_from_rfc3339("2026-12-01T02:36:01.5Z"), Some(1_796_092_561_500));
/// assert_eq!(unix_millis_from_rfc3339("2026-12-01T03:36:01.5+01:00"), Some(1_796_092_561_500));
/// assert_eq!(unix_millis_from_rfc3339(&rfc3339_from_unix_millis(42)), Some(42));
/// assert_eq!(unix_millis_from_rfc3339("yesterday"), None);
/// ```
pub fn unix_millis_from_rfc3339(time: &str) -> Option<u64> {
    if !is_rfc3339(time) {
        return None;
    }
    let b = time.as_bytes();
    let num = |from: usize, to: usize| b[from..to].iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
    let days = days_from_civil(num(0, 4), num(5, 7) as u32, num(8, 10) as u32);
    let mut ms = ((days * 24 + num(11, 13)) * 60 + num(14, 16)) * 60_000 + num(17, 19) * 1000;
    let mut at = 19;
    if b[at] == b'.' {
        let digits = b[at + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
        for (i, d) in b[at + 1..at + 1 + digits.min(3)].iter().enumerate() {
            ms += i64::from(d - b'0') * [100, 10, 1][i];
        }
        at += 1 + digits;
    }
    if matches!(b[at], b'+' | b'-') {
        let sign = if b[at] == b'-' { -1 } else { 1 };
        ms -= sign * (num(at + 1, at + 3) * 60 + num(at + 4, at + 6)) * 60_000;
    }
    u64::try_from(ms).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExtensionValue;
    use serde::Deserialize;
    use serde_json::json;

    fn parse(v: Value) -> Result<CloudEvent, Error> {
        CloudEvent::from_json(v.to_string().as_bytes())
    }

    fn minimal() -> Value {
        json!({"specversion": "1.0", "id": "1", "source": "/s", "type": "nop.noise.reading"})
    }

    #[test]
    fn parses_a_full_event_and_keeps_unknown_extensions() {
        let ev = parse(json!({
            "specversion": "1.0", "id": "r-1", "source": "urn:nop:sensor:s-1",
            "type": "nop.noise.reading", "time": "2026-12-01T02:36:01.5+01:00",
            "subject": "s-1", "datacontenttype": "application/json",
            "dataschema": "https://nop.example/schemas/reading.json",
            "data": {"sensor": "s-1", "db": 71.5},
            "correlationid": "c-1", "causationid": "x-9", "traceparent": "00-abc", "priority": 3
        }))
        .unwrap();
        assert_eq!(ev.ty, "nop.noise.reading");
        assert_eq!(ev.correlation_id(), "c-1");
        assert_eq!(ev.extensions.get("traceparent"), Some(&ExtensionValue::from("00-abc")));
        assert_eq!(ev.extensions.get("priority"), Some(&ExtensionValue::Integer(3)));
        // and writes them back out flat, as the JSON format requires
        let out = serde_json::to_value(&ev).unwrap();
        assert_eq!(out["traceparent"], json!("00-abc"));
        assert_eq!(out["data"]["db"], json!(71.5));
        assert!(out.get("extensions").is_none());
    }

    #[test]
    fn minimal_event_round_trips_without_empty_attributes() {
        let ev = parse(minimal()).unwrap();
        assert_eq!(serde_json::to_value(&ev).unwrap(), minimal());
    }

    #[test]
    fn missing_required_attributes_are_named() {
        for attr in ["specversion", "id", "source", "type"] {
            let mut v = minimal();
            v.as_object_mut().unwrap().remove(attr);
            let err = parse(v).unwrap_err().to_string();
            assert!(err.contains(attr), "{attr}: {err}");
        }
    }

    #[test]
    fn strings_refuse_control_characters_and_noncharacters() {
        // the CloudEvents type system's String: U+0000-U+001F, U+007F-U+009F, U+FDD0-U+FDEF
        // and the last two code points of each plane are not allowed
        for attr in ["id", "source", "type", "subject", "correlationid", "causationid", "traceparent"] {
            for bad in ["a\u{0}b", "\u{1f}", "x\u{7f}", "\u{85}", "\u{9f}y", "\u{fdd0}", "\u{fffe}", "\u{1ffff}", "\n"] {
                let mut v = minimal();
                v[attr] = json!(bad);
                let err = parse(v).unwrap_err().to_string();
                assert!(err.contains(attr) && err.contains("control"), "{attr} {bad:?}: {err}");
            }
        }
        // other characters outside ASCII are fine
        let mut v = minimal();
        v["subject"] = json!("Straße \u{a0}€ 😀 \u{fdcf}\u{fdf0}\u{fffd}");
        assert!(parse(v).is_ok());
    }

    #[test]
    fn rejects_bad_attribute_values() {
        let cases = [
            ("specversion", json!("0.3")),
            ("id", json!("")),
            ("source", json!("")),
            ("type", json!("")),
            ("time", json!("yesterday")),
            ("time", json!("2026-13-01T00:00:00Z")),
            ("datacontenttype", json!("json")),
            ("dataschema", json!("not a uri")),
            ("subject", json!("")),
            ("BadName", json!("x")),
            ("nested", json!({"a": 1})),
            ("id", json!(5)),
        ];
        for (attr, value) in cases {
            let mut v = minimal();
            v[attr] = value.clone();
            assert!(parse(v).is_err(), "{attr} = {value} should be rejected");
        }
    }

    #[test]
    fn rejects_data_together_with_data_base64() {
        let mut v = minimal();
        v["data"] = json!(1);
        v["data_base64"] = json!("AQ==");
        assert!(parse(v).is_err());
    }

    #[test]
    fn null_extensions_are_absent() {
        let mut v = minimal();
        v["traceparent"] = Value::Null;
        assert!(parse(v).unwrap().extensions.is_empty());
    }

    #[test]
    fn rejects_non_objects() {
        assert!(matches!(CloudEvent::from_json(b"[1,2]"), Err(Error::Json(_))));
        assert!(matches!(CloudEvent::from_json(b"{"), Err(Error::Json(_))));
    }

    #[test]
    fn correlation_chains_through_caused_by() {
        let first: CloudEvent = CloudEvent::new("a", "/m1", "t.one");
        let second: CloudEvent = CloudEvent::new("b", "/m2", "t.two").caused_by(&first);
        let third: CloudEvent = CloudEvent::new("c", "/m3", "t.three").caused_by(&second);
        assert_eq!(first.correlation_id(), "a");
        assert_eq!(second.correlation_id(), "a");
        assert_eq!(second.causationid.as_deref(), Some("a"));
        assert_eq!(third.correlation_id(), "a");
        assert_eq!(third.causationid.as_deref(), Some("b"));
    }

    #[test]
    fn decodes_typed_payloads() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Reading {
            sensor: String,
            db: f64,
        }
        let mut v = minimal();
        v["data"] = json!({"sensor": "s-1", "db": 60.0});
        let ev = parse(v.clone()).unwrap().decode::<Reading>().unwrap();
        assert_eq!(ev.data, Some(Reading { sensor: "s-1".into(), db: 60.0 }));
        v["data"] = json!({"sensor": 5});
        assert!(parse(v).unwrap().decode::<Reading>().is_err());
    }

    #[test]
    fn sequence_and_data_version_extensions() {
        let mut ev: CloudEvent = CloudEvent::new("a", "/m", "t.x");
        assert_eq!((ev.sequence(), ev.data_version()), (None, 1));
        ev.set_sequence(42);
        ev.set_data_version(2);
        let json = serde_json::to_value(&ev).unwrap();
        assert_eq!(json["sequence"], "00000000000000000042");
        assert_eq!(json["dataversion"], 2);
        let back = CloudEvent::from_json(json.to_string().as_bytes()).unwrap();
        assert_eq!((back.sequence(), back.data_version()), (Some(42), 2));
        let mut nine: CloudEvent = CloudEvent::new("b", "/m", "t.x");
        nine.set_sequence(9);
        let text = |e: &CloudEvent| serde_json::to_value(e).unwrap()["sequence"].as_str().unwrap().to_owned();
        assert!(text(&nine) < text(&ev), "string order is numeric order");
        ev.set_data_version(1);
        assert!(serde_json::to_value(&ev).unwrap().get("dataversion").is_none());
        // a sequence that is not a number is kept as it came; a bad version is rejected
        let mut odd = minimal();
        odd["sequence"] = json!("b-17");
        let odd = parse(odd).unwrap();
        assert_eq!((odd.sequence(), odd.extensions.get("sequence")), (None, Some(&ExtensionValue::from("b-17"))));
        for bad in [json!("2"), json!(0), json!(-1), json!(1.5)] {
            let mut v = minimal();
            v["dataversion"] = bad.clone();
            assert!(parse(v).is_err(), "dataversion {bad}");
        }
    }

    #[test]
    fn formats_timestamps() {
        assert_eq!(rfc3339_from_unix_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_from_unix_millis(1_796_092_561_500), "2026-12-01T02:36:01.500Z");
        assert_eq!(rfc3339_from_unix_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert!(is_rfc3339(&rfc3339_from_unix_millis(1_796_092_561_500)));
    }
}
