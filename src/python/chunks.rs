//! Typed chunk streams (`ChunkDecoder`) and single documents (`decode_chunk`, `decode_completion`).
//!
//! A payload is turned into a Struct by `objects::Builder` in one pass. What ends or breaks a stream is
//! decided here: `[DONE]` ends it; an `error` event, or a payload that is an error report, raises
//! `UpstreamError`; a payload that is not a valid chunk raises `DecodeError` with the stream offset.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

use super::objects::{BuildError, BuildErrorKind, Builder, Root, Schema};
use super::{frame_error, package_error, FeedInput};
use crate::event_stream::{EventStreamDecoder, FrameError, DEFAULT_MAX_EVENT_SIZE};
use crate::json_lines::{JsonLinesSplitter, LinesError};

/// Characters of payload shown on each side of an error's position.
const EXCERPT_RADIUS: usize = 40;

/// Decodes one `data:` payload of a stream into a `ChatCompletionChunk`.
#[pyfunction]
pub fn decode_chunk<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    decode_document(py, data, Root::Chunk)
}

/// Decodes a non-streamed response body into a `ChatCompletion`.
#[pyfunction]
pub fn decode_completion<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    decode_document(py, data, Root::Completion)
}

fn decode_document<'py>(py: Python<'py>, data: &Bound<'py, PyAny>, root: Root) -> PyResult<Bound<'py, PyAny>> {
    let input = FeedInput::extract_document(data)?;
    let mut builder = Builder::new(Schema::get(py)?);
    let payload = Payload { bytes: input.as_slice(), offset: 0, event: "message", in_stream: false };
    payload.decode(py, &mut builder, root)
}

/// One payload and where it came from, for error reports.
struct Payload<'a> {
    bytes: &'a [u8],
    /// Stream offset of `bytes[0]`.
    offset: u64,
    event: &'a str,
    /// Part of a stream (else a single document, where offsets are positions).
    in_stream: bool,
}

impl Payload<'_> {
    fn decode<'py>(&self, py: Python<'py>, builder: &mut Builder<'_>, root: Root) -> PyResult<Bound<'py, PyAny>> {
        match builder.decode(py, self.bytes, root) {
            Ok(_) if builder.upstream_error => Err(self.upstream_error(py)),
            Ok(value) => Ok(value),
            Err(error) => {
                // A provider's error report need not look like a chunk at all.
                if is_error_report(py, builder, self.bytes) {
                    return Err(self.upstream_error(py));
                }
                Err(self.decode_error(py, error))
            }
        }
    }

    #[cold]
    fn upstream_error(&self, py: Python<'_>) -> PyErr {
        let text = String::from_utf8_lossy(self.bytes).into_owned();
        let build = || -> PyResult<PyErr> {
            let errors = py.import("chatsse._errors")?;
            let error = errors.getattr("UpstreamError")?.call_method1("from_payload", (text, self.offset, self.event))?;
            Ok(PyErr::from_value(error))
        };
        build().unwrap_or_else(|failed| failed)
    }

    #[cold]
    fn decode_error(&self, py: Python<'_>, error: Box<BuildError>) -> PyErr {
        if let BuildErrorKind::Python(error) = error.kind {
            return error;
        }
        let position = error.offset.min(self.bytes.len());
        let stream_offset = self.offset + position as u64;
        let excerpt = excerpt(self.bytes, position);
        let path = error.path();
        let place = if self.in_stream {
            format!("byte {position} of the payload at stream offset {}", self.offset)
        } else {
            format!("byte {position}")
        };
        let message = format!("{} at {path} ({place}): {excerpt}", error.description());
        package_error(
            py,
            "DecodeError",
            message,
            &[
                ("offset", stream_offset.into_pyobject(py).expect("an int converts").into_any()),
                ("position", position.into_pyobject(py).expect("an int converts").into_any()),
                ("path", PyString::new(py, &path).into_any()),
                ("excerpt", PyString::new(py, &excerpt).into_any()),
            ],
        )
    }
}

