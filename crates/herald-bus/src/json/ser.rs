//! Writing any serde value as compact JSON text.

use serde::ser::{self, Serialize};

use super::{float_text, plain_run, Error, RAW_TOKEN};

/// `value` as compact JSON text.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    let mut writer = Writer {
        out: String::with_capacity(256),
        raw: false,
    };
    value.serialize(&mut writer)?;
    Ok(writer.out)
}

struct Writer {
    out: String,
    /// The next string is JSON text to write as it is ([`super::RawJson`]).
    raw: bool,
}

impl Writer {
    fn integer(&mut self, negative: bool, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if negative {
            self.out.push('-');
        }
        for &digit in &digits[at..] {
            self.out.push(char::from(digit));
        }
    }

    fn float(&mut self, value: f64) {
        if !value.is_finite() {
            // as JSON.stringify and serde_json do: JSON has no NaN or infinity
            self.out.push_str("null");
        } else if value.fract() == 0.0 && value.abs() < 9_007_199_254_740_992.0 {
            self.integer(value.is_sign_negative() && value != 0.0, value.abs() as u64);
            self.out.push_str(".0");
        } else if let Some((units, digits)) = short_decimal(value.abs()) {
            // what `String(value)` writes, without asking JavaScript
            if value < 0.0 {
                self.out.push('-');
            }
            let scale = 10u64.pow(digits);
            self.integer(false, units / scale);
            self.out.push('.');
            let fraction = units % scale;
            let mut at = scale / 10;
            while at > 0 {
                self.out.push(char::from(b'0' + (fraction / at % 10) as u8));
                at /= 10;
            }
        } else {
            let text = float_text(value);
            self.out.push_str(&text);
            // a float stays a float on the wire, as serde_json writes it (JavaScript
            // writes 2^53 as `9007199254740992`)
            if !text.contains(['.', 'e', 'E']) {
                self.out.push_str(".0");
            }
        }
    }

    fn string(&mut self, text: &str) {
        self.out.push('"');
        let bytes = text.as_bytes();
        let mut start = 0;
        loop {
            // the run of bytes that need no escape, copied as they are
            let end = start + plain_run(bytes.get(start..).unwrap_or_default());
            self.out.push_str(text.get(start..end).unwrap_or_default());
            let Some(&byte) = bytes.get(end) else { break };
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0x08 => "\\b",
                0x0c => "\\f",
                _ => "",
            };
            if escape.is_empty() {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                self.out.push_str("\\u00");
                self.out.push(char::from(HEX[usize::from(byte >> 4)]));
                self.out.push(char::from(HEX[usize::from(byte & 0xf)]));
            } else {
                self.out.push_str(escape);
            }
            start = end + 1;
        }
        self.out.push('"');
    }

    fn open(&mut self, bracket: char) -> Compound<'_> {
        self.out.push(bracket);
        Compound {
            writer: self,
            first: true,
            close: "",
        }
    }

    /// `{"variant":` followed by an opening `bracket`; closed by both.
    fn open_variant(&mut self, variant: &str, bracket: char) -> Compound<'_> {
        self.out.push('{');
        self.string(variant);
        self.out.push(':');
        self.out.push(bracket);
        Compound {
            writer: self,
            first: true,
            close: "}",
        }
    }
}

impl<'a> ser::Serializer for &'a mut Writer {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.integer(v < 0, v.unsigned_abs());
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.out.push_str(&v.to_string());
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.integer(false, v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.out.push_str(&v.to_string());
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.float(v.into());
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.float(v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.string(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        if std::mem::take(&mut self.raw) {
            self.out.push_str(v);
        } else {
            self.string(v);
        }
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        use ser::SerializeSeq;
        let mut seq = self.serialize_seq(Some(v.len()))?;
        for byte in v {
            seq.serialize_element(byte)?;
        }
        seq.end()
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.out.push_str("null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.string(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.raw = name == RAW_TOKEN;
        value.serialize(&mut *self)?;
        self.raw = false;
        Ok(())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.out.push('{');
        self.string(variant);
        self.out.push(':');
        value.serialize(&mut *self)?;
        self.out.push('}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(self.open('['))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Compound<'a>, Error> {
        Ok(self.open('['))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Error> {
        Ok(self.open('['))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Error> {
        Ok(self.open_variant(variant, '['))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(self.open('{'))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'a>, Error> {
        Ok(self.open('{'))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Error> {
        Ok(self.open_variant(variant, '{'))
    }
}

/// An array or object being written; `close` is what follows its closing bracket (the
/// `}` of an enum variant's wrapper).
struct Compound<'a> {
    writer: &'a mut Writer,
    first: bool,
    close: &'static str,
}

impl Compound<'_> {
    fn separate(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.writer.out.push(',');
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.separate();
        value.serialize(&mut *self.writer)
    }

    /// A key: a string as it is; a number or boolean in quotes (as serde_json writes
    /// integer-keyed maps); anything else is refused.
    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.separate();
        let start = self.writer.out.len();
        key.serialize(&mut *self.writer)?;
        match self.writer.out.as_bytes().get(start) {
            Some(b'"') => {}
            Some(b'-' | b'0'..=b'9' | b't' | b'f') => {
                self.writer.out.insert(start, '"');
                self.writer.out.push('"');
            }
            _ => {
                return Err(Error::new(
                    "an object key must be a string, a number or a boolean",
                ))
            }
        }
        self.writer.out.push(':');
        Ok(())
    }

    fn finish(self, bracket: char) -> Result<(), Error> {
        self.writer.out.push(bracket);
        self.writer.out.push_str(self.close);
        Ok(())
    }
}

/// The four array-like compounds: elements separated by commas, closed by `]`.
macro_rules! array_like {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.element(value)
            }
            fn end(self) -> Result<(), Error> {
                self.finish(']')
            }
        }
    )*};
}

array_like!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.writer)
    }
    fn end(self) -> Result<(), Error> {
        self.finish('}')
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.separate();
        self.writer.string(key);
        self.writer.out.push(':');
        value.serialize(&mut *self.writer)
    }
    fn end(self) -> Result<(), Error> {
        self.finish('}')
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish('}')
    }
}

/// `value` (finite, positive, not an integer) as `units / 10^digits` with one to three
/// fraction digits, the fewest that read back as `value`, when it has such a form: then
/// that decimal is its shortest round-trip text, the one `String(value)` and Rust's
/// `Debug` write (below 2^30 an f64's spacing is under 10^-6, so no other decimal of as
/// few digits reads back as it). Sensor readings mostly have this form.
fn short_decimal(value: f64) -> Option<(u64, u32)> {
    if !(0.001..1_073_741_824.0).contains(&value) {
        return None;
    }
    let mut scale = 1.0;
    for digits in 1..=3 {
        scale *= 10.0;
        let units = (value * scale).round();
        if units / scale == value {
            return Some((units as u64, digits));
        }
    }
    None
}
