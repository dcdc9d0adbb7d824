//! Merging streamed chunks into the completion the same request would have returned without `stream`.
//!
//! Each chunk payload is scanned once and merged in place; no chunk is kept. The rules (README,
//! "Accumulator"), each in one place below:
//! - choices are keyed by `index` (their position in `choices` when a provider omits it);
//! - in a delta, strings concatenate, except the identifying keys of `SET_ONCE_KEYS`, which keep their
//!   first non-empty value, and the labels of `LABEL_KEYS`, which take the last; numbers and booleans: the last value; objects merge key by key; lists of
//!   objects that carry an `index` merge element by element, other lists extend;
//! - a choice's `message` (some gateways send the whole message that way) is merged as a delta only
//!   when the same choice object carries no `delta` (others send both, the message repeating the delta);
//! - outside deltas (the chunk's and the choice's own members): the last non-null value, objects merging
//!   key by key; except `id`, `created`, `model`, `system_fingerprint`, `service_tier`: the first
//!   non-empty value (a filter preamble with an empty id must not win), or the first empty one when no
//!   chunk has a non-empty one;
//! - an explicit `null` never changes a value (a key seen only as null is kept as null where the
//!   completion's type admits null, and left out where it does not);
//! - tool calls are matched by `index`, else by `id`, else continue the latest call; a different
//!   non-empty `id` at a taken index starts a new call;
//! - `content` arriving as a list of typed parts (Mistral) turns the text so far into a text part;
//! - `logprobs.content`, `logprobs.refusal` and `annotations` extend;
//! - a key repeated within one object merges each time, in order (outside deltas the last value wins);
//! - `usage` is the last non-null top-level one; with none, the last one inside a provider extension
//!   (a top-level `x_...` object, as Groq's `x_groq.usage`), which is also kept as sent;
//! - stream-only padding is dropped: `obfuscation` (OpenAI) and `p` (Mistral), when strings, at the
//!   top level and in deltas;
//! - the payload of an `event: error` frame becomes the completion's `error` member (`add_error_report`).
//!
//! What is accepted always builds: every value is checked against the completion's types
//! (`schema`) in the pass that merges it. A member of the wrong type (a `finish_reason` of 3, a `usage`
//! that is a string, a lone surrogate escape, `1e400`) is left out and reported in
//! `ChunkOutcome::rejected`; the rest of the chunk is merged. Only a payload that is not JSON stops
//! the chunk where it breaks.
//!
//! Time is linear in the input whatever it holds: members, choices, tool calls and indexed list
//! elements are found through hash indexes once there are more than a few (`INDEXED_FROM`).

mod schema;

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use crate::json::{JsonError, JsonErrorKind, Kind, Mark, Scanner};
use schema::{check, check_inline, check_number, check_string, found, mismatch, Mismatch, Refusal, Ty};

/// Keys whose string value identifies rather than accumulates: set once, never concatenated.
const SET_ONCE_KEYS: &[&str] = &["id", "index", "type", "name", "role", "format", "object"];

/// Keys whose string value labels the current delta: the last one wins (gpt-oss on Groq sends
/// `"channel": "analysis"` on every reasoning delta, then `"final"`).
const LABEL_KEYS: &[&str] = &["channel"];

/// Stream-only padding members (OpenAI's `obfuscation`, Mistral's `p`): dropped when strings.
const PADDING_KEYS: &[&str] = &["obfuscation", "p"];

/// Top-level members taken from the first chunk that has them non-empty.
const FIRST_NON_EMPTY: &[&str] = &["id", "created", "model", "system_fingerprint", "service_tier"];

/// Declared order of a completion's members (chatsse.types.ChatCompletion), then of a message's.
const COMPLETION_ORDER: &[&str] = &["id", "object", "created", "model", "choices", "usage", "service_tier", "system_fingerprint"];
const MESSAGE_ORDER: &[&str] = &[
    "role", "content", "refusal", "reasoning_content", "reasoning", "name", "tool_calls", "function_call", "annotations", "audio",
];
const TOOL_CALL_ORDER: &[&str] = &["id", "type", "function", "custom"];

/// Up to this many entries a lookup is a scan (faster than hashing for the few members, choices and
/// tool calls of real streams); past it, a hash index is built and kept, so that a chunk with
/// thousands of distinct names or indexes costs time linear in its size.
const INDEXED_FROM: usize = 16;

/// A JSON value being accumulated.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`: its own variant so that the null of every chunk's `finish_reason` costs no allocation.
    Null,
    /// A number or boolean, as its JSON text (numbers stay exact).
    Raw(Box<str>),
    /// A string, unescaped.
    Str(String),
    Array(Items),
    Object(Fields),
    /// An object or array of a member outside the deltas, kept as its compact JSON text until a later
    /// chunk merges into it (then it becomes a tree). Such extras (Azure's filter results, OpenAI's
    /// moderation, Perplexity's citations) mostly arrive once or are replaced whole; as trees they
    /// cost an allocation per member for nothing.
    Json(Box<str>),
}

/// An object's members in arrival order (found by a scan, or by a hash index past INDEXED_FROM).
#[derive(Debug, Clone, Default)]
pub struct Fields {
    entries: Vec<(String, Value)>,
    index: Option<HashMap<Box<str>, usize>>,
}

impl PartialEq for Fields {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl Fields {
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    fn position(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.entries.iter().position(|(k, _)| k == key),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).map(|at| &self.entries[at].1)
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.position(key).map(|at| &mut self.entries[at].1)
    }

    /// Adds a member that is not there yet.
    fn push(&mut self, key: String, value: Value) {
        if self.index.is_none() && self.entries.len() >= INDEXED_FROM {
            let mut index = HashMap::with_capacity(self.entries.len() * 2);
            for (at, (name, _)) in self.entries.iter().enumerate() {
                index.entry(name.as_str().into()).or_insert(at);
            }
            self.index = Some(index);
        }
        if let Some(index) = &mut self.index {
            index.insert(key.as_str().into(), self.entries.len());
        }
        self.entries.push((key, value));
    }

    /// Sets a member, replacing its value when it is there.
    fn set(&mut self, key: &str, value: Value) {
        match self.get_mut(key) {
            Some(existing) => *existing = value,
            None => self.push(key.to_owned(), value),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &(String, Value)> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl IntoIterator for Fields {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl FromIterator<(String, Value)> for Fields {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(members: I) -> Self {
        let mut fields = Fields::new();
        for (key, value) in members {
            fields.push(key, value);
        }
        fields
    }
}

/// An array's elements; those that are objects with an `index` are found by it (a scan, or a hash
/// index on the `index` value's JSON text past INDEXED_FROM), for lists that merge by index.
#[derive(Debug, Clone, Default)]
pub struct Items {
    values: Vec<Value>,
    by_index: Option<HashMap<String, usize>>,
}

impl PartialEq for Items {
    fn eq(&self, other: &Self) -> bool {
        self.values == other.values
    }
}

impl Items {
    fn from_values(values: Vec<Value>) -> Self {
        Items { values, by_index: None }
    }

    fn index_key(index: &Value) -> String {
        let mut key = String::new();
        write_value(&mut key, index);
        key
    }

    /// The first element whose `index` equals `index`.
    fn find(&mut self, index: &Value) -> Option<usize> {
        if self.by_index.is_none() {
            if self.values.len() < INDEXED_FROM {
                return self.values.iter().position(|element| element.field("index") == Some(index));
            }
            let mut by_index = HashMap::with_capacity(self.values.len() * 2);
            for (at, element) in self.values.iter().enumerate() {
                if let Some(key) = element.field("index") {
                    by_index.entry(Self::index_key(key)).or_insert(at);
                }
            }
            self.by_index = Some(by_index);
        }
        self.by_index.as_ref().and_then(|by_index| by_index.get(&Self::index_key(index)).copied())
    }

    fn push(&mut self, value: Value) {
        if let (Some(by_index), Some(key)) = (&mut self.by_index, value.field("index")) {
            by_index.entry(Self::index_key(key)).or_insert(self.values.len());
        }
        self.values.push(value);
    }
}

impl Value {
    fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    fn field<'v>(&'v self, key: &str) -> Option<&'v Value> {
        match self {
            Value::Object(fields) => fields.get(key),
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

/// Merges an already typed value (see `parse_value`) into `target`.
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
        match current.get_mut(&key) {
            Some(existing) => merge(existing, value, &key, mode),
            None => current.push(key, value),
        }
    }
}

/// Lists in a delta: objects carrying an `index` merge with the element of the same index; the rest
/// extend the list.
fn merge_list(current: &mut Items, items: Items) {
    for item in items.values {
        let existing = item.field("index").and_then(|index| current.find(index));
        match existing {
            Some(at) => merge(&mut current.values[at], item, "", Mode::Delta),
            None => current.push(item),
        }
    }
}

/// Why a chunk could not be merged, or which of its members was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccumulateError {
    /// Byte offset in the payload.
    pub offset: usize,
    /// Where, as a JSON path: `$.choices[0].delta.content`.
    pub path: String,
    pub message: String,
}

/// What a merged chunk says about the stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChunkOutcome {
    /// The chunk reports an error: a non-null `error` member, or `"object": "error"`.
    pub upstream_error: bool,
    /// The first member left out because its value is not of the completion's type for it (the
    /// rest of the chunk was merged).
    /// Boxed: the outcome is returned for every chunk.
    pub rejected: Option<Box<AccumulateError>>,
}

/// Where a value lies in the chunk, for error messages: a chain of segments on the stack, turned into
/// text only when something is reported.
#[derive(Clone, Copy)]
struct Path<'p> {
    parent: Option<&'p Path<'p>>,
    segment: Segment<'p>,
}

