//! A pull scanner for JSON (RFC 8259) over a byte slice: the caller asks for the value it expects next
//! and gets borrowed slices, so a schema-directed consumer builds its own output in one pass with no
//! intermediate tree.
//!
//! Why not a crate: on 260-600 byte chat chunks per-token overhead dominates, and the pull APIs measured
//! (jiter, serde visitors over serde_json/sonic-rs) cost 1.3-1.8x a hand-written schema-directed scan
//! (docs/decisions.md, section 3). Strictness follows the RFC: no trailing commas, no comments, no
//! leading zeros, no lone surrogates, no raw control characters in strings, UTF-8 only.

use std::fmt;

/// Nesting deeper than this is refused, so that recursive consumers cannot overflow the stack.
pub const MAX_DEPTH: u32 = 256;

/// CPython refuses to turn a decimal text of more digits than this into an int (the default of
/// `sys.get_int_max_str_digits()`): such an integer is valid JSON that no Python value is made of.
pub const MAX_INT_DIGITS: usize = 4300;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset into the scanned input where the problem is.
    pub offset: usize,
    pub kind: JsonErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonErrorKind {
    UnexpectedEnd,
    /// Found this byte where the named thing was expected.
    Unexpected { found: u8, expected: &'static str },
    InvalidUtf8,
    InvalidEscape,
    LoneSurrogate,
    ControlCharacterInString,
    InvalidNumber,
    NumberOutOfRange,
    /// An integer of more than MAX_INT_DIGITS digits (how many it has).
    IntegerTooLong { digits: usize },
    /// The thread's native stack would not take this many levels (`crate::stack`).
    StackExhausted { depth: u32 },
    TooDeep,
    TrailingCharacters,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.kind, self.offset)
    }
}

impl fmt::Display for JsonErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonErrorKind::UnexpectedEnd => write!(f, "JSON ends unexpectedly"),
            JsonErrorKind::Unexpected { found, expected } => {
                write!(f, "expected {expected}, found {}", describe_byte(*found))
            }
            JsonErrorKind::InvalidUtf8 => write!(f, "invalid UTF-8"),
            JsonErrorKind::InvalidEscape => write!(f, "invalid escape sequence in string"),
            JsonErrorKind::LoneSurrogate => write!(f, "\\u escape is a lone UTF-16 surrogate"),
            JsonErrorKind::ControlCharacterInString => write!(f, "unescaped control character in string"),
            JsonErrorKind::InvalidNumber => write!(f, "invalid number"),
            JsonErrorKind::NumberOutOfRange => write!(f, "number out of range for a float"),
            JsonErrorKind::IntegerTooLong { digits } => {
                write!(f, "integer of {digits} digits, more than a Python int takes (sys.get_int_max_str_digits(), {MAX_INT_DIGITS} by default)")
            }
            JsonErrorKind::TooDeep => write!(f, "nesting deeper than {MAX_DEPTH} levels"),
            JsonErrorKind::StackExhausted { depth } => {
                write!(f, "nesting of {depth} levels is too deep for this thread's native stack (give it a larger one)")
            }
            JsonErrorKind::TrailingCharacters => write!(f, "trailing characters after the JSON value"),
        }
    }
}

impl std::error::Error for JsonError {}

fn describe_byte(byte: u8) -> String {
    match byte {
        b'"' => "'\"'".to_owned(),
        0x20..=0x7e => format!("'{}'", byte as char),
        _ => format!("byte 0x{byte:02x}"),
    }
}

/// What the next value is, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool => "boolean",
            Kind::Number => "number",
            Kind::String => "string",
            Kind::Array => "array",
            Kind::Object => "object",
        }
    }
}

/// A string value as it stands between its quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonStr<'a> {
    /// The text between the quotes, escapes not yet resolved. Valid UTF-8 (checked by the scanner).
    pub raw: &'a [u8],
    /// At least one backslash escape: `unescape` must run.
    pub escaped: bool,
    /// Every byte is ASCII (escapes may still produce non-ASCII).
    pub ascii: bool,
    /// Offset of the opening quote.
    pub offset: usize,
}

