//! Builds the msgspec Structs of `chatsse.types` straight from JSON bytes, directed by their schema.
//!
//! The schema is read once from the classes themselves (`msgspec.inspect`), so `types.py` stays the one
//! place that says which fields exist and what they hold. Undeclared keys become attributes of the
//! instance (stored in its `__dict__`, see `keep_extras`), with their values as plain Python values.
//! Values are checked against the declared types the way msgspec checks them (a float field takes an
//! integer; an int field refuses a float), and every error says where: byte offset and JSON path.

use std::cell::Cell;
use std::ptr;
use std::sync::Mutex;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString, PyType};
use pyo3::ffi;

use crate::json::{JsonError, JsonErrorKind, JsonNumber, JsonStr, Kind, Scanner};

/// The most fields a Struct may declare (checked when the schema loads): building uses a fixed array.
const MAX_FIELDS: usize = 16;

/// What a field accepts. `Any` takes every JSON value as a plain Python value.
#[derive(Debug, Clone)]
enum Ty {
    Any,
    Of(Box<Accepts>),
}

#[derive(Debug, Clone, Default)]
struct Accepts {
    null: bool,
    boolean: bool,
    int: bool,
    float: bool,
    string: bool,
    list: Option<Ty>,
    object: Option<ObjectTy>,
}

#[derive(Debug, Clone)]
enum ObjectTy {
    Struct(usize),
    Dict(Ty),
}

struct Field {
    key: Box<[u8]>,
    ty: Ty,
    required: bool,
    /// Index into `Builder::cache` when this field's string value repeats from chunk to chunk.
    cache_slot: Option<usize>,
}

struct StructSchema {
    class: Py<PyType>,
    fields: Vec<Field>,
    /// Where each field's slot lies in an instance (byte offsets, in field order), when instances can be
    /// made without calling the class (see `Loader::layout`); None: built by calling the class.
    layout: Option<Box<[ffi::Py_ssize_t]>>,
}

/// Fields whose string values repeat across the chunks of one stream (the same id, model, role or
/// tool type in every chunk): the Builder keeps their last Python str and reuses it when the bytes match.
const REPEATING_FIELDS: &[&[u8]] =
    &[b"id", b"object", b"model", b"system_fingerprint", b"service_tier", b"role", b"finish_reason", b"type", b"name"];

/// The decodable types of `chatsse.types`, with what building needs of each.
pub(crate) struct Schema {
    structs: Vec<StructSchema>,
    cache_slots: usize,
    unset: Py<PyAny>,
    chunk: usize,
    completion: usize,
    usage: usize,
}

/// Which top-level type to build.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Root {
    Chunk,
    Completion,
    Usage,
    /// Any Struct of chatsse.types, by its index in the schema (`Schema::index_of`).
    Struct(usize),
}

static SCHEMA: PyOnceLock<Schema> = PyOnceLock::new();

