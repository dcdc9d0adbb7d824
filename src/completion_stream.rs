//! A completion back into the stream a provider would have sent for it: the chunks, framed as SSE
//! events (`data: {...}`, then `data: [DONE]`) or JSON lines.
//!
//! The rules (README, "completion_to_stream"), each chosen so that accumulating the stream
//! (`crate::accumulate`) gives back the completion:
//! - every chunk carries the completion's `id`, `created`, `model`, `service_tier` and
//!   `system_fingerprint` (those it has), and `"object":"chat.completion.chunk"`; the first chunk also
//!   carries the completion's undeclared top-level members;
//! - per choice, in order: a role chunk (the message's `role`, else `"assistant"`, with every message
//!   member whose value is `null`); `reasoning_content`, `reasoning`, `content` and `refusal`, each
//!   string in pieces of `piece_size` characters; each tool call's header (`index`, its members but
//!   the arguments, `"arguments":""`) then its arguments in pieces (a custom call's `input` the same
//!   way; the legacy `function_call` too); the other message members in one chunk, as they are; a
//!   finish chunk with the `finish_reason` and the choice's undeclared members;
//! - logprobs keep their tokens: when the tokens of `logprobs.content` (or `.refusal`) spell the
//!   message's `content` (or `refusal`) exactly, that text streams one token a chunk, each chunk with
//!   its token's entry; otherwise the text streams in pieces. The other logprobs members (a list
//!   that is not aligned, `"refusal": null`) ride with the choice's first chunk. `"logprobs": null` is repeated on every chunk of its choice, as OpenAI does;
//! - choices take turns, one choice a chunk (as providers stream `n > 1`);
//! - a usage object comes last, in a chunk with `"choices": []` (OpenAI's `include_usage`); a `null`
//!   usage rides on every chunk;
//! - numbers, literals and every value sent whole keep their JSON text (made compact).

use std::borrow::Cow;

use crate::json::{JsonError, JsonErrorKind, Kind, Scanner};
use crate::json_write::{write_str, write_u64};

/// How the events are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `data: {chunk}\n\n` per chunk, then `data: [DONE]\n\n`.
    Sse,
    /// `{chunk}\n` per chunk (JSON lines have no `[DONE]`).
    JsonLines,
}

/// Why a body could not be streamed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    /// Byte offset in the body.
    pub offset: usize,
    /// Where, as a JSON path (`$.choices[1]`).
    pub path: String,
    pub message: String,
}

impl From<JsonError> for StreamError {
    fn from(error: JsonError) -> Self {
        StreamError { offset: error.offset, path: "$".to_owned(), message: error.kind.to_string() }
    }
}

/// The events of one stream, written back to back: event `n` is `bytes[ends[n - 1]..ends[n]]`.
#[derive(Debug, Default)]
pub struct Events {
    pub bytes: Vec<u8>,
    pub ends: Vec<usize>,
}

impl Events {
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter().copied()).map(|(start, end)| &self.bytes[start..end])
    }
}

/// A JSON value of the body: strings unescaped, everything else kept as its text.
#[derive(Debug)]
enum Json<'a> {
    /// A number, `true`, `false` or `null`, as written.
    Literal(&'a str),
    Str(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    fn is_null(&self) -> bool {
        matches!(self, Json::Literal("null"))
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(text) => Some(text),
            _ => None,
        }
    }

    fn members(&self) -> Option<&[(Cow<'a, str>, Json<'a>)]> {
        match self {
            Json::Object(members) => Some(members),
            _ => None,
        }
    }

    fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.members()?.iter().find(|(name, _)| name == key).map(|(_, value)| value)
    }
}

fn parse<'a>(scanner: &mut Scanner<'a>) -> Result<Json<'a>, JsonError> {
    Ok(match scanner.peek()? {
        Kind::String => Json::Str(string(scanner)?),
        Kind::Null | Kind::Bool | Kind::Number => {
            let start = scanner.skip()?;
            Json::Literal(scanner.text_since(start))
        }
        // `begin_*` count the depth and check the native stack every 16 levels (`crate::stack`).
        Kind::Array => {
            scanner.begin_array()?;
            let mut items = Vec::new();
            let mut first = true;
            while scanner.next_element(&mut first)? {
                items.push(parse(scanner)?);
            }
            Json::Array(items)
        }
        Kind::Object => {
            scanner.begin_object()?;
            let mut members = Vec::new();
            let mut first = true;
            while let Some(key) = scanner.next_key(&mut first)? {
                let key = unescaped(&key)?;
                members.push((key, parse(scanner)?));
            }
            Json::Object(members)
        }
    })
}

