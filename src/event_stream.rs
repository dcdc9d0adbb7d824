//! Incremental parser for `text/event-stream` bodies.
//!
//! Follows WHATWG HTML §9.2.6 "Interpreting an event stream" to the letter, with the input arriving in
//! arbitrary pieces. Bytes are parsed as bytes: every character the algorithm looks at (CR, LF, colon,
//! space, NUL, digits) is ASCII, and a UTF-8 decoder with replacement never swallows an ASCII byte into an
//! invalid sequence, so splitting the raw bytes gives the same lines, names and values as decoding the
//! stream first. Values are handed out as raw bytes; decoding them (with U+FFFD for invalid sequences)
//! is the consumer's step, done once per value.
//!
//! Cost is linear in the input for every way of cutting it: each feed scans only its own bytes, and only
//! an unfinished line (and the data of an unfinished event) is carried to the next feed. An event whose
//! data is a single line lying inside the current feed is handed out as a slice of that feed.

use std::fmt;
use std::ops::Range;

use memchr::{memchr, memchr2};

/// What the framer keeps per `data` line after the first (where it starts, for error offsets): counted
/// in an event's size, so that an event of many short or empty `data` lines stays within the limit.
const LINE_START_SIZE: usize = std::mem::size_of::<(usize, u64)>();

/// The UTF-8 byte order mark; the spec's decoder drops one at the very start of the stream.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// Default for [`EventStreamDecoder::new`]'s limit: far above any real chat chunk (audio deltas are a few
/// hundred KiB), small enough that a hostile upstream cannot make the decoder hold much.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 16 * 1024 * 1024;

/// One dispatched event. The slices borrow either the caller's input or the decoder's buffers and are
/// valid only during the callback that receives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// Value of the block's last `event` field; empty when there was none (the event's type is then
    /// "message", see [`Event::event_type`]).
    pub event_type_field: &'a [u8],
    /// The block's `data` values joined with LF.
    pub data: &'a [u8],
    /// The last event ID in force once this event was dispatched (persistent across events).
    pub last_event_id: &'a [u8],
    /// A valid `retry` value given in this event's block, if any.
    pub retry: Option<u64>,
    /// Stream offset of the first byte of the first `data` value: with a single `data` line (every
    /// chat stream), `data[i]` is at stream offset `data_offset + i`.
    pub data_offset: u64,
    /// For data over several lines: where each later line's value starts, as (index in `data`, stream
    /// offset). Empty for single-line data. See `stream_offset`.
    pub data_line_starts: &'a [(usize, u64)],
    /// The raw bytes of the event's block: from the end of the block before it (comments and fields
    /// that came before its data included) to just past its blank line's line ending (a CRLF split by
    /// the end of a feed counts only its CR; the end of the stream for an unterminated last event).
    /// For consumers that forward or cut the raw stream event by event.
    pub block_start: u64,
    pub block_end: u64,
}

impl Event<'_> {
    /// The stream offset of `data[index]`.
    pub fn stream_offset(&self, index: usize) -> u64 {
        stream_offset(self.data_offset, self.data_line_starts, index)
    }

    /// The event type: the `event` field's value, or "message" when it was absent or empty.
    pub fn event_type(&self) -> &[u8] {
        if self.event_type_field.is_empty() {
            b"message"
        } else {
            self.event_type_field
        }
    }
}

/// The stream offset of byte `index` of data that starts at `data_offset` and whose later lines
/// start as `line_starts` says (see `Event::data_line_starts`).
pub fn stream_offset(data_offset: u64, line_starts: &[(usize, u64)], index: usize) -> u64 {
    match line_starts.iter().rev().find(|(start, _)| *start <= index) {
        Some((start, offset)) => offset + (index - start) as u64,
        None => data_offset + index as u64,
    }
}

