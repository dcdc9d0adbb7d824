//! Merging streamed chunks into the completion the same request would have returned without `stream`.
//!
//! Each chunk payload is scanned once and merged in place; no chunk is kept. The rules (README,
//! "Accumulator"), each in one place below:
//! - choices are keyed by `index` (their position in `choices` when a provider omits it);
//! - in a delta, strings concatenate, except the identifying keys of `SET_ONCE_KEYS`, which keep their
//!   first non-empty value, and the labels of `LABEL_KEYS`, which take the last; numbers and booleans: the last value; objects merge key by key; lists of
//!   objects that carry an `index` merge element by element, other lists extend;
//! - outside deltas (the chunk's and the choice's own members): the last non-null value, objects merging
//!   key by key; except `id`, `created`, `model`, `system_fingerprint`, `service_tier`: the first
//!   non-empty value (a filter preamble with an empty id must not win);
//! - an explicit `null` never changes a value (a key seen only as null is kept as null);
//! - tool calls are matched by `index`, else by `id`, else continue the latest call; a different
//!   non-empty `id` at a taken index starts a new call;
//! - `content` arriving as a list of typed parts (Mistral) turns the text so far into a text part;
//! - `logprobs.content`, `logprobs.refusal` and `annotations` extend;
//! - a key repeated within one object merges each time, in order (outside deltas the last value wins);
//! - `obfuscation` (stream-only padding) is dropped.

use std::borrow::Cow;
use std::ops::Range;

use crate::json::{JsonError, JsonErrorKind, Kind, Scanner};

/// Keys whose string value identifies rather than accumulates: set once, never concatenated.
const SET_ONCE_KEYS: &[&str] = &["id", "index", "type", "name", "role", "format", "object"];

/// Keys whose string value labels the current delta: the last one wins (gpt-oss on Groq sends
/// `"channel": "analysis"` on every reasoning delta, then `"final"`).
const LABEL_KEYS: &[&str] = &["channel"];

/// Top-level members taken from the first chunk that has them non-empty.
const FIRST_NON_EMPTY: &[&str] = &["id", "created", "model", "system_fingerprint", "service_tier"];

/// Declared order of a completion's members (chatsse.types.ChatCompletion), then of a message's.
const COMPLETION_ORDER: &[&str] = &["id", "object", "created", "model", "choices", "usage", "service_tier", "system_fingerprint"];
const MESSAGE_ORDER: &[&str] = &[
    "role", "content", "refusal", "reasoning_content", "reasoning", "name", "tool_calls", "function_call", "annotations", "audio",
];
const TOOL_CALL_ORDER: &[&str] = &["id", "type", "function", "custom"];

/// A JSON value being accumulated.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`: its own variant so that the null of every chunk's `finish_reason` costs no allocation.
    Null,
    /// A number or boolean, as its JSON text (numbers stay exact).
    Raw(Box<str>),
    /// A string, unescaped.
    Str(String),
    Array(Vec<Value>),
    Object(Fields),
    /// An object or array of a member outside the deltas, kept as its compact JSON text until a later
    /// chunk merges into it (then it becomes a tree). Such extras (Azure's filter results, OpenAI's
    /// moderation, Perplexity's citations) mostly arrive once or are replaced whole; as trees they
    /// cost an allocation per member for nothing.
    Json(Box<str>),
}

pub type Fields = Vec<(String, Value)>;

impl Value {
    fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    fn field<'v>(&'v self, key: &str) -> Option<&'v Value> {
        match self {
            Value::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Inside a delta: strings concatenate, lists extend.
    Delta,
    /// A member of the chunk or the choice: the last non-null value wins.
    Snapshot,
}

fn merge(target: &mut Value, incoming: Value, key: &str, mode: Mode) {
    if incoming.is_null() {
        return;
    }
    match (target, incoming) {
        (Value::Str(current), Value::Str(text)) => {
            if mode == Mode::Snapshot || current.is_empty() || LABEL_KEYS.contains(&key) {
                *current = text;
            } else if !SET_ONCE_KEYS.contains(&key) {
                current.push_str(&text);
            }
        }
        (Value::Object(current), Value::Object(fields)) => merge_fields(current, fields, mode),
        (Value::Array(current), Value::Array(items)) if mode == Mode::Delta => merge_list(current, items),
        (target, incoming) => *target = incoming,
    }
}

fn merge_fields(current: &mut Fields, incoming: Fields, mode: Mode) {
    for (key, value) in incoming {
        match current.iter_mut().find(|(k, _)| *k == key) {
            Some((_, existing)) => merge(existing, value, &key, mode),
            None => current.push((key, value)),
        }
    }
}

/// Lists in a delta: objects carrying an `index` merge with the element of the same index; the rest
/// extend the list.
fn merge_list(current: &mut Vec<Value>, items: Vec<Value>) {
    for item in items {
        let index = item.field("index").cloned();
        let existing = index.and_then(|index| current.iter_mut().find(|element| element.field("index") == Some(&index)));
        match existing {
            Some(element) => merge(element, item, "", Mode::Delta),
            None => current.push(item),
        }
    }
}

/// Why a chunk could not be merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccumulateError {
    /// Byte offset in the payload.
    pub offset: usize,
    pub path: String,
    pub message: String,
}

impl From<JsonError> for AccumulateError {
    fn from(error: JsonError) -> Self {
        AccumulateError { offset: error.offset, path: "$".to_owned(), message: error.kind.to_string() }
    }
}

