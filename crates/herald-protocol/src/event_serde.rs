//! The CloudEvents JSON format, by hand: one pass over the object's keys, known attributes
//! into fields and the rest into `extensions` (serde's `flatten` would buffer the whole
//! object first, and this is the bus's hot path).

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use crate::extensions::Scalar;
use crate::{CloudEvent, ExtensionValue};

impl<T: Serialize> Serialize for CloudEvent<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("specversion", &self.specversion)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("source", &self.source)?;
        map.serialize_entry("type", &self.ty)?;
        let optional = [
            ("time", &self.time),
            ("subject", &self.subject),
            ("datacontenttype", &self.datacontenttype),
            ("dataschema", &self.dataschema),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                map.serialize_entry(name, value)?;
            }
        }
        if let Some(data) = &self.data {
            map.serialize_entry("data", data)?;
        }
        if let Some(data) = &self.data_base64 {
            map.serialize_entry("data_base64", data)?;
        }
        if let Some(id) = &self.correlationid {
            map.serialize_entry("correlationid", id)?;
        }
        if let Some(id) = &self.causationid {
            map.serialize_entry("causationid", id)?;
        }
        if let Some(sequence) = self.sequence {
            map.serialize_entry("sequence", &Padded(sequence))?;
        }
        if let Some(version) = self.dataversion {
            map.serialize_entry("dataversion", &version)?;
        }
        for (name, value) in &self.extensions {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// A sequence number as the 20 zero-padded digits herald writes.
struct Padded(u64);

impl Serialize for Padded {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut digits = [b'0'; 20];
        let mut n = self.0;
        for digit in digits.iter_mut().rev() {
            *digit = b'0' + (n % 10) as u8;
            n /= 10;
        }
        // twenty ASCII digits are always UTF-8
        serializer.serialize_str(std::str::from_utf8(&digits).unwrap_or_default())
    }
}

/// A CloudEvent read attribute by attribute, by the rules of the CloudEvents JSON format:
/// what this type's serde `Deserialize` does with each member of the object. A reader that
/// is not serde (herald-bus's JSON reader, which scans an envelope's text directly) hands
/// its attributes here, so the format's rules live in one place.
///
/// ```
/// use herald_protocol::{Attributes, ExtensionValue};
///
/// let mut event = Attributes::<u32>::new();
/// event.set("specversion", Some("1.0".into()))?;
/// event.set("id", Some("e-1".into()))?;
/// event.set("source", Some("/sensors/s-1".into()))?;
/// event.set("type", Some("nop.noise.reading".into()))?;
/// event.set("sequence", Some("00000000000000000007".into()))?;
/// event.set("tenant", Some(ExtensionValue::Integer(3)))?;
/// event.set_data(Some(42))?;
/// let event = event.finish()?;
/// assert_eq!((event.sequence(), event.data), (Some(7), Some(42)));
/// assert_eq!(event.extensions.get("tenant"), Some(&ExtensionValue::Integer(3)));
/// # Ok::<(), String>(())
/// ```
#[derive(Debug)]
pub struct Attributes<T> {
    /// The event as read so far; its required attributes are empty until given.
    event: CloudEvent<T>,
    /// Which of the `REQUIRED` attributes (bit `1 << index`) and `data` (`DATA`) were given.
    given: u8,
}

/// The attributes an event must have, in the order of their bits in `Attributes::given`.
const REQUIRED: [&str; 4] = ["specversion", "id", "source", "type"];
const DATA: u8 = 1 << 4;

impl<T> Default for Attributes<T> {
    fn default() -> Self {
        Attributes {
            event: CloudEvent::blank(),
            given: 0,
        }
    }
}

/// A string attribute's value: `None` for JSON `null`, an error for any other scalar.
fn string(name: &str, value: Option<ExtensionValue>) -> Result<Option<String>, String> {
    match value {
        None => Ok(None),
        Some(ExtensionValue::String(text)) => Ok(Some(text)),
        Some(_) => Err(format!("attribute `{name}` must be a string")),
    }
}

impl<T> Attributes<T> {
    /// No attributes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes attribute `name` (any but `data`) with its value, `None` for JSON `null`
    /// (absent). Fails on an attribute given twice and on a string attribute that is not a
    /// string; an extension keeps any scalar.
    pub fn set(&mut self, name: &str, value: Option<ExtensionValue>) -> Result<(), String> {
        let event = &mut self.event;
        let slot = match name {
            "specversion" => return self.set_required(0, value),
            "id" => return self.set_required(1, value),
            "source" => return self.set_required(2, value),
            "type" => return self.set_required(3, value),
            "time" => &mut event.time,
            "subject" => &mut event.subject,
            "datacontenttype" => &mut event.datacontenttype,
            "dataschema" => &mut event.dataschema,
            "data_base64" => &mut event.data_base64,
            "correlationid" => &mut event.correlationid,
            "causationid" => &mut event.causationid,
            "sequence" | "dataversion" => return self.set_typed_extension(name, value),
            "data" => return Err("`data` is the payload, not an attribute".to_owned()),
            _ => {
                if event.extensions.contains_key(name) {
                    // the JSON format has one value per attribute
                    return Err(format!("duplicate attribute `{name}`"));
                }
                if let Some(value) = value {
                    event.extensions.insert(name, value);
                }
                return Ok(());
            }
        };
        if slot.is_some() {
            return Err(format!("duplicate attribute `{name}`"));
        }
        *slot = string(name, value)?;
        Ok(())
    }

