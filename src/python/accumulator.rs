//! `Accumulator`: the merge of `crate::accumulate` behind a proxy tap. `feed` frames, parses and merges
//! in Rust and makes no Python object per chunk; Python objects are made only when asked for.
//!
//! Threads: `feed` of a piece of at least `DETACH_FROM` bytes frames and merges detached from the
//! interpreter (the GIL released), so other threads run meanwhile. One Accumulator takes one call
//! that changes it at a time (`feed`, `feed_all`, `add`, `close`); calls that only read it
//! (`completion`, `to_json`, `usage`, ...) may run together, but not during a change: anything else
//! raises ConcurrentUseError (`super::exclusive`, `super::shared`).

use std::convert::Infallible;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::chunks::{payload_stream, stream_error, truncation, Payload};
use super::objects::{Builder, Root, Schema};
use super::{changing, reading, shared, FeedInput, Poisonable};
use crate::accumulate::{AccumulateError, Accumulator as Merge, ChunkOutcome};
use crate::event_stream::DEFAULT_MAX_EVENT_SIZE;
use crate::partial_json;
use crate::payload_stream::{Format, Payload as StreamPayload, PayloadStream, StreamError};

/// Pieces from this size on are framed and merged with the GIL released. Detaching and attaching
/// again cost 0.03-0.05 µs a piece on one thread, ~2% of the ~2 µs of work in 4 KiB of a long answer
/// (`benches/threads.py`); smaller pieces, a chunk or two of a slow stream, keep the GIL rather than
/// wake a waiting thread for less work than the wake-up.
pub(crate) const DETACH_FROM: usize = 4096;

/// The `#[pymethods]` of a class whose `Merged::merged` is an Accumulator (Accumulator itself, the
/// Rewriter): the class's own methods as given, then the readers of what the stream merged into,
/// written once here so that both classes answer them alike.
macro_rules! merged_stream_pymethods {
    (impl $class:ident { $($own:tt)* }) => {
        #[pymethods]
        impl $class {
            $($own)*

            /// The completion so far, as a chatsse.types.ChatCompletion (a snapshot: later chunks do not
            /// change it). Callable at any time.
            #[pyo3(name = "completion")]
            fn py_completion<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
                reading(slf, |this| this.merged().completion(slf.py()))
            }

            /// The completion so far as compact JSON: the body of the non-streamed response.
            #[pyo3(name = "to_json")]
            fn py_to_json<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyBytes>> {
                reading(slf, |this| Ok(this.merged().to_json(slf.py())))
            }

            /// The arguments of each tool call of a choice as parsed so far: while a call streams, the JSON
            /// that has arrived is completed (strings closed, open containers closed, a member still missing
            /// its value left out) and decoded. None for a call with no parseable arguments yet.
            #[pyo3(name = "tool_call_arguments", signature = (choice = 0))]
            fn py_tool_call_arguments<'py>(slf: &Bound<'py, Self>, choice: i64) -> PyResult<Vec<Option<Bound<'py, PyAny>>>> {
                reading(slf, |this| this.merged().tool_call_arguments(slf.py(), choice))
            }

            /// The usage, as soon as a non-null one arrived (the last one wins), else None.
            #[getter(usage)]
            fn py_usage<'py>(slf: &Bound<'py, Self>) -> PyResult<Option<Bound<'py, PyAny>>> {
                reading(slf, |this| this.merged().usage(slf.py()))
            }

            /// True once `[DONE]` arrived, every choice has a finish reason, or `close` found a JSON-lines body
            /// ending at a line boundary.
            #[getter(finished)]
            fn py_finished(slf: &Bound<'_, Self>) -> PyResult<bool> {
                reading(slf, |this| Ok(this.merged().finished()))
            }

            /// The usage as compact JSON, every provider member kept (OpenRouter's `cost`, ...), or None.
            #[pyo3(name = "usage_json")]
            fn py_usage_json<'py>(slf: &Bound<'py, Self>) -> PyResult<Option<Bound<'py, PyBytes>>> {
                reading(slf, |this| Ok(this.merged().merge.usage_json().map(|json| PyBytes::new(slf.py(), json.as_bytes()))))
            }

            /// True once `data: [DONE]` arrived.
            #[getter(done)]
            fn py_done(slf: &Bound<'_, Self>) -> PyResult<bool> {
                reading(slf, |this| Ok(this.merged().done()))
            }

            /// Chunks merged so far.
            #[getter(chunks)]
            fn py_chunks(slf: &Bound<'_, Self>) -> PyResult<u64> {
                reading(slf, |this| Ok(this.merged().chunks()))
            }
        }
    };
}
pub(crate) use merged_stream_pymethods;

