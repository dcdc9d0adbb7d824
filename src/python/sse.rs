//! `SSEDecoder` and `ServerSentEvent`: the event-stream framer for Python.

use std::ffi::{c_int, c_uint, c_void, CStr};
use std::mem::offset_of;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyList, PyString, PyTuple, PyType};
use pyo3::{intern, Borrowed};

use std::sync::atomic::AtomicBool;

use super::{changing, decode_utf8, frame_error, reading, shared, FeedInput, Poisonable};
use crate::event_stream::{Event, EventStreamDecoder, DEFAULT_MAX_EVENT_SIZE};

/// One server-sent event, as `SSEDecoder.feed` returns it: `ServerSentEvent` of `chatsse._core`.
///
/// Written against the C API (`PyType_FromSpec`) rather than as a `#[pyclass]`: pyo3 makes every
/// pyclass a GC type, so each event was linked into and out of the collector's lists, and its
/// deallocation went through pyo3's generic path (a thread-local GIL check per field). An event
/// holds only strs and an int and can never be part of a cycle; as a plain object it is made and
/// freed in ~15 ns less (`SSEDecoder.feed` on the long answer: 98 to 83 ns per event, consumer's loop
/// excluded; docs/decisions.md §9).
#[repr(C)]
struct EventObject {
    ob_base: ffi::PyObject,
    /// The event type: the `event` field, or "message" (str).
    event: *mut ffi::PyObject,
    /// The `data` lines joined with "\n" (str).
    data: *mut ffi::PyObject,
    /// The last event ID in force when this event was dispatched, "" if none yet (str).
    id: *mut ffi::PyObject,
    /// The reconnection time (ms) of a valid `retry` field in this event's block (int), or None.
    retry: *mut ffi::PyObject,
}

/// The field names, in the order of the constructor's parameters.
const EVENT_FIELDS: [&CStr; 4] = [c"data", c"event", c"id", c"retry"];
/// httpx-sse's `ServerSentEvent(event=None, data=None, id=None, retry=None)` takes them in this order.
const HTTPX_SSE_FIELDS: [&CStr; 4] = [c"event", c"data", c"id", c"retry"];

/// Which Python type events are made as: chatsse's own `ServerSentEvent`, or the one of
/// `chatsse.httpx_sse`, which behaves as httpx-sse's (its constructor, repr and `json()`). Both
/// share the layout, so the framer makes either at the same cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    Chatsse,
    HttpxSse,
}

static EVENT_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static HTTPX_SSE_EVENT_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// The type's methods. CPython keeps a pointer to this table for the type's lifetime: it is static.
struct MethodTable<const N: usize>([ffi::PyMethodDef; N]);

// SAFETY: the table is never written; its pointers are to static C strings and functions.
unsafe impl<const N: usize> Sync for MethodTable<N> {}

static EVENT_METHODS: MethodTable<2> = MethodTable([
    ffi::PyMethodDef {
        ml_name: c"__reduce__".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunction: event_reduce },
        ml_flags: ffi::METH_NOARGS,
        ml_doc: c"An event pickles and copies as the call that makes it again.".as_ptr(),
    },
    ffi::PyMethodDef::zeroed(),
]);

static HTTPX_SSE_EVENT_METHODS: MethodTable<3> = MethodTable([
    ffi::PyMethodDef {
        ml_name: c"__reduce__".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunction: httpx_sse_event_reduce },
        ml_flags: ffi::METH_NOARGS,
        ml_doc: c"An event pickles and copies as the call that makes it again.".as_ptr(),
    },
    ffi::PyMethodDef {
        ml_name: c"json".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunction: httpx_sse_event_json },
        ml_flags: ffi::METH_NOARGS,
        ml_doc: c"json($self, /)\n--\n\nThe data decoded by json.loads (json.JSONDecodeError when it is not JSON).".as_ptr(),
    },
    ffi::PyMethodDef::zeroed(),
]);

/// The `ServerSentEvent` type, made on first use.
pub(crate) fn event_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    flavored_type(py, Flavor::Chatsse)
}