    /// The required attribute `REQUIRED[at]`.
    fn set_required(&mut self, at: usize, value: Option<ExtensionValue>) -> Result<(), String> {
        let name = REQUIRED[at];
        let bit = 1 << at;
        if self.given & bit != 0 {
            return Err(format!("duplicate attribute `{name}`"));
        }
        if let Some(text) = string(name, value)? {
            self.given |= bit;
            let event = &mut self.event;
            *match at {
                0 => &mut event.specversion,
                1 => &mut event.id,
                2 => &mut event.source,
                _ => &mut event.ty,
            } = text;
        }
        Ok(())
    }

    /// `sequence` (a string of decimal digits) and `dataversion` (a non-negative integer),
    /// herald's own extensions; a value of another form is kept as it came, as an extension
    /// (`validate` rejects a `dataversion` that is not a version).
    fn set_typed_extension(&mut self, name: &str, value: Option<ExtensionValue>) -> Result<(), String> {
        let event = &mut self.event;
        let sequence = name == "sequence";
        let taken = if sequence { event.sequence.is_some() } else { event.dataversion.is_some() };
        if taken || event.extensions.contains_key(name) {
            return Err(format!("duplicate attribute `{name}`"));
        }
        let Some(value) = value else { return Ok(()) };
        if sequence {
            if let Some(n) = value.as_str().and_then(decimal) {
                event.sequence = Some(n);
                return Ok(());
            }
        } else if let Some(version) = value.as_integer().and_then(|v| u32::try_from(v).ok()) {
            event.dataversion = Some(version);
            return Ok(());
        }
        event.extensions.insert(name, value);
        Ok(())
    }

    /// Takes the payload, `None` for JSON `null`; fails if it was given before.
    pub fn set_data(&mut self, data: Option<T>) -> Result<(), String> {
        if self.given & DATA != 0 {
            return Err("duplicate attribute `data`".to_owned());
        }
        self.given |= DATA;
        self.event.data = data;
        Ok(())
    }

    /// The event; fails if a required attribute is missing. (The attributes' values are
    /// checked by [`CloudEvent::validate`].)
    pub fn finish(self) -> Result<CloudEvent<T>, String> {
        match (0..REQUIRED.len()).find(|at| self.given & (1 << at) == 0) {
            Some(at) => Err(format!("missing attribute `{}`", REQUIRED[at])),
            None => Ok(self.event),
        }
    }
}

/// A member name of the object: `data`, or an attribute's (borrowed when the format can).
enum Key<'de> {
    Data,
    Borrowed(&'de str),
    Owned(String),
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an attribute name")
            }
            fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(if key == "data" { Key::Data } else { Key::Borrowed(key) })
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(if key == "data" { Key::Data } else { Key::Owned(key.to_owned()) })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for CloudEvent<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EventVisitor(PhantomData))
    }
}

struct EventVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for EventVisitor<T> {
    type Value = CloudEvent<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a CloudEvent (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CloudEvent<T>, A::Error> {
        let mut event = Attributes::new();
        while let Some(key) = map.next_key::<Key>()? {
            let name = match &key {
                Key::Data => {
                    let data = map.next_value::<Option<T>>()?;
                    event.set_data(data).map_err(de::Error::custom)?;
                    continue;
                }
                Key::Borrowed(name) => name,
                Key::Owned(name) => name.as_str(),
            };
            let value = scalar(&mut map, name)?;
            event.set(name, value).map_err(de::Error::custom)?;
        }
        event.finish().map_err(de::Error::custom)
    }
}

/// The next value as an attribute's: a string, number or boolean, `None` for `null`.
fn scalar<'de, A: MapAccess<'de>>(map: &mut A, name: &str) -> Result<Option<ExtensionValue>, A::Error> {
    map.next_value::<Scalar>()
        .map(|scalar| scalar.0)
        .map_err(|e| de::Error::custom(format_args!("attribute `{name}`: {e}")))
}

/// A string of decimal digits as a number (leading zeros allowed).
fn decimal(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.bytes().try_fold(0u64, |n, b| {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}
