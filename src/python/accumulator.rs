//! `Accumulator`: the merge of `crate::accumulate` behind a proxy tap. `feed` frames, parses and merges
//! in Rust and makes no Python object per chunk; Python objects are made only when asked for.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::chunks::{payload_stream, stream_error, truncation, Payload};
use super::objects::{Builder, Root, Schema};
use super::FeedInput;
use crate::accumulate::{Accumulator as Merge, ChunkOutcome};
use crate::event_stream::DEFAULT_MAX_EVENT_SIZE;
use crate::partial_json;
use crate::payload_stream::{Format, Payload as StreamPayload, PayloadStream};

/// Merges a streamed response into the completion the same request would have returned unstreamed.
#[pyclass(module = "chatsse._core", name = "Accumulator")]
pub struct Accumulator {
    stream: PayloadStream,
    merge: Merge,
    builder: Option<Builder<'static>>,
    cut_inside_payload: bool,
    /// `close` found a JSON-lines body ending at a line boundary: complete (it has no `[DONE]`).
    ended: bool,
}

#[pymethods]
impl Accumulator {
    #[new]
    #[pyo3(signature = (*, format = "auto", max_event_size = DEFAULT_MAX_EVENT_SIZE))]
    fn new(format: &str, max_event_size: usize) -> PyResult<Self> {
        Ok(Accumulator {
            stream: payload_stream(format, max_event_size)?,
            merge: Merge::new(),
            builder: None,
            cut_inside_payload: false,
            ended: false,
        })
    }

    /// Takes the next piece of the raw body (any cutting). Raises UpstreamError for an error report
    /// (after merging what that chunk carried), DecodeError for a bad payload; either is raised once
    /// the rest of the piece is merged too, so that nothing after a bad chunk is lost.
    fn feed(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let input = FeedInput::extract(data)?;
        let merge = &mut self.merge;
        let mut first_error: Option<PyErr> = None;
        let framed = self.stream.feed(input.as_slice(), |payload| {
            if let Err(error) = add_payload(py, merge, &payload) {
                first_error.get_or_insert(error);
            }
            Ok::<(), PyErr>(())
        });
        // An error of a payload comes first: a framing error after it (a later event too large) is
        // raised again by the next feed or close, as the stream stays failed.
        if let Some(error) = first_error {
            return Err(error);
        }
        framed.map_err(|error| stream_error(py, error))
    }

    /// Feeds every piece `source` yields, as `feed` does each, with the loop in Rust: a Python loop
    /// calling `feed` costs ~30 ns a call, which on 64-byte pieces is more than the work (README,
    /// Benchmarks). Stops at the first piece whose feed raises, as that loop would.
    fn feed_all(&mut self, py: Python<'_>, source: &Bound<'_, PyAny>) -> PyResult<()> {
        for piece in source.try_iter()? {
            self.feed(py, &piece?)?;
        }
        Ok(())
    }

    /// Merges one chunk obtained elsewhere: a ChatCompletionChunk, or its JSON payload (bytes or str).
    fn add(&mut self, py: Python<'_>, chunk: &Bound<'_, PyAny>) -> PyResult<()> {
        let input = match FeedInput::extract_document(chunk) {
            Ok(input) => input,
            Err(error) if chunk.is_instance_of::<pyo3::types::PyString>() => return Err(error),
            Err(_) if Schema::get(py)?.is_instance(chunk, Root::Chunk)? => {
                let encoded = py.import("chatsse._chunks")?.getattr("encode")?.call1((chunk,))?;
                FeedInput::extract(&encoded)?
            }
            Err(_) => {
                let name = chunk.get_type().name()?;
                return Err(PyTypeError::new_err(format!("expected a ChatCompletionChunk or its JSON payload, got {name}")));
            }
        };
        add_payload(py, &mut self.merge, &StreamPayload::document(input.as_slice()))
    }

    /// Ends the body: merges a last event that no blank line ended, when its payload is complete.
    /// Raises TruncatedStreamError when the body ended inside a payload.
    fn close(&mut self, py: Python<'_>) -> PyResult<()> {
        let merge = &mut self.merge;
        let mut cut_inside_payload = false;
        let result = self.stream.finish(|payload| {
            if payload.is_cut_short() {
                cut_inside_payload = true;
                return Ok(());
            }
            add_payload(py, merge, &payload)
        });
        self.cut_inside_payload |= cut_inside_payload;
        result.map_err(|error| stream_error(py, error))?;
        truncation(py, &self.stream, self.cut_inside_payload, false)?;
        self.ended = self.stream.format() == Format::JsonLines;
        Ok(())
    }

    /// The completion so far, as a chatsse.types.ChatCompletion (a snapshot: later chunks do not
    /// change it). Callable at any time.
    fn completion<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let json = self.json();
        let payload = Payload::document(json.as_bytes());
        let mut builder = Builder::take(&mut self.builder, py)?;
        let result = payload.decode_data(py, &mut builder, Root::Completion);
        self.builder = Some(builder);
        result
    }

    /// The completion so far as compact JSON: the body of the non-streamed response.
    fn to_json<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.json().as_bytes())
    }

    /// The arguments of each tool call of a choice as parsed so far: while a call streams, the JSON
    /// that has arrived is completed (strings closed, open containers closed, a member still missing
    /// its value left out) and decoded. None for a call with no parseable arguments yet.
    #[pyo3(signature = (choice = 0))]
    fn tool_call_arguments<'py>(&mut self, py: Python<'py>, choice: i64) -> PyResult<Vec<Option<Bound<'py, PyAny>>>> {
        let mut builder = Builder::take(&mut self.builder, py)?;
        let mut parsed = Vec::new();
        for text in self.merge.tool_call_arguments(choice) {
            let value = match text.and_then(|text| partial_json::complete(text).ok().flatten()) {
                Some(document) => builder.decode_any(py, document.as_bytes()).ok(),
                None => None,
            };
            parsed.push(value);
        }
        self.builder = Some(builder);
        Ok(parsed)
    }

    /// The usage, as soon as a non-null one arrived (the last one wins), else None.
    #[getter]
    fn usage<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(json) = self.merge.usage_json() else { return Ok(None) };
        let mut builder = Builder::take(&mut self.builder, py)?;
        let result = Payload::document(json.as_bytes()).decode_data(py, &mut builder, Root::Usage);
        self.builder = Some(builder);
        result.map(Some)
    }

    /// True once `[DONE]` arrived, every choice has a finish reason, or `close` found a JSON-lines body
    /// ending at a line boundary.
    #[getter]
    fn finished(&self) -> bool {
        self.stream.done() || self.merge.all_finished() || self.ended
    }

    /// True once `data: [DONE]` arrived.
    #[getter]
    fn done(&self) -> bool {
        self.stream.done()
    }

    /// Chunks merged so far.
    #[getter]
    fn chunks(&self) -> u64 {
        self.merge.chunks()
    }

    fn __repr__(&self) -> String {
        format!(
            "Accumulator(chunks={}, finished={})",
            self.merge.chunks(),
            if self.finished() { "True" } else { "False" }
        )
    }
}

impl Accumulator {
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
    let report = Payload::from_stream(payload);
    let added = if report.is_error_event() { merge.add_error_report(payload.bytes) } else { merge.add(payload.bytes) };
    match added {
        Ok(outcome) if outcome.upstream_error => Err(report.upstream_error(py)),
        Ok(ChunkOutcome { rejected: Some(error), .. }) => Err(report.error_at(py, error.offset, &error.path, &error.message)),
        Err(error) => Err(report.error_at(py, error.offset, &error.path, &error.message)),
        Ok(_) => Ok(()),
    }
}