/// The event type of a flavour, made on first use.
pub(crate) fn flavored_type(py: Python<'_>, flavor: Flavor) -> PyResult<&Bound<'_, PyType>> {
    let cell = match flavor {
        Flavor::Chatsse => &EVENT_TYPE,
        Flavor::HttpxSse => &HTTPX_SSE_EVENT_TYPE,
    };
    cell.get_or_try_init(py, || make_type(py, flavor)).map(|class| class.bind(py))
}

fn make_type(py: Python<'_>, flavor: Flavor) -> PyResult<Py<PyType>> {
    let member = |name: &'static CStr, offset: usize, doc: &'static CStr| ffi::PyMemberDef {
        name: name.as_ptr(),
        type_code: ffi::Py_T_OBJECT_EX,
        offset: offset as ffi::Py_ssize_t,
        flags: ffi::Py_READONLY,
        doc: doc.as_ptr(),
    };
    // CPython copies the member table into the type; the spec's name must stay (it is static).
    let mut members = [
        member(c"event", offset_of!(EventObject, event), c"The event type: the `event` field's value, or \"message\"."),
        member(c"data", offset_of!(EventObject, data), c"The `data` lines joined with \"\\n\"."),
        member(c"id", offset_of!(EventObject, id), c"The last event ID in force when this event was dispatched (\"\" if none yet)."),
        member(c"retry", offset_of!(EventObject, retry), c"The reconnection time in ms from a valid `retry` field in this event's block, else None."),
        // SAFETY: an all-zero PyMemberDef is the table's end marker.
        unsafe { std::mem::zeroed() },
    ];
    let (name, doc, new, repr, methods): (&CStr, &CStr, *mut c_void, *mut c_void, *mut c_void) = match flavor {
        Flavor::Chatsse => (
            c"chatsse._core.ServerSentEvent",
            c"ServerSentEvent(data='', event='message', id='', retry=None)\n--\n\nOne server-sent event.",
            event_new as *mut c_void,
            event_repr as *mut c_void,
            EVENT_METHODS.0.as_ptr() as *mut c_void,
        ),
        Flavor::HttpxSse => (
            c"chatsse.httpx_sse.ServerSentEvent",
            c"ServerSentEvent(event=None, data=None, id=None, retry=None)\n--\n\nOne server-sent event, as httpx-sse's.",
            httpx_sse_event_new as *mut c_void,
            httpx_sse_event_repr as *mut c_void,
            HTTPX_SSE_EVENT_METHODS.0.as_ptr() as *mut c_void,
        ),
    };
    let slot = |slot: c_int, pfunc: *mut c_void| ffi::PyType_Slot { slot, pfunc };
    let mut slots = [
        slot(ffi::Py_tp_doc, doc.as_ptr() as *mut c_void),
        slot(ffi::Py_tp_new, new),
        slot(ffi::Py_tp_dealloc, event_dealloc as *mut c_void),
        slot(ffi::Py_tp_repr, repr),
        slot(ffi::Py_tp_richcompare, event_richcompare as *mut c_void),
        slot(ffi::Py_tp_hash, event_hash as *mut c_void),
        slot(ffi::Py_tp_members, members.as_mut_ptr().cast()),
        slot(ffi::Py_tp_methods, methods),
        ffi::PyType_Slot::default(),
    ];
    let mut spec = ffi::PyType_Spec {
        name: name.as_ptr(),
        basicsize: std::mem::size_of::<EventObject>() as c_int,
        itemsize: 0,
        flags: (ffi::Py_TPFLAGS_DEFAULT | ffi::Py_TPFLAGS_IMMUTABLETYPE) as c_uint,
        slots: slots.as_mut_ptr(),
    };
    // SAFETY: the spec and its slots are valid for the call; the result is a new reference or NULL.
    let made = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyType_FromSpec(&mut spec))? };
    Ok(made.cast_into::<PyType>()?.unbind())
}

