//! Rewriting a chat stream in flight: rules that set, drop or rename members of each chunk, and drop
//! the chunks that carry only usage, applied to the raw bytes so that whatever no rule touches goes
//! out as it came (comments, `event:`/`id:`/`retry:` lines, untouched events, and inside a touched
//! chunk the order, spacing and number spellings of the members left alone).
//!
//! The framing is `payload_stream`'s (its payloads say where their data and their whole event lie in
//! the stream); the JSON is read with `json::Scanner`. `Rules::rewrite` edits one payload;
//! `Rewriter` keeps the raw bytes of the event still open and splices each edit into the output.
//!
//! Paths are member names joined by dots, from the chunk's top level: `model`,
//! `choices.delta.reasoning`. Where a member's value is an array, the rest of the path applies to
//! each element (`choices` runs over every choice, `choices.delta.tool_calls.function.name` over
//! every tool call).

use std::fmt;

use crate::json::{JsonError, Kind, Scanner};
use crate::payload_stream::Payload;

/// What a rule does to the member its path names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Drop,
    /// Replace the value (or add the member, at the end of its object, when absent): the value's JSON.
    Set(Vec<u8>),
    /// Give the member another name: the new name's JSON string, quotes included.
    Rename(Vec<u8>),
    /// Rules for members inside this member's value (an object, or each element of an array).
    Inside(Node),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Node {
    /// Member name (unescaped) and its rule.
    members: Vec<(Vec<u8>, Action)>,
}

/// A rule that cannot be taken, with the path it was given for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleError {
    /// Empty, or with an empty member name (`a..b`, `.a`).
    BadPath { path: String },
    /// Two rules name the same member, or one names a member inside another's.
    Conflict { path: String, other: String },
    /// A set value that is not one JSON document.
    BadValue { path: String, error: JsonError },
    /// More than 64 rules on the members of one object.
    TooManyRules { path: String },
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleError::BadPath { path } => write!(f, "{path:?} is not a path: member names joined by dots, none of them empty"),
            RuleError::Conflict { path, other } => {
                write!(f, "the rules for {path:?} and {other:?} overlap: each member takes one rule, and no rule may name a member inside another's")
            }
            RuleError::BadValue { path, error } => write!(f, "the value set at {path:?} is not one JSON document: {error}"),
            RuleError::TooManyRules { path } => write!(f, "{path:?}: at most {MAX_RULES_PER_OBJECT} rules on the members of one object"),
        }
    }
}

impl std::error::Error for RuleError {}

/// What `Rules::rewrite` made of a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No rule applies: the payload goes out as it came.
    Untouched,
    /// The rewritten payload is in the output buffer.
    Rewritten,
    /// A chunk that carries only usage, for a client that did not ask for it: the whole event goes.
    DropEvent,
}

/// Each path given so far, as written, with what kind of rule it is (for conflict messages).
#[derive(Debug, Clone, Default)]
pub struct Rules {
    root: Node,
    paths: Vec<String>,
    drop_usage_only: bool,
}

/// Rules on the members of one object are tracked as bits of a u64 while it is read.
const MAX_RULES_PER_OBJECT: usize = 64;

impl Rules {
    pub fn new() -> Self {
        Rules::default()
    }

    /// No rule at all: every payload is untouched.
    pub fn is_empty(&self) -> bool {
        self.root.members.is_empty() && !self.drop_usage_only
    }

    /// Sets the member at `path` to `value` (one JSON document, kept compact as given).
    pub fn set(&mut self, path: &str, value: &[u8]) -> Result<(), RuleError> {
        let mut scanner = Scanner::new(value).map_err(|error| RuleError::BadValue { path: path.to_owned(), error })?;
        let checked = scanner.skip().and_then(|_| scanner.end());
        checked.map_err(|error| RuleError::BadValue { path: path.to_owned(), error })?;
        self.add(path, Action::Set(value.trim_ascii().to_vec()))
    }