thread_local! {
    /// This thread is running `Schema::load`: a decode reached from the Python code it runs (a hook
    /// on `msgspec.inspect`, an import side effect) would wait for itself on the once-lock.
    static LOADING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Schema {
    pub(crate) fn get(py: Python<'_>) -> PyResult<&'static Schema> {
        if let Some(schema) = SCHEMA.get(py) {
            return Ok(schema);
        }
        if LOADING.with(|loading| loading.get()) {
            let message = "chatsse was called while it loads its types (from Python code that loading runs: an import \
                           side effect or a hook on msgspec.inspect); call it after that code returns";
            return Err(super::package_error(py, "ChatSSEError", message.to_owned(), &[]));
        }
        SCHEMA.get_or_try_init(py, || {
            /// Clears LOADING however `load` ends.
            struct Loading;
            impl Drop for Loading {
                fn drop(&mut self) {
                    LOADING.with(|loading| loading.set(false));
                }
            }
            LOADING.with(|loading| loading.set(true));
            let _loading = Loading;
            Schema::load(py)
        })
    }

    fn load(py: Python<'_>) -> PyResult<Schema> {
        let types = py.import("chatsse.types")?;
        let msgspec = py.import("msgspec")?;
        let inspect = py.import("msgspec.inspect")?;
        let mut schema = Schema {
            structs: Vec::new(),
            cache_slots: 0,
            unset: msgspec.getattr("UNSET")?.unbind(),
            chunk: 0,
            completion: 0,
            usage: 0,
        };
        let mut loader = Loader { inspect: &inspect, classes: Vec::new() };
        schema.chunk = loader.struct_index(&mut schema, &types.getattr("ChatCompletionChunk")?)?;
        schema.completion = loader.struct_index(&mut schema, &types.getattr("ChatCompletion")?)?;
        schema.usage = loader.struct_index(&mut schema, &types.getattr("Usage")?)?;
        // Every other Struct of the module (request messages and their parts among them).
        let struct_type = msgspec.getattr("Struct")?;
        for name in types.getattr("__all__")?.try_iter()? {
            let member = types.getattr(name?.cast_into::<PyString>()?)?;
            if member.is_instance_of::<PyType>() && member.cast::<PyType>()?.is_subclass(&struct_type)? {
                loader.struct_index(&mut schema, &member)?;
            }
        }
        Ok(schema)
    }

    fn root(&self, root: Root) -> usize {
        match root {
            Root::Chunk => self.chunk,
            Root::Completion => self.completion,
            Root::Usage => self.usage,
            Root::Struct(index) => index,
        }
    }

    /// `obj` is an instance of the root's class.
    pub(crate) fn is_instance(&self, obj: &Bound<'_, PyAny>, root: Root) -> PyResult<bool> {
        obj.is_instance(self.structs[self.root(root)].class.bind(obj.py()))
    }

    /// The schema index of a chatsse.types Struct class.
    pub(crate) fn index_of(&self, class: &Bound<'_, PyAny>) -> Option<usize> {
        self.structs.iter().position(|schema| schema.class.bind(class.py()).is(class))
    }
}

struct Loader<'a, 'py> {
    inspect: &'a Bound<'py, PyModule>,
    /// Classes already entered, in the order of `Schema::structs`.
    classes: Vec<Bound<'py, PyAny>>,
}

impl<'py> Loader<'_, 'py> {
    fn struct_index(&mut self, schema: &mut Schema, class: &Bound<'py, PyAny>) -> PyResult<usize> {
        if let Some(index) = self.classes.iter().position(|known| known.is(class)) {
            return Ok(index);
        }
        let py = class.py();
        let index = schema.structs.len();
        self.classes.push(class.clone());
        // Entered before its fields so that recursive types terminate.
        schema.structs.push(StructSchema { class: class.cast::<PyType>()?.clone().unbind(), fields: Vec::new(), layout: None });
        let class_name = class.getattr("__name__")?;
        let defaults = class.getattr("__struct_defaults__")?;
        for default in defaults.try_iter()? {
            if !default?.is(schema.unset.bind(py)) {
                return Err(PyTypeError::new_err(format!(
                    "chatsse.types.{class_name}: every optional field must default to UNSET (absent stays absent)"
                )));
            }
        }
        let info = self.inspect.call_method1("type_info", (class,))?;
        let mut fields = Vec::new();
        let mut names = Vec::new();
        for field in info.getattr("fields")?.try_iter()? {
            let field = field?;
            names.push(field.getattr("name")?.extract::<String>()?);
            let key: String = field.getattr("encode_name")?.extract()?;
            let ty = self.ty(schema, &field.getattr("type")?)?;
            let takes_string = matches!(&ty, Ty::Of(accepts) if accepts.string);
            let cache_slot = (takes_string && REPEATING_FIELDS.contains(&key.as_bytes())).then(|| {
                schema.cache_slots += 1;
                schema.cache_slots - 1
            });
            fields.push(Field {
                key: key.into_bytes().into_boxed_slice(),
                ty,
                cache_slot,
                required: field.getattr("required")?.extract()?,
            });
        }
        if fields.len() > MAX_FIELDS {
            return Err(PyTypeError::new_err(format!("chatsse.types.{class_name} has more than {MAX_FIELDS} fields")));
        }
        schema.structs[index].fields = fields;
        schema.structs[index].layout = layout(class.cast::<PyType>()?, &names)?;
        Ok(index)
    }

    fn ty(&mut self, schema: &mut Schema, info: &Bound<'py, PyAny>) -> PyResult<Ty> {
        let kind = info.get_type().name()?.to_string();
        let mut accepts = Accepts::default();
        match kind.as_str() {
            "AnyType" => return Ok(Ty::Any),
            "UnionType" => {
                for member in info.getattr("types")?.try_iter()? {
                    match self.ty(schema, &member?)? {
                        Ty::Any => return Ok(Ty::Any),
                        Ty::Of(member) => merge(&mut accepts, *member),
                    }
                }
            }
            "NoneType" => accepts.null = true,
            "BoolType" => accepts.boolean = true,
            "IntType" => accepts.int = true,
            "FloatType" => accepts.float = true,
            "StrType" => accepts.string = true,
            "ListType" => accepts.list = Some(self.ty(schema, &info.getattr("item_type")?)?),
            "DictType" => accepts.object = Some(ObjectTy::Dict(self.ty(schema, &info.getattr("value_type")?)?)),
            "StructType" => accepts.object = Some(ObjectTy::Struct(self.struct_index(schema, &info.getattr("cls")?)?)),
            other => return Err(PyTypeError::new_err(format!("chatsse.types uses {other}, which the decoder cannot build"))),
        }
        Ok(Ty::Of(Box::new(accepts)))
    }
}

/// The slot offsets of a Struct's fields, read from the member descriptors CPython made for its
/// `__slots__` (msgspec declares every field as one: `PyMemberDescrObject.d_member->offset`, the
/// offset msgspec's own `__init__` writes to). None when an instance must be made by calling the
/// class: a `__post_init__` must run, or a field is not a plain object slot of this class.
///
/// Making an instance directly is what msgspec's decoder does; calling the class instead took
/// about twice the instructions of msgspec's Struct decoding (argument array, vectorcall dispatch,
/// references taken by `__init__` and then released by the caller; docs/decisions.md §9).
fn layout(class: &Bound<'_, PyType>, names: &[String]) -> PyResult<Option<Box<[ffi::Py_ssize_t]>>> {
    if class.hasattr("__post_init__")? {
        return Ok(None);
    }
    slot_offsets(class, names)
}

/// The slot offsets of `names`, the class's `__struct_fields__`, each checked to be a plain object
/// slot inside the instance (see `layout`); None when one is not. `encode` reads fields through them.
pub(crate) fn slot_offsets(class: &Bound<'_, PyType>, names: &[String]) -> PyResult<Option<Box<[ffi::Py_ssize_t]>>> {
    let struct_fields: Vec<String> = class.getattr("__struct_fields__")?.extract()?;
    if struct_fields != names {
        return Ok(None);
    }
    let class_ptr = class.as_type_ptr();
    // SAFETY: `class_ptr` is a live type object (borrowed from `class`).
    let basicsize = unsafe { (*class_ptr).tp_basicsize };
    let mut offsets = Vec::with_capacity(names.len());
    for name in names {
        let descriptor = class.getattr(name.as_str())?;
        // SAFETY: the type check comes first; a `member_descriptor` is a PyMemberDescrObject whose
        // `d_member` points into its type's member table, alive as long as the type. (pyo3 declares
        // that pointer as a `PyGetSetDef` before 3.11; CPython's is a `PyMemberDef` in every version.)
        let offset = unsafe {
            if ffi::Py_TYPE(descriptor.as_ptr()) != std::ptr::addr_of_mut!(ffi::PyMemberDescr_Type) {
                return Ok(None);
            }
            let descriptor = descriptor.as_ptr().cast::<ffi::PyMemberDescrObject>();
            let owner = (*descriptor).d_common.d_type;
            let member = (*descriptor).d_member.cast::<ffi::PyMemberDef>();
            let usable = ffi::PyType_IsSubtype(class_ptr, owner) != 0
                && (*member).type_code == ffi::Py_T_OBJECT_EX
                && (*member).flags & ffi::Py_READONLY == 0;
            let offset = (*member).offset;
            let inside = offset >= std::mem::size_of::<ffi::PyObject>() as ffi::Py_ssize_t
                && offset + std::mem::size_of::<*mut ffi::PyObject>() as ffi::Py_ssize_t <= basicsize;
            if !(usable && inside) {
                return Ok(None);
            }
            offset
        };
        offsets.push(offset);
    }
    Ok(Some(offsets.into_boxed_slice()))
}

fn merge(into: &mut Accepts, other: Accepts) {
    into.null |= other.null;
    into.boolean |= other.boolean;
    into.int |= other.int;
    into.float |= other.float;
    into.string |= other.string;
    if other.list.is_some() {
        into.list = other.list;
    }
    if other.object.is_some() {
        into.object = other.object;
    }
}

/// Results of building. The error is boxed: a large error type makes every return on the happy path
/// move the whole `Result` through memory.
type Built<T> = Result<T, Box<BuildError>>;

/// Why a payload could not be built, with the JSON path filled in as the error travels up.
pub(crate) struct BuildError {
    pub offset: usize,
    pub kind: BuildErrorKind,
    /// Path segments, innermost first.
    path: Vec<PathSegment>,
}

pub(crate) enum BuildErrorKind {
    Json(JsonError),
    WrongType { expected: String, found: &'static str },
    MissingField(String),
    Python(PyErr),
}

enum PathSegment {
    Key(String),
    Index(usize),
}

impl BuildError {
    #[cold]
    fn new(offset: usize, kind: BuildErrorKind) -> Box<Self> {
        Box::new(BuildError { offset, kind, path: Vec::new() })
    }

    #[cold]
    fn python(error: PyErr) -> Box<Self> {
        BuildError::new(0, BuildErrorKind::Python(error))
    }

    /// `$.choices[0].delta`: where in the document the error is.
    pub(crate) fn path(&self) -> String {
        let mut path = String::from("$");
        for segment in self.path.iter().rev() {
            match segment {
                PathSegment::Key(key) => {
                    path.push('.');
                    path.push_str(key);
                }
                PathSegment::Index(index) => path.push_str(&format!("[{index}]")),
            }
        }
        path
    }

    /// What went wrong, without the location.
    pub(crate) fn description(&self) -> String {
        match &self.kind {
            BuildErrorKind::Json(error) => error.kind.to_string(),
            BuildErrorKind::WrongType { expected, found } => format!("expected {expected}, found {found}"),
            BuildErrorKind::MissingField(field) => format!("object is missing the required field `{field}`"),
            BuildErrorKind::Python(error) => error.to_string(),
        }
    }
}

impl From<JsonError> for Box<BuildError> {
    #[cold]
    fn from(error: JsonError) -> Self {
        BuildError::new(error.offset, BuildErrorKind::Json(error))
    }
}

trait AtPath<T> {
    fn at(self, segment: impl FnOnce() -> PathSegment) -> Built<T>;
}

impl<T> AtPath<T> for Built<T> {
    #[inline]
    fn at(self, segment: impl FnOnce() -> PathSegment) -> Built<T> {
        self.map_err(|mut error| {
            error.path.push(segment());
            error
        })
    }
}

fn py_result<'py>(py: Python<'py>, ptr: *mut ffi::PyObject) -> Built<Bound<'py, PyAny>> {
    // SAFETY: `ptr` is a new reference or NULL with an exception set, as every caller passes.
    unsafe { Bound::from_owned_ptr_or_err(py, ptr) }.map_err(BuildError::python)
}