/// A new event owning the given strs; `retry` becomes an int or None.
fn new_event<'py>(
    py: Python<'py>,
    flavor: Flavor,
    event: Py<PyString>,
    data: Bound<'py, PyString>,
    id: Py<PyString>,
    retry: Option<u64>,
) -> PyResult<Bound<'py, PyAny>> {
    let retry = match retry {
        None => py.None().into_bound(py),
        Some(retry) => retry.into_pyobject(py)?.into_any(),
    };
    let class = flavored_type(py, flavor)?.as_type_ptr();
    // SAFETY: `class` is the event type (not a GC type): tp_alloc returns a zero-filled instance or NULL
    // with an exception set, a kept one is made an instance of `class` again by PyObject_Init; the
    // four slots are then filled with the references handed over.
    unsafe {
        let object = match kept::take(py) {
            Some(memory) => Bound::from_owned_ptr(py, ffi::PyObject_Init(memory, class)),
            None => {
                let alloc = (*class).tp_alloc.unwrap_or(ffi::PyType_GenericAlloc);
                Bound::from_owned_ptr_or_err(py, alloc(class, 0))?
            }
        };
        let fields = object.as_ptr().cast::<EventObject>();
        (*fields).event = event.into_ptr();
        (*fields).data = data.into_ptr();
        (*fields).id = id.into_ptr();
        (*fields).retry = retry.into_ptr();
        Ok(object)
    }
}

unsafe extern "C" fn event_dealloc(object: *mut ffi::PyObject) {
    let fields = object.cast::<EventObject>();
    ffi::Py_XDECREF((*fields).event);
    ffi::Py_XDECREF((*fields).data);
    ffi::Py_XDECREF((*fields).id);
    ffi::Py_XDECREF((*fields).retry);
    let class = ffi::Py_TYPE(object);
    if !kept::keep(object) {
        match (*class).tp_free {
            Some(free) => free(object.cast()),
            None => ffi::PyObject_Free(object.cast()),
        }
    }
    // Instances of a heap type hold a reference to it.
    ffi::Py_DECREF(class.cast());
}

/// Freed events kept for the next ones to be made in (both types have one layout): pymalloc's
/// allocating and freeing was ~15% of a framing profile, and keeping up to 256 freed events made
/// framing 2-5% faster on socket cuts (docs/decisions.md §12, "Session 11"). GIL builds only, where
/// the GIL guards the list; the free-threaded build allocates each event. A kept event's memory is
/// made an instance again by PyObject_Init, which sets its type (either flavour) and reference.
mod kept {
    use pyo3::{ffi, Python};

    #[cfg(not(Py_GIL_DISABLED))]
    mod list {
        use std::cell::UnsafeCell;

        use pyo3::ffi;

        pub(super) const KEPT: usize = 256;

        pub(super) struct List(pub(super) UnsafeCell<(usize, [*mut ffi::PyObject; KEPT])>);

        // SAFETY: only touched while holding the GIL (an event's creation and its dealloc).
        unsafe impl Sync for List {}

        pub(super) static LIST: List = List(UnsafeCell::new((0, [std::ptr::null_mut(); KEPT])));
    }

    /// Memory of a freed event, if one is kept.
    #[inline]
    pub(super) fn take(_py: Python<'_>) -> Option<*mut ffi::PyObject> {
        #[cfg(not(Py_GIL_DISABLED))]
        {
            // SAFETY: the GIL is held (`_py`), so no other thread touches the list.
            let (len, objects) = unsafe { &mut *list::LIST.0.get() };
            if *len > 0 {
                *len -= 1;
                return Some(objects[*len]);
            }
        }
        None
    }

    /// Keeps the memory of an event being freed (its references released); false when the list is full.
    ///
    /// # Safety
    /// Called from the event's dealloc, with the GIL held.
    #[inline]
    pub(super) unsafe fn keep(object: *mut ffi::PyObject) -> bool {
        #[cfg(not(Py_GIL_DISABLED))]
        {
            let (len, objects) = &mut *list::LIST.0.get();
            if *len < list::KEPT {
                objects[*len] = object;
                *len += 1;
                return true;
            }
        }
        let _ = object;
        false
    }
}