#[derive(Clone, Copy)]
enum Segment<'p> {
    Root,
    Key(&'p str),
    Index(usize),
}

impl<'p> Path<'p> {
    const ROOT: Path<'static> = Path { parent: None, segment: Segment::Root };

    #[inline(always)]
    fn key(&'p self, key: &'p str) -> Path<'p> {
        Path { parent: Some(self), segment: Segment::Key(key) }
    }

    #[inline(always)]
    fn index(&'p self, index: usize) -> Path<'p> {
        Path { parent: Some(self), segment: Segment::Index(index) }
    }

    fn render(&self) -> String {
        let mut segments = Vec::new();
        let mut at = Some(self);
        while let Some(path) = at {
            segments.push(path.segment);
            at = path.parent;
        }
        let mut out = String::new();
        for segment in segments.into_iter().rev() {
            match segment {
                Segment::Root => out.push('$'),
                Segment::Key(key) => {
                    out.push('.');
                    out.push_str(key);
                }
                Segment::Index(index) => out.push_str(&format!("[{index}]")),
            }
        }
        out
    }
}

/// A refusal as the caller sees it: the path of the value in front of the refusal's own.
#[cold]
fn report(refusal: Refusal, path: &Path<'_>) -> AccumulateError {
    match refusal {
        Refusal::Syntax(error) => {
            AccumulateError { offset: error.offset, path: path.render(), message: error.kind.to_string() }
        }
        Refusal::Type(mismatch) => {
            let Mismatch { offset, path: below, message, .. } = *mismatch;
            AccumulateError { offset, path: path.render() + &below, message }
        }
    }
}

/// A refusal that has its place already: a syntax error keeps the path of the innermost member that
/// saw it (members report with their own path, see `member`).
#[derive(Debug)]
enum Failure {
    Refused(Refusal),
    /// A syntax error, with its path (boxed, as `Refusal::Type`: a merge result is returned per value).
    Placed(Box<AccumulateError>),
    /// A type mismatch found where its full path is known (an index): left out like any other.
    PlacedMismatch(Box<AccumulateError>),
}

impl From<JsonError> for Failure {
    fn from(error: JsonError) -> Self {
        Failure::Refused(error.into())
    }
}

impl From<Refusal> for Failure {
    fn from(refusal: Refusal) -> Self {
        Failure::Refused(refusal)
    }
}

type Merged = Result<(), Failure>;

/// State of the chunk being merged.
#[derive(Debug, Clone, Default)]
struct Chunk {
    scratch: Vec<u8>,
    rejected: Option<Box<AccumulateError>>,
}

/// Merges one member's value (the scanner is at it) with `merge_value`. A value of the wrong type is
/// left out, the scan going on after it, and the first such one of the chunk is remembered: one bad
/// member costs only itself. A syntax error stops the chunk, reported with this member's path unless
/// a member inside it placed it already.
#[inline(always)]
fn member<'a>(
    scanner: &mut Scanner<'a>,
    chunk: &mut Chunk,
    path: &Path<'_>,
    merge_value: impl FnOnce(&mut Scanner<'a>, &mut Chunk) -> Merged,
) -> Merged {
    let start = scanner.mark();
    match merge_value(scanner, chunk) {
        Ok(()) => Ok(()),
        Err(failure) => member_failed(scanner, start, chunk, path, failure),
    }
}