impl<'a> JsonStr<'a> {
    /// The text between the quotes as `&str` (escapes not resolved).
    #[inline]
    pub fn raw_str(&self) -> &'a str {
        // SAFETY: `Scanner::string` only hands out a JsonStr whose raw bytes it checked to be UTF-8
        // (ASCII, or validated with `str::from_utf8` when any byte is not ASCII).
        unsafe { std::str::from_utf8_unchecked(self.raw) }
    }

    /// The string's value as bytes: the raw text when it has no escapes, else unescaped into `scratch`.
    #[inline]
    pub fn unescaped<'s>(&self, scratch: &'s mut Vec<u8>) -> Result<&'s [u8], JsonError>
    where
        'a: 's,
    {
        if !self.escaped {
            return Ok(self.raw);
        }
        scratch.clear();
        self.unescape_into(scratch)?;
        Ok(scratch)
    }

    /// Appends the string's value to `out`.
    pub fn unescape_into(&self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        if !self.escaped {
            out.extend_from_slice(self.raw);
            return Ok(());
        }
        let raw = self.raw;
        let error = |at: usize, kind| JsonError { offset: self.offset + 1 + at, kind };
        let mut i = 0;
        while i < raw.len() {
            let Some(backslash) = memchr::memchr(b'\\', &raw[i..]) else {
                out.extend_from_slice(&raw[i..]);
                break;
            };
            out.extend_from_slice(&raw[i..i + backslash]);
            i += backslash;
            // The scanner already checked that a backslash is followed by a valid escape character.
            let replacement = match raw[i + 1] {
                b'"' => b'"',
                b'\\' => b'\\',
                b'/' => b'/',
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'u' => {
                    let unit = hex4(raw, i + 2).ok_or_else(|| error(i, JsonErrorKind::InvalidEscape))?;
                    let (code_point, consumed) = if (0xD800..0xDC00).contains(&unit) {
                        // A high surrogate must be followed by an escaped low surrogate.
                        let low = (raw.get(i + 6) == Some(&b'\\') && raw.get(i + 7) == Some(&b'u'))
                            .then(|| hex4(raw, i + 8))
                            .flatten()
                            .filter(|low| (0xDC00..0xE000).contains(low))
                            .ok_or_else(|| error(i, JsonErrorKind::LoneSurrogate))?;
                        (0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00), 12)
                    } else if (0xDC00..0xE000).contains(&unit) {
                        return Err(error(i, JsonErrorKind::LoneSurrogate));
                    } else {
                        (unit, 6)
                    };
                    let ch = char::from_u32(code_point).ok_or_else(|| error(i, JsonErrorKind::InvalidEscape))?;
                    let mut utf8 = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
                    i += consumed;
                    continue;
                }
                _ => return Err(error(i, JsonErrorKind::InvalidEscape)),
            };
            out.push(replacement);
            i += 2;
        }
        Ok(())
    }
}

fn hex4(raw: &[u8], at: usize) -> Option<u32> {
    let digits = raw.get(at..at + 4)?;
    let mut value = 0u32;
    for &digit in digits {
        value = value * 16 + (digit as char).to_digit(16)?;
    }
    Some(value)
}

/// A number as it stands in the input (grammar already checked), with its digits already read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonNumber<'a> {
    pub text: &'a str,
    /// No fraction and no exponent.
    pub integer: bool,
    pub offset: usize,
    /// The value is `±significand × 10^exponent` when `exact` (at most 19 digits, integer and
    /// fraction together, and an exponent of at most four digits); otherwise only `text` says it.
    significand: u64,
    exponent: i32,
    negative: bool,
    exact: bool,
}

