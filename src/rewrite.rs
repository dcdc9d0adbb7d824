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
    /// One of the rules is a rename.
    has_renames: bool,
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
        node.has_renames |= matches!(action, Action::Rename(_));
        node.members.push((last.as_bytes().to_vec(), action));
        self.paths.push(path.to_owned());
        Ok(())
    }

    /// Rewrites one chunk payload, appending it to `out` (left as it was unless `Rewritten`). A
    /// payload that is not a JSON object is left untouched; invalid JSON is an error (the caller
    /// leaves the payload untouched too).
    ///
    /// `member_ends` may say where top-level members lie (`accumulate::Accumulator::member_ends`, of
    /// this payload, which the merge read as a valid chunk): their values are then passed over
    /// without a scan where no rule looks inside them.
    pub fn rewrite(&self, payload: &[u8], member_ends: &[(usize, usize)], out: &mut Vec<u8>, work: &mut Workspace) -> Result<Verdict, JsonError> {
        let start = out.len();
        let verdict = self.rewrite_onto(payload, member_ends, out, work);
        if !matches!(verdict, Ok(Verdict::Rewritten)) {
            out.truncate(start);
        }
        verdict
    }

    fn rewrite_onto(&self, payload: &[u8], member_ends: &[(usize, usize)], out: &mut Vec<u8>, work: &mut Workspace) -> Result<Verdict, JsonError> {
        if self.is_empty() {
            return Ok(Verdict::Untouched);
        }
        let Workspace { scratch, prefix } = work;
        // The walk before `choices` depends on those bytes alone, unless a rename looks ahead.
        let resumable = !self.root.has_renames;
        let mut editor = Editor { input: payload, start: out.len(), out, copied: 0, edited: false };
        let mut top = Top { usage_only: UsageOnly { wanted: self.drop_usage_only, ..UsageOnly::default() }, record: None, member_ends };
        let (mut scanner, mut walk, first);
        if resumable && prefix.resumes(payload) {
            editor.out.extend_from_slice(&prefix.out);
            (editor.copied, editor.edited, walk) = (prefix.copied, prefix.edited, prefix.walk);
            top.usage_only = prefix.usage_only;
            scanner = Scanner::resume_in_object(payload, prefix.bytes.len());
            first = false;
        } else {
            scanner = Scanner::new(payload)?;
            if scanner.peek()? != Kind::Object {
                return Ok(Verdict::Untouched);
            }
            scanner.begin_object()?;
            walk = ObjectWalk { last_end: scanner.position(), ..ObjectWalk::default() };
            first = true;
            if resumable {
                top.record = Some(prefix);
            }
        }
        walk_members(&mut scanner, &self.root, &mut editor, scratch, &mut walk, first, Some(&mut top))?;
        end_object(&self.root, &mut editor, &walk);
        scanner.end()?;
        if top.usage_only.empty_choices && top.usage_only.usage {
            return Ok(Verdict::DropEvent);
        }
        if !editor.edited {
            return Ok(Verdict::Untouched);
        }
        editor.finish();
        Ok(Verdict::Rewritten)
    }
}

/// What `Rules::rewrite` keeps between payloads: a scratch buffer, and the repeated prefix.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    scratch: Vec<u8>,
    prefix: Prefix,
}

/// The top-level members before `choices` of the last payload walked from its start, and where the
/// walk stood after them. The chunks of a stream repeat these bytes (`id`, `object`, `created`,
/// `model`, `system_fingerprint`: two thirds of an OpenAI chunk); a payload that starts with them,
/// then a comma, is walked from there, with the rewritten prefix copied (as the accumulator skips the
/// same run, `accumulate::Accumulator::repeated_prefix`). The walk is a function of these bytes and
/// the rules alone, so the record never goes stale.
#[derive(Debug, Clone, Default)]
struct Prefix {
    bytes: Vec<u8>,
    out: Vec<u8>,
    copied: usize,
    edited: bool,
    walk: ObjectWalk,
    usage_only: UsageOnly,
}

impl Prefix {
    fn resumes(&self, payload: &[u8]) -> bool {
        let known = self.bytes.len();
        // The comma: a number at the end of the prefix could go on otherwise.
        known > 0 && payload.get(known) == Some(&b',') && payload.starts_with(&self.bytes)
    }

