//! Reading JSON text into any serde type.

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use herald_protocol::{Attributes, CloudEvent, ExtensionValue};

use super::{parse_float, plain_run, Error, RawJson, RAW_TOKEN};

/// Nesting deeper than this is refused rather than risking the wasm stack.
const MAX_DEPTH: u32 = 128;

/// Reads one JSON value (and nothing after it but whitespace) as a `T`.
pub fn from_str<'de, T: de::Deserialize<'de>>(text: &'de str) -> Result<T, Error> {
    let mut reader = Reader::new(text);
    let value = T::deserialize(&mut reader).map_err(|e| e.at(reader.pos))?;
    reader.end()?;
    Ok(value)
}

/// Reads a CloudEvent's JSON text with its payload unread: one pass over the object, each
/// attribute handed to [`Attributes`] as it is scanned (no serde visitor: this is the
/// bus's hot path, and a visitor for the envelope is much more code). Reads what
/// `from_str::<CloudEvent<RawJson>>` reads, by the same rules.
pub fn envelope(text: &str) -> Result<CloudEvent<RawJson<'_>>, Error> {
    let mut reader = Reader::new(text);
    let mut event = Attributes::new();
    if reader.peek()? != b'{' {
        return Err(reader.error("expected a CloudEvent (a JSON object)"));
    }
    reader.enter()?;
    let mut first = true;
    while reader.next_item(&mut first, b'}')? {
        let name = reader.name()?;
        let name = name.as_str();
        let set = if name == "data" {
            let data = if reader.peek()? == b'n' {
                reader.literal("null")?;
                None
            } else {
                let start = reader.pos;
                reader.skip()?;
                Some(RawJson(reader.slice(start, reader.pos)))
            };
            event.set_data(data)
        } else {
            let value = match reader.token()? {
                Token::Null => None,
                Token::Bool(b) => Some(ExtensionValue::Boolean(b)),
                Token::Str(text) => Some(ExtensionValue::String(text.into_string())),
                Token::Number(Number::Unsigned(n)) => Some(ExtensionValue::unsigned(n)),
                Token::Number(Number::Signed(n)) => Some(ExtensionValue::Integer(n)),
                Token::Number(Number::Float(n)) => Some(ExtensionValue::Number(n)),
                Token::Array | Token::Object => {
                    return Err(reader.error(&format!(
                        "attribute `{name}`: expected a string, number or boolean"
                    )))
                }
            };
            event.set(name, value)
        };
        set.map_err(|message| reader.error(&message))?;
    }
    reader.leave(b'}')?;
    reader.end()?;
    event.finish().map_err(Error::new)
}

struct Reader<'de> {
    text: &'de str,
    bytes: &'de [u8],
    pos: usize,
    depth: u32,
}

/// The error when neither a `,` nor the closing `bracket` comes next.
fn separator_expected(bracket: u8) -> &'static str {
    if bracket == b']' {
        "expected `,` or `]`"
    } else {
        "expected `,` or `}`"
    }
}

enum Token<'de> {
    Null,
    Bool(bool),
    Str(Text<'de>),
    Number(Number),
    Array,
    Object,
}

enum Number {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
}

/// A string as read: borrowed when it has no escapes.
enum Text<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl<'de> Text<'de> {
    fn as_str(&self) -> &str {
        match self {
            Text::Borrowed(text) => text,
            Text::Owned(text) => text,
        }
    }

    fn into_string(self) -> String {
        match self {
            Text::Borrowed(text) => text.to_owned(),
            Text::Owned(text) => text,
        }
    }
}

impl<'de> Reader<'de> {
    fn new(text: &'de str) -> Self {
        Reader {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            depth: 0,
        }
    }

    /// Checks that nothing but whitespace follows the value read.
    fn end(&mut self) -> Result<(), Error> {
        self.skip_ws();
        if self.pos != self.bytes.len() {
            return Err(self.error("trailing characters after the JSON value"));
        }
        Ok(())
    }

