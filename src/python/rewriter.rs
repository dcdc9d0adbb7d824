//! `Rewriter`: the tap that also rewrites (`crate::rewrite`). An `Accumulator` frames and merges the
//! upstream's bytes as `Accumulator.feed` does (same errors, same bill); each payload it merged as a
//! chunk is rewritten by the rules, and the bytes around it are given out as they came. No Python
//! object is made per chunk: `feed` returns one `bytes` per call.
//!
//! Errors: `feed` and `close` raise what `Accumulator.feed` and `close` raise on the same bytes, once
//! the whole piece is framed, merged and rewritten; the output of a call that raised is kept and given
//! out first by the next `feed` or `close`, or at once by `take`, so that nothing is lost (a provider's
//! error frame is forwarded). Threads: as the Accumulator (`changing`/`reading`).

use std::sync::atomic::AtomicBool;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyMapping, PyString};

use super::accumulator::{merged_stream_pymethods, Accumulator, MergeObserver, Merged};
use super::{changing, reading, shared, FeedInput, Poisonable};
use crate::accumulate::Accumulator as Merge;
use crate::event_stream::DEFAULT_MAX_EVENT_SIZE;
use crate::payload_stream::Payload as StreamPayload;
use crate::rewrite::{Rewriter as Rewrite, RuleError, Rules};

/// Rewrites a streamed response as it passes, and merges what the upstream sent.
#[pyclass(module = "chatsse._core", name = "Rewriter")]
pub struct Rewriter {
    tap: Accumulator,
    rewrite: Rewrite,
    /// The output being built; between calls, the output of a call that raised (see `take`).
    out: Vec<u8>,
    poisoned: AtomicBool,
}

impl Poisonable for Rewriter {
    fn poisoned(&self) -> &AtomicBool {
        &self.poisoned
    }
}

impl Merged for Rewriter {
    fn merged(&self) -> &Accumulator {
        &self.tap
    }
}

merged_stream_pymethods! {
impl Rewriter {
    #[new]
    #[pyo3(signature = (*, set = None, drop = None, rename = None, drop_usage_only = false, format = "auto", max_event_size = DEFAULT_MAX_EVENT_SIZE))]
    fn new(
        py: Python<'_>,
        set: Option<&Bound<'_, PyAny>>,
        drop: Option<&Bound<'_, PyAny>>,
        rename: Option<&Bound<'_, PyAny>>,
        drop_usage_only: bool,
        format: &str,
        max_event_size: usize,
    ) -> PyResult<Self> {
        // Each rule checked (TypeError, ValueError naming the path).
        let mut rules = Rules::new();
        if let Some(set) = set {
            add_sets(py, &mut rules, set)?;
        }
        if let Some(drop) = drop {
            add_drops(&mut rules, drop)?;
        }
        if let Some(rename) = rename {
            add_renames(&mut rules, rename)?;
        }
        rules.drop_usage_only(drop_usage_only);
        let mut tap = Accumulator::new(format, max_event_size)?;
        tap.merge.record_member_ends(); // the rewrite passes over what the merge scanned
        Ok(Rewriter {
            tap,
            rewrite: Rewrite::new(rules),
            out: Vec::new(),
            poisoned: AtomicBool::new(false),
        })
    }

    /// Takes the next piece of the upstream's body (any cutting); returns the rewritten bytes of the
    /// events it completed (b"" while an event is open). Raises as `Accumulator.feed` does, the output
    /// then kept for the next call (or `take`). A piece of 4 KiB or more runs with the GIL released.
    #[pyo3(name = "feed")]
    fn py_feed<'py>(slf: &Bound<'py, Self>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        changing(slf, |this| this.feed(slf.py(), data))
    }

    /// Ends the body; returns the rest: a last event that nothing terminated, rewritten when its
    /// payload is complete, else as it came (then TruncatedStreamError, as `Accumulator.close`).
    #[pyo3(name = "close")]
    fn py_close<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyBytes>> {
        changing(slf, |this| this.close(slf.py()))
    }

    /// The output of the last `feed` or `close` that raised, not given out yet (b"" when none).
    #[pyo3(name = "take")]
    fn py_take<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyBytes>> {
        changing(slf, |this| Ok(this.output(slf.py())))
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        Ok(shared(slf)?.tap.repr("Rewriter"))
    }
}
}

