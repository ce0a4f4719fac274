//! Extension attributes: every CloudEvents attribute an event carries beyond the spec's own
//! and herald's typed ones, kept as they came.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::ser::{Serialize, Serializer};

/// The value of an extension attribute. The CloudEvents JSON format writes every attribute
/// type as a JSON string, number or boolean, so these are the values an extension has.
#[derive(Clone, Debug, PartialEq)]
pub enum ExtensionValue {
    /// A JSON string (CloudEvents String, URI, URI-reference, Timestamp, Binary).
    String(String),
    /// A JSON number without a fraction that fits in 64 bits. Only a CloudEvents Integer
    /// (32 bits) is a valid value: [`CloudEvent::validate`] refuses the others.
    ///
    /// [`CloudEvent::validate`]: crate::CloudEvent::validate
    Integer(i64),
    /// Any other JSON number: read, so that an error can name it, but never a valid value
    /// ([`CloudEvent::validate`] refuses it).
    ///
    /// [`CloudEvent::validate`]: crate::CloudEvent::validate
    Number(f64),
    /// A JSON boolean.
    Boolean(bool),
}

impl ExtensionValue {
    /// A JSON number without sign or fraction, as read: an `Integer` when it fits in an
    /// `i64`, else a `Number` (which [`CloudEvent::validate`] refuses, as it does an
    /// `Integer` beyond 32 bits).
    ///
    /// [`CloudEvent::validate`]: crate::CloudEvent::validate
    pub fn unsigned(n: u64) -> Self {
        match i64::try_from(n) {
            Ok(n) => ExtensionValue::Integer(n),
            Err(_) => ExtensionValue::Number(n as f64),
        }
    }

    /// The string, if the value is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ExtensionValue::String(text) => Some(text),
            _ => None,
        }
    }

    /// The integer, if the value is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            ExtensionValue::Integer(n) => Some(*n),
            _ => None,
        }
    }

    /// The value as a CloudEvents Integer (a whole number of 32 bits), if it is one: the
    /// only number an attribute may hold.
    pub fn as_integer(&self) -> Option<i32> {
        self.as_i64().and_then(|n| i32::try_from(n).ok())
    }

    /// The number, if the value is one (an integer too).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ExtensionValue::Integer(n) => Some(*n as f64),
            ExtensionValue::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The boolean, if the value is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            ExtensionValue::Boolean(b) => Some(*b),
            _ => None,
        }
    }
}

impl From<String> for ExtensionValue {
    fn from(text: String) -> Self {
        ExtensionValue::String(text)
    }
}

impl From<&str> for ExtensionValue {
    fn from(text: &str) -> Self {
        ExtensionValue::String(text.to_owned())
    }
}

impl From<i64> for ExtensionValue {
    fn from(n: i64) -> Self {
        ExtensionValue::Integer(n)
    }
}

impl From<bool> for ExtensionValue {
    fn from(b: bool) -> Self {
        ExtensionValue::Boolean(b)
    }
}

impl Serialize for ExtensionValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ExtensionValue::String(text) => serializer.serialize_str(text),
            ExtensionValue::Integer(n) => serializer.serialize_i64(*n),
            ExtensionValue::Number(n) => serializer.serialize_f64(*n),
            ExtensionValue::Boolean(b) => serializer.serialize_bool(*b),
        }
    }
}

/// An attribute value as read: a scalar, or `None` for JSON `null` (absent).
pub(crate) struct Scalar(pub(crate) Option<ExtensionValue>);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, number or boolean")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Scalar, E> {
        Ok(Scalar(Some(ExtensionValue::String(text.to_owned()))))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Scalar, E> {
        Ok(Scalar(Some(ExtensionValue::String(text))))
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Scalar, E> {
        Ok(Scalar(Some(ExtensionValue::Boolean(b))))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Scalar, E> {
        Ok(Scalar(Some(ExtensionValue::Integer(n))))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Scalar, E> {
        Ok(Scalar(Some(ExtensionValue::unsigned(n))))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Scalar, E> {
        Ok(Scalar(Some(ExtensionValue::Number(n))))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar(None))
    }

    fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar(None))
    }
}

/// The extension attributes of an event, by name, in the order they came (an event has a
/// handful at most: a list, not a map).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extensions(Vec<(String, ExtensionValue)>);

impl Extensions {
    /// No extension attributes.
    pub const fn new() -> Self {
        Extensions(Vec::new())
    }

    /// The value of attribute `name`.
    pub fn get(&self, name: &str) -> Option<&ExtensionValue> {
        self.0.iter().find(|(known, _)| known == name).map(|(_, value)| value)
    }

