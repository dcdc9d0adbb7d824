//! The accumulator driven as `chatsse.Accumulator` drives it (src/python/accumulator.rs): payloads
//! from a `PayloadStream`, an `event: error` frame merged as an error report, a failing chunk
//! reported while the chunks after it are still merged, a last payload cut short by the end of the
//! body not merged; and everything observable about the result, to compare runs.

use chatsse::accumulate::Accumulator;
use chatsse::event_stream::DEFAULT_MAX_EVENT_SIZE;
use chatsse::payload_stream::{Format, Payload, PayloadStream, StreamError};

/// What one chunk did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkReport {
    /// Merged; it may report an upstream error, and a member may have been left out for its type
    /// (offset, path, message).
    Merged { upstream_error: bool, rejected: Option<(usize, String, String)> },
    /// Not JSON: merged up to the break (offset, path, message).
    Refused(usize, String, String),
}

impl ChunkReport {
    /// Merged whole: nothing left out, nothing refused.
    pub fn whole(&self) -> bool {
        matches!(self, ChunkReport::Merged { rejected: None, .. })
    }

    /// The same report for the payload with `shift` bytes put before it.
    fn shifted(self, shift: usize) -> ChunkReport {
        match self {
            ChunkReport::Merged { upstream_error, rejected } => ChunkReport::Merged {
                upstream_error,
                rejected: rejected.map(|(offset, path, message)| (offset.saturating_sub(shift), path, message)),
            },
            ChunkReport::Refused(offset, path, message) => ChunkReport::Refused(offset.saturating_sub(shift), path, message),
        }
    }
}

/// Everything a caller can see of an accumulation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub json: String,
    pub usage: Option<String>,
    pub tool_call_arguments: Vec<Vec<Option<String>>>,
    pub all_finished: bool,
    pub chunks: u64,
    pub reports: Vec<ChunkReport>,
}

impl Outcome {
    pub fn of(merge: &Accumulator, reports: Vec<ChunkReport>) -> Outcome {
        let mut json = String::new();
        merge.write_json(&mut json);
        Outcome {
            json,
            usage: merge.usage_json(),
            tool_call_arguments: (0..3)
                .map(|choice| merge.tool_call_arguments(choice).into_iter().map(|a| a.map(str::to_owned)).collect())
                .collect(),
            all_finished: merge.all_finished(),
            chunks: merge.chunks(),
            reports,
        }
    }
}

/// One chunk merged as the binding's `add_payload` merges it.
pub fn add_chunk(merge: &mut Accumulator, bytes: &[u8], error_event: bool) -> ChunkReport {
    let added = if error_event { merge.add_error_report(bytes) } else { merge.add(bytes) };
    match added {
        Ok(outcome) => ChunkReport::Merged {
            upstream_error: outcome.upstream_error,
            rejected: outcome.rejected.map(|error| (error.offset, error.path, error.message)),
        },
        Err(error) => ChunkReport::Refused(error.offset, error.path, error.message),
    }
}

/// A body accumulated from `pieces`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyRun {
    pub outcome: Outcome,
    /// The payloads handed to the accumulator, with their `error_event` flag (for replays).
    pub payloads: Vec<(Vec<u8>, bool)>,
    /// The framing error that stopped the body, if any.
    pub frame_error: Option<String>,
    /// `close` would raise TruncatedStreamError for a payload cut short.
    pub cut_inside_payload: bool,
    pub done: bool,
}

pub fn accumulate_body(pieces: &[&[u8]], format: Format) -> BodyRun {
    let mut stream = PayloadStream::new(format, DEFAULT_MAX_EVENT_SIZE);
    let mut merge = Accumulator::new();
    let mut reports = Vec::new();
    let mut payloads = Vec::new();
    let mut frame_error = None;
    let mut take = |payload: Payload<'_>, merge: &mut Accumulator| {
        payloads.push((payload.bytes.to_vec(), payload.error_event));
        reports.push(add_chunk(merge, payload.bytes, payload.error_event));
    };
    for piece in pieces {
        let fed = stream.feed(piece, |payload| {
            take(payload, &mut merge);
            Ok::<(), ()>(())
        });
        if let Err(error) = fed {
            frame_error = Some(describe(error));
            break;
        }
    }
    let mut cut_inside_payload = false;
    if frame_error.is_none() {
        let finished = stream.finish(|payload| {
            if payload.is_cut_short() {
                cut_inside_payload = true;
            } else {
                take(payload, &mut merge);
            }
            Ok::<(), ()>(())
        });
        if let Err(error) = finished {
            frame_error = Some(describe(error));
        }
    }
    BodyRun { outcome: Outcome::of(&merge, reports), payloads, frame_error, cut_inside_payload, done: stream.done() }
}

fn describe(error: StreamError<()>) -> String {
    match error {
        StreamError::Frame(error) => error.to_string(),
        StreamError::Payload(()) => unreachable!("the callbacks never fail"),
    }
}

/// The same payloads added one by one, every other chunk with a leading space: the accumulator's
/// skip of a repeated leading run then never applies (a run is a byte prefix, and consecutive
/// payloads never share one), so this is the merge without that optimisation. Offsets of the spaced
/// payloads are reported as in the unspaced ones.
pub fn accumulate_unskipped(payloads: &[(Vec<u8>, bool)]) -> Outcome {
    let mut merge = Accumulator::new();
    let mut reports = Vec::new();
    let mut spaced = Vec::new();
    for (n, (bytes, error_event)) in payloads.iter().enumerate() {
        // Not an error report's payload: one that is not JSON is kept as the text it is.
        let shift = if *error_event { 0 } else { n % 2 };
        let input: &[u8] = if shift == 1 {
            spaced.clear();
            spaced.push(b' ');
            spaced.extend_from_slice(bytes);
            &spaced
        } else {
            bytes
        };
        reports.push(add_chunk(&mut merge, input, *error_event).shifted(shift));
    }
    Outcome::of(&merge, reports)
}