/// A document that failed to decode as the schema is still an error report when it is an object with
/// a non-null `error` member or `"object": "error"`.
fn is_error_report(py: Python<'_>, builder: &mut Builder<'_>, bytes: &[u8]) -> bool {
    let Ok(value) = builder.decode_any(py, bytes) else { return false };
    let Ok(dict) = value.cast::<pyo3::types::PyDict>() else { return false };
    let error_member = dict.get_item("error").ok().flatten().is_some_and(|e| !e.is_none());
    let object_error = dict
        .get_item("object")
        .ok()
        .flatten()
        .is_some_and(|o| o.extract::<&str>().is_ok_and(|o| o == "error"));
    error_member || object_error
}

/// The payload around `position`, control characters escaped, with `>>>` marking the position.
fn excerpt(bytes: &[u8], position: usize) -> String {
    let mut start = position.saturating_sub(EXCERPT_RADIUS);
    let mut end = (position + EXCERPT_RADIUS).min(bytes.len());
    // Widen to character boundaries (UTF-8 continuation bytes are 0b10xxxxxx).
    while start > 0 && bytes[start] & 0xC0 == 0x80 {
        start -= 1;
    }
    while end < bytes.len() && bytes[end] & 0xC0 == 0x80 {
        end += 1;
    }
    let mut mark = position;
    while mark > start && mark < bytes.len() && bytes[mark] & 0xC0 == 0x80 {
        mark -= 1;
    }
    let shown = |part: &[u8]| -> String {
        String::from_utf8_lossy(part)
            .chars()
            .map(|c| match c {
                '\n' => "\\n".to_owned(),
                '\r' => "\\r".to_owned(),
                '\t' => "\\t".to_owned(),
                c if c.is_control() => c.escape_unicode().to_string(),
                c => c.to_string(),
            })
            .collect()
    };
    format!(
        "{}{}>>>{}{}",
        if start > 0 { "..." } else { "" },
        shown(&bytes[start..mark]),
        shown(&bytes[mark..end]),
        if end < bytes.len() { "..." } else { "" }
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// Not decided yet: the first non-blank byte tells (`{` means JSON lines).
    Auto,
    Sse,
    JsonLines,
}

/// Incremental decoder of a streamed Chat Completions response body into `ChatCompletionChunk`s.
#[pyclass(module = "chatsse._core", name = "ChunkDecoder")]
pub struct ChunkDecoder {
    /// Kept across feeds: it caches the strings that repeat from chunk to chunk.
    builder: Option<Builder<'static>>,
    format: Format,
    events: EventStreamDecoder,
    lines: JsonLinesSplitter,
    /// Bytes held while the format is undecided (a BOM and blank space at most).
    undecided: Vec<u8>,
    require_done: bool,
    done: bool,
    closed: bool,
    offset: u64,
}

#[pymethods]
impl ChunkDecoder {
    #[new]
    #[pyo3(signature = (*, format = "auto", require_done = true, max_event_size = DEFAULT_MAX_EVENT_SIZE))]
    fn new(format: &str, require_done: bool, max_event_size: usize) -> PyResult<Self> {
        let format = match format {
            "auto" => Format::Auto,
            "sse" => Format::Sse,
            "jsonl" => Format::JsonLines,
            other => return Err(PyValueError::new_err(format!("format must be 'auto', 'sse' or 'jsonl', not {other:?}"))),
        };
        if max_event_size == 0 {
            return Err(PyValueError::new_err("max_event_size must be at least 1 byte"));
        }
        Ok(ChunkDecoder {
            builder: None,
            format,
            events: EventStreamDecoder::new(max_event_size),
            lines: JsonLinesSplitter::new(max_event_size),
            undecided: Vec::new(),
            require_done,
            done: false,
            closed: false,
            offset: 0,
        })
    }

    /// Parses the next piece of the body; returns the chunks it completed. Payloads after `[DONE]`
    /// are ignored. An error carries, in its `chunks` attribute, the chunks completed before it.
    fn feed<'py>(&mut self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        if self.closed {
            return Err(package_error(py, "DecoderClosedError", FrameError::Closed.to_string(), &[]));
        }
        let input = FeedInput::extract(data)?;
        let chunks = PyList::empty(py);
        let result = self.feed_bytes(py, input.as_slice(), &chunks);
        self.offset += input.as_slice().len() as u64;
        result.map(|()| chunks.clone()).map_err(|error| with_chunks(py, error, &chunks))
    }

    /// Ends the body. Returns the chunks of a last event that no blank line (or line ending) ended,
    /// when its payload is complete; raises TruncatedStreamError when the stream ended without
    /// `[DONE]` (unless `require_done=False`) or inside a payload.
    fn close<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let chunks = PyList::empty(py);
        if self.closed {
            return Ok(chunks);
        }
        self.closed = true;
        if self.format == Format::Auto {
            // Only blank space (or nothing) arrived.
            self.format = Format::Sse;
        }
        let result = self.finish(py, &chunks);
        result.map(|()| chunks.clone()).map_err(|error| with_chunks(py, error, &chunks))
    }

    /// True once `data: [DONE]` arrived.
    #[getter]
    fn done(&self) -> bool {
        self.done
    }

    /// "sse" or "jsonl" once known; "auto" before the first non-blank byte.
    #[getter]
    fn format(&self) -> &'static str {
        match self.format {
            Format::Auto => "auto",
            Format::Sse => "sse",
            Format::JsonLines => "jsonl",
        }
    }

    /// Bytes fed so far.
    #[getter]
    fn offset(&self) -> u64 {
        self.offset
    }

    fn __repr__(&self) -> String {
        format!("ChunkDecoder(format={:?}, offset={}, done={})", self.format(), self.offset, if self.done { "True" } else { "False" })
    }
}

