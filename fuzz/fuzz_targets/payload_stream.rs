//! From a body to its payloads, per format: `auto`, `sse` and `jsonl` asked for explicitly.
//!
//! - Any cutting (whole, random pieces, byte by byte) gives the same payloads, the same error, the
//!   same `done` and the same detected format.
//! - `auto` gives exactly what asking for the format it detected gives; when the blank start (the
//!   bytes before the deciding one) fails both framers, auto fails there, with the SSE framer's error
//!   (it cannot wait for a deciding byte that may never come).
//! - Every payload's bytes are in the body where its offsets say; none is delivered after `[DONE]`;
//!   none is blank unless it is an `event: error` frame; a JSON line is trimmed.
//! - The same with a small size limit, errors included.
#![no_main]

use chatsse::event_stream::DEFAULT_MAX_EVENT_SIZE;
use chatsse::payload_stream::{Format, Payload, PayloadStream, StreamError};
use chatsse_fuzz::cuts::{cuttings, seed_of};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Delivered {
    bytes: Vec<u8>,
    offset: u64,
    error_event: bool,
    unterminated: bool,
    line_starts: Vec<(usize, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    payloads: Vec<Delivered>,
    error: Option<String>,
    done: bool,
    format: Format,
}

fn check_payload(body: &[u8], payload: &Payload<'_>, format: Format, done_before: bool) {
    assert!(!done_before, "a payload after [DONE]");
    let trimmed = payload.bytes.trim_ascii();
    assert!(payload.error_event || !trimmed.is_empty(), "a blank payload");
    assert!(payload.error_event || trimmed != b"[DONE]", "[DONE] delivered as a payload");
    if format == Format::JsonLines {
        // A document over several lines (json_lines.rs) is one payload: contiguous in the body.
        assert_eq!(trimmed, payload.bytes, "a JSON line is trimmed");
        assert!(payload.line_starts.is_empty());
    }
    let mut starts = vec![(0usize, payload.offset)];
    starts.extend_from_slice(payload.line_starts);
    for (n, &(start, offset)) in starts.iter().enumerate() {
        let end = starts.get(n + 1).map_or(payload.bytes.len(), |(next, _)| next - 1);
        let line = &payload.bytes[start..end];
        let offset = usize::try_from(offset).unwrap();
        assert_eq!(body.get(offset..offset + line.len()), Some(line), "payload line {n} is not at offset {offset}");
        assert_eq!(payload.stream_offset(start), offset as u64);
    }
}

fn run(body: &[u8], pieces: &[&[u8]], format: Format, limit: usize) -> Run {
    let mut stream = PayloadStream::new(format, limit);
    let mut payloads = Vec::new();
    let mut error = None;
    // Set after each feed: a payload in a later feed than the one that brought `[DONE]` is refused.
    let mut done_before = false;
    let mut take = |payload: Payload<'_>, detected: Format, done_before: bool| {
        check_payload(body, &payload, detected, done_before);
        payloads.push(Delivered {
            bytes: payload.bytes.to_vec(),
            offset: payload.offset,
            error_event: payload.error_event,
            unterminated: payload.unterminated,
            line_starts: payload.line_starts.to_vec(),
        });
    };
    for piece in pieces {
        // The format is known by the time a payload arrives; `done` is read after each feed.
        let detected_before = stream.format();
        let fed = stream.feed(piece, |payload| {
            take(payload, if detected_before == Format::Auto { sniff(body) } else { detected_before }, done_before);
            Ok::<(), ()>(())
        });
        if let Err(error_) = fed {
            error = Some(describe(error_));
            break;
        }
        if stream.done() {
            done_before = true;
        }
    }
    if error.is_none() {
        let detected = stream.format();
        let finished = stream.finish(|payload| {
            take(payload, detected, done_before);
            Ok::<(), ()>(())
        });
        if let Err(error_) = finished {
            error = Some(describe(error_));
        }
    }
    Run { payloads, error, done: stream.done(), format: stream.format() }
}

/// Where the byte that decides the format lies: the first that is not a BOM or blank space (the
/// body's length when there is none).
fn deciding_byte(body: &[u8]) -> usize {
    let after_bom = body.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(body);
    body.len() - after_bom.len() + after_bom.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(after_bom.len())
}

/// The format `auto` picks, by its documented rule: `{` as the first byte that is not a BOM or blank.
fn sniff(body: &[u8]) -> Format {
    match body.get(deciding_byte(body)) {
        Some(b'{') => Format::JsonLines,
        Some(_) => Format::Sse,
        None => Format::Auto,
    }
}

/// The bytes before the one that decides the format fail both framers when asked for explicitly.
fn blank_start_fails_both(body: &[u8], limit: usize) -> bool {
    let blank = &body[..deciding_byte(body)];
    [Format::Sse, Format::JsonLines].into_iter().all(|format| run(blank, &[blank], format, limit).error.is_some())
}

fn describe(error: StreamError<()>) -> String {
    match error {
        StreamError::Frame(error) => format!("{error:?}"),
        StreamError::Payload(()) => unreachable!("the callbacks never fail"),
    }
}

fn check(body: &[u8], limit: usize) {
    let mut by_format = Vec::new();
    for format in [Format::Auto, Format::Sse, Format::JsonLines] {
        let mut runs = cuttings(body).into_iter().map(|pieces| run(body, &pieces, format, limit));
        let whole = runs.next().unwrap();
        for other in runs {
            assert_eq!(other, whole, "format {} limit {limit}: a cutting differs from the whole body", format.name());
        }
        by_format.push(whole);
    }
    let auto = &by_format[0];
    let detected = sniff(body);
    if auto.error.is_none() {
        assert_eq!(auto.format, detected, "auto detected another format than its rule says");
    }
    let explicit = match detected {
        _ if auto.error.is_some() && blank_start_fails_both(body, limit) => &by_format[1],
        Format::Sse => &by_format[1],
        Format::JsonLines => &by_format[2],
        // Nothing but blank space: auto delivers nothing.
        Format::Auto => {
            assert!(auto.payloads.is_empty() && !auto.done, "auto delivered payloads from blank space");
            return;
        }
    };
    assert_eq!(
        (&auto.payloads, &auto.error, auto.done),
        (&explicit.payloads, &explicit.error, explicit.done),
        "auto differs from {} asked for, limit {limit}",
        detected.name()
    );
}

fuzz_target!(|body: &[u8]| {
    check(body, DEFAULT_MAX_EVENT_SIZE);
    check(body, 1 + (seed_of(body) % 64) as usize);
});