/// Why a feed could not be parsed. The decoder is unusable afterwards (every later feed returns the
/// same error): past a limit the stream cannot be resynchronised without guessing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// A single line is longer than the limit (raised as soon as that is certain, before its line
    /// ending if it has not arrived).
    LineTooLong { limit: usize, line_start: u64 },
    /// The `data` of one event grew past the limit.
    EventTooLarge { limit: usize, event_start: u64 },
    /// `feed` after `close`.
    Closed,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::LineTooLong { limit, line_start } => write!(
                f,
                "line starting at byte offset {line_start} is longer than max_event_size={limit} bytes"
            ),
            FrameError::EventTooLarge { limit, event_start } => write!(
                f,
                "data of the event starting at byte offset {event_start} exceeds max_event_size={limit} bytes"
            ),
            FrameError::Closed => write!(f, "the decoder was closed; feed a new decoder for a new stream"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Where the data buffer of the block in progress lives.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DataBuffer {
    /// No `data` field yet: the spec's empty data buffer, which dispatches nothing.
    Empty,
    /// One `data` value, still inside the current feed's input (never survives the feed).
    InInput(Range<usize>),
    /// In `EventStreamDecoder::data`.
    Owned,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Open,
    Failed(FrameError),
    Closed,
}

/// Incremental event-stream decoder: feed it bytes as they arrive, receive each event as soon as the
/// blank line that ends it is complete.
#[derive(Debug, Clone)]
pub struct EventStreamDecoder {
    max_event_size: usize,
    state: State,
    /// Total bytes fed so far (BOM included): the stream offset of the next feed's first byte.
    offset: u64,
    /// While `Some(n)`: at the start of the stream, the first `n` bytes of a BOM seen so far.
    bom_prefix: Option<u8>,
    /// The previous feed ended with CR: an LF opening this feed belongs to that line ending.
    after_cr: bool,
    /// The unfinished line carried over from earlier feeds, and its stream offset.
    line: Vec<u8>,
    line_start: u64,
    /// Stream offset just past the last blank line: the bytes before it are whole blocks.
    block_end: u64,
    /// Stream offset just past the line ending of the blank line being processed (its CR, for a CRLF):
    /// the end of the block that line dispatches.
    dispatch_end: u64,
    // The block in progress (the spec's buffers).
    data_buffer: DataBuffer,
    data: Vec<u8>,
    event_start: u64,
    data_start: u64,
    data_line_starts: Vec<(usize, u64)>,
    event_type: Vec<u8>,
    block_retry: Option<u64>,
    /// A data, event, id or retry field was seen in the block in progress (for `close`).
    block_has_fields: bool,
    last_event_id_buffer: Vec<u8>,
    /// An `id` field was taken since the last blank line: the buffer must be copied at dispatch.
    id_field_seen: bool,
    // Stream state.
    last_event_id: Vec<u8>,
    retry: Option<u64>,
}

impl Default for EventStreamDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_EVENT_SIZE)
    }
}

impl EventStreamDecoder {
    /// A decoder that fails once a line, or one event's data, exceeds `max_event_size` bytes (an event's
    /// size counts LINE_START_SIZE bytes for each data line after the first). What it buffers is
    /// bounded by a small multiple of that limit.
    pub fn new(max_event_size: usize) -> Self {
        Self {
            max_event_size,
            state: State::Open,
            offset: 0,
            bom_prefix: Some(0),
            after_cr: false,
            line: Vec::new(),
            line_start: 0,
            block_end: 0,
            dispatch_end: 0,
            data_buffer: DataBuffer::Empty,
            data: Vec::new(),
            event_start: 0,
            data_start: 0,
            data_line_starts: Vec::new(),
            event_type: Vec::new(),
            block_retry: None,
            block_has_fields: false,
            last_event_id_buffer: Vec::new(),
            id_field_seen: false,
            last_event_id: Vec::new(),
            retry: None,
        }
    }

    pub fn max_event_size(&self) -> usize {
        self.max_event_size
    }

    /// The last event ID string: set from the `id` buffer each time a blank line ends a block.
    pub fn last_event_id(&self) -> &[u8] {
        &self.last_event_id
    }

