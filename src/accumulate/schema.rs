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

    fn non_null(&self) -> &Ty {
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

/// `check` of a member or element: numbers and strings of their type (most of a logprob entry) here,
/// the rest by a call.
#[inline(always)]
fn check_inline(scanner: &mut Scanner<'_>, ty: &Ty, scratch: &mut Vec<u8>) -> Result<(), Refusal> {
    match (ty, scanner.peek()?) {
        (Ty::Int | Ty::Float, Kind::Number) => {
            let start = scanner.position();
            if !scanner.holdable_number()? && *ty == Ty::Int {
                return Err(mismatch(start, ty, "a float"));
            }
        }
        (Ty::Str, Kind::String) => check_string(&scanner.string()?, scratch)?,
        _ => {
            check(scanner, ty, scratch)?;
        }
    }
    Ok(())
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
