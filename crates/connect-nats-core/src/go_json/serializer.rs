//! [`GoSerializer`]: a serde [`Serializer`] writing the bytes serde_json's
//! `Serializer` writes with [`GoFormatter`], faster where events spend their
//! time: a string or key with nothing to escape is found by an 8-byte word
//! scan and copied whole, where serde_json looks up each byte in turn.
//!
//! Numbers and literals are written by [`GoFormatter`], strings with
//! something to escape and serde_json's raw JSON text by serde_json itself,
//! and the punctuation around them as serde_json writes it. Errors are
//! serde_json's own, with its messages and categories. One input differs, on
//! purpose: a `Serialize` implementation that announces zero elements and then
//! writes some gets invalid JSON from serde_json (`[],1]`) and the elements
//! from this serializer (`[1]`). The tests compare the two over random JSON
//! values and every kind of value, map key and escape serde has.

use std::io::{self, Write};
use std::sync::OnceLock;

use serde::ser::{
    self, Impossible, Serialize, SerializeMap as _, SerializeStruct as _, Serializer,
};
use serde_json::ser::Formatter;
use serde_json::Error;

use super::{any_word, zero_bytes, GoFormatter, HIGHS, ONES};

type Result<T> = std::result::Result<T, Error>;

/// The struct names serde_json writes as raw JSON text when compiled with its
/// `raw_value` (`RawValue`) or `arbitrary_precision` (`Number`) feature.
const RAW_TOKENS: [&str; 2] = [
    "$serde_json::private::RawValue",
    "$serde_json::private::Number",
];

/// Whether serde_json, as compiled into this program, writes a struct named
/// `name` as raw JSON text: asked of serde_json once per token.
fn is_raw_token(name: &str) -> bool {
    static RAW: OnceLock<[bool; 2]> = OnceLock::new();
    let raw = RAW.get_or_init(|| {
        RAW_TOKENS.map(|token| {
            let probe = RawField {
                name: token,
                key: token,
                value: "1",
            };
            serde_json::to_vec(&probe).is_ok_and(|json| json == b"1")
        })
    });
    RAW_TOKENS
        .iter()
        .zip(raw)
        .any(|(token, raw)| *raw && *token == name)
}

/// A struct named `name` with the one field `key`: how serde_json is handed
/// a field of its raw JSON text, so that it checks and writes it itself.
struct RawField<'a, T: ?Sized> {
    name: &'static str,
    key: &'static str,
    value: &'a T,
}

impl<T: ?Sized + Serialize> Serialize for RawField<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut raw = serializer.serialize_struct(self.name, 1)?;
        raw.serialize_field(self.key, self.value)?;
        raw.end()
    }
}

/// serde_json's error for a writer that failed with `error` (category `Io`).
fn io_error(error: io::Error) -> Error {
    struct Failing(Option<io::Error>);
    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(self
                .0
                .take()
                .unwrap_or_else(|| io::Error::other("write failed")))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    match serde_json::to_writer(Failing(Some(error)), &()) {
        Err(e) => e,
        Ok(()) => ser::Error::custom("write failed"),
    }
}

/// serde_json's error for a map keyed by `key` ("key must be a string",
/// "float key must be finite …"), with its message and category.
fn key_error<K: Serialize>(key: K) -> Error {
    struct OneKey<K>(K);
    impl<K: Serialize> Serialize for OneKey<K> {
        fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_entry(&self.0, &())?;
            map.end()
        }
    }
    match serde_json::to_vec(&OneKey(key)) {
        Err(e) => e,
        Ok(_) => ser::Error::custom("key must be a string"),
    }
}

fn key_must_be_a_string() -> Error {
    key_error(())
}

fn float_key_must_be_finite() -> Error {
    key_error(f64::NAN)
}

/// Serializes into `W` as serde_json's `Serializer` with [`GoFormatter`] does.
pub(super) struct GoSerializer<W> {
    writer: W,
}

