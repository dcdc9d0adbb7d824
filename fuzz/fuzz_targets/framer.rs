//! The event-stream framer against the WHATWG reference, for every way of cutting the body.
//!
//! - Fed whole, in random pieces and byte by byte, the framer dispatches exactly the reference's
//!   events (type, data, last event id, retry), ends with its last event id and reconnection time,
//!   and `close` says the stream was cut inside an event exactly when the reference says so.
//! - `dispatch_unterminated` then `close` gives the reference's events with the end of the stream
//!   taken as a line ending and a blank line.
//! - Every byte of an event's data is where `Event::stream_offset` says in the body.
//! - With a small size limit, every cutting gives the same events and then the same error.
#![no_main]

use chatsse::event_stream::{Event, EventStreamDecoder, FrameError};
use chatsse_fuzz::cuts::{cuttings, seed_of};
use chatsse_fuzz::sse_reference::{interpret, ReferenceEvent, ReferenceResult};
use libfuzzer_sys::fuzz_target;

fn owned(event: &Event<'_>) -> ReferenceEvent {
    ReferenceEvent {
        event_type: String::from_utf8_lossy(event.event_type()).into_owned(),
        data: String::from_utf8_lossy(event.data).into_owned(),
        last_event_id: String::from_utf8_lossy(event.last_event_id).into_owned(),
        retry: event.retry,
    }
}

/// Each line of the event's data must be the body's bytes at the offset the event gives for it.
fn check_offsets(body: &[u8], event: &Event<'_>) {
    let mut starts = vec![(0usize, event.data_offset)];
    starts.extend_from_slice(event.data_line_starts);
    for (n, &(start, offset)) in starts.iter().enumerate() {
        // A later line starts after the LF that joins it to the one before.
        let end = starts.get(n + 1).map_or(event.data.len(), |(next, _)| next - 1);
        let line = &event.data[start..end];
        let offset = usize::try_from(offset).unwrap();
        assert_eq!(body.get(offset..offset + line.len()), Some(line), "data line {n} is not at stream offset {offset}");
        assert_eq!(event.stream_offset(start), offset as u64);
    }
}

/// Framer over `pieces`: the events, the error that stopped it, and the decoder.
fn frame(body: &[u8], pieces: &[&[u8]], limit: usize) -> (Vec<ReferenceEvent>, Option<FrameError>, EventStreamDecoder) {
    let mut decoder = EventStreamDecoder::new(limit);
    let mut events = Vec::new();
    for piece in pieces {
        let fed = decoder.feed(piece, |event| {
            check_offsets(body, event);
            events.push(owned(event));
        });
        if let Err(error) = fed {
            // A failed decoder stays failed, with the same error.
            assert_eq!(decoder.feed(b"\n\n", |_| panic!("event after an error")), Err(error.clone()));
            return (events, Some(error), decoder);
        }
    }
    (events, None, decoder)
}

fuzz_target!(|body: &[u8]| {
    let reference = interpret(body, false);
    let unterminated_reference = interpret(body, true);
    for pieces in cuttings(body) {
        let (events, error, mut decoder) = frame(body, &pieces, usize::MAX);
        assert_eq!(error, None);
        let got = ReferenceResult {
            events,
            last_event_id: String::from_utf8_lossy(decoder.last_event_id()).into_owned(),
            retry: decoder.retry(),
            cut_inside_event: decoder.clone().close(),
        };
        assert_eq!(got, reference, "{} pieces", pieces.len());

        let mut events = got.events;
        decoder
            .dispatch_unterminated(|event| {
                check_offsets(body, event);
                events.push(owned(event));
            })
            .unwrap();
        assert_eq!(events, unterminated_reference.events, "dispatch_unterminated, {} pieces", pieces.len());
        assert_eq!(String::from_utf8_lossy(decoder.last_event_id()), unterminated_reference.last_event_id);
    }

    // Limits: the same events and error whatever the cutting.
    let limit = 1 + (seed_of(body) % 48) as usize;
    let mut outcomes = cuttings(body).into_iter().map(|pieces| {
        let (events, error, _) = frame(body, &pieces, limit);
        (events, error)
    });
    let whole = outcomes.next().unwrap();
    for outcome in outcomes {
        assert_eq!(outcome, whole, "limit {limit}");
    }
});