#[cold]
#[inline(never)]
fn member_failed(scanner: &mut Scanner<'_>, start: Mark, chunk: &mut Chunk, path: &Path<'_>, failure: Failure) -> Merged {
    match failure {
        Failure::Refused(Refusal::Type(mismatch)) => {
            scanner.rewind(start);
            if let Err(error) = scanner.skip() {
                return Err(Failure::Placed(Box::new(report(error.into(), path))));
            }
            chunk.rejected.get_or_insert_with(|| Box::new(report(Refusal::Type(mismatch), path)));
            Ok(())
        }
        Failure::PlacedMismatch(error) => {
            scanner.rewind(start);
            if let Err(skipped) = scanner.skip() {
                return Err(Failure::Placed(Box::new(report(skipped.into(), path))));
            }
            chunk.rejected.get_or_insert(error);
            Ok(())
        }
        Failure::Refused(refusal) => Err(Failure::Placed(Box::new(report(refusal, path)))),
        placed => Err(placed),
    }
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
        if has_foreign_escape(element) {
            // Written as the output writes strings (see `json_value`), whatever escapes the provider used.
            match json_value(element, compact) {
                Value::Json(text) => items.push_str(&text),
                tree => write_value(items, &tree),
            }
        } else if compact {
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

/// A message's tool calls in arrival order, found by index and by id (the latest one having it).
#[derive(Debug, Clone, Default)]
struct ToolCalls {
    calls: Vec<ToolCall>,
    /// Past INDEXED_FROM calls: the latest call of each index, and of each id.
    by_index: Option<HashMap<i64, usize>>,
    by_id: Option<HashMap<String, usize>>,
}

impl ToolCalls {
    fn indexed(&mut self) -> bool {
        if self.by_index.is_none() && self.calls.len() >= INDEXED_FROM {
            let (mut by_index, mut by_id) = (HashMap::new(), HashMap::new());
            for (at, call) in self.calls.iter().enumerate() {
                if let Some(index) = call.index {
                    by_index.insert(index, at);
                }
                if !call.id.is_empty() {
                    by_id.insert(call.id.clone(), at);
                }
            }
            (self.by_index, self.by_id) = (Some(by_index), Some(by_id));
        }
        self.by_index.is_some()
    }

    fn latest_with_index(&mut self, index: i64) -> Option<usize> {
        if self.indexed() {
            return self.by_index.as_ref().and_then(|by_index| by_index.get(&index).copied());
        }
        self.calls.iter().rposition(|call| call.index == Some(index))
    }

    fn latest_with_id(&mut self, id: &str) -> Option<usize> {
        if self.indexed() {
            return self.by_id.as_ref().and_then(|by_id| by_id.get(id).copied());
        }
        self.calls.iter().rposition(|call| call.id == id)
    }

    fn push(&mut self, call: ToolCall) -> usize {
        let at = self.calls.len();
        if let (Some(by_index), Some(index)) = (&mut self.by_index, call.index) {
            by_index.insert(index, at);
        }
        self.calls.push(call);
        at
    }

    fn set_id(&mut self, at: usize, id: String) {
        if let Some(by_id) = &mut self.by_id {
            let latest = by_id.entry(id.clone()).or_insert(at);
            *latest = (*latest).max(at);
        }
        self.calls[at].id = id;
    }
}

#[derive(Debug, Clone, Default)]
struct Message {
    /// Members other than content, tool calls and annotations, in arrival order.
    fields: Fields,
    content: Content,
    /// None: never seen; Some(empty): seen only as null.
    tool_calls: Option<ToolCalls>,
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
    /// The first empty value (`""`, `0`, a null where null is a value) of each of them, kept for
    /// when no chunk has a non-empty one.
    first_empty: [Option<Box<str>>; FIRST_NON_EMPTY.len()],
    usage: Option<Value>,
    /// The last usage found inside a provider extension (`x_groq.usage`), for streams with no
    /// top-level one.
    extension_usage: Option<Value>,
    choices: Vec<Choice>,
    /// Past INDEXED_FROM choices: the slot of each index.
    choice_slots: Option<HashMap<i64, usize>>,
    /// Other top-level members (snapshot rule).
    fields: Fields,
    chunks: u64,
    chunk: Chunk,
    /// The leading members of the last fully scanned chunk whose merge is idempotent (identity,
    /// `object`, `usage`, other snapshot members), as that chunk's bytes up to the end of the last of
    /// them. Most providers repeat them byte for byte on every chunk; a chunk that starts with these
    /// bytes followed by a comma has nothing in them to merge that is not merged already, so its scan
    /// starts after them (about half of an OpenAI chunk).
    repeated_prefix: Vec<u8>,
    /// Where the names of the members of `repeated_prefix` that a later member could replace (`usage`,
    /// undeclared ones; not the identity) lie in it. A chunk that merges one of them again after the
    /// run (a duplicated key: the last value wins) makes the run not skippable: it is dropped. Spans,
    /// not strings: recording a run allocates nothing, and OpenAI's runs record none. At most
    /// INDEXED_FROM of them (the run ends there), so that the check stays a short scan.
    prefix_keys: Vec<Range<usize>>,
    /// Where the top-level members this chunk's scan read lie: (offset of the name's quote, end of
    /// the value), for a consumer that edits the chunk's bytes (the rewriter) and need not scan again
    /// what the merge scanned. Recorded only once asked for (`record_member_ends`).
    member_ends: Option<Vec<(usize, usize)>>,
}

impl Accumulator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Chunks merged so far.
    pub fn chunks(&self) -> u64 {
        self.chunks
    }

    /// The usage member as JSON text, once a non-null one arrived (at the top level, else inside a
    /// provider extension).
    pub fn usage_json(&self) -> Option<String> {
        self.usage_value().filter(|usage| !usage.is_null()).map(|usage| {
            let mut out = String::new();
            write_value(&mut out, usage);
            out
        })
    }

    fn usage_value(&self) -> Option<&Value> {
        match (&self.usage, &self.extension_usage) {
            (Some(usage), _) if !usage.is_null() => Some(usage),
            (_, Some(usage)) => Some(usage),
            (usage, None) => usage.as_ref(),
        }
    }

    /// The `function.arguments` text of each tool call of a choice so far (the legacy `function_call`
    /// too, last), in order; None for a call with no arguments yet.
    pub fn tool_call_arguments(&self, choice_index: i64) -> Vec<Option<&str>> {
        let Some(choice) = self.choices.iter().find(|choice| choice.index == choice_index) else { return Vec::new() };
        let mut out: Vec<Option<&str>> =
            choice.message.tool_calls.iter().flat_map(|calls| &calls.calls).map(|call| function_arguments(&call.fields)).collect();
        if let Some(legacy @ Value::Object(_)) = choice.message.fields.get("function_call") {
            out.push(match legacy.field("arguments") {
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

    /// Merges the payload of an `event: error` frame: an object with an `error` member merges as a
    /// chunk does; anything else becomes the completion's `error` member (JSON as it is, other text
    /// as a string), so that the completion alone shows that the stream failed.
    pub fn add_error_report(&mut self, payload: &[u8]) -> Result<ChunkOutcome, AccumulateError> {
        let mut probe = Scanner::new(payload).map_err(|error| report(error.into(), &Path::ROOT))?;
        let is_object = probe.peek().is_ok_and(|kind| kind == Kind::Object);
        let mut scratch = Vec::new();
        if is_object && has_error_member(payload, &mut scratch) {
            let mut outcome = self.add(payload)?;
            outcome.upstream_error = true;
            return Ok(outcome);
        }
        let mut scanner = Scanner::new(payload).map_err(|error| report(error.into(), &Path::ROOT))?;
        let value = match check(&mut scanner, &Ty::Any, &mut scratch).and_then(|_| scanner.end().map_err(Refusal::from)) {
            Ok(()) if is_object || payload.trim_ascii().first().is_some_and(|b| *b == b'[') => {
                let (text, compact) = (std::str::from_utf8(payload.trim_ascii()).unwrap_or_default(), false);
                json_value(text, compact)
            }
            Ok(()) => parse_value(&mut Scanner::new(payload).expect("checked"), &Ty::Any, &mut scratch).unwrap_or(Value::Null),
            Err(_) => Value::Str(String::from_utf8_lossy(payload).into_owned()),
        };
        self.fields.set("error", value);
        self.chunks += 1;
        Ok(ChunkOutcome { upstream_error: true, rejected: None })
    }

    /// Merges one chunk payload. A member whose value is not of the completion's type is left out and
    /// reported in the outcome. A payload that is not JSON stops at the break (`Err`): what came
    /// before it is merged (a chunk is merged as it is read).
    pub fn add(&mut self, payload: &[u8]) -> Result<ChunkOutcome, AccumulateError> {
        self.chunk.rejected = None;
        let result = self.add_members(payload);
        let rejected = self.chunk.rejected.take();
        match result {
            Ok(upstream_error) => Ok(ChunkOutcome { upstream_error, rejected }),
            Err(Failure::Placed(error) | Failure::PlacedMismatch(error)) => Err(*error),
            Err(Failure::Refused(refusal)) => Err(report(refusal, &Path::ROOT)),
        }
    }

    /// Records from now on where each chunk's top-level members lie (`member_ends`).
    pub fn record_member_ends(&mut self) {
        self.member_ends.get_or_insert_with(Vec::new);
    }

    /// The top-level members the last chunk's scan read, as (offset of the name's opening quote, end
    /// of the value), in order; those of a repeated prefix it skipped are not among them. Empty unless
    /// `record_member_ends` was called.
    pub fn member_ends(&self) -> &[(usize, usize)] {
        self.member_ends.as_deref().unwrap_or_default()
    }

    fn add_members(&mut self, payload: &[u8]) -> Result<bool, Failure> {
        if let Some(ends) = &mut self.member_ends {
            ends.clear();
        }
        let known = self.repeated_prefix.len();
        // The byte after the prefix must be the comma: a number in the prefix could go on otherwise.
        let repeats = known > 0 && payload.get(known) == Some(&b',') && payload.starts_with(&self.repeated_prefix);
        let (mut scanner, mut first) = if repeats {
            (Scanner::resume_in_object(payload, known), false)
        } else {
            let mut scanner = Scanner::new(payload)?;
            let kind = scanner.peek()?;
            if kind != Kind::Object {
                return Err(mismatch(scanner.position(), &Ty::Struct(&[]), found(kind, None)).into());
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
        let mut upstream_error = false;
        // Where the run of idempotent leading members ends, and whether it is still going on.
        let (mut run_end, mut in_run) = (0, !repeats);
        // A member after the run has the name of one in it: the run's values are not the last ones.
        let mut overridden = false;
        while let Some(name) = scanner.next_key(&mut first)? {
            let span = name.offset + 1..name.offset + 1 + name.raw.len();
            let name_offset = name.offset;
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
            // value, `object` and padding set nothing, `choices` is never in a run).
            let mut replaceable = false;
            let rejected_before = self.chunk.rejected.is_some();
            let path = Path::ROOT;
            let path = path.key(&key);
            match &*key {
                "choices" => {
                    idempotent = false;
                    let (choices, slots, chunk) = (&mut self.choices, &mut self.choice_slots, &mut self.chunk);
                    member(&mut scanner, chunk, &path, #[inline(always)] |scanner, chunk| add_choices(choices, slots, scanner, chunk, &path))?;
                }
                "usage" => {
                    replaceable = true;
                    let usage = &mut self.usage;
                    member(&mut scanner, &mut self.chunk, &path, |scanner, chunk| add_usage(usage, scanner, chunk))?;
                }
                "object" => {
                    if scanner.peek()? == Kind::String {
                        if scanner.string()?.raw == b"error" {
                            upstream_error = true;
                            idempotent = false;
                        }
                    } else {
                        scanner.skip()?;
                    }
                }
                name if is_padding(name, &mut scanner)? => {
                    scanner.skip()?;
                }
                name => {
                    if let Some(slot) = FIRST_NON_EMPTY.iter().position(|candidate| *candidate == name) {
                        let ty = schema::COMPLETION.member(name);
                        let (first, first_empty) = (&mut self.first[slot], &mut self.first_empty[slot]);
                        member(&mut scanner, &mut self.chunk, &path, |scanner, chunk| add_first_non_empty(first, first_empty, &ty, scanner, chunk))?;
                    } else {
                        if name == "error" {
                            upstream_error |= scanner.peek()? != Kind::Null;
                            idempotent = false;
                        }
                        replaceable = true;
                        let extension = name.starts_with("x_");
                        let (fields, extension_usage) = (&mut self.fields, &mut self.extension_usage);
                        member(&mut scanner, &mut self.chunk, &path, |scanner, chunk| add_extra(fields, extension_usage, name, extension, scanner, chunk, &path))?;
                    }
                }
            }
            // The names in `prefix_keys` are those of the run's replaceable members, this chunk's so far
            // or the skipped one's (the payload starts with it): either way spans of this payload. A
            // rejected member ends the run (a later chunk repeating it is then checked, and reported,
            // again), as does a run of many replaceable members (the check after the run stays short).
            in_run &= idempotent && (rejected_before || self.chunk.rejected.is_none());
            in_run &= !(replaceable && self.prefix_keys.len() >= INDEXED_FROM);
            if let Some(ends) = &mut self.member_ends {
                ends.push((name_offset, scanner.position()));
            }
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
        Ok(upstream_error)
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
                    write_list(out, choices, write_choice);
                }
                "usage" => {
                    if let Some(usage) = self.usage_value() {
                        comma.key(out, "usage");
                        write_value(out, usage);
                    }
                }
                name => {
                    let slot = FIRST_NON_EMPTY.iter().position(|candidate| *candidate == name);
                    if let Some(text) = slot.and_then(|slot| self.first[slot].as_ref().or(self.first_empty[slot].as_ref())) {
                        comma.key(out, name);
                        out.push_str(text);
                    }
                }
            }
        }
        for (key, value) in self.fields.iter() {
            comma.key(out, key);
            write_value(out, value);
        }
        out.push('}');
    }
}

// The top-level members other than `choices`, each merged out of line: their code (a string and a
// number check inlined in each) stays out of the loop of `add_members`, which every chunk runs. The
// 44 captures went from 1.06x to 1.02x the time of the build before the type checks (§11).

/// A chunk's `usage`: the last non-null one replaces the earlier one whole (counts are totals).
#[inline(never)]
fn add_usage(usage: &mut Option<Value>, scanner: &mut Scanner<'_>, chunk: &mut Chunk) -> Merged {
    if scanner.peek()? == Kind::Null {
        scanner.null()?;
        usage.get_or_insert(Value::Null);
    } else if matches!(usage, Some(Value::Json(stored)) if scanner.eat(stored.as_bytes())) {
        // The same usage again (some providers send it on every chunk): see `merge_from`.
    } else {
        *usage = Some(checked_json(scanner, &schema::USAGE, &mut chunk.scratch)?);
    }
    Ok(())
}

/// One of FIRST_NON_EMPTY, checked; kept as its text when it is the first non-empty one.
#[inline(never)]
fn add_first_non_empty(first: &mut Option<Box<str>>, first_empty: &mut Option<Box<str>>, ty: &Ty, scanner: &mut Scanner<'_>, chunk: &mut Chunk) -> Merged {
    if scanner.peek()? == Kind::Null && !ty.nullable() {
        return Ok(scanner.null()?); // null never changes a value
    }
    let start = scanner.position();
    check_inline(scanner, ty, &mut chunk.scratch)?;
    if first.is_none() {
        let text = scanner.text_since(start);
        if !matches!(text, "\"\"" | "0" | "null") {
            *first = Some(text.into());
        } else if first_empty.is_none() {
            *first_empty = Some(text.into());
        }
    }
    Ok(())
}

/// An undeclared top-level member (a provider's extra), kept as it comes; a provider extension
/// (`x_…`) may hold the usage.
#[inline(never)]
fn add_extra(
    fields: &mut Fields,
    extension_usage: &mut Option<Value>,
    name: &str,
    extension: bool,
    scanner: &mut Scanner<'_>,
    chunk: &mut Chunk,
    path: &Path<'_>,
) -> Merged {
    let start = Scanner::at(scanner);
    merge_member(fields, Cow::Borrowed(name), scanner, &Ty::Any, chunk, Mode::Snapshot, path)?;
    if extension {
        if let Some(usage) = usage_inside(start, &mut chunk.scratch) {
            *extension_usage = Some(usage);
        }
    }
    Ok(())
}

/// The member is stream-only padding (a string under one of PADDING_KEYS).
fn is_padding(name: &str, scanner: &mut Scanner<'_>) -> Result<bool, JsonError> {
    Ok(PADDING_KEYS.contains(&name) && scanner.peek()? == Kind::String)
}

/// The payload is an object with an `error` member (whatever its value).
fn has_error_member(payload: &[u8], scratch: &mut Vec<u8>) -> bool {
    let Ok(mut scanner) = Scanner::new(payload) else { return false };
    if scanner.begin_object().is_err() {
        return false;
    }
    let mut first = true;
    while let Ok(Some(name)) = scanner.next_key(&mut first) {
        if name.unescaped(scratch).is_ok_and(|name| name == b"error") {
            return true;
        }
        if scanner.skip().is_err() {
            return false;
        }
    }
    false
}

/// The `usage` object inside the provider extension under `scanner` (already merged and checked as
/// JSON), when it is one of the completion's type for usage.
fn usage_inside(mut scanner: Scanner<'_>, scratch: &mut Vec<u8>) -> Option<Value> {
    if scanner.peek().ok()? != Kind::Object {
        return None;
    }
    scanner.begin_object().ok()?;
    let mut first = true;
    let mut usage = None;
    while let Some(name) = scanner.next_key(&mut first).ok()? {
        if name.raw == b"usage" && scanner.peek().ok()? == Kind::Object {
            usage = Some(checked_json(&mut scanner, &schema::USAGE, scratch).ok()?);
        } else {
            scanner.skip().ok()?;
        }
    }
    usage
}

/// A chunk's `choices`.
fn add_choices(choices: &mut Vec<Choice>, slots: &mut Option<HashMap<i64, usize>>, scanner: &mut Scanner<'_>, chunk: &mut Chunk, path: &Path<'_>) -> Merged {
    match scanner.peek()? {
        Kind::Null => return Ok(scanner.null()?),
        Kind::Array => {}
        kind => return Err(mismatch(scanner.position(), &Ty::List(&Ty::Any), found(kind, None)).into()),
    }
    scanner.begin_array()?;
    let mut first = true;
    let mut position = 0;
    while scanner.next_element(&mut first)? {
        if !append_delta(choices, slots, scanner, &mut chunk.scratch) {
            let element = path.index(position);
            member(scanner, chunk, &element, #[inline(always)] |scanner, chunk| add_choice(choices, slots, scanner, chunk, position as i64, &element))?;
        }
        position += 1;
    }
    Ok(())
}

/// The choice that most chunks of an answer carry, compact: `{"index":N,"delta":{…},"logprobs":null,
/// "finish_reason":null}` as OpenAI, DeepSeek, Groq or vLLM send it, members in any order (`logprobs`
/// and `finish_reason` possibly absent, the reason possibly a string), the delta holding only
/// `content`, `reasoning_content` or `reasoning`, each a string or null. Merged as `add_choice`
/// merges it, without its per-member bookkeeping (a path, a mark, a lookup and a type check a
/// member: a third of a content chunk's cost); false, the scanner where it was, for anything else,
/// which `add_choice` then reads (and reports) as always. Nothing changes before everything is read
/// and known to merge, so that falling back never merges a member twice.
#[inline(always)]
fn append_delta(choices: &mut Vec<Choice>, slots: &mut Option<HashMap<i64, usize>>, scanner: &mut Scanner<'_>, scratch: &mut Vec<u8>) -> bool {
    let mark = scanner.mark();
    let merged = (|| {
        // The choice's members in any order (Azure and DashScope sort them), each at most once.
        let (mut index, mut delta, mut logprobs, mut finish_reason) = (None, None, false, None);
        let mut texts: [Option<Option<crate::json::JsonStr<'_>>>; DELTA_TEXTS.len()] = [None; DELTA_TEXTS.len()];
        if !scanner.eat(b"{") {
            return None;
        }
        loop {
            if index.is_none() && scanner.eat(b"\"index\":") {
                index = Some(scanner.small_integer()?);
            } else if delta.is_none() && scanner.eat(b"\"delta\":{") {
                delta = Some(());
                if !scanner.eat(b"}") {
                    loop {
                        let member = DELTA_TEXTS.iter().position(|(name, _)| scanner.eat(name))?;
                        let value = match scanner.next_byte() {
                            Some(b'"') => Some(scanner.string().ok().filter(|text| check_string(text, scratch).is_ok())?),
                            _ if scanner.eat(b"null") => None,
                            _ => return None,
                        };
                        if texts[member].replace(value).is_some() {
                            return None;
                        }
                        if scanner.eat(b"}") {
                            break;
                        }
                        if !scanner.eat(b",") {
                            return None;
                        }
                    }
                }
            } else if !logprobs && scanner.eat(b"\"logprobs\":null") {
                logprobs = true;
            } else if finish_reason.is_none() && scanner.eat(b"\"finish_reason\":") {
                // A reason without escapes (none has any): an empty one is no reason, as null.
                finish_reason = Some(match scanner.next_byte() {
                    Some(b'"') => Some(scanner.string().ok().filter(|text| !text.escaped)?.raw_str()).filter(|text| !text.is_empty()),
                    _ if scanner.eat(b"null") => None,
                    _ => return None,
                });
            } else {
                return None;
            }
            if scanner.eat(b"}") {
                break;
            }
            if !scanner.eat(b",") {
                return None;
            }
        }
        let (index, ()) = (index?, delta?);
        // Creating the choice is no change that falling back could repeat: `add_choice` finds it.
        let slot = choice_slot(choices, slots, index);
        let choice = &mut choices[slot];
        // A reasoning member merges here only into the text it extends, or as a null that sets
        // nothing (the general merge makes a new member, or turns a null into text).
        for ((_, field), value) in DELTA_TEXTS.iter().zip(&texts) {
            if let (Some(field), Some(value)) = (field, value) {
                match (choice.message.fields.get(field), value) {
                    (Some(Value::Str(_)), _) | (Some(_), None) => {}
                    _ => return None,
                }
            }
        }
        // No failure is left below (every escape was checked above): the `?`s only pass on what
        // cannot happen.
        for ((_, field), value) in DELTA_TEXTS.iter().zip(texts) {
            match (field, value) {
                (None, Some(Some(text))) => append_text(&mut choice.message.content, &text, scratch).ok()?,
                (None, Some(None)) => choice.message.content.saw_null(),
                (Some(field), Some(Some(text))) => {
                    if let Some(Value::Str(current)) = choice.message.fields.get_mut(field) {
                        push_unescaped(current, &text, scratch).ok()?;
                    }
                }
                _ => {}
            }
        }
        if logprobs && !choice.logprobs.seen {
            (choice.logprobs.seen, choice.logprobs.null_only) = (true, true);
        }
        match finish_reason {
            Some(Some(reason)) => choice.finish_reason = Some(Value::Str(reason.to_owned())),
            Some(None) => {
                choice.finish_reason.get_or_insert(Value::Null);
            }
            None => {}
        }
        Some(())
    })();
    if merged.is_none() {
        scanner.rewind(mark);
    }
    merged.is_some()
}

/// The delta members `append_delta` reads, as they stand before the value, and the message field
/// each goes to (None: the content).
const DELTA_TEXTS: [(&[u8], Option<&str>); 3] =
    [(b"\"content\":", None), (b"\"reasoning_content\":", Some("reasoning_content")), (b"\"reasoning\":", Some("reasoning"))];

/// One choice of a chunk. Members are merged as they are read once the choice's `index` is
/// known; those that come before it (Azure sorts keys: `delta` before `index`) wait for it. A
/// `message` waits until the end of the choice, merged only when the choice has no `delta`.
fn add_choice(
    choices: &mut Vec<Choice>,
    slots: &mut Option<HashMap<i64, usize>>,
    scanner: &mut Scanner<'_>,
    chunk: &mut Chunk,
    position: i64,
    path: &Path<'_>,
) -> Merged {
    let input = scanner.input();
    let kind = scanner.peek()?;
    if kind != Kind::Object {
        return Err(mismatch(scanner.position(), &schema::CHOICE, found(kind, None)).into());
    }
    scanner.begin_object()?;
    let mut slot = None;
    let mut waiting: Vec<(Cow<'_, str>, Range<usize>)> = Vec::new();
    let mut message = None;
    let mut has_delta = false;
    let mut first = true;
    while let Some(key) = scanner.next_key(&mut first)? {
        let key = str_of(&key)?;
        if key == "index" {
            let at = scanner.position();
            let index = match scanner.peek()? {
                Kind::Number => match scanner.small_integer() {
                    Some(index) => index,
                    None => any_index(scanner, path)?,
                },
                Kind::Null => {
                    scanner.null()?;
                    position
                }
                kind => return Err(report(mismatch(at, &Ty::Int, found(kind, None)), &path.key("index")).into_failure()),
            };
            slot = Some(choice_slot(choices, slots, index));
            continue;
        }
        has_delta |= key == "delta";
        if key == "message" || slot.is_none() {
            let start = scanner.skip()?;
            let span = start..scanner.position();
            if key == "message" {
                message = Some(span);
            } else {
                waiting.push((key, span));
            }
            continue;
        }
        let member_path = path.key(&key);
        let choice = &mut choices[slot.expect("checked above")];
        member(scanner, chunk, &member_path, #[inline(always)] |scanner, chunk| add_choice_member(choice, &key, scanner, chunk, &member_path))?;
    }
    let slot = slot.unwrap_or_else(|| choice_slot(choices, slots, position));
    let choice = &mut choices[slot];
    for (key, span) in waiting {
        let member_path = path.key(&key);
        let mut scanner = Scanner::resume(input, span.start);
        member(&mut scanner, chunk, &member_path, #[inline(always)] |scanner, chunk| add_choice_member(choice, &key, scanner, chunk, &member_path))?;
    }
    if let (Some(span), false) = (message, has_delta) {
        let member_path = path.key("message");
        let mut scanner = Scanner::resume(input, span.start);
        member(&mut scanner, chunk, &member_path, #[inline(always)] |scanner, chunk| merge_delta(&mut choice.message, scanner, chunk, &member_path))?;
    }
    Ok(())
}

/// A choice index that `small_integer` did not read (a negative one, or no 64-bit integer at all).
#[cold]
#[inline(never)]
fn any_index(scanner: &mut Scanner<'_>, path: &Path<'_>) -> Result<i64, Failure> {
    let at = scanner.position();
    let number = scanner.number()?;
    number.as_i64().ok_or_else(|| index_refusal(at, &number, path))
}

/// A choice index that is a number but no 64-bit integer.
#[cold]
fn index_refusal(at: usize, number: &crate::json::JsonNumber<'_>, path: &Path<'_>) -> Failure {
    let message = if number.integer {
        format!("choice index {} is out of range (a 64-bit integer is expected)", number.text)
    } else {
        format!("expected an integer, found {}", number.text)
    };
    Failure::PlacedMismatch(Box::new(AccumulateError { offset: at, path: path.key("index").render(), message }))
}

impl AccumulateError {
    /// A type problem found where its full path is known: left out like any mismatch.
    fn into_failure(self) -> Failure {
        Failure::PlacedMismatch(Box::new(self))
    }
}

fn choice_slot(choices: &mut Vec<Choice>, slots: &mut Option<HashMap<i64, usize>>, index: i64) -> usize {
    let found = match slots {
        Some(slots) => slots.get(&index).copied(),
        None => choices.iter().position(|choice| choice.index == index),
    };
    if let Some(found) = found {
        return found;
    }
    choices.push(Choice { index, message: Message::default(), finish_reason: None, logprobs: Logprobs::default(), fields: Fields::new() });
    let at = choices.len() - 1;
    match slots {
        Some(slots) => {
            slots.insert(index, at);
        }
        None if choices.len() > INDEXED_FROM => {
            *slots = Some(choices.iter().enumerate().map(|(at, choice)| (choice.index, at)).collect());
        }
        None => {}
    }
    at
}

#[inline(always)]
fn add_choice_member(choice: &mut Choice, key: &str, scanner: &mut Scanner<'_>, chunk: &mut Chunk, path: &Path<'_>) -> Merged {
    match key {
        "delta" => merge_delta(&mut choice.message, scanner, chunk, path),
        "finish_reason" => {
            // The last non-null, non-empty finish reason wins; it is never reset. (Most chunks carry
            // a null one: that path allocates nothing.)
            let reason = match scanner.peek()? {
                Kind::Null => {
                    scanner.null()?;
                    None
                }
                Kind::String => Some(str_of(&scanner.string()?)?).filter(|text| !text.is_empty()).map(|text| Value::Str(text.into_owned())),
                kind => return Err(mismatch(scanner.position(), &Ty::Nullable(&Ty::Str), found(kind, None)).into()),
            };
            match reason {
                Some(reason) => choice.finish_reason = Some(reason),
                None => {
                    choice.finish_reason.get_or_insert(Value::Null);
                }
            }
            Ok(())
        }
        // Most chunks say `"logprobs": null`: no call for it.
        "logprobs" if choice.logprobs.seen && scanner.peek()? == Kind::Null => Ok(scanner.null()?),
        "logprobs" => merge_logprobs(&mut choice.logprobs, scanner, chunk, path),
        _ => merge_member(&mut choice.fields, Cow::Borrowed(key), scanner, &Ty::Any, chunk, Mode::Snapshot, path),
    }
}

/// The `function.arguments` text of a tool call's members.
fn function_arguments(fields: &Fields) -> Option<&str> {
    match fields.get("function").and_then(|function| function.field("arguments")) {
        Some(Value::Str(text)) => Some(text.as_str()),
        _ => None,
    }
}

/// Merges the value under the scanner, of type `ty`, into the member `key` of `fields` (added when
/// new), by the rules of `merge`. A null where `ty` admits none is no value: nothing is added.
fn merge_member(fields: &mut Fields, key: Cow<'_, str>, scanner: &mut Scanner<'_>, ty: &Ty, chunk: &mut Chunk, mode: Mode, path: &Path<'_>) -> Merged {
    match fields.get_mut(&key) {
        Some(existing) => merge_from(existing, &key, scanner, ty, chunk, mode, path),
        None => {
            if scanner.peek()? == Kind::Null && !ty.nullable() {
                return Ok(scanner.null()?);
            }
            let value = if mode == Mode::Snapshot { snapshot_value(scanner, ty, &mut chunk.scratch)? } else { parse_value(scanner, ty, &mut chunk.scratch)? };
            fields.push(key.into_owned(), value);
            Ok(())
        }
    }
}

/// `merge` with the incoming value read straight from the payload: a string is appended (or replaces)
/// and an object merges member by member without a `Value` built first, so a tool-call fragment or a
/// reasoning delta allocates nothing once its members exist. What does not merge in place (an array,
/// a change of type) is parsed and handed to `merge`. A member repeated inside one object merges
/// twice, as a repeated member of a delta always did. The value is checked against `ty` on the way.
fn merge_from(target: &mut Value, key: &str, scanner: &mut Scanner<'_>, ty: &Ty, chunk: &mut Chunk, mode: Mode, path: &Path<'_>) -> Merged {
    let kind = scanner.peek()?;
    if !ty.admits(kind) && kind != Kind::Null {
        return Err(wrong_kind(scanner, ty, kind).into());
    }
    if let (Value::Json(stored), Kind::Object | Kind::Array) = (&*target, kind) {
        // The same compact value again (providers repeat such members on every chunk: Azure's
        // content filter results, a usage on every chunk): its bytes were checked when it was kept,
        // and an object or array ends where its bytes do, so nothing but the bytes is read.
        if scanner.eat(stored.as_bytes()) {
            return Ok(());
        }
        let mark = scanner.mark();
        // Only whitespace inside the value counts: the space before it (`"a": {...}`) must not make a
        // repeated value look changed, or the result would depend on the spacing around members.
        scanner.spaced();
        let start = match check(scanner, ty, &mut chunk.scratch) {
            Ok(start) => start,
            // A bad object merges into the stored one as into a tree, member by member up to where it
            // goes wrong: what a chunk merges must not depend on whether the stored value is still
            // text (which depends on the whitespace of earlier chunks).
            Err(_) if kind == Kind::Object && stored.starts_with('{') => {
                scanner.rewind(mark);
                *target = parse_value(&mut Scanner::new(stored.as_bytes())?, ty, &mut chunk.scratch)?;
                return merge_from(target, key, scanner, ty, chunk, mode, path);
            }
            Err(refusal) => return Err(refusal.into()),
        };
        let (text, compact) = (scanner.text_since(start), !scanner.spaced());
        // The same value again (providers repeat such members on every chunk): nothing changes. Compared
        // as compact text whatever its spacing, so that the outcome never depends on whitespace: a
        // repeated object merged as a tree is not always the same (`{"a":1,"a":null}`: null sets nothing
        // in a merge, while the kept text says null).
        if compact && text == &**stored || !compact && same_compact(text, stored, &mut chunk.scratch) {
            return Ok(());
        }
        if kind == Kind::Array || !stored.starts_with('{') {
            *target = json_value(text, compact);
            return Ok(());
        }
        // An object merges into the stored one: from now on it is a tree.
        *target = parse_value(&mut Scanner::new(stored.as_bytes())?, ty, &mut chunk.scratch)?;
        return merge_from(target, key, &mut Scanner::new(text.as_bytes())?, ty, chunk, mode, path);
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
                push_unescaped(current, &text, &mut chunk.scratch)?;
            } else {
                check_string(&text, &mut chunk.scratch)?;
            }
        }
        (Value::Object(fields), Kind::Object) => {
            scanner.begin_object()?;
            let mut first = true;
            while let Some(name) = scanner.next_key(&mut first)? {
                let name = str_of(&name)?;
                let member_ty = ty.member(&name);
                let member_path = path.key(&name);
                member(scanner, chunk, &member_path, #[inline(always)] |scanner, chunk| {
                    merge_member(fields, name.clone(), scanner, &member_ty, chunk, mode, &member_path)
                })?;
            }
        }
        (Value::Raw(current), Kind::Number | Kind::Bool) => {
            let start = scanner.position();
            if kind == Kind::Number {
                // Without a `JsonNumber` handed back through memory (see `Scanner::small_integer`):
                // a tool call's `index` comes here on every fragment.
                check_inline(scanner, ty, &mut chunk.scratch)?;
            } else {
                scanner.boolean()?;
            }
            let text = scanner.text_since(start);
            if **current != *text {
                *current = text.into();
            }
        }
        // Outside deltas an object or array that does not merge into an object replaces the value.
        (target, Kind::Object | Kind::Array) if mode == Mode::Snapshot => *target = checked_json(scanner, ty, &mut chunk.scratch)?,
        (target, _) => {
            let incoming = parse_value(scanner, ty, &mut chunk.scratch)?;
            merge(target, incoming, key, mode);
        }
    }
    Ok(())
}

#[cold]
fn wrong_kind(scanner: &mut Scanner<'_>, ty: &Ty, kind: Kind) -> Refusal {
    let at = scanner.position();
    if kind == Kind::Number {
        if let Ok(number) = scanner.number() {
            return mismatch(at, ty, found(kind, Some(&number)));
        }
    }
    mismatch(at, ty, found(kind, None))
}

/// The value under the scanner as a member outside the deltas keeps it: objects and arrays as their
/// compact JSON text (`Value::Json`), the rest parsed; checked against `ty`.
fn snapshot_value(scanner: &mut Scanner<'_>, ty: &Ty, scratch: &mut Vec<u8>) -> Result<Value, Refusal> {
    match scanner.peek()? {
        Kind::Object | Kind::Array => checked_json(scanner, ty, scratch),
        _ => parse_value(scanner, ty, scratch),
    }
}

/// The next value's JSON text as it stands in the payload, and whether it is compact (no whitespace
/// between its tokens, so that it can be copied as it is); checked against `ty`.
fn value_text<'a>(scanner: &mut Scanner<'a>, ty: &Ty, scratch: &mut Vec<u8>) -> Result<(&'a str, bool), Refusal> {
    scanner.peek()?;
    scanner.spaced();
    let start = check(scanner, ty, scratch)?;
    Ok((scanner.text_since(start), !scanner.spaced()))
}

/// An object or array as a kept `Value::Json`, made compact. One with an escape that the output would
/// not write (`\u00e9`, `\/`) is kept as a tree instead, so that the completion's bytes are the same
/// whether the value is written from its text or, once a later chunk merged into it, from a tree.
fn json_value(text: &str, compact: bool) -> Value {
    if has_foreign_escape(text) {
        if let Ok(tree) = Scanner::new(text.as_bytes()).map_err(Refusal::from).and_then(|mut scanner| parse_value(&mut scanner, &Ty::Any, &mut Vec::new())) {
            return tree;
        }
    }
    Value::Json(if compact {
        text.into()
    } else {
        let mut out = String::with_capacity(text.len());
        push_compact(&mut out, text);
        out.into()
    })
}

/// `text` (JSON) holds an escape that `write_str` would not write: `\u` of a character written as
/// itself, or `\/`. (A `\u` of a control character is what `write_str` writes too, but telling the two
/// apart is not worth it: both make a tree.)
fn has_foreign_escape(text: &str) -> bool {
    // One memchr pass (a memmem searcher per call cost ~350 instructions on every kept list element).
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(at) = bytes.get(from..).and_then(|rest| memchr::memchr(b'\\', rest)) {
        let escape = from + at + 1;
        if matches!(bytes.get(escape), Some(b'u' | b'/')) {
            return true;
        }
        from = escape + 1; // past the escaped character: `\\u` is a backslash, then `u`
    }
    false
}

/// The value under the scanner, checked against `ty`, as a kept `Value::Json`. One that holds a `null`
/// where its type admits none (a usage's `"cached_tokens": null`) is kept as a tree without it instead:
/// text cannot leave a member out, and null never sets a value.
fn checked_json(scanner: &mut Scanner<'_>, ty: &Ty, scratch: &mut Vec<u8>) -> Result<Value, Refusal> {
    let mark = scanner.mark();
    match value_text(scanner, ty, scratch) {
        Ok((text, compact)) => Ok(json_value(text, compact)),
        Err(Refusal::Type(mismatch)) if mismatch.null => {
            scanner.rewind(mark);
            parse_value(scanner, ty, scratch)
        }
        Err(refusal) => Err(refusal),
    }
}

/// A string's value: borrowed from the payload unless it has escapes (which member names and ids in
/// chat payloads never do). Inlined: out of line it was 22% of the merge's samples (perf on
/// benches/core.rs).
#[inline(always)]
fn str_of<'a>(text: &crate::json::JsonStr<'a>) -> Result<Cow<'a, str>, JsonError> {
    if !text.escaped {
        return Ok(Cow::Borrowed(text.raw_str()));
    }
    let mut unescaped = Vec::new();
    text.unescape_into(&mut unescaped)?;
    // Unescaping valid UTF-8 (checked by the scanner) yields valid UTF-8.
    String::from_utf8(unescaped).map(Cow::Owned).map_err(|_| JsonError { offset: text.offset, kind: JsonErrorKind::InvalidUtf8 })
}

fn merge_delta(message: &mut Message, scanner: &mut Scanner<'_>, chunk: &mut Chunk, path: &Path<'_>) -> Merged {
    match scanner.peek()? {
        Kind::Null => return Ok(scanner.null()?),
        Kind::Object => {}
        kind => return Err(mismatch(scanner.position(), &schema::MESSAGE, found(kind, None)).into()),
    }
    scanner.begin_object()?;
    let mut first = true;
    while let Some(key) = scanner.next_key(&mut first)? {
        let key = str_of(&key)?;
        if is_padding(&key, scanner)? {
            scanner.skip()?;
            continue;
        }
        let member_path = path.key(&key);
        member(scanner, chunk, &member_path, #[inline(always)] |scanner, chunk| match &*key {
            "content" => merge_content(&mut message.content, scanner, &mut chunk.scratch),
            "tool_calls" => merge_tool_calls(&mut message.tool_calls, scanner, chunk, &member_path),
            "annotations" => merge_raw_list(&mut message.annotations, scanner, &schema::ANNOTATION, schema::check_annotation, &mut chunk.scratch),
            _ => {
                let ty = schema::MESSAGE.member(&key);
                merge_member(&mut message.fields, key.clone(), scanner, &ty, chunk, Mode::Delta, &member_path)
            }
        })?;
    }
    Ok(())
}

fn merge_tool_calls(tool_calls: &mut Option<ToolCalls>, scanner: &mut Scanner<'_>, chunk: &mut Chunk, path: &Path<'_>) -> Merged {
    match scanner.peek()? {
        Kind::Null => {
            scanner.null()?;
            tool_calls.get_or_insert_with(ToolCalls::default);
        }
        Kind::Array => {
            let calls = tool_calls.get_or_insert_with(ToolCalls::default);
            scanner.begin_array()?;
            let mut first_call = true;
            let mut at = 0;
            while scanner.next_element(&mut first_call)? {
                let element = path.index(at);
                member(scanner, chunk, &element, #[inline(always)] |scanner, chunk| match scanner.peek()? {
                    Kind::Object => merge_tool_call(calls, scanner, chunk, &element),
                    Kind::Null => Ok(scanner.null()?),
                    kind => Err(mismatch(scanner.position(), &schema::TOOL_CALL, found(kind, None)).into()),
                })?;
                at += 1;
            }
        }
        kind => return Err(mismatch(scanner.position(), &Ty::Nullable(&Ty::List(&schema::TOOL_CALL)), found(kind, None)).into()),
    }
    Ok(())
}

fn merge_content(content: &mut Content, scanner: &mut Scanner<'_>, scratch: &mut Vec<u8>) -> Merged {
    match scanner.peek()? {
        Kind::String => append_text(content, &scanner.string()?, scratch)?,
        Kind::Null => {
            scanner.null()?;
            content.saw_null();
        }
        Kind::Array => {
            let Value::Array(incoming) = parse_value(scanner, &Ty::List(&Ty::Any), scratch)? else { unreachable!("an array parses as an array") };
            let parts = match std::mem::take(content) {
                Content::Parts(parts) => parts,
                // No text is ever lost: what came as a string becomes the first text part.
                Content::Text(text) if !text.is_empty() => vec![text_part(text)],
                _ => Vec::new(),
            };
            let mut parts = parts;
            merge_parts(&mut parts, incoming.values);
            *content = Content::Parts(parts);
        }
        kind => return Err(mismatch(scanner.position(), &Ty::Content, found(kind, None)).into()),
    }
    Ok(())
}

/// A content string: appended to the text (or, after parts, as a text part). Unescaped before anything
/// changes: a failure leaves the content as it was.
fn append_text(content: &mut Content, text: &crate::json::JsonStr<'_>, scratch: &mut Vec<u8>) -> Result<(), JsonError> {
    match content {
        Content::Text(current) => push_unescaped(current, text, scratch)?,
        Content::Parts(parts) => {
            let mut fragment = String::new();
            push_unescaped(&mut fragment, text, scratch)?;
            push_text_part(parts, fragment);
        }
        Content::Absent | Content::Null => {
            let mut current = String::new();
            push_unescaped(&mut current, text, scratch)?;
            *content = Content::Text(current);
        }
    }
    Ok(())
}

impl Content {
    fn saw_null(&mut self) {
        if matches!(self, Content::Absent) {
            *self = Content::Null;
        }
    }
}

fn text_part(text: String) -> Value {
    Value::Object([("type".to_owned(), Value::Str("text".to_owned())), ("text".to_owned(), Value::Str(text))].into_iter().collect())
}

fn push_text_part(parts: &mut Vec<Value>, text: String) {
    if let Some(Value::Object(last)) = parts.last_mut() {
        if last.get("type").is_some_and(|kind| *kind == Value::Str("text".to_owned())) {
            merge_fields(last, [("text".to_owned(), Value::Str(text))].into_iter().collect(), Mode::Delta);
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
            match (last.get_mut(&key), value) {
                (Some(Value::Array(nested)), Value::Array(items)) => {
                    let mut values = std::mem::take(&mut nested.values);
                    merge_parts(&mut values, items.values);
                    *nested = Items::from_values(values);
                }
                (Some(existing), value) => merge(existing, value, &key, Mode::Delta),
                (None, value) => last.push(key, value),
            }
        }
    }
}

/// One element of a delta's `tool_calls` (the scanner is at its `{`), merged into the call it
/// continues. Two passes over the fragment: the first finds `index` and `id`, which may follow the
/// other members (Azure sorts keys), the second merges every member in place. An `index` that is
/// not a 64-bit integer (`"0"`, `1.0`) leaves the fragment out: taking it as index-less could merge
/// two calls into one.
fn merge_tool_call(calls: &mut ToolCalls, scanner: &mut Scanner<'_>, chunk: &mut Chunk, path: &Path<'_>) -> Merged {
    if append_arguments(calls, scanner, &mut chunk.scratch) {
        return Ok(());
    }
    let start = scanner.position();
    let (mut index, mut id) = (None, None);
    scanner.begin_object()?;
    let mut first = true;
    while let Some(key) = scanner.next_key(&mut first)? {
        let key = str_of(&key)?;
        match (&*key, scanner.peek()?) {
            ("index", Kind::Null) => scanner.null()?,
            ("index", kind) => {
                let small = if kind == Kind::Number { scanner.small_integer() } else { None };
                index = Some(match small {
                    Some(value) => value,
                    None => any_tool_call_index(scanner, kind, path)?,
                });
            }
            ("id", Kind::String) => id = Some(str_of(&scanner.string()?)?).filter(|id| !id.is_empty()),
            _ => {
                scanner.skip().map_err(|error| Failure::Placed(Box::new(report(error.into(), &path.key(&key)))))?;
            }
        }
    }
    let found = match (index, &id) {
        (Some(index), id) => calls.latest_with_index(index).filter(|&at| {
            // Two calls sharing an index happens (copilot-claude): a new id there starts a new call.
            !matches!(id, Some(id) if !calls.calls[at].id.is_empty() && calls.calls[at].id != *id)
        }),
        (None, Some(id)) => calls.latest_with_id(id),
        (None, None) => calls.calls.len().checked_sub(1),
    };
    let at = found.unwrap_or_else(|| calls.push(ToolCall { index, ..ToolCall::default() }));
    if let (Some(id), true) = (id, calls.calls[at].id.is_empty()) {
        calls.set_id(at, id.into_owned());
    }
    let call = &mut calls.calls[at];
    let mut fragment = Scanner::resume(scanner.input(), start);
    fragment.begin_object()?;
    let mut first = true;
    while let Some(key) = fragment.next_key(&mut first)? {
        let key = str_of(&key)?;
        let ty = schema::TOOL_CALL.member(&key);
        let member_path = path.key(&key);
        member(&mut fragment, chunk, &member_path, #[inline(always)] |fragment, chunk| {
            merge_member(&mut call.fields, key.clone(), fragment, &ty, chunk, Mode::Delta, &member_path)
        })?;
    }
    Ok(())
}

/// The fragment that nearly every chunk of a streamed tool call is, `{"index":N,"function":
/// {"arguments":"…"}}` (compact), for a call whose `index` and `function.arguments` are there: the
/// text appended where the general merge below would append it, without its two passes over the
/// fragment (a third of a tool-call chunk's cost). False, the scanner where it was, for anything
/// else, which the general merge then reads (and reports) as always.
#[inline(always)]
fn append_arguments(calls: &mut ToolCalls, scanner: &mut Scanner<'_>, scratch: &mut Vec<u8>) -> bool {
    let mark = scanner.mark();
    let appended = (|| {
        if !scanner.eat(b"{\"index\":") {
            return None;
        }
        let index_start = scanner.position();
        let index = scanner.small_integer()?;
        let index_text = &scanner.input()[index_start..scanner.position()];
        if !scanner.eat(b",\"function\":{\"arguments\":") || scanner.next_byte() != Some(b'"') {
            return None;
        }
        let text = scanner.string().ok()?;
        if !scanner.eat(b"}}") {
            return None;
        }
        // What the general merge finds and does: the latest call of this index (the fragment has no
        // id to tell another call by); its `index`, the same text, stays; the arguments extend.
        let at = calls.latest_with_index(index)?;
        let call = &mut calls.calls[at];
        if !matches!(call.fields.get("index"), Some(Value::Raw(stored)) if stored.as_bytes() == index_text) {
            return None;
        }
        let Some(Value::Object(function)) = call.fields.get_mut("function") else { return None };
        let Some(Value::Str(arguments)) = function.get_mut("arguments") else { return None };
        push_unescaped(arguments, &text, scratch).ok()
    })();
    if appended.is_none() {
        scanner.rewind(mark);
    }
    appended.is_some()
}

/// A tool call's `index` that `small_integer` did not read: a negative one, or a refusal.
#[cold]
#[inline(never)]
fn any_tool_call_index(scanner: &mut Scanner<'_>, kind: Kind, path: &Path<'_>) -> Result<i64, Failure> {
    let at = scanner.position();
    let number = if kind == Kind::Number { Some(scanner.number()?) } else { None };
    match number.as_ref().and_then(|number| number.as_i64()) {
        Some(value) => Ok(value),
        None => {
            let found = number.map_or_else(|| found(kind, None).to_owned(), |number| number.text.to_owned());
            let message = format!("a tool call's index must be a 64-bit integer, found {found}");
            Err(Failure::PlacedMismatch(Box::new(AccumulateError { offset: at, path: path.key("index").render(), message })))
        }
    }
}

/// A list that extends (logprobs, annotations), its elements checked against `item` (by
/// `check_item`, which is `check` of `item` or a faster path to the same outcome) and kept as text.
fn merge_raw_list(
    list: &mut RawList,
    scanner: &mut Scanner<'_>,
    item: &'static Ty,
    check_item: fn(&mut Scanner<'_>, &mut Vec<u8>) -> Result<usize, Refusal>,
    scratch: &mut Vec<u8>,
) -> Merged {
    match scanner.peek()? {
        Kind::Null => {
            scanner.null()?;
            list.saw_null();
        }
        Kind::Array => {
            // One pass, each element checked as it is kept; a bad one takes the list back to where it
            // was, so that the member is left out whole.
            let before = match list {
                RawList::Items(items) => Some(items.len()),
                _ => None,
            };
            let was_null = matches!(list, RawList::Null);
            scanner.begin_array()?;
            let mut first = true;
            let mut at = 0usize;
            while scanner.next_element(&mut first)? {
                scanner.peek()?;
                scanner.spaced();
                match check_item(scanner, scratch) {
                    Ok(start) => {
                        let text = scanner.text_since(start);
                        list.extend(text, !scanner.spaced());
                    }
                    Err(refusal) => {
                        match (list, before) {
                            (RawList::Items(items), Some(length)) => items.truncate(length),
                            (list, _) => *list = if was_null { RawList::Null } else { RawList::Absent },
                        }
                        return Err(refusal.inside(|| format!("[{at}]")).into());
                    }
                }
                at += 1;
            }
            if matches!(list, RawList::Absent | RawList::Null) {
                *list = RawList::Items(String::new());
            }
        }
        kind => return Err(mismatch(scanner.position(), &Ty::List(item), found(kind, None)).into()),
    }
    Ok(())
}

fn merge_logprobs(logprobs: &mut Logprobs, scanner: &mut Scanner<'_>, chunk: &mut Chunk, path: &Path<'_>) -> Merged {
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
        kind => return Err(mismatch(scanner.position(), &schema::LOGPROBS, found(kind, None)).into()),
    }
    logprobs.seen = true;
    logprobs.null_only = false;
    scanner.begin_object()?;
    let mut first = true;
    while let Some(key) = scanner.next_key(&mut first)? {
        let key = str_of(&key)?;
        let member_path = path.key(&key);
        member(scanner, chunk, &member_path, #[inline(always)] |scanner, chunk| match &*key {
            "content" => merge_raw_list(&mut logprobs.content, scanner, &schema::TOKEN_LOGPROB, schema::check_token_logprob, &mut chunk.scratch),
            "refusal" => merge_raw_list(&mut logprobs.refusal, scanner, &schema::TOKEN_LOGPROB, schema::check_token_logprob, &mut chunk.scratch),
            _ => merge_member(&mut logprobs.fields, key.clone(), scanner, &Ty::Any, chunk, Mode::Snapshot, &member_path),
        })?;
    }
    Ok(())
}

fn push_unescaped(target: &mut String, text: &crate::json::JsonStr<'_>, scratch: &mut Vec<u8>) -> Result<(), JsonError> {
    if !text.escaped {
        target.push_str(text.raw_str());
        return Ok(());
    }
    let value = text.unescaped(scratch)?;
    target.push_str(std::str::from_utf8(value).map_err(|_| JsonError { offset: text.offset, kind: JsonErrorKind::InvalidUtf8 })?);
    Ok(())
}

/// Reads a value of type `ty` into an owned `Value`. In objects of a declared type, a null member
/// whose type admits none is left out (it would not build, and null never sets a value).
fn parse_value(scanner: &mut Scanner<'_>, ty: &Ty, scratch: &mut Vec<u8>) -> Result<Value, Refusal> {
    let kind = scanner.peek()?;
    if !ty.admits(kind) {
        return Err(wrong_kind(scanner, ty, kind));
    }
    Ok(match kind {
        Kind::String => {
            let text = scanner.string()?;
            let mut value = String::new();
            push_unescaped(&mut value, &text, scratch)?;
            Value::Str(value)
        }
        Kind::Number => {
            let number = scanner.number()?;
            check_number(&number, ty)?;
            Value::Raw(number.text.into())
        }
        Kind::Bool => Value::Raw(if scanner.boolean()? { "true" } else { "false" }.into()),
        Kind::Null => {
            scanner.null()?;
            Value::Null
        }
        Kind::Array => {
            scanner.begin_array()?;
            let item = ty.item();
            let mut items = Vec::new();
            let mut first = true;
            while scanner.next_element(&mut first)? {
                let at = items.len();
                items.push(parse_value(scanner, &item, scratch).map_err(|refusal| refusal.inside(|| format!("[{at}]")))?);
            }
            Value::Array(Items::from_values(items))
        }
        Kind::Object => {
            scanner.begin_object()?;
            let mut fields = Fields::new();
            let mut first = true;
            while let Some(key) = scanner.next_key(&mut first)? {
                let key = str_of(&key)?.into_owned();
                let member = ty.member(&key);
                if scanner.peek()? == Kind::Null && !member.nullable() {
                    scanner.null()?;
                    continue;
                }
                let value = parse_value(scanner, &member, scratch).map_err(|refusal| refusal.inside(|| format!(".{key}")))?;
                // Duplicate keys: the last one wins, as in msgspec and json.loads.
                fields.set(&key, value);
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
    for (key, value) in choice.fields.iter() {
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
                match message.fields.get("role") {
                    Some(role) if !role.is_null() => write_value(out, role),
                    _ => out.push_str("\"assistant\""),
                }
            }
            "content" => {
                comma.key(out, "content");
                match &message.content {
                    Content::Absent | Content::Null => out.push_str("null"),
                    Content::Text(text) => write_str(out, text),
                    Content::Parts(parts) => write_items(out, parts),
                }
            }
            "tool_calls" => {
                if let Some(calls) = &message.tool_calls {
                    comma.key(out, "tool_calls");
                    if calls.calls.is_empty() {
                        out.push_str("null");
                    } else {
                        // By index, as a non-streamed message lists them; calls sharing an index (or
                        // without one) keep their order of arrival.
                        let mut calls: Vec<&ToolCall> = calls.calls.iter().collect();
                        calls.sort_by_key(|call| call.index.unwrap_or(i64::MAX));
                        write_list(out, calls, write_tool_call);
                    }
                }
            }
            "annotations" => write_raw_list(out, &mut comma, "annotations", &message.annotations),
            name => {
                if let Some(value) = message.fields.get(name) {
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
    for (key, value) in fields.iter() {
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
        match call.fields.get(key) {
            Some(value) => {
                comma.key(out, key);
                write_value(out, value);
            }
            // Providers that omit `type` (Mistral) still get the shape a non-streamed response has.
            None if *key == "type" => {
                let kind = if call.fields.get("custom").is_some() { "custom" } else { "function" };
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
    for (key, value) in logprobs.fields.iter() {
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

fn write_items(out: &mut String, items: &[Value]) {
    write_list(out, items, write_value);
}

/// A JSON array of `items`, each written by `write`.
fn write_list<T>(out: &mut String, items: impl IntoIterator<Item = T>, mut write: impl FnMut(&mut String, T)) {
    out.push('[');
    for (n, item) in items.into_iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        write(out, item);
    }
    out.push(']');
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Json(text) if text.contains("\":") && has_duplicate_keys(text.as_bytes()) => {
            // A kept text that repeats a key: written as the tree it reads as (the last value wins),
            // as it would be had it merged into a tree (which whitespace in an earlier chunk decides).
            match parse_value(&mut Scanner::new(text.as_bytes()).expect("kept text"), &Ty::Any, &mut Vec::new()) {
                Ok(tree) => write_value(out, &tree),
                Err(_) => out.push_str(text),
            }
        }
        Value::Raw(text) | Value::Json(text) => out.push_str(text),
        Value::Str(text) => write_str(out, text),
        Value::Array(items) => write_items(out, &items.values),
        Value::Object(fields) => {
            out.push('{');
            let mut comma = Comma::default();
            for (key, value) in fields.iter() {
                comma.key(out, key);
                write_value(out, value);
            }
            out.push('}');
        }
    }
}

/// An object somewhere in `text` (a kept value: valid, compact JSON) has a member name twice. Runs on
/// every kept object the output writes, so it reads the bytes in one loop rather than through the
/// scanner (a quarter of a short stream's cost with a moderation result kept, that way): in compact
/// JSON a string followed by a colon is a member name. Names with escapes, and objects of more than
/// INDEXED_FROM members, are left to `has_duplicate_keys_read`.
fn has_duplicate_keys(text: &[u8]) -> bool {
    // The names of the open objects, one stack for all (each object uses the part above its start);
    // `usize::MAX` marks an open array.
    let (mut names, mut starts): (Vec<&[u8]>, Vec<usize>) = (Vec::new(), Vec::new());
    let mut at = 0;
    while let Some(&byte) = text.get(at) {
        at += 1;
        match byte {
            b'{' => starts.push(names.len()),
            b'[' => starts.push(usize::MAX),
            b'}' => names.truncate(starts.pop().unwrap_or(0)),
            b']' => {
                starts.pop();
            }
            b'"' => {
                // The scanner's string loop, eight bytes at a time.
                let mut string = Scanner::resume(text, at - 1);
                let Ok(read) = string.string() else { return has_duplicate_keys_read(text) };
                let (start, escaped) = (at, read.escaped);
                at = string.position();
                if text.get(at) != Some(&b':') {
                    continue; // a string value
                }
                let object = starts.last().copied().unwrap_or(usize::MAX);
                if escaped || object == usize::MAX || names.len() - object >= INDEXED_FROM {
                    return has_duplicate_keys_read(text);
                }
                let name = &text[start..at - 1];
                if names[object..].contains(&name) {
                    return true;
                }
                names.push(name);
                at += 1;
            }
            _ => {}
        }
    }
    false
}

/// `has_duplicate_keys` through the scanner: names unescaped, a set for objects with many members.
/// One stack of names serves every object (each uses the part above where it started), so a text
/// without repeated names allocates once.
fn has_duplicate_keys_read(text: &[u8]) -> bool {
    fn value<'a>(scanner: &mut Scanner<'a>, names: &mut Vec<Cow<'a, [u8]>>, scratch: &mut Vec<u8>) -> Result<bool, JsonError> {
        match scanner.peek()? {
            Kind::Object => {
                scanner.begin_object()?;
                let base = names.len();
                let mut seen: Option<std::collections::HashSet<Cow<'a, [u8]>>> = None;
                let mut first = true;
                while let Some(name) = scanner.next_key(&mut first)? {
                    let name: Cow<'a, [u8]> = if name.escaped { Cow::Owned(name.unescaped(scratch)?.to_vec()) } else { Cow::Borrowed(name.raw) };
                    // A scan for the few members of most objects, a set for many.
                    let repeated = match &mut seen {
                        Some(seen) => !seen.insert(name),
                        None if names.len() - base < INDEXED_FROM => {
                            let repeated = names[base..].contains(&name);
                            names.push(name);
                            repeated
                        }
                        None => {
                            let mut set: std::collections::HashSet<_> = names.drain(base..).collect();
                            let repeated = !set.insert(name);
                            seen = Some(set);
                            repeated
                        }
                    };
                    if repeated || value(scanner, names, scratch)? {
                        return Ok(true);
                    }
                }
                names.truncate(base);
                Ok(false)
            }
            Kind::Array => {
                scanner.begin_array()?;
                let mut first = true;
                while scanner.next_element(&mut first)? {
                    if value(scanner, names, scratch)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            _ => scanner.skip().map(|_| false),
        }
    }
    Scanner::new(text).and_then(|mut scanner| value(&mut scanner, &mut Vec::new(), &mut Vec::new())).unwrap_or(false)
}

/// `text` (JSON with whitespace between tokens) is `compact` once that whitespace is dropped.
fn same_compact(text: &str, compact: &str, scratch: &mut Vec<u8>) -> bool {
    if text.len() < compact.len() {
        return false;
    }
    let mut out = String::from_utf8(std::mem::take(scratch)).unwrap_or_default();
    out.clear();
    push_compact(&mut out, text);
    let same = out == compact;
    *scratch = out.into_bytes();
    same
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

/// A JSON string, spelled as everything chatsse writes spells it (`crate::json_write`).
fn write_str(out: &mut String, text: &str) {
    crate::json_write::push_str(out, text);
}

#[cfg(test)]
mod tests;