    fn record(&mut self, bytes: &[u8], editor: &Editor<'_>, walk: &ObjectWalk, usage_only: &UsageOnly) {
        self.bytes.clear();
        self.bytes.extend_from_slice(bytes);
        self.out.clear();
        self.out.extend_from_slice(&editor.out[editor.start..]);
        (self.copied, self.edited, self.walk, self.usage_only) = (editor.copied, editor.edited, *walk, *usage_only);
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

/// A member name as a JSON string (quotes included), spelled as everything chatsse writes.
fn json_string(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    crate::json_write::write_str(&mut out, name);
    out
}

/// What the top level says about the usage-only chunk.
#[derive(Debug, Clone, Copy, Default)]
struct UsageOnly {
    wanted: bool,
    empty_choices: bool,
    usage: bool,
}

/// The output of one payload: the input copied up to each edit, the edit, and so on.
struct Editor<'a> {
    input: &'a [u8],
    out: &'a mut Vec<u8>,
    /// Where this payload's output starts in `out`.
    start: usize,
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

/// Where the walk of one object stands after some of its members.
#[derive(Debug, Clone, Copy, Default)]
struct ObjectWalk {
    /// A member is kept (written) before the next one.
    kept_any: bool,
    /// The start of the members dropped before any was kept: removed with the next kept one's comma.
    dropped_front: Option<usize>,
    /// The end of the last member's value (or of the `{`).
    last_end: usize,
    /// Bit i: the member of `node.members[i]`, a set rule, was there.
    set_seen: u64,
}

/// The walk of a payload's top level (the root object): the usage-only test, and the repeated
/// prefix it may record (`Workspace`).
struct Top<'w> {
    usage_only: UsageOnly,
    /// Record the walk as it stands before `choices` (None: this payload resumed the recorded one).
    record: Option<&'w mut Prefix>,
    /// Where the merge found the top-level members (see `Rules::rewrite`); consumed in order.
    member_ends: &'w [(usize, usize)],
}

impl Top<'_> {
    /// The end of the value of the member whose name starts at `key_start`, when the merge said.
    fn value_end(&mut self, key_start: usize) -> Option<usize> {
        while let Some((&(start, end), rest)) = self.member_ends.split_first() {
            if start > key_start {
                return None;
            }
            self.member_ends = rest;
            if start == key_start {
                return Some(end);
            }
        }
        None
    }
}

/// Applies `node` to the object the scanner is at (after `peek` said Object).
fn walk_object(scanner: &mut Scanner<'_>, node: &Node, editor: &mut Editor<'_>, scratch: &mut Vec<u8>) -> Result<(), JsonError> {
    scanner.begin_object()?;
    let mut walk = ObjectWalk { last_end: scanner.position(), ..ObjectWalk::default() };
    walk_members(scanner, node, editor, scratch, &mut walk, true, None)?;
    end_object(node, editor, &walk);
    Ok(())
}