fn wrong_type(offset: usize, path: &str, expected: &str, found: Kind) -> AccumulateError {
    AccumulateError { offset, path: path.to_owned(), message: format!("expected {expected}, found {}", found.name()) }
}

/// What a merged chunk says about the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChunkOutcome {
    /// The chunk reports an error: a non-null `error` member, or `"object": "error"`.
    pub upstream_error: bool,
}

#[derive(Debug, Clone, Default)]
enum Content {
    #[default]
    Absent,
    Null,
    Text(String),
    Parts(Vec<Value>),
}

/// A list that only grows, kept as the JSON text of its elements (logprobs: never merged inside).
#[derive(Debug, Clone, Default)]
enum RawList {
    #[default]
    Absent,
    Null,
    Items(String),
}

impl RawList {
    /// Appends an element's JSON text; `compact` when it has no whitespace between tokens.
    fn extend(&mut self, element: &str, compact: bool) {
        if !matches!(self, RawList::Items(_)) {
            *self = RawList::Items(String::new());
        }
        let RawList::Items(items) = self else { unreachable!("made Items above") };
        if !items.is_empty() {
            items.push(',');
        }
        if compact {
            items.push_str(element);
        } else {
            push_compact(items, element);
        }
    }

    fn saw_null(&mut self) {
        if matches!(self, RawList::Absent) {
            *self = RawList::Null;
        }
    }
}

#[derive(Debug, Clone, Default)]
struct ToolCall {
    index: Option<i64>,
    id: String,
    fields: Fields,
}

#[derive(Debug, Clone, Default)]
struct Message {
    /// Members other than content, tool calls and annotations, in arrival order.
    fields: Fields,
    content: Content,
    /// None: never seen; Some(empty) with `tool_calls_null`: seen only as null.
    tool_calls: Option<Vec<ToolCall>>,
    annotations: RawList,
}

#[derive(Debug, Clone, Default)]
struct Logprobs {
    seen: bool,
    null_only: bool,
    content: RawList,
    refusal: RawList,
    fields: Fields,
}

#[derive(Debug, Clone)]
struct Choice {
    index: i64,
    message: Message,
    finish_reason: Option<Value>,
    logprobs: Logprobs,
    fields: Fields,
}

/// The completion so far.
#[derive(Debug, Clone, Default)]
pub struct Accumulator {
    /// FIRST_NON_EMPTY members, as JSON text, in the order of that list.
    first: [Option<Box<str>>; FIRST_NON_EMPTY.len()],
    usage: Option<Value>,
    choices: Vec<Choice>,
    /// Other top-level members (snapshot rule).
    fields: Fields,
    chunks: u64,
    scratch: Vec<u8>,
    /// The leading members of the last fully scanned chunk whose merge is idempotent (identity,
    /// `object`, `usage`, other snapshot members), as that chunk's bytes up to the end of the last of
    /// them. Most providers repeat them byte for byte on every chunk; a chunk that starts with these
    /// bytes followed by a comma has nothing in them to merge that is not merged already, so its scan
    /// starts after them (about half of an OpenAI chunk).
    repeated_prefix: Vec<u8>,
    /// Where the names of the members of `repeated_prefix` that a later member could replace (`usage`,
    /// undeclared ones; not the identity) lie in it. A chunk that merges one of them again after the
    /// run (a duplicated key: the last value wins) makes the run not skippable: it is dropped. Spans,
    /// not strings: recording a run allocates nothing, and OpenAI's runs record none.
    prefix_keys: Vec<Range<usize>>,
}