    /// The reconnection time in milliseconds from the latest valid `retry` field, if any.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// Bytes fed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The stream offset just past the blank line that ended the last block (0 before any): the
    /// bytes before it are whole events (and comments), the bytes after it an unfinished block.
    pub fn block_end(&self) -> u64 {
        self.block_end
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Parses `input`, calling `on_event` for every event it completes, in order. On error, the events
    /// completed before the offending line have already been passed to `on_event`.
    pub fn feed<F: FnMut(&Event<'_>)>(&mut self, input: &[u8], mut on_event: F) -> Result<(), FrameError> {
        match &self.state {
            State::Open => {}
            State::Failed(error) => return Err(error.clone()),
            State::Closed => return Err(FrameError::Closed),
        }
        let result = self.feed_open(input, &mut on_event);
        self.offset += input.len() as u64;
        if let Err(error) = &result {
            self.fail(error.clone());
        }
        result
    }

    fn feed_open<F: FnMut(&Event<'_>)>(&mut self, input: &[u8], on_event: &mut F) -> Result<(), FrameError> {
        let mut pos = 0;
        if self.bom_prefix.is_some() {
            pos = self.skip_bom(input);
            if pos == input.len() {
                return Ok(());
            }
        }
        if self.after_cr && pos < input.len() {
            // A CR that ended the previous feed already ended its line; this LF completes that CRLF.
            if input[pos] == b'\n' {
                pos += 1;
                if self.block_end == self.offset {
                    self.block_end += 1; // that line was blank: its LF belongs to the block it ended
                }
            }
            self.after_cr = false;
        }
        while pos < input.len() {
            let Some(found) = memchr2(b'\r', b'\n', &input[pos..]) else {
                self.carry_line(input, pos)?;
                break;
            };
            let end = pos + found;
            let blank = end == pos && self.line.is_empty();
            if self.line.is_empty() {
                if blank {
                    self.dispatch_end = self.offset + end as u64 + 1;
                }
                self.check_line_length(end - pos, self.offset + pos as u64)?;
                self.process_line(input, &input[pos..end], Some(pos), on_event)?;
            } else {
                self.check_line_length(self.line.len() + (end - pos), self.line_start)?;
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&input[pos..end]);
                let result = self.process_line(input, &line, None, on_event);
                line.clear();
                self.line = line; // keep the allocation for the next carried line
                result?;
            }
            // Line endings: CRLF, LF, or a lone CR. A CR that ends the feed ends the line now; the
            // next feed drops an LF that follows it.
            pos = end + 1;
            if input[end] == b'\r' {
                if pos == input.len() {
                    self.after_cr = true;
                } else if input[pos] == b'\n' {
                    pos += 1;
                }
            }
            if blank {
                self.block_end = self.offset + pos as u64;
            }
        }
        // The one thing that may still point into `input`: copy it before the input goes away.
        if let DataBuffer::InInput(range) = &self.data_buffer {
            self.data.clear();
            self.data.extend_from_slice(&input[range.clone()]);
            self.data_buffer = DataBuffer::Owned;
        }
        Ok(())
    }

    /// Consumes as much of a leading BOM as `input` holds; returns where parsing goes on.
    fn skip_bom(&mut self, input: &[u8]) -> usize {
        let Some(mut matched) = self.bom_prefix else { return 0 };
        let mut pos = 0;
        while (matched as usize) < BOM.len() && pos < input.len() {
            if input[pos] != BOM[matched as usize] {
                // Not a BOM after all: the bytes held back start the first line.
                self.line.extend_from_slice(&BOM[..matched as usize]);
                self.line_start = 0;
                self.bom_prefix = None;
                return pos;
            }
            matched += 1;
            pos += 1;
        }
        self.bom_prefix = if (matched as usize) == BOM.len() { None } else { Some(matched) };
        pos
    }

    fn carry_line(&mut self, input: &[u8], pos: usize) -> Result<(), FrameError> {
        if self.line.is_empty() {
            self.line_start = self.offset + pos as u64;
        }
        self.check_line_length(self.line.len() + (input.len() - pos), self.line_start)?;
        self.line.extend_from_slice(&input[pos..]);
        Ok(())
    }