/// Runs a slot function's body with the GIL token, turning an error (or a panic) into NULL with
/// the exception set, as CPython expects of a slot.
unsafe fn slot_body(body: impl FnOnce(Python<'_>) -> PyResult<*mut ffi::PyObject>) -> *mut ffi::PyObject {
    // CPython calls slot functions attached; `attach` (not `assume_attached`) also tells pyo3 so, or the
    // references a failing call drops (its error message) would wait in pyo3's pool for the next pyo3
    // call to release them: 10^6 failed constructions held 126 MiB.
    Python::attach(|py| {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(py)));
        let error = match outcome {
            Ok(Ok(result)) => return result,
            Ok(Err(error)) => error,
            Err(_) => pyo3::exceptions::PySystemError::new_err("chatsse: panic in ServerSentEvent"),
        };
        error.restore(py);
        std::ptr::null_mut()
    })
}

/// The constructor's four arguments, by position or keyword, in the order of `names`.
fn event_arguments<'py>(
    py: Python<'py>,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
    names: &[&CStr; 4],
) -> PyResult<[Option<Bound<'py, PyAny>>; 4]> {
    // SAFETY: CPython passes a tuple and a dict or NULL.
    let args = unsafe { Bound::from_borrowed_ptr(py, args) }.cast_into::<PyTuple>()?;
    let kwargs = unsafe { Bound::from_borrowed_ptr_or_opt(py, kwargs) }.map(|kwargs| kwargs.cast_into::<PyDict>()).transpose()?;
    if args.len() > names.len() {
        return Err(PyTypeError::new_err(format!("ServerSentEvent() takes at most 4 arguments ({} given)", args.len())));
    }
    let mut values: [Option<Bound<'_, PyAny>>; 4] = Default::default();
    for (position, value) in args.iter().enumerate() {
        values[position] = Some(value);
    }
    for (key, value) in kwargs.iter().flat_map(|kwargs| kwargs.iter()) {
        let key = key.cast_into::<PyString>()?;
        let name = key.to_str()?;
        let Some(position) = names.iter().position(|field| field.to_bytes() == name.as_bytes()) else {
            return Err(PyTypeError::new_err(format!("ServerSentEvent() got an unexpected keyword argument '{name}'")));
        };
        if values[position].replace(value).is_some() {
            return Err(PyTypeError::new_err(format!("ServerSentEvent() got multiple values for argument '{name}'")));
        }
    }
    Ok(values)
}

/// `ServerSentEvent(data="", event="message", id="", retry=None)`, by position or keyword.
unsafe extern "C" fn event_new(_class: *mut ffi::PyTypeObject, args: *mut ffi::PyObject, kwargs: *mut ffi::PyObject) -> *mut ffi::PyObject {
    slot_body(|py| {
        let [data, event, id, retry] = event_arguments(py, args, kwargs, &EVENT_FIELDS)?;
        let data = str_argument(py, data, "data", "")?;
        let event = str_argument(py, event, "event", "message")?;
        let id = str_argument(py, id, "id", "")?;
        let retry = retry.filter(|value| !value.is_none()).map(|value| value.extract::<u64>()).transpose()?;
        Ok(new_event(py, Flavor::Chatsse, event.unbind(), data, id.unbind(), retry)?.into_ptr())
    })
}

/// httpx-sse's `ServerSentEvent(event=None, data=None, id=None, retry=None)`: None stands for the
/// default, and an empty event type is "message" (as httpx-sse does).
unsafe extern "C" fn httpx_sse_event_new(_class: *mut ffi::PyTypeObject, args: *mut ffi::PyObject, kwargs: *mut ffi::PyObject) -> *mut ffi::PyObject {
    slot_body(|py| {
        let [event, data, id, retry] = event_arguments(py, args, kwargs, &HTTPX_SSE_FIELDS)?;
        let data = str_argument(py, not_none(data), "data", "")?;
        let event = str_argument(py, not_none(event), "event", "message")?;
        let event = if event.is_empty()? { intern!(py, "message").clone() } else { event };
        let id = str_argument(py, not_none(id), "id", "")?;
        let retry = not_none(retry).map(|value| value.extract::<u64>()).transpose()?;
        Ok(new_event(py, Flavor::HttpxSse, event.unbind(), data, id.unbind(), retry)?.into_ptr())
    })
}

/// An argument given as None counts as not given (httpx-sse's constructor).
fn not_none(value: Option<Bound<'_, PyAny>>) -> Option<Bound<'_, PyAny>> {
    value.filter(|value| !value.is_none())
}

/// A str argument of the constructor, or its default when not given.
fn str_argument<'py>(py: Python<'py>, value: Option<Bound<'py, PyAny>>, name: &str, default: &str) -> PyResult<Bound<'py, PyString>> {
    let Some(value) = value else { return Ok(PyString::new(py, default)) };
    if let Ok(text) = value.cast_exact::<PyString>() {
        return Ok(text.clone());
    }
    if value.is_instance_of::<PyString>() {
        // A str subclass may carry a __dict__, and so a reference cycle through the event, which is
        // no GC type: it is copied into a plain str.
        // SAFETY: `value` is a live str (subclass); the call returns a new reference or NULL with an
        // exception set.
        return unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyUnicode_FromObject(value.as_ptr()))?.cast_into::<PyString>() }
            .map_err(PyErr::from);
    }
    let found = value.get_type().name()?;
    Err(PyTypeError::new_err(format!("ServerSentEvent() argument '{name}' must be str, not {found}")))
}