impl Accumulator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Chunks merged so far.
    pub fn chunks(&self) -> u64 {
        self.chunks
    }

    /// The usage member as JSON text, once a non-null one arrived.
    pub fn usage_json(&self) -> Option<String> {
        self.usage.as_ref().filter(|usage| !usage.is_null()).map(|usage| {
            let mut out = String::new();
            write_value(&mut out, usage);
            out
        })
    }

    /// The `function.arguments` text of each tool call of a choice so far (the legacy `function_call`
    /// too, last), in order; None for a call with no arguments yet.
    pub fn tool_call_arguments(&self, choice_index: i64) -> Vec<Option<&str>> {
        let Some(choice) = self.choices.iter().find(|choice| choice.index == choice_index) else { return Vec::new() };
        let mut out: Vec<Option<&str>> =
            choice.message.tool_calls.iter().flatten().map(|call| function_arguments(&call.fields)).collect();
        if choice.message.fields.iter().any(|(k, v)| k == "function_call" && matches!(v, Value::Object(_))) {
            let legacy = choice.message.fields.iter().find(|(k, _)| k == "function_call").map(|(_, v)| v);
            out.push(match legacy.and_then(|v| v.field("arguments")) {
                Some(Value::Str(text)) => Some(text.as_str()),
                _ => None,
            });
        }
        out
    }

    /// At least one choice, and every choice has a finish reason.
    pub fn all_finished(&self) -> bool {
        !self.choices.is_empty() && self.choices.iter().all(|choice| choice.finish_reason.as_ref().is_some_and(|r| !r.is_null()))
    }

    /// Merges one chunk payload. On error nothing of this chunk's members after the failure point is
    /// merged; what came before it is (a chunk is merged as it is read).
    pub fn add(&mut self, payload: &[u8]) -> Result<ChunkOutcome, AccumulateError> {
        let known = self.repeated_prefix.len();
        // The byte after the prefix must be the comma: a number in the prefix could go on otherwise.
        let repeats = known > 0 && payload.get(known) == Some(&b',') && payload.starts_with(&self.repeated_prefix);
        let (mut scanner, mut first) = if repeats {
            (Scanner::resume_in_object(payload, known), false)
        } else {
            let mut scanner = Scanner::new(payload)?;
            let kind = scanner.peek()?;
            if kind != Kind::Object {
                return Err(wrong_type(scanner.position(), "$", "object", kind));
            }
            scanner.begin_object()?;
            (scanner, true)
        };
        if !repeats {
            // Replaced at the end by this chunk's run. Cleared now so that a chunk failing half-way,
            // whose merged members may differ from the old run's, leaves no run to skip.
            self.repeated_prefix.clear();
            self.prefix_keys.clear();
        }
        let mut outcome = ChunkOutcome::default();
        // Where the run of idempotent leading members ends, and whether it is still going on.
        let (mut run_end, mut in_run) = (0, !repeats);
        // A member after the run has the name of one in it: the run's values are not the last ones.
        let mut overridden = false;
        while let Some(name) = scanner.next_key(&mut first)? {
            let span = name.offset + 1..name.offset + 1 + name.raw.len();
            let escaped = name.escaped;
            let key = str_of(&name)?;
            // A name with an escape ends the run (spans compare raw bytes), so it is checked below.
            in_run &= !escaped;
            // A member after the run with the name of a replaceable member of the run (only those are
            // kept, and the name decides whether a member is replaceable) makes the run not skippable:
            // its value will not be the last one. Checked before the merge, so that a merge failing
            // half-way leaves no run to skip either.
            if !in_run
                && !overridden
                && !self.prefix_keys.is_empty()
                && (escaped || self.prefix_keys.iter().any(|known| payload[known.clone()] == payload[span.clone()]))
            {
                overridden = true;
                self.repeated_prefix.clear();
                self.prefix_keys.clear();
            }
            let mut idempotent = true;
            // The member sets a value a later one may replace (the identity members keep their first
            // value, `object` and `obfuscation` set nothing, `choices` is never in a run).
            let mut replaceable = false;
            match &*key {
                "choices" => {
                    idempotent = false;
                    self.add_choices(&mut scanner)?
                }
                "usage" => {
                    replaceable = true;
                    // The last non-null usage replaces the earlier one whole: counts are totals.
                    if scanner.peek()? == Kind::Null {
                        scanner.null()?;
                        self.usage.get_or_insert(Value::Null);
                    } else {
                        self.usage = Some(snapshot_value(&mut scanner, &mut self.scratch)?);
                    }
                }
                "object" => {
                    if scanner.peek()? == Kind::String {
                        if scanner.string()?.raw == b"error" {
                            outcome.upstream_error = true;
                            idempotent = false;
                        }
                    } else {
                        scanner.skip()?;
                    }
                }
                "obfuscation" => {
                    scanner.skip()?;
                }
                name => {
                    if let Some(slot) = FIRST_NON_EMPTY.iter().position(|candidate| *candidate == name) {
                        let start = scanner.skip()?;
                        if self.first[slot].is_none() {
                            let text = scanner.text_since(start);
                            if !matches!(text, "\"\"" | "0" | "null") {
                                self.first[slot] = Some(text.into());
                            }
                        }
                    } else {
                        if name == "error" {
                            outcome.upstream_error |= scanner.peek()? != Kind::Null;
                            idempotent = false;
                        }
                        replaceable = true;
                        merge_member(&mut self.fields, key, &mut scanner, &mut self.scratch, Mode::Snapshot)?;
                    }
                }
            }
            // The names in `prefix_keys` are those of the run's replaceable members, this chunk's so far
            // or the skipped one's (the payload starts with it): either way spans of this payload.
            in_run &= idempotent;
            if in_run {
                run_end = scanner.position();
                if replaceable {
                    self.prefix_keys.push(span);
                }
            }
        }
        scanner.end()?;
        if !repeats && !overridden {
            self.repeated_prefix.extend_from_slice(&payload[..run_end]);
        }
        self.chunks += 1;
        Ok(outcome)
    }

    fn add_choices(&mut self, scanner: &mut Scanner<'_>) -> Result<(), AccumulateError> {
        match scanner.peek()? {
            Kind::Null => return Ok(scanner.null()?),
            Kind::Array => {}
            kind => return Err(wrong_type(scanner.position(), "$.choices", "array", kind)),
        }
        scanner.begin_array()?;
        let mut first = true;
        let mut position = 0;
        while scanner.next_element(&mut first)? {
            self.add_choice(scanner, position)?;
            position += 1;
        }
        Ok(())
    }

    /// One choice of a chunk. Members are merged as they are read once the choice's `index` is
    /// known; those that come before it (Azure sorts keys: `delta` before `index`) wait for it.
    fn add_choice(&mut self, scanner: &mut Scanner<'_>, position: i64) -> Result<(), AccumulateError> {
        let input = scanner.input();
        let path = || format!("$.choices[{position}]");
        let kind = scanner.peek()?;
        if kind != Kind::Object {
            return Err(wrong_type(scanner.position(), &path(), "object", kind));
        }
        scanner.begin_object()?;
        let mut slot = None;
        let mut waiting: Vec<(Cow<'_, str>, Range<usize>)> = Vec::new();
        let mut first = true;
        while let Some(key) = scanner.next_key(&mut first)? {
            let key = str_of(&key)?;
            if key == "index" {
                let at = scanner.position();
                let index = match scanner.peek()? {
                    Kind::Number => scanner.number()?.as_i64().ok_or_else(|| wrong_type(at, &format!("{}.index", path()), "integer", Kind::Number))?,
                    Kind::Null => {
                        scanner.null()?;
                        position
                    }
                    kind => return Err(wrong_type(at, &format!("{}.index", path()), "integer", kind)),
                };
                slot = Some(self.choice_slot(index));
                continue;
            }
            match slot {
                Some(slot) => self.add_choice_member(slot, &key, scanner, &path)?,
                None => {
                    let start = scanner.skip()?;
                    waiting.push((key, start..scanner.position()));
                }
            }
        }
        let slot = slot.unwrap_or_else(|| self.choice_slot(position));
        for (key, span) in waiting {
            self.add_choice_member(slot, &key, &mut Scanner::resume(input, span.start), &path)?;
        }
        Ok(())
    }

    fn choice_slot(&mut self, index: i64) -> usize {
        match self.choices.iter().position(|choice| choice.index == index) {
            Some(found) => found,
            None => {
                self.choices.push(Choice {
                    index,
                    message: Message::default(),
                    finish_reason: None,
                    logprobs: Logprobs::default(),
                    fields: Fields::new(),
                });
                self.choices.len() - 1
            }
        }
    }

    fn add_choice_member(
        &mut self,
        slot: usize,
        key: &str,
        scanner: &mut Scanner<'_>,
        path: &dyn Fn() -> String,
    ) -> Result<(), AccumulateError> {
        let choice = &mut self.choices[slot];
        match key {
            // "message" in a chunk: some gateways send the whole message that way.
            "delta" | "message" => merge_delta(&mut choice.message, scanner, &mut self.scratch, path),
            "finish_reason" => {
                // The last non-null, non-empty finish reason wins; it is never reset. (Most chunks carry
                // a null one: that path allocates nothing.)
                let reason = match scanner.peek()? {
                    Kind::Null => {
                        scanner.null()?;
                        None
                    }
                    Kind::String => Some(str_of(&scanner.string()?)?).filter(|text| !text.is_empty()).map(|text| Value::Str(text.into_owned())),
                    _ => Some(parse_value(scanner, &mut self.scratch)?),
                };
                match reason {
                    Some(reason) => choice.finish_reason = Some(reason),
                    None => {
                        choice.finish_reason.get_or_insert(Value::Null);
                    }
                }
                Ok(())
            }
            "logprobs" => merge_logprobs(&mut choice.logprobs, scanner, &mut self.scratch),
            _ => merge_member(&mut choice.fields, Cow::Borrowed(key), scanner, &mut self.scratch, Mode::Snapshot),
        }
    }

    /// The completion as compact JSON, members in the order of chatsse.types.ChatCompletion, then the
    /// undeclared ones in arrival order.
    pub fn write_json(&self, out: &mut String) {
        out.push('{');
        let mut comma = Comma::default();
        for key in COMPLETION_ORDER {
            match *key {
                "object" => {
                    comma.key(out, "object");
                    out.push_str("\"chat.completion\"");
                }
                "choices" => {
                    comma.key(out, "choices");
                    let mut choices: Vec<&Choice> = self.choices.iter().collect();
                    choices.sort_by_key(|choice| choice.index);
                    out.push('[');
                    for (n, choice) in choices.into_iter().enumerate() {
                        if n > 0 {
                            out.push(',');
                        }
                        write_choice(out, choice);
                    }
                    out.push(']');
                }
                "usage" => {
                    if let Some(usage) = &self.usage {
                        comma.key(out, "usage");
                        write_value(out, usage);
                    }
                }
                name => {
                    let slot = FIRST_NON_EMPTY.iter().position(|candidate| *candidate == name);
                    if let Some(text) = slot.and_then(|slot| self.first[slot].as_ref()) {
                        comma.key(out, name);
                        out.push_str(text);
                    }
                }
            }
        }
        for (key, value) in &self.fields {
            comma.key(out, key);
            write_value(out, value);
        }
        out.push('}');
    }
}

