//! JSON written the way Go's `encoding/json` (`json.Marshal`, Go 1.22 and
//! later) writes it, so an envelope published from Rust has the bytes a Go
//! service would have published for the same values.
//!
//! [`GoFormatter`] is a serde_json [`Formatter`] that differs from
//! serde_json's compact output in exactly the places where Go's differs:
//!
//! | value | Go and this formatter | serde_json's default |
//! |---|---|---|
//! | `<`, `>`, `&` in a string | `\u003c`, `\u003e`, `\u0026` | the character |
//! | U+2028, U+2029 in a string | `\u2028`, `\u2029` | the raw character |
//! | a whole float, `1.0` | `1` | `1.0` |
//! | a float below 1e-6 or from 1e21 on | `1e-7`, `1.5e+21` | `1e-7`, `1.5e21` |
//! | a float from 1e16 to below 1e21 | `10000000000000000` | `1e16` |
//!
//! Both write `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f` and every other
//! control character as `\u00XX` (lowercase hex), and shortest round-trip
//! digits for floats. A Rust `&str` is always valid UTF-8, so Go's
//! replacement of invalid bytes by `\ufffd` never applies.
//!
//! What no formatter can match, because it is decided before the formatter
//! sees a value:
//! - **Map key order**: Go sorts map keys; serde writes them in the map's own
//!   order. Use a `BTreeMap` (or `serde_json::Value` without serde_json's
//!   `preserve_order` feature) where Go used a map.
//! - **NaN and infinities**: Go's `Marshal` returns an error; serde_json
//!   writes `null`.
//! - **Byte slices**: Go writes a `[]byte` as a base64 string; serde writes a
//!   `Vec<u8>` as an array of numbers unless the field says otherwise (for
//!   example with `serde_bytes` plus a base64 adapter).
//! - **Struct tags**: field order, `omitempty`, `string` and nil slices
//!   (`null` in Go) follow the Rust type's `Serialize` implementation.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};

/// A serde_json [`Formatter`] writing compact JSON exactly as Go's
/// `encoding/json` does (see the [module docs](self) for each rule).
#[derive(Debug, Clone, Copy, Default)]
pub struct GoFormatter;

/// Serializes `value` as Go-compatible JSON into `writer`.
pub fn to_writer<W: Write, T: Serialize + ?Sized>(
    writer: W,
    value: &T,
) -> Result<(), serde_json::Error> {
    let mut ser = serde_json::Serializer::with_formatter(writer, GoFormatter);
    value.serialize(&mut ser)
}

/// Serializes `value` as Go-compatible JSON bytes.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(128);
    to_writer(&mut out, value)?;
    Ok(out)
}

/// True for the first byte of a run that Go escapes but serde_json does not:
/// `<`, `>`, `&`, and 0xE2 (the lead byte of U+2028 and U+2029).
#[inline]
fn needs_look(byte: u8) -> bool {
    matches!(byte, b'<' | b'>' | b'&' | 0xE2)
}

impl Formatter for GoFormatter {
    #[inline]
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let bytes = fragment.as_bytes();
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            let byte = bytes[i];
            if !needs_look(byte) {
                i += 1;
                continue;
            }
            let escape: &[u8] = match byte {
                b'<' => b"\\u003c",
                b'>' => b"\\u003e",
                b'&' => b"\\u0026",
                _ => match bytes.get(i + 1..i + 3) {
                    Some([0x80, 0xA8]) => b"\\u2028",
                    Some([0x80, 0xA9]) => b"\\u2029",
                    _ => {
                        i += 1;
                        continue;
                    }
                },
            };
            writer.write_all(&bytes[start..i])?;
            writer.write_all(escape)?;
            i += if byte == 0xE2 { 3 } else { 1 };
            start = i;
        }
        writer.write_all(&bytes[start..])
    }

    #[inline]
    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        char_escape: CharEscape,
    ) -> io::Result<()> {
        // Go 1.22+ writes the same short forms and `\u00XX` as serde_json.
        serde_json::ser::CompactFormatter.write_char_escape(writer, char_escape)
    }

    #[inline]
    fn write_f64<W: ?Sized + Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        let abs = value.abs();
        write_float(writer, value, abs != 0.0 && !(1e-6..1e21).contains(&abs))
    }

    #[inline]
    fn write_f32<W: ?Sized + Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        let abs = value.abs();
        write_float(writer, value, abs != 0.0 && !(1e-6..1e21).contains(&abs))
    }
}

