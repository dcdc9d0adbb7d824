//! `chatsse.encode`: the msgspec Structs of `chatsse.types` (and the plain values inside them) as
//! compact JSON, walked in Rust, written by the rules of `crate::json_write`.
//!
//! The output is byte for byte what the Python walk (`chatsse._chunks._encode_python`:
//! `msgspec.json.encode` of the Structs turned into dicts) writes: declared fields in declared order,
//! `UNSET` left out, then the instance's `__dict__` (the undeclared members), at every level; a
//! tagged Struct starts with its tag. What this walk does not know (a value of another type, a
//! subclass, a Struct of another module, a dict with a key that is not a str, an undeclared member
//! named like a field) is handed to that Python walk, value by value, and its bytes spliced in: the
//! spelling of everything is msgspec's either way. When anything fails (an unsupported value, a lone
//! surrogate, an int too long for `str`), or a document is nested deeper than `json::MAX_DEPTH`, the
//! whole object goes through the Python walk, which raises what it always raised.

use std::cell::RefCell;
use std::ptr;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyString, PyType};

use crate::json_write::{write_f64, write_i64, write_str};

/// How one Struct class of `chatsse.types` is written.
struct StructCodec {
    /// `{`, with the tag member after it for a tagged class (`{"type":"text"`).
    open: Box<[u8]>,
    /// Per declared field: `"name":` and the slot's offset in an instance.
    fields: Box<[(Key, ffi::Py_ssize_t)]>,
    /// Names an undeclared member must not have for this walk to write it (a declared field's, the
    /// tag field's): in the Python walk's dict such a member would replace the earlier one in place.
    reserved: Box<[Box<[u8]>]>,
}

/// A member's `"name":`, padded to a block when short: copied whole, a short key is a few moves
/// (`extend_from_slice` of a few bytes calls `memmove`).
enum Key {
    Short([u8; KEY_BLOCK], usize),
    Long(Box<[u8]>),
}

const KEY_BLOCK: usize = 32;

impl Key {
    fn new(text: Vec<u8>) -> Key {
        if text.len() <= KEY_BLOCK {
            let mut block = [0u8; KEY_BLOCK];
            block[..text.len()].copy_from_slice(&text);
            Key::Short(block, text.len())
        } else {
            Key::Long(text.into_boxed_slice())
        }
    }

    #[inline(always)]
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Key::Short(block, length) => {
                out.reserve(KEY_BLOCK);
                // SAFETY: KEY_BLOCK bytes of spare capacity were reserved; the first `length` are the key.
                unsafe {
                    ptr::copy_nonoverlapping(block.as_ptr(), out.as_mut_ptr().add(out.len()), KEY_BLOCK);
                    out.set_len(out.len() + length);
                }
            }
            Key::Long(text) => out.extend_from_slice(text),
        }
    }
}

/// Slots of the class table (a power of two, well above the number of classes).
const TABLE: usize = 128;

struct Codecs {
    structs: Vec<StructCodec>,
    /// Open addressing on the class's address: (class pointer, index into `structs`).
    table: [(usize, usize); TABLE],
    /// The classes, kept alive so that their addresses stay theirs.
    _classes: Vec<Py<PyType>>,
    unset: Py<PyAny>,
    /// Whether an int's digits are CPython's 30-bit ones in 32-bit words (`sys.int_info`), the layout
    /// `compact_int` reads; otherwise every int goes through `PyLong_AsLongLongAndOverflow`.
    thirty_bit_digits: bool,
    /// `chatsse._chunks._encode_python`: the Python walk.
    python: Py<PyAny>,
}

static CODECS: PyOnceLock<Codecs> = PyOnceLock::new();