/// The Accumulator that merges the stream of a class built on one.
pub(crate) trait Merged {
    fn merged(&self) -> &Accumulator;
}

impl Merged for Accumulator {
    fn merged(&self) -> &Accumulator {
        self
    }
}

/// Merges a streamed response into the completion the same request would have returned unstreamed.
#[pyclass(module = "chatsse._core", name = "Accumulator")]
pub struct Accumulator {
    stream: PayloadStream,
    pub(crate) merge: Merge,
    /// Kept across the calls that build objects; readers running together each get a builder
    /// (`SharedBuilder`).
    builder: SharedBuilder,
    cut_inside_payload: bool,
    /// `close` found a JSON-lines body ending at a line boundary: complete (it has no `[DONE]`).
    ended: bool,
    /// The JSON of the last chunk object `add` took, its buffer reused.
    encoded: Vec<u8>,
    poisoned: AtomicBool,
}

impl Poisonable for Accumulator {
    fn poisoned(&self) -> &AtomicBool {
        &self.poisoned
    }
}

// The Python methods: each borrows the object (`exclusive` to change it, `shared` to read it) and
// calls the method of the same name below. The readers of the merged stream come from
// `merged_stream_pymethods`.
merged_stream_pymethods! {
impl Accumulator {
    #[new]
    #[pyo3(signature = (*, format = "auto", max_event_size = DEFAULT_MAX_EVENT_SIZE))]
    pub(crate) fn new(format: &str, max_event_size: usize) -> PyResult<Self> {
        Ok(Accumulator {
            stream: payload_stream(format, max_event_size)?,
            merge: Merge::new(),
            builder: SharedBuilder::default(),
            cut_inside_payload: false,
            ended: false,
            encoded: Vec::new(),
            poisoned: AtomicBool::new(false),
        })
    }

    /// Takes the next piece of the raw body (any cutting). Raises UpstreamError for an error report
    /// (after merging what that chunk carried), DecodeError for a bad payload; either is raised once
    /// the rest of the piece is merged too, so that nothing after a bad chunk is lost. A piece of
    /// 4 KiB or more is framed and merged with the GIL released.
    #[pyo3(name = "feed")]
    fn py_feed(slf: &Bound<'_, Self>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        changing(slf, |this| this.feed(slf.py(), data))
    }

    /// Feeds every piece `source` yields, as `feed` does each, with the loop in Rust: a Python loop
    /// calling `feed` costs ~30 ns a call, which on 64-byte pieces is more than the work (README,
    /// Benchmarks). Stops at the first piece whose feed raises, as that loop would.
    #[pyo3(name = "feed_all")]
    fn py_feed_all(slf: &Bound<'_, Self>, source: &Bound<'_, PyAny>) -> PyResult<()> {
        changing(slf, |this| this.feed_all(slf.py(), source))
    }

    /// Merges one chunk obtained elsewhere: a ChatCompletionChunk, or its JSON payload (bytes or str).
    #[pyo3(name = "add")]
    fn py_add(slf: &Bound<'_, Self>, chunk: &Bound<'_, PyAny>) -> PyResult<()> {
        changing(slf, |this| this.add(slf.py(), chunk))
    }

    /// Ends the body: merges a last event that no blank line ended, when its payload is complete.
    /// Raises TruncatedStreamError when the body ended inside a payload.
    #[pyo3(name = "close")]
    fn py_close(slf: &Bound<'_, Self>) -> PyResult<()> {
        changing(slf, |this| this.close(slf.py()))
    }

    /// The stream offset just past the last complete event (its blank line; JSON lines: its line
    /// ending): `body[:complete_offset]` holds only whole events, what follows an unfinished one.
    #[getter(complete_offset)]
    fn py_complete_offset(slf: &Bound<'_, Self>) -> PyResult<u64> {
        reading(slf, |this| Ok(this.stream.complete_offset()))
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        Ok(shared(slf)?.repr("Accumulator")) // a poisoned object still shows itself
    }
}
}

