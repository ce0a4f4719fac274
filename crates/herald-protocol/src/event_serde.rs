//! The CloudEvents JSON format, by hand: one pass over the object's keys, known attributes
//! into fields and the rest into `extensions` (serde's `flatten` would buffer the whole
//! object first, and this is the bus's hot path).

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use crate::extensions::Scalar;
use crate::{CloudEvent, ExtensionValue, Extensions};

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

enum Key {
    SpecVersion,
    Id,
    Source,
    Type,
    Time,
    Subject,
    DataContentType,
    DataSchema,
    Data,
    DataBase64,
    CorrelationId,
    CausationId,
    Sequence,
    DataVersion,
    Extension(String),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an attribute name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "specversion" => Key::SpecVersion,
                    "id" => Key::Id,
                    "source" => Key::Source,
                    "type" => Key::Type,
                    "time" => Key::Time,
                    "subject" => Key::Subject,
                    "datacontenttype" => Key::DataContentType,
                    "dataschema" => Key::DataSchema,
                    "data" => Key::Data,
                    "data_base64" => Key::DataBase64,
                    "correlationid" => Key::CorrelationId,
                    "causationid" => Key::CausationId,
                    "sequence" => Key::Sequence,
                    "dataversion" => Key::DataVersion,
                    other => Key::Extension(other.to_owned()),
                })
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

/// Reads an optional string attribute; JSON `null` is absent.
fn set<'de, A: MapAccess<'de>>(slot: &mut Option<String>, name: &'static str, map: &mut A) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = map.next_value::<Option<String>>()?;
    Ok(())
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for EventVisitor<T> {
    type Value = CloudEvent<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a CloudEvent (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CloudEvent<T>, A::Error> {
        let (mut specversion, mut id, mut source, mut ty) = (None, None, None, None);
        let (mut time, mut subject, mut datacontenttype, mut dataschema) = (None, None, None, None);
        let (mut data, mut data_base64, mut correlationid, mut causationid) = (None, None, None, None);
        let mut extensions = Extensions::new();
        let (mut sequence, mut dataversion) = (None, None);
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::SpecVersion => set(&mut specversion, "specversion", &mut map)?,
                Key::Id => set(&mut id, "id", &mut map)?,
                Key::Source => set(&mut source, "source", &mut map)?,
                Key::Type => set(&mut ty, "type", &mut map)?,
                Key::Time => set(&mut time, "time", &mut map)?,
                Key::Subject => set(&mut subject, "subject", &mut map)?,
                Key::DataContentType => set(&mut datacontenttype, "datacontenttype", &mut map)?,
                Key::DataSchema => set(&mut dataschema, "dataschema", &mut map)?,
                Key::DataBase64 => set(&mut data_base64, "data_base64", &mut map)?,
                Key::CorrelationId => set(&mut correlationid, "correlationid", &mut map)?,
                Key::CausationId => set(&mut causationid, "causationid", &mut map)?,
                Key::Data => {
                    if data.is_some() {
                        return Err(de::Error::duplicate_field("data"));
                    }
                    data = map.next_value::<Option<T>>()?;
                }
                Key::Sequence => {
                    if sequence.is_some() || extensions.contains_key("sequence") {
                        return Err(de::Error::duplicate_field("sequence"));
                    }
                    match scalar(&mut map, "sequence")? {
                        None => {}
                        Some(ExtensionValue::String(text)) => match decimal(&text) {
                            Some(n) => sequence = Some(n),
                            // kept as it came, not used for ordering
                            None => {
                                extensions.insert("sequence", text);
                            }
                        },
                        Some(other) => {
                            extensions.insert("sequence", other);
                        }
                    }
                }
                Key::DataVersion => {
                    if dataversion.is_some() || extensions.contains_key("dataversion") {
                        return Err(de::Error::duplicate_field("dataversion"));
                    }
                    match scalar(&mut map, "dataversion")? {
                        None => {}
                        Some(value) => match value.as_i64().and_then(|v| u32::try_from(v).ok()) {
                            Some(version) => dataversion = Some(version),
                            // kept as it came, for `validate` to reject
                            None => {
                                extensions.insert("dataversion", value);
                            }
                        },
                    }
                }
                Key::Extension(name) => {
                    if extensions.contains_key(&name) {
                        // the JSON format has one value per attribute
                        let _: IgnoredAny = map.next_value()?;
                        return Err(de::Error::custom(format_args!("duplicate attribute `{name}`")));
                    }
                    if let Some(value) = scalar(&mut map, &name)? {
                        extensions.insert(name, value);
                    }
                }
            }
        }
        Ok(CloudEvent {
            specversion: specversion.ok_or_else(|| de::Error::missing_field("specversion"))?,
            id: id.ok_or_else(|| de::Error::missing_field("id"))?,
            source: source.ok_or_else(|| de::Error::missing_field("source"))?,
            ty: ty.ok_or_else(|| de::Error::missing_field("type"))?,
            time,
            subject,
            datacontenttype,
            dataschema,
            data,
            data_base64,
            correlationid,
            causationid,
            extensions,
            sequence,
            dataversion,
        })
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