/// The members of an object from where the scanner is (`first`: just after its `{`) to its `}`.
fn walk_members(
    scanner: &mut Scanner<'_>,
    node: &Node,
    editor: &mut Editor<'_>,
    scratch: &mut Vec<u8>,
    walk: &mut ObjectWalk,
    mut first: bool,
    mut top: Option<&mut Top<'_>>,
) -> Result<(), JsonError> {
    // A member of a renamed member's new name is dropped: seen ahead, as it may come first. (A root
    // with renames is never resumed, so this always starts after the `{`.)
    let mut taken = 0u64; // bit i: a rename of node.members[i] that takes the name of a member here
    if node.has_renames {
        taken = renamed_onto(scanner, node, scratch)?;
    }
    while let Some(key) = scanner.next_key(&mut first)? {
        let key_start = key.offset;
        let key_end = key_start + key.raw.len() + 2;
        let name = key.unescaped(scratch)?;
        let rule = node.members.iter().position(|(member, _)| member == name);
        let replaced_by_rename = taken != 0 && node.members.iter().enumerate().any(|(i, (_, action))| {
            taken & (1 << i) != 0 && matches!(action, Action::Rename(new) if &new[1..new.len() - 1] == name)
        });
        if let Some(top) = top.as_deref_mut() {
            if name == b"choices" {
                if let Some(prefix) = top.record.take() {
                    prefix.record(&editor.input[..walk.last_end], editor, walk, &top.usage_only);
                }
            }
            if top.usage_only.wanted {
                match name {
                    b"choices" => top.usage_only.empty_choices = is_empty_array(scanner)?,
                    b"usage" => top.usage_only.usage = is_object_with_members(scanner)?,
                    _ => {}
                }
            }
        }
        let action = rule.map(|at| &node.members[at].1);
        let dropped = replaced_by_rename || matches!(action, Some(Action::Drop));
        if !dropped {
            if let Some(start) = walk.dropped_front.take() {
                editor.edit(start, key_start, b"");
            }
        }
        match action {
            _ if dropped || action.is_none() => match top.as_deref_mut().and_then(|top| top.value_end(key_start)) {
                // A value no rule looks into, whose end the merge found: not scanned again.
                Some(end) => *scanner = Scanner::resume_in_object(scanner.input(), end),
                None => {
                    scanner.skip()?;
                }
            },
            None | Some(Action::Drop) => unreachable!("matched above"),
            Some(Action::Set(value)) => {
                let value_start = scanner.skip()?;
                if &editor.input[value_start..scanner.position()] != value.as_slice() {
                    editor.edit(value_start, scanner.position(), value);
                }
                walk.set_seen |= 1 << rule.expect("a rule");
            }
            Some(Action::Rename(new_name)) => {
                editor.edit(key_start, key_end, new_name);
                scanner.skip()?;
            }
            Some(Action::Inside(inner)) => walk_value(scanner, inner, editor, scratch)?,
        }
        let value_end = scanner.position();
        if dropped {
            if walk.kept_any {
                editor.edit(walk.last_end, value_end, b""); // its comma before it goes with it
            } else {
                walk.dropped_front.get_or_insert(key_start);
            }
        } else {
            walk.kept_any = true;
        }
        walk.last_end = value_end;
    }
    Ok(())
}

/// At the `}`: the set rules for members the object lacks, added at its end.
fn end_object(node: &Node, editor: &mut Editor<'_>, walk: &ObjectWalk) {
    let mut added = Vec::new();
    for (at, (name, action)) in node.members.iter().enumerate() {
        if let Action::Set(value) = action {
            if walk.set_seen & (1 << at) == 0 {
                if walk.kept_any || !added.is_empty() {
                    added.push(b',');
                }
                added.extend_from_slice(&json_string(&String::from_utf8_lossy(name)));
                added.push(b':');
                added.extend_from_slice(value);
            }
        }
    }
    match walk.dropped_front {
        Some(start) => editor.edit(start, walk.last_end, &added),
        None if !added.is_empty() => editor.edit(walk.last_end, walk.last_end, &added),
        None => {}
    }
}