impl Accumulator {

    fn feed(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let input = FeedInput::extract(data)?;
        self.feed_bytes(py, input.as_slice(), &mut ())
    }

    /// Frames and merges `bytes`, telling `observer` what was merged (see `MergeObserver`).
    pub(crate) fn feed_bytes(&mut self, py: Python<'_>, bytes: &[u8], observer: &mut impl MergeObserver) -> PyResult<()> {
        // Framing and merging make no Python object: a failure is kept as Rust data (`MergeFailure`)
        // and made an exception once attached again.
        let (framed, first_failure) = if bytes.len() >= DETACH_FROM {
            py.detach(|| frame_merge_and_observe(&mut self.stream, &mut self.merge, bytes, observer))
        } else {
            frame_merge_and_observe(&mut self.stream, &mut self.merge, bytes, observer)
        };
        // An error of a payload comes first: a framing error after it (a later event too large) is
        // raised again by the next feed or close, as the stream stays failed.
        if let Some(failure) = first_failure {
            return Err(failure.into_error(py));
        }
        framed.map_err(|error| stream_error(py, frame_only(error)))
    }

    fn feed_all(&mut self, py: Python<'_>, source: &Bound<'_, PyAny>) -> PyResult<()> {
        for piece in source.try_iter()? {
            self.feed(py, &piece?)?;
        }
        Ok(())
    }

    fn add(&mut self, py: Python<'_>, chunk: &Bound<'_, PyAny>) -> PyResult<()> {
        // A chunk object first: asking it for a buffer, as `extract_document` does, raises and
        // clears a TypeError, which cost more than encoding the chunk.
        if !chunk.is_instance_of::<PyBytes>() && Schema::get(py)?.is_instance(chunk, Root::Chunk)? {
            // Written by `encode` into a buffer kept for the next chunk, then merged as its bytes.
            super::encode::encode_into(py, chunk, &mut self.encoded)?;
            return add_payload(py, &mut self.merge, &StreamPayload::document(&self.encoded));
        }
        let input = match FeedInput::extract_document(chunk) {
            Ok(input) => input,
            // A str with no UTF-8 form: its DecodeError, not "expected a chunk".
            Err(error) if chunk.is_instance_of::<pyo3::types::PyString>() => return Err(error),
            Err(_) => {
                let name = chunk.get_type().name()?;
                return Err(PyTypeError::new_err(format!("expected a ChatCompletionChunk or its JSON payload, got {name}")));
            }
        };
        add_payload(py, &mut self.merge, &StreamPayload::document(input.as_slice()))
    }

    fn close(&mut self, py: Python<'_>) -> PyResult<()> {
        self.close_observing(py, &mut ())
    }

    /// `close`, telling `observer` what the last payload merged.
    pub(crate) fn close_observing(&mut self, py: Python<'_>, observer: &mut impl MergeObserver) -> PyResult<()> {
        let merge = &mut self.merge;
        let mut cut_inside_payload = false;
        let result = self.stream.finish(|payload| {
            if payload.is_cut_short() {
                cut_inside_payload = true;
                return Ok(());
            }
            add_payload(py, merge, &payload)?;
            observer.merged(&payload, merge);
            Ok(())
        });
        self.cut_inside_payload |= cut_inside_payload;
        result.map_err(|error| stream_error(py, error))?;
        truncation(py, &self.stream, self.cut_inside_payload, false)?;
        self.ended = self.stream.format() == Format::JsonLines;
        Ok(())
    }

