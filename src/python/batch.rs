//! `accumulate_bodies`: many whole response bodies merged at once, detached from the interpreter and
//! spread over worker threads; Python objects are made afterwards, attached. For the services that
//! reconcile logged streams offline (`chatsse.accumulate_many` is its Python face).

use std::sync::atomic::{AtomicUsize, Ordering};
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
use crate::payload_stream::{PayloadStream, StreamError};

/// Accumulates each body of `bodies` (an iterable of bytes-like objects, each a whole raw body) as
/// `Accumulator.feed` + `close` would; returns, per body in order, a tuple `(completion, finished,
/// chunks, error)`: the completion (a ChatCompletion, or its JSON bytes with `as_json`), whether the
/// body finished (`[DONE]` or every choice's finish reason), the chunks merged, and the ChatSSEError
/// that stopped it (the completion is then what was merged before) or None. `workers` threads (by
/// default one per core) share the bodies; the GIL is released meanwhile.
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
    let outcomes = py.detach(|| accumulate_all(&template, &slices, workers));
    let schema = Schema::get(py)?;
    let mut builder = Builder::for_stream(schema);
    let results = PyList::empty(py);
    for outcome in outcomes {
        let completion = if as_json {
            PyBytes::new(py, outcome.json.as_bytes()).into_any()
        } else {
            Payload::document(outcome.json.as_bytes()).decode_data(py, &mut builder, Root::Completion)?
        };
        let error = match outcome.failure {
            None => None,
            Some(BodyFailure::Frame(error)) => Some(stream_error(py, StreamError::Frame(error))),
            Some(BodyFailure::Merge(failure)) => Some(failure.into_error(py)),
            Some(BodyFailure::CutInsidePayload) => truncation(py, &outcome.stream, true, false).err(),
        };
        let error = error.map_or_else(|| py.None().into_bound(py), |error| error.into_value(py).into_bound(py).into_any());
        let finished = outcome.stream.done() || outcome.finished;
        results.append(PyTuple::new(py, [completion, finished.into_pyobject(py)?.to_owned().into_any(), outcome.chunks.into_pyobject(py)?.into_any(), error])?)?;
    }
    Ok(results)
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
    Merge(MergeFailure),
    /// The body ended inside a payload (TruncatedStreamError).
    CutInsidePayload,
}

/// Every body, by `workers` threads taking the next body not yet taken (bodies differ in size).
fn accumulate_all(template: &PayloadStream, bodies: &[&[u8]], workers: usize) -> Vec<BodyOutcome> {
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(body) = bodies.get(index) else { return done };
            done.push((index, accumulate_one(template.clone(), body)));
        }
    };
    let workers = workers.min(bodies.len()).max(1);
    let mut finished: Vec<(usize, BodyOutcome)> = if workers == 1 {
        work()
    } else {
        thread::scope(|scope| {
            let handles: Vec<_> = (0..workers).map(|_| scope.spawn(work)).collect();
            handles.into_iter().flat_map(|handle| handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
        })
    };
    finished.sort_unstable_by_key(|(index, _)| *index);
    finished.into_iter().map(|(_, outcome)| outcome).collect()
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