/// Applies `node` to a member's value: an object, or each object of an array (at any depth).
fn walk_value(scanner: &mut Scanner<'_>, node: &Node, editor: &mut Editor<'_>, scratch: &mut Vec<u8>) -> Result<(), JsonError> {
    match scanner.peek()? {
        Kind::Object => walk_object(scanner, node, editor, scratch),
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
/// accumulator): it calls `payload` for each payload it merged as a chunk, then `end` (or
/// `pass_rest` when the framing failed).
#[derive(Debug, Clone, Default)]
pub struct Rewriter {
    rules: Rules,
    /// The raw bytes not given out yet when the last piece ended (the event still open); during a
    /// feed the piece follows them (`Raw`), not copied onto them.
    held: Vec<u8>,
    /// Stream offset of `held[0]`.
    base: u64,
    /// Stream offset up to which the raw bytes have been given out or replaced.
    cursor: u64,
    /// A dropped event ended with a CR: an LF right after it is that line ending's, dropped too.
    skip_lf: bool,
    /// After a framing error nothing can be framed: every byte goes out as it came.
    passthrough: bool,
    edited: Vec<u8>,
    work: Workspace,
}

impl Rewriter {
    pub fn new(rules: Rules) -> Self {
        Rewriter { rules, ..Rewriter::default() }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    fn raw<'s>(&'s mut self, input: &'s [u8]) -> Raw<'s> {
        Raw { held: &self.held, input, base: self.base, cursor: &mut self.cursor, skip_lf: &mut self.skip_lf }
    }

    /// A payload of the piece that the accumulator merged as a chunk: rewritten in place.
    /// `member_ends`: where the merge found its top-level members (see `Rules::rewrite`).
    pub fn payload(&mut self, input: &[u8], payload: &Payload<'_>, member_ends: &[(usize, usize)], out: &mut Vec<u8>) {
        if self.passthrough {
            return;
        }
        let mut view = Raw { held: &self.held, input, base: self.base, cursor: &mut self.cursor, skip_lf: &mut self.skip_lf };
        let single_line = payload.line_starts.is_empty();
        // One-line data (every chat stream) is rewritten straight into the output, after the raw
        // bytes before it; these are given out whatever the verdict, except for a dropped event.
        view.copy_to(payload.event_start, out);
        let event_at = out.len();
        let target = if single_line {
            view.copy_to(payload.offset, out);
            &mut *out
        } else {
            self.edited.clear();
            &mut self.edited
        };
        match self.rules.rewrite(payload.bytes, member_ends, target, &mut self.work) {
            Ok(Verdict::Untouched) | Err(_) => {}
            Ok(Verdict::DropEvent) => {
                out.truncate(event_at);
                view.skip_to(payload.event_end);
                *view.skip_lf = payload.event_end > 0 && view.byte(payload.event_end - 1) == Some(b'\r');
            }
            Ok(Verdict::Rewritten) if single_line => view.skip_to(payload.offset + payload.bytes.len() as u64),
            Ok(Verdict::Rewritten) => view.replace_data_lines(payload, &self.edited, out),
        }
    }

    /// The piece is framed: what is complete (up to `complete_offset`) goes out, the rest is held.
    pub fn end(&mut self, input: &[u8], complete_offset: u64, out: &mut Vec<u8>) {
        self.raw(input).copy_to(complete_offset, out);
        self.keep_rest(input);
    }

    /// The framing failed (or the body ends): every byte not yet given out goes out as it came.
    pub fn pass_rest(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let end = self.base + (self.held.len() + input.len()) as u64;
        self.raw(input).copy_to(end, out);
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
        if let Some(in_input) = from.checked_sub(self.held.len()) {
            self.held.clear();
            self.held.extend_from_slice(input.get(in_input..).unwrap_or_default());
        } else {
            // No event ended in this piece (or not past the held bytes): the piece joins them.
            self.held.drain(..from);
            self.held.extend_from_slice(input);
        }
        self.base = self.cursor;
    }
}

/// The raw bytes of the stream available during one piece, and the output's place in them.
struct Raw<'a> {
    /// The bytes held from earlier pieces, then the piece.
    held: &'a [u8],
    input: &'a [u8],
    /// Stream offset of `held[0]`.
    base: u64,
    cursor: &'a mut u64,
    skip_lf: &'a mut bool,
}

impl Raw<'_> {
    fn byte(&self, offset: u64) -> Option<u8> {
        let at = offset.checked_sub(self.base)? as usize;
        match at.checked_sub(self.held.len()) {
            None => Some(self.held[at]),
            Some(in_input) => self.input.get(in_input).copied(),
        }
    }

    /// Appends the raw bytes from stream offset `from` to `to`.
    fn extend(&self, from: u64, to: u64, out: &mut Vec<u8>) {
        let (from, to) = ((from - self.base) as usize, (to - self.base) as usize);
        let held = self.held.len();
        if from < held {
            out.extend_from_slice(&self.held[from..to.min(held)]);
        }
        if to > held {
            out.extend_from_slice(&self.input[from.max(held) - held..to - held]);
        }
    }

    /// Gives out the raw bytes from the cursor to `to`.
    fn copy_to(&mut self, to: u64, out: &mut Vec<u8>) {
        if to <= *self.cursor {
            return;
        }
        if std::mem::take(self.skip_lf) && self.byte(*self.cursor) == Some(b'\n') {
            *self.cursor += 1;
        }
        if *self.cursor < to {
            self.extend(*self.cursor, to, out);
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
                let mut ending_bytes = Vec::with_capacity(2);
                self.extend(ending, line_end, &mut ending_bytes);
                let ending = &ending_bytes[..];
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