fn string<'a>(scanner: &mut Scanner<'a>) -> Result<Cow<'a, str>, JsonError> {
    let text = scanner.string()?;
    unescaped(&text)
}

fn unescaped<'a>(text: &crate::json::JsonStr<'a>) -> Result<Cow<'a, str>, JsonError> {
    if !text.escaped {
        return Ok(Cow::Borrowed(text.raw_str()));
    }
    let mut out = Vec::new();
    text.unescape_into(&mut out)?;
    String::from_utf8(out).map(Cow::Owned).map_err(|_| JsonError { offset: text.offset, kind: JsonErrorKind::InvalidUtf8 })
}

/// Compact JSON of a value.
fn write_json(out: &mut Vec<u8>, value: &Json<'_>) {
    match value {
        Json::Literal(text) => out.extend_from_slice(text.as_bytes()),
        Json::Str(text) => write_str(out, text),
        Json::Array(items) => {
            out.push(b'[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_json(out, item);
            }
            out.push(b']');
        }
        Json::Object(members) => {
            out.push(b'{');
            for (n, (key, item)) in members.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                member(out, key, item);
            }
            out.push(b'}');
        }
    }
}

/// `"key":value`.
fn member(out: &mut Vec<u8>, key: &str, value: &Json<'_>) {
    write_str(out, key);
    out.push(b':');
    write_json(out, value);
}

/// The chunk's own members the completion shares with every chunk, in the chunk's declared order.
const HEADER: &[&str] = &["id", "object", "created", "model", "service_tier", "system_fingerprint"];

/// The message members that stream as text, in the order they stream.
const TEXT_MEMBERS: &[&str] = &["reasoning_content", "reasoning", "content", "refusal"];

/// The stream of the completion `body` (one JSON object: a non-streamed response body).
/// `piece_size` is the length of a text piece in characters (at least 1).
pub fn completion_stream(body: &[u8], piece_size: usize, framing: Framing) -> Result<Stream, StreamError> {
    let mut scanner = Scanner::new(body)?;
    let start = scanner.position();
    let completion = parse(&mut scanner)?;
    scanner.end()?;
    let Some(members) = completion.members() else {
        return Err(StreamError { offset: start, path: "$".to_owned(), message: "expected a completion (a JSON object)".to_owned() });
    };
    let piece_size = piece_size.max(1);
    let mut header = Vec::new();
    header.push(b'{');
    for key in HEADER {
        if *key == "object" {
            header.extend_from_slice(br#""object":"chat.completion.chunk","#);
        } else if let Some(value) = completion.get(key) {
            member(&mut header, key, value);
            header.push(b',');
        }
    }
    let usage = completion.get("usage");
    let null_usage = usage.is_some_and(Json::is_null);
    let mut extras = Vec::new();
    for (key, value) in members {
        if !HEADER.contains(&key.as_ref()) && key != "choices" && key != "usage" {
            extras.push(b',');
            member(&mut extras, key, value);
        }
    }
    let choices: &[Json<'_>] = match completion.get("choices") {
        None => &[],
        Some(Json::Array(choices)) => choices,
        Some(_) => return Err(shape_error("$.choices", "expected an array")),
    };
    let mut per_choice = Vec::with_capacity(choices.len());
    for (position, choice) in choices.iter().enumerate() {
        if choice.members().is_none() {
            return Err(shape_error(&format!("$.choices[{position}]"), "expected an object"));
        }
        per_choice.push(choice_chunks(choice, position, piece_size));
    }

    let mut usage_text = |usage: &Json<'_>| {
        let mut text = b",".to_vec();
        member(&mut text, "usage", usage);
        text
    };
    let every_chunk_usage = if null_usage { usage.map(&mut usage_text).unwrap_or_default() } else { Vec::new() };
    let last_usage = usage.filter(|usage| !usage.is_null()).map(usage_text);
    Ok(Stream { framing, header, extras, every_chunk_usage, last_usage, choices: per_choice })
}

/// The chunks of a completion's stream, ready to be framed: the parts each event is made of, so that
/// a caller can write each event where it wants it (the binding: straight into its `bytes`).
#[derive(Debug)]
pub struct Stream {
    framing: Framing,
    /// `{"id":...,"object":"chat.completion.chunk",...,` up to the choices.
    header: Vec<u8>,
    /// `,"name":value` of the completion's undeclared members, for the first chunk.
    extras: Vec<u8>,
    /// `,"usage":null` when the completion's usage is null, else empty.
    every_chunk_usage: Vec<u8>,
    /// `,"usage":{...}` for the last chunk.
    last_usage: Option<Vec<u8>>,
    /// Per choice, its choice objects.
    choices: Vec<Events>,
}

