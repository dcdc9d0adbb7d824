//! Writing JSON: how strings and numbers are spelled in everything chatsse writes (the accumulator's
//! completion, `chatsse.encode`, the chunks of `completion_stream`).
//!
//! The spelling is msgspec's, so that `chatsse.encode` stays byte for byte what
//! `msgspec.json.encode` wrote before it moved to Rust: strings escape `"`, `\` and the control
//! characters (`\b \t \n \f \r` by name, the others as `\u00xx`, lowercase), nothing else (not `/`,
//! not DEL, not U+2028); floats are the shortest digits that read back as the same f64, laid out as
//! msgspec's `write_f64` lays them out (`1.0`, `0.00001`, `1e-6`, `1e16`, `1.5e300`), with NaN and the
//! infinities written `null`.

/// What each byte becomes inside a JSON string: 0 stays as it is, `u` is a `\u00xx` escape, any
/// other is the letter after the backslash.
const ESCAPES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `text` as a JSON string, quotes included.
#[inline]
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    write_str_body(out, text.as_bytes());
    out.push(b'"');
}

/// The escaped text of a string without its quotes (`bytes` is UTF-8: bytes from 0x80 up are copied).
#[inline]
pub fn write_str_body(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut plain = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        let escape = ESCAPES[byte as usize];
        if escape == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[plain..at]);
        if escape == b'u' {
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(byte >> 4) as usize], HEX[(byte & 0xf) as usize]]);
        } else {
            out.extend_from_slice(&[b'\\', escape]);
        }
        plain = at + 1;
    }
    out.extend_from_slice(&bytes[plain..]);
}

/// `text` as a JSON string, appended to a `String` (the accumulator's output).
pub fn push_str(out: &mut String, text: &str) {
    // SAFETY: only whole UTF-8 sequences of `text` and ASCII escapes are appended.
    write_str(unsafe { out.as_mut_vec() }, text);
}

/// An integer.
#[inline]
pub fn write_i64(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    write_u64(out, value.unsigned_abs());
}

/// A non-negative integer.
#[inline]
pub fn write_u64(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// A float as msgspec writes it (see the module doc); NaN and the infinities are `null`.
pub fn write_f64(out: &mut Vec<u8>, value: f64) {
    if !value.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    if value.is_sign_negative() {
        out.push(b'-');
    }
    let magnitude = value.abs();
    if magnitude == 0.0 {
        out.extend_from_slice(b"0.0");
        return;
    }
    // The shortest round-trip digits, from std's formatter (`{:e}`: `d.ddde-7`), then laid out.
    let mut text = ScientificBuffer::default();
    std::fmt::Write::write_fmt(&mut text, format_args!("{magnitude:e}")).expect("a float formats");
    let text = &text.bytes[..text.len];
    let e_at = text.iter().position(|&byte| byte == b'e').expect("`{:e}` writes an exponent");
    let mut digits = [0u8; 17];
    let mut length = 0;
    for &byte in &text[..e_at] {
        if byte != b'.' {
            digits[length] = byte;
            length += 1;
        }
    }
    let digits = &digits[..length];
    let exponent: i32 = std::str::from_utf8(&text[e_at + 1..]).expect("ASCII").parse().expect("an exponent");
    // msgspec's names: the value is digits x 10^k, and kk = length + k places the decimal point.
    let kk = exponent + 1;
    let k = kk - length as i32;
    if (0..).contains(&k) && kk <= 16 {
        out.extend_from_slice(digits);
        out.extend(std::iter::repeat_n(b'0', k as usize));
        out.extend_from_slice(b".0");
    } else if 0 < kk && kk <= 16 {
        out.extend_from_slice(&digits[..kk as usize]);
        out.push(b'.');
        out.extend_from_slice(&digits[kk as usize..]);
    } else if -5 < kk && kk <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-kk) as usize));
        out.extend_from_slice(digits);
    } else {
        out.push(digits[0]);
        if length > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        write_i64(out, i64::from(kk - 1));
    }
}

/// A stack buffer for one `{:e}` float (at most 17 digits, a point, `e-324`).
struct ScientificBuffer {
    bytes: [u8; 32],
    len: usize,
}

impl Default for ScientificBuffer {
    fn default() -> Self {
        ScientificBuffer { bytes: [0; 32], len: 0 }
    }
}

impl std::fmt::Write for ScientificBuffer {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        let end = self.len + text.len();
        if end > self.bytes.len() {
            return Err(std::fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(value: f64) -> String {
        let mut out = Vec::new();
        write_f64(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    fn string(text: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, text);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn floats_as_msgspec_writes_them() {
        // Each expected text is what msgspec.json.encode wrote for the value (msgspec 0.23).
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e16, "1e16"),
            (1e15, "1000000000000000.0"),
            (123456789012345678.0, "1.2345678901234568e17"),
            (1e-5, "0.00001"),
            (1e-6, "1e-6"),
            (1.5e-7, "1.5e-7"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e308"),
            (9007199254740992.0, "9007199254740992.0"),
            (1e22, "1e22"),
            (0.001, "0.001"),
            (12345.678, "12345.678"),
            (-2.5, "-2.5"),
            (-0.0001234, "-0.0001234"),
            (f64::NAN, "null"),
            (f64::INFINITY, "null"),
            (f64::NEG_INFINITY, "null"),
        ];
        for &(value, expected) in cases {
            assert_eq!(float(value), expected, "{value:?}");
        }
    }

    #[test]
    fn floats_read_back_exactly() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let value = f64::from_bits(state);
            if value.is_finite() {
                assert_eq!(float(value).parse::<f64>().unwrap().to_bits(), value.to_bits(), "{value:e}");
            }
        }
    }

    #[test]
    fn strings_escape_quotes_backslashes_and_control_characters_only() {
        assert_eq!(string("plain"), "\"plain\"");
        assert_eq!(string("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(string("\u{8}\t\n\u{c}\r"), "\"\\b\\t\\n\\f\\r\"");
        assert_eq!(string("\u{0}\u{1f}\u{b}"), "\"\\u0000\\u001f\\u000b\"");
        assert_eq!(string("/\u{7f}é\u{2028}😀"), "\"/\u{7f}é\u{2028}😀\"");
    }

    #[test]
    fn integers() {
        let text = |value: i64| {
            let mut out = Vec::new();
            write_i64(&mut out, value);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text(0), "0");
        assert_eq!(text(-7), "-7");
        assert_eq!(text(i64::MIN), "-9223372036854775808");
        assert_eq!(text(i64::MAX), "9223372036854775807");
        let mut out = Vec::new();
        write_u64(&mut out, u64::MAX);
        assert_eq!(out, b"18446744073709551615");
    }
}