type CachedStr = (Box<[u8]>, Py<PyString>);

/// Entries of the key cache (a power of two), and the longest key it holds.
const KEY_CACHE_SIZE: usize = 512;
const KEY_MAX: usize = 32;

/// A short ASCII object key and the str made of it (its hash already computed). 32 bytes: OpenAI's
/// moderation categories (`self-harm/instructions`, `category_applied_input_types`) are longer than 16.
struct CachedKey {
    len: u8,
    /// The key's bytes, zero-padded.
    bytes: [u8; KEY_MAX],
    text: Py<PyString>,
}

/// Where a key of at most `KEY_MAX` bytes (zero-padded) goes in the key cache.
#[inline]
fn key_slot(padded: &[u8; KEY_MAX], len: usize) -> usize {
    let word = |at: usize| u64::from_le_bytes(padded[at..at + 8].try_into().expect("8 bytes"));
    let folded = word(0) ^ word(8).rotate_left(17) ^ word(16).rotate_left(31) ^ word(24).rotate_left(47);
    let mixed = (folded ^ len as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> (64 - KEY_CACHE_SIZE.trailing_zeros())) as usize
}

/// The key cache, shared by every builder: a builder takes it for the length of one document (two
/// pointer moves) and puts it back. It is taken with `try_lock`, never waited for: a thread waiting
/// on a lock while attached to the interpreter can deadlock a free-threaded CPython (a stop-the-world
/// pause waits for it while the holder waits for the pause), and a GIL build never finds it held
/// (no Python code runs while a document is built, except a `__post_init__`). A builder that finds it
/// taken works with an empty cache, and the first builder to finish puts its cache back.
static KEY_CACHE: Mutex<Vec<Option<CachedKey>>> = Mutex::new(Vec::new());

