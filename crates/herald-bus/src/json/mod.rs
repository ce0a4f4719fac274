//! herald's own JSON text codec for envelopes and payloads, in place of `serde_json`'s
//! reader and writer on the bus's hot path.
//!
//! It is a plain serde [`Serializer`](serde::Serializer) and
//! [`Deserializer`](serde::Deserializer) over RFC 8259 text, written for what a
//! micro-frontend ships and runs: numbers that need more than a fast exact path are
//! converted by the browser's own `parseFloat` and `String(number)` (both exact and
//! shortest round-trip, by ECMAScript's rules) instead of bundling Rust's float parser and
//! printer, and errors never format a float. That keeps tens of kilobytes out of every
//! MFE's wasm; see `cargo xtask bench size`.
//!
//! Outside the browser (unit tests, native builds) the same conversions use Rust's own.
//!
//! A micro-frontend that needs JSON for its own purposes can use it too, and ship no
//! second JSON implementation:
//!
//! ```
//! use herald_bus::json;
//!
//! #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
//! struct Reading { sensor: String, db: f64 }
//!
//! let text = json::to_string(&Reading { sensor: "s-1".into(), db: 61.5 })?;
//! assert_eq!(text, r#"{"sensor":"s-1","db":61.5}"#);
//! assert_eq!(json::from_str::<Reading>(&text)?, Reading { sensor: "s-1".into(), db: 61.5 });
//! assert!(json::from_str::<Reading>(r#"{"sensor": 1}"#).is_err());
//! # Ok::<(), json::Error>(())
//! ```

mod de;
mod ser;

use std::fmt;

pub use de::{envelope, from_str};
pub use ser::to_string;

/// The newtype name that marks [`RawJson`] to this codec's reader and writer.
const RAW_TOKEN: &str = "$herald::json::raw";

/// One JSON value kept as its text: read without decoding it, written as it is.
///
/// Only this module's codec knows it: through another serde format it is a string (and
/// reading it needs this codec).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawJson<'a>(
    /// The JSON text of one value.
    pub &'a str,
);

impl RawJson<'_> {
    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0
    }
}

impl serde::Serialize for RawJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(RAW_TOKEN, self.0)
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for RawJson<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Raw;
        impl<'de> serde::de::Visitor<'de> for Raw {
            type Value = RawJson<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                text: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(RawJson(text))
            }
        }
        deserializer.deserialize_newtype_struct(RAW_TOKEN, Raw)
    }
}

/// One JSON value kept as its text, owned: [`RawJson`] that outlives the text it was read
/// from (herald-bus reports an event it could not take as one, in a
/// [`DeadLetter`](herald_protocol::DeadLetter)).
///
/// Like [`RawJson`], only this module's codec reads and writes it as JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawJsonBuf(String);

impl RawJsonBuf {
    /// `text` if it is one JSON value (surrounding whitespace dropped).
    pub fn new(text: &str) -> Result<Self, Error> {
        from_str::<RawJson>(text).map(|raw| RawJsonBuf(raw.0.to_owned()))
    }

    /// `text` as a JSON string.
    pub fn string(text: &str) -> Self {
        // a string is always JSON: there is nothing to fail on
        RawJsonBuf(to_string(text).unwrap_or_else(|_| "null".to_owned()))
    }

    /// An owned copy of `raw` (one JSON value already).
    pub fn from_raw(raw: RawJson<'_>) -> Self {
        RawJsonBuf(raw.0.to_owned())
    }

    /// `null`.
    pub(crate) fn null() -> Self {
        RawJsonBuf("null".to_owned())
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for RawJsonBuf {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RawJson(&self.0).serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for RawJsonBuf {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Raw;
        impl serde::de::Visitor<'_> for Raw {
            type Value = RawJsonBuf;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(RawJsonBuf(text.to_owned()))
            }
        }
        deserializer.deserialize_newtype_struct(RAW_TOKEN, Raw)
    }
}