    pub(crate) fn completion<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let json = self.json();
        let payload = Payload::document(json.as_bytes());
        self.builder.with(py, |builder| payload.decode_data(py, builder, Root::Completion))
    }

    pub(crate) fn to_json<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.json().as_bytes())
    }

    pub(crate) fn tool_call_arguments<'py>(&self, py: Python<'py>, choice: i64) -> PyResult<Vec<Option<Bound<'py, PyAny>>>> {
        self.builder.with(py, |builder| {
            let mut parsed = Vec::new();
            for text in self.merge.tool_call_arguments(choice) {
                let value = match text.and_then(|text| partial_json::complete(text).ok().flatten()) {
                    Some(document) => builder.decode_any(py, document.as_bytes()).ok(),
                    None => None,
                };
                parsed.push(value);
            }
            Ok(parsed)
        })
    }

    pub(crate) fn usage<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(json) = self.merge.usage_json() else { return Ok(None) };
        self.builder.with(py, |builder| Payload::document(json.as_bytes()).decode_data(py, builder, Root::Usage)).map(Some)
    }

    pub(crate) fn finished(&self) -> bool {
        self.stream.done() || self.merge.all_finished() || self.ended
    }

    pub(crate) fn done(&self) -> bool {
        self.stream.done()
    }

    pub(crate) fn chunks(&self) -> u64 {
        self.merge.chunks()
    }

    pub(crate) fn repr(&self, class: &str) -> String {
        format!(
            "{class}(chunks={}, finished={})",
            self.merge.chunks(),
            if self.finished() { "True" } else { "False" }
        )
    }

    fn json(&self) -> String {
        let mut out = String::new();
        self.merge.write_json(&mut out);
        out
    }
}

/// Merges one payload. An error report (an `event: error` frame, kept as the completion's `error`
/// member, or a chunk reporting one) raises UpstreamError once what it carried is merged; a member
/// left out for its type raises DecodeError once the rest of its chunk is merged.
fn add_payload(py: Python<'_>, merge: &mut Merge, payload: &StreamPayload<'_>) -> PyResult<()> {
    merge_payload(merge, payload).map_err(|failure| failure.into_error(py))
}

/// Merges one payload, in Rust only (callable detached): the failure, if any, as data.
/// (Boxed: the result of every payload stays a pointer wide.)
pub(crate) fn merge_payload(merge: &mut Merge, payload: &StreamPayload<'_>) -> Result<(), Box<MergeFailure>> {
    super::injected_panic(payload.bytes);
    let added = if payload.error_event { merge.add_error_report(payload.bytes) } else { merge.add(payload.bytes) };
    match added {
        Ok(outcome) if outcome.upstream_error => Err(Box::new(MergeFailure::Upstream(OwnedPayload::of(payload)))),
        Ok(ChunkOutcome { rejected: Some(error), .. }) => Err(Box::new(MergeFailure::Invalid(OwnedPayload::of(payload), *error))),
        Ok(_) => Ok(()),
        Err(error) => Err(Box::new(MergeFailure::Invalid(OwnedPayload::of(payload), error))),
    }
}

/// Frames `bytes` and merges every payload, as `Accumulator.feed` does: a payload that fails is
/// reported (the first one) after the rest of the piece is merged. Pure Rust: runs detached.
pub(crate) fn frame_and_merge(
    stream: &mut PayloadStream,
    merge: &mut Merge,
    bytes: &[u8],
) -> (Result<(), StreamError<Infallible>>, Option<Box<MergeFailure>>) {
    frame_merge_and_observe(stream, merge, bytes, &mut ())
}

/// `frame_and_merge`, telling `observer` each payload merged as a chunk and where the framing ended.
fn frame_merge_and_observe(
    stream: &mut PayloadStream,
    merge: &mut Merge,
    bytes: &[u8],
    observer: &mut impl MergeObserver,
) -> (Result<(), StreamError<Infallible>>, Option<Box<MergeFailure>>) {
    let mut first_failure = None;
    let framed = stream.feed(bytes, |payload| {
        match merge_payload(merge, &payload) {
            Ok(()) => observer.merged(&payload, merge),
            Err(failure) => {
                first_failure.get_or_insert(failure);
            }
        }
        Ok(())
    });
    observer.framed(framed.is_ok().then(|| stream.complete_offset()));
    (framed, first_failure)
}

