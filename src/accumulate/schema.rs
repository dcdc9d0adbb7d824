//! The types of the completion's declared members, as far as the accumulator must know them so that
//! whatever it accepts builds: the schema of `chatsse.types.ChatCompletion` (python/chatsse/types.py
//! is the source; `tests/test_accumulate.py::test_the_merge_schema_follows_the_types` checks this
//! table against it by feeding a value of a wrong type at every declared path).
//!
//! A value is checked in the same pass that merges or keeps it (`check` replaces `Scanner::skip` for
//! members kept as text), so a well-typed stream pays one branch per value.

use crate::json::{JsonError, JsonErrorKind, JsonNumber, JsonStr, Kind, Scanner};

/// A member's type. Every declared member may be absent; `Nullable` says whether `null` is a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// Any JSON value (undeclared members, content parts): refused only where no Python value can
    /// hold it (a lone surrogate escape, a float beyond f64, an integer of too many digits).
    Any,
    Str,
    /// An integer (a number with a fraction or an exponent is not one, as msgspec decides).
    Int,
    /// A float; integers are floats too.
    Float,
    Nullable(&'static Ty),
    List(&'static Ty),
    /// An object whose listed members have these types; the others are `Any`.
    Struct(&'static [(&'static str, Ty)]),
    /// A message's `content`: a string or a list of parts.
    Content,
}

impl Ty {
    /// The type of member `name` of a value of this type (`Any` for undeclared members).
    #[inline]
    pub fn member(&self, name: &str) -> Ty {
        match self.non_null() {
            // Names compared inline: memcmp calls for these few short names cost more than the loop.
            Ty::Struct(fields) => fields.iter().find(|(field, _)| same_name(field, name)).map_or(Ty::Any, |(_, ty)| *ty),
            _ => Ty::Any,
        }
    }

    /// The type of a list's elements.
    pub fn item(&self) -> Ty {
        match self.non_null() {
            Ty::List(item) => **item,
            _ => Ty::Any,
        }
    }

    pub fn nullable(&self) -> bool {
        matches!(self, Ty::Nullable(_) | Ty::Any)
    }

    pub fn non_null(&self) -> &Ty {
        match self {
            Ty::Nullable(inner) => inner,
            ty => ty,
        }
    }

    /// Whether a value starting with `kind` can be of this type (numbers: see `check_number`).
    pub fn admits(&self, kind: Kind) -> bool {
        match (self.non_null(), kind) {
            (_, Kind::Null) => self.nullable(),
            (Ty::Any, _) => true,
            (Ty::Str, Kind::String) | (Ty::Int | Ty::Float, Kind::Number) => true,
            (Ty::List(_), Kind::Array) | (Ty::Struct(_), Kind::Object) => true,
            (Ty::Content, Kind::String | Kind::Array) => true,
            _ => false,
        }
    }

    /// What this type is, for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Ty::Any => "a JSON value",
            Ty::Str => "a string",
            Ty::Int => "an integer",
            Ty::Float => "a number",
            Ty::Nullable(inner) => match inner {
                Ty::Str => "a string or null",
                Ty::Int => "an integer or null",
                Ty::Float => "a number or null",
                Ty::List(_) => "an array or null",
                Ty::Struct(_) => "an object or null",
                _ => "a value or null",
            },
            Ty::List(_) => "an array",
            Ty::Struct(_) => "an object",
            Ty::Content => "a string, an array or null",
        }
    }
}

/// The type of member `name` of a struct with these fields, looked up from `next` on (then from the
/// start); `next` moves past the field found.
#[inline(always)]
fn member_after(fields: &[(&str, Ty)], name: &str, next: &mut usize) -> Ty {
    if let Some((field, ty)) = fields.get(*next) {
        if same_name(field, name) {
            *next += 1;
            return *ty;
        }
    }
    match fields.iter().position(|(field, _)| same_name(field, name)) {
        Some(at) => {
            *next = at + 1;
            fields[at].1
        }
        None => Ty::Any,
    }
}

#[inline(always)]
fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