thread_local! {
    /// The innermost `GcPaused` of this thread turned the collector off (and must turn it back on).
    static GC_PAUSED_HERE: Cell<bool> = const { Cell::new(false) };
}

/// The cyclic garbage collector held off while one document's objects are made (`PyGC_Disable`, put
/// back as it was on drop). Everything made is reachable from the value being built, so a collection
/// could free none of it; but each container made counts toward the next collection, and on a large
/// document (a completion with logprobs: ~20 containers a token) the collections' passes over the
/// growing tree were a third of `decode_completion`'s time (perf; docs/decisions.md §7).
///
/// The switch is interpreter-wide, so it is made only where no other thread can see it: on a GIL
/// build, with the GIL held and no Python code running (the one Python code a build runs, a class's
/// `__post_init__`, runs `resumed`, with the collector as it was; Python code can switch threads). On a
/// free-threaded build other threads run meanwhile: the collector is left alone there.
struct GcPaused {
    /// `GC_PAUSED_HERE` of an enclosing pause (a decode inside a `__post_init__`).
    outer: bool,
}

impl GcPaused {
    #[inline]
    fn new() -> Self {
        // SAFETY: called attached to the interpreter (every decode entry point takes `Python<'py>`).
        #[cfg(not(Py_GIL_DISABLED))]
        let turned_off = unsafe { ffi::PyGC_Disable() } == 1;
        #[cfg(Py_GIL_DISABLED)]
        let turned_off = false;
        GcPaused { outer: GC_PAUSED_HERE.replace(turned_off) }
    }

    /// Runs `call` (Python code) with the collector back as it was before the pause.
    #[inline]
    fn resumed<R>(call: impl FnOnce() -> R) -> R {
        if !GC_PAUSED_HERE.replace(false) {
            return call();
        }
        // SAFETY: attached, as in `new`.
        unsafe { ffi::PyGC_Enable() };
        let result = call();
        // The call may have switched the collector off itself: then it stays off, and is not ours.
        GC_PAUSED_HERE.set(unsafe { ffi::PyGC_Disable() } == 1);
        result
    }
}

impl Drop for GcPaused {
    #[inline]
    fn drop(&mut self) {
        if GC_PAUSED_HERE.replace(self.outer) {
            // SAFETY: as in `new`; still attached.
            unsafe { ffi::PyGC_Enable() };
        }
    }
}

/// Builds Python values from one payload; holds the scratch buffer reused across strings.
pub(crate) struct Builder<'s> {
    schema: &'s Schema,
    scratch: Vec<u8>,
    /// Per repeating field: the raw bytes of its last value and the str made of them.
    cache: Vec<Option<CachedStr>>,
    /// The strs of short keys of dicts and undeclared members, by a hash of their bytes: `KEY_CACHE`,
    /// held while a document is built. Providers' extras repeat the same keys in every chunk and
    /// document (Azure's filter results, OpenAI's moderation scores); a cached key is neither made,
    /// hashed nor freed again. msgspec and orjson keep such a cache too.
    keys: Vec<Option<CachedKey>>,
    /// The last decoded document is an error report: a non-null top-level `error` member (OpenAI,
    /// Groq, OpenRouter), or `"object": "error"` (vLLM, SGLang).
    pub(crate) upstream_error: bool,
}