impl<W: Write> GoSerializer<W> {
    /// A serializer writing into `writer`.
    pub(super) fn new(writer: W) -> Self {
        GoSerializer { writer }
    }

    #[inline]
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.writer.write_all(bytes).map_err(io_error)
    }

    /// A JSON string: copied whole between quotes when no byte needs an
    /// escape, else written by serde_json with [`GoFormatter`].
    #[inline]
    fn string(&mut self, value: &str) -> Result<()> {
        if needs_escape(value.as_bytes()) {
            let mut json = serde_json::Serializer::with_formatter(&mut self.writer, GoFormatter);
            return json.serialize_str(value);
        }
        self.put(b"\"")?;
        self.put(value.as_bytes())?;
        self.put(b"\"")
    }

    /// A key of a map or a variant name, then the `:` before its value.
    #[inline]
    fn key(&mut self, key: &str) -> Result<()> {
        self.string(key)?;
        self.put(b":")
    }
}

/// Whether any byte of `bytes` is escaped by serde_json (a control
/// character, `"`, `\`) or by Go on top (`<`, `>`, `&`, and 0xE2, the lead
/// byte of U+2028 and U+2029), tested 8 bytes at a time.
#[inline]
fn needs_escape(bytes: &[u8]) -> bool {
    any_word(bytes, |w| {
        // Bytes below 0x20: `w - 0x20` borrows into the high bit, which a
        // byte of 0x80 or more already had (masked off by `!w`).
        let control = w.wrapping_sub(ONES * 0x20) & !w;
        // `"` (0x22) and `&` (0x26) differ in bit 2 only; `<` (0x3C) and `>`
        // (0x3E) in bit 1 only.
        let quote_amp = zero_bytes((w | (ONES * 0x04)) ^ (ONES * u64::from(b'&')));
        let angle = zero_bytes((w | (ONES * 0x02)) ^ (ONES * u64::from(b'>')));
        let backslash = zero_bytes(w ^ (ONES * u64::from(b'\\')));
        let lead = zero_bytes(w ^ (ONES * 0xE2));
        (control | quote_amp | angle | backslash | lead) & HIGHS != 0
    })
}

/// Writes a number or literal with [`GoFormatter`].
macro_rules! formatted {
    ($($method:ident($ty:ty) => $write:ident;)*) => {$(
        #[inline]
        fn $method(self, value: $ty) -> Result<()> {
            GoFormatter.$write(&mut self.writer, value).map_err(io_error)
        }
    )*};
}