/// The four fields of an event, borrowed.
unsafe fn event_fields<'a, 'py>(py: Python<'py>, object: *mut ffi::PyObject) -> [Borrowed<'a, 'py, PyAny>; 4] {
    let fields = object.cast::<EventObject>();
    [(*fields).event, (*fields).data, (*fields).id, (*fields).retry].map(|field| Borrowed::from_ptr(py, field))
}

unsafe extern "C" fn event_repr(object: *mut ffi::PyObject) -> *mut ffi::PyObject {
    slot_body(|py| {
        let [event, data, id, retry] = event_fields(py, object);
        let text = format!("ServerSentEvent(event={}, data={}, id={}, retry={})", event.repr()?, data.repr()?, id.repr()?, retry.repr()?);
        Ok(PyString::new(py, &text).into_ptr())
    })
}

/// httpx-sse's repr: the event type, then each other field that is not its default.
unsafe extern "C" fn httpx_sse_event_repr(object: *mut ffi::PyObject) -> *mut ffi::PyObject {
    slot_body(|py| {
        let [event, data, id, retry] = event_fields(py, object);
        let mut text = format!("ServerSentEvent(event={}", event.repr()?);
        if !data.cast::<PyString>()?.is_empty()? {
            text.push_str(&format!(", data={}", data.repr()?));
        }
        if !id.cast::<PyString>()?.is_empty()? {
            text.push_str(&format!(", id={}", id.repr()?));
        }
        if !retry.is_none() {
            text.push_str(&format!(", retry={}", retry.repr()?));
        }
        text.push(')');
        Ok(PyString::new(py, &text).into_ptr())
    })
}

/// `(ServerSentEvent, (event, data, id, retry))`, httpx-sse's order.
unsafe extern "C" fn httpx_sse_event_reduce(object: *mut ffi::PyObject, _unused: *mut ffi::PyObject) -> *mut ffi::PyObject {
    slot_body(|py| {
        let [event, data, id, retry] = event_fields(py, object);
        let class = Borrowed::from_ptr(py, ffi::Py_TYPE(object).cast::<ffi::PyObject>());
        Ok((class, (event, data, id, retry)).into_pyobject(py)?.into_ptr())
    })
}

