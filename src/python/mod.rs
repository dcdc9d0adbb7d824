//! The Python bindings: the one place that knows about pyo3. It converts the core's results into
//! Python objects and the core's errors into the exception classes of `chatsse._errors`; no framing
//! or merging rule lives here. `sse`: the framer's classes; `objects`: building the msgspec Structs of
//! `chatsse.types` from JSON; `chunks`: typed chunk streams and document decoding; `batch`: many
//! bodies accumulated on all cores.
//!
//! Threads: the module declares that it does not need the GIL (`gil_used = false`), so a free-threaded
//! CPython (3.14t) keeps the GIL off when it loads it. What makes that true: no interpreter-wide state
//! is switched while other threads can run (`objects::GcPaused`), no blocking lock is taken while
//! attached (the key cache and the Accumulator's builder are taken with `try_lock`), and each pyclass
//! is borrowed through `exclusive`/`shared`, which turn a second call into ConcurrentUseError.

mod accumulator;
mod batch;
mod chunks;
mod completion_stream;
mod encode;
mod objects;
mod rewriter;
mod sse;

use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::buffer::PyBuffer;
use pyo3::pyclass::boolean_struct::False;
use pyo3::PyClass;
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use crate::event_stream::FrameError;

/// A str of bytes known to be ASCII (the JSON scanner tracks it): the compact ASCII string allocated
/// and filled with one copy, skipping the decoder's own check.
fn ascii_str<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyString>> {
    // SAFETY: PyUnicode_New(len, 127) makes a compact ASCII string of exactly `len` bytes (or NULL with
    // an exception set), which is filled completely before anyone else sees it.
    unsafe {
        let ptr = ffi::PyUnicode_New(bytes.len() as ffi::Py_ssize_t, 127);
        if ptr.is_null() {
            return Err(PyErr::fetch(py));
        }
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), ffi::PyUnicode_DATA(ptr).cast::<u8>(), bytes.len());
        Ok(Bound::from_owned_ptr(py, ptr).cast_into_unchecked())
    }
}

/// No byte of `bytes` has its high bit set: 32 bytes a step, OR-ed together (the compiler makes this
/// vector code), no early exit (the data of a chat stream is nearly always ASCII).
#[inline]
fn all_ascii(bytes: &[u8]) -> bool {
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let mut blocks = bytes.chunks_exact(32);
    let mut seen = 0u64;
    for block in &mut blocks {
        let word = |at: usize| u64::from_le_bytes(block[at..at + 8].try_into().expect("8 bytes"));
        seen |= word(0) | word(8) | word(16) | word(24);
    }
    for &byte in blocks.remainder() {
        seen |= u64::from(byte);
    }
    seen & HIGH_BITS == 0
}

/// `bytes.decode("utf-8", "replace")`, straight from a Rust slice: the replacement of invalid
/// sequences is Python's own (maximal subparts), and no intermediate `bytes` object is made. ASCII
/// (nearly every event's data) is checked by `all_ascii` and copied by `ascii_str`: framing 10–15%
/// faster than CPython's decoder, which checks and copies a word at a time (std's `is_ascii` in front
/// of the copy was slower on 300-byte events; docs/decisions.md §9).
fn decode_utf8<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyString>> {
    if all_ascii(bytes) {
        return ascii_str(py, bytes);
    }
    // SAFETY: the pointer and length describe a live slice; "replace" is a static C string. The call
    // returns a new reference or NULL with an exception set (only on memory exhaustion).
    unsafe {
        let ptr = ffi::PyUnicode_DecodeUTF8(bytes.as_ptr().cast(), bytes.len() as ffi::Py_ssize_t, c"replace".as_ptr());
        Ok(Bound::from_owned_ptr_or_err(py, ptr)?.cast_into_unchecked())
    }
}

/// The bytes of a feed. `bytes` is read in place (it is immutable); any other buffer (bytearray,
/// memoryview, ...) is copied once, because a mutable buffer could change while the parser reads it.
/// `str` is taken only where a whole JSON document is expected (its UTF-8 form is read in place).
enum FeedInput {
    Bytes(PyBackedBytes),
    Text(PyBackedStr),
    Copied(Vec<u8>),
}

impl FeedInput {
    /// A whole JSON document: bytes-like, or str.
    fn extract_document(data: &Bound<'_, PyAny>) -> PyResult<Self> {
        if let Ok(text) = data.cast::<PyString>() {
            return text.clone().try_into().map(FeedInput::Text).map_err(|error| unencodable(data.py(), error));
        }
        Self::extract(data).map_err(|_| {
            let name = data.get_type().name().map(|n| n.to_string()).unwrap_or_default();
            PyTypeError::new_err(format!("expected bytes, str, bytearray or memoryview, got {name}"))
        })
    }