    /// Whether the event has attribute `name`.
    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets attribute `name`; returns the value it replaced.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<ExtensionValue>) -> Option<ExtensionValue> {
        let name = name.into();
        let value = value.into();
        match self.0.iter_mut().find(|(known, _)| *known == name) {
            Some((_, slot)) => Some(std::mem::replace(slot, value)),
            None => {
                self.0.push((name, value));
                None
            }
        }
    }

    /// Removes attribute `name`; returns its value.
    pub fn remove(&mut self, name: &str) -> Option<ExtensionValue> {
        let at = self.0.iter().position(|(known, _)| known == name)?;
        Some(self.0.remove(at).1)
    }

    /// Every attribute, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ExtensionValue)> {
        self.0.iter().map(|(name, value)| (name.as_str(), value))
    }

    /// How many attributes there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a Extensions {
    type Item = (&'a str, &'a ExtensionValue);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, ExtensionValue)>,
        fn(&'a (String, ExtensionValue)) -> (&'a str, &'a ExtensionValue),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(name, value)| (name.as_str(), value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CloudEvent;

    #[test]
    fn a_small_ordered_map() {
        let mut ext = Extensions::new();
        assert!(ext.is_empty());
        assert_eq!(ext.insert("b", "1"), None);
        assert_eq!(ext.insert("a", 2), None);
        assert_eq!(ext.insert("c", true), None);
        // replacing keeps the place; removing keeps the order of the rest
        assert_eq!(ext.insert("b", "one"), Some(ExtensionValue::from("1")));
        assert_eq!(ext.remove("a"), Some(ExtensionValue::Integer(2)));
        assert_eq!(ext.remove("a"), None);
        let names: Vec<&str> = ext.iter().map(|(name, _)| name).collect();
        assert_eq!(names, ["b", "c"]);
        assert_eq!(ext.len(), 2);
        assert!(ext.contains_key("c") && !ext.contains_key("a"));
        assert_eq!(ext.get("b").and_then(ExtensionValue::as_str), Some("one"));
        assert_eq!(ext.get("c").and_then(ExtensionValue::as_bool), Some(true));
    }

    #[test]
    fn values_are_read_as_the_json_format_writes_them() {
        let event = CloudEvent::from_json(
            br#"{"specversion":"1.0","id":"1","source":"/s","type":"t.x",
                "text":"a","count":-3,"most":2147483647,"least":-2147483648,"flag":false,"gone":null}"#,
        )
        .unwrap();
        let ext = &event.extensions;
        assert_eq!(ext.get("text"), Some(&ExtensionValue::String("a".into())));
        assert_eq!(ext.get("count").and_then(ExtensionValue::as_i64), Some(-3));
        assert_eq!(ext.get("most").and_then(ExtensionValue::as_i64), Some(i64::from(i32::MAX)));
        assert_eq!(ext.get("least").and_then(ExtensionValue::as_i64), Some(i64::from(i32::MIN)));
        assert_eq!(ext.get("flag").and_then(ExtensionValue::as_bool), Some(false));
        assert!(!ext.contains_key("gone"), "null is absent");
        // and written back flat, in the order they came
        let text = serde_json::to_string(&event).unwrap();
        assert!(text.ends_with(r#""text":"a","count":-3,"most":2147483647,"least":-2147483648,"flag":false}"#), "{text}");
        // an object or an array is no attribute value; the error names the attribute
        let error = CloudEvent::from_json(br#"{"specversion":"1.0","id":"1","source":"/s","type":"t.x","bad":{"a":1}}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("`bad`"), "{error}");
    }

    #[test]
    fn a_number_that_is_no_cloudevents_integer_is_refused_by_name() {
        // the JSON format maps Integer to a number with only an integer part; the type
        // system's Integer is 32-bit
        for value in ["1.5", "5.0", "1e3", "2147483648", "-2147483649", "18446744073709551615"] {
            let json = format!(r#"{{"specversion":"1.0","id":"1","source":"/s","type":"t.x","ratio":{value}}}"#);
            let error = CloudEvent::from_json(json.as_bytes()).unwrap_err().to_string();
            assert!(error.contains("`ratio`") && error.contains("Integer"), "{value}: {error}");
        }
        // dataversion too: a positive Integer
        let json = r#"{"specversion":"1.0","id":"1","source":"/s","type":"t.x","dataversion":2147483648}"#;
        let error = CloudEvent::from_json(json.as_bytes()).unwrap_err().to_string();
        assert!(error.contains("`dataversion`"), "{error}");
    }
}