impl Rewriter {
    fn feed<'py>(&mut self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        let input = FeedInput::extract(data)?;
        let bytes = input.as_slice();
        let result = if self.rewrite.passing_through() {
            self.out.extend_from_slice(bytes);
            self.tap.feed_bytes(py, bytes, &mut ())
        } else {
            self.tap.feed_bytes(py, bytes, &mut Edit { rewrite: &mut self.rewrite, input: bytes, out: &mut self.out })
        };
        result.map(|()| self.output(py))
    }

    fn close<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let result = if self.rewrite.passing_through() {
            self.tap.close_observing(py, &mut ())
        } else {
            self.tap.close_observing(py, &mut Edit { rewrite: &mut self.rewrite, input: &[], out: &mut self.out })
        };
        self.rewrite.pass_rest(&[], &mut self.out);
        result.map(|()| self.output(py))
    }

    /// The output built so far, given out (the buffer kept for the next call).
    fn output<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let bytes = PyBytes::new(py, &self.out);
        self.out.clear();
        bytes
    }
}

/// Rewrites each payload the accumulator merged; gives out the raw bytes around them.
struct Edit<'a> {
    rewrite: &'a mut Rewrite,
    input: &'a [u8],
    out: &'a mut Vec<u8>,
}

impl MergeObserver for Edit<'_> {
    fn merged(&mut self, payload: &StreamPayload<'_>, merge: &Merge) {
        self.rewrite.payload(self.input, payload, merge.member_ends(), self.out);
    }

    fn framed(&mut self, complete_offset: Option<u64>) {
        match complete_offset {
            Some(offset) => self.rewrite.end(self.input, offset, self.out),
            None => {
                // Past a framing error nothing can be framed again: the rest goes out as it came.
                self.rewrite.pass_rest(self.input, self.out);
                self.rewrite.pass_through();
            }
        }
    }
}

static JSON_DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `set={path: value}`: each value encoded once, by `json.dumps` (compact, UTF-8, no NaN).
fn add_sets(py: Python<'_>, rules: &mut Rules, set: &Bound<'_, PyAny>) -> PyResult<()> {
    let dumps = JSON_DUMPS.get_or_try_init(py, || py.import("json")?.getattr("dumps").map(Bound::unbind))?.bind(py);
    let kwargs = PyDict::new(py);
    kwargs.set_item("ensure_ascii", false)?;
    kwargs.set_item("allow_nan", false)?;
    kwargs.set_item("separators", (",", ":"))?;
    for (path, value) in mapping(set, "set")? {
        let path = path_str(&path, "set")?;
        let encoded = dumps.call((value,), Some(&kwargs)).map_err(|error| {
            let message = format!("set[{path:?}]: the value is not JSON (what json.dumps takes): {}", error.value(py));
            if error.is_instance_of::<PyValueError>(py) { PyValueError::new_err(message) } else { PyTypeError::new_err(message) }
        })?;
        let text: String = encoded.extract()?;
        rules.set(&path, text.as_bytes()).map_err(refused)?;
    }
    Ok(())
}

/// `drop=[path, ...]`.
fn add_drops(rules: &mut Rules, drop: &Bound<'_, PyAny>) -> PyResult<()> {
    if drop.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err("drop takes a list of paths, not one str: drop=[\"obfuscation\"]"));
    }
    for path in drop.try_iter().map_err(|_| PyTypeError::new_err(format!("drop takes a list of paths, not {}", type_name(drop))))? {
        rules.drop(&path_str(&path?, "drop")?).map_err(refused)?;
    }
    Ok(())
}

/// `rename={path: new_name}`.
fn add_renames(rules: &mut Rules, rename: &Bound<'_, PyAny>) -> PyResult<()> {
    for (path, name) in mapping(rename, "rename")? {
        let path = path_str(&path, "rename")?;
        let name: String = name
            .extract()
            .map_err(|_| PyTypeError::new_err(format!("rename[{path:?}]: the new name is a str, not {}", type_name(&name))))?;
        if name.is_empty() {
            return Err(PyValueError::new_err(format!("rename[{path:?}]: the new name is empty")));
        }
        rules.rename(&path, &name).map_err(refused)?;
    }
    Ok(())
}

fn refused(error: RuleError) -> PyErr {
    PyValueError::new_err(error.to_string())
}

fn mapping<'py>(value: &Bound<'py, PyAny>, argument: &str) -> PyResult<Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
    let mapping = value
        .cast::<PyMapping>()
        .map_err(|_| PyTypeError::new_err(format!("{argument} takes a mapping of paths, not {}", type_name(value))))?;
    mapping.items()?.iter().map(|item| item.extract()).collect()
}

fn path_str(path: &Bound<'_, PyAny>, argument: &str) -> PyResult<String> {
    path.extract::<String>().map_err(|_| PyTypeError::new_err(format!("{argument}: a path is a str, not {}", type_name(path))))
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value.get_type().name().map(|name| name.to_string()).unwrap_or_default()
}