    #[inline]
    fn check_line_length(&self, length: usize, line_start: u64) -> Result<(), FrameError> {
        if length > self.max_event_size {
            return Err(FrameError::LineTooLong { limit: self.max_event_size, line_start });
        }
        Ok(())
    }

    /// One complete line, without its line ending. `in_input` is where the line starts inside `input`
    /// when it lies there (then a data value can be handed out without a copy).
    fn process_line<F: FnMut(&Event<'_>)>(
        &mut self,
        input: &[u8],
        line: &[u8],
        in_input: Option<usize>,
        on_event: &mut F,
    ) -> Result<(), FrameError> {
        if line.is_empty() {
            self.dispatch(input, on_event);
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(()); // a comment
        }
        // Field name up to the first colon; the value after it, less one leading space. A line
        // without a colon is a field whose value is empty.
        let (name, value_start) = match memchr(b':', line) {
            Some(colon) if line.get(colon + 1) == Some(&b' ') => (&line[..colon], colon + 2),
            Some(colon) => (&line[..colon], colon + 1),
            None => (line, line.len()),
        };
        let value = &line[value_start..];
        match name {
            b"data" => {
                self.block_has_fields = true;
                let line_offset = match in_input {
                    Some(start) => self.offset + start as u64,
                    None => self.line_start,
                };
                let value_in_input = in_input.map(|start| start + value_start);
                self.append_data(input, value, value_in_input, line_offset, line_offset + value_start as u64)?;
            }
            b"event" => {
                self.block_has_fields = true;
                self.event_type.clear();
                self.event_type.extend_from_slice(value);
            }
            b"id" => {
                self.block_has_fields = true;
                if memchr(0, value).is_none() {
                    self.last_event_id_buffer.clear();
                    self.last_event_id_buffer.extend_from_slice(value);
                    self.id_field_seen = true;
                }
            }
            b"retry" => {
                self.block_has_fields = true;
                if let Some(milliseconds) = parse_retry(value) {
                    self.retry = Some(milliseconds);
                    self.block_retry = Some(milliseconds);
                }
            }
            _ => {} // unknown fields are ignored
        }
        Ok(())
    }

    fn append_data(
        &mut self,
        input: &[u8],
        value: &[u8],
        value_in_input: Option<usize>,
        line_offset: u64,
        value_offset: u64,
    ) -> Result<(), FrameError> {
        match &self.data_buffer {
            DataBuffer::Empty => {
                self.event_start = line_offset;
                self.data_start = value_offset;
                if value.len() > self.max_event_size {
                    return Err(self.event_too_large());
                }
                match value_in_input {
                    Some(start) => self.data_buffer = DataBuffer::InInput(start..start + value.len()),
                    None => {
                        self.data.clear();
                        self.data.extend_from_slice(value);
                        self.data_buffer = DataBuffer::Owned;
                    }
                }
            }
            DataBuffer::InInput(range) => {
                if range.len() + 1 + value.len() + LINE_START_SIZE > self.max_event_size {
                    return Err(self.event_too_large());
                }
                self.data.clear();
                self.data.extend_from_slice(&input[range.clone()]);
                self.data.push(b'\n');
                self.data_line_starts.push((self.data.len(), value_offset));
                self.data.extend_from_slice(value);
                self.data_buffer = DataBuffer::Owned;
            }
            DataBuffer::Owned => {
                if self.data.len() + 1 + value.len() + (self.data_line_starts.len() + 1) * LINE_START_SIZE > self.max_event_size {
                    return Err(self.event_too_large());
                }
                self.data.push(b'\n');
                self.data_line_starts.push((self.data.len(), value_offset));
                self.data.extend_from_slice(value);
            }
        }
        Ok(())
    }

    #[cold]
    fn event_too_large(&self) -> FrameError {
        FrameError::EventTooLarge { limit: self.max_event_size, event_start: self.event_start }
    }