impl Codecs {
    fn get(py: Python<'_>) -> PyResult<&'static Codecs> {
        CODECS.get_or_try_init(py, || Codecs::load(py))
    }

    fn load(py: Python<'_>) -> PyResult<Codecs> {
        let types = py.import("chatsse.types")?;
        let struct_type = py.import("msgspec")?.getattr("Struct")?;
        let mut codecs = Codecs {
            structs: Vec::new(),
            table: [(0, 0); TABLE],
            _classes: Vec::new(),
            unset: py.import("msgspec")?.getattr("UNSET")?.unbind(),
            python: py.import("chatsse._chunks")?.getattr("_encode_python")?.unbind(),
            thirty_bit_digits: {
                let info = py.import("sys")?.getattr("int_info")?;
                info.getattr("bits_per_digit")?.extract::<u32>()? == 30 && info.getattr("sizeof_digit")?.extract::<u32>()? == 4
            },
        };
        for name in types.getattr("__all__")?.try_iter()? {
            let member = types.getattr(name?.cast_into::<PyString>()?)?;
            let Ok(class) = member.cast::<PyType>() else { continue };
            if !class.is_subclass(&struct_type)? {
                continue;
            }
            if let Some(codec) = struct_codec(class)? {
                let address = class.as_type_ptr() as usize;
                let mut slot = table_slot(address);
                while codecs.table[slot].0 != 0 {
                    slot = (slot + 1) % TABLE;
                }
                codecs.table[slot] = (address, codecs.structs.len());
                codecs.structs.push(codec);
                codecs._classes.push(class.clone().unbind());
            }
        }
        Ok(codecs)
    }

    #[inline]
    fn codec(&self, class: *mut ffi::PyTypeObject) -> Option<&StructCodec> {
        let address = class as usize;
        let mut slot = table_slot(address);
        loop {
            let (known, index) = self.table[slot];
            if known == address {
                return Some(&self.structs[index]);
            }
            if known == 0 {
                return None;
            }
            slot = (slot + 1) % TABLE;
        }
    }
}

#[inline]
fn table_slot(address: usize) -> usize {
    (address.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 57) % TABLE
}

/// The codec of a Struct class, or None when this walk cannot read it (no `__dict__`, a field that is
/// not a plain slot, a tag that is neither str nor int): its instances go the Python way.
fn struct_codec(class: &Bound<'_, PyType>) -> PyResult<Option<StructCodec>> {
    // SAFETY: a live type object.
    if unsafe { (*class.as_type_ptr()).tp_dictoffset } == 0 {
        return Ok(None);
    }
    let names: Vec<String> = class.getattr("__struct_fields__")?.extract()?;
    let Some(offsets) = super::objects::slot_offsets(class, &names)? else { return Ok(None) };
    let config = class.getattr("__struct_config__")?;
    let tag_field = config.getattr("tag_field")?;
    let mut open = vec![b'{'];
    let mut reserved: Vec<Box<[u8]>> = names.iter().map(|name| name.as_bytes().into()).collect();
    if !tag_field.is_none() {
        let tag_field: String = tag_field.extract()?;
        write_str(&mut open, &tag_field);
        open.push(b':');
        let tag = config.getattr("tag")?;
        if let Ok(text) = tag.cast::<PyString>() {
            write_str(&mut open, text.to_str()?);
        } else if let Ok(number) = tag.extract::<i64>() {
            write_i64(&mut open, number);
        } else {
            return Ok(None);
        }
        reserved.push(tag_field.into_bytes().into());
    }
    let fields = names
        .iter()
        .zip(offsets.iter())
        .map(|(name, &offset)| {
            let mut key = Vec::new();
            write_str(&mut key, name);
            key.push(b':');
            (Key::new(key), offset)
        })
        .collect();
    Ok(Some(StructCodec { open: open.into(), fields, reserved: reserved.into() }))
}

/// Why the walk stopped.
pub(crate) enum Stopped {
    /// Something this walk does not write the way the Python walk would (an error of a value, a
    /// document deeper than `json::MAX_DEPTH`): the whole object goes through the Python walk.
    Python,
    /// The thread's native stack is nearly used up at this depth (`crate::stack`).
    Stack(u32),
}

type Walked = Result<(), Stopped>;

struct Walk<'c, 'o> {
    codecs: &'c Codecs,
    out: &'o mut Vec<u8>,
    depth: u32,
}

impl Walk<'_, '_> {
    fn value(&mut self, value: &Bound<'_, PyAny>) -> Walked {
        let object = value.as_ptr();
        // SAFETY: `object` is a live object (borrowed from `value`); the type checks come first and
        // each branch uses only the API of the exact type it checked.
        unsafe {
            if self.leaf(value.py(), object)? {
                return Ok(());
            }
            let class = ffi::Py_TYPE(object);
            if class == ptr::addr_of_mut!(ffi::PyList_Type) {
                return self.nested(|walk| walk.list(value));
            }
            if class == ptr::addr_of_mut!(ffi::PyDict_Type) {
                return self.nested(|walk| walk.dict(value));
            }
            if let Some(codec) = self.codecs.codec(class) {
                return self.nested(|walk| walk.instance(value, codec));
            }
        }
        self.python(value)
    }