    /// Drops the member at `path`.
    pub fn drop(&mut self, path: &str) -> Result<(), RuleError> {
        self.add(path, Action::Drop)
    }

    /// Renames the member at `path` to `name` (in its place; a member already called `name` in the
    /// same object is dropped, so that the object keeps one).
    pub fn rename(&mut self, path: &str, name: &str) -> Result<(), RuleError> {
        let segments = split(path)?;
        let mut target = segments[..segments.len() - 1].join(".");
        if !target.is_empty() {
            target.push('.');
        }
        target.push_str(name);
        // The new name is a member of the same object: no other rule may name it.
        if let Some(other) = self.paths.iter().find(|other| overlaps(&target, other)) {
            return Err(RuleError::Conflict { path: path.to_owned(), other: other.clone() });
        }
        self.add(path, Action::Rename(json_string(name)))?;
        self.paths.push(target);
        Ok(())
    }

    /// Drops the events whose chunk has `"choices": []` and a usage object with members: the chunk
    /// `stream_options.include_usage` adds.
    pub fn drop_usage_only(&mut self, on: bool) {
        self.drop_usage_only = on;
    }

    fn add(&mut self, path: &str, action: Action) -> Result<(), RuleError> {
        let segments = split(path)?;
        if let Some(other) = self.paths.iter().find(|other| overlaps(path, other)) {
            return Err(RuleError::Conflict { path: path.to_owned(), other: other.clone() });
        }
        let mut node = &mut self.root;
        let (last, parents) = segments.split_last().expect("split gives one segment at least");
        for segment in parents {
            let at = match node.members.iter().position(|(name, _)| name == segment.as_bytes()) {
                Some(at) => at,
                None => {
                    node.members.push((segment.as_bytes().to_vec(), Action::Inside(Node::default())));
                    node.members.len() - 1
                }
            };
            let Action::Inside(inner) = &mut node.members[at].1 else { unreachable!("overlaps() found the conflict") };
            node = inner;
        }
        if node.members.len() >= MAX_RULES_PER_OBJECT {
            return Err(RuleError::TooManyRules { path: path.to_owned() });
        }
        node.members.push((last.as_bytes().to_vec(), action));
        self.paths.push(path.to_owned());
        Ok(())
    }

    /// Rewrites one chunk payload into `out` (cleared first). A payload that is not a JSON object is
    /// left untouched; invalid JSON is an error (the caller leaves the payload untouched too).
    pub fn rewrite(&self, payload: &[u8], out: &mut Vec<u8>, scratch: &mut Vec<u8>) -> Result<Verdict, JsonError> {
        out.clear();
        if self.is_empty() {
            return Ok(Verdict::Untouched);
        }
        let mut scanner = Scanner::new(payload)?;
        if scanner.peek()? != Kind::Object {
            return Ok(Verdict::Untouched);
        }
        let mut editor = Editor { input: payload, out, copied: 0, edited: false };
        let mut usage_only = UsageOnly { wanted: self.drop_usage_only, ..UsageOnly::default() };
        walk_object(&mut scanner, &self.root, &mut editor, scratch, Some(&mut usage_only))?;
        scanner.end()?;
        if usage_only.empty_choices && usage_only.usage {
            return Ok(Verdict::DropEvent);
        }
        if !editor.edited {
            return Ok(Verdict::Untouched);
        }
        editor.finish();
        Ok(Verdict::Rewritten)
    }
}

/// Member names of a path; an error for an empty one.
fn split(path: &str) -> Result<Vec<&str>, RuleError> {
    let segments: Vec<&str> = path.split('.').collect();
    if segments.iter().any(|segment| segment.is_empty()) {
        return Err(RuleError::BadPath { path: path.to_owned() });
    }
    Ok(segments)
}

/// One path equals the other or names a member inside it.
fn overlaps(a: &str, b: &str) -> bool {
    let within = |inner: &str, outer: &str| inner.len() > outer.len() && inner.starts_with(outer) && inner.as_bytes()[outer.len()] == b'.';
    a == b || within(a, b) || within(b, a)
}

