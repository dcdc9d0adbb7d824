//! `SSEDecoder` and `ServerSentEvent`: the event-stream framer for Python.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};
use pyo3::intern;

use super::{decode_utf8, frame_error, FeedInput};
use crate::event_stream::{Event, EventStreamDecoder, DEFAULT_MAX_EVENT_SIZE};

/// One server-sent event, as `SSEDecoder.feed` returns it.
#[pyclass(module = "chatsse._core", name = "ServerSentEvent", frozen)]
pub struct ServerSentEvent {
    /// The event type: the `event` field, or "message".
    #[pyo3(get)]
    event: Py<PyString>,
    /// The `data` lines joined with "\n".
    #[pyo3(get)]
    data: Py<PyString>,
    /// The last event ID in force when this event was dispatched ("" if none yet).
    #[pyo3(get)]
    id: Py<PyString>,
    /// The reconnection time (ms) given by a valid `retry` field in this event's block.
    #[pyo3(get)]
    retry: Option<u64>,
}

#[pymethods]
impl ServerSentEvent {
    #[new]
    #[pyo3(signature = (data = None, event = None, id = None, retry = None))]
    fn new(
        py: Python<'_>,
        data: Option<Bound<'_, PyString>>,
        event: Option<Bound<'_, PyString>>,
        id: Option<Bound<'_, PyString>>,
        retry: Option<u64>,
    ) -> Self {
        let empty = || PyString::new(py, "");
        ServerSentEvent {
            event: event.unwrap_or_else(|| intern!(py, "message").clone()).unbind(),
            data: data.unwrap_or_else(empty).unbind(),
            id: id.unwrap_or_else(empty).unbind(),
            retry,
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let retry = match self.retry {
            Some(retry) => retry.to_string(),
            None => "None".to_owned(),
        };
        Ok(format!(
            "ServerSentEvent(event={}, data={}, id={}, retry={retry})",
            self.event.bind(py).repr()?,
            self.data.bind(py).repr()?,
            self.id.bind(py).repr()?,
        ))
    }

    fn __richcmp__(&self, py: Python<'_>, other: &Bound<'_, PyAny>, op: pyo3::basic::CompareOp) -> PyResult<Py<PyAny>> {
        use pyo3::basic::CompareOp;
        let Ok(other) = other.cast::<ServerSentEvent>() else {
            return Ok(py.NotImplemented());
        };
        let other = other.get();
        let same = |a: &Py<PyString>, b: &Py<PyString>| PyAnyMethods::eq(a.bind(py).as_any(), b.bind(py));
        let equal = self.retry == other.retry && same(&self.event, &other.event)? && same(&self.data, &other.data)? && same(&self.id, &other.id)?;
        match op {
            CompareOp::Eq => Ok(equal.into_pyobject(py)?.to_owned().into_any().unbind()),
            CompareOp::Ne => Ok((!equal).into_pyobject(py)?.to_owned().into_any().unbind()),
            _ => Ok(py.NotImplemented()),
        }
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        (self.event.bind(py), self.data.bind(py), self.id.bind(py), self.retry).into_pyobject(py)?.hash()
    }
}

/// Slice equality that never calls `memcmp` for empty slices. Comparing two empty `Vec`s (dangling
/// pointers) through glibc's EVEX `memcmp` was measured at hundreds of nanoseconds a call on the AMD
/// EPYC machines we run on, with kernel page-fault handling in the profile: the framer ran 8x
/// slower until the id comparison stopped doing it. Ids and event types are empty in nearly every
/// chat stream, so the empty case must be free.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && (a.is_empty() || a == b)
}

/// Converted values that repeat from event to event, kept so that each is made once.
struct StringCache {
    message: Py<PyString>,
    event_type: Vec<u8>,
    event_type_str: Option<Py<PyString>>,
    id: Vec<u8>,
    id_str: Py<PyString>,
}

impl StringCache {
    fn new(py: Python<'_>) -> Self {
        StringCache {
            message: intern!(py, "message").clone().unbind(),
            event_type: Vec::new(),
            event_type_str: None,
            id: Vec::new(),
            id_str: PyString::new(py, "").unbind(),
        }
    }