    fn extract(data: &Bound<'_, PyAny>) -> PyResult<Self> {
        if let Ok(bytes) = data.cast::<PyBytes>() {
            return Ok(FeedInput::Bytes(bytes.clone().into()));
        }
        match PyBuffer::<u8>::get(data) {
            Ok(buffer) => Ok(FeedInput::Copied(buffer.to_vec(data.py())?)),
            Err(_) => Err(PyTypeError::new_err(format!(
                "expected bytes, bytearray or memoryview of bytes, got {}",
                data.get_type().name()?
            ))),
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            FeedInput::Bytes(bytes) => bytes,
            FeedInput::Text(text) => text.as_bytes(),
            FeedInput::Copied(vec) => vec,
        }
    }
}

/// DecodeError for a str that has no UTF-8 form (a lone surrogate, as `"\ud800"` makes in Python):
/// it cannot be JSON text. Positions are indexes in the str.
#[cold]
fn unencodable(py: Python<'_>, error: PyErr) -> PyErr {
    let value = error.value(py);
    let index: usize = value.getattr("start").and_then(|start| start.extract()).unwrap_or(0);
    let character = value
        .getattr("object")
        .and_then(|object| object.get_item(index))
        .and_then(|character| character.call_method0("__repr__"))
        .map(|repr| repr.to_string())
        .unwrap_or_default();
    let message = format!("the str has no UTF-8 form: a lone surrogate {character} at index {index}");
    let attribute = |value: usize| value.into_pyobject(py).map(|v| v.into_any()).unwrap_or_else(|_| py.None().into_bound(py));
    package_error(
        py,
        "DecodeError",
        message,
        &[
            ("offset", attribute(index)),
            ("position", attribute(index)),
            ("path", PyString::new(py, "$").into_any()),
            ("excerpt", PyString::new(py, "").into_any()),
        ],
    )
}

static ERRORS_MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// An exception of `chatsse._errors`, made with a message and keyword attributes.
#[cold]
fn package_error(py: Python<'_>, class: &str, message: String, attributes: &[(&str, Bound<'_, PyAny>)]) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let module = ERRORS_MODULE.get_or_try_init(py, || py.import("chatsse._errors").map(Bound::unbind))?;
        let kwargs = PyDict::new(py);
        for (name, value) in attributes {
            kwargs.set_item(name, value)?;
        }
        Ok(PyErr::from_value(module.bind(py).getattr(class)?.call((message,), Some(&kwargs))?))
    };
    build().unwrap_or_else(|failed| failed)
}

/// ConcurrentUseError: `object` is borrowed by a call that has not returned, in another thread (or
/// re-entered from Python code that call runs: an iterator, a buffer's `__buffer__`). pyo3's own
/// message for this is a bare "Already borrowed" RuntimeError.
#[cold]
fn concurrent_use(object: &Bound<'_, PyAny>) -> PyErr {
    let class = object.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    let message = format!(
        "this {class} is in use by a call that has not returned (another thread's, or one that is running the code \
         that made this call); an object of this class takes one call at a time: give each thread its own, or hold a lock around its use"
    );
    package_error(object.py(), "ConcurrentUseError", message, &[])
}

/// A pyclass whose Rust call panicked is poisoned: its state may be half-changed, so every later call
/// raises (`changing`, `reading`) rather than reuse it.
pub(crate) trait Poisonable {
    fn poisoned(&self) -> &AtomicBool;
}

/// A call that changes `object`, borrowed exclusively (see `exclusive`). A panic inside it, which is
/// a bug of chatsse's, poisons the object and becomes a ChatSSEError naming it.
#[inline(always)]
pub(crate) fn changing<'py, T, R>(object: &Bound<'py, T>, call: impl FnOnce(&mut T) -> PyResult<R>) -> PyResult<R>
where
    T: PyClass<Frozen = False> + Poisonable,
{
    let mut this = exclusive(object)?;
    if this.poisoned().load(Ordering::Relaxed) {
        return Err(poisoned_error(object.as_any()));
    }
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call(&mut this))) {
        Ok(result) => result,
        Err(panic) => Err(poison(&*this, object.as_any(), &panic)),
    }
}

/// A call that only reads `object`, borrowed shared (see `shared`); a panic poisons it as in `changing`.
#[inline(always)]
pub(crate) fn reading<'py, T, R>(object: &Bound<'py, T>, call: impl FnOnce(&T) -> PyResult<R>) -> PyResult<R>
where
    T: PyClass + Poisonable,
{
    let this = shared(object)?;
    if this.poisoned().load(Ordering::Relaxed) {
        return Err(poisoned_error(object.as_any()));
    }
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call(&this))) {
        Ok(result) => result,
        Err(panic) => Err(poison(&*this, object.as_any(), &panic)),
    }
}