impl ChunkDecoder {
    fn feed_bytes(&mut self, py: Python<'_>, input: &[u8], chunks: &Bound<'_, PyList>) -> PyResult<()> {
        if self.format != Format::Auto {
            return self.feed_framed(py, input, chunks);
        }
        self.undecided.extend_from_slice(input);
        let body = self.undecided.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(&self.undecided);
        let Some(first) = body.iter().find(|b| !b.is_ascii_whitespace()) else {
            if self.undecided.len() > self.events.max_event_size() {
                let error = FrameError::LineTooLong { limit: self.events.max_event_size(), line_start: 0 };
                return Err(frame_error(py, &error, PyList::empty(py)));
            }
            return Ok(()); // only a BOM prefix or blank space so far
        };
        self.format = if *first == b'{' { Format::JsonLines } else { Format::Sse };
        let held = std::mem::take(&mut self.undecided);
        self.feed_framed(py, &held, chunks)
    }

    fn builder(&mut self, py: Python<'_>) -> PyResult<Builder<'static>> {
        match self.builder.take() {
            Some(builder) => Ok(builder),
            None => Ok(Builder::new(Schema::get(py)?)),
        }
    }

    fn feed_framed(&mut self, py: Python<'_>, input: &[u8], chunks: &Bound<'_, PyList>) -> PyResult<()> {
        let mut builder = self.builder(py)?;
        let result = self.feed_with(py, &mut builder, input, chunks);
        self.builder = Some(builder);
        result
    }

    fn feed_with(&mut self, py: Python<'_>, builder: &mut Builder<'static>, input: &[u8], chunks: &Bound<'_, PyList>) -> PyResult<()> {
        let mut failure: Option<PyErr> = None;
        let done = &mut self.done;
        match self.format {
            Format::JsonLines => {
                let result = self.lines.feed(input, |line, offset| {
                    let payload = Payload { bytes: line, offset, event: "message", in_stream: true };
                    on_payload(py, builder, &payload, done, chunks)
                });
                match result {
                    Ok(()) => Ok(()),
                    Err(LinesError::Line(error)) => Err(error),
                    Err(LinesError::Frame(error)) => Err(frame_error(py, &error, PyList::empty(py))),
                }
            }
            _ => {
                let result = self.events.feed(input, |event| {
                    if failure.is_some() {
                        return;
                    }
                    let event_type = std::str::from_utf8(event.event_type()).unwrap_or("message");
                    let payload = Payload { bytes: event.data, offset: event.data_offset, event: event_type, in_stream: true };
                    if let Err(error) = on_payload(py, builder, &payload, done, chunks) {
                        failure = Some(error);
                    }
                });
                if let Some(error) = failure {
                    return Err(error);
                }
                result.map_err(|error| frame_error(py, &error, PyList::empty(py)))
            }
        }
    }

    fn finish(&mut self, py: Python<'_>, chunks: &Bound<'_, PyList>) -> PyResult<()> {
        let mut builder = self.builder(py)?;
        let done = &mut self.done;
        let mut truncated_inside_payload = false;
        match self.format {
            Format::JsonLines => {
                if let Some((line, offset)) = self.lines.finish() {
                    let payload = Payload { bytes: &line, offset, event: "message", in_stream: true };
                    on_payload(py, &mut builder, &payload, done, chunks)?;
                }
            }
            _ => {
                let mut failure: Option<PyErr> = None;
                let result = self.events.dispatch_unterminated(|event| {
                    let event_type = std::str::from_utf8(event.event_type()).unwrap_or("message");
                    let payload = Payload { bytes: event.data, offset: event.data_offset, event: event_type, in_stream: true };
                    if let Err(error) = on_payload(py, &mut builder, &payload, done, chunks) {
                        failure = Some(error);
                    }
                });
                self.events.close();
                result.map_err(|error| frame_error(py, &error, PyList::empty(py)))?;
                if let Some(error) = failure {
                    // A last event cut off mid-payload is a truncated stream, not bad data.
                    let is_decode_error = error.get_type(py).name().is_ok_and(|name| name == "DecodeError");
                    if is_decode_error && !*done {
                        truncated_inside_payload = true;
                    } else {
                        return Err(error);
                    }
                }
            }
        }
        if truncated_inside_payload || (self.require_done && !self.done) {
            let message = if truncated_inside_payload {
                format!("the stream ended inside an event, at stream offset {}", self.offset)
            } else {
                format!("the stream ended without data: [DONE], at stream offset {}", self.offset)
            };
            let offset = self.offset.into_pyobject(py)?.into_any();
            return Err(package_error(py, "TruncatedStreamError", message, &[("offset", offset)]));
        }
        Ok(())
    }
}

/// One payload of the stream: `[DONE]`, an error, a keep-alive, or a chunk.
fn on_payload(
    py: Python<'_>,
    builder: &mut Builder<'_>,
    payload: &Payload<'_>,
    done: &mut bool,
    chunks: &Bound<'_, PyList>,
) -> PyResult<()> {
    if *done {
        return Ok(()); // nothing after [DONE] belongs to the response
    }
    let trimmed = payload.bytes.trim_ascii();
    if trimmed == b"[DONE]" {
        *done = true;
        return Ok(());
    }
    if payload.event == "error" {
        return Err(payload.upstream_error(py));
    }
    if trimmed.is_empty() {
        return Ok(()); // `data:` with nothing: a keep-alive some gateways send
    }
    chunks.append(payload.decode(py, builder, Root::Chunk)?)
}

/// Attaches the chunks completed before an error to it, so that nothing is lost.
fn with_chunks(py: Python<'_>, error: PyErr, chunks: &Bound<'_, PyList>) -> PyErr {
    let _ = error.value(py).setattr("chunks", chunks);
    error
}
