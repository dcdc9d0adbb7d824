//! Typed chunk streams (`ChunkDecoder`) and single documents (`decode_chunk`, `decode_completion`).
//!
//! A payload is turned into a Struct by `objects::Builder` in one pass. What ends or breaks a stream is
//! decided here: `[DONE]` ends it; an `error` event, or a payload that is an error report, raises
//! `UpstreamError`; a payload that is not a valid chunk raises `DecodeError` with the stream offset.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

use super::objects::{BuildError, BuildErrorKind, Builder, Root, Schema};
use std::sync::atomic::AtomicBool;

use super::{changing, frame_error, package_error, reading, shared, FeedInput, Poisonable};
use crate::event_stream::{FrameError, DEFAULT_MAX_EVENT_SIZE};
use crate::payload_stream::{Format, Payload as StreamPayload, PayloadStream, StreamError};

/// Characters of payload shown on each side of an error's position.
const EXCERPT_RADIUS: usize = 40;

/// The value a prefix of a JSON document stands for so far (see `crate::partial_json`): None when no
/// value has begun; DecodeError when the text cannot begin a JSON document.
#[pyfunction]
pub fn parse_partial_json<'py>(py: Python<'py>, text: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
    let input = FeedInput::extract_document(text)?;
    let prefix = match std::str::from_utf8(input.as_slice()) {
        Ok(prefix) => prefix,
        // Bytes cut inside a character (a stream read in pieces): the partial character is dropped.
        Err(error) if error.error_len().is_none() => std::str::from_utf8(&input.as_slice()[..error.valid_up_to()]).expect("valid up to there"),
        Err(error) => return Err(Payload::document(input.as_slice()).error_at(py, error.valid_up_to(), "$", "invalid UTF-8")),
    };
    let document = match crate::partial_json::complete(prefix) {
        Ok(Some(document)) => document,
        Ok(None) => return Ok(None),
        Err(_) => return Err(Payload::document(input.as_slice()).error_at(py, 0, "$", "not the beginning of a JSON document")),
    };
    let mut builder = Builder::new(Schema::get(py)?);
    Payload::document(document.as_bytes()).decode_any(py, &mut builder).map(Some)
}

/// Decodes one JSON document into any Struct type of chatsse.types (`as_list`: an array of them).
#[pyfunction]
#[pyo3(signature = (data, cls, *, as_list = false))]
pub fn decode_as<'py>(py: Python<'py>, data: &Bound<'py, PyAny>, cls: &Bound<'py, PyAny>, as_list: bool) -> PyResult<Bound<'py, PyAny>> {
    let schema = Schema::get(py)?;
    let Some(index) = schema.index_of(cls) else {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!("{} is not a type of chatsse.types", cls.repr()?)));
    };
    let input = FeedInput::extract_document(data)?;
    let payload = Payload::document(input.as_slice());
    let mut builder = Builder::new(schema);
    if as_list {
        return builder.decode_list(py, input.as_slice(), index).map_err(|error| payload.decode_error(py, error));
    }
    payload.decode_data(py, &mut builder, Root::Struct(index))
}

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
    let payload = Payload::document(input.as_slice());
    payload.decode(py, &mut builder, root)
}

/// One payload and where it came from, for error reports.
pub(crate) struct Payload<'a> {
    source: StreamPayload<'a>,
    /// Part of a stream (else a single document, where offsets are positions).
    in_stream: bool,
}

impl<'a> Payload<'a> {
    pub(crate) fn from_stream(payload: &StreamPayload<'a>) -> Self {
        Payload { source: *payload, in_stream: true }
    }

    pub(crate) fn document(bytes: &'a [u8]) -> Self {
        Payload { source: StreamPayload::document(bytes), in_stream: false }
    }

    pub(crate) fn is_error_event(&self) -> bool {
        self.source.error_event
    }

    /// Builds plain Python values (dicts, lists, ...).
    pub(crate) fn decode_any<'py>(&self, py: Python<'py>, builder: &mut Builder<'_>) -> PyResult<Bound<'py, PyAny>> {
        builder.decode_any(py, self.source.bytes).map_err(|error| self.decode_error(py, error))
    }

    /// Builds the document without looking for an error report in it (our own output, which may carry
    /// a provider's `error` member along as data).
    pub(crate) fn decode_data<'py>(&self, py: Python<'py>, builder: &mut Builder<'_>, root: Root) -> PyResult<Bound<'py, PyAny>> {
        builder.decode(py, self.source.bytes, root).map_err(|error| self.decode_error(py, error))
    }

    pub(crate) fn decode<'py>(&self, py: Python<'py>, builder: &mut Builder<'_>, root: Root) -> PyResult<Bound<'py, PyAny>> {
        match builder.decode(py, self.source.bytes, root) {
            Ok(_) if builder.upstream_error => Err(self.upstream_error(py)),
            Ok(value) => Ok(value),
            Err(error) => {
                // A provider's error report need not look like a chunk at all.
                if is_error_report(py, builder, self.source.bytes) {
                    return Err(self.upstream_error(py));
                }
                Err(self.decode_error(py, error))
            }
        }
    }