impl<'s> Builder<'s> {
    /// The builder kept in `slot` (its string cache warm from earlier chunks of the stream), or a new one.
    /// Put it back when done.
    pub(crate) fn take(slot: &mut Option<Builder<'static>>, py: Python<'_>) -> PyResult<Builder<'static>> {
        match slot.take() {
            Some(builder) => Ok(builder),
            None => Ok(Builder::for_stream(Schema::get(py)?)),
        }
    }

    /// A builder for one document: no string cache (allocating and dropping it cost a small
    /// completion ~5% of its decoding).
    pub(crate) fn new(schema: &'s Schema) -> Self {
        Builder { schema, scratch: Vec::new(), cache: Vec::new(), keys: Vec::new(), upstream_error: false }
    }

    /// A builder for the chunks of one stream: it keeps the last str of each repeating field.
    pub(crate) fn for_stream(schema: &'s Schema) -> Self {
        Builder { cache: (0..schema.cache_slots).map(|_| None).collect(), ..Builder::new(schema) }
    }

    /// Runs `work` (the building of one document) holding the key cache.
    fn with_keys<R>(&mut self, work: impl FnOnce(&mut Self) -> R) -> R {
        if let Ok(mut shared) = KEY_CACHE.try_lock() {
            self.keys = std::mem::take(&mut *shared);
        }
        let result = work(self);
        if let Ok(mut shared) = KEY_CACHE.try_lock() {
            if shared.is_empty() {
                *shared = std::mem::take(&mut self.keys);
            }
        }
        // A cache not put back is dropped here, attached (its strs are released).
        self.keys = Vec::new();
        result
    }

    /// Decodes `data` as one JSON document of the root type.
    pub(crate) fn decode<'py>(&mut self, py: Python<'py>, data: &[u8], root: Root) -> Built<Bound<'py, PyAny>> {
        let _paused = GcPaused::new();
        self.upstream_error = false;
        self.with_keys(|builder| {
            let mut scanner = Scanner::new(data)?;
            let value = builder.build_struct(py, &mut scanner, builder.schema.root(root), true)?;
            scanner.end()?;
            Ok(value)
        })
    }

    /// Decodes `data` as a JSON array of the Struct type `index`.
    pub(crate) fn decode_list<'py>(&mut self, py: Python<'py>, data: &[u8], index: usize) -> Built<Bound<'py, PyAny>> {
        let _paused = GcPaused::new();
        self.upstream_error = false;
        self.with_keys(|builder| {
            let mut scanner = Scanner::new(data)?;
            let kind = scanner.peek()?;
            if kind != Kind::Array {
                return Err(BuildError::new(scanner.position(), BuildErrorKind::WrongType { expected: "array".to_owned(), found: kind.name() }));
            }
            let value = builder.list(py, &mut scanner, |builder, py, scanner| builder.build_struct(py, scanner, index, false))?;
            scanner.end()?;
            Ok(value)
        })
    }

    /// Decodes `data` as plain Python values (dicts, lists, str, int, float, bool, None).
    pub(crate) fn decode_any<'py>(&mut self, py: Python<'py>, data: &[u8]) -> Built<Bound<'py, PyAny>> {
        let _paused = GcPaused::new();
        self.with_keys(|builder| {
            let mut scanner = Scanner::new(data)?;
            let value = builder.build_any(py, &mut scanner)?;
            scanner.end()?;
            Ok(value)
        })
    }

    fn build<'py>(&mut self, py: Python<'py>, scanner: &mut Scanner<'_>, ty: &Ty) -> Built<Bound<'py, PyAny>> {
        let accepts = match ty {
            Ty::Any => return self.build_any(py, scanner),
            Ty::Of(accepts) => accepts,
        };
        let kind = scanner.peek()?;
        let offset = scanner.position();
        match kind {
            Kind::String if accepts.string => self.string(py, scanner),
            Kind::Null if accepts.null => {
                scanner.null()?;
                Ok(py.None().into_bound(py))
            }
            Kind::Number if accepts.int || accepts.float => {
                let number = scanner.number()?;
                if number.integer && accepts.int {
                    self.integer(py, &number)
                } else if accepts.float {
                    let value = number.as_f64()?;
                    py_result(py, unsafe { ffi::PyFloat_FromDouble(value) })
                } else {
                    Err(BuildError::new(offset, BuildErrorKind::WrongType { expected: expected(accepts), found: "float" }))
                }
            }
            Kind::Bool if accepts.boolean => Ok(pyo3::types::PyBool::new(py, scanner.boolean()?).to_owned().into_any()),
            Kind::Array if accepts.list.is_some() => {
                let item = accepts.list.as_ref().expect("checked by the guard");
                self.list(py, scanner, |builder, py, scanner| builder.build(py, scanner, item))
            }
            Kind::Object => match &accepts.object {
                Some(ObjectTy::Struct(index)) => self.build_struct(py, scanner, *index, false),
                Some(ObjectTy::Dict(value)) => self.dict(py, scanner, value),
                None => Err(wrong_type(offset, accepts, kind)),
            },
            _ => Err(wrong_type(offset, accepts, kind)),
        }
    }

    fn build_any<'py>(&mut self, py: Python<'py>, scanner: &mut Scanner<'_>) -> Built<Bound<'py, PyAny>> {
        match scanner.peek()? {
            Kind::String => self.string(py, scanner),
            Kind::Null => {
                scanner.null()?;
                Ok(py.None().into_bound(py))
            }
            Kind::Bool => Ok(pyo3::types::PyBool::new(py, scanner.boolean()?).to_owned().into_any()),
            Kind::Number => {
                let number = scanner.number()?;
                if number.integer {
                    self.integer(py, &number)
                } else {
                    let value = number.as_f64()?;
                    py_result(py, unsafe { ffi::PyFloat_FromDouble(value) })
                }
            }
            Kind::Array => self.list(py, scanner, |builder, py, scanner| builder.build_any(py, scanner)),
            Kind::Object => self.dict(py, scanner, &Ty::Any),
        }
    }

    fn integer<'py>(&mut self, py: Python<'py>, number: &JsonNumber<'_>) -> Built<Bound<'py, PyAny>> {
        if let Some(value) = number.as_i64() {
            return py_result(py, unsafe { ffi::PyLong_FromLongLong(value) });
        }
        // Beyond i64: exact, through Python's own parser (providers send 64-bit unsigned seeds), which
        // refuses more digits than `sys.get_int_max_str_digits()` with a ValueError: refused here
        // first, as the JSON error it is.
        number.check_holdable()?;
        self.scratch.clear();
        self.scratch.extend_from_slice(number.text.as_bytes());
        self.scratch.push(0);
        py_result(py, unsafe { ffi::PyLong_FromString(self.scratch.as_ptr().cast(), ptr::null_mut(), 10) }).map_err(|error| {
            let error = *error;
            match error.kind {
                // A limit set lower than CPython's default: the same JSON error.
                BuildErrorKind::Python(failure) if failure.is_instance_of::<pyo3::exceptions::PyValueError>(py) => {
                    let digits = number.text.trim_start_matches('-').len();
                    BuildError::new(number.offset, BuildErrorKind::Json(JsonError { offset: number.offset, kind: JsonErrorKind::IntegerTooLong { digits } }))
                }
                kind => Box::new(BuildError { kind, ..error }),
            }
        })
    }

    fn string<'py>(&mut self, py: Python<'py>, scanner: &mut Scanner<'_>) -> Built<Bound<'py, PyAny>> {
        let value = scanner.string()?;
        self.str_value(py, &value).map(Bound::into_any)
    }

    /// A string of a repeating field: the cached str when the raw bytes are the same as last time.
    fn repeating_string<'py>(&mut self, py: Python<'py>, scanner: &mut Scanner<'_>, slot: usize) -> Built<Bound<'py, PyAny>> {
        let value = scanner.string()?;
        if let Some((raw, cached)) = &self.cache[slot] {
            if short_eq(raw, value.raw) {
                return Ok(cached.bind(py).clone().into_any());
            }
        }
        let made = self.str_value(py, &value)?;
        self.cache[slot] = Some((value.raw.into(), made.clone().unbind()));
        Ok(made.into_any())
    }

    fn str_value<'py>(&mut self, py: Python<'py>, value: &JsonStr<'_>) -> Built<Bound<'py, PyString>> {
        let bytes = value.unescaped(&mut self.scratch)?;
        if value.ascii && !value.escaped {
            return super::ascii_str(py, bytes).map_err(BuildError::python);
        }
        // SAFETY: valid UTF-8 (checked by the scanner, or produced by unescaping); new reference or NULL.
        let ptr = unsafe { ffi::PyUnicode_DecodeUTF8(bytes.as_ptr().cast(), bytes.len() as ffi::Py_ssize_t, ptr::null()) };
        py_result(py, ptr)?.cast_into::<PyString>().map_err(|e| BuildError::python(e.into()))
    }

    /// The str of an object key: from the key cache when short and plain ASCII.
    fn key_str<'py>(&mut self, py: Python<'py>, key: &JsonStr<'_>) -> Built<Bound<'py, PyString>> {
        let raw = key.raw;
        if key.escaped || !key.ascii || raw.is_empty() || raw.len() > KEY_MAX {
            return self.str_value(py, key);
        }
        let mut padded = [0u8; KEY_MAX];
        padded[..raw.len()].copy_from_slice(raw);
        let slot = key_slot(&padded, raw.len());
        if self.keys.is_empty() {
            self.keys.resize_with(KEY_CACHE_SIZE, || None);
        }
        if let Some(entry) = &self.keys[slot] {
            if usize::from(entry.len) == raw.len() && entry.bytes == padded {
                return Ok(entry.text.bind(py).clone());
            }
        }
        let made = super::ascii_str(py, raw).map_err(BuildError::python)?;
        // Hashed once here; the str keeps its hash for every dict it goes into.
        made.hash().map_err(BuildError::python)?;
        self.keys[slot] = Some(CachedKey { len: raw.len() as u8, bytes: padded, text: made.clone().unbind() });
        Ok(made)
    }

    fn list<'py>(
        &mut self,
        py: Python<'py>,
        scanner: &mut Scanner<'_>,
        mut item: impl FnMut(&mut Self, Python<'py>, &mut Scanner<'_>) -> Built<Bound<'py, PyAny>>,
    ) -> Built<Bound<'py, PyAny>> {
        scanner.begin_array()?;
        let list = PyList::empty(py);
        let mut first = true;
        let mut index = 0;
        while scanner.next_element(&mut first)? {
            let value = item(self, py, scanner).at(|| PathSegment::Index(index))?;
            list.append(value).map_err(BuildError::python)?;
            index += 1;
        }
        Ok(list.into_any())
    }

    fn dict<'py>(&mut self, py: Python<'py>, scanner: &mut Scanner<'_>, value_ty: &Ty) -> Built<Bound<'py, PyAny>> {
        scanner.begin_object()?;
        let dict = PyDict::new(py);
        let mut first = true;
        while let Some(key) = scanner.next_key(&mut first)? {
            let key = self.key_str(py, &key)?;
            let value = self.build(py, scanner, value_ty).at(|| PathSegment::Key(key.to_string()))?;
            dict.set_item(key, value).map_err(BuildError::python)?;
        }
        Ok(dict.into_any())
    }

    fn build_struct<'py>(
        &mut self,
        py: Python<'py>,
        scanner: &mut Scanner<'_>,
        index: usize,
        root: bool,
    ) -> Built<Bound<'py, PyAny>> {
        let schemas: &'s Schema = self.schema;
        let schema = &schemas.structs[index];
        let kind = scanner.peek()?;
        let start = scanner.position();
        if kind != Kind::Object {
            return Err(BuildError::new(start, BuildErrorKind::WrongType { expected: "object".to_owned(), found: kind.name() }));
        }
        scanner.begin_object()?;
        let at_start = |mut error: Box<BuildError>| {
            error.offset = start;
            error
        };
        let missing = |field: &Field| {
            BuildError::new(start, BuildErrorKind::MissingField(String::from_utf8_lossy(&field.key).into_owned()))
        };
        let unset = schemas.unset.bind(py);
        let (instance, extras) = match &schema.layout {
            Some(offsets) => {
                let class = schema.class.as_ptr().cast::<ffi::PyTypeObject>();
                // SAFETY: `class` is a live Struct type; its tp_alloc returns a new, zero-filled
                // instance (every slot NULL) or NULL with an exception set. msgspec's own decoder and
                // `__init__` allocate the same way.
                let instance = unsafe {
                    let alloc = (*class).tp_alloc.unwrap_or(ffi::PyType_GenericAlloc);
                    py_result(py, alloc(class, 0)).map_err(at_start)?
                };
                let object = instance.as_ptr();
                // SAFETY (for each `slot` below): `offsets` were checked against the class's member
                // descriptors when the schema loaded (`layout`): each is an object slot inside the instance.
                let extras = self.struct_members(py, scanner, schema, root, |position, value| unsafe {
                    let old = std::ptr::replace(slot(object, offsets[position]), value.into_ptr());
                    if !old.is_null() {
                        ffi::Py_DECREF(old);
                    }
                })?;
                // msgspec's rule, as in its `__init__` and decoder: an instance none of whose field values
                // is a GC type is left untracked by the garbage collector (it cannot be part of a cycle).
                let mut holds_gc_values = false;
                for (position, field) in schema.fields.iter().enumerate() {
                    // SAFETY: as above; a NULL slot gets a new reference to UNSET.
                    unsafe {
                        let slot = slot(object, offsets[position]);
                        if (*slot).is_null() {
                            if field.required {
                                return Err(missing(field));
                            }
                            *slot = unset.clone().into_ptr();
                        }
                        holds_gc_values |= ffi::PyType_IS_GC(ffi::Py_TYPE(*slot)) != 0;
                    }
                }
                // SAFETY: a fully initialised GC instance may be untracked (a no-op when it is not tracked).
                unsafe {
                    if !holds_gc_values && ffi::PyType_IS_GC(class) != 0 {
                        ffi::PyObject_GC_UnTrack(object.cast());
                    }
                }
                (instance, extras)
            }
            None => {
                let mut values: [Option<Bound<'py, PyAny>>; MAX_FIELDS] = Default::default();
                let extras = self.struct_members(py, scanner, schema, root, |position, value| values[position] = Some(value))?;
                let mut args: [*mut ffi::PyObject; MAX_FIELDS] = [ptr::null_mut(); MAX_FIELDS];
                for (position, field) in schema.fields.iter().enumerate() {
                    args[position] = match &values[position] {
                        Some(value) => value.as_ptr(),
                        None if field.required => return Err(missing(field)),
                        None => unset.as_ptr(),
                    };
                }
                // SAFETY: `args` holds `fields.len()` borrowed references kept alive by `values` and `unset`
                // for the duration of the call; the result is a new reference or NULL with an exception set.
                let instance = GcPaused::resumed(|| unsafe {
                    ffi::PyObject_Vectorcall(schema.class.as_ptr(), args.as_ptr(), schema.fields.len(), ptr::null_mut())
                });
                (py_result(py, instance).map_err(at_start)?, extras)
            }
        };
        if !extras.is_empty() {
            keep_extras(&instance, extras).map_err(BuildError::python)?;
        }
        Ok(instance)
    }

    /// Reads the members of an object (the scanner is past its `{`): each declared field's value goes
    /// to `put` with the field's position, the undeclared ones are returned as (name, value).
    fn struct_members<'py>(
        &mut self,
        py: Python<'py>,
        scanner: &mut Scanner<'_>,
        schema: &'s StructSchema,
        root: bool,
        mut put: impl FnMut(usize, Bound<'py, PyAny>),
    ) -> Built<Vec<(Bound<'py, PyString>, Bound<'py, PyAny>)>> {
        let mut extras = Vec::new();
        let mut first = true;
        // Providers send fields in the declared order: try the one after the last match first.
        let mut next_field = 0;
        while let Some(key) = scanner.next_key(&mut first)? {
            let key_bytes = key.unescaped(&mut self.scratch)?;
            let found = find_field(&schema.fields, key_bytes, next_field);
            let error_member = root && found.is_none() && key_bytes == b"error";
            match found {
                Some(position) => {
                    let field = &schema.fields[position];
                    if root && &*field.key == b"object" && scanner.peek()? == Kind::String {
                        let mut probe = Scanner::at(scanner);
                        self.upstream_error |= probe.string()?.raw == b"error";
                    }
                    let value = match field.cache_slot {
                        Some(slot) if !self.cache.is_empty() && scanner.peek()? == Kind::String => {
                            self.repeating_string(py, scanner, slot)
                        }
                        _ => self.build(py, scanner, &field.ty),
                    };
                    put(position, value.at(|| PathSegment::Key(String::from_utf8_lossy(&field.key).into_owned()))?);
                    next_field = position + 1;
                }
                None => {
                    let name = self.key_str(py, &key)?;
                    if error_member {
                        self.upstream_error |= scanner.peek()? != Kind::Null;
                    }
                    let value = self.build_any(py, scanner).at(|| PathSegment::Key(name.to_string()))?;
                    extras.push((name, value));
                }
            }
        }
        Ok(extras)
    }
}