impl JsonNumber<'_> {
    /// The value as an i64, when it is an integer in range.
    pub fn as_i64(&self) -> Option<i64> {
        if !self.integer {
            return None;
        }
        // Up to 18 digits cannot overflow: read while scanning (an index or a count is on most
        // chunks, a logprob entry has ~30 byte values).
        if self.exact && self.significand < 1_000_000_000_000_000_000 {
            let value = self.significand as i64;
            return Some(if self.negative { -value } else { value });
        }
        self.text.parse().ok()
    }

    /// The value as a float; an overflow to infinity is an error (a float field cannot hold it).
    pub fn as_f64(&self) -> Result<f64, JsonError> {
        // Clinger's fast path: a significand below 2^53 and a power of ten up to 10^22 are both exact
        // as f64, so one IEEE multiplication or division gives the correctly rounded value, the same
        // that `str::parse` gives (a logprob such as -0.12345678 takes this path).
        const POWERS: [f64; 23] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
            1e19, 1e20, 1e21, 1e22,
        ];
        if self.exact && self.significand <= 1 << 53 && (-22..=22).contains(&self.exponent) {
            let significand = self.significand as f64;
            let power = POWERS[self.exponent.unsigned_abs() as usize];
            let value = if self.exponent < 0 { significand / power } else { significand * power };
            return Ok(if self.negative { -value } else { value });
        }
        match self.text.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(value),
            _ => Err(JsonError { offset: self.offset, kind: JsonErrorKind::NumberOutOfRange }),
        }
    }
}

impl JsonNumber<'_> {
    /// The number fits the Python value it becomes: an integer of at most MAX_INT_DIGITS digits, a
    /// float finite as an f64 (`1e400` is valid JSON, but no float).
    pub fn check_holdable(&self) -> Result<(), JsonError> {
        if self.integer {
            let digits = self.text.len() - usize::from(self.text.starts_with('-'));
            if digits > MAX_INT_DIGITS {
                return Err(JsonError { offset: self.offset, kind: JsonErrorKind::IntegerTooLong { digits } });
            }
            return Ok(());
        }
        self.as_f64().map(drop)
    }
}

/// What `Scanner::number_end` learns on the way: the pieces of a `JsonNumber` other than its text.
struct NumberParts {
    integer: bool,
    /// Below 10 to this power (all digits and the exponent counted; i32::MAX when the exponent has
    /// more than 4 digits): a float below 10^308 is finite without parsing it.
    magnitude: i32,
    significand: u64,
    exponent: i32,
    negative: bool,
    exact: bool,
}

/// A place in the input to come back to (`Scanner::mark`, `Scanner::rewind`): position and depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pos: usize,
    depth: u32,
}

pub struct Scanner<'a> {
    input: &'a [u8],
    pos: usize,
    depth: u32,
    /// Whitespace was skipped between tokens since this was last cleared (`spaced`).
    spaced: bool,
}

// Bytes that end the fast part of a string scan: the quote, the backslash, and control characters.
#[inline(always)]
fn string_stop_mask(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    // A byte < 0x20 has the high bit of (b - 0x20) set while its own high bit is clear.
    zero_byte(word ^ (ONES * b'"' as u64)) | zero_byte(word ^ (ONES * b'\\' as u64)) | (word.wrapping_sub(ONES * 0x20) & !word & HIGHS)
}

impl<'a> Scanner<'a> {
    /// A scanner over `input`. UTF-8 is checked where it matters, inside strings (everything outside
    /// strings must be ASCII anyway), so that an invalid byte is reported at its place in the document.
    pub fn new(input: &'a [u8]) -> Result<Self, JsonError> {
        Ok(Scanner { input, pos: 0, depth: 0, spaced: false })
    }