const FUNCTION_CALL: Ty = Ty::Struct(&[("name", Ty::Str), ("arguments", Ty::Str)]);
const CUSTOM_CALL: Ty = Ty::Struct(&[("name", Ty::Str), ("input", Ty::Str)]);
/// `ToolCall`, with the `index` of a streamed fragment (`ChoiceDeltaToolCall`).
pub const TOOL_CALL: Ty =
    Ty::Struct(&[("index", Ty::Int), ("id", Ty::Str), ("type", Ty::Str), ("function", FUNCTION_CALL), ("custom", CUSTOM_CALL)]);
const TOP_LOGPROB: Ty = Ty::Struct(&[("token", Ty::Str), ("logprob", Ty::Float), ("bytes", Ty::Nullable(&Ty::List(&Ty::Int)))]);
pub const TOKEN_LOGPROB: Ty = Ty::Struct(&[
    ("token", Ty::Str),
    ("logprob", Ty::Float),
    ("bytes", Ty::Nullable(&Ty::List(&Ty::Int))),
    ("top_logprobs", Ty::List(&TOP_LOGPROB)),
]);
pub const LOGPROBS: Ty =
    Ty::Nullable(&Ty::Struct(&[("content", Ty::Nullable(&Ty::List(&TOKEN_LOGPROB))), ("refusal", Ty::Nullable(&Ty::List(&TOKEN_LOGPROB)))]));
const URL_CITATION: Ty = Ty::Struct(&[("end_index", Ty::Int), ("start_index", Ty::Int), ("title", Ty::Str), ("url", Ty::Str)]);
pub const ANNOTATION: Ty = Ty::Struct(&[("type", Ty::Str), ("url_citation", URL_CITATION)]);
const AUDIO: Ty = Ty::Struct(&[("id", Ty::Str), ("data", Ty::Str), ("expires_at", Ty::Int), ("transcript", Ty::Str)]);
/// `ChatCompletionMessage`, which a choice's deltas add up to.
pub const MESSAGE: Ty = Ty::Struct(&[
    ("role", Ty::Str),
    ("content", Ty::Content),
    ("refusal", Ty::Nullable(&Ty::Str)),
    ("reasoning_content", Ty::Nullable(&Ty::Str)),
    ("reasoning", Ty::Nullable(&Ty::Str)),
    ("name", Ty::Str),
    ("tool_calls", Ty::Nullable(&Ty::List(&TOOL_CALL))),
    ("function_call", Ty::Nullable(&FUNCTION_CALL)),
    ("annotations", Ty::Nullable(&Ty::List(&ANNOTATION))),
    ("audio", Ty::Nullable(&AUDIO)),
]);
const PROMPT_TOKENS_DETAILS: Ty = Ty::Struct(&[
    ("cached_tokens", Ty::Int),
    ("cache_write_tokens", Ty::Int),
    ("audio_tokens", Ty::Int),
    ("text_tokens", Ty::Int),
    ("image_tokens", Ty::Int),
]);
const COMPLETION_TOKENS_DETAILS: Ty = Ty::Struct(&[
    ("reasoning_tokens", Ty::Int),
    ("audio_tokens", Ty::Int),
    ("accepted_prediction_tokens", Ty::Int),
    ("rejected_prediction_tokens", Ty::Int),
    ("text_tokens", Ty::Int),
]);
pub const USAGE: Ty = Ty::Nullable(&Ty::Struct(&[
    ("prompt_tokens", Ty::Int),
    ("completion_tokens", Ty::Int),
    ("total_tokens", Ty::Int),
    ("prompt_tokens_details", Ty::Nullable(&PROMPT_TOKENS_DETAILS)),
    ("completion_tokens_details", Ty::Nullable(&COMPLETION_TOKENS_DETAILS)),
]));
/// A choice's own members (`Choice`; `message` and `logprobs` are merged by their own rules).
pub const CHOICE: Ty = Ty::Struct(&[("index", Ty::Int), ("finish_reason", Ty::Nullable(&Ty::Str)), ("logprobs", LOGPROBS)]);
/// The completion's top-level members that the accumulator keeps as they come.
pub const COMPLETION: Ty = Ty::Struct(&[
    ("id", Ty::Str),
    ("object", Ty::Str),
    ("created", Ty::Int),
    ("model", Ty::Str),
    ("usage", USAGE),
    ("service_tier", Ty::Nullable(&Ty::Str)),
    ("system_fingerprint", Ty::Nullable(&Ty::Str)),
]);