impl<'a, W: Write> Serializer for &'a mut GoSerializer<W> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a, W>;
    type SerializeTuple = Compound<'a, W>;
    type SerializeTupleStruct = Compound<'a, W>;
    type SerializeTupleVariant = Compound<'a, W>;
    type SerializeMap = Compound<'a, W>;
    type SerializeStruct = Compound<'a, W>;
    type SerializeStructVariant = Compound<'a, W>;

    formatted! {
        serialize_bool(bool) => write_bool;
        serialize_i8(i8) => write_i8;
        serialize_i16(i16) => write_i16;
        serialize_i32(i32) => write_i32;
        serialize_i64(i64) => write_i64;
        serialize_i128(i128) => write_i128;
        serialize_u8(u8) => write_u8;
        serialize_u16(u16) => write_u16;
        serialize_u32(u32) => write_u32;
        serialize_u64(u64) => write_u64;
        serialize_u128(u128) => write_u128;
    }

    #[inline]
    fn serialize_f32(self, value: f32) -> Result<()> {
        if value.is_finite() {
            GoFormatter
                .write_f32(&mut self.writer, value)
                .map_err(io_error)
        } else {
            self.put(b"null")
        }
    }

    #[inline]
    fn serialize_f64(self, value: f64) -> Result<()> {
        if value.is_finite() {
            GoFormatter
                .write_f64(&mut self.writer, value)
                .map_err(io_error)
        } else {
            self.put(b"null")
        }
    }

    #[inline]
    fn serialize_char(self, value: char) -> Result<()> {
        self.string(value.encode_utf8(&mut [0u8; 4]))
    }

    #[inline]
    fn serialize_str(self, value: &str) -> Result<()> {
        self.string(value)
    }

    fn serialize_bytes(self, value: &[u8]) -> Result<()> {
        let mut seq = self.serialize_seq(Some(value.len()))?;
        for byte in value {
            ser::SerializeSeq::serialize_element(&mut seq, byte)?;
        }
        ser::SerializeSeq::end(seq)
    }

    #[inline]
    fn serialize_none(self) -> Result<()> {
        self.put(b"null")
    }

    #[inline]
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<()> {
        value.serialize(self)
    }

    #[inline]
    fn serialize_unit(self) -> Result<()> {
        self.put(b"null")
    }

    #[inline]
    fn serialize_unit_struct(self, _name: &'static str) -> Result<()> {
        self.put(b"null")
    }

    #[inline]
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<()> {
        self.string(variant)
    }

    #[inline]
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<()> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<()> {
        self.put(b"{")?;
        self.key(variant)?;
        value.serialize(&mut *self)?;
        self.put(b"}")
    }

    #[inline]
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a, W>> {
        self.put(b"[")?;
        Ok(Compound::new(self, b"]"))
    }

    #[inline]
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, W>> {
        self.serialize_seq(Some(len))
    }

    #[inline]
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Compound<'a, W>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, W>> {
        self.put(b"{")?;
        self.key(variant)?;
        self.put(b"[")?;
        Ok(Compound::new(self, b"]}"))
    }

    #[inline]
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a, W>> {
        self.put(b"{")?;
        Ok(Compound::new(self, b"}"))
    }

    #[inline]
    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<Compound<'a, W>> {
        if name.starts_with('$') && is_raw_token(name) {
            return Ok(Compound {
                ser: self,
                first: true,
                close: b"",
                raw: Some(name),
            });
        }
        self.put(b"{")?;
        Ok(Compound::new(self, b"}"))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, W>> {
        self.put(b"{")?;
        self.key(variant)?;
        self.put(b"{")?;
        Ok(Compound::new(self, b"}}"))
    }
}

/// An array, object or variant being written: a comma before each element
/// but the first, `close` at the end.
pub(super) struct Compound<'a, W> {
    ser: &'a mut GoSerializer<W>,
    first: bool,
    close: &'static [u8],
    /// The token of serde_json's raw JSON text: its fields are handed to
    /// serde_json, which checks them and writes their text as it is.
    raw: Option<&'static str>,
}

impl<'a, W: Write> Compound<'a, W> {
    #[inline]
    fn new(ser: &'a mut GoSerializer<W>, close: &'static [u8]) -> Self {
        Compound {
            ser,
            first: true,
            close,
            raw: None,
        }
    }

    #[inline]
    fn comma(&mut self) -> Result<()> {
        if self.first {
            self.first = false;
            Ok(())
        } else {
            self.ser.put(b",")
        }
    }

    #[inline]
    fn element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        self.comma()?;
        value.serialize(&mut *self.ser)
    }

    #[inline]
    fn field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<()> {
        if let Some(name) = self.raw {
            let field = RawField { name, key, value };
            let mut json =
                serde_json::Serializer::with_formatter(&mut self.ser.writer, GoFormatter);
            return field.serialize(&mut json);
        }
        self.comma()?;
        self.ser.key(key)?;
        value.serialize(&mut *self.ser)
    }

    #[inline]
    fn close(self) -> Result<()> {
        self.ser.put(self.close)
    }
}

/// Implements serde's compound traits whose items are values alone (array
/// elements), each written by [`Compound::element`].
macro_rules! elements {
    ($($name:ident::$method:ident),*) => {$(
        impl<W: Write> ser::$name for Compound<'_, W> {
            type Ok = ();
            type Error = Error;

            #[inline]
            fn $method<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
                self.element(value)
            }

            #[inline]
            fn end(self) -> Result<()> {
                self.close()
            }
        }
    )*};
}

elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl<W: Write> ser::SerializeMap for Compound<'_, W> {
    type Ok = ();
    type Error = Error;

    #[inline]
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<()> {
        self.comma()?;
        key.serialize(MapKey {
            ser: &mut *self.ser,
        })
    }

    #[inline]
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        self.ser.put(b":")?;
        value.serialize(&mut *self.ser)
    }

    #[inline]
    fn end(self) -> Result<()> {
        self.close()
    }
}

/// Implements serde's compound traits whose items are named fields, each
/// written by [`Compound::field`].
macro_rules! fields {
    ($($name:ident),*) => {$(
        impl<W: Write> ser::$name for Compound<'_, W> {
            type Ok = ();
            type Error = Error;

            #[inline]
            fn serialize_field<T: ?Sized + Serialize>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<()> {
                self.field(key, value)
            }

            #[inline]
            fn end(self) -> Result<()> {
                self.close()
            }
        }
    )*};
}

fields!(SerializeStruct, SerializeStructVariant);

/// A map key, as serde_json writes one: a string (escaped like any string);
/// a number or `bool` quoted; a variant name as a string; anything else
/// refused with serde_json's error.
struct MapKey<'a, W> {
    ser: &'a mut GoSerializer<W>,
}

impl<W: Write> MapKey<'_, W> {
    /// A key written by `write` between quotes.
    fn quoted(self, write: impl FnOnce(&mut W) -> std::io::Result<()>) -> Result<()> {
        self.ser.put(b"\"")?;
        write(&mut self.ser.writer).map_err(io_error)?;
        self.ser.put(b"\"")
    }
}

/// Writes a quoted number or literal key with [`GoFormatter`].
macro_rules! quoted_key {
    ($($method:ident($ty:ty) => $write:ident;)*) => {$(
        fn $method(self, value: $ty) -> Result<()> {
            self.quoted(|w| GoFormatter.$write(w, value))
        }
    )*};
}