/// Writes a finite float with its shortest round-trip digits: as a plain
/// decimal (`1`, `0.000001`, `100000000000000000000`), or in Go's exponent
/// form when `exponent` (see [`write_exponent`]).
#[inline]
fn write_float<W, F>(writer: &mut W, value: F, exponent: bool) -> io::Result<()>
where
    W: ?Sized + Write,
    F: std::fmt::Display + std::fmt::LowerExp,
{
    if exponent {
        write_exponent(writer, format_args!("{value:e}"))
    } else {
        write!(writer, "{value}")
    }
}

/// Writes Rust's shortest exponent form (`1.5e21`, `1e-7`) as Go does
/// (`1.5e+21`, `1e-7`): a `+` before a positive exponent, no padding.
fn write_exponent<W: ?Sized + Write>(
    writer: &mut W,
    formatted: std::fmt::Arguments<'_>,
) -> io::Result<()> {
    let mut buf = [0u8; 40];
    let mut cursor = io::Cursor::new(&mut buf[..]);
    cursor.write_fmt(formatted)?;
    let len = usize::try_from(cursor.position()).unwrap_or(0);
    let text = &buf[..len];
    match text.iter().position(|&b| b == b'e') {
        Some(e) if text.get(e + 1) != Some(&b'-') => {
            writer.write_all(&text[..=e])?;
            writer.write_all(b"+")?;
            writer.write_all(&text[e + 1..])
        }
        _ => writer.write_all(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn go(value: &impl Serialize) -> String {
        String::from_utf8(to_vec(value).unwrap()).unwrap()
    }

    /// Each pair is (value, what Go 1.22's `json.Marshal` writes for it).
    #[test]
    fn strings_are_escaped_as_go_does() {
        let cases = [
            ("plain é ✓ 😀", r#""plain é ✓ 😀""#),
            (
                "<a href=\"x\">&amp;</a>",
                r#""\u003ca href=\"x\"\u003e\u0026amp;\u003c/a\u003e""#,
            ),
            (
                "line\u{2028}para\u{2029}end",
                r#""line\u2028para\u2029end""#,
            ),
            ("\u{2027}\u{202A}€", "\"\u{2027}\u{202A}€\""),
            ("q\"b\\s/", r#""q\"b\\s/""#),
            ("\n\r\t\u{8}\u{c}", r#""\n\r\t\b\f""#),
            ("\u{0}\u{1}\u{1f}\u{7f}", "\"\\u0000\\u0001\\u001f\u{7f}\""),
            ("&", r#""\u0026""#),
            ("", r#""""#),
        ];
        for (input, want) in cases {
            assert_eq!(go(&input), want, "{input:?}");
        }
    }

    #[test]
    fn map_keys_are_escaped_like_values() {
        let map = BTreeMap::from([("a<b", 1), ("z", 2)]);
        assert_eq!(go(&map), r#"{"a\u003cb":1,"z":2}"#);
    }

    #[test]
    fn floats_are_written_as_go_does() {
        let cases: [(f64, &str); 16] = [
            (1.0, "1"),
            (-2.0, "-2"),
            (0.0, "0"),
            (-0.0, "-0"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.234e-10, "1.234e-10"),
            (5e-324, "5e-324"),
            (1e16, "10000000000000000"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (-1e21, "-1e+21"),
            (f64::MAX, "1.7976931348623157e+308"),
        ];
        for (input, want) in cases {
            assert_eq!(go(&input), want, "{input:e}");
        }
    }

    #[test]
    fn f32_uses_its_own_shortest_digits() {
        assert_eq!(go(&0.1f32), "0.1");
        assert_eq!(go(&3.0f32), "3");
        assert_eq!(go(&1e-7f32), "1e-7");
        assert_eq!(go(&1e21f32), "1e+21");
    }

    #[test]
    fn integers_and_literals_are_unchanged() {
        assert_eq!(
            go(&(i64::MIN, u64::MAX, true, ())),
            "[-9223372036854775808,18446744073709551615,true,null]"
        );
    }
}