/// The `function.arguments` text of a tool call's members.
fn function_arguments(fields: &Fields) -> Option<&str> {
    match fields.iter().find(|(k, _)| k == "function").and_then(|(_, function)| function.field("arguments")) {
        Some(Value::Str(text)) => Some(text.as_str()),
        _ => None,
    }
}

/// Merges the value under the scanner into the member `key` of `fields` (added when new), by the
/// rules of `merge`.
fn merge_member(fields: &mut Fields, key: Cow<'_, str>, scanner: &mut Scanner<'_>, scratch: &mut Vec<u8>, mode: Mode) -> Result<(), AccumulateError> {
    match fields.iter_mut().find(|(k, _)| *k == key) {
        Some((_, existing)) => merge_from(existing, &key, scanner, scratch, mode),
        None => {
            let value = if mode == Mode::Snapshot { snapshot_value(scanner, scratch)? } else { parse_value(scanner, scratch)? };
            fields.push((key.into_owned(), value));
            Ok(())
        }
    }
}

/// `merge` with the incoming value read straight from the payload: a string is appended (or replaces)
/// and an object merges member by member without a `Value` built first, so a tool-call fragment or a
/// reasoning delta allocates nothing once its members exist. What does not merge in place (an array,
/// a change of type) is parsed and handed to `merge`. A member repeated inside one object merges
/// twice, as a repeated member of a delta always did.
fn merge_from(target: &mut Value, key: &str, scanner: &mut Scanner<'_>, scratch: &mut Vec<u8>, mode: Mode) -> Result<(), AccumulateError> {
    let kind = scanner.peek()?;
    if let (Value::Json(stored), Kind::Object | Kind::Array) = (&*target, kind) {
        let (text, compact) = value_text(scanner)?;
        if compact && text == &**stored {
            // The same value again (providers repeat such members on every chunk): nothing changes.
            return Ok(());
        }
        if kind == Kind::Array || !stored.starts_with('{') {
            *target = json_value(text, compact);
            return Ok(());
        }
        // An object merges into the stored one: from now on it is a tree.
        *target = parse_value(&mut Scanner::new(stored.as_bytes())?, scratch)?;
        return merge_from(target, key, &mut Scanner::new(text.as_bytes())?, scratch, mode);
    }
    match (target, kind) {
        (_, Kind::Null) => scanner.null()?,
        (Value::Str(current), Kind::String) => {
            let text = scanner.string()?;
            if mode == Mode::Snapshot || current.is_empty() || LABEL_KEYS.contains(&key) {
                // Unescaped before the old value goes: a failure leaves it as it was.
                let text = str_of(&text)?;
                current.clear();
                current.push_str(&text);
            } else if !SET_ONCE_KEYS.contains(&key) {
                push_unescaped(current, &text, scratch)?;
            }
        }
        (Value::Object(fields), Kind::Object) => {
            scanner.begin_object()?;
            let mut first = true;
            while let Some(name) = scanner.next_key(&mut first)? {
                merge_member(fields, str_of(&name)?, scanner, scratch, mode)?;
            }
        }
        (Value::Raw(current), Kind::Number | Kind::Bool) => {
            let start = scanner.skip()?;
            let text = scanner.text_since(start);
            if **current != *text {
                *current = text.into();
            }
        }
        // Outside deltas an object or array that does not merge into an object replaces the value.
        (target, Kind::Object | Kind::Array) if mode == Mode::Snapshot => *target = json_text(scanner)?,
        (target, _) => {
            let incoming = parse_value(scanner, scratch)?;
            merge(target, incoming, key, mode);
        }
    }
    Ok(())
}

