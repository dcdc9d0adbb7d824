//! From a streamed response body to its chunk payloads: the rules shared by every consumer of a chat
//! stream (the typed chunk decoder, the accumulator).
//!
//! - Format: SSE (`data:` events) or JSON lines (one chunk per line), chosen by the caller or detected
//!   from the first byte that is not a BOM or blank space (`{` means JSON lines).
//! - `[DONE]` ends the response: later payloads are ignored.
//! - Empty payloads (`data:` alone, a keep-alive some gateways send) are skipped.
//! - An `event: error` frame is reported as such, whatever its data.
//! - At the end, a last event that lacks only its blank line is still delivered (marked `unterminated`):
//!   `data: [DONE]\n` at the very end of a body happens, and losing the last chunk helps nobody.

use crate::event_stream::{Event, EventStreamDecoder, FrameError};
use crate::json_lines::{JsonLinesSplitter, LinesError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Not decided yet.
    Auto,
    Sse,
    JsonLines,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Sse => "sse",
            Format::JsonLines => "jsonl",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "auto" => Some(Format::Auto),
            "sse" => Some(Format::Sse),
            "jsonl" => Some(Format::JsonLines),
            _ => None,
        }
    }
}

/// One payload of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload<'a> {
    pub bytes: &'a [u8],
    /// Stream offset of `bytes[0]` (exact for single-line data, which is every real chat stream).
    pub offset: u64,
    /// An `event: error` frame: the provider reports a failure, whatever the data says.
    pub error_event: bool,
    /// Delivered at the end of the body although no blank line (or line ending) ended it.
    pub unterminated: bool,
    /// For SSE data over several lines, where the later lines start (`Event::data_line_starts`).
    pub line_starts: &'a [(usize, u64)],
}

impl<'a> Payload<'a> {
    /// The payload of an SSE event.
    fn of_event(event: &Event<'a>, unterminated: bool) -> Self {
        Payload {
            bytes: event.data,
            offset: event.data_offset,
            error_event: event.event_type() == b"error",
            unterminated,
            line_starts: event.data_line_starts,
        }
    }

    /// A payload that is a whole document (not from a stream): positions are offsets.
    pub fn document(bytes: &[u8]) -> Payload<'_> {
        Payload { bytes, offset: 0, error_event: false, unterminated: false, line_starts: &[] }
    }

    /// A last payload that the end of the body cut off: an unfinished JSON document, or a `[DONE]`
    /// that did not finish arriving. (A complete document of the wrong shape is not cut short.)
    pub fn is_cut_short(&self) -> bool {
        let trimmed = self.bytes.trim_ascii();
        self.unterminated && (crate::json::is_truncated(trimmed) || (b"[DONE]".starts_with(trimmed) && !trimmed.is_empty()))
    }

    /// The stream offset of `bytes[index]`.
    pub fn stream_offset(&self, index: usize) -> u64 {
        crate::event_stream::stream_offset(self.offset, self.line_starts, index)
    }
}

#[derive(Debug)]
pub enum StreamError<E> {
    Frame(FrameError),
    Payload(E),
}

#[derive(Debug, Clone)]
pub struct PayloadStream {
    /// The format in use; `Auto` until the first non-blank byte decides it.
    format: Format,
    /// The format asked for (`Auto` to detect).
    requested: Format,
    /// The start of the body (a BOM, blank space) has been dealt with.
    started: bool,
    events: EventStreamDecoder,
    lines: JsonLinesSplitter,
    /// Bytes held while the format is undecided (a BOM and blank space at most).
    undecided: Vec<u8>,
    done: bool,
    closed: bool,
    offset: u64,
}

impl PayloadStream {
    pub fn new(format: Format, max_event_size: usize) -> Self {
        PayloadStream {
            // The SSE framer deals with a BOM itself: an SSE body needs no look at its start.
            format: if format == Format::Sse { Format::Sse } else { Format::Auto },
            requested: format,
            started: format == Format::Sse,
            events: EventStreamDecoder::new(max_event_size),
            lines: JsonLinesSplitter::new(max_event_size),
            undecided: Vec::new(),
            done: false,
            closed: false,
            offset: 0,
        }
    }

    /// The format in use: `Auto` until known.
    pub fn format(&self) -> Format {
        if self.requested == Format::JsonLines { Format::JsonLines } else { self.format }
    }

