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
#[inline(always)]
pub fn write_i64(out: &mut Vec<u8>, value: i64) {
    // Small non-negative ints (a token's `bytes`, 0-255; indexes, counts: most ints) written into room
    // for three reserved once (a `push` a digit tested the capacity each time).
    if (0..1000).contains(&value) {
        let value = value as usize;
        out.reserve(3);
        let start = out.len();
        let pair = value % 100 * 2;
        // SAFETY: 3 bytes of spare capacity were reserved; `written` (1-3) of them are set, in order.
        unsafe {
            let room = out.as_mut_ptr().add(start);
            let mut written = 0;
            if value >= 100 {
                *room = b'0' + (value / 100) as u8;
                written = 1;
            }
            if value >= 10 {
                *room.add(written) = DIGIT_PAIRS[pair];
                written += 1;
            }
            *room.add(written) = DIGIT_PAIRS[pair + 1];
            out.set_len(start + written + 1);
        }
        return;
    }
    write_long_i64(out, value);
}

/// An integer of 4 digits or more, or negative: apart from `write_i64`'s path for small ones, which
/// then needs no registers saved (the prologue of the two together was a third of a small int's cost).
#[inline(never)]
fn write_long_i64(out: &mut Vec<u8>, value: i64) {
    with_room(out, 21, |room| {
        let sign = usize::from(value < 0);
        room[0] = b'-';
        sign + decimal(value.unsigned_abs(), &mut room[sign..])
    });
}

/// A non-negative integer.
#[inline]
pub fn write_u64(out: &mut Vec<u8>, value: u64) {
    with_room(out, 20, |room| decimal(value, room));
}

/// Appends `room` zero bytes, lets `write` fill them in place, and keeps as many as it says. Numbers
/// are written in place byte by byte: made in a local buffer and copied over, they cost a
/// store-to-load stall a number (and `extend_from_slice` of a few bytes a `memmove` call; perf on
/// encoding logprobs).
#[inline(always)]
fn with_room(out: &mut Vec<u8>, room: usize, write: impl FnOnce(&mut [u8]) -> usize) {
    let start = out.len();
    out.resize(start + room, 0);
    let length = write(&mut out[start..]);
    out.truncate(start + length);
}

/// Pairs of decimal digits, "00" to "99".
const DIGIT_PAIRS: [u8; 200] = {
    let mut table = [0u8; 200];
    let mut n = 0;
    while n < 100 {
        table[2 * n] = b'0' + (n / 10) as u8;
        table[2 * n + 1] = b'0' + (n % 10) as u8;
        n += 1;
    }
    table
};

/// How many decimal digits `value` has: from its bit length (x log10(2) ~ 1233/4096), then one
/// comparison (a loop over the powers of ten was a tenth of encoding a float).
#[inline(always)]
fn digit_count(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    let guess = (bits * 1233) >> 12;
    (guess + 1 - usize::from(value < POWERS_OF_TEN[guess])).max(1)
}

/// Writes the `width` last decimal digits of `value` (leading zeros included) at the start of `out`.
#[inline(always)]
fn digits_into(mut value: u64, width: usize, out: &mut [u8]) {
    let mut at = width;
    while at >= 2 {
        let pair = (value % 100) as usize * 2;
        value /= 100;
        at -= 2;
        out[at] = DIGIT_PAIRS[pair];
        out[at + 1] = DIGIT_PAIRS[pair + 1];
    }
    if at == 1 {
        out[0] = b'0' + (value % 10) as u8;
    }
}

/// Writes the decimal digits of `value` at the start of `out` (room for 20); returns how many.
#[inline(always)]
fn decimal(value: u64, out: &mut [u8]) -> usize {
    let count = digit_count(value);
    digits_into(value, count, out);
    count
}

const POWERS_OF_TEN: [u64; 20] = {
    let mut table = [1u64; 20];
    let mut n = 1;
    while n < 20 {
        table[n] = table[n - 1] * 10;
        n += 1;
    }
    table
};