/// The value under the scanner as a member outside the deltas keeps it: objects and arrays as their
/// compact JSON text (`Value::Json`), the rest parsed.
fn snapshot_value(scanner: &mut Scanner<'_>, scratch: &mut Vec<u8>) -> Result<Value, AccumulateError> {
    match scanner.peek()? {
        Kind::Object | Kind::Array => json_text(scanner),
        _ => parse_value(scanner, scratch),
    }
}

/// The next value's JSON text as it stands in the payload, and whether it is compact (no whitespace
/// between its tokens, so that it can be copied as it is).
fn value_text<'a>(scanner: &mut Scanner<'a>) -> Result<(&'a str, bool), AccumulateError> {
    scanner.peek()?;
    scanner.spaced();
    let start = scanner.skip()?;
    Ok((scanner.text_since(start), !scanner.spaced()))
}

/// An object or array as a kept `Value::Json`, made compact.
fn json_value(text: &str, compact: bool) -> Value {
    Value::Json(if compact {
        text.into()
    } else {
        let mut out = String::with_capacity(text.len());
        push_compact(&mut out, text);
        out.into()
    })
}

/// The object or array under the scanner as a kept `Value::Json`.
fn json_text(scanner: &mut Scanner<'_>) -> Result<Value, AccumulateError> {
    let (text, compact) = value_text(scanner)?;
    Ok(json_value(text, compact))
}

/// A string's value: borrowed from the payload unless it has escapes (which member names and ids in
/// chat payloads never do). Inlined: out of line it was 22% of the merge's samples (perf on
/// benches/core.rs).
#[inline(always)]
fn str_of<'a>(text: &crate::json::JsonStr<'a>) -> Result<Cow<'a, str>, AccumulateError> {
    if !text.escaped {
        return Ok(Cow::Borrowed(text.raw_str()));
    }
    let mut unescaped = Vec::new();
    text.unescape_into(&mut unescaped)?;
    // Unescaping valid UTF-8 (checked by the scanner) yields valid UTF-8.
    Ok(Cow::Owned(String::from_utf8(unescaped).map_err(|_| JsonError { offset: text.offset, kind: JsonErrorKind::InvalidUtf8 })?))
}

