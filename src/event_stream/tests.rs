//! Conformance tests, one group per rule of WHATWG HTML §9.2.6, plus the limits and the no-copy path.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Owned {
    event: String,
    data: String,
    id: String,
    retry: Option<u64>,
}

fn own(event: &Event<'_>) -> Owned {
    Owned {
        event: String::from_utf8_lossy(event.event_type()).into_owned(),
        data: String::from_utf8_lossy(event.data).into_owned(),
        id: String::from_utf8_lossy(event.last_event_id).into_owned(),
        retry: event.retry,
    }
}

fn ev(event: &str, data: &str, id: &str, retry: Option<u64>) -> Owned {
    Owned { event: event.into(), data: data.into(), id: id.into(), retry }
}

fn msg(data: &str) -> Owned {
    ev("message", data, "", None)
}

fn feed_pieces(decoder: &mut EventStreamDecoder, pieces: &[&[u8]]) -> Vec<Owned> {
    let mut events = Vec::new();
    for piece in pieces {
        decoder.feed(piece, |event| events.push(own(event))).unwrap();
    }
    events
}

/// The events of `input` fed whole, checked against every cutting into two and into single bytes.
fn parse(input: &[u8]) -> Vec<Owned> {
    let whole = feed_pieces(&mut EventStreamDecoder::default(), &[input]);
    for cut in 0..=input.len() {
        let (a, b) = input.split_at(cut);
        assert_eq!(feed_pieces(&mut EventStreamDecoder::default(), &[a, b]), whole, "cut at {cut}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(feed_pieces(&mut EventStreamDecoder::default(), &bytes), whole, "byte by byte");
    whole
}

// --- the spec's own examples ---------------------------------------------------------------------

#[test]
fn spec_example_stock_ticker() {
    let input = b"data: YHOO\ndata: +2\ndata: 10\n\n";
    assert_eq!(parse(input), vec![msg("YHOO\n+2\n10")]);
}

#[test]
fn spec_example_four_blocks() {
    // The first block is a comment (dispatches nothing); then "first event" with id 1, then
    // "second event" with an empty id, then " third event" whose data keeps its second space.
    let input = b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n";
    assert_eq!(parse(input), vec![ev("message", "first event", "1", None), msg("second event")]);
    let mut decoder = EventStreamDecoder::default();
    let events = feed_pieces(&mut decoder, &[input, b"\n"]);
    assert_eq!(events[2], msg(" third event"));
}

#[test]
fn spec_example_empty_data_events() {
    // "data" and "data:" each append an empty line: two events, "" and "\n"; the final block
    // has no blank line and is dropped.
    let input = b"data\n\ndata\ndata\n\ndata:";
    assert_eq!(parse(input), vec![msg(""), msg("\n")]);
}

#[test]
fn spec_example_space_after_colon_is_optional() {
    assert_eq!(parse(b"data:test\n\ndata: test\n\n"), vec![msg("test"), msg("test")]);
}

// --- line endings ----------------------------------------------------------------------------------

#[test]
fn every_line_ending_combination_frames_the_same() {
    for first in ["\n", "\r", "\r\n"] {
        for second in ["\n", "\r", "\r\n"] {
            if second == "\r" && first == "\n" {
                continue; // CR then LF is one CRLF, not two endings: covered by lf_cr_is_two_line_endings
            }
            let input = format!("event: a{first}data: 1{second}{first}data: 2{second}{second}");
            assert_eq!(parse(input.as_bytes()), vec![ev("a", "1", "", None), msg("2")], "{input:?}");
        }
    }
}

#[test]
fn lf_cr_is_two_line_endings() {
    // LF then CR: the CR is a second line ending, i.e. a blank line.
    assert_eq!(parse(b"data: x\n\rdata: y\r\r"), vec![msg("x"), msg("y")]);
}

#[test]
fn cr_at_end_of_feed_dispatches_at_once_and_swallows_the_next_lf() {
    let mut decoder = EventStreamDecoder::default();
    assert_eq!(feed_pieces(&mut decoder, &[b"data: x\r\r"]), vec![msg("x")]);
    // The LF after the final CR belongs to that CRLF: no extra blank line, nothing dispatched.
    assert_eq!(feed_pieces(&mut decoder, &[b"\ndata: y\r\n"]), vec![]);
    assert_eq!(feed_pieces(&mut decoder, &[b"\r"]), vec![msg("y")]);
    assert_eq!(feed_pieces(&mut decoder, &[b"\n"]), vec![]);
    assert!(!decoder.close());
}

#[test]
fn cr_at_end_of_feed_then_non_lf() {
    let mut decoder = EventStreamDecoder::default();
    assert_eq!(feed_pieces(&mut decoder, &[b"data: x\r", b"\rdata: y\r\n\r\n"]), vec![msg("x"), msg("y")]);
}

#[test]
fn cr_state_survives_an_empty_feed() {
    let mut decoder = EventStreamDecoder::default();
    assert_eq!(feed_pieces(&mut decoder, &[b"data: x\r", b"", b"\n", b"\n"]), vec![msg("x")]);
}

// --- BOM -------------------------------------------------------------------------------------------

#[test]
fn leading_bom_is_dropped() {
    assert_eq!(parse(b"\xEF\xBB\xBFdata: a\n\n"), vec![msg("a")]);
}

#[test]
fn only_one_bom_is_dropped() {
    // The second BOM is part of the field name, which is then unknown: the line is ignored.
    assert_eq!(parse(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n"), vec![msg("b")]);
}

#[test]
fn bom_later_in_stream_is_not_dropped() {
    assert_eq!(parse(b"data: a\n\n\xEF\xBB\xBFdata: b\n\n"), vec![msg("a")]);
    assert_eq!(parse(b"data: \xEF\xBB\xBFb\n\n"), vec![msg("\u{FEFF}b")]);
}

#[test]
fn partial_bom_prefix_is_kept_as_line_bytes() {
    // EF BB followed by something else is not a BOM: those bytes start the first line.
    assert_eq!(parse(b"\xEF\xBBdata: a\n\ndata: b\n\n"), vec![msg("b")]);
    let mut decoder = EventStreamDecoder::default();
    let events = feed_pieces(&mut decoder, &[b"\xEF", b"\xBB", b":comment\n\ndata: b\n\n"]);
    assert_eq!(events, vec![msg("b")]);
}

#[test]
fn bom_then_blank_line() {
    assert_eq!(parse(b"\xEF\xBB\xBF\n\ndata: a\n\n"), vec![msg("a")]);
}

#[test]
fn partial_bom_at_close_counts_as_dropped() {
    let mut decoder = EventStreamDecoder::default();
    decoder.feed(b"\xEF\xBB", |_| panic!("no event")).unwrap();
    assert!(decoder.close());
}

// --- fields ----------------------------------------------------------------------------------------

#[test]
fn only_one_leading_space_is_removed() {
    assert_eq!(parse(b"data:  two\n\ndata:\ttab\n\n"), vec![msg(" two"), msg("\ttab")]);
}

#[test]
fn field_name_is_up_to_the_first_colon() {
    assert_eq!(parse(b"data: a:b: c\n\n"), vec![msg("a:b: c")]);
    assert_eq!(parse(b"data:: x\n\n"), vec![msg(": x")]);
}

#[test]
fn line_without_colon_is_a_field_with_empty_value() {
    assert_eq!(parse(b"data\n\n"), vec![msg("")]);
    assert_eq!(parse(b"event\ndata: x\n\n"), vec![msg("x")]);
}

#[test]
fn comments_are_ignored_everywhere() {
    assert_eq!(parse(b": keep-alive\ndata: a\n: mid\ndata: b\n:\n\n"), vec![msg("a\nb")]);
}

#[test]
fn unknown_and_case_variant_fields_are_ignored() {
    assert_eq!(parse(b"Data: x\nDATA: y\nfoo: bar\ndata : z\ndata: w\n\n"), vec![msg("w")]);
}

#[test]
fn no_event_from_blocks_without_data() {
    let input = b": ping\n\nid: 7\n\nevent: update\n\nretry: 10\n\n\n\n\ndata: real\n\n";
    assert_eq!(parse(input), vec![ev("message", "real", "7", None)]);
}

#[test]
fn event_type_defaults_to_message_and_last_one_wins() {
    assert_eq!(parse(b"event: a\nevent: b\ndata: x\n\n"), vec![ev("b", "x", "", None)]);
    assert_eq!(parse(b"event: a\nevent:\ndata: x\n\n"), vec![msg("x")]);
    // The type does not leak into the next event.
    assert_eq!(parse(b"event: a\ndata: x\n\ndata: y\n\n"), vec![ev("a", "x", "", None), msg("y")]);
    // Nor from a block that dispatched nothing.
    assert_eq!(parse(b"event: a\n\ndata: y\n\n"), vec![msg("y")]);
}

// --- id --------------------------------------------------------------------------------------------

#[test]
fn id_persists_across_events() {
    let input = b"id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\nid\ndata: d\n\n";
    let expected = vec![ev("message", "a", "1", None), ev("message", "b", "1", None), ev("message", "c", "2", None), msg("d")];
    assert_eq!(parse(input), expected);
}

#[test]
fn id_with_nul_is_ignored() {
    assert_eq!(parse(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"), vec![ev("message", "a", "1", None), ev("message", "b", "1", None)]);
}

#[test]
fn id_only_block_sets_the_last_event_id() {
    let mut decoder = EventStreamDecoder::default();
    assert_eq!(feed_pieces(&mut decoder, &[b"id: 42\n"]), vec![]);
    assert_eq!(decoder.last_event_id(), b"", "not before the blank line");
    assert_eq!(feed_pieces(&mut decoder, &[b"\n"]), vec![]);
    assert_eq!(decoder.last_event_id(), b"42");
    assert_eq!(feed_pieces(&mut decoder, &[b"data: x\n\n"]), vec![ev("message", "x", "42", None)]);
}

#[test]
fn id_with_invalid_utf8_is_kept_as_bytes() {
    let mut got = Vec::new();
    EventStreamDecoder::default().feed(b"id: \xFF\ndata: x\n\n", |event| got.push(event.last_event_id.to_vec())).unwrap();
    assert_eq!(got, vec![b"\xFF".to_vec()]);
}

// --- retry -----------------------------------------------------------------------------------------

#[test]
fn retry_only_when_all_ascii_digits() {
    let mut decoder = EventStreamDecoder::default();
    let events = feed_pieces(&mut decoder, &[b"retry: 1500\ndata: a\n\ndata: b\n\nretry: 12x\ndata: c\n\nretry:\nretry: -1\nretry:  5\nretry: 1.5\ndata: d\n\n"]);
    assert_eq!(events, vec![ev("message", "a", "", Some(1500)), msg("b"), msg("c"), msg("d")]);
    assert_eq!(decoder.retry(), Some(1500));
}

#[test]
fn retry_in_a_block_without_data_still_sets_the_stream_retry() {
    let mut decoder = EventStreamDecoder::default();
    assert_eq!(feed_pieces(&mut decoder, &[b"retry: 20\n\n"]), vec![]);
    assert_eq!(decoder.retry(), Some(20));
}

#[test]
fn retry_beyond_u64_saturates() {
    let mut decoder = EventStreamDecoder::default();
    feed_pieces(&mut decoder, &[b"retry: 99999999999999999999999\n"]);
    assert_eq!(decoder.retry(), Some(u64::MAX));
    assert_eq!(parse_retry(b"0"), Some(0));
    assert_eq!(parse_retry(b"18446744073709551615"), Some(u64::MAX));
    assert_eq!(parse_retry(b""), None);
}

// --- UTF-8 -----------------------------------------------------------------------------------------

#[test]
fn multibyte_character_split_across_feeds_is_whole() {
    let input = "data: héllo €𝄞\n\n".as_bytes();
    assert_eq!(parse(input), vec![msg("héllo €𝄞")]);
}

#[test]
fn invalid_utf8_is_passed_through_as_bytes() {
    let mut got = Vec::new();
    EventStreamDecoder::default().feed(b"data: a\xC3(\xFF\n\n", |event| got.push(event.data.to_vec())).unwrap();
    assert_eq!(got, vec![b"a\xC3(\xFF".to_vec()]);
}

// --- end of stream ---------------------------------------------------------------------------------

#[test]
fn close_reports_an_unterminated_event() {
    let cases: &[(&[u8], bool)] = &[
        (b"data: a\n\n", false),
        (b"data: a\n\n: keep-alive", false),
        (b"data: a\n\n: keep-alive\n", false),
        (b"data: [DONE]\n", true),
        (b"data: [DO", true),
        (b"data: a\n\nid: 3\n", true),
        (b"event: x\n", true),
        (b"da", true),
        (b"", false),
        (b"\n\n\n", false),
    ];
    for (input, dropped) in cases {
        let mut decoder = EventStreamDecoder::default();
        decoder.feed(input, |_| {}).unwrap();
        assert_eq!(decoder.close(), *dropped, "{:?}", String::from_utf8_lossy(input));
        assert!(!decoder.close(), "second close");
    }
}

#[test]
fn feed_after_close_fails() {
    let mut decoder = EventStreamDecoder::default();
    decoder.close();
    assert_eq!(decoder.feed(b"data: x\n\n", |_| {}), Err(FrameError::Closed));
}

// --- limits ----------------------------------------------------------------------------------------

#[test]
fn line_longer_than_limit_fails_whether_carried_or_whole() {
    let mut whole = EventStreamDecoder::new(8);
    let mut events = Vec::new();
    let error = whole.feed(b"data: a\n\n: 123456789\n", |event| events.push(own(event))).unwrap_err();
    assert_eq!(error, FrameError::LineTooLong { limit: 8, line_start: 9 });
    assert_eq!(events, vec![msg("a")], "events before the failure were delivered");

    let mut carried = EventStreamDecoder::new(8);
    carried.feed(b"data: a\n\n: 1234", |_| {}).unwrap();
    assert_eq!(carried.feed(b"56789", |_| {}), Err(FrameError::LineTooLong { limit: 8, line_start: 9 }));
    assert!(carried.line.capacity() == 0, "buffers released");
    // The failure is final.
    assert_eq!(carried.feed(b"\n\ndata: b\n\n", |_| {}), Err(FrameError::LineTooLong { limit: 8, line_start: 9 }));
}

#[test]
fn line_of_exactly_the_limit_is_fine() {
    let mut decoder = EventStreamDecoder::new(8);
    assert_eq!(feed_pieces(&mut decoder, &[b"data: 12\n\n"]), vec![msg("12")]);
}

#[test]
fn event_data_past_the_limit_fails() {
    let mut decoder = EventStreamDecoder::new(10);
    decoder.feed(b"data:12345\n", |_| {}).unwrap();
    assert_eq!(decoder.feed(b"data:12345\n", |_| {}), Err(FrameError::EventTooLarge { limit: 10, event_start: 0 }));
    let mut decoder = EventStreamDecoder::new(9);
    let error = decoder.feed(b"\n\ndata:1234\ndata:567\ndata:8\n", |_| {}).unwrap_err();
    assert_eq!(error, FrameError::EventTooLarge { limit: 9, event_start: 2 });
    assert!(error.to_string().contains("byte offset 2"), "{error}");
}

#[test]
fn a_never_ending_line_stays_bounded() {
    let mut decoder = EventStreamDecoder::new(1024);
    let piece = [b'x'; 100];
    let mut failed = None;
    for i in 0..1000 {
        if let Err(error) = decoder.feed(&piece, |_| {}) {
            failed = Some((i, error));
            break;
        }
    }
    assert_eq!(failed, Some((10, FrameError::LineTooLong { limit: 1024, line_start: 0 })));
}

#[test]
fn empty_data_lines_count_towards_the_limit_and_are_freed_on_error() {
    // Each `data:` line after the first costs the framer a line start (LINE_START_SIZE bytes) besides
    // its byte of data: counted, an event of empty data lines fails once that reaches the limit.
    let limit = 1024;
    let mut decoder = EventStreamDecoder::new(limit);
    let mut failed = None;
    for line in 0..limit {
        if let Err(error) = decoder.feed(b"data:\n", |_| {}) {
            failed = Some((line, error));
            break;
        }
    }
    let lines = limit / (1 + LINE_START_SIZE) + 1;
    assert_eq!(failed, Some((lines, FrameError::EventTooLarge { limit, event_start: 0 })));
    assert_eq!((decoder.data.capacity(), decoder.data_line_starts.capacity()), (0, 0));
    // `data:x` lines: line k (from 0) brings the event to 2k + 1 bytes of data and k line starts, so
    // 57 lines are 113 + 56 * 16 = 1009 bytes: they fit, a 58th does not.
    let mut decoder = EventStreamDecoder::new(limit);
    let mut events = Vec::new();
    decoder.feed(&b"data:x\n".repeat(57), |_| {}).unwrap();
    decoder.feed(b"\n", |event| events.push(event.data.len())).unwrap();
    assert_eq!(events, vec![113]);
    assert!(EventStreamDecoder::new(limit).feed(&b"data:x\n".repeat(58), |_| {}).is_err());
}

// --- no copies -------------------------------------------------------------------------------------

#[test]
fn single_line_data_inside_the_feed_borrows_the_input() {
    let input = b"data: a\n\ndata: {\"x\": 1}\n\n";
    let span = input.as_ptr_range();
    let mut seen = 0;
    EventStreamDecoder::default()
        .feed(input, |event| {
            assert!(span.contains(&event.data.as_ptr()), "data was copied");
            seen += 1;
        })
        .unwrap();
    assert_eq!(seen, 2);
}

#[test]
fn data_started_in_an_earlier_feed_is_carried() {
    let mut decoder = EventStreamDecoder::default();
    assert_eq!(feed_pieces(&mut decoder, &[b"data: one\n", b"\n"]), vec![msg("one")]);
    assert_eq!(feed_pieces(&mut decoder, &[b"data: one\n", b"data: two\n", b"\n"]), vec![msg("one\ntwo")]);
}

#[test]
fn data_offset_points_at_the_first_data_value() {
    let mut decoder = EventStreamDecoder::default();
    let mut offsets = Vec::new();
    let stream: &[&[u8]] = &[b"\xEF\xBB\xBF: c\ndata: ab\n\nevent: x\ndata:{}\n", b"data: 2\n\nda", b"ta: z\n\n"];
    for piece in stream {
        decoder.feed(piece, |event| offsets.push((event.data_offset, event.data.to_vec()))).unwrap();
    }
    assert_eq!(offsets, vec![(13, b"ab".to_vec()), (31, b"{}\n2".to_vec()), (49, b"z".to_vec())]);
}

#[test]
fn stream_offsets_of_multi_line_data() {
    let mut decoder = EventStreamDecoder::default();
    let mut seen = Vec::new();
    // Data "ab\ncd\ne": "c" is at stream offset 15, "e" at 24.
    decoder
        .feed(b"data: ab\ndata: cd\ndata:e\n\n", |event| {
            seen.push((event.stream_offset(0), event.stream_offset(3), event.stream_offset(4), event.stream_offset(6)));
        })
        .unwrap();
    assert_eq!(seen, vec![(6, 15, 16, 23)]);
}

#[test]
fn offset_counts_every_byte() {
    let mut decoder = EventStreamDecoder::default();
    feed_pieces(&mut decoder, &[b"\xEF\xBB", b"\xBFdata: x\r", b"\n\n"]);
    assert_eq!(decoder.offset(), 13);
}

#[test]
fn dispatch_unterminated_recovers_the_last_event() {
    for input in [&b"data: a\n\ndata: [DONE]\n"[..], b"data: a\n\ndata: [DONE]", b"data: a\n\ndata: [DO\rdata: NE]\r"] {
        let mut decoder = EventStreamDecoder::default();
        let mut events = feed_pieces(&mut decoder, &[input]);
        decoder.dispatch_unterminated(|event| events.push(own(event))).unwrap();
        assert_eq!(events.last().unwrap().data.replace('\n', ""), "[DONE]");
        assert!(!decoder.close(), "nothing left to drop");
    }
    let mut decoder = EventStreamDecoder::default();
    feed_pieces(&mut decoder, &[b"data: a\n\n: comment"]);
    decoder.dispatch_unterminated(|_| panic!("no event")).unwrap();
}

#[test]
fn a_callback_that_panics_leaves_the_decoder_between_two_events() {
    // The block is reset before the callback runs: after a panic inside it, the next event is read from
    // the next input alone (before, the block still pointed into the input the panic abandoned).
    let mut decoder = EventStreamDecoder::new(1024);
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decoder.feed(b"event: first\ndata: aaaa\ndata: bb\n\n", |_| panic!("consumer failed")).unwrap();
    }));
    assert!(panicked.is_err());
    let mut events = Vec::new();
    decoder.feed(b"data: c\n\n", |event| events.push((event.event_type().to_vec(), event.data.to_vec()))).unwrap();
    assert_eq!(events, vec![(b"message".to_vec(), b"c".to_vec())]);
    assert!(!decoder.close());
}

// --- where the whole blocks end (a tap forwarding only whole events) ------------------------------

/// After each prefix of `input`, fed in one piece and byte by byte: `block_end` is the end of the
/// last blank line within the prefix.
fn block_ends(input: &[u8]) -> Vec<u64> {
    let mut decoder = EventStreamDecoder::default();
    let mut ends = Vec::new();
    for byte in input.chunks(1) {
        decoder.feed(byte, |_| {}).unwrap();
        ends.push(decoder.block_end());
    }
    for cut in 0..=input.len() {
        let mut whole = EventStreamDecoder::default();
        whole.feed(&input[..cut], |_| {}).unwrap();
        assert_eq!(whole.block_end(), if cut == 0 { 0 } else { ends[cut - 1] }, "prefix of {cut} bytes");
    }
    ends
}

#[test]
fn block_end_is_past_the_last_blank_line() {
    // "data: a\n\n" ends at 9; the comment block ": k\n\n" at 14; "data: b\r\n\r\n" at 25.
    let ends = block_ends(b"data: a\n\n: k\n\ndata: b\r\n\r\nda");
    assert_eq!(ends[7], 0);
    assert_eq!(ends[8], 9);
    assert_eq!(ends[12], 9);
    assert_eq!(ends[13], 14);
    // A CR ends the blank line at once; its LF, when it comes, belongs to the block it ended.
    assert_eq!(ends[23], 24);
    assert_eq!(ends[24], 25);
    assert_eq!(*ends.last().unwrap(), 25);
}

#[test]
fn block_end_skips_the_bom_only_with_a_block() {
    assert_eq!(block_ends(b"\xEF\xBB\xBFdata: x\n\n"), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12]);
}
