//! Inputs the fuzz targets (fuzz/, `fuzz/run`) found, each kept as a test of the rule it broke.
//! A test names its target; the input is minimized unless it says otherwise.

use crate::accumulate::Accumulator;
use crate::json::is_truncated;
use crate::payload_stream::Payload;

fn accumulate(payloads: &[&[u8]]) -> (String, Vec<String>) {
    let mut accumulator = Accumulator::new();
    let mut reports = Vec::new();
    for payload in payloads {
        reports.push(match accumulator.add(payload) {
            Ok(outcome) => match outcome.rejected {
                Some(error) => format!("rejected at {} {}: {}", error.offset, error.path, error.message),
                None => "merged".to_owned(),
            },
            Err(error) => format!("refused at {} {}: {}", error.offset, error.path, error.message),
        });
    }
    let mut out = String::new();
    accumulator.write_json(&mut out);
    (out, reports)
}

// --- truncated: a payload cut by the end of the body anywhere is cut short ----------------------

#[test]
fn a_cut_inside_a_literal_a_number_or_an_escape_is_truncated() {
    // Found on corpus payloads cut as `..."delta":{"content":n` (target `truncated`); every one of
    // these is a prefix of a valid document, so the end of the body cut it short.
    for prefix in [
        &br#"{"choices":[{"delta":{"content":n"#[..],
        br#"{"a":nul"#,
        br#"{"a":tr"#,
        br#"{"filtered":f"#,
        br#"[-"#,
        br#"{"a":1."#,
        br#"{"a":1e"#,
        br#"{"a":1E+"#,
        br#"{"text":" \"#,
        br#"{"text":"\u00"#,
    ] {
        assert!(is_truncated(prefix), "{}", String::from_utf8_lossy(prefix));
        let payload = Payload { unterminated: true, ..Payload::document(prefix) };
        assert!(payload.is_cut_short(), "{}", String::from_utf8_lossy(prefix));
    }
    // What is not a prefix of any document is not truncated: a wrong literal, a number gone wrong.
    for invalid in [&br#"{"a":nx"#[..], br#"{"a":1.x"#, br#"{"a":-x"#, br#"{"a":"\x"#] {
        assert!(!is_truncated(invalid), "{}", String::from_utf8_lossy(invalid));
    }
}

// --- accumulate_body: what a broken chunk merges does not depend on earlier whitespace -----------