    #[cold]
    pub(crate) fn upstream_error(&self, py: Python<'_>) -> PyErr {
        let text = String::from_utf8_lossy(self.source.bytes).into_owned();
        let event = if self.source.error_event { "error" } else { "message" };
        let build = || -> PyResult<PyErr> {
            let errors = py.import("chatsse._errors")?;
            let error = errors.getattr("UpstreamError")?.call_method1("from_payload", (text, self.source.offset, event))?;
            Ok(PyErr::from_value(error))
        };
        build().unwrap_or_else(|failed| failed)
    }

    #[cold]
    #[allow(clippy::boxed_local)] // builders hand errors out boxed (see objects::Built)
    pub(crate) fn decode_error(&self, py: Python<'_>, error: Box<BuildError>) -> PyErr {
        if let BuildErrorKind::Python(error) = error.kind {
            return error;
        }
        self.error_at(py, error.offset, &error.path(), &error.description())
    }

    /// DecodeError for a problem at `position` of this payload, at JSON path `path`.
    #[cold]
    pub(crate) fn error_at(&self, py: Python<'_>, position: usize, path: &str, description: &str) -> PyErr {
        let position = position.min(self.source.bytes.len());
        let stream_offset = self.source.stream_offset(position);
        let excerpt = excerpt(self.source.bytes, position);
        let place = if self.in_stream {
            format!("byte {position} of the payload at stream offset {}", self.source.offset)
        } else {
            format!("byte {position}")
        };
        let message = format!("{description} at {path} ({place}): {excerpt}");
        package_error(
            py,
            "DecodeError",
            message,
            &[
                ("offset", stream_offset.into_pyobject(py).expect("an int converts").into_any()),
                ("position", position.into_pyobject(py).expect("an int converts").into_any()),
                ("path", PyString::new(py, path).into_any()),
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
                c if c.is_control() && (c as u32) < 0x100 => format!("\\x{:02x}", c as u32),
                c if c.is_control() => format!("\\u{:04x}", c as u32),
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

/// Incremental decoder of a streamed Chat Completions response body into `ChatCompletionChunk`s.
///
/// Threads: one call at a time (each chunk is made a Python object as it is framed, so the GIL is
/// never released); a call made while another is running raises ConcurrentUseError.
#[pyclass(module = "chatsse._core", name = "ChunkDecoder")]
pub struct ChunkDecoder {
    stream: PayloadStream,
    /// Set by the first error: the chunks after a bad one are not guessed at.
    failed: Option<String>,
    /// Kept across feeds: it caches the strings that repeat from chunk to chunk.
    builder: Option<Builder<'static>>,
    require_done: bool,
    poisoned: AtomicBool,
}

impl Poisonable for ChunkDecoder {
    fn poisoned(&self) -> &AtomicBool {
        &self.poisoned
    }
}

#[pymethods]
impl ChunkDecoder {
    #[new]
    #[pyo3(signature = (*, format = "auto", require_done = true, max_event_size = DEFAULT_MAX_EVENT_SIZE))]
    fn new(format: &str, require_done: bool, max_event_size: usize) -> PyResult<Self> {
        let stream = payload_stream(format, max_event_size)?;
        Ok(ChunkDecoder { stream, failed: None, builder: None, require_done, poisoned: AtomicBool::new(false) })
    }

    /// Parses the next piece of the body; returns the chunks it completed. Payloads after `[DONE]`
    /// are ignored. An error carries, in its `chunks` attribute, the chunks completed before it.
    #[pyo3(name = "feed")]
    fn py_feed<'py>(slf: &Bound<'py, Self>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        changing(slf, |this| this.feed(slf.py(), data))
    }

    /// Ends the body. Returns the chunks of a last event that no blank line (or line ending) ended,
    /// when its payload is complete; raises TruncatedStreamError when the stream ended without
    /// `[DONE]` (unless `require_done=False`) or inside a payload.
    #[pyo3(name = "close")]
    fn py_close<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyList>> {
        changing(slf, |this| this.close(slf.py()))
    }

    /// True once `data: [DONE]` arrived.
    #[getter(done)]
    fn py_done(slf: &Bound<'_, Self>) -> PyResult<bool> {
        reading(slf, |this| Ok(this.done()))
    }

    /// "sse" or "jsonl" once known; "auto" before the first non-blank byte.
    #[getter(format)]
    fn py_format(slf: &Bound<'_, Self>) -> PyResult<&'static str> {
        reading(slf, |this| Ok(this.format()))
    }

    /// Bytes fed so far.
    #[getter(offset)]
    fn py_offset(slf: &Bound<'_, Self>) -> PyResult<u64> {
        reading(slf, |this| Ok(this.offset()))
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        Ok(shared(slf)?.repr()) // a poisoned object still shows itself
    }
}

impl ChunkDecoder {

    fn feed<'py>(&mut self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        self.check_not_failed(py)?;
        let input = FeedInput::extract(data)?;
        let chunks = PyList::empty(py);
        let mut builder = Builder::take(&mut self.builder, py)?;
        let result = self.stream.feed(input.as_slice(), |payload| on_payload(py, &mut builder, &payload, &chunks));
        self.builder = Some(builder);
        match result {
            Ok(()) => Ok(chunks),
            Err(error) => {
                let stopped = !matches!(error, StreamError::Frame(FrameError::Closed));
                let error = stream_error(py, error);
                if stopped {
                    self.failed = Some(error.to_string());
                }
                Err(with_chunks(py, error, &chunks))
            }
        }
    }

    fn close<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.check_not_failed(py)?;
        let chunks = PyList::empty(py);
        let mut builder = Builder::take(&mut self.builder, py)?;
        let mut cut_inside_payload = false;
        let result = self.stream.finish(|payload| {
            // A last event cut off mid-payload is a truncated stream, not bad data.
            if payload.is_cut_short() {
                cut_inside_payload = true;
                return Ok(());
            }
            on_payload(py, &mut builder, &payload, &chunks)
        });
        self.builder = Some(builder);
        let ending = result.map_err(|error| stream_error(py, error)).and_then(|()| {
            truncation(py, &self.stream, cut_inside_payload, self.require_done)
        });
        ending.map(|()| chunks.clone()).map_err(|error| with_chunks(py, error, &chunks))
    }

    fn done(&self) -> bool {
        self.stream.done()
    }

    fn format(&self) -> &'static str {
        self.stream.format().name()
    }

    fn offset(&self) -> u64 {
        self.stream.offset()
    }

    fn repr(&self) -> String {
        format!(
            "ChunkDecoder(format={:?}, offset={}, done={})",
            self.format(),
            self.stream.offset(),
            if self.stream.done() { "True" } else { "False" }
        )
    }

    fn check_not_failed(&self, py: Python<'_>) -> PyResult<()> {
        match &self.failed {
            None => Ok(()),
            Some(reason) => {
                let message = format!("the decoder stopped at an earlier error ({reason}); decode a new stream with a new decoder");
                Err(package_error(py, "DecoderClosedError", message, &[]))
            }
        }
    }

}

/// A payload stream from the Python-side options.
pub(crate) fn payload_stream(format: &str, max_event_size: usize) -> PyResult<PayloadStream> {
    let Some(format) = Format::from_name(format) else {
        return Err(PyValueError::new_err(format!("format must be 'auto', 'sse' or 'jsonl', not {format:?}")));
    };
    if max_event_size == 0 {
        return Err(PyValueError::new_err("max_event_size must be at least 1 byte"));
    }
    Ok(PayloadStream::new(format, max_event_size))
}

/// The Python exception for a failure of the payload stream.
pub(crate) fn stream_error(py: Python<'_>, error: StreamError<PyErr>) -> PyErr {
    match error {
        StreamError::Payload(error) => error,
        StreamError::Frame(FrameError::Closed) => package_error(py, "DecoderClosedError", FrameError::Closed.to_string(), &[]),
        StreamError::Frame(error) => frame_error(py, &error, PyList::empty(py)),
    }
}

/// TruncatedStreamError when the body ended inside a payload, or without `[DONE]` when it is required.
/// Only SSE bodies end with `[DONE]`: a JSON-lines body that ends at a line boundary (or with a whole
/// last line) is complete.
pub(crate) fn truncation(py: Python<'_>, stream: &PayloadStream, cut_inside_payload: bool, require_done: bool) -> PyResult<()> {
    let message = if cut_inside_payload {
        format!("the stream ended inside an event, at stream offset {}", stream.offset())
    } else if require_done && !stream.done() && stream.format() != Format::JsonLines {
        format!("the stream ended without data: [DONE], at stream offset {}", stream.offset())
    } else {
        return Ok(());
    };
    let offset = stream.offset().into_pyobject(py)?.into_any();
    Err(package_error(py, "TruncatedStreamError", message, &[("offset", offset)]))
}

/// One payload: an error report or a chunk.
fn on_payload(py: Python<'_>, builder: &mut Builder<'_>, payload: &StreamPayload<'_>, chunks: &Bound<'_, PyList>) -> PyResult<()> {
    super::injected_panic(payload.bytes);
    let payload = Payload::from_stream(payload);
    if payload.is_error_event() {
        return Err(payload.upstream_error(py));
    }
    chunks.append(payload.decode(py, builder, Root::Chunk)?)
}

/// Attaches the chunks completed before an error to it, so that nothing is lost.
pub(crate) fn with_chunks(py: Python<'_>, error: PyErr, chunks: &Bound<'_, PyList>) -> PyErr {
    let _ = error.value(py).setattr("chunks", chunks);
    error
}