    /// A container's item, borrowed from it: a leaf is written from the borrowed pointer (no Python
    /// code runs while one is written, so its container cannot let it go), anything else is held
    /// (a strong reference) while it is walked. Not taking a reference to each leaf was ~10% of
    /// encoding a logprobs completion (the reference count's write to every item).
    ///
    /// # Safety
    /// `item` is a live object owned by the container being walked.
    #[inline(always)]
    unsafe fn item(&mut self, py: Python<'_>, item: *mut ffi::PyObject) -> Walked {
        if self.leaf(py, item)? {
            return Ok(());
        }
        self.value(&Bound::from_borrowed_ptr(py, item))
    }

    /// Writes `object` when it is an exact str, int or float, None, True or False; false otherwise.
    ///
    /// # Safety
    /// `object` is a live object.
    #[inline(always)]
    unsafe fn leaf(&mut self, py: Python<'_>, object: *mut ffi::PyObject) -> Result<bool, Stopped> {
        let class = ffi::Py_TYPE(object);
        if class == ptr::addr_of_mut!(ffi::PyUnicode_Type) {
            self.string(object)?;
        } else if class == ptr::addr_of_mut!(ffi::PyLong_Type) {
            // Most ints inline here; `integer`, with the registers its slow paths need saved, for the rest.
            match self.codecs.thirty_bit_digits.then(|| compact_int(object)).flatten() {
                Some(number) => write_i64(self.out, number),
                None => self.integer(py, object)?,
            }
        } else if class == ptr::addr_of_mut!(ffi::PyFloat_Type) {
            write_f64(self.out, ffi::PyFloat_AS_DOUBLE(object));
        } else if object == ffi::Py_None() {
            self.out.extend_from_slice(b"null");
        } else if object == ffi::Py_True() {
            self.out.extend_from_slice(b"true");
        } else if object == ffi::Py_False() {
            self.out.extend_from_slice(b"false");
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    /// One level deeper: the depth limit and, every `stack::CHECK_EVERY` levels, the stack check.
    #[inline(always)]
    fn nested(&mut self, walk: impl FnOnce(&mut Self) -> Walked) -> Walked {
        self.depth += 1;
        if self.depth > crate::json::MAX_DEPTH {
            return Err(Stopped::Python);
        }
        if self.depth % crate::stack::CHECK_EVERY == 0 && !crate::stack::enough() {
            return Err(Stopped::Stack(self.depth));
        }
        let walked = walk(self);
        self.depth -= 1;
        walked
    }

    /// The value through the Python walk, its bytes appended.
    #[cold]
    fn python(&mut self, value: &Bound<'_, PyAny>) -> Walked {
        let encoded = self.codecs.python.bind(value.py()).call1((value,)).map_err(|_| Stopped::Python)?;
        let bytes = encoded.cast::<PyBytes>().map_err(|_| Stopped::Python)?;
        self.out.extend_from_slice(bytes.as_bytes());
        Ok(())
    }

    /// # Safety
    /// `object` is an exact str.
    #[inline]
    unsafe fn string(&mut self, object: *mut ffi::PyObject) -> Walked {
        let text = utf8(object).ok_or(Stopped::Python)?;
        self.out.reserve(text.len() + 2);
        self.out.push(b'"');
        crate::json_write::write_str_body(self.out, text);
        self.out.push(b'"');
        Ok(())
    }

    /// An int that is not one digit (or every int, where `compact_int` cannot read the layout).
    ///
    /// # Safety
    /// `object` is a live exact int.
    #[inline(never)]
    unsafe fn integer(&mut self, py: Python<'_>, object: *mut ffi::PyObject) -> Walked {
        let mut overflow = 0;
        // An exact int: the call cannot fail on one (overflow is reported in `overflow`).
        let number = ffi::PyLong_AsLongLongAndOverflow(object, &mut overflow);
        if overflow == 0 {
            write_i64(self.out, number);
            return Ok(());
        }
        // Beyond 64 bits: Python's own digits, as msgspec writes them (int's repr, which refuses
        // more digits than `sys.get_int_max_str_digits()`: then the Python walk raises that).
        let digits = Bound::from_borrowed_ptr(py, object).repr().map_err(|_| Stopped::Python)?;
        self.out.extend_from_slice(digits.to_str().map_err(|_| Stopped::Python)?.as_bytes());
        Ok(())
    }

    fn list(&mut self, list: &Bound<'_, PyAny>) -> Walked {
        self.out.push(b'[');
        let object = list.as_ptr();
        // A free-threaded build: the list is locked while it is walked (nothing on a GIL build).
        pyo3::sync::critical_section::with_critical_section(list, || {
            let mut position = 0;
            // SAFETY: an exact list; its length is read again before each item (the walk may run
            // Python code that changes the list), and an item is either written at once or held.
            while position < unsafe { ffi::PyList_GET_SIZE(object) } {
                if position > 0 {
                    self.out.push(b',');
                }
                unsafe { self.item(list.py(), ffi::PyList_GET_ITEM(object, position))? };
                position += 1;
            }
            Ok(())
        })?;
        self.out.push(b']');
        Ok(())
    }

    fn dict(&mut self, dict: &Bound<'_, PyAny>) -> Walked {
        let start = self.out.len();
        self.out.push(b'{');
        if self.members(dict, true, &[])? {
            self.out.push(b'}');
            return Ok(());
        }
        // A key that is not an exact str: the dict goes the Python way (msgspec writes int and float
        // keys as strings and refuses others).
        self.out.truncate(start);
        self.python(dict)
    }

    /// Appends the members of an exact dict, each after a comma unless `first`; false (the output
    /// unfinished) at a key this walk does not write: one that is not an exact str, or one of `reserved`.
    fn members(&mut self, dict: &Bound<'_, PyAny>, mut first: bool, reserved: &[Box<[u8]>]) -> Result<bool, Stopped> {
        let py = dict.py();
        let object = dict.as_ptr();
        let mut walk = |this: &mut Self| -> Result<bool, Stopped> {
            let mut position: ffi::Py_ssize_t = 0;
            let mut key: *mut ffi::PyObject = ptr::null_mut();
            let mut item: *mut ffi::PyObject = ptr::null_mut();
            // SAFETY: `object` is an exact dict; PyDict_Next hands out borrowed references, each made
            // a strong one at once (the walk below may run Python code).
            let size = unsafe { ffi::PyDict_Size(object) };
            while unsafe { ffi::PyDict_Next(object, &mut position, &mut key, &mut item) } != 0 {
                let (key, item) = unsafe { (Bound::from_borrowed_ptr(py, key), Bound::from_borrowed_ptr(py, item)) };
                // SAFETY: a live object; its exact type is checked before it is read as a str.
                if unsafe { ffi::Py_TYPE(key.as_ptr()) } != ptr::addr_of_mut!(ffi::PyUnicode_Type) {
                    return Ok(false);
                }
                let name = unsafe { utf8(key.as_ptr()) }.ok_or(Stopped::Python)?;
                if reserved.iter().any(|taken| **taken == *name) {
                    return Ok(false);
                }
                if !first {
                    this.out.push(b',');
                }
                first = false;
                this.out.push(b'"');
                crate::json_write::write_str_body(this.out, name);
                this.out.extend_from_slice(b"\":");
                this.value(&item)?;
            }
            // Changed while it was walked (by Python code a value ran): the Python walk says how.
            if unsafe { ffi::PyDict_Size(object) } != size {
                return Err(Stopped::Python);
            }
            Ok(true)
        };
        // A free-threaded build: the dict is locked while it is walked (nothing on a GIL build).
        pyo3::sync::critical_section::with_critical_section(dict, || walk(self))
    }

    fn instance(&mut self, instance: &Bound<'_, PyAny>, codec: &StructCodec) -> Walked {
        let py = instance.py();
        let object = instance.as_ptr();
        let start = self.out.len();
        self.out.extend_from_slice(&codec.open);
        let mut written = codec.open.len() > 1;
        let unset = self.codecs.unset.as_ptr();
        for (key, offset) in codec.fields.iter() {
            // SAFETY: `offset` is an object slot of this exact class (checked when the codec was made).
            let slot = unsafe { *object.cast::<u8>().offset(*offset).cast::<*mut ffi::PyObject>() };
            if slot.is_null() {
                // Never set: reading the attribute raises, as the Python walk will.
                return Err(Stopped::Python);
            }
            if slot == unset {
                continue;
            }
            if written {
                self.out.push(b',');
            }
            written = true;
            key.write(self.out);
            // SAFETY: a live reference held by the instance.
            unsafe { self.item(py, slot)? };
        }
        // The undeclared members: the instance's `__dict__`, when it has one.
        let Some(extras) = instance_dict(instance)? else {
            self.out.push(b'}');
            return Ok(());
        };
        // SAFETY: a live object. `__dict__` is an exact dict unless a user assigned another
        // mapping: then the instance goes the Python way.
        let exact = unsafe { ffi::Py_TYPE(extras.as_ptr()) } == ptr::addr_of_mut!(ffi::PyDict_Type);
        if exact && unsafe { ffi::PyDict_Size(extras.as_ptr()) } == 0 {
            self.out.push(b'}');
            return Ok(());
        }
        if exact && self.members(&extras, !written, &codec.reserved)? {
            self.out.push(b'}');
            return Ok(());
        }
        self.out.truncate(start);
        self.python(instance)
    }
}

/// The value of an int of at most one digit (|value| < 2^30: a token's `bytes`, indexes, counts,
/// nearly every int of a chunk), read from the object as CPython's own inline functions read it
/// (msgspec does the same); None for a longer one. The `PyLong_AsLongLongAndOverflow` call it spares
/// was ~18 of the ~58 instructions an int cost (callgrind, encoding a 300-token logprobs completion:
/// 8,384 ints).
///
/// # Safety
/// `object` is a live exact int of a build whose digits are 30 bits in a `u32` (`Codecs::thirty_bit_digits`).
#[inline(always)]
unsafe fn compact_int(object: *mut ffi::PyObject) -> Option<i64> {
    // Up to 3.11: a PyVarObject whose `ob_size` is the digit count, negative for a negative value.
    #[cfg(not(Py_3_12))]
    {
        let size = ffi::Py_SIZE(object);
        if !(-1..=1).contains(&size) {
            return None;
        }
        let digit = *object.cast::<u8>().add(std::mem::size_of::<ffi::PyVarObject>()).cast::<u32>();
        Some(size as i64 * i64::from(digit))
    }
    // 3.12 on: `lv_tag` after the object header, the digit count above its 3 low bits, the sign in
    // the 2 lowest (0 positive, 1 zero, 2 negative); the digits after it.
    #[cfg(Py_3_12)]
    {
        let header = object.cast::<u8>().add(std::mem::size_of::<ffi::PyObject>());
        let tag = *header.cast::<usize>();
        if tag >> 3 > 1 {
            return None;
        }
        let digit = *header.add(std::mem::size_of::<usize>()).cast::<u32>();
        Some((1 - (tag & 3) as i64) * i64::from(digit))
    }
}

#[cfg(not(Py_GIL_DISABLED))]
extern "C" {
    /// CPython's pointer to an instance's `__dict__` slot (declared in `cpython/object.h` from 3.3
    /// to 3.14; pyo3 leaves the private API out). Unlike `PyObject_GenericGetDict` it makes no dict
    /// for an instance that has none: making an empty `__dict__` for each Struct of a fresh chunk
    /// (what `value.__dict__` does) cost more than the rest of the encoding (measured: 2.6 µs a chunk
    /// walked again, 6.5-18 µs the first time).
    fn _PyObject_GetDictPtr(object: *mut ffi::PyObject) -> *mut *mut ffi::PyObject;
}

/// The instance's `__dict__`, or None when it has none yet (nothing undeclared was ever set).
fn instance_dict<'py>(instance: &Bound<'py, PyAny>) -> Result<Option<Bound<'py, PyAny>>, Stopped> {
    let py = instance.py();
    // SAFETY: the class has a `__dict__` (checked when the codec was made). `_PyObject_GetDictPtr`
    // returns NULL (no exception) or the slot, whose dict (if any) is made a strong reference at once.
    #[cfg(not(Py_GIL_DISABLED))]
    {
        let slot = unsafe { _PyObject_GetDictPtr(instance.as_ptr()) };
        if slot.is_null() {
            return Err(Stopped::Python);
        }
        // SAFETY: the slot of a live instance; its dict, if any, is made a strong reference at once.
        unsafe { Ok((!(*slot).is_null()).then(|| Bound::from_borrowed_ptr(py, *slot))) }
    }
    // A free-threaded build: the slot may change under another thread; the public call, which makes
    // an empty dict when there is none, is the safe one there.
    #[cfg(Py_GIL_DISABLED)]
    {
        // SAFETY: a new reference or NULL with an exception set.
        unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyObject_GenericGetDict(instance.as_ptr(), ptr::null_mut())) }
            .map(Some)
            .map_err(|_| Stopped::Python)
    }
}