/// A member name as a JSON string (quotes included): escapes only what JSON requires.
fn json_string(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    out.push(b'"');
    for &byte in name.as_bytes() {
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x00..=0x1f => out.extend_from_slice(format!("\\u{byte:04x}").as_bytes()),
            _ => out.push(byte),
        }
    }
    out.push(b'"');
    out
}

/// What the top level says about the usage-only chunk.
#[derive(Default)]
struct UsageOnly {
    wanted: bool,
    empty_choices: bool,
    usage: bool,
}

/// The output of one payload: the input copied up to each edit, the edit, and so on.
struct Editor<'a> {
    input: &'a [u8],
    out: &'a mut Vec<u8>,
    /// Input before this is copied (or replaced).
    copied: usize,
    edited: bool,
}

impl Editor<'_> {
    /// Replaces `input[start..end]` with `with`.
    fn edit(&mut self, start: usize, end: usize, with: &[u8]) {
        self.out.extend_from_slice(&self.input[self.copied..start]);
        self.out.extend_from_slice(with);
        self.copied = end;
        self.edited = true;
    }

    fn finish(&mut self) {
        self.out.extend_from_slice(&self.input[self.copied..]);
        self.copied = self.input.len();
    }
}

/// Applies `node` to the object the scanner is at (after `peek` said Object).
fn walk_object(
    scanner: &mut Scanner<'_>,
    node: &Node,
    editor: &mut Editor<'_>,
    scratch: &mut Vec<u8>,
    mut top: Option<&mut UsageOnly>,
) -> Result<(), JsonError> {
    scanner.begin_object()?;
    let after_brace = scanner.position();
    // A member of a renamed member's new name is dropped: seen ahead, as it may come first.
    let mut taken = 0u64; // bit i: a rename of node.members[i] whose new name is in this object
    if node.members.iter().any(|(_, action)| matches!(action, Action::Rename(_))) {
        taken = renamed_onto(scanner, node, scratch)?;
    }
    let mut first = true;
    let mut kept_any = false;
    // The start of the members dropped before any was kept: removed with the next kept one's comma.
    let mut dropped_front: Option<usize> = None;
    let mut last_end = after_brace;
    let mut set_seen = 0u64;
    while let Some(key) = scanner.next_key(&mut first)? {
        let key_start = key.offset;
        let key_end = key_start + key.raw.len() + 2;
        let name = key.unescaped(scratch)?;
        let rule = node.members.iter().position(|(member, _)| member == name);
        let replaced_by_rename = taken != 0 && node.members.iter().enumerate().any(|(i, (_, action))| {
            taken & (1 << i) != 0 && matches!(action, Action::Rename(new) if &new[1..new.len() - 1] == name)
        });
        if let Some(usage_only) = top.as_deref_mut().filter(|u| u.wanted) {
            match name {
                b"choices" => usage_only.empty_choices = is_empty_array(scanner)?,
                b"usage" => usage_only.usage = is_object_with_members(scanner)?,
                _ => {}
            }
        }
        let action = rule.map(|at| &node.members[at].1);
        let dropped = replaced_by_rename || matches!(action, Some(Action::Drop));
        if !dropped {
            if let Some(start) = dropped_front.take() {
                editor.edit(start, key_start, b"");
            }
        }
        let value_start = {
            scanner.peek()?;
            scanner.position()
        };
        match action {
            _ if dropped => {
                scanner.skip()?;
            }
            None => {
                scanner.skip()?;
            }
            Some(Action::Drop) => unreachable!("dropped above"),
            Some(Action::Set(value)) => {
                scanner.skip()?;
                if &editor.input[value_start..scanner.position()] != value.as_slice() {
                    editor.edit(value_start, scanner.position(), value);
                }
                set_seen |= 1 << rule.expect("a rule");
            }
            Some(Action::Rename(new_name)) => {
                editor.edit(key_start, key_end, new_name);
                scanner.skip()?;
            }
            Some(Action::Inside(inner)) => walk_value(scanner, inner, editor, scratch)?,
        }
        let value_end = scanner.position();
        if dropped {
            if kept_any {
                editor.edit(last_end, value_end, b""); // its comma before it goes with it
            } else {
                dropped_front.get_or_insert(key_start);
            }
        } else {
            kept_any = true;
        }
        last_end = value_end;
    }
    // Set rules for members the object lacks: added at its end.
    let mut added = Vec::new();
    for (at, (name, action)) in node.members.iter().enumerate() {
        if let Action::Set(value) = action {
            if set_seen & (1 << at) == 0 {
                if kept_any || !added.is_empty() {
                    added.push(b',');
                }
                added.extend_from_slice(&json_string(&String::from_utf8_lossy(name)));
                added.push(b':');
                added.extend_from_slice(value);
            }
        }
    }
    match dropped_front {
        Some(start) => editor.edit(start, last_end, &added),
        None if !added.is_empty() => editor.edit(last_end, last_end, &added),
        None => {}
    }
    Ok(())
}