    /// The spec's "dispatch the event", run at every blank line.
    fn dispatch<F: FnMut(&Event<'_>)>(&mut self, input: &[u8], on_event: &mut F) {
        // Step 1 happens even when nothing is dispatched: an `id`-only block still sets the ID.
        // A flag rather than comparing the two buffers: see `same_bytes` in python.rs for what
        // comparing empty buffers costs on some CPUs.
        if self.id_field_seen {
            self.last_event_id.clone_from(&self.last_event_id_buffer);
            self.id_field_seen = false;
        }
        let in_input = match &self.data_buffer {
            DataBuffer::Empty => {
                self.reset_block();
                return;
            }
            DataBuffer::InInput(range) => Some(range.clone()),
            DataBuffer::Owned => None,
        };
        // The block is reset before the callback runs, its buffers taken out and given back after: a
        // callback that panics (or a consumer that stops there) leaves a decoder between two events,
        // not one still pointing into an input that is gone.
        let (data, event_type, line_starts) =
            (std::mem::take(&mut self.data), std::mem::take(&mut self.event_type), std::mem::take(&mut self.data_line_starts));
        let retry = self.block_retry;
        self.reset_block();
        on_event(&Event {
            event_type_field: &event_type,
            data: match &in_input {
                Some(range) => &input[range.clone()],
                None => &data,
            },
            last_event_id: &self.last_event_id,
            retry,
            data_offset: self.data_start,
            data_line_starts: &line_starts,
            block_start: self.block_end,
            block_end: self.dispatch_end,
        });
        // The allocations are kept for the next block.
        (self.data, self.event_type, self.data_line_starts) = (data, event_type, line_starts);
        self.data.clear();
        self.event_type.clear();
        self.data_line_starts.clear();
    }

    fn reset_block(&mut self) {
        self.data_buffer = DataBuffer::Empty;
        self.data.clear();
        self.data_line_starts.clear();
        self.event_type.clear();
        self.block_retry = None;
        self.block_has_fields = false;
    }

    #[cold]
    fn fail(&mut self, error: FrameError) {
        self.state = State::Failed(error);
        self.release_buffers();
    }

    fn release_buffers(&mut self) {
        self.line = Vec::new();
        self.data = Vec::new();
        self.data_line_starts = Vec::new();
        self.event_type = Vec::new();
        self.data_buffer = DataBuffer::Empty;
    }

    /// Dispatches the block in progress as if a blank line had ended it (the unfinished line too): a
    /// deliberate departure from the spec, for callers that would rather recover a complete-looking
    /// last event (`data: [DONE]` with one newline happens) than lose it. Call before `close`.
    pub fn dispatch_unterminated<F: FnMut(&Event<'_>)>(&mut self, mut on_event: F) -> Result<(), FrameError> {
        match &self.state {
            State::Open => {}
            State::Failed(error) => return Err(error.clone()),
            State::Closed => return Err(FrameError::Closed),
        }
        self.dispatch_end = self.offset;
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            let result = self.process_line(&[], &line, None, &mut on_event);
            if let Err(error) = result {
                self.fail(error.clone());
                return Err(error);
            }
        }
        self.dispatch(&[], &mut on_event);
        Ok(())
    }

    /// Ends the stream. The spec discards a block that no blank line ended; this returns whether such a
    /// block held anything (a field, or an unfinished line that is not a comment), i.e. whether the
    /// stream was cut inside an event. Later feeds fail with [`FrameError::Closed`]; closing again
    /// returns `false`.
    pub fn close(&mut self) -> bool {
        if self.state != State::Open {
            self.state = State::Closed;
            return false;
        }
        let unfinished_line = !self.line.is_empty() && self.line[0] != b':';
        let partial_bom = matches!(self.bom_prefix, Some(n) if n > 0);
        let dropped = self.block_has_fields || unfinished_line || partial_bom;
        self.state = State::Closed;
        self.release_buffers();
        self.reset_block();
        self.after_cr = false;
        dropped
    }
}

/// `retry` is honoured only when its value is all ASCII digits (and not empty). Values beyond u64
/// saturate: they are valid per the spec and mean "practically never".
fn parse_retry(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0u64, |acc, digit| acc.saturating_mul(10).saturating_add(u64::from(digit - b'0'))))
}

#[cfg(test)]
mod tests;