/// What is wrong with a JSON text, or with a value that cannot be written as JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    message: String,
    at: Option<usize>,
}

impl Error {
    fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            at: None,
        }
    }

    fn at(mut self, offset: usize) -> Self {
        self.at.get_or_insert(offset);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some(at) => write!(f, "{} at byte {at}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}

impl serde::ser::Error for Error {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Error::new(message.to_string())
    }
}

impl serde::de::Error for Error {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Error::new(message.to_string())
    }

    // serde's own messages print the unexpected value with `Display`, which for a float
    // brings Rust's whole float printer into the wasm; these say the same without it.
    fn invalid_type(unexpected: serde::de::Unexpected, expected: &dyn serde::de::Expected) -> Self {
        Error::new(format!(
            "invalid type: {}, expected {expected}",
            Unexpected(unexpected)
        ))
    }

    fn invalid_value(
        unexpected: serde::de::Unexpected,
        expected: &dyn serde::de::Expected,
    ) -> Self {
        Error::new(format!(
            "invalid value: {}, expected {expected}",
            Unexpected(unexpected)
        ))
    }
}

/// serde's unexpected value, said without printing floats.
struct Unexpected<'a>(serde::de::Unexpected<'a>);

impl fmt::Display for Unexpected<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use serde::de::Unexpected as U;
        match self.0 {
            U::Bool(b) => write!(f, "boolean `{b}`"),
            U::Unsigned(n) => write!(f, "integer `{n}`"),
            U::Signed(n) => write!(f, "integer `{n}`"),
            U::Float(_) => f.write_str("a floating point number"),
            U::Char(c) => write!(f, "character `{c}`"),
            U::Str(s) => write!(f, "string \"{s}\""),
            U::Bytes(_) => f.write_str("byte array"),
            U::Unit => f.write_str("null"),
            U::Option => f.write_str("option"),
            U::NewtypeStruct => f.write_str("newtype struct"),
            U::Seq => f.write_str("array"),
            U::Map => f.write_str("object"),
            U::Enum => f.write_str("enum"),
            U::UnitVariant => f.write_str("unit variant"),
            U::NewtypeVariant => f.write_str("newtype variant"),
            U::TupleVariant => f.write_str("tuple variant"),
            U::StructVariant => f.write_str("struct variant"),
            U::Other(other) => f.write_str(other),
        }
    }
}

/// How many bytes from the start of `bytes` a JSON string can hold as they are: the
/// index of the first quote, backslash or control character (which end the string or need an
/// escape), or the length. Eight bytes at a time: JSON text is mostly such runs.
fn plain_run(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // the high bit of each byte of `word` that is zero (exact for the lowest such byte,
    // which is all `trailing_zeros` looks at)
    let zero = |word: u64| word.wrapping_sub(ONES) & !word & HIGH;
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in chunks.by_ref() {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let word = u64::from_le_bytes(word);
        let hits = zero(word ^ (ONES * u64::from(b'"')))
            | zero(word ^ (ONES * u64::from(b'\\')))
            // bytes below 0x20: the high bit of `word - 0x20…` where `word` had it clear
            | (word.wrapping_sub(ONES * 0x20) & !word & HIGH);
        if hits != 0 {
            return at + (hits.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + chunks
        .remainder()
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .unwrap_or(chunks.remainder().len())
}

/// `text` (a JSON number) as the nearest `f64`.
fn parse_float(text: &str) -> f64 {
    #[cfg(target_arch = "wasm32")]
    {
        js_sys::parse_float(text)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        text.parse().unwrap_or(f64::NAN)
    }
}

/// A finite `f64` as the shortest JSON number that reads back as it.
fn float_text(value: f64) -> String {
    #[cfg(target_arch = "wasm32")]
    {
        crate::js::herald_number_text(value)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        format!("{value:?}")
    }
}

#[cfg(test)]
mod tests;