/// A value that is valid JSON but not of the type its place requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub offset: usize,
    /// Where, relative to the checked value (`""` for the value itself, `.a[2]` below it).
    pub path: String,
    pub message: String,
    /// The value is a `null` where its type admits none: a tree parse can leave it out instead.
    pub null: bool,
}

/// Why a value was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not JSON: the scanner cannot go on.
    Syntax(JsonError),
    /// JSON, but not of the type (the scanner is past the value or inside it: resume from its start).
    /// Boxed: results are returned on every value, the error is rare.
    Type(Box<Mismatch>),
}

impl From<JsonError> for Refusal {
    fn from(error: JsonError) -> Self {
        match error.kind {
            // Valid JSON text that no Python value can hold: a type problem, the scan can go on.
            JsonErrorKind::LoneSurrogate
            | JsonErrorKind::NumberOutOfRange
            | JsonErrorKind::IntegerTooLong { .. }
            | JsonErrorKind::StackExhausted { .. } => {
                Refusal::Type(Box::new(Mismatch { offset: error.offset, path: String::new(), message: error.kind.to_string(), null: false }))
            }
            _ => Refusal::Syntax(error),
        }
    }
}

impl Refusal {
    /// The refusal seen from the parent of the value: `segment` (`.name` or `[3]`) goes in front.
    pub fn inside(mut self, segment: impl FnOnce() -> String) -> Self {
        if let Refusal::Type(mismatch) = &mut self {
            mismatch.path.insert_str(0, &segment());
        }
        self
    }
}

#[cold]
pub fn mismatch(offset: usize, ty: &Ty, found: &str) -> Refusal {
    Refusal::Type(Box::new(Mismatch { offset, path: String::new(), message: format!("expected {}, found {found}", ty.name()), null: found == "null" }))
}