    fn error(&self, message: &str) -> Error {
        Error::new(message).at(self.pos)
    }

    /// The text from byte `start` to `end`. The reader only cuts next to ASCII bytes (quotes,
    /// digits, brackets), always char boundaries: this never comes back empty for a cut it
    /// makes, and unlike indexing it has no panic path to ship.
    fn slice(&self, start: usize, end: usize) -> &'de str {
        self.text.get(start..end).unwrap_or_default()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Result<u8, Error> {
        self.skip_ws();
        self.bytes
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.error("unexpected end of the JSON text"))
    }

    fn expect(&mut self, byte: u8, message: &str) -> Result<(), Error> {
        if self.peek()? == byte {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(message))
        }
    }

    fn literal(&mut self, word: &str) -> Result<(), Error> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.error("expected a JSON value"))
        }
    }

    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("the JSON nests too deep"));
        }
        self.pos += 1;
        Ok(())
    }

    /// Reads the next scalar, or the opening bracket of an array or object (entering it).
    /// One copy of this code serves every visitor.
    #[inline(never)]
    fn token(&mut self) -> Result<Token<'de>, Error> {
        Ok(match self.peek()? {
            b'n' => {
                self.literal("null")?;
                Token::Null
            }
            b't' => {
                self.literal("true")?;
                Token::Bool(true)
            }
            b'f' => {
                self.literal("false")?;
                Token::Bool(false)
            }
            b'"' => Token::Str(self.string()?),
            b'-' | b'0'..=b'9' => Token::Number(self.scan_number()?),
            b'[' => {
                self.enter()?;
                Token::Array
            }
            b'{' => {
                self.enter()?;
                Token::Object
            }
            _ => return Err(self.error("expected a JSON value")),
        })
    }

    /// Whether another element of the array or object closed by `bracket` follows (its
    /// separating comma read); `false` at the closing bracket, which stays unread.
    fn next_item(&mut self, first: &mut bool, bracket: u8) -> Result<bool, Error> {
        if self.peek()? == bracket {
            return Ok(false);
        }
        if !std::mem::take(first) {
            self.expect(b',', separator_expected(bracket))?;
            if self.peek()? == bracket {
                return Err(self.error("trailing comma"));
            }
        }
        Ok(true)
    }

    /// Ends an array or object at its closing `bracket`.
    #[inline(never)]
    fn leave(&mut self, bracket: u8) -> Result<(), Error> {
        self.expect(bracket, separator_expected(bracket))?;
        self.depth -= 1;
        Ok(())
    }

    /// Reads a string; the reader is at its opening quote.
    fn string(&mut self) -> Result<Text<'de>, Error> {
        self.pos += 1;
        let mut start = self.pos;
        let mut owned: Option<String> = None;
        loop {
            // the run of plain bytes, in one tight loop
            self.pos += plain_run(self.bytes.get(self.pos..).unwrap_or_default());
            let Some(&byte) = self.bytes.get(self.pos) else {
                return Err(self.error("unterminated string"));
            };
            match byte {
                b'"' => {
                    let tail = self.slice(start, self.pos);
                    self.pos += 1;
                    return Ok(match owned {
                        None => Text::Borrowed(tail),
                        Some(mut text) => {
                            text.push_str(tail);
                            Text::Owned(text)
                        }
                    });
                }
                b'\\' => {
                    let text = owned.get_or_insert_with(String::new);
                    text.push_str(self.slice(start, self.pos));
                    self.pos += 1;
                    let escaped = match self.bytes.get(self.pos) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => self.unicode_escape()?,
                        _ => return Err(self.error("invalid escape in string")),
                    };
                    text.push(escaped);
                    self.pos += 1;
                    start = self.pos;
                }
                0..=0x1f => return Err(self.error("control character in string")),
                _ => self.pos += 1,
            }
        }
    }

    /// `\uXXXX` (a surrogate pair when it is one); the reader is at the `u` and ends on the
    /// last hex digit.
    fn unicode_escape(&mut self) -> Result<char, Error> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if self.bytes.get(self.pos + 1..self.pos + 3) != Some(b"\\u") {
                    return Err(self.error("lone surrogate in string"));
                }
                self.pos += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.error("lone surrogate in string"));
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.error("lone surrogate in string")),
            code => code,
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid escape in string"))
    }

    /// Four hex digits after the current byte; ends on the last.
    fn hex4(&mut self) -> Result<u32, Error> {
        let mut code = 0;
        for _ in 0..4 {
            self.pos += 1;
            let digit = match self.bytes.get(self.pos) {
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                _ => return Err(self.error("invalid \\u escape in string")),
            };
            code = code * 16 + u32::from(digit);
        }
        Ok(code)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Reads a number as `u64`, `i64` or `f64`, whichever holds it.
    #[inline(never)]
    fn scan_number(&mut self) -> Result<Number, Error> {
        let start = self.pos;
        let negative = self.bytes[self.pos] == b'-';
        if negative {
            self.pos += 1;
        }
        let int_start = self.pos;
        let int_digits = self.digits();
        if int_digits == 0 || (int_digits > 1 && self.bytes[int_start] == b'0') {
            return Err(self.error("invalid number"));
        }
        let mut fraction_digits = 0;
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            fraction_digits = self.digits();
            if fraction_digits == 0 {
                return Err(self.error("invalid number"));
            }
        }
        let mantissa_end = self.pos;
        let mut exponent: Option<i64> = None;
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            self.pos += 1;
            let sign = match self.bytes.get(self.pos) {
                Some(b'-') => {
                    self.pos += 1;
                    -1
                }
                Some(b'+') => {
                    self.pos += 1;
                    1
                }
                _ => 1,
            };
            let exp_start = self.pos;
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
            // saturates: anything this large is 0 or infinity anyway
            let value = self
                .slice(exp_start, self.pos)
                .parse::<i64>()
                .unwrap_or(100_000);
            exponent = Some(sign * value.min(100_000));
        }
        let text = self.slice(start, self.pos);
        if fraction_digits == 0 && exponent.is_none() {
            let digits = self.slice(int_start, self.pos);
            if let Ok(n) = digits.parse::<u64>() {
                if !negative {
                    return Ok(Number::Unsigned(n));
                }
                // `-0` is the float -0.0, as serde_json and JavaScript read it
                if let Some(n) = 0i64.checked_sub_unsigned(n).filter(|&n| n != 0) {
                    return Ok(Number::Signed(n));
                }
            }
        }
        Ok(Number::Float(self.float(
            text,
            int_start,
            mantissa_end,
            fraction_digits,
            exponent.unwrap_or(0),
        )))
    }

    /// A float's value: exact arithmetic when the digits fit in 53 bits and the power of
    /// ten is small enough to be exact too (the result is then correctly rounded), the
    /// platform's correctly rounding parser otherwise.
    fn float(
        &self,
        text: &str,
        int_start: usize,
        mantissa_end: usize,
        fraction_digits: usize,
        exponent: i64,
    ) -> f64 {
        const POW10: [f64; 23] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
            1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
        ];
        let mut mantissa: u64 = 0;
        let mut exact = true;
        for &byte in &self.bytes[int_start..mantissa_end] {
            if byte == b'.' {
                continue;
            }
            match mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(u64::from(byte - b'0')))
            {
                Some(m) if m < (1 << 53) => mantissa = m,
                _ => {
                    exact = false;
                    break;
                }
            }
        }
        let power = exponent - fraction_digits as i64;
        if exact && (-22..=22).contains(&power) {
            let value = mantissa as f64;
            let value = if power < 0 {
                value / POW10[(-power) as usize]
            } else {
                value * POW10[power as usize]
            };
            return if text.starts_with('-') { -value } else { value };
        }
        parse_float(text)
    }

    /// The error for a value that is not what `expected` takes, naming the value found (a
    /// string, a number, a boolean, `null`, an array or an object), as serde says it.
    #[inline(never)]
    fn invalid_type(&mut self, expected: &dyn de::Expected) -> Error {
        use de::Unexpected as U;
        let unexpected = match self.token() {
            Err(error) => return error,
            Ok(Token::Null) => U::Unit,
            Ok(Token::Bool(b)) => U::Bool(b),
            Ok(Token::Str(text)) => {
                return de::Error::invalid_type(U::Str(text.as_str()), expected)
            }
            Ok(Token::Number(Number::Unsigned(n))) => U::Unsigned(n),
            Ok(Token::Number(Number::Signed(n))) => U::Signed(n),
            Ok(Token::Number(Number::Float(n))) => U::Float(n),
            Ok(Token::Array) => U::Seq,
            Ok(Token::Object) => U::Map,
        };
        de::Error::invalid_type(unexpected, expected)
    }

    /// Skips one value of any kind, checking that it is JSON: one loop over its tokens, with
    /// a bit per open bracket (set for an object), no visitor.
    fn skip(&mut self) -> Result<(), Error> {
        let mut objects: u128 = 0;
        let mut open = 0u32;
        loop {
            // a value
            match self.token()? {
                Token::Array | Token::Object if open == 128 => {
                    return Err(self.error("the JSON nests too deep"))
                }
                Token::Array => {
                    objects <<= 1;
                    open += 1;
                    if self.peek()? != b']' {
                        continue;
                    }
                }
                Token::Object => {
                    objects = objects << 1 | 1;
                    open += 1;
                    if self.peek()? != b'}' {
                        self.key()?;
                        continue;
                    }
                }
                _ => {}
            }
            // after a value, or at the closing bracket of an empty array or object
            loop {
                if open == 0 {
                    return Ok(());
                }
                let bracket = if objects & 1 == 1 { b'}' } else { b']' };
                match self.peek()? {
                    b',' => {
                        self.pos += 1;
                        if self.peek()? == bracket {
                            return Err(self.error("trailing comma"));
                        }
                        if bracket == b'}' {
                            self.key()?;
                        }
                        break;
                    }
                    byte if byte == bracket => {
                        self.pos += 1;
                        self.depth -= 1;
                        objects >>= 1;
                        open -= 1;
                    }
                    _ => return Err(self.error(separator_expected(bracket))),
                }
            }
        }
    }

    /// An object's key and its `:`, skipped.
    fn key(&mut self) -> Result<(), Error> {
        self.name().map(drop)
    }

    /// An object's key, and its `:` read.
    /// The elements of the array just entered, to `visitor`, and its closing bracket.
    fn items<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        let value = visitor.visit_seq(Items {
            reader: &mut *self,
            first: true,
        })?;
        self.leave(b']')?;
        Ok(value)
    }

    /// The members of the object just entered, to `visitor`, and its closing brace.
    fn entries<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        let value = visitor.visit_map(Entries {
            reader: &mut *self,
            first: true,
        })?;
        self.leave(b'}')?;
        Ok(value)
    }

    fn name(&mut self) -> Result<Text<'de>, Error> {
        if self.peek()? != b'"' {
            return Err(self.error("expected a string as the object key"));
        }
        let name = self.string()?;
        self.expect(b':', "expected `:`")?;
        Ok(name)
    }
}