/// Applies `node` to a member's value: an object, or each object of an array (at any depth).
fn walk_value(scanner: &mut Scanner<'_>, node: &Node, editor: &mut Editor<'_>, scratch: &mut Vec<u8>) -> Result<(), JsonError> {
    match scanner.peek()? {
        Kind::Object => walk_object(scanner, node, editor, scratch, None),
        Kind::Array => {
            scanner.begin_array()?;
            let mut first = true;
            while scanner.next_element(&mut first)? {
                walk_value(scanner, node, editor, scratch)?;
            }
            Ok(())
        }
        _ => scanner.skip().map(|_| ()),
    }
}

/// The renames of `node` whose member and new name are both members of the object the scanner is in
/// (just after its `{`), as bits over `node.members`. Reads ahead on a second scanner.
fn renamed_onto(scanner: &Scanner<'_>, node: &Node, scratch: &mut Vec<u8>) -> Result<u64, JsonError> {
    let mut ahead = Scanner::at(scanner);
    let mut first = true;
    let (mut sources, mut targets) = (0u64, 0u64);
    while let Some(key) = ahead.next_key(&mut first)? {
        let name = key.unescaped(scratch)?;
        for (i, (source, action)) in node.members.iter().enumerate() {
            if let Action::Rename(new) = action {
                sources |= u64::from(source == name) << i;
                targets |= u64::from(&new[1..new.len() - 1] == name) << i;
            }
        }
        ahead.skip()?;
    }
    // Only a rename that happens takes the name from the member that has it.
    Ok(sources & targets)
}

/// The value ahead is `[]` (the scanner is left where it was).
fn is_empty_array(scanner: &mut Scanner<'_>) -> Result<bool, JsonError> {
    if scanner.peek()? != Kind::Array {
        return Ok(false);
    }
    let mut ahead = Scanner::at(scanner);
    ahead.begin_array()?;
    Ok(!ahead.next_element(&mut true)?)
}

/// The value ahead is an object with at least one member (the scanner is left where it was).
fn is_object_with_members(scanner: &mut Scanner<'_>) -> Result<bool, JsonError> {
    if scanner.peek()? != Kind::Object {
        return Ok(false);
    }
    let mut ahead = Scanner::at(scanner);
    ahead.begin_object()?;
    Ok(ahead.next_key(&mut true)?.is_some())
}

