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
    /// A JSON number without a fraction that fits in 64 bits (CloudEvents Integer).
    Integer(i64),
    /// Any other JSON number.
    Number(f64),
    /// A JSON boolean.
    Boolean(bool),
}

impl ExtensionValue {
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
        Ok(Scalar(Some(match i64::try_from(n) {
            Ok(n) => ExtensionValue::Integer(n),
            Err(_) => ExtensionValue::Number(n as f64),
        })))
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