    /// A scanner over `input` starting at `pos`: to read again a value whose place was noted during
    /// an earlier pass.
    pub fn resume(input: &'a [u8], pos: usize) -> Scanner<'a> {
        Scanner { input, pos, depth: 0, spaced: false }
    }

    /// A scanner inside the top-level object of `input`, at `pos`, just after a member's value: the
    /// next `next_key` (with `first` false) reads the comma and the next member.
    pub fn resume_in_object(input: &'a [u8], pos: usize) -> Scanner<'a> {
        Scanner { input, pos, depth: 1, spaced: false }
    }

    /// A second scanner at the same place, to look ahead without moving this one.
    pub fn at(other: &Scanner<'a>) -> Scanner<'a> {
        Scanner { input: other.input, pos: other.pos, depth: other.depth, spaced: other.spaced }
    }

    /// Where the scanner is, to `rewind` to.
    #[inline(always)]
    pub fn mark(&self) -> Mark {
        Mark { pos: self.pos, depth: self.depth }
    }

    /// Back to a place noted by `mark` on this input.
    pub fn rewind(&mut self, mark: Mark) {
        self.pos = mark.pos;
        self.depth = mark.depth;
    }

    pub fn input(&self) -> &'a [u8] {
        self.input
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    #[cold]
    fn error(&self, kind: JsonErrorKind) -> JsonError {
        JsonError { offset: self.pos, kind }
    }

    #[cold]
    fn unexpected(&self, expected: &'static str) -> JsonError {
        match self.input.get(self.pos) {
            Some(&found) => self.error(JsonErrorKind::Unexpected { found, expected }),
            None => self.error(JsonErrorKind::UnexpectedEnd),
        }
    }

    #[inline]
    fn skip_whitespace(&mut self) {
        // Compact JSON, the common case, has no whitespace between tokens: one compare decides.
        if self.input.get(self.pos).is_some_and(|&byte| byte > b' ') {
            return;
        }
        let start = self.pos;
        while let Some(&byte) = self.input.get(self.pos) {
            if !matches!(byte, b' ' | b'\n' | b'\r' | b'\t') {
                break;
            }
            self.pos += 1;
        }
        self.spaced |= self.pos != start;
    }

    /// Whether whitespace between tokens was skipped since the last call (which clears it): a value
    /// read without any is already compact and can be copied as it stands.
    pub fn spaced(&mut self) -> bool {
        std::mem::take(&mut self.spaced)
    }

    /// The kind of the next value (whitespace skipped); the value itself is not consumed.
    #[inline(always)]
    pub fn peek(&mut self) -> Result<Kind, JsonError> {
        self.skip_whitespace();
        match self.input.get(self.pos) {
            Some(b'"') => Ok(Kind::String),
            Some(b'{') => Ok(Kind::Object),
            Some(b'[') => Ok(Kind::Array),
            Some(b'-' | b'0'..=b'9') => Ok(Kind::Number),
            Some(b't' | b'f') => Ok(Kind::Bool),
            Some(b'n') => Ok(Kind::Null),
            _ => Err(self.unexpected("a JSON value")),
        }
    }

    fn literal(&mut self, word: &'static [u8], expected: &'static str) -> Result<(), JsonError> {
        let rest = &self.input[self.pos..];
        if rest.starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else if word.starts_with(rest) {
            // `nul` at the very end: a literal cut short.
            self.pos = self.input.len();
            Err(self.error(JsonErrorKind::UnexpectedEnd))
        } else {
            Err(self.unexpected(expected))
        }
    }

    /// Consumes `null` (after `peek` said Null).
    pub fn null(&mut self) -> Result<(), JsonError> {
        self.literal(b"null", "null")
    }

    /// Consumes `true` or `false` (after `peek` said Bool).
    pub fn boolean(&mut self) -> Result<bool, JsonError> {
        if self.input[self.pos] == b't' {
            self.literal(b"true", "true").map(|()| true)
        } else {
            self.literal(b"false", "false").map(|()| false)
        }
    }

    /// Consumes a number (after `peek` said Number), checking the RFC grammar.
    #[inline]
    pub fn number(&mut self) -> Result<JsonNumber<'a>, JsonError> {
        let start = self.pos;
        let NumberParts { integer, significand, exponent, negative, exact, .. } = self.number_end()?;
        // SAFETY: the bytes matched are ASCII digits, signs, '.', 'e' and 'E'.
        let text = unsafe { std::str::from_utf8_unchecked(&self.input[start..self.pos]) };
        Ok(JsonNumber { text, integer, offset: start, significand, exponent, negative, exact })
    }

    /// Moves past a number that must fit the Python value it becomes (`JsonNumber::check_holdable`),
    /// without making a `JsonNumber`: for values checked, not read. Returns whether it is an integer.
    #[inline(always)]
    pub fn holdable_number(&mut self) -> Result<bool, JsonError> {
        let start = self.pos;
        let parts = self.number_end()?;
        // A float below 10^308 is finite for certain (f64::MAX is 1.8e308): no parse needed, however
        // many digits it has (a moderation score has 20).
        if parts.integer && self.pos - start - usize::from(parts.negative) <= MAX_INT_DIGITS || !parts.integer && parts.magnitude <= 308 {
            return Ok(parts.integer);
        }
        self.rare_number(start, parts)
    }

    #[cold]
    #[inline(never)]
    fn rare_number(&self, start: usize, parts: NumberParts) -> Result<bool, JsonError> {
        // SAFETY: the bytes matched are ASCII digits, signs, '.', 'e' and 'E'.
        let text = unsafe { std::str::from_utf8_unchecked(&self.input[start..self.pos]) };
        let NumberParts { integer, significand, exponent, negative, exact, .. } = parts;
        JsonNumber { text, integer, offset: start, significand, exponent, negative, exact }.check_holdable()?;
        Ok(integer)
    }

    /// Moves past a number, checking its grammar and reading its digits in the same pass. Shared by
    /// `number` and `skip` (inlined there, the unused arithmetic drops out).
    #[inline(always)]
    fn number_end(&mut self) -> Result<NumberParts, JsonError> {
        let bytes = self.input;
        let mut pos = self.pos;
        let mut significand = 0u64;
        // Digits read into `significand`; past 19 it could overflow, and the text decides instead.
        let mut digits_read = 0u32;
        let mut digits = |pos: &mut usize| {
            let from = *pos;
            while let Some(&byte) = bytes.get(*pos).filter(|byte| byte.is_ascii_digit()) {
                significand = significand.wrapping_mul(10).wrapping_add(u64::from(byte - b'0'));
                *pos += 1;
            }
            digits_read += (*pos - from) as u32;
            *pos - from
        };
        let negative = bytes[pos] == b'-';
        if negative {
            pos += 1;
        }
        let integer_digits = digits(&mut pos);
        if integer_digits == 0 || (integer_digits > 1 && bytes[pos - integer_digits] == b'0') {
            // `-` at the very end is a number cut short, not a wrong one (nor are `1.` and `1e` below).
            if integer_digits == 0 && pos == bytes.len() {
                self.pos = pos;
                return Err(self.error(JsonErrorKind::UnexpectedEnd));
            }
            return Err(self.error(JsonErrorKind::InvalidNumber));
        }
        let mut integer = true;
        let mut exponent = 0i32;
        if bytes.get(pos) == Some(&b'.') {
            pos += 1;
            integer = false;
            let fraction_digits = digits(&mut pos);
            if fraction_digits == 0 {
                self.pos = pos;
                return Err(self.error(if pos == bytes.len() { JsonErrorKind::UnexpectedEnd } else { JsonErrorKind::InvalidNumber }));
            }
            exponent = -(fraction_digits.min(1 << 20) as i32);
        }
        let mut exponent_short = true;
        if matches!(bytes.get(pos), Some(b'e' | b'E')) {
            pos += 1;
            integer = false;
            let sign = match bytes.get(pos) {
                Some(b'-') => {
                    pos += 1;
                    -1
                }
                Some(b'+') => {
                    pos += 1;
                    1
                }
                _ => 1,
            };
            let from = pos;
            let mut value = 0i32;
            while let Some(&byte) = bytes.get(pos).filter(|byte| byte.is_ascii_digit()) {
                value = value.saturating_mul(10).saturating_add(i32::from(byte - b'0'));
                pos += 1;
            }
            if pos == from {
                self.pos = pos;
                return Err(self.error(if pos == bytes.len() { JsonErrorKind::UnexpectedEnd } else { JsonErrorKind::InvalidNumber }));
            }
            exponent_short = pos - from <= 4;
            exponent += sign * value.min(1 << 20);
        }
        self.pos = pos;
        // Clamped digits keep the bound true: the exponent is at least -2^21 (see above).
        let magnitude = if exponent_short { digits_read.min(1 << 24) as i32 + exponent } else { i32::MAX };
        Ok(NumberParts { integer, magnitude, significand, exponent, negative, exact: digits_read <= 19 && exponent_short })
    }

    /// Consumes a string (after `peek` said String), checking escapes and control characters.
    /// Inlined: returning the result through memory from an out-of-line call measured as the main cost
    /// of reading a key (store-forwarding stalls on the 16-byte reloads).
    #[inline(always)]
    pub fn string(&mut self) -> Result<JsonStr<'a>, JsonError> {
        let open = self.pos;
        let bytes = self.input;
        let mut pos = open + 1;
        let mut escaped = false;
        let mut ascii = true;
        loop {
            // Eight bytes at a time until one of them needs a look.
            while pos + 8 <= bytes.len() {
                let word = u64::from_le_bytes(bytes[pos..pos + 8].try_into().unwrap());
                let stops = string_stop_mask(word);
                ascii &= word & 0x8080_8080_8080_8080 == 0 || stops != 0;
                if stops != 0 {
                    let first = (stops.trailing_zeros() / 8) as usize;
                    ascii &= bytes[pos..pos + first].is_ascii();
                    pos += first;
                    break;
                }
                pos += 8;
            }
            let Some(&byte) = bytes.get(pos) else {
                self.pos = pos;
                return Err(self.error(JsonErrorKind::UnexpectedEnd));
            };
            match byte {
                b'"' => {
                    let raw = &bytes[open + 1..pos];
                    if !ascii {
                        if let Err(error) = std::str::from_utf8(raw) {
                            self.pos = open + 1 + error.valid_up_to();
                            return Err(self.error(JsonErrorKind::InvalidUtf8));
                        }
                    }
                    self.pos = pos + 1;
                    return Ok(JsonStr { raw, escaped, ascii, offset: open });
                }
                b'\\' => {
                    escaped = true;
                    match bytes.get(pos + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => pos += 2,
                        Some(b'u') if bytes.get(pos + 2..pos + 6).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) => {
                            pos += 6;
                        }
                        _ => {
                            // An escape cut short by the end of the input (`\`, `\u00`) is no bad one.
                            let hex = bytes.get(pos + 2..).unwrap_or_default();
                            let cut = match bytes.get(pos + 1) {
                                None => true,
                                Some(b'u') => hex.len() < 4 && hex.iter().all(u8::is_ascii_hexdigit),
                                Some(_) => false,
                            };
                            self.pos = if cut { bytes.len() } else { pos };
                            return Err(self.error(if cut { JsonErrorKind::UnexpectedEnd } else { JsonErrorKind::InvalidEscape }));
                        }
                    }
                }
                0..=0x1f => {
                    self.pos = pos;
                    return Err(self.error(JsonErrorKind::ControlCharacterInString));
                }
                _ => {
                    ascii &= byte.is_ascii();
                    pos += 1;
                }
            }
        }
    }