    fn event_object(&mut self, py: Python<'_>, event: &Event<'_>) -> PyResult<ServerSentEvent> {
        let event_type = if event.event_type_field.is_empty() {
            self.message.clone_ref(py)
        } else {
            match &self.event_type_str {
                Some(cached) if same_bytes(&self.event_type, event.event_type_field) => cached.clone_ref(py),
                _ => {
                    let converted = decode_utf8(py, event.event_type_field)?.unbind();
                    self.event_type.clear();
                    self.event_type.extend_from_slice(event.event_type_field);
                    self.event_type_str = Some(converted.clone_ref(py));
                    converted
                }
            }
        };
        if !same_bytes(&self.id, event.last_event_id) {
            self.id_str = decode_utf8(py, event.last_event_id)?.unbind();
            self.id.clear();
            self.id.extend_from_slice(event.last_event_id);
        }
        Ok(ServerSentEvent {
            event: event_type,
            data: decode_utf8(py, event.data)?.unbind(),
            id: self.id_str.clone_ref(py),
            retry: event.retry,
        })
    }
}

/// Takes a new event out of the cyclic garbage collector's lists. pyo3 makes every pyclass a GC type,
/// but a frozen event holding only strs and an int can never be part of a cycle (CPython untracks
/// tuples of atomic values for the same reason); tracked, each collection of the young generation
/// walked every event of the stream still held (docs/decisions.md §7).
fn untrack(event: &Bound<'_, ServerSentEvent>) {
    // SAFETY: the object is alive (borrowed) and of a GC type; untracking an object never breaks it,
    // and pyo3's dealloc untracks only if tracked.
    unsafe { pyo3::ffi::PyObject_GC_UnTrack(event.as_ptr().cast()) };
}

/// Incremental `text/event-stream` decoder (WHATWG HTML rules).
#[pyclass(module = "chatsse._core", name = "SSEDecoder")]
pub struct SSEDecoder {
    decoder: EventStreamDecoder,
    strings: StringCache,
}

#[pymethods]
impl SSEDecoder {
    #[new]
    #[pyo3(signature = (*, max_event_size = DEFAULT_MAX_EVENT_SIZE))]
    fn new(py: Python<'_>, max_event_size: usize) -> PyResult<Self> {
        if max_event_size == 0 {
            return Err(PyValueError::new_err("max_event_size must be at least 1 byte"));
        }
        Ok(SSEDecoder { decoder: EventStreamDecoder::new(max_event_size), strings: StringCache::new(py) })
    }

    /// Parses the next piece of the stream; returns the events it completed.
    fn feed<'py>(&mut self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let input = FeedInput::extract(data)?;
        let events = PyList::empty(py);
        let mut conversion_error: Option<PyErr> = None;
        let strings = &mut self.strings;
        let result = self.decoder.feed(input.as_slice(), |event| {
            if conversion_error.is_some() {
                return;
            }
            let appended = strings.event_object(py, event).and_then(|object| Bound::new(py, object)).and_then(|object| {
                untrack(&object);
                events.append(object)
            });
            if let Err(error) = appended {
                conversion_error = Some(error);
            }
        });
        if let Some(error) = conversion_error {
            return Err(error);
        }
        match result {
            Ok(()) => Ok(events),
            Err(error) => Err(frame_error(py, &error, events)),
        }
    }

    /// Ends the stream: returns True when an unterminated event was discarded (the stream was cut
    /// inside an event). Later feeds raise DecoderClosedError.
    fn close(&mut self) -> bool {
        self.decoder.close()
    }

    /// The last event ID string, as a reconnecting client sends it in `Last-Event-ID`.
    #[getter]
    fn last_event_id<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyString>> {
        decode_utf8(py, self.decoder.last_event_id())
    }

    /// The reconnection time in milliseconds from the latest valid `retry` field, or None.
    #[getter]
    fn retry(&self) -> Option<u64> {
        self.decoder.retry()
    }

    #[getter]
    fn max_event_size(&self) -> usize {
        self.decoder.max_event_size()
    }

    /// Bytes fed so far.
    #[getter]
    fn offset(&self) -> u64 {
        self.decoder.offset()
    }

    #[getter]
    fn closed(&self) -> bool {
        self.decoder.is_closed()
    }

    fn __repr__(&self) -> String {
        format!(
            "SSEDecoder(max_event_size={}, offset={}, closed={})",
            self.decoder.max_event_size(),
            self.decoder.offset(),
            if self.decoder.is_closed() { "True" } else { "False" }
        )
    }
}