fn merge_delta(
    message: &mut Message,
    scanner: &mut Scanner<'_>,
    scratch: &mut Vec<u8>,
    path: &dyn Fn() -> String,
) -> Result<(), AccumulateError> {
    match scanner.peek()? {
        Kind::Null => return Ok(scanner.null()?),
        Kind::Object => {}
        kind => return Err(wrong_type(scanner.position(), &format!("{}.delta", path()), "object", kind)),
    }
    scanner.begin_object()?;
    let mut first = true;
    while let Some(key) = scanner.next_key(&mut first)? {
        let key = str_of(&key)?;
        match &*key {
            "content" => merge_content(&mut message.content, scanner, scratch, path)?,
            "tool_calls" => match scanner.peek()? {
                Kind::Null => {
                    scanner.null()?;
                    message.tool_calls.get_or_insert_with(Vec::new);
                }
                Kind::Array => {
                    let calls = message.tool_calls.get_or_insert_with(Vec::new);
                    scanner.begin_array()?;
                    let mut first_call = true;
                    while scanner.next_element(&mut first_call)? {
                        match scanner.peek()? {
                            Kind::Object => merge_tool_call(calls, scanner, scratch)?,
                            Kind::Null => scanner.null()?,
                            _ => return Err(AccumulateError {
                                offset: scanner.position(),
                                path: format!("{}.delta.tool_calls", path()),
                                message: "expected a tool call object".to_owned(),
                            }),
                        }
                    }
                }
                kind => return Err(wrong_type(scanner.position(), &format!("{}.delta.tool_calls", path()), "array or null", kind)),
            },
            "annotations" => merge_raw_list(&mut message.annotations, scanner)?,
            _ => merge_member(&mut message.fields, key, scanner, scratch, Mode::Delta)?,
        }
    }
    Ok(())
}

fn merge_content(
    content: &mut Content,
    scanner: &mut Scanner<'_>,
    scratch: &mut Vec<u8>,
    path: &dyn Fn() -> String,
) -> Result<(), AccumulateError> {
    match scanner.peek()? {
        Kind::String => {
            let text = scanner.string()?;
            match content {
                Content::Text(current) => push_unescaped(current, &text, scratch)?,
                Content::Parts(parts) => {
                    let mut fragment = String::new();
                    push_unescaped(&mut fragment, &text, scratch)?;
                    push_text_part(parts, fragment);
                }
                Content::Absent | Content::Null => {
                    let mut current = String::new();
                    push_unescaped(&mut current, &text, scratch)?;
                    *content = Content::Text(current);
                }
            }
        }
        Kind::Null => {
            scanner.null()?;
            if matches!(content, Content::Absent) {
                *content = Content::Null;
            }
        }
        Kind::Array => {
            let Value::Array(incoming) = parse_value(scanner, scratch)? else { unreachable!("an array parses as an array") };
            let parts = match std::mem::take(content) {
                Content::Parts(parts) => parts,
                // No text is ever lost: what came as a string becomes the first text part.
                Content::Text(text) if !text.is_empty() => vec![text_part(text)],
                _ => Vec::new(),
            };
            let mut parts = parts;
            merge_parts(&mut parts, incoming);
            *content = Content::Parts(parts);
        }
        kind => return Err(wrong_type(scanner.position(), &format!("{}.delta.content", path()), "string, array or null", kind)),
    }
    Ok(())
}

fn text_part(text: String) -> Value {
    Value::Object(vec![("type".to_owned(), Value::Str("text".to_owned())), ("text".to_owned(), Value::Str(text))])
}

fn push_text_part(parts: &mut Vec<Value>, text: String) {
    if let Some(Value::Object(last)) = parts.last_mut() {
        if last.iter().any(|(k, v)| k == "type" && *v == Value::Str("text".to_owned())) {
            merge_fields(last, vec![("text".to_owned(), Value::Str(text))], Mode::Delta);
            return;
        }
    }
    parts.push(text_part(text));
}

/// Typed content parts: a part continuing the last one (same `type`, text or thinking) merges into
/// it, its strings concatenating and its nested part lists merging the same way; others are appended.
fn merge_parts(parts: &mut Vec<Value>, incoming: Vec<Value>) {
    for part in incoming {
        let continues = match (parts.last(), &part) {
            (Some(last), Value::Object(_)) => {
                let kind = part.field("type");
                kind.is_some() && last.field("type") == kind && matches!(kind, Some(Value::Str(t)) if t == "text" || t == "thinking")
            }
            _ => false,
        };
        if !continues {
            parts.push(part);
            continue;
        }
        let (Some(Value::Object(last)), Value::Object(fields)) = (parts.last_mut(), part) else { unreachable!("checked above") };
        for (key, value) in fields {
            match (last.iter_mut().find(|(k, _)| *k == key), value) {
                (Some((_, Value::Array(nested))), Value::Array(items)) => merge_parts(nested, items),
                (Some((_, existing)), value) => merge(existing, value, &key, Mode::Delta),
                (None, value) => last.push((key, value)),
            }
        }
    }
}

