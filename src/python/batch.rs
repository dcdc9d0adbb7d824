//! `accumulate_bodies`: many whole response bodies merged at once, detached from the interpreter and
//! spread over worker threads; Python objects are made afterwards, attached. For the services that
//! reconcile logged streams offline (`chatsse.accumulate_many` is its Python face).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use super::accumulator::{frame_and_merge, merge_payload, MergeFailure};
use super::chunks::{payload_stream, stream_error, truncation, Payload};
use super::objects::{Builder, Root, Schema};
use super::FeedInput;
use crate::accumulate::Accumulator as Merge;
use crate::event_stream::{FrameError, DEFAULT_MAX_EVENT_SIZE};
use crate::payload_stream::{Format, PayloadStream, StreamError};

/// Accumulates each body of `bodies` (an iterable of bytes-like objects, each a whole raw body) as
/// `Accumulator.feed` + `close` would; returns, per body in order, a tuple `(completion, finished,
/// chunks, error)`: the completion (a ChatCompletion, or its JSON bytes with `as_json`), whether the
/// body finished (`[DONE]` or every choice's finish reason), the chunks merged, and the ChatSSEError
/// that stopped it (the completion is then what was merged before) or None. `workers` threads (by
/// default one per core) merge the bodies without the GIL while this thread makes the objects.
#[pyfunction]
#[pyo3(signature = (bodies, *, format = "auto", max_event_size = DEFAULT_MAX_EVENT_SIZE, as_json = false, workers = None))]
pub fn accumulate_bodies<'py>(
    py: Python<'py>,
    bodies: &Bound<'py, PyAny>,
    format: &str,
    max_event_size: usize,
    as_json: bool,
    workers: Option<usize>,
) -> PyResult<Bound<'py, PyList>> {
    let template = payload_stream(format, max_event_size)?;
    let workers = match workers {
        Some(0) => return Err(PyValueError::new_err("workers must be at least 1")),
        Some(workers) => workers,
        None => thread::available_parallelism().map_or(1, |cores| cores.get()),
    };
    let inputs = bodies.try_iter()?.map(|body| FeedInput::extract(&body?)).collect::<PyResult<Vec<_>>>()?;
    let slices: Vec<&[u8]> = inputs.iter().map(FeedInput::as_slice).collect();
    let mut builder = Builder::for_stream(Schema::get(py)?);
    let mut made: Vec<Option<Bound<'py, PyTuple>>> = (0..slices.len()).map(|_| None).collect();
    // The workers merge, detached; this thread makes each merged body's objects as it arrives (with
    // the GIL, which only it needs), and waits detached when none has. Making a ChatCompletion can
    // cost as much as merging its body (logprobs: ~20 objects a token), so the two overlap.
    let next = AtomicUsize::new(0);
    thread::scope(|scope| -> PyResult<()> {
        let (sender, mut merged) = mpsc::channel::<(usize, BodyOutcome)>();
        let workers = workers.min(slices.len());
        for _ in 0..workers {
            let sender = sender.clone();
            let (next, slices, template) = (&next, &slices, &template);
            // Each takes the next body not yet taken (bodies differ in size).
            scope.spawn(move || loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = slices.get(index) else { return };
                if sender.send((index, accumulate_one(template.clone(), body))).is_err() {
                    return;
                }
            });
        }
        drop(sender);
        loop {
            let (index, outcome) = match merged.try_recv() {
                Ok(ready) => ready,
                Err(mpsc::TryRecvError::Empty) => {
                    // `&mut`: a Receiver may not be shared, only lent to the detached wait.
                    let waiting = &mut merged;
                    match py.detach(move || waiting.recv()) {
                        Ok(ready) => ready,
                        Err(_) => return Ok(()),
                    }
                }
                Err(mpsc::TryRecvError::Disconnected) => return Ok(()),
            };
            made[index] = Some(body_result(py, &mut builder, outcome, as_json)?);
        }
    })?;
    // A worker that panicked left its body unmade; the panic itself is raised by the scope above.
    PyList::new(py, made.into_iter().map(|result| result.expect("every body merged")))
}

/// The tuple `accumulate_bodies` gives for one body.
fn body_result<'py>(py: Python<'py>, builder: &mut Builder<'_>, outcome: BodyOutcome, as_json: bool) -> PyResult<Bound<'py, PyTuple>> {
    let completion = if as_json {
        PyBytes::new(py, outcome.json.as_bytes()).into_any()
    } else {
        Payload::document(outcome.json.as_bytes()).decode_data(py, builder, Root::Completion)?
    };
    // As `Accumulator.finished` after `close`: a JSON-lines body that ended whole is complete.
    let ended = outcome.failure.is_none() && outcome.stream.format() == Format::JsonLines;
    let error = match outcome.failure {
        None => None,
        Some(BodyFailure::Frame(error)) => Some(stream_error(py, StreamError::Frame(error))),
        Some(BodyFailure::Merge(failure)) => Some(failure.into_error(py)),
        Some(BodyFailure::CutInsidePayload) => truncation(py, &outcome.stream, true, false).err(),
    };
    let error = error.map_or_else(|| py.None().into_bound(py), |error| error.into_value(py).into_bound(py).into_any());
    let finished = (outcome.stream.done() || outcome.finished || ended).into_pyobject(py)?.to_owned().into_any();
    PyTuple::new(py, [completion, finished, outcome.chunks.into_pyobject(py)?.into_any(), error])
}

/// What accumulating one body came to.
struct BodyOutcome {
    json: String,
    /// Every choice has a finish reason (`[DONE]` is read from `stream`).
    finished: bool,
    chunks: u64,
    failure: Option<BodyFailure>,
    stream: PayloadStream,
}

enum BodyFailure {
    Frame(FrameError),
    Merge(Box<MergeFailure>),
    /// The body ended inside a payload (TruncatedStreamError).
    CutInsidePayload,
}

/// One body, as `Accumulator.feed(body)` then `close()`: a failure of the feed stops it there.
fn accumulate_one(mut stream: PayloadStream, body: &[u8]) -> BodyOutcome {
    let mut merge = Merge::new();
    let (framed, first_failure) = frame_and_merge(&mut stream, &mut merge, body);
    let failure = match (framed, first_failure) {
        (Err(StreamError::Frame(error)), _) => Some(BodyFailure::Frame(error)),
        (Err(StreamError::Payload(never)), _) => match never {},
        (Ok(()), Some(failure)) => Some(BodyFailure::Merge(failure)),
        (Ok(()), None) => close(&mut stream, &mut merge),
    };
    let mut json = String::new();
    merge.write_json(&mut json);
    BodyOutcome { json, finished: merge.all_finished(), chunks: merge.chunks(), failure, stream }
}

/// The end of a body, as `Accumulator.close`.
fn close(stream: &mut PayloadStream, merge: &mut Merge) -> Option<BodyFailure> {
    let mut cut_inside_payload = false;
    let ended = stream.finish(|payload| {
        if payload.is_cut_short() {
            cut_inside_payload = true;
            return Ok(());
        }
        merge_payload(merge, &payload)
    });
    match ended {
        Err(StreamError::Frame(error)) => Some(BodyFailure::Frame(error)),
        Err(StreamError::Payload(failure)) => Some(BodyFailure::Merge(failure)),
        Ok(()) if cut_inside_payload => Some(BodyFailure::CutInsidePayload),
        Ok(()) => None,
    }
}