/// A stream being rewritten: the raw bytes not yet given out (the event still open) and where the
/// output stands in the stream. The framing and merging are the caller's (`PayloadStream` and the
/// accumulator): it calls `start` with each piece, `payload` for each payload it merged as a chunk,
/// then `end` (or `pass_rest` when the framing failed).
#[derive(Debug, Clone, Default)]
pub struct Rewriter {
    rules: Rules,
    /// Raw bytes from `cursor` on that are not given out yet; during a feed, the piece is appended
    /// to them when they are not empty (`in_held`).
    held: Vec<u8>,
    /// Stream offset of `held[0]`, and of the piece's first byte when `held` was empty.
    base: u64,
    in_held: bool,
    /// Stream offset up to which the raw bytes have been given out or replaced.
    cursor: u64,
    /// A dropped event ended with a CR: an LF right after it is that line ending's, dropped too.
    skip_lf: bool,
    /// After a framing error nothing can be framed: every byte goes out as it came.
    passthrough: bool,
    edited: Vec<u8>,
    scratch: Vec<u8>,
}

impl Rewriter {
    pub fn new(rules: Rules) -> Self {
        Rewriter { rules, ..Rewriter::default() }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Takes the next piece: call before framing it.
    pub fn start(&mut self, input: &[u8]) {
        self.in_held = !self.held.is_empty();
        if self.in_held {
            self.held.extend_from_slice(input);
        } else {
            self.base = self.cursor;
        }
    }

    /// A payload of the piece that the accumulator merged as a chunk: rewritten in place.
    pub fn payload(&mut self, input: &[u8], payload: &Payload<'_>, out: &mut Vec<u8>) {
        if self.passthrough {
            return;
        }
        let verdict = self.rules.rewrite(payload.bytes, &mut self.edited, &mut self.scratch);
        let raw = if self.in_held { &self.held[..] } else { input };
        let mut view = Raw { bytes: raw, base: self.base, cursor: &mut self.cursor, skip_lf: &mut self.skip_lf };
        match verdict {
            Ok(Verdict::Untouched) | Err(_) => {}
            Ok(Verdict::DropEvent) => {
                view.copy_to(payload.event_start, out);
                view.skip_to(payload.event_end);
                *view.skip_lf = payload.event_end > 0 && view.byte(payload.event_end - 1) == Some(b'\r');
            }
            Ok(Verdict::Rewritten) if payload.line_starts.is_empty() => {
                view.copy_to(payload.offset, out);
                out.extend_from_slice(&self.edited);
                view.skip_to(payload.offset + payload.bytes.len() as u64);
            }
            Ok(Verdict::Rewritten) => view.replace_data_lines(payload, &self.edited, out),
        }
    }

    /// The piece is framed: what is complete (up to `complete_offset`) goes out, the rest is held.
    pub fn end(&mut self, input: &[u8], complete_offset: u64, out: &mut Vec<u8>) {
        let raw = if self.in_held { &self.held[..] } else { input };
        let mut view = Raw { bytes: raw, base: self.base, cursor: &mut self.cursor, skip_lf: &mut self.skip_lf };
        view.copy_to(complete_offset, out);
        self.keep_rest(input);
    }

    /// The framing failed (or the body ends): every byte not yet given out goes out as it came.
    pub fn pass_rest(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let raw = if self.in_held { &self.held[..] } else { input };
        let end = self.base + raw.len() as u64;
        let mut view = Raw { bytes: raw, base: self.base, cursor: &mut self.cursor, skip_lf: &mut self.skip_lf };
        view.copy_to(end, out);
        self.keep_rest(input);
    }

    /// From now on every piece goes out as it came (after a framing error).
    pub fn pass_through(&mut self) {
        self.passthrough = true;
    }

    pub fn passing_through(&self) -> bool {
        self.passthrough
    }

    /// Keeps the raw bytes from the cursor on for the next piece.
    fn keep_rest(&mut self, input: &[u8]) {
        let from = (self.cursor - self.base) as usize;
        if self.in_held {
            self.held.drain(..from.min(self.held.len()));
        } else {
            self.held.clear();
            self.held.extend_from_slice(input.get(from..).unwrap_or_default());
        }
        self.base = self.cursor;
        self.in_held = false;
    }
}

/// The raw bytes of the stream available during one piece, and the output's place in them.
struct Raw<'a> {
    bytes: &'a [u8],
    /// Stream offset of `bytes[0]`.
    base: u64,
    cursor: &'a mut u64,
    skip_lf: &'a mut bool,
}