    /// Into a container, for `skip`: its loop takes no stack per level.
    fn enter(&mut self) -> Result<(), JsonError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(JsonErrorKind::TooDeep));
        }
        self.pos += 1;
        Ok(())
    }

    /// Into a container, for the pull methods: their consumers recurse once per level (the Python
    /// builder takes ~0.75 KiB of native stack a level), so every STACK_CHECK_EVERY levels the thread's
    /// remaining stack is checked (`crate::stack`): a document too deep for a small-stack thread fails
    /// cleanly instead of overflowing it. Shallow documents (every chunk) never pay for the check.
    #[inline(always)]
    fn enter_recursive(&mut self) -> Result<(), JsonError> {
        self.enter()?;
        if self.depth % crate::stack::CHECK_EVERY == 0 && !crate::stack::enough() {
            self.pos -= 1;
            self.depth -= 1;
            return Err(self.error(JsonErrorKind::StackExhausted { depth: self.depth + 1 }));
        }
        Ok(())
    }

    /// Levels of containers the scanner is inside.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// Consumes `{` (after `peek` said Object). Then call `next_key` until it returns None.
    pub fn begin_object(&mut self) -> Result<(), JsonError> {
        self.enter_recursive()
    }

    /// The next key of the object being read, with its colon consumed; None at the closing brace.
    /// `first` must start true for each object; this call clears it.
    #[inline(always)]
    pub fn next_key(&mut self, first: &mut bool) -> Result<Option<JsonStr<'a>>, JsonError> {
        self.skip_whitespace();
        let byte = self.input.get(self.pos).copied();
        if byte == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(None);
        }
        if *first {
            *first = false;
        } else if byte == Some(b',') {
            self.pos += 1;
            self.skip_whitespace();
        } else {
            return Err(self.unexpected("',' or '}'"));
        }
        // After a comma a '}' lands here too: a trailing comma is refused.
        self.member_name().map(Some)
    }

    /// Consumes `[` (after `peek` said Array). Then call `next_element` until it returns false.
    pub fn begin_array(&mut self) -> Result<(), JsonError> {
        self.enter_recursive()
    }

    /// True when another element follows (its comma consumed); false at the closing bracket.
    #[inline(always)]
    pub fn next_element(&mut self, first: &mut bool) -> Result<bool, JsonError> {
        self.skip_whitespace();
        match self.input.get(self.pos) {
            Some(b']') => {
                self.pos += 1;
                self.depth -= 1;
                Ok(false)
            }
            // A comma then ']' fails in the element's own `peek`: a trailing comma is refused.
            Some(b',') if !*first => {
                self.pos += 1;
                Ok(true)
            }
            _ if *first => {
                *first = false;
                Ok(true)
            }
            _ => Err(self.unexpected("',' or ']'")),
        }
    }

    /// Consumes any value, checking it; returns where it started.
    ///
    /// One loop with the open containers as a bit stack, not a recursive descent through `next_key`
    /// and `next_element`: the accumulator skips every logprob entry and kept extra this way, and the
    /// recursive form was two thirds of feeding a logprobs stream (docs/decisions.md §8). The errors
    /// are those of the pull methods, at the same offsets.
    pub fn skip(&mut self) -> Result<usize, JsonError> {
        self.skip_values::<false>(&mut Vec::new())
    }

    /// `skip`, also checking that every string's escapes stand for Unicode text (no lone surrogate)
    /// and every number fits a Python value (`JsonNumber::check_holdable`): for values kept as text
    /// that will be built later, which must not fail then. `scratch` receives unescaped strings.
    pub fn skip_checked(&mut self, scratch: &mut Vec<u8>) -> Result<usize, JsonError> {
        self.skip_values::<true>(scratch)
    }

    #[inline(always)]
    fn skip_values<const CHECK: bool>(&mut self, scratch: &mut Vec<u8>) -> Result<usize, JsonError> {
        const WORDS: usize = (MAX_DEPTH as usize).div_ceil(64);
        self.skip_whitespace();
        let start = self.pos;
        let base = self.depth;
        // Bit n: the container at depth base + n + 1 is an object (else an array).
        let mut objects = [0u64; WORDS];
        let is_object = |objects: &[u64; WORDS], level: u32| objects[level as usize / 64] >> (level % 64) & 1 == 1;
        loop {
            // A value is expected here.
            self.skip_whitespace();
            match self.input.get(self.pos) {
                Some(b'"') => {
                    let text = self.string()?;
                    if CHECK && text.escaped {
                        text.unescaped(scratch)?;
                    }
                }
                Some(b'-' | b'0'..=b'9') => {
                    if CHECK {
                        self.holdable_number()?;
                    } else {
                        self.number_end()?;
                    }
                }
                Some(b'{') => {
                    self.enter()?;
                    let level = self.depth - base - 1;
                    objects[level as usize / 64] |= 1 << (level % 64);
                    self.skip_whitespace();
                    if self.input.get(self.pos) != Some(&b'}') {
                        let name = self.member_name()?;
                        if CHECK && name.escaped {
                            name.unescaped(scratch)?;
                        }
                        continue;
                    }
                    self.pos += 1;
                    self.depth -= 1;
                }
                Some(b'[') => {
                    self.enter()?;
                    let level = self.depth - base - 1;
                    objects[level as usize / 64] &= !(1 << (level % 64));
                    self.skip_whitespace();
                    if self.input.get(self.pos) != Some(&b']') {
                        continue;
                    }
                    self.pos += 1;
                    self.depth -= 1;
                }
                Some(b't') => self.literal(b"true", "true")?,
                Some(b'f') => self.literal(b"false", "false")?,
                Some(b'n') => self.literal(b"null", "null")?,
                _ => return Err(self.unexpected("a JSON value")),
            }
            // A value ended: close the containers it ends, up to the next comma.
            loop {
                if self.depth == base {
                    return Ok(start);
                }
                self.skip_whitespace();
                let in_object = is_object(&objects, self.depth - base - 1);
                match self.input.get(self.pos) {
                    Some(b',') => {
                        self.pos += 1;
                        if in_object {
                            self.skip_whitespace();
                            let name = self.member_name()?;
                            if CHECK && name.escaped {
                                name.unescaped(scratch)?;
                            }
                        }
                        break;
                    }
                    Some(b'}') if in_object => {
                        self.pos += 1;
                        self.depth -= 1;
                    }
                    Some(b']') if !in_object => {
                        self.pos += 1;
                        self.depth -= 1;
                    }
                    _ => return Err(self.unexpected(if in_object { "',' or '}'" } else { "',' or ']'" })),
                }
            }
        }
    }

    /// A member's name and its colon, at the name's opening quote (whitespace already skipped); for
    /// `next_key` and `skip`.
    #[inline(always)]
    fn member_name(&mut self) -> Result<JsonStr<'a>, JsonError> {
        if self.input.get(self.pos) != Some(&b'"') {
            return Err(self.unexpected("a string key"));
        }
        let name = self.string()?;
        self.skip_whitespace();
        if self.input.get(self.pos) != Some(&b':') {
            return Err(self.unexpected("':'"));
        }
        self.pos += 1;
        Ok(name)
    }

    /// Moves past `token` when the input goes on with exactly these bytes (no whitespace skipped);
    /// returns whether it did. For fast paths that read one expected compact layout and leave any
    /// other to the pull methods (after a `rewind`): the depth is not tracked, so they must read
    /// whole values before the scanner is used again.
    #[inline(always)]
    pub fn eat(&mut self, token: &[u8]) -> bool {
        let matched = self.input[self.pos..].starts_with(token);
        if matched {
            self.pos += token.len();
        }
        matched
    }

    /// The next byte, whitespace not skipped.
    #[inline(always)]
    pub fn next_byte(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    /// Reads a number that is an unsigned integer of at most 18 digits (a choice's or a tool call's
    /// `index`, nearly always) and returns its value; None, not moved, for any other number or value
    /// (then read it with `number`). Returned in registers: `number` hands back a `JsonNumber`
    /// through memory, and reloading it stalled on store forwarding where an index is read on every
    /// chunk (perf: a tenth of the merge's time on tool-call fragments).
    #[inline(always)]
    pub fn small_integer(&mut self) -> Option<i64> {
        let rest = &self.input[self.pos..];
        let mut value = 0i64;
        let mut digits = 0;
        while let Some(&byte) = rest.get(digits).filter(|byte| byte.is_ascii_digit()) {
            if digits == 18 || (digits == 1 && value == 0) {
                return None; // too long for certain, or a leading zero: `number` decides
            }
            value = value * 10 + i64::from(byte - b'0');
            digits += 1;
        }
        if digits == 0 || matches!(rest.get(digits), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        self.pos += digits;
        Some(value)
    }

    /// The text of the value this scanner just read, which started at `start` (as `skip` returns it).
    pub fn text_since(&self, start: usize) -> &'a str {
        let bytes = &self.input[start..self.pos];
        // SAFETY: the scanner has just read these bytes as one JSON value: outside strings every byte
        // it accepts is ASCII, and every string's bytes were checked to be UTF-8 (`string`).
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// Checks that only whitespace is left.
    pub fn end(&mut self) -> Result<(), JsonError> {
        self.skip_whitespace();
        if self.pos != self.input.len() {
            return Err(self.error(JsonErrorKind::TrailingCharacters));
        }
        Ok(())
    }
}

/// True when `input` is the start of a JSON value that was cut off: scanning it runs out of bytes.
/// (A complete value of the wrong shape, or invalid JSON, is not truncated.)
pub fn is_truncated(input: &[u8]) -> bool {
    let mut scanner = Scanner { input, pos: 0, depth: 0, spaced: false };
    matches!(scanner.skip(), Err(JsonError { kind: JsonErrorKind::UnexpectedEnd, .. }))
}

#[cfg(test)]
mod tests;