/// What a consumer that does more than merge (the Rewriter) learns as the accumulator works; `()`
/// learns nothing. Send: it runs where framing runs, detached from the interpreter.
pub(crate) trait MergeObserver: Send {
    /// A payload merged as a chunk (no error reported, no member left out), by `merge`.
    fn merged(&mut self, payload: &StreamPayload<'_>, merge: &Merge);
    /// The piece is framed: the stream offset past the last complete event, None when framing failed.
    fn framed(&mut self, complete_offset: Option<u64>);
}

impl MergeObserver for () {
    fn merged(&mut self, _: &StreamPayload<'_>, _: &Merge) {}
    fn framed(&mut self, _: Option<u64>) {}
}

/// A framing error of a stream whose payload callback cannot fail.
pub(crate) fn frame_only(error: StreamError<Infallible>) -> StreamError<PyErr> {
    match error {
        StreamError::Frame(error) => StreamError::Frame(error),
        StreamError::Payload(never) => match never {},
    }
}

/// Why a payload was not merged, kept without Python objects until the GIL is held again.
pub(crate) enum MergeFailure {
    /// The provider's error report (UpstreamError).
    Upstream(OwnedPayload),
    /// Not a valid chunk (DecodeError).
    Invalid(OwnedPayload, AccumulateError),
}

impl MergeFailure {
    #[cold]
    #[allow(clippy::boxed_local)] // merge_payload hands failures out boxed
    pub(crate) fn into_error(self: Box<Self>, py: Python<'_>) -> PyErr {
        match *self {
            MergeFailure::Upstream(payload) => Payload::from_stream(&payload.as_payload()).upstream_error(py),
            MergeFailure::Invalid(payload, error) => {
                Payload::from_stream(&payload.as_payload()).error_at(py, error.offset, &error.path, &error.message)
            }
        }
    }
}

/// A copy of a payload that failed, for its error report (made once per failure, never on success).
pub(crate) struct OwnedPayload {
    bytes: Vec<u8>,
    offset: u64,
    error_event: bool,
    unterminated: bool,
    line_starts: Vec<(usize, u64)>,
    event: (u64, u64),
}

impl OwnedPayload {
    #[cold]
    fn of(payload: &StreamPayload<'_>) -> Self {
        OwnedPayload {
            bytes: payload.bytes.to_vec(),
            offset: payload.offset,
            error_event: payload.error_event,
            unterminated: payload.unterminated,
            line_starts: payload.line_starts.to_vec(),
            event: (payload.event_start, payload.event_end),
        }
    }

    fn as_payload(&self) -> StreamPayload<'_> {
        StreamPayload {
            bytes: &self.bytes,
            offset: self.offset,
            error_event: self.error_event,
            unterminated: self.unterminated,
            line_starts: &self.line_starts,
            event_start: self.event.0,
            event_end: self.event.1,
        }
    }
}

/// The builder kept by an Accumulator for the calls that make objects. Readers may run together
/// (a shared borrow), so it is taken with `try_lock`, never waited for (see `objects::KEY_CACHE`):
/// a reader that finds it taken makes its own.
#[derive(Default)]
struct SharedBuilder(Mutex<Option<Builder<'static>>>);

impl SharedBuilder {
    fn with<R>(&self, py: Python<'_>, work: impl FnOnce(&mut Builder<'static>) -> PyResult<R>) -> PyResult<R> {
        let mut kept = self.0.try_lock().ok().and_then(|mut slot| slot.take());
        let mut builder = Builder::take(&mut kept, py)?;
        let result = work(&mut builder);
        if let Ok(mut slot) = self.0.try_lock() {
            slot.get_or_insert(builder);
        }
        result
    }
}