static JSON_LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `json.loads(event.data)`, as httpx-sse's `json()` (its errors too: json.JSONDecodeError).
unsafe extern "C" fn httpx_sse_event_json(object: *mut ffi::PyObject, _unused: *mut ffi::PyObject) -> *mut ffi::PyObject {
    slot_body(|py| {
        let [_, data, _, _] = event_fields(py, object);
        let loads = JSON_LOADS.get_or_try_init(py, || py.import("json")?.getattr("loads").map(Bound::unbind))?;
        Ok(loads.bind(py).call1((data,))?.into_ptr())
    })
}

/// Equal when all four fields are; other types are NotImplemented (so an event never equals a tuple).
unsafe extern "C" fn event_richcompare(object: *mut ffi::PyObject, other: *mut ffi::PyObject, op: c_int) -> *mut ffi::PyObject {
    slot_body(|py| {
        if ffi::Py_TYPE(other) != ffi::Py_TYPE(object) || (op != ffi::Py_EQ && op != ffi::Py_NE) {
            return Ok(py.NotImplemented().into_ptr());
        }
        let mut equal = true;
        for (mine, theirs) in event_fields(py, object).iter().zip(event_fields(py, other).iter()) {
            if !mine.eq(theirs)? {
                equal = false;
                break;
            }
        }
        Ok(PyBool::new(py, equal == (op == ffi::Py_EQ)).to_owned().into_ptr())
    })
}

/// `(ServerSentEvent, (data, event, id, retry))`.
unsafe extern "C" fn event_reduce(object: *mut ffi::PyObject, _unused: *mut ffi::PyObject) -> *mut ffi::PyObject {
    slot_body(|py| {
        let [event, data, id, retry] = event_fields(py, object);
        let class = Borrowed::from_ptr(py, ffi::Py_TYPE(object).cast::<ffi::PyObject>());
        Ok((class, (data, event, id, retry)).into_pyobject(py)?.into_ptr())
    })
}

/// The hash of the tuple (event, data, id, retry).
unsafe extern "C" fn event_hash(object: *mut ffi::PyObject) -> ffi::Py_hash_t {
    // Attached, as in `slot_body`: the tuple made here is released at once.
    Python::attach(|py| {
        let hashed = PyTuple::new(py, event_fields(py, object)).and_then(|fields| fields.hash());
        match hashed {
            Ok(hash) => hash,
            Err(error) => {
                error.restore(py);
                -1
            }
        }
    })
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
    flavor: Flavor,
    message: Py<PyString>,
    event_type: Vec<u8>,
    event_type_str: Option<Py<PyString>>,
    id: Vec<u8>,
    id_str: Py<PyString>,
}

impl StringCache {
    fn new(py: Python<'_>, flavor: Flavor) -> Self {
        StringCache {
            flavor,
            message: intern!(py, "message").clone().unbind(),
            event_type: Vec::new(),
            event_type_str: None,
            id: Vec::new(),
            id_str: PyString::new(py, "").unbind(),
        }
    }

    fn event_object<'py>(&mut self, py: Python<'py>, event: &Event<'_>) -> PyResult<Bound<'py, PyAny>> {
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
        new_event(py, self.flavor, event_type, decode_utf8(py, event.data)?, self.id_str.clone_ref(py), event.retry)
    }
}

/// Incremental `text/event-stream` decoder (WHATWG HTML rules).
///
/// Threads: one call at a time (every event is made a Python object while framing, so the GIL is
/// never released); a call made while another is running raises ConcurrentUseError.
#[pyclass(module = "chatsse._core", name = "SSEDecoder")]
pub struct SSEDecoder {
    decoder: EventStreamDecoder,
    strings: StringCache,
    poisoned: AtomicBool,
}

impl Poisonable for SSEDecoder {
    fn poisoned(&self) -> &AtomicBool {
        &self.poisoned
    }
}