impl Stream {
    /// Calls `emit` with the parts of each event, in order (an event is its parts joined).
    pub fn for_each_event(&self, mut emit: impl FnMut(&[&[u8]])) {
        let (before, after): (&[u8], &[u8]) = match self.framing {
            Framing::Sse => (b"data: ", b"\n\n"),
            Framing::JsonLines => (b"", b"\n"),
        };
        let mut first = true;
        let mut chunk = |choice: &[u8], usage: &[u8]| {
            let extras: &[u8] = if first { &self.extras } else { b"" };
            first = false;
            emit(&[before, &self.header, b"\"choices\":[", choice, b"]", usage, extras, b"}", after]);
        };
        let rounds = self.choices.iter().map(|chunks| chunks.ends.len()).max().unwrap_or(0);
        let mut iterators: Vec<_> = self.choices.iter().map(Events::iter).collect();
        for _ in 0..rounds {
            for chunks in &mut iterators {
                if let Some(choice) = chunks.next() {
                    chunk(choice, &self.every_chunk_usage);
                }
            }
        }
        match &self.last_usage {
            Some(usage) => chunk(b"", usage),
            // No choices, no usage: one chunk still carries the header and the extras.
            None if rounds == 0 => chunk(b"", &self.every_chunk_usage),
            None => {}
        }
        if self.framing == Framing::Sse {
            emit(&[b"data: [DONE]\n\n"]);
        }
    }

    /// The events, written back to back.
    pub fn events(&self) -> Events {
        let mut events = Events::default();
        self.for_each_event(|parts| {
            for part in parts {
                events.bytes.extend_from_slice(part);
            }
            events.ends.push(events.bytes.len());
        });
        events
    }
}

#[cold]
fn shape_error(path: &str, message: &str) -> StreamError {
    // Shapes are checked on the parsed tree; the offset is the body's start.
    StreamError { offset: 0, path: path.to_owned(), message: message.to_owned() }
}