#[test]
fn a_broken_chunk_merges_the_same_whatever_the_whitespace_of_earlier_chunks() {
    // Minimized from a corpus body (Azure's `content_filter_results`, target `accumulate_body`):
    // the two streams differ only by one space in the second chunk, insignificant in JSON. The
    // third chunk breaks after `"b":2`; what came before the break is merged (accumulate.rs: "a
    // chunk is merged as it is read"), in both streams alike.
    let expected = r#"{"object":"chat.completion","choices":[],"x":{"a":1,"b":2}}"#;
    let refused = r#"refused at 12 $.x: expected a string key, found '}'"#;
    let compact = accumulate(&[br#"{"x":{"a":1}}"#, br#"{"x":{"a":1}}"#, br#"{"x":{"b":2,}}"#]);
    let spaced = accumulate(&[br#"{"x":{"a":1}}"#, br#"{"x":{"a": 1}}"#, br#"{"x":{"b":2,}}"#]);
    assert_eq!(spaced, (expected.to_owned(), vec!["merged".to_owned(), "merged".to_owned(), refused.to_owned()]));
    assert_eq!(compact, spaced);

    // The same inside a choice, where a space before the whole second chunk was enough.
    let chunks: [&[u8]; 3] = [
        br#"{"choices":[{"index":0,"x":{"a":1}}]}"#,
        br#"{"choices":[{"index":0,"x":{"a":1}}]}"#,
        br#"{"choices":[{"index":0,"x":{"b":2,}}]}"#,
    ];
    let leading_space = [b" ".as_slice(), chunks[1]].concat();
    let plain = accumulate(&chunks);
    let spaced = accumulate(&[chunks[0], &leading_space, chunks[2]]);
    assert_eq!(
        plain.0,
        r#"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null},"finish_reason":null,"x":{"a":1,"b":2}}]}"#
    );
    assert_eq!(plain, spaced);
}

// --- accumulate_chunks / accumulate_body: the completion always builds ---------------------------
// Found on the accumulator before it checked types (commit 70f3d90); each member below made the
// completion fail to build as a chatsse.types.ChatCompletion. Now each is left out and reported.

#[test]
fn a_tool_call_function_that_is_a_string_is_left_out() {
    let (out, reports) = accumulate(&[br#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":"Hel"}]}}]}"#]);
    assert_eq!(reports, ["rejected at 82 $.choices[0].delta.tool_calls[0].function: expected an object, found a string"]);
    assert_eq!(
        out,
        r#"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function"}]},"finish_reason":null}]}"#
    );
}

#[test]
fn a_float_beyond_f64_is_left_out_wherever_it_is() {
    let (out, reports) = accumulate(&[br#"{"choices":[{"index":0,"stop_reason":-1e400,"finish_reason":"stop"}]}"#]);
    assert_eq!(reports, ["rejected at 37 $.choices[0].stop_reason: number out of range for a float"]);
    assert_eq!(out, r#"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null},"finish_reason":"stop"}]}"#);

    let (out, reports) = accumulate(&[
        br#"{"choices":[{"index":0,"logprobs":{"content":[{"token":"a","logprob":-1.5,"top_logprobs":[{"token":"b","logprob":1e400}]}]}}]}"#,
    ]);
    assert_eq!(reports, ["rejected at 113 $.choices[0].logprobs.content[0].top_logprobs[0].logprob: number out of range for a float"]);
    assert_eq!(out, r#"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null},"logprobs":{},"finish_reason":null}]}"#);
}

#[test]
fn a_logprob_entry_of_the_wrong_type_is_left_out() {
    let (out, reports) =
        accumulate(&[br#"{"choices":[{"index":0,"logprobs":{"refusal":[{"token":"I","logprob":-0.5},"logprobs",{"token":1727346173}]}}]}"#]);
    assert_eq!(reports, ["rejected at 75 $.choices[0].logprobs.refusal[1]: expected an object, found a string"]);
    assert_eq!(out, r#"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null},"logprobs":{},"finish_reason":null}]}"#);
}

// --- accumulate_chunks: a repeated key in a kept member, whatever the whitespace ---------------

#[test]
fn a_key_repeated_in_a_kept_member_keeps_its_last_value_whatever_the_whitespace() {
    // Minimized from a generated stream (target `accumulate_chunks`): the two streams differ only
    // by a space before the second chunk. Outside deltas the last value of a repeated key wins
    // (accumulate.rs), so the completion has `"t":2` once, as `json.loads` would read the chunk.
    let chunk: &[u8] = br#"{"x":{"t":1,"t":2}}"#;
    let spaced = [b" ".as_slice(), chunk].concat();
    let expected = r#"{"object":"chat.completion","choices":[],"x":{"t":2}}"#;
    assert_eq!(accumulate(&[chunk]).0, expected);
    assert_eq!(accumulate(&[chunk, chunk]).0, expected);
    assert_eq!(accumulate(&[chunk, &spaced]).0, expected);
}

#[test]
fn a_repeated_kept_object_with_a_null_after_its_key_is_unchanged_whatever_the_spacing() {
    // Minimized from a generated stream (target `accumulate_chunks`, "skipping a repeated run changed
    // the result"): a choice's kept member repeats `{"id":0.5,"id":null}`. Merged as a tree, the null
    // would set nothing and leave 0.5; kept as text it says null, as `json.loads` reads it. Whitespace
    // before the value, or inside it, made the repeat merge as a tree.
    let chunk: &[u8] = br#"{"choices":[{"index":0,"content_filter_results":{"id":0.5,"id":null}}]}"#;
    let spaced_before: &[u8] = br#" {"choices":[{"index":0,"content_filter_results":  {"id":0.5,"id":null}}]}"#;
    let spaced_inside: &[u8] = br#"{"choices":[{"index":0,"content_filter_results":{"id": 0.5, "id": null}}]}"#;
    let (expected, _) = accumulate(&[chunk]);
    assert!(expected.contains(r#""content_filter_results":{"id":null}"#), "{expected}");
    for stream in [[chunk, chunk], [chunk, spaced_before], [chunk, spaced_inside], [spaced_inside, chunk]] {
        assert_eq!(accumulate(&stream).0, expected);
    }
}

// --- payload_stream: a body that ends inside what could have been a BOM -------------------------

#[test]
fn a_body_that_is_the_start_of_a_bom_is_sse() {
    // Found by target `payload_stream` (a body of one byte, 0xEF): the bytes of a BOM that is not
    // one are data, not blank space (payload_stream.rs), so `auto` decides SSE, as it does when more
    // bytes follow (`\xEF\xBB{}`). Nothing is delivered either way.
    use crate::payload_stream::{Format, PayloadStream};
    for body in [&b"\xEF"[..], b"\xEF\xBB"] {
        let mut stream = PayloadStream::new(Format::Auto, 1024);
        let mut payloads = 0;
        stream.feed(body, |_| Ok::<(), ()>(payloads += 1)).unwrap();
        stream.finish(|_| Ok::<(), ()>(payloads += 1)).unwrap();
        assert_eq!((stream.format(), payloads), (Format::Sse, 0), "{body:?}");
    }
}

// --- accumulate_chunks: an escape in a kept member, whatever the whitespace ----------------------

#[test]
fn an_escaped_string_in_a_kept_member_is_written_the_same_whatever_the_whitespace() {
    // Minimized from a generated stream (target `accumulate_chunks`): the streams differ only by a
    // space before the second chunk, yet one completion kept `"\u00e9"` as sent and the other
    // wrote `"é"`. The value is the same; the completion's bytes must be too.
    let chunk: &[u8] = br#"{"x":{"i":"\u00e9"}}"#;
    let spaced = [b" ".as_slice(), chunk].concat();
    let (twice, reports) = accumulate(&[chunk, chunk]);
    assert_eq!(reports, ["merged", "merged"]);
    assert_eq!(accumulate(&[chunk, &spaced]).0, twice);
    assert_eq!(accumulate(&[chunk]).0, twice);
}

// --- payload_stream: the detected format does not depend on the cutting, errors included --------

/// Feeds the pieces until one fails to frame: that error (None if none did) and the format then.
fn first_frame_error(
    format: crate::payload_stream::Format,
    limit: usize,
    pieces: Vec<&[u8]>,
) -> (Option<crate::event_stream::FrameError>, crate::payload_stream::Format) {
    use crate::payload_stream::{PayloadStream, StreamError};
    let mut stream = PayloadStream::new(format, limit);
    for piece in pieces {
        if let Err(StreamError::Frame(failure)) = stream.feed(piece, |_| Ok::<(), ()>(())) {
            return (Some(failure), stream.format());
        }
    }
    (None, stream.format())
}

#[test]
fn a_blank_start_that_fails_both_framers_fails_with_the_sse_error_however_cut() {
    // Found by target `payload_stream` (limit 35): a CR, form feeds, then `{`. To the JSON-lines
    // splitter the blank start is one line from byte 0, to SSE the CR ends a line and the form feeds
    // are a second one from byte 1: both pass the limit before `{` decides. Auto fails there with the
    // SSE framer's error whether or not the `{` came in the same piece (its oracle expected the
    // JSON-lines error, the format `{` would have picked).
    use crate::event_stream::FrameError;
    use crate::payload_stream::Format;
    let body = b"\r\x0c\x0c\x0c\x0c\x0c{\"choices\":[]}\n";
    let outcome = |format: Format, pieces: Vec<&[u8]>| first_frame_error(format, 4, pieces).0;
    let sse = Some(FrameError::LineTooLong { limit: 4, line_start: 1 });
    assert_eq!(outcome(Format::Sse, vec![&body[..]]), sse);
    assert_eq!(outcome(Format::JsonLines, vec![&body[..]]), Some(FrameError::LineTooLong { limit: 4, line_start: 0 }));
    assert_eq!(outcome(Format::Auto, vec![&body[..]]), sse);
    assert_eq!(outcome(Format::Auto, body.chunks(1).collect()), sse);
    assert_eq!(outcome(Format::Auto, vec![&body[..6], &body[6..]]), sse);
}

#[test]
fn a_body_failing_on_its_blank_start_has_the_same_format_however_cut() {
    // Found by target `payload_stream` (limit 2, format auto): fed whole, the first byte that is not
    // blank space (0x12) decides SSE before the limit fails; fed byte by byte, both framers fail on
    // the blank start first and the format stayed undecided. Same error either way.
    use crate::event_stream::FrameError;
    use crate::payload_stream::Format;
    let body = b"\t\x0c\x0c\x12len";
    let outcome = |pieces: Vec<&[u8]>| first_frame_error(Format::Auto, 2, pieces);
    let whole = outcome(vec![&body[..]]);
    assert_eq!(whole.0, Some(FrameError::LineTooLong { limit: 2, line_start: 0 }));
    assert_eq!(outcome(body.chunks(1).collect()), whole);
}
