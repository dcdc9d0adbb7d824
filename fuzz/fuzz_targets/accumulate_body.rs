//! The accumulator on raw bodies, driven as `chatsse.Accumulator.feed` and `close` drive it.
//!
//! - Any cutting of the body gives the same completion JSON, usage, tool-call arguments, finished
//!   state, chunk count and per-chunk reports (merged, upstream error, refused with offset and path).
//! - Adding the same payloads with the repeated-run skip defeated gives the same (the skip is an
//!   optimisation: it must never change a result).
//! - The completion always builds: valid JSON of the `ChatCompletion` shape (src/shape.rs).
#![no_main]

use chatsse::payload_stream::Format;
use chatsse_fuzz::accumulate::{accumulate_body, accumulate_unskipped};
use chatsse_fuzz::cuts::cuttings;
use chatsse_fuzz::shape::check_completion;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let mut runs = cuttings(body).into_iter().map(|pieces| accumulate_body(&pieces, Format::Auto));
    let whole = runs.next().unwrap();
    for other in runs {
        assert_eq!(other, whole, "a cutting of the body accumulates differently");
    }
    assert_eq!(accumulate_unskipped(&whole.payloads), whole.outcome, "skipping a repeated run changed the result");
    if let Err(problem) = check_completion(&whole.outcome.json) {
        panic!("the completion does not build: {problem}\n{}", whole.outcome.json);
    }
});