/// A float as msgspec writes it (see the module doc); NaN and the infinities are `null`. The digits
/// and their layout are the `ryu` crate's: the shortest digits that read back (Ryu, the algorithm of
/// msgspec's own `ryu.h`, ties to even), fixed notation for decimal exponents -5 to 15 (`1.0`,
/// `0.00001`, `1000000000000000.0`), else `1e-6`, `1.5e16`: msgspec's layout exactly (checked below
/// against std's digits laid out by msgspec's rule).
#[inline]
pub fn write_f64(out: &mut Vec<u8>, value: f64) {
    if !value.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    // Written in place: through `ryu::Buffer` and `extend_from_slice` each float paid a `memcpy` call
    // (a logprobs completion is ~1,800 floats).
    out.reserve(24); // ryu's longest: "-2.2250738585072014e-308"
    // SAFETY: `value` is finite (format64's contract), and the 24 bytes it writes at most are reserved
    // past the end; they are ASCII, and `set_len` covers exactly those written.
    unsafe {
        let end = out.len();
        let written = ryu::raw::format64(value, out.as_mut_ptr().add(end));
        out.set_len(end + written);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // msgspec's layout of a float's digits (its `write_f64`), for the oracle below.

    /// Writes `mantissa` x 10^`k` at the start of `out` as msgspec's `write_f64` lays a float out (at
    /// most 24 bytes); returns the length.
    fn float_text(out: &mut [u8], mantissa: u64, k: i32) -> usize {
        let length = digit_count(mantissa);
        // msgspec's names: the value is digits x 10^k, and kk = length + k places the decimal point.
        let kk = length as i32 + k;
        if (0..).contains(&k) && kk <= 16 {
            // XYZ00.0
            let point = kk as usize;
            digits_into(mantissa, length, out);
            out[length..point].fill(b'0');
            out[point..point + 2].copy_from_slice(b".0");
            point + 2
        } else if 0 < kk && kk <= 16 {
            // XY.Z
            let point = kk as usize;
            let scale = POWERS_OF_TEN[length - point];
            digits_into(mantissa / scale, point, out);
            out[point] = b'.';
            digits_into(mantissa % scale, length - point, &mut out[point + 1..]);
            length + 1
        } else if -5 < kk && kk <= 0 {
            // 0.0XYZ
            let zeros = (-kk) as usize;
            out[..2].copy_from_slice(b"0.");
            out[2..2 + zeros].fill(b'0');
            digits_into(mantissa, length, &mut out[2 + zeros..]);
            2 + zeros + length
        } else {
            // X.YZe123, or Xe123
            let scale = POWERS_OF_TEN[length - 1];
            out[0] = b'0' + (mantissa / scale) as u8;
            let mut at = 1;
            if length > 1 {
                out[1] = b'.';
                digits_into(mantissa % scale, length - 1, &mut out[2..]);
                at = length + 1;
            }
            out[at] = b'e';
            at += 1;
            let exponent = kk - 1;
            if exponent < 0 {
                out[at] = b'-';
                at += 1;
            }
            at + decimal(u64::from(exponent.unsigned_abs()), &mut out[at..])
        }
    }

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

    /// The oracle: std's shortest digits (`{:e}`), laid out the same way.
    fn float_by_std(value: f64) -> String {
        let mut out = vec![b'-'; 40];
        let sign = usize::from(value.is_sign_negative());
        let text = format!("{:e}", value.abs());
        let (mantissa, exponent) = text.split_once('e').unwrap();
        let digits: String = mantissa.chars().filter(|&c| c != '.').collect();
        let exponent: i32 = exponent.parse().unwrap();
        let length = float_text(&mut out[sign..], digits.parse().unwrap(), exponent + 1 - digits.len() as i32);
        out.truncate(sign + length);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ryu_gives_the_shortest_digits_std_gives() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let check = |value: f64| {
            if value.is_finite() && value != 0.0 {
                let (ours, theirs) = (float(value), float_by_std(value));
                if ours != theirs {
                    // std rounds an exact tie between two shortest candidates up, Ryu (and msgspec,
                    // and Python's repr: `14566718008970.062`) to the even digit.
                    let digits = |text: &str| text.bytes().filter(u8::is_ascii_digit).count();
                    let last = ours.trim_end_matches(|c: char| !c.is_ascii_digit()).bytes().last().unwrap();
                    assert!(digits(&ours) == digits(&theirs) && ours.parse::<f64>().unwrap() == value && (last - b'0') % 2 == 0,
                            "{value:e} ({:#x}): {ours} against {theirs}", value.to_bits());
                }
            }
        };
        for _ in 0..300_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            check(f64::from_bits(state));
            // Short decimals (logprobs, costs) and integers, where ties and trailing zeros happen.
            check(-((state % 100_000_000) as f64) / 1e8);
            check((state % 1_000_000) as f64);
            check((state >> 11) as f64 * 2f64.powi((state % 64) as i32 - 32));
        }
        for exponent in -1074..1024 {
            check(2f64.powi(exponent));
        }
        for exponent in -323..309 {
            check(format!("1e{exponent}").parse().unwrap());
            check(format!("9.999999999999999e{exponent}").parse().unwrap());
        }
        // 14566718008970.0625 exactly: a tie between ...062 and ...063, rounded to even.
        assert_eq!(float(f64::from_bits(0x42aa_7f28_1add_1420)), "14566718008970.062");
        check(f64::MIN_POSITIVE);
        check(f64::MAX);
        check(5e-324);
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