/// One element of a delta's `tool_calls` (the scanner is at its `{`), merged into the call it
/// continues. Two passes over the fragment: the first finds `index` and `id`, which may follow the
/// other members (Azure sorts keys), the second merges every member in place.
fn merge_tool_call(calls: &mut Vec<ToolCall>, scanner: &mut Scanner<'_>, scratch: &mut Vec<u8>) -> Result<(), AccumulateError> {
    let start = scanner.position();
    let (mut index, mut id) = (None, None);
    scanner.begin_object()?;
    let mut first = true;
    while let Some(key) = scanner.next_key(&mut first)? {
        match (&*str_of(&key)?, scanner.peek()?) {
            ("index", Kind::Number) => index = scanner.number()?.as_i64(),
            ("id", Kind::String) => id = Some(str_of(&scanner.string()?)?).filter(|id| !id.is_empty()),
            _ => {
                scanner.skip()?;
            }
        }
    }
    let found = match (index, &id) {
        (Some(index), id) => calls.iter().rposition(|call| call.index == Some(index)).filter(|&at| {
            // Two calls sharing an index happens (copilot-claude): a new id there starts a new call.
            !matches!(id, Some(id) if !calls[at].id.is_empty() && calls[at].id != *id)
        }),
        (None, Some(id)) => calls.iter().rposition(|call| call.id == *id),
        (None, None) => calls.len().checked_sub(1),
    };
    let at = found.unwrap_or_else(|| {
        calls.push(ToolCall { index, ..ToolCall::default() });
        calls.len() - 1
    });
    let call = &mut calls[at];
    if let (Some(id), true) = (id, call.id.is_empty()) {
        call.id = id.into_owned();
    }
    let mut fragment = Scanner::resume(scanner.input(), start);
    fragment.begin_object()?;
    let mut first = true;
    while let Some(key) = fragment.next_key(&mut first)? {
        merge_member(&mut call.fields, str_of(&key)?, &mut fragment, scratch, Mode::Delta)?;
    }
    Ok(())
}

fn merge_raw_list(list: &mut RawList, scanner: &mut Scanner<'_>) -> Result<(), AccumulateError> {
    match scanner.peek()? {
        Kind::Null => {
            scanner.null()?;
            list.saw_null();
        }
        Kind::Array => {
            scanner.begin_array()?;
            let mut first = true;
            while scanner.next_element(&mut first)? {
                let (text, compact) = value_text(scanner)?;
                list.extend(text, compact);
            }
            if matches!(list, RawList::Absent | RawList::Null) {
                *list = RawList::Items(String::new());
            }
        }
        kind => return Err(wrong_type(scanner.position(), "$.choices[].logprobs", "array or null", kind)),
    }
    Ok(())
}

fn merge_logprobs(logprobs: &mut Logprobs, scanner: &mut Scanner<'_>, scratch: &mut Vec<u8>) -> Result<(), AccumulateError> {
    match scanner.peek()? {
        Kind::Null => {
            scanner.null()?;
            if !logprobs.seen {
                logprobs.seen = true;
                logprobs.null_only = true;
            }
            return Ok(());
        }
        Kind::Object => {}
        kind => return Err(wrong_type(scanner.position(), "$.choices[].logprobs", "object or null", kind)),
    }
    logprobs.seen = true;
    logprobs.null_only = false;
    scanner.begin_object()?;
    let mut first = true;
    while let Some(key) = scanner.next_key(&mut first)? {
        let key = str_of(&key)?;
        match &*key {
            "content" => merge_raw_list(&mut logprobs.content, scanner)?,
            "refusal" => merge_raw_list(&mut logprobs.refusal, scanner)?,
            _ => merge_member(&mut logprobs.fields, key, scanner, scratch, Mode::Snapshot)?,
        }
    }
    Ok(())
}

fn push_unescaped(target: &mut String, text: &crate::json::JsonStr<'_>, scratch: &mut Vec<u8>) -> Result<(), AccumulateError> {
    if !text.escaped {
        target.push_str(text.raw_str());
        return Ok(());
    }
    let value = text.unescaped(scratch)?;
    target.push_str(std::str::from_utf8(value).map_err(|_| JsonError { offset: text.offset, kind: JsonErrorKind::InvalidUtf8 })?);
    Ok(())
}

/// Reads any value into an owned `Value`.
fn parse_value(scanner: &mut Scanner<'_>, scratch: &mut Vec<u8>) -> Result<Value, AccumulateError> {
    Ok(match scanner.peek()? {
        Kind::String => {
            let text = scanner.string()?;
            let mut value = String::new();
            push_unescaped(&mut value, &text, scratch)?;
            Value::Str(value)
        }
        Kind::Number => Value::Raw(scanner.number()?.text.into()),
        Kind::Bool => Value::Raw(if scanner.boolean()? { "true" } else { "false" }.into()),
        Kind::Null => {
            scanner.null()?;
            Value::Null
        }
        Kind::Array => {
            scanner.begin_array()?;
            let mut items = Vec::new();
            let mut first = true;
            while scanner.next_element(&mut first)? {
                items.push(parse_value(scanner, scratch)?);
            }
            Value::Array(items)
        }
        Kind::Object => {
            scanner.begin_object()?;
            let mut fields = Fields::new();
            let mut first = true;
            while let Some(key) = scanner.next_key(&mut first)? {
                let key = str_of(&key)?.into_owned();
                let value = parse_value(scanner, scratch)?;
                // Duplicate keys: the last one wins, as in msgspec and json.loads.
                match fields.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, existing)) => *existing = value,
                    None => fields.push((key, value)),
                }
            }
            Value::Object(fields)
        }
    })
}

#[derive(Default)]
struct Comma(bool);

impl Comma {
    fn key(&mut self, out: &mut String, key: &str) {
        if self.0 {
            out.push(',');
        }
        self.0 = true;
        write_str(out, key);
        out.push(':');
    }
}

fn write_choice(out: &mut String, choice: &Choice) {
    out.push('{');
    let mut comma = Comma::default();
    comma.key(out, "index");
    out.push_str(&choice.index.to_string());
    comma.key(out, "message");
    write_message(out, &choice.message);
    if choice.logprobs.seen {
        comma.key(out, "logprobs");
        write_logprobs(out, &choice.logprobs);
    }
    comma.key(out, "finish_reason");
    match &choice.finish_reason {
        Some(reason) => write_value(out, reason),
        None => out.push_str("null"),
    }
    for (key, value) in &choice.fields {
        comma.key(out, key);
        write_value(out, value);
    }
    out.push('}');
}