/// The UTF-8 of an exact str (CPython's, cached in the str); None with a lone surrogate (an
/// exception is set, and dropped: the Python walk raises it again).
///
/// # Safety
/// `object` is a live exact str, alive while the slice is used.
#[inline]
unsafe fn utf8<'a>(object: *mut ffi::PyObject) -> Option<&'a [u8]> {
    // A compact ASCII str (nearly every key, id and token) is its own UTF-8. (pyo3 leaves the macro
    // out from 3.14 on, where `PyUnicode_AsUTF8AndSize` answers it.)
    #[cfg(not(Py_3_14))]
    if ffi::PyUnicode_IS_COMPACT_ASCII(object) != 0 {
        return Some(std::slice::from_raw_parts(ffi::PyUnicode_DATA(object).cast::<u8>(), ffi::PyUnicode_GET_LENGTH(object) as usize));
    }
    let mut size: ffi::Py_ssize_t = 0;
    let data = ffi::PyUnicode_AsUTF8AndSize(object, &mut size);
    if data.is_null() {
        ffi::PyErr_Clear();
        return None;
    }
    Some(std::slice::from_raw_parts(data.cast::<u8>(), size as usize))
}

thread_local! {
    /// The output buffer `encode` reuses from call to call (taken, so that an `encode` reached from
    /// Python code the walk runs gets its own).
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A buffer kept for reuse stays at most this large.
const KEPT_CAPACITY: usize = 1 << 20;

/// Writes `value` as JSON into `out` (cleared first). An error is what the Python walk raises for it.
pub(crate) fn encode_into(py: Python<'_>, value: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> PyResult<()> {
    let codecs = Codecs::get(py)?;
    out.clear();
    let walked = Walk { codecs, out: &mut *out, depth: 0 }.value(value);
    match walked {
        Ok(()) => Ok(()),
        Err(Stopped::Python) => {
            let encoded = codecs.python.bind(py).call1((value,))?;
            out.clear();
            out.extend_from_slice(encoded.cast::<PyBytes>()?.as_bytes());
            Ok(())
        }
        Err(Stopped::Stack(depth)) => Err(super::package_error(
            py,
            "ChatSSEError",
            format!("cannot encode: nesting of {depth} levels is too deep for this thread's native stack (give it a larger one)"),
            &[],
        )),
    }
}

/// Compact JSON of a chatsse type (or any value msgspec encodes), as the API sends it: declared
/// fields in declared order (absent ones left out), then the undeclared members, at every level.
#[pyfunction]
pub(crate) fn encode<'py>(py: Python<'py>, obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = BUFFER.with(|buffer| buffer.try_borrow_mut().map(|mut buffer| std::mem::take(&mut *buffer)).unwrap_or_default());
    let result = encode_into(py, obj, &mut out).map(|()| PyBytes::new(py, &out));
    if out.capacity() <= KEPT_CAPACITY {
        BUFFER.with(|buffer| {
            if let Ok(mut buffer) = buffer.try_borrow_mut() {
                *buffer = out;
            }
        });
    }
    result
}