/// The slot at `offset` in `object`.
///
/// # Safety
/// `offset` must be the offset of an object slot inside `object`'s type (`layout`).
#[inline]
unsafe fn slot(object: *mut ffi::PyObject, offset: ffi::Py_ssize_t) -> *mut *mut ffi::PyObject {
    object.cast::<u8>().offset(offset).cast::<*mut ffi::PyObject>()
}

/// Stores undeclared members in the instance's `__dict__`. Straight into the dict, not through
/// `setattr`: a provider may send any key, and `__class__`, `__dict__` or `__struct_fields__` must be
/// kept as data like any other, never reach a descriptor. msgspec leaves an instance whose fields are
/// all scalars untracked by the garbage collector; one that now holds a container is tracked again, as
/// msgspec's own `__setattr__` does.
fn keep_extras<'py>(instance: &Bound<'py, PyAny>, extras: Vec<(Bound<'py, PyString>, Bound<'py, PyAny>)>) -> PyResult<()> {
    let py = instance.py();
    // SAFETY: a new reference to the instance dict (created if needed), or NULL with an exception set.
    let dict = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyObject_GenericGetDict(instance.as_ptr(), ptr::null_mut()))? };
    let dict = dict.cast_into::<PyDict>()?;
    let mut holds_container = false;
    for (name, value) in extras {
        holds_container |= value.is_instance_of::<PyDict>() || value.is_instance_of::<PyList>();
        dict.set_item(name, value)?;
    }
    // SAFETY: msgspec Structs with `dict=True` are GC types (msgspec refuses gc=False with dict=True);
    // tracking an untracked GC object that is fully initialised is allowed.
    unsafe {
        if holds_container && ffi::PyObject_GC_IsTracked(instance.as_ptr()) == 0 {
            ffi::PyObject_GC_Track(instance.as_ptr().cast());
        }
    }
    Ok(())
}

fn find_field(fields: &[Field], key: &[u8], hint: usize) -> Option<usize> {
    if fields.get(hint).is_some_and(|field| short_eq(&field.key, key)) {
        return Some(hint);
    }
    fields.iter().position(|field| short_eq(&field.key, key))
}

/// Equality for short keys without a `memcmp` call (see `same_bytes` in sse.rs).
#[inline]
fn short_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

fn expected(accepts: &Accepts) -> String {
    let mut names = Vec::new();
    if accepts.string {
        names.push("string");
    }
    if accepts.int {
        names.push("integer");
    }
    if accepts.float {
        names.push("number");
    }
    if accepts.boolean {
        names.push("boolean");
    }
    if accepts.list.is_some() {
        names.push("array");
    }
    if accepts.object.is_some() {
        names.push("object");
    }
    if accepts.null {
        names.push("null");
    }
    names.join(" or ")
}

#[cold]
fn wrong_type(offset: usize, accepts: &Accepts, found: Kind) -> Box<BuildError> {
    BuildError::new(offset, BuildErrorKind::WrongType { expected: expected(accepts), found: found.name() })
}