/// The Python methods: each borrows the decoder and calls the method of the same name below.
#[pymethods]
impl SSEDecoder {
    #[new]
    #[pyo3(signature = (*, max_event_size = DEFAULT_MAX_EVENT_SIZE))]
    fn new(py: Python<'_>, max_event_size: usize) -> PyResult<Self> {
        if max_event_size == 0 {
            return Err(PyValueError::new_err("max_event_size must be at least 1 byte"));
        }
        Ok(SSEDecoder { decoder: EventStreamDecoder::new(max_event_size), strings: StringCache::new(py, Flavor::Chatsse), poisoned: AtomicBool::new(false) })
    }

    /// The decoder of `chatsse.httpx_sse`: the same framer, making `chatsse.httpx_sse.ServerSentEvent`s.
    #[staticmethod]
    #[pyo3(signature = (*, max_event_size = DEFAULT_MAX_EVENT_SIZE))]
    fn _for_httpx_sse(py: Python<'_>, max_event_size: usize) -> PyResult<Self> {
        let mut decoder = SSEDecoder::new(py, max_event_size)?;
        decoder.strings.flavor = Flavor::HttpxSse;
        Ok(decoder)
    }

    /// Parses the next piece of the stream; returns the events it completed.
    #[pyo3(name = "feed")]
    fn py_feed<'py>(slf: &Bound<'py, Self>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        changing(slf, |this| this.feed(slf.py(), data))
    }

    /// Ends the stream: returns True when an unterminated event was discarded (the stream was cut
    /// inside an event). Later feeds raise DecoderClosedError.
    #[pyo3(name = "close")]
    fn py_close(slf: &Bound<'_, Self>) -> PyResult<bool> {
        changing(slf, |this| Ok(this.close()))
    }

    /// The last event ID string, as a reconnecting client sends it in `Last-Event-ID`.
    #[getter(last_event_id)]
    fn py_last_event_id<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyString>> {
        reading(slf, |this| this.last_event_id(slf.py()))
    }

    /// The reconnection time in milliseconds from the latest valid `retry` field, or None.
    #[getter(retry)]
    fn py_retry(slf: &Bound<'_, Self>) -> PyResult<Option<u64>> {
        reading(slf, |this| Ok(this.retry()))
    }

    #[getter(max_event_size)]
    fn py_max_event_size(slf: &Bound<'_, Self>) -> PyResult<usize> {
        reading(slf, |this| Ok(this.max_event_size()))
    }

    /// Bytes fed so far.
    #[getter(offset)]
    fn py_offset(slf: &Bound<'_, Self>) -> PyResult<u64> {
        reading(slf, |this| Ok(this.offset()))
    }

    #[getter(closed)]
    fn py_closed(slf: &Bound<'_, Self>) -> PyResult<bool> {
        reading(slf, |this| Ok(this.closed()))
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        Ok(shared(slf)?.repr()) // a poisoned object still shows itself
    }
}

impl SSEDecoder {

    fn feed<'py>(&mut self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let input = FeedInput::extract(data)?;
        let events = PyList::empty(py);
        let mut conversion_error: Option<PyErr> = None;
        let strings = &mut self.strings;
        let result = self.decoder.feed(input.as_slice(), |event| {
            super::injected_panic(event.data);
            if conversion_error.is_some() {
                return;
            }
            let appended = strings.event_object(py, event).and_then(|object| events.append(object));
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

    fn close(&mut self) -> bool {
        self.decoder.close()
    }

    fn last_event_id<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyString>> {
        decode_utf8(py, self.decoder.last_event_id())
    }

    fn retry(&self) -> Option<u64> {
        self.decoder.retry()
    }

    fn max_event_size(&self) -> usize {
        self.decoder.max_event_size()
    }

    fn offset(&self) -> u64 {
        self.decoder.offset()
    }

    fn closed(&self) -> bool {
        self.decoder.is_closed()
    }

    fn repr(&self) -> String {
        format!(
            "SSEDecoder(max_event_size={}, offset={}, closed={})",
            self.decoder.max_event_size(),
            self.decoder.offset(),
            if self.decoder.is_closed() { "True" } else { "False" }
        )
    }
}