/// The choice objects of one choice's chunks, in order (as `Events`: back to back, with their ends).
fn choice_chunks(choice: &Json<'_>, position: usize, piece_size: usize) -> Events {
    let mut index = Vec::new();
    match choice.get("index") {
        Some(value) => write_json(&mut index, value),
        None => write_u64(&mut index, position as u64),
    }
    let message = choice.get("message").filter(|message| message.members().is_some());
    let logprobs = choice.get("logprobs");
    let lists = |name: &str| logprobs.and_then(|lp| lp.get(name)).filter(|list| matches!(list, Json::Array(_)));
    let text_of = |name: &str| message.and_then(|m| m.get(name)).and_then(Json::as_str);
    let aligned = ["content", "refusal"]
        .into_iter()
        .filter(|name| matches!((lists(name), text_of(name)), (Some(list), Some(text)) if spells(list, text)))
        .collect();
    let mut writer = ChoiceWriter {
        index: &index,
        logprobs,
        aligned,
        pending_logprobs: logprobs.is_some_and(|lp| !lp.is_null()),
        out: Vec::new(),
        ends: Vec::new(),
    };

    // The role chunk: the role, and every member whose value is null (a member seen only as null
    // stays null in the completion).
    let mut delta = vec![b'{'];
    match message.and_then(|m| m.get("role")).and_then(Json::as_str) {
        Some(role) => {
            delta.extend_from_slice(br#""role":"#);
            write_str(&mut delta, role);
        }
        None => delta.extend_from_slice(br#""role":"assistant""#),
    }
    let members: &[(Cow<'_, str>, Json<'_>)] = message.and_then(Json::members).unwrap_or(&[]);
    for (key, value) in members {
        if value.is_null() && key != "role" {
            delta.push(b',');
            member(&mut delta, key, value);
        }
    }
    delta.push(b'}');
    writer.push(&delta, None, None);

    for name in TEXT_MEMBERS {
        let Some(text) = text_of(name) else { continue };
        match lists(name) {
            Some(Json::Array(entries)) if writer.aligned.contains(name) => {
                for entry in entries {
                    let token = entry.get("token").and_then(Json::as_str).unwrap_or_default();
                    writer.push_with(|out| text_delta(out, name, token), Some((name, entry)), None);
                }
            }
            _ => {
                for piece in pieces(text, piece_size) {
                    writer.push_with(|out| text_delta(out, name, piece), None, None);
                }
            }
        }
    }
    if let Some(Json::Array(calls)) = message.and_then(|m| m.get("tool_calls")) {
        if calls.iter().all(|call| call.members().is_some()) {
            for (position, call) in calls.iter().enumerate() {
                tool_call(&mut writer, call, position, piece_size);
            }
        }
    }
    if let Some(call @ Json::Object(_)) = message.and_then(|m| m.get("function_call")) {
        fragments(&mut writer, "function_call", call, "arguments", piece_size);
    }
    // Whatever else the message holds, as it is, in one chunk.
    let mut rest = vec![b'{'];
    for (key, value) in members {
        let streamed = value.is_null()
            || key == "role"
            || (TEXT_MEMBERS.contains(&key.as_ref()) && value.as_str().is_some())
            || (key == "tool_calls" && matches!(value, Json::Array(calls) if calls.iter().all(|call| call.members().is_some())))
            || (key == "function_call" && value.members().is_some());
        if !streamed {
            if rest.len() > 1 {
                rest.push(b',');
            }
            member(&mut rest, key, value);
        }
    }
    if rest.len() > 1 {
        rest.push(b'}');
        writer.push(&rest, None, None);
    }

    // The finish chunk: the reason and the choice's own undeclared members.
    let mut finish = Vec::new();
    finish.extend_from_slice(br#","finish_reason":"#);
    match choice.get("finish_reason") {
        Some(reason) => write_json(&mut finish, reason),
        None => finish.extend_from_slice(b"null"),
    }
    for (key, value) in choice.members().unwrap_or(&[]) {
        if !matches!(key.as_ref(), "index" | "message" | "delta" | "logprobs" | "finish_reason") {
            finish.push(b',');
            member(&mut finish, key, value);
        }
    }
    writer.push(b"{}", None, Some(&finish));
    Events { bytes: writer.out, ends: writer.ends }
}

/// A delta of one text member.
fn text_delta(out: &mut Vec<u8>, name: &str, text: &str) {
    out.push(b'{');
    write_str(out, name);
    out.push(b':');
    write_str(out, text);
    out.push(b'}');
}

/// A tool call: its header (`index` and every member but the arguments or input, which start
/// empty), then the arguments (or a custom call's input) in pieces.
fn tool_call(writer: &mut ChoiceWriter<'_, '_>, call: &Json<'_>, position: usize, piece_size: usize) {
    let (inner, text) = match (call.get("function"), call.get("custom")) {
        (Some(function @ Json::Object(_)), _) => (Some(("function", function)), "arguments"),
        (_, Some(custom @ Json::Object(_))) => (Some(("custom", custom)), "input"),
        _ => (None, "arguments"),
    };
    // `{"tool_calls":[{"index":N`: the start of the header and of every piece.
    let mut open = Vec::new();
    open.extend_from_slice(br#"{"tool_calls":[{"index":"#);
    write_u64(&mut open, position as u64);
    let mut head = open.clone();
    for (key, value) in call.members().unwrap_or(&[]) {
        head.push(b',');
        match inner {
            Some((name, fields)) if key == name => {
                write_str(&mut head, key);
                head.push(b':');
                head_of(&mut head, fields, text);
            }
            _ => member(&mut head, key, value),
        }
    }
    head.extend_from_slice(b"}]}");
    writer.push(&head, None, None);
    let Some((name, fields)) = inner else { return };
    open.push(b',');
    text_pieces(writer, &open, b"}]}", name, fields, text, piece_size);
}

/// The legacy `function_call`: its header, then its arguments in pieces.
fn fragments(writer: &mut ChoiceWriter<'_, '_>, name: &str, fields: &Json<'_>, text: &str, piece_size: usize) {
    let mut head = vec![b'{'];
    write_str(&mut head, name);
    head.push(b':');
    head_of(&mut head, fields, text);
    head.push(b'}');
    writer.push(&head, None, None);
    text_pieces(writer, b"{", b"}", name, fields, text, piece_size);
}

/// The string member `text` of `fields` (a call's arguments or input) in pieces, one delta each:
/// `open`, then `"name":{"text":"piece"}`, then `close` (a tool call's `{"tool_calls":[{"index":N,`
/// and `}]}`; `{` and `}` for the legacy `function_call`).
fn text_pieces(writer: &mut ChoiceWriter<'_, '_>, open: &[u8], close: &[u8], name: &str, fields: &Json<'_>, text: &str, piece_size: usize) {
    let Some(whole) = fields.get(text).and_then(Json::as_str) else { return };
    for piece in pieces(whole, piece_size).filter(|piece| !piece.is_empty()) {
        let mut delta = open.to_vec();
        write_str(&mut delta, name);
        delta.extend_from_slice(b":{");
        write_str(&mut delta, text);
        delta.push(b':');
        write_str(&mut delta, piece);
        delta.push(b'}');
        delta.extend_from_slice(close);
        writer.push(&delta, None, None);
    }
}

/// An object with its string member `text` emptied (the pieces follow).
fn head_of(out: &mut Vec<u8>, fields: &Json<'_>, text: &str) {
    out.push(b'{');
    for (n, (key, value)) in fields.members().unwrap_or(&[]).iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        if key == text && value.as_str().is_some() {
            write_str(out, key);
            out.extend_from_slice(b":\"\"");
        } else {
            member(out, key, value);
        }
    }
    out.push(b'}');
}

/// The tokens of a logprobs list spell `text` exactly (each entry an object with a string `token`).
fn spells(list: &Json<'_>, text: &str) -> bool {
    let Json::Array(entries) = list else { return false };
    let mut rest = text;
    for entry in entries {
        let Some(token) = entry.get("token").and_then(Json::as_str) else { return false };
        let Some(after) = rest.strip_prefix(token) else { return false };
        rest = after;
    }
    rest.is_empty() && !entries.is_empty()
}

/// `text` in pieces of `size` characters (one empty piece for an empty text: an empty string must
/// still arrive to be a string).
fn pieces(text: &str, size: usize) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        let end = current.char_indices().nth(size).map_or(current.len(), |(at, _)| at);
        let (piece, after) = current.split_at(end);
        rest = (!after.is_empty()).then_some(after);
        Some(piece)
    })
}