/// The error of every call on a poisoned object.
#[cold]
#[inline(never)]
fn poisoned_error(object: &Bound<'_, PyAny>) -> PyErr {
    let class = object.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    let message = format!("this {class} failed inside chatsse (a panic, reported when it happened) and is unusable; make a new {class}");
    package_error(object.py(), "ChatSSEError", message, &[])
}

/// Poisons the object a call panicked in; the error of that call.
#[cold]
#[inline(never)]
fn poison(this: &impl Poisonable, object: &Bound<'_, PyAny>, panic: &Box<dyn std::any::Any + Send>) -> PyErr {
    this.poisoned().store(true, Ordering::Relaxed);
    panicked(object, panic)
}

#[cold]
fn panicked(object: &Bound<'_, PyAny>, panic: &Box<dyn std::any::Any + Send>) -> PyErr {
    let class = object.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    let what = panic.downcast_ref::<&str>().map(|text| (*text).to_owned()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_default();
    let message = format!("internal error in {class} (a panic: {what}); this {class} is unusable from now on, and this is a bug to report");
    package_error(object.py(), "ChatSSEError", message, &[])
}

/// The test-only fault of the `panic-hook` feature (never in a release build): a payload or event whose
/// data is `chatsse:panic` panics where it is handled, so that the tests can show what a panic leaves.
#[inline(always)]
pub(crate) fn injected_panic(_data: &[u8]) {
    #[cfg(feature = "panic-hook")]
    if _data == b"chatsse:panic" {
        panic!("injected by the panic-hook feature");
    }
}

/// The object, borrowed for a call that changes it; ConcurrentUseError while any other call holds it.
pub(crate) fn exclusive<'py, T: PyClass<Frozen = False>>(object: &Bound<'py, T>) -> PyResult<PyRefMut<'py, T>> {
    object.try_borrow_mut().map_err(|_| concurrent_use(object.as_any()))
}

/// The object, borrowed for a call that only reads it; ConcurrentUseError while a call changing it runs.
pub(crate) fn shared<'py, T: PyClass>(object: &Bound<'py, T>) -> PyResult<PyRef<'py, T>> {
    object.try_borrow().map_err(|_| concurrent_use(object.as_any()))
}

/// The Python exception for a framing error; `events` are what the failing feed completed before it.
#[cold]
fn frame_error(py: Python<'_>, error: &FrameError, events: Bound<'_, PyList>) -> PyErr {
    let (limit, offset) = match *error {
        FrameError::LineTooLong { limit, line_start } => (limit, line_start),
        FrameError::EventTooLarge { limit, event_start } => (limit, event_start),
        FrameError::Closed => return package_error(py, "DecoderClosedError", error.to_string(), &[]),
    };
    let attribute = |value: u64| value.into_pyobject(py).map(|v| v.into_any()).unwrap_or_else(|_| py.None().into_bound(py));
    package_error(
        py,
        "EventTooLargeError",
        error.to_string(),
        &[("limit", attribute(limit as u64)), ("offset", attribute(offset)), ("events", events.into_any())],
    )
}

/// chatsse's native core. Use the `chatsse` package, which re-exports what is public.
#[pymodule(gil_used = false)]
mod _core {
    #[pymodule_export]
    use super::accumulator::Accumulator;
    #[pymodule_export]
    use super::batch::accumulate_bodies;
    #[pymodule_export]
    use super::chunks::{decode_as, decode_chunk, decode_completion, parse_partial_json, ChunkDecoder};
    #[pymodule_export]
    use super::completion_stream::completion_to_stream;
    #[pymodule_export]
    use super::encode::encode;
    #[pymodule_export]
    use super::rewriter::Rewriter;
    #[pymodule_export]
    use super::sse::SSEDecoder;

    /// The default `max_event_size` of SSEDecoder and ChunkDecoder, in bytes.
    #[pymodule_export]
    const DEFAULT_MAX_EVENT_SIZE: usize = crate::event_stream::DEFAULT_MAX_EVENT_SIZE;

    use pyo3::prelude::*;

    #[pymodule_init]
    fn init(module: &Bound<'_, PyModule>) -> PyResult<()> {
        // The package's version has one source, Cargo.toml (pyproject.toml declares it dynamic).
        module.add("__version__", env!("CARGO_PKG_VERSION"))?;
        // Made with the C API, not a pyclass (see `sse::EventObject`).
        module.add("ServerSentEvent", super::sse::event_type(module.py())?)?;
        // chatsse.httpx_sse re-exports it under httpx-sse's name.
        module.add("_HttpxSSEServerSentEvent", super::sse::flavored_type(module.py(), super::sse::Flavor::HttpxSse)?)
    }
}
