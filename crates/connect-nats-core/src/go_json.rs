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

mod serializer;

use serializer::GoSerializer;

/// A serde_json [`Formatter`] writing compact JSON exactly as Go's
/// `encoding/json` does (see the [module docs](self) for each rule).
#[derive(Debug, Clone, Copy, Default)]
pub struct GoFormatter;

/// Serializes `value` as Go-compatible JSON into `writer`: the bytes and
/// errors serde_json's `Serializer` gives with [`GoFormatter`], with strings
/// that need no escape copied whole (one exception, on purpose: elements after
/// a zero length hint are written as valid JSON; see `serializer.rs`).
pub fn to_writer<W: Write, T: Serialize + ?Sized>(
    writer: W,
    value: &T,
) -> Result<(), serde_json::Error> {
    value.serialize(&mut GoSerializer::new(writer))
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

/// Eight copies of the byte 0x01, for testing 8 bytes of a word at once.
const ONES: u64 = 0x0101_0101_0101_0101;
/// The high bit of each byte of a word.
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `x` that is zero (and maybe of a 0x01 byte
/// above a zero one, which is flagged anyway): some high bit is set exactly
/// when `x` has a zero byte.
#[inline]
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x
}

/// Whether `flagged` holds for any 8-byte little-endian word of `bytes`, the
/// last one padded with spaces (a byte no word test here flags).
#[inline]
fn any_word(bytes: &[u8], flagged: impl Fn(u64) -> bool) -> bool {
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut le = [0u8; 8];
        le.copy_from_slice(word);
        if flagged(u64::from_le_bytes(le)) {
            return true;
        }
    }
    let rest = words.remainder();
    if rest.is_empty() {
        return false;
    }
    let mut le = [b' '; 8];
    le[..rest.len()].copy_from_slice(rest);
    flagged(u64::from_le_bytes(le))
}

/// Whether any byte of `bytes` [`needs_look`], tested 8 bytes at a time.
///
/// `<` (0x3C) and `>` (0x3E) differ only in bit 1, so one test of the word
/// with that bit set finds both; `&` and 0xE2 get a test each, and the three
/// zero-byte masks are combined before the one branch.
#[inline]
fn any_needs_look(bytes: &[u8]) -> bool {
    any_word(bytes, |w| {
        let angle = zero_bytes((w | (ONES * 0x02)) ^ (ONES * u64::from(b'>')));
        let amp = zero_bytes(w ^ (ONES * u64::from(b'&')));
        let lead = zero_bytes(w ^ (ONES * 0xE2));
        (angle | amp | lead) & HIGHS != 0
    })
}

/// Writes `bytes` (valid UTF-8 with nothing serde_json escapes), escaping
/// `<`, `>`, `&`, U+2028 and U+2029 as Go does.
#[cold]
fn write_with_go_escapes<W: ?Sized + Write>(writer: &mut W, bytes: &[u8]) -> io::Result<()> {
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

impl Formatter for GoFormatter {
    #[inline]
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let bytes = fragment.as_bytes();
        if any_needs_look(bytes) {
            write_with_go_escapes(writer, bytes)
        } else {
            writer.write_all(bytes)
        }
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
        let exponent = abs != 0.0 && !(1e-6..1e21).contains(&abs);
        write_go_float(writer, zmij::Buffer::new().format_finite(value), exponent)
    }

    #[inline]
    fn write_f32<W: ?Sized + Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        let abs = value.abs();
        let exponent = abs != 0.0 && !(1e-6..1e21).contains(&abs);
        write_go_float(writer, zmij::Buffer::new().format_finite(value), exponent)
    }
}

/// Rewrites zmij's shortest round-trip form (`1.0`, `1.5e+21`, `1e-7`,
/// `1e+16`; the form serde_json writes) as Go writes it: in exponent form (`1.5e+21`, `1e-7`) when
/// `exponent`, else as a plain decimal without a trailing `.0` (`1`,
/// `10000000000000000`, `0.000001`).
fn write_go_float<W: ?Sized + Write>(
    writer: &mut W,
    shortest: &str,
    exponent: bool,
) -> io::Result<()> {
    let (mantissa, exp) = match shortest.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (shortest, 0),
    };
    let mantissa = mantissa.strip_suffix(".0").unwrap_or(mantissa);
    if exponent {
        writer.write_all(mantissa.as_bytes())?;
        let sign = if exp < 0 { "" } else { "+" };
        return write!(writer, "e{sign}{exp}");
    }
    if exp == 0 {
        return writer.write_all(mantissa.as_bytes());
    }
    // A plain decimal from `[-]d[.ddd]eX`, with X in -6..=20 here.
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa),
    };
    let digits: Vec<u8> = mantissa.bytes().filter(|b| *b != b'.').collect();
    let point = 1 + exp; // digits before the decimal point
    let mut out = Vec::with_capacity(digits.len() + 24);
    if negative {
        out.push(b'-');
    }
    if point <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', point.unsigned_abs() as usize));
        out.extend_from_slice(&digits);
    } else {
        let point = point.unsigned_abs() as usize;
        if digits.len() <= point {
            out.extend_from_slice(&digits);
            out.extend(std::iter::repeat_n(b'0', point - digits.len()));
        } else {
            out.extend_from_slice(&digits[..point]);
            out.push(b'.');
            out.extend_from_slice(&digits[point..]);
        }
    }
    writer.write_all(&out)
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
    fn the_word_scan_finds_each_character_at_each_position() {
        for len in 0..40 {
            assert!(!any_needs_look(&vec![b'a'; len]));
            for at in 0..len {
                for special in [b'<', b'>', b'&', 0xE2] {
                    let mut bytes = vec![0xE3; len];
                    bytes[at] = special;
                    assert!(any_needs_look(&bytes), "{special} at {at} of {len}");
                }
            }
        }
    }

    #[test]
    fn the_word_scan_agrees_with_the_byte_test_for_every_byte() {
        for byte in 0..=u8::MAX {
            for at in 0..16 {
                let mut bytes = vec![b'a'; 16];
                bytes[at] = byte;
                assert_eq!(
                    any_needs_look(&bytes),
                    needs_look(byte),
                    "{byte:#x} at {at}"
                );
            }
        }
    }

    #[test]
    fn map_keys_are_escaped_like_values() {
        let map = BTreeMap::from([("a<b", 1), ("z", 2)]);
        assert_eq!(go(&map), r#"{"a\u003cb":1,"z":2}"#);
    }

    #[test]
    fn floats_are_written_as_go_does() {
        let cases: [(f64, &str); 23] = [
            (1e-5, "0.00001"),
            (0.00001234, "0.00001234"),
            (-1.5e-6, "-0.0000015"),
            (123.456, "123.456"),
            (1e15, "1000000000000000"),
            (1.2345678901234568e20, "123456789012345680000"),
            (-17.25, "-17.25"),
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