/// Writes the choice objects of one choice, placing its logprobs.
struct ChoiceWriter<'c, 'a> {
    index: &'c [u8],
    logprobs: Option<&'c Json<'a>>,
    /// The `logprobs` lists whose entries go out one a chunk with their tokens.
    aligned: Vec<&'static str>,
    /// The logprobs members other than the aligned lists are still to be sent (with the next chunk).
    pending_logprobs: bool,
    /// The choice objects, back to back (one buffer: an allocation per chunk was a third of the time).
    out: Vec<u8>,
    ends: Vec<usize>,
}

impl ChoiceWriter<'_, '_> {
    /// One choice object: `delta`, the logprobs owed (the entry of the token this chunk carries, and
    /// on the choice's first chunk every other logprobs member), and the finish reason's members
    /// (`finish`, else `"finish_reason":null`).
    fn push(&mut self, delta: &[u8], entry: Option<(&str, &Json<'_>)>, finish: Option<&[u8]>) {
        self.push_with(|out| out.extend_from_slice(delta), entry, finish);
    }

    /// `push`, with the delta written by `delta`.
    fn push_with(&mut self, delta: impl FnOnce(&mut Vec<u8>), entry: Option<(&str, &Json<'_>)>, finish: Option<&[u8]>) {
        let out = &mut self.out;
        out.extend_from_slice(br#"{"index":"#);
        out.extend_from_slice(self.index);
        out.extend_from_slice(br#","delta":"#);
        delta(out);
        match self.logprobs {
            Some(null) if null.is_null() => out.extend_from_slice(br#","logprobs":null"#),
            Some(Json::Object(members)) => {
                let mut body = Vec::new();
                for (key, value) in members {
                    match entry {
                        Some((name, token)) if name == key => member_list(&mut body, key, token),
                        _ if self.pending_logprobs && !self.aligned.contains(&key.as_ref()) => {
                            if !body.is_empty() {
                                body.push(b',');
                            }
                            member(&mut body, key, value);
                        }
                        _ => {}
                    }
                }
                self.pending_logprobs = false;
                if !body.is_empty() {
                    out.extend_from_slice(br#","logprobs":{"#);
                    out.extend_from_slice(&body);
                    out.push(b'}');
                }
            }
            Some(other) if self.pending_logprobs => {
                out.extend_from_slice(br#","logprobs":"#);
                write_json(out, other);
                self.pending_logprobs = false;
            }
            _ => {}
        }
        match finish {
            Some(finish) => out.extend_from_slice(finish),
            None => out.extend_from_slice(br#","finish_reason":null"#),
        }
        out.push(b'}');
        self.ends.push(out.len());
    }
}

/// `"key":[entry]`, after a comma when `out` already holds a member.
fn member_list(out: &mut Vec<u8>, key: &str, entry: &Json<'_>) {
    if !out.is_empty() {
        out.push(b',');
    }
    write_str(out, key);
    out.extend_from_slice(b":[");
    write_json(out, entry);
    out.push(b']');
}

#[cfg(test)]
mod tests;
