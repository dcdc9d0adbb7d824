//! `completion_to_stream`: the binding of `crate::completion_stream`.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::chunks::Payload;
use super::objects::{Root, Schema};
use super::FeedInput;
use crate::completion_stream::{completion_stream, Framing};

/// Bodies at least this long are streamed with the GIL released.
const DETACH_FROM: usize = 64 * 1024;

/// The events (bytes each) of the stream a provider would have sent for a completion: a
/// ChatCompletion, or a non-streamed response body (bytes, str, bytearray, memoryview).
#[pyfunction]
#[pyo3(signature = (completion, *, piece_size = 4, format = "sse"))]
pub fn completion_to_stream<'py>(py: Python<'py>, completion: &Bound<'py, PyAny>, piece_size: usize, format: &str) -> PyResult<Bound<'py, PyList>> {
    let framing = match format {
        "sse" => Framing::Sse,
        "jsonl" => Framing::JsonLines,
        other => return Err(PyValueError::new_err(format!("format must be \"sse\" or \"jsonl\", got {other:?}"))),
    };
    if piece_size == 0 {
        return Err(PyValueError::new_err("piece_size must be at least 1 (characters)"));
    }
    let encoded;
    let input;
    let body: &[u8] = if !completion.is_instance_of::<PyBytes>() && Schema::get(py)?.is_instance(completion, Root::Completion)? {
        let mut out = Vec::new();
        super::encode::encode_into(py, completion, &mut out)?;
        encoded = out;
        &encoded
    } else {
        input = FeedInput::extract_document(completion).map_err(|error| {
            if completion.is_instance_of::<pyo3::types::PyString>() {
                return error;
            }
            let name = completion.get_type().name().map(|n| n.to_string()).unwrap_or_default();
            PyTypeError::new_err(format!("expected a ChatCompletion or its JSON body (bytes or str), got {name}"))
        })?;
        input.as_slice()
    };
    let streamed = if body.len() >= DETACH_FROM {
        py.detach(|| completion_stream(body, piece_size, framing))
    } else {
        completion_stream(body, piece_size, framing)
    };
    let stream = streamed.map_err(|error| Payload::document(body).error_at(py, error.offset, &error.path, &error.message))?;
    let list = PyList::empty(py);
    let mut failed = None;
    // Each event is written straight into its `bytes` (joining them in a buffer first cost a copy of
    // the whole stream and its page faults).
    stream.for_each_event(|parts| {
        if failed.is_some() {
            return;
        }
        let length = parts.iter().map(|part| part.len()).sum();
        let made = PyBytes::new_with(py, length, |buffer| {
            let mut at = 0;
            for part in parts {
                buffer[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
            Ok(())
        });
        if let Err(error) = made.and_then(|event| list.append(event)) {
            failed = Some(error);
        }
    });
    match failed {
        Some(error) => Err(error),
        None => Ok(list),
    }
}