fn write_message(out: &mut String, message: &Message) {
    out.push('{');
    let mut comma = Comma::default();
    for key in MESSAGE_ORDER {
        match *key {
            "role" => {
                comma.key(out, "role");
                match message.fields.iter().find(|(k, _)| k == "role") {
                    Some((_, role)) if !role.is_null() => write_value(out, role),
                    _ => out.push_str("\"assistant\""),
                }
            }
            "content" => {
                comma.key(out, "content");
                match &message.content {
                    Content::Absent | Content::Null => out.push_str("null"),
                    Content::Text(text) => write_str(out, text),
                    Content::Parts(parts) => write_value(out, &Value::Array(parts.clone())),
                }
            }
            "tool_calls" => {
                if let Some(calls) = &message.tool_calls {
                    comma.key(out, "tool_calls");
                    if calls.is_empty() {
                        out.push_str("null");
                    } else {
                        // By index, as a non-streamed message lists them; calls sharing an index (or
                        // without one) keep their order of arrival.
                        let mut calls: Vec<&ToolCall> = calls.iter().collect();
                        calls.sort_by_key(|call| call.index.unwrap_or(i64::MAX));
                        out.push('[');
                        for (n, call) in calls.into_iter().enumerate() {
                            if n > 0 {
                                out.push(',');
                            }
                            write_tool_call(out, call);
                        }
                        out.push(']');
                    }
                }
            }
            "annotations" => write_raw_list(out, &mut comma, "annotations", &message.annotations),
            name => {
                if let Some((_, value)) = message.fields.iter().find(|(k, _)| k == name) {
                    comma.key(out, name);
                    write_value(out, value);
                }
            }
        }
    }
    write_undeclared(out, &mut comma, &message.fields, MESSAGE_ORDER);
    out.push('}');
}

/// The members of `fields` not in `declared`, in arrival order, less `index`: in a stream it places a
/// delta (GLM) or a tool-call fragment; the non-streamed message and tool call have none.
fn write_undeclared(out: &mut String, comma: &mut Comma, fields: &Fields, declared: &[&str]) {
    for (key, value) in fields {
        if !declared.contains(&key.as_str()) && key != "index" {
            comma.key(out, key);
            write_value(out, value);
        }
    }
}

fn write_tool_call(out: &mut String, call: &ToolCall) {
    out.push('{');
    let mut comma = Comma::default();
    for key in TOOL_CALL_ORDER {
        match call.fields.iter().find(|(k, _)| k == key) {
            Some((_, value)) => {
                comma.key(out, key);
                write_value(out, value);
            }
            // Providers that omit `type` (Mistral) still get the shape a non-streamed response has.
            None if *key == "type" => {
                let kind = if call.fields.iter().any(|(k, _)| k == "custom") { "custom" } else { "function" };
                comma.key(out, "type");
                write_str(out, kind);
            }
            None => {}
        }
    }
    write_undeclared(out, &mut comma, &call.fields, TOOL_CALL_ORDER);
    out.push('}');
}

fn write_logprobs(out: &mut String, logprobs: &Logprobs) {
    if logprobs.null_only {
        out.push_str("null");
        return;
    }
    out.push('{');
    let mut comma = Comma::default();
    write_raw_list(out, &mut comma, "content", &logprobs.content);
    write_raw_list(out, &mut comma, "refusal", &logprobs.refusal);
    for (key, value) in &logprobs.fields {
        comma.key(out, key);
        write_value(out, value);
    }
    out.push('}');
}

fn write_raw_list(out: &mut String, comma: &mut Comma, key: &str, list: &RawList) {
    match list {
        RawList::Absent => {}
        RawList::Null => {
            comma.key(out, key);
            out.push_str("null");
        }
        RawList::Items(items) => {
            comma.key(out, key);
            out.push('[');
            out.push_str(items);
            out.push(']');
        }
    }
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Raw(text) | Value::Json(text) => out.push_str(text),
        Value::Str(text) => write_str(out, text),
        Value::Array(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(fields) => {
            out.push('{');
            let mut comma = Comma::default();
            for (key, value) in fields {
                comma.key(out, key);
                write_value(out, value);
            }
            out.push('}');
        }
    }
}

/// Appends a JSON value's text without the whitespace between its tokens (the output is compact even
/// where a provider's elements are copied as they came).
fn push_compact(out: &mut String, json: &str) {
    let mut in_string = false;
    let mut escaped = false;
    for ch in json.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_string = false;
            }
            out.push(ch);
        } else if ch == '"' {
            in_string = true;
            out.push(ch);
        } else if !matches!(ch, ' ' | '\n' | '\r' | '\t') {
            out.push(ch);
        }
    }
}

/// A JSON string: quotes, backslashes and control characters escaped; everything else as UTF-8.
fn write_str(out: &mut String, text: &str) {
    out.push('"');
    let mut plain = 0;
    for (at, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[plain..at]);
        if escape.is_empty() {
            out.push_str(&format!("\\u{byte:04x}"));
        } else {
            out.push_str(escape);
        }
        plain = at + 1;
    }
    out.push_str(&text[plain..]);
    out.push('"');
}

#[cfg(test)]
mod tests;