/// What a value starting with `kind` is, for error messages.
pub fn found(kind: Kind, number: Option<&JsonNumber<'_>>) -> &'static str {
    match (kind, number) {
        (Kind::Number, Some(number)) if !number.integer => "a float",
        (Kind::Number, _) => "a number",
        (Kind::String, _) => "a string",
        (Kind::Array, _) => "an array",
        (Kind::Object, _) => "an object",
        (Kind::Bool, _) => "a boolean",
        (Kind::Null, _) => "null",
    }
}

/// A number can be held by a value of type `ty`: an integer where one is required, and a value a
/// Python number can hold (`JsonNumber::check_holdable`).
pub fn check_number(number: &JsonNumber<'_>, ty: &Ty) -> Result<(), Refusal> {
    if !number.integer && *ty.non_null() == Ty::Int {
        return Err(mismatch(number.offset, ty, "a float"));
    }
    number.check_holdable()?;
    Ok(())
}

/// A string's escapes stand for Unicode text (no lone surrogate): checked only when it has any.
pub fn check_string(text: &JsonStr<'_>, scratch: &mut Vec<u8>) -> Result<(), Refusal> {
    if text.escaped {
        text.unescaped(scratch)?;
    }
    Ok(())
}

/// `check` of a member or element: numbers and strings of their type (most of a logprob entry, a
/// chunk's `id` and `model`) here, the rest by a call (~200 instructions a string checked through
/// `check`, which is large: its prologue and its result handed back through memory).
#[inline(always)]
pub fn check_inline(scanner: &mut Scanner<'_>, ty: &Ty, scratch: &mut Vec<u8>) -> Result<(), Refusal> {
    match (ty.non_null(), scanner.peek()?) {
        (inner @ (Ty::Int | Ty::Float), Kind::Number) => {
            let start = scanner.position();
            if !scanner.holdable_number()? && *inner == Ty::Int {
                return Err(mismatch(start, inner, "a float"));
            }
        }
        (Ty::Str, Kind::String) => check_string(&scanner.string()?, scratch)?,
        _ => {
            check(scanner, ty, scratch)?;
        }
    }
    Ok(())
}

/// `check` of an annotation (a message's `annotations` element).
pub fn check_annotation(scanner: &mut Scanner<'_>, scratch: &mut Vec<u8>) -> Result<usize, Refusal> {
    check(scanner, &ANNOTATION, scratch)
}

/// `check` of a logprob entry (`TOKEN_LOGPROB`), with the same outcome, first tried as the entries
/// come from OpenAI and the servers that copy it: compact, the members in declared order, `bytes`
/// unsigned integers. Read by `check`, member by member against their types, an entry cost a
/// logprobs stream 45% more than skipping it had (docs/decisions.md §11); most of that was
/// looking names up and dispatching on types that this layout fixes. Any other layout (whitespace,
/// another order, a member more or less, a value `check` would refuse) is read again by `check`
/// from the entry's start, so the fast path only ever accepts what `check` accepts.
pub fn check_token_logprob(scanner: &mut Scanner<'_>, scratch: &mut Vec<u8>) -> Result<usize, Refusal> {
    let mark = scanner.mark();
    let start = scanner.position();
    if compact_token_logprob(scanner, scratch) {
        return Ok(start);
    }
    scanner.rewind(mark);
    check(scanner, &TOKEN_LOGPROB, scratch)
}

/// `{"token":…,"logprob":…,"bytes":…,"top_logprobs":[{"token":…,"logprob":…,"bytes":…},…]}`,
/// compact; false where the input departs from it.
fn compact_token_logprob(scanner: &mut Scanner<'_>, scratch: &mut Vec<u8>) -> bool {
    if !scanner.eat(b"{") || !compact_logprob_members(scanner, scratch) || !scanner.eat(b",\"top_logprobs\":[") {
        return false;
    }
    if !scanner.eat(b"]") {
        loop {
            if !scanner.eat(b"{") || !compact_logprob_members(scanner, scratch) || !scanner.eat(b"}") {
                return false;
            }
            if scanner.eat(b"]") {
                break;
            }
            if !scanner.eat(b",") {
                return false;
            }
        }
    }
    scanner.eat(b"}")
}

/// `"token":…,"logprob":…,"bytes":…` (members of `TOP_LOGPROB`, the first three of `TOKEN_LOGPROB`).
#[inline(always)]
fn compact_logprob_members(scanner: &mut Scanner<'_>, scratch: &mut Vec<u8>) -> bool {
    if !scanner.eat(b"\"token\":") || scanner.next_byte() != Some(b'"') {
        return false;
    }
    match scanner.string() {
        Ok(token) if check_string(&token, scratch).is_ok() => {}
        _ => return false,
    }
    // A logprob is a float: any number a Python float holds (an integer too).
    if !scanner.eat(b",\"logprob\":") || !matches!(scanner.next_byte(), Some(b'-' | b'0'..=b'9')) || scanner.holdable_number().is_err() {
        return false;
    }
    if !scanner.eat(b",\"bytes\":") {
        return false;
    }
    if scanner.eat(b"null") {
        return true;
    }
    if !scanner.eat(b"[") {
        return false;
    }
    if scanner.eat(b"]") {
        return true;
    }
    loop {
        if scanner.small_integer().is_none() {
            return false;
        }
        if scanner.eat(b"]") {
            return true;
        }
        if !scanner.eat(b",") {
            return false;
        }
    }
}

/// Reads the value under the scanner, checking that it is of type `ty`; returns where it started.
/// On a type mismatch the scanner may have stopped inside the value: the caller resumes from the
/// start it noted (see `Accumulator::member`).
pub fn check(scanner: &mut Scanner<'_>, ty: &Ty, scratch: &mut Vec<u8>) -> Result<usize, Refusal> {
    let kind = scanner.peek()?;
    let start = scanner.position();
    if !ty.admits(kind) {
        if kind == Kind::Number {
            let number = scanner.number()?;
            return Err(mismatch(start, ty, found(kind, Some(&number))));
        }
        return Err(mismatch(start, ty, found(kind, None)));
    }
    match (ty.non_null(), kind) {
        (_, Kind::Null) => scanner.null()?,
        (_, Kind::Bool) => {
            scanner.boolean()?;
        }
        (ty, Kind::Number) => {
            if !scanner.holdable_number()? && *ty == Ty::Int {
                return Err(mismatch(start, ty, "a float"));
            }
        }
        (_, Kind::String) => check_string(&scanner.string()?, scratch)?,
        (Ty::Struct(fields), Kind::Object) => {
            scanner.begin_object()?;
            let mut first = true;
            // Providers send the members of an object in the same order every time (a logprob entry:
            // token, logprob, bytes, top_logprobs): the field after the last one found is tried first.
            let mut next = 0;
            while let Some(name) = scanner.next_key(&mut first)? {
                let member = if name.escaped {
                    std::str::from_utf8(name.unescaped(scratch)?).map_or(Ty::Any, |key| ty.member(key))
                } else {
                    member_after(fields, name.raw_str(), &mut next)
                };
                check_inline(scanner, &member, scratch).map_err(|refusal| refusal.inside(|| format!(".{}", name.raw_str())))?;
            }
        }
        (Ty::List(item), Kind::Array) => {
            scanner.begin_array()?;
            let mut first = true;
            let mut at = 0usize;
            while scanner.next_element(&mut first)? {
                check_inline(scanner, item, scratch).map_err(|refusal| refusal.inside(|| format!("[{at}]")))?;
                at += 1;
            }
        }
        // Any JSON below here: the non-recursive skip, with the checks that make it buildable.
        _ => {
            scanner.skip_checked(scratch)?;
        }
    }
    Ok(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both readings of a logprob entry: `check_token_logprob`'s result and end, `check`'s, and
    /// whether the fast path alone took it.
    fn both(input: &[u8]) -> ((Result<usize, Refusal>, usize), (Result<usize, Refusal>, usize), bool) {
        let mut scratch = Vec::new();
        let mut fast = Scanner::new(input).unwrap();
        let fast_only = compact_token_logprob(&mut fast, &mut scratch);
        let mut tried = Scanner::new(input).unwrap();
        let tried = (check_token_logprob(&mut tried, &mut scratch), tried.position());
        let mut general = Scanner::new(input).unwrap();
        let general = (check(&mut general, &TOKEN_LOGPROB, &mut scratch), general.position());
        if fast_only {
            assert_eq!(general.0, Ok(0), "the fast path took what check refuses: {}", String::from_utf8_lossy(input));
            assert_eq!(fast.position(), general.1, "the fast path ended elsewhere: {}", String::from_utf8_lossy(input));
        }
        (tried, general, fast_only)
    }

    const ENTRIES: [&str; 4] = [
        r#"{"token":" chunk","logprob":-0.64693790,"bytes":[32,99,104],"top_logprobs":[{"token":" to","logprob":-0.21236476,"bytes":[32,116,111]},{"token":"\u00e9\n","logprob":0,"bytes":null}]}"#,
        r#"{"token":"a","logprob":-1.5e-3,"bytes":[],"top_logprobs":[]}"#,
        r#"{"token":"\ud83d\ude00","logprob":-12,"bytes":[240,159,152,128],"top_logprobs":[{"token":"b","logprob":-3.25,"bytes":[0]}]}"#,
        r#"{"token":"x","logprob":-1.0,"bytes":null,"top_logprobs":[{"token":"y","logprob":-2.0,"bytes":[121]},{"token":"z","logprob":-3.0,"bytes":[122]}]}"#,
    ];

    #[test]
    fn the_fast_logprob_path_reads_the_compact_layout() {
        for entry in ENTRIES {
            let (tried, general, fast_only) = both(entry.as_bytes());
            assert!(fast_only, "{entry}");
            assert_eq!(tried, (Ok(0), entry.len()));
            assert_eq!(general, tried);
        }
    }

    #[test]
    fn every_other_layout_gets_what_check_gives() {
        // Spaced, reordered, with a member more, a float or a long or negative integer in `bytes`:
        // not the fast path's, still accepted.
        for entry in [
            r#"{"token": "a", "logprob": -1, "bytes": [97], "top_logprobs": []}"#,
            r#"{"logprob":-1,"token":"a","bytes":[97],"top_logprobs":[]}"#,
            r#"{"token":"a","logprob":-1,"bytes":[97],"top_logprobs":[],"extra":{"k":[1]}}"#,
            r#"{"token":"a","logprob":-1,"bytes":[1234567890123456789012],"top_logprobs":[]}"#,
            r#"{"token":"a","logprob":-1,"bytes":[-1],"top_logprobs":[]}"#,
            r#"{"token":"a","logprob":-1,"top_logprobs":[]}"#,
        ] {
            let (tried, general, fast_only) = both(entry.as_bytes());
            assert!(!fast_only, "{entry}");
            assert_eq!(tried, (Ok(0), entry.len()), "{entry}");
            assert_eq!(general, tried);
        }
        // Values of the wrong type or that no Python value holds: refused, as check refuses them.
        for (entry, message) in [
            (r#"{"token":"\ud800","logprob":-1,"bytes":null,"top_logprobs":[]}"#, "lone UTF-16 surrogate"),
            (r#"{"token":"a","logprob":-1e400,"bytes":null,"top_logprobs":[]}"#, "out of range"),
            (r#"{"token":"a","logprob":-1,"bytes":[1.5],"top_logprobs":[]}"#, "expected an integer, found a float"),
            (r#"{"token":"a","logprob":"-1","bytes":null,"top_logprobs":[]}"#, "expected a number, found a string"),
            (r#"{"token":"a","logprob":-1,"bytes":null,"top_logprobs":[{"token":7,"logprob":-1,"bytes":null}]}"#, "expected a string"),
        ] {
            let (tried, general, fast_only) = both(entry.as_bytes());
            assert!(!fast_only, "{entry}");
            match &tried.0 {
                Err(Refusal::Type(mismatch)) => assert!(mismatch.message.contains(message), "{entry}: {}", mismatch.message),
                other => panic!("{entry}: {other:?}"),
            }
            assert_eq!(general, tried);
        }
    }

    /// Each entry with one byte replaced, deleted or inserted at every place: the fast path never
    /// accepts what `check` refuses, never ends elsewhere, and the outcome is always `check`'s.
    #[test]
    fn no_change_of_one_byte_tells_the_two_readings_apart() {
        let replacements = b"\"\\,:{}[] \n0-9.eE+nulltrux\x01\x7f\xc3";
        let (mut fast, mut cases) = (0, 0);
        for entry in ENTRIES {
            let entry = entry.as_bytes();
            for at in 0..=entry.len() {
                let mut variants = Vec::new();
                if at < entry.len() {
                    let mut deleted = entry.to_vec();
                    deleted.remove(at);
                    variants.push(deleted);
                }
                for &byte in replacements {
                    let mut inserted = entry.to_vec();
                    inserted.insert(at, byte);
                    variants.push(inserted);
                    if at < entry.len() && entry[at] != byte {
                        let mut replaced = entry.to_vec();
                        replaced[at] = byte;
                        variants.push(replaced);
                    }
                }
                for variant in variants {
                    let (tried, general, fast_only) = both(&variant);
                    assert_eq!(tried, general, "{}", String::from_utf8_lossy(&variant));
                    fast += usize::from(fast_only);
                    cases += 1;
                }
            }
        }
        // The walk reaches both paths: digits changed in place stay on the fast one.
        assert!(fast > 200 && cases - fast > 5_000, "fast {fast} of {cases}");
    }
}