/// Deserializer methods of the number types: each reads the number as it is written and
/// lets the visitor check its range (as `deserialize_u64` does).
macro_rules! read_as_number {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.deserialize_u64(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for &mut Reader<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.token()? {
            Token::Null => visitor.visit_unit(),
            Token::Bool(b) => visitor.visit_bool(b),
            Token::Str(Text::Borrowed(text)) => visitor.visit_borrowed_str(text),
            Token::Str(Text::Owned(text)) => visitor.visit_string(text),
            Token::Number(Number::Unsigned(n)) => visitor.visit_u64(n),
            Token::Number(Number::Signed(n)) => visitor.visit_i64(n),
            Token::Number(Number::Float(n)) => visitor.visit_f64(n),
            Token::Array => self.items(visitor),
            Token::Object => self.entries(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.peek()? == b'n' {
            self.literal("null")?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == RAW_TOKEN {
            self.skip_ws();
            let start = self.pos;
            self.skip()?;
            return visitor.visit_borrowed_str(self.slice(start, self.pos));
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.peek()? {
            b'"' => match self.string()? {
                Text::Borrowed(text) => visitor.visit_enum(text.into_deserializer()),
                Text::Owned(text) => visitor.visit_enum(text.into_deserializer()),
            },
            b'{' => {
                self.enter()?;
                let value = visitor.visit_enum(Variant { reader: &mut *self })?;
                self.leave(b'}')?;
                Ok(value)
            }
            _ => Err(self.error("expected an enum variant: a string or an object")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.skip()?;
        visitor.visit_unit()
    }

    // What a visitor asks for is read directly, so that each visitor's copy of this code
    // holds only the branch it takes; anything else is the same `invalid type` error the
    // visitor would give.

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.peek()? {
            b't' | b'f' => match self.token()? {
                Token::Bool(b) => visitor.visit_bool(b),
                _ => Err(self.error("expected a JSON value")),
            },
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.peek()? {
            b'-' | b'0'..=b'9' => match self.scan_number()? {
                Number::Unsigned(n) => visitor.visit_u64(n),
                Number::Signed(n) => visitor.visit_i64(n),
                Number::Float(n) => visitor.visit_f64(n),
            },
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.peek()? {
            b'"' => match self.string()? {
                Text::Borrowed(text) => visitor.visit_borrowed_str(text),
                Text::Owned(text) => visitor.visit_string(text),
            },
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.peek()? {
            b'n' => {
                self.literal("null")?;
                visitor.visit_unit()
            }
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.peek()? {
            b'[' => {
                self.enter()?;
                self.items(visitor)
            }
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.peek()? {
            b'{' => {
                self.enter()?;
                self.entries(visitor)
            }
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        // an object, or (as serde_json allows) the fields in order as an array
        match self.peek()? {
            b'{' => self.deserialize_map(visitor),
            b'[' => self.deserialize_seq(visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    serde::forward_to_deserialize_any! {
        bytes byte_buf
    }

    read_as_number!(
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u128 deserialize_f32 deserialize_f64
    );
}

struct Items<'a, 'de> {
    reader: &'a mut Reader<'de>,
    first: bool,
}

impl<'de> de::SeqAccess<'de> for Items<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if !self.reader.next_item(&mut self.first, b']')? {
            return Ok(None);
        }
        seed.deserialize(&mut *self.reader).map(Some)
    }
}

struct Entries<'a, 'de> {
    reader: &'a mut Reader<'de>,
    first: bool,
}

impl<'de> de::MapAccess<'de> for Entries<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if !self.reader.next_item(&mut self.first, b'}')? {
            return Ok(None);
        }
        if self.reader.peek()? != b'"' {
            return Err(self.reader.error("expected a string as the object key"));
        }
        seed.deserialize(&mut *self.reader).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        self.reader.expect(b':', "expected `:`")?;
        seed.deserialize(&mut *self.reader)
    }
}

/// An enum variant written as `{"Variant": value}`.
struct Variant<'a, 'de> {
    reader: &'a mut Reader<'de>,
}

impl<'a, 'de> de::EnumAccess<'de> for Variant<'a, 'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        if self.reader.peek()? != b'"' {
            return Err(self.reader.error("expected a string as the enum variant"));
        }
        let variant = seed.deserialize(&mut *self.reader)?;
        self.reader.expect(b':', "expected `:`")?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        de::Deserialize::deserialize(&mut *self.reader)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(&mut *self.reader)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_any(&mut *self.reader, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_any(&mut *self.reader, visitor)
    }
}