impl<W: Write> Serializer for MapKey<'_, W> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    #[inline]
    fn serialize_str(self, value: &str) -> Result<()> {
        self.ser.string(value)
    }

    fn serialize_char(self, value: char) -> Result<()> {
        self.ser.string(value.encode_utf8(&mut [0u8; 4]))
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<()> {
        self.ser.string(variant)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<()> {
        value.serialize(self)
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<()> {
        value.serialize(self)
    }

    quoted_key! {
        serialize_bool(bool) => write_bool;
        serialize_i8(i8) => write_i8;
        serialize_i16(i16) => write_i16;
        serialize_i32(i32) => write_i32;
        serialize_i64(i64) => write_i64;
        serialize_i128(i128) => write_i128;
        serialize_u8(u8) => write_u8;
        serialize_u16(u16) => write_u16;
        serialize_u32(u32) => write_u32;
        serialize_u64(u64) => write_u64;
        serialize_u128(u128) => write_u128;
    }

    fn serialize_f32(self, value: f32) -> Result<()> {
        if !value.is_finite() {
            return Err(float_key_must_be_finite());
        }
        self.quoted(|w| GoFormatter.write_f32(w, value))
    }

    fn serialize_f64(self, value: f64) -> Result<()> {
        if !value.is_finite() {
            return Err(float_key_must_be_finite());
        }
        self.quoted(|w| GoFormatter.write_f64(w, value))
    }

    fn serialize_bytes(self, _value: &[u8]) -> Result<()> {
        Err(key_must_be_a_string())
    }

    fn serialize_none(self) -> Result<()> {
        Err(key_must_be_a_string())
    }

    fn serialize_unit(self) -> Result<()> {
        Err(key_must_be_a_string())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<()> {
        Err(key_must_be_a_string())
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<()> {
        Err(key_must_be_a_string())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(key_must_be_a_string())
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple> {
        Err(key_must_be_a_string())
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        Err(key_must_be_a_string())
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(key_must_be_a_string())
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        Err(key_must_be_a_string())
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct> {
        Err(key_must_be_a_string())
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(key_must_be_a_string())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::ser::{SerializeMap, SerializeSeq};
    use serde::Serialize;
    use serde_json::error::Category;
    use serde_json::Value;

    use super::*;

    /// The bytes written, or the error's message and category.
    type Outcome = std::result::Result<String, (String, Category)>;

    fn outcome(result: Result<()>, out: Vec<u8>) -> Outcome {
        match result {
            Ok(()) => Ok(String::from_utf8(out).expect("UTF-8")),
            Err(e) => Err((e.to_string(), e.classify())),
        }
    }

    /// What serde_json's own `Serializer` writes with [`GoFormatter`].
    fn oracle<T: Serialize + ?Sized>(value: &T) -> Outcome {
        let mut out = Vec::new();
        let result = value.serialize(&mut serde_json::Serializer::with_formatter(
            &mut out,
            GoFormatter,
        ));
        outcome(result, out)
    }

    fn ours<T: Serialize + ?Sized>(value: &T) -> Outcome {
        let mut out = Vec::new();
        let result = value.serialize(&mut GoSerializer::new(&mut out));
        outcome(result, out)
    }

    #[track_caller]
    fn same<T: Serialize + ?Sized + std::fmt::Debug>(value: &T) {
        assert_eq!(ours(value), oracle(value), "for {value:?}");
    }

    /// Pieces of strings: each character class either path treats apart.
    const PIECES: [&str; 24] = [
        "",
        "a",
        "plain text",
        "seventeen bytes!!",
        "<",
        ">",
        "&",
        "\"",
        "\\",
        "/",
        "\n",
        "\t",
        "\u{1}",
        "\u{1f}",
        " ",
        "\u{7f}",
        "é",
        "✓",
        "\u{2027}",
        "\u{2028}",
        "\u{2029}",
        "😀",
        "=;?",
        "\u{80}",
    ];

    /// A small deterministic generator (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn text(&mut self) -> String {
            (0..self.below(6))
                .map(|_| PIECES[self.below(PIECES.len())])
                .collect()
        }

        fn value(&mut self, depth: usize) -> Value {
            const FLOATS: [f64; 12] = [
                0.0,
                -0.0,
                1.0,
                -1.5,
                1e-7,
                0.000_001,
                1e21,
                1.5e21,
                1e16,
                123_456.789,
                f64::MAX,
                f64::MIN_POSITIVE,
            ];
            let kinds = if depth == 0 { 6 } else { 8 };
            match self.below(kinds) {
                0 => Value::Null,
                1 => Value::Bool(self.next().is_multiple_of(2)),
                2 => Value::from(self.next() as i64),
                3 => Value::from(self.next() >> self.below(64)),
                4 => Value::from(FLOATS[self.below(FLOATS.len())]),
                5 => Value::String(self.text()),
                6 => Value::Array((0..self.below(4)).map(|_| self.value(depth - 1)).collect()),
                _ => Value::Object(
                    (0..self.below(4))
                        .map(|_| (self.text(), self.value(depth - 1)))
                        .collect(),
                ),
            }
        }
    }

    #[test]
    fn random_json_values_are_written_byte_for_byte_as_serde_json_with_the_go_formatter() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..5_000 {
            same(&rng.value(4));
        }
    }

    #[test]
    fn each_escaped_character_is_found_at_each_position_of_a_string() {
        for special in PIECES.iter().filter(|p| !p.is_empty()) {
            for at in 0..24 {
                let text = format!("{}{special}{}", "x".repeat(at), "y".repeat(24 - at));
                same(&text);
                same(&BTreeMap::from([(text.clone(), 1)]));
            }
        }
        for byte in 0u8..0x80 {
            same(&char::from(byte));
        }
    }

    #[derive(Debug, Serialize)]
    enum Kind {
        Unit,
        Newtype(u8),
        Tuple(i32, &'static str),
        Struct { a: Option<u8>, b: Vec<bool> },
    }

    #[derive(Debug, Serialize)]
    struct Unit;

    #[derive(Debug, Serialize)]
    struct Wrapper(&'static str);

    #[derive(Debug, Serialize)]
    struct Pair(i8, u16);

    #[derive(Debug, Serialize)]
    struct Bytes(#[serde(serialize_with = "as_bytes")] Vec<u8>);

    fn as_bytes<S: Serializer>(value: &[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(value)
    }

    #[derive(Debug, Serialize)]
    struct Everything {
        small: i8,
        big: i128,
        huge: u128,
        single: f32,
        nan: f64,
        infinite: f32,
        letter: char,
        none: Option<String>,
        some: Option<&'static str>,
        unit: (),
        unit_struct: Unit,
        newtype: Wrapper,
        tuple: (u8, &'static str, f64),
        tuple_struct: Pair,
        kinds: Vec<Kind>,
        empty_seq: Vec<u8>,
        empty_map: BTreeMap<String, u8>,
        bytes: Bytes,
        #[serde(rename = "<renamed & escaped>")]
        renamed: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
        #[serde(flatten)]
        flattened: BTreeMap<String, i32>,
    }

    #[test]
    fn every_kind_of_serde_value_is_written_as_serde_json_writes_it() {
        same(&Everything {
            small: -8,
            big: i128::MIN,
            huge: u128::MAX,
            single: 0.1,
            nan: f64::NAN,
            infinite: f32::NEG_INFINITY,
            letter: '\u{2028}',
            none: None,
            some: Some("<some>"),
            unit: (),
            unit_struct: Unit,
            newtype: Wrapper("new\ttype"),
            tuple: (1, "two", 3.5e-9),
            tuple_struct: Pair(-1, 65_535),
            kinds: vec![
                Kind::Unit,
                Kind::Newtype(7),
                Kind::Tuple(-3, "&"),
                Kind::Struct {
                    a: None,
                    b: vec![true, false],
                },
                Kind::Struct {
                    a: Some(1),
                    b: Vec::new(),
                },
            ],
            empty_seq: Vec::new(),
            empty_map: BTreeMap::new(),
            bytes: Bytes(vec![0, 1, 255]),
            renamed: true,
            skipped: None,
            flattened: BTreeMap::from([("x\"y".to_string(), 1), ("z".to_string(), -2)]),
        });
    }

    /// A map of arbitrary key and value types, in the given order.
    #[derive(Debug)]
    struct Pairs<K, V>(Vec<(K, V)>);

    impl<K: Serialize, V: Serialize> Serialize for Pairs<K, V> {
        fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(Some(self.0.len()))?;
            for (k, v) in &self.0 {
                map.serialize_entry(k, v)?;
            }
            map.end()
        }
    }

    #[derive(Debug, Serialize)]
    enum KeyKind {
        #[serde(rename = "a<b")]
        Named,
        Other(u8),
    }

    #[test]
    fn map_keys_of_every_type_are_written_or_refused_as_serde_json_does() {
        same(&Pairs(vec![(1i8, 1), (-2, 2)]));
        same(&Pairs(vec![(u128::MAX, "max")]));
        same(&Pairs(vec![(true, 1), (false, 0)]));
        same(&Pairs(vec![(1.5f64, 1), (1e21, 2), (-0.0, 3)]));
        same(&Pairs(vec![(0.25f32, 1)]));
        same(&Pairs(vec![(f64::NAN, 1)]));
        same(&Pairs(vec![(f32::INFINITY, 1)]));
        same(&Pairs(vec![('&', 1), ('\n', 2)]));
        same(&Pairs(vec![(Wrapper("newtype key"), 1)]));
        same(&Pairs(vec![(Some("some key"), 1)]));
        same(&Pairs(vec![(KeyKind::Named, 1)]));
        same(&Pairs(vec![(KeyKind::Other(1), 1)]));
        same(&Pairs(vec![(None::<&str>, 1)]));
        same(&Pairs(vec![((), 1)]));
        same(&Pairs(vec![(Unit, 1)]));
        same(&Pairs(vec![((1, 2), 1)]));
        same(&Pairs(vec![(vec![1], 1)]));
        same(&Pairs(vec![(BTreeMap::from([(1, 2)]), 1)]));
        same(&Pairs(vec![(Bytes(vec![1]), 1)]));
    }

    /// A struct named `name` with the given fields, as serde_json's raw
    /// types and their misuses look to a serializer.
    #[derive(Debug)]
    struct Named<V>(&'static str, Vec<(&'static str, V)>);

    impl<V: Serialize> Serialize for Named<V> {
        fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            let mut fields = s.serialize_struct(self.0, self.1.len())?;
            for (key, value) in &self.1 {
                fields.serialize_field(key, value)?;
            }
            fields.end()
        }
    }

    #[test]
    fn raw_json_text_is_written_as_it_is_and_checked_as_serde_json_checks_it() {
        // The tests compile serde_json with `raw_value` and without
        // `arbitrary_precision`: one token is raw text, the other a struct.
        let raw = serde_json::value::RawValue::from_string(r#"{"kept" : [1, 2.50]}"#.into())
            .expect("valid JSON");
        same(&raw);
        same(&BTreeMap::from([("raw", &raw)]));
        let [raw_value, number] = RAW_TOKENS;
        same(&Named(raw_value, vec![(raw_value, "[1]")]));
        same(&Named(raw_value, vec![(raw_value, 1)]));
        same(&Named(raw_value, vec![("other", "[1]")]));
        same(&Named(raw_value, vec![(raw_value, Some("[1]"))]));
        same(&Named::<u8>(raw_value, vec![]));
        same(&Named(number, vec![(number, "12")]));
        same(&Named(number, vec![("a", 1)]));
    }

    /// A sequence that announces zero elements and then writes `1` and `2`.
    #[derive(Debug)]
    struct WrongLength;

    impl Serialize for WrongLength {
        fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(0))?;
            seq.serialize_element(&1)?;
            seq.serialize_element(&2)?;
            seq.end()
        }
    }

    #[test]
    fn elements_after_a_zero_length_hint_are_written_as_valid_json() {
        assert_eq!(oracle(&WrongLength), Ok("[],1,2]".to_string()));
        assert_eq!(ours(&WrongLength), Ok("[1,2]".to_string()));
    }

    #[test]
    fn a_failing_writer_gives_serde_json_s_io_error() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        for value in [Value::from("plain"), Value::from(1), Value::Null] {
            let ours = value
                .serialize(&mut GoSerializer::new(Broken))
                .expect_err("the writer fails");
            let theirs = value
                .serialize(&mut serde_json::Serializer::with_formatter(
                    Broken,
                    GoFormatter,
                ))
                .expect_err("the writer fails");
            assert_eq!(ours.classify(), Category::Io);
            assert_eq!(ours.io_error_kind(), Some(io::ErrorKind::BrokenPipe));
            assert_eq!(ours.to_string(), theirs.to_string());
        }
    }

    #[test]
    fn the_word_scan_flags_exactly_the_bytes_either_formatter_escapes() {
        for byte in 0u8..=255 {
            let escaped = byte < 0x20 || matches!(byte, b'"' | b'\\' | b'<' | b'>' | b'&' | 0xE2);
            for at in 0..16 {
                let mut bytes = vec![b'x'; 16];
                bytes[at] = byte;
                assert_eq!(needs_escape(&bytes), escaped, "byte {byte:#04x} at {at}");
                assert_eq!(
                    needs_escape(&bytes[..=at]),
                    escaped,
                    "byte {byte:#04x} last"
                );
            }
        }
        assert!(!needs_escape(b""));
    }
}