    /// `[DONE]` arrived.
    pub fn done(&self) -> bool {
        self.done
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The stream offset just past the last complete event (SSE: its blank line; JSON lines: its
    /// line ending); 0 while the format is undecided. The bytes before it hold only whole events.
    pub fn complete_offset(&self) -> u64 {
        match self.format() {
            Format::Auto => 0,
            Format::Sse => self.events.block_end(),
            Format::JsonLines => self.lines.line_end(),
        }
    }

    pub fn max_event_size(&self) -> usize {
        self.events.max_event_size()
    }

    /// Parses the next piece of the body, calling `on_payload` for each payload it completes.
    pub fn feed<E>(
        &mut self,
        input: &[u8],
        mut on_payload: impl FnMut(Payload<'_>) -> Result<(), E>,
    ) -> Result<(), StreamError<E>> {
        if self.closed {
            return Err(StreamError::Frame(FrameError::Closed));
        }
        let result = if !self.started {
            self.feed_undecided(input, &mut on_payload)
        } else {
            self.feed_framed(input, &mut on_payload)
        };
        self.offset += input.len() as u64;
        result
    }

    fn feed_undecided<E>(
        &mut self,
        input: &[u8],
        on_payload: &mut impl FnMut(Payload<'_>) -> Result<(), E>,
    ) -> Result<(), StreamError<E>> {
        self.undecided.extend_from_slice(input);
        const BOM: &[u8] = b"\xEF\xBB\xBF";
        if self.undecided.len() < BOM.len() && BOM.starts_with(&self.undecided) {
            return Ok(()); // maybe the start of a BOM: wait for more
        }
        let body = self.undecided.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(&self.undecided);
        let Some(first) = body.iter().find(|b| !b.is_ascii_whitespace()) else {
            if self.undecided.len() > self.max_event_size() {
                let limit = self.max_event_size();
                return Err(StreamError::Frame(FrameError::LineTooLong { limit, line_start: 0 }));
            }
            return Ok(());
        };
        self.format = match self.requested {
            Format::Auto if *first == b'{' => Format::JsonLines,
            Format::Auto => Format::Sse,
            requested => requested,
        };
        self.started = true;
        let held = std::mem::take(&mut self.undecided);
        if self.format == Format::JsonLines && held.starts_with(BOM) {
            // The SSE framer drops a BOM itself; the line splitter is told to step over it.
            self.lines.skip_bytes(BOM.len());
            return self.feed_framed(&held[BOM.len()..], on_payload);
        }
        self.feed_framed(&held, on_payload)
    }

    fn feed_framed<E>(
        &mut self,
        input: &[u8],
        on_payload: &mut impl FnMut(Payload<'_>) -> Result<(), E>,
    ) -> Result<(), StreamError<E>> {
        let done = &mut self.done;
        if self.format == Format::JsonLines {
            return self
                .lines
                .feed(input, |line, offset| {
                    let payload = Payload { bytes: line, offset, error_event: false, unterminated: false, line_starts: &[] };
                    deliver(payload, done, on_payload)
                })
                .map_err(|error| match error {
                    LinesError::Frame(error) => StreamError::Frame(error),
                    LinesError::Line(error) => StreamError::Payload(error),
                });
        }
        let mut failure = None;
        let framed = self.events.feed(input, |event| {
            if failure.is_some() {
                return;
            }
            if let Err(error) = deliver(Payload::of_event(event, false), done, on_payload) {
                failure = Some(error);
            }
        });
        if let Some(error) = failure {
            return Err(StreamError::Payload(error));
        }
        framed.map_err(StreamError::Frame)
    }

    /// Ends the body: delivers a last event (or line) that nothing terminated. Later feeds fail.
    pub fn finish<E>(&mut self, mut on_payload: impl FnMut(Payload<'_>) -> Result<(), E>) -> Result<(), StreamError<E>> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let format = self.format();
        let done = &mut self.done;
        match format {
            Format::Auto => Ok(()), // nothing but blank space arrived
            Format::JsonLines => match self.lines.finish() {
                Some((line, offset)) => {
                    let payload = Payload { bytes: &line, offset, error_event: false, unterminated: true, line_starts: &[] };
                    deliver(payload, done, &mut on_payload).map_err(StreamError::Payload)
                }
                None => Ok(()),
            },
            Format::Sse => {
                let mut failure = None;
                let result = self.events.dispatch_unterminated(|event| {
                    if let Err(error) = deliver(Payload::of_event(event, true), done, &mut on_payload) {
                        failure = Some(error);
                    }
                });
                self.events.close();
                if let Some(error) = failure {
                    return Err(StreamError::Payload(error));
                }
                result.map_err(StreamError::Frame)
            }
        }
    }
}

/// The per-payload rules: nothing after `[DONE]`, `[DONE]` itself ends, empty payloads are skipped.
fn deliver<E>(
    payload: Payload<'_>,
    done: &mut bool,
    on_payload: &mut impl FnMut(Payload<'_>) -> Result<(), E>,
) -> Result<(), E> {
    if *done {
        return Ok(());
    }
    if payload.error_event {
        return on_payload(payload); // an error frame is an error whatever its data says
    }
    let trimmed = payload.bytes.trim_ascii();
    if trimmed == b"[DONE]" {
        *done = true;
        return Ok(());
    }
    if trimmed.is_empty() {
        return Ok(());
    }
    on_payload(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payloads(format: Format, pieces: &[&[u8]]) -> (Vec<(String, u64, bool, bool)>, bool, Format) {
        let mut stream = PayloadStream::new(format, 1024);
        let mut out = Vec::new();
        let mut collect = |p: Payload<'_>| -> Result<(), ()> {
            out.push((String::from_utf8_lossy(p.bytes).into_owned(), p.offset, p.error_event, p.unterminated));
            Ok(())
        };
        for piece in pieces {
            stream.feed(piece, &mut collect).unwrap();
        }
        stream.finish(&mut collect).unwrap();
        (out, stream.done(), stream.format())
    }

    #[test]
    fn sse_payloads_stop_at_done() {
        let body = b": hi\n\ndata: {\"a\":1}\n\ndata:\n\nevent: error\ndata: oops\n\ndata: [DONE]\n\ndata: {\"late\":1}\n\n";
        let (out, done, format) = payloads(Format::Auto, &[body]);
        assert_eq!(format, Format::Sse);
        assert!(done);
        assert_eq!(out, vec![("{\"a\":1}".into(), 12, false, false), ("oops".into(), 47, true, false)]);
    }

    #[test]
    fn json_lines_are_detected_after_bom_and_blank_space() {
        let (out, done, format) = payloads(Format::Auto, &[b"\xEF\xBB", b"\xBF \n", b"{\"a\":1}\r\n\n{\"b\":2}"]);
        assert_eq!(format, Format::JsonLines);
        assert!(!done);
        assert_eq!(out, vec![("{\"a\":1}".into(), 5, false, false), ("{\"b\":2}".into(), 15, false, true)]);
    }

    #[test]
    fn explicit_json_lines_skip_a_bom() {
        let (out, _, format) = payloads(Format::JsonLines, &[b"\xEF\xBB\xBF{\"a\":1}\n"]);
        assert_eq!(format, Format::JsonLines);
        assert_eq!(out, vec![("{\"a\":1}".into(), 3, false, false)]);
    }

    #[test]
    fn an_error_frame_is_reported_whatever_its_data() {
        let (out, done, _) = payloads(Format::Sse, &[b"event: error\ndata: [DONE]\n\nevent: error\ndata:\n\n"]);
        assert!(!done);
        assert_eq!(out, vec![("[DONE]".into(), 19, true, false), ("".into(), 45, true, false)]);
    }

    #[test]
    fn unterminated_done_still_ends_the_stream() {
        let (out, done, _) = payloads(Format::Sse, &[b"data: {}\n\ndata: [DONE]\n"]);
        assert!(done);
        assert_eq!(out, vec![("{}".into(), 6, false, false)]);
    }

    #[test]
    fn unterminated_payload_is_marked() {
        let (out, done, _) = payloads(Format::Sse, &[b"data: {}\n\ndata: {\"x\""]);
        assert!(!done);
        assert_eq!(out[1], ("{\"x\"".into(), 16, false, true));
    }

    #[test]
    fn a_payload_cut_by_the_end_of_the_body_is_cut_short() {
        let cut = |bytes: &'static [u8], unterminated| Payload { unterminated, ..Payload::document(bytes) }.is_cut_short();
        assert!(cut(b"[DO", true));
        assert!(cut(b"{\"id\": \"a", true));
        assert!(!cut(b"{\"id\": 1.5}", true));
        assert!(!cut(b"[DONE]x", true));
        assert!(!cut(b"[DO", false));
    }

    #[test]
    fn complete_offset_follows_the_format() {
        let offsets = |format: Format, pieces: &[&[u8]]| -> Vec<u64> {
            let mut stream = PayloadStream::new(format, 1024);
            pieces
                .iter()
                .map(|piece| {
                    stream.feed(piece, |_| Ok::<(), ()>(())).unwrap();
                    stream.complete_offset()
                })
                .collect()
        };
        assert_eq!(offsets(Format::Auto, &[b"  ", b"\ndata: {}\n\nda", b"ta: {}\n", b"\n"]), [0, 13, 13, 23]);
        assert_eq!(offsets(Format::Auto, &[b"\xEF\xBB\xBF{}\n{", b"}\n"]), [6, 9]);
        assert_eq!(offsets(Format::Sse, &[b"data: {}\n\n"]), [10]);
    }

    #[test]
    fn feed_after_finish_fails() {
        let mut stream = PayloadStream::new(Format::Sse, 64);
        stream.finish(|_| Ok::<(), ()>(())).unwrap();
        assert!(matches!(stream.feed(b"data: x\n\n", |_| Ok::<(), ()>(())), Err(StreamError::Frame(FrameError::Closed))));
    }
}
