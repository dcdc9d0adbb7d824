//! chatsse: parsing of OpenAI-compatible Chat Completions streams.
//!
//! The modules below are pure Rust and know nothing of Python; `python` (behind the `python` feature,
//! which maturin turns on) is the one place that turns them into Python objects.

pub mod accumulate;
pub mod completion_stream;
pub mod event_stream;
pub mod json;
pub mod json_lines;
pub mod json_write;
pub mod partial_json;
pub mod payload_stream;
pub mod rewrite;
mod stack;

#[cfg(feature = "python")]
mod python;

#[cfg(test)]
mod fuzz_regressions;