impl Raw<'_> {
    fn byte(&self, offset: u64) -> Option<u8> {
        offset.checked_sub(self.base).and_then(|at| self.bytes.get(at as usize).copied())
    }

    /// Gives out the raw bytes from the cursor to `to`.
    fn copy_to(&mut self, to: u64, out: &mut Vec<u8>) {
        if to <= *self.cursor {
            return;
        }
        if std::mem::take(self.skip_lf) && self.byte(*self.cursor) == Some(b'\n') {
            *self.cursor += 1;
        }
        let (from, to_index) = ((*self.cursor - self.base) as usize, (to - self.base) as usize);
        if from < to_index {
            out.extend_from_slice(&self.bytes[from..to_index]);
        }
        *self.cursor = (*self.cursor).max(to);
    }

    /// Leaves out the raw bytes from the cursor to `to`.
    fn skip_to(&mut self, to: u64) {
        if to > *self.cursor {
            if std::mem::take(self.skip_lf) && self.byte(*self.cursor) == Some(b'\n') {
                *self.cursor += 1;
            }
            *self.cursor = (*self.cursor).max(to);
        }
    }

    /// Data over several `data:` lines, rewritten: the rewritten payload goes out as `data: ` lines
    /// (one per line of it) in place of the first data line, the later data lines are left out, and
    /// the event's other lines stay where they were.
    fn replace_data_lines(&mut self, payload: &Payload<'_>, rewritten: &[u8], out: &mut Vec<u8>) {
        let mut lines = Vec::with_capacity(payload.line_starts.len() + 1);
        let mut starts = std::iter::once((0usize, payload.offset)).chain(payload.line_starts.iter().copied()).peekable();
        while let Some((index, value_offset)) = starts.next() {
            let length = match starts.peek() {
                Some((next, _)) => next - 1 - index, // the LF that joined the lines
                None => payload.bytes.len() - index,
            };
            lines.push(self.line_span(value_offset, length));
        }
        for (at, (line_start, line_end, ending)) in lines.iter().copied().enumerate() {
            self.copy_to(line_start, out);
            if at == 0 {
                let bytes = self.bytes;
                let ending = &bytes[(ending - self.base) as usize..(line_end - self.base) as usize];
                // The last line of a body may have no line ending: LF between the lines written.
                let between = if ending.is_empty() { &b"\n"[..] } else { ending };
                for (i, line) in rewritten.split(|byte| *byte == b'\n').enumerate() {
                    if i > 0 {
                        out.extend_from_slice(between);
                    }
                    out.extend_from_slice(b"data: ");
                    out.extend_from_slice(line);
                }
                out.extend_from_slice(ending);
            }
            self.skip_to(line_end);
        }
    }

    /// A `data` line whose value starts at `value_offset`: (its start, its end past the line ending,
    /// where its line ending starts).
    fn line_span(&self, value_offset: u64, length: usize) -> (u64, u64, u64) {
        // The field name is `data`, then a colon, then maybe one space (the framer's rule).
        let before = |back: u64| value_offset.checked_sub(back).and_then(|at| self.byte(at));
        let name_and_colon = match (before(1), before(2)) {
            (Some(b':'), _) => 5,
            (Some(b' '), Some(b':')) => 6,
            _ => 4, // `data` with no colon: an empty value
        };
        let value_end = value_offset + length as u64;
        let ending = match (self.byte(value_end), self.byte(value_end + 1)) {
            (Some(b'\r'), Some(b'\n')) => 2,
            (Some(b'\r' | b'\n'), _) => 1,
            _ => 0, // the end of the body
        };
        (value_offset - name_and_colon, value_end + ending, value_end)
    }
}

#[cfg(test)]
mod tests;
