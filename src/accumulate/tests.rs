//! Merge rules, one test each, asserting the exact completion JSON.

use super::*;

fn accumulate(payloads: &[&str]) -> String {
    let mut accumulator = Accumulator::new();
    for payload in payloads {
        accumulator.add(payload.as_bytes()).unwrap();
    }
    let mut out = String::new();
    accumulator.write_json(&mut out);
    out
}

#[test]
fn content_concatenates_and_role_is_set_once() {
    let out = accumulate(&[
        r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"content":"lo \"w\"\n"},"finish_reason":"stop"}],"obfuscation":"xx"}"#,
    ]);
    assert_eq!(
        out,
        r#"{"id":"c1","object":"chat.completion","created":7,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello \"w\"\n"},"finish_reason":"stop"}]}"#
    );
}

#[test]
fn explicit_nulls_change_nothing_and_finish_reason_is_never_reset() {
    let out = accumulate(&[
        r#"{"choices":[{"index":0,"delta":{"content":"a","refusal":null,"tool_calls":null},"finish_reason":null}],"usage":null}"#,
        r#"{"choices":[{"index":0,"delta":{"content":null},"finish_reason":"stop"}],"usage":{"total_tokens":3}}"#,
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":null}],"usage":null}"#,
    ]);
    assert_eq!(
        out,
        r#"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"a","refusal":null,"tool_calls":null},"finish_reason":"stop"}],"usage":{"total_tokens":3}}"#
    );
}

#[test]
fn first_non_empty_identity_wins_over_a_filter_preamble() {
    let out = accumulate(&[
        r#"{"id":"","object":"","created":0,"model":"","choices":[],"prompt_filter_results":[{"prompt_index":0}]}"#,
        r#"{"id":"real","object":"chat.completion.chunk","created":5,"model":"gpt","system_fingerprint":"fp","choices":[{"index":0,"delta":{"content":"x"}}]}"#,
        r#"{"id":"later","created":6,"model":"other","choices":[]}"#,
    ]);
    assert_eq!(
        out,
        r#"{"id":"real","object":"chat.completion","created":5,"model":"gpt","choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":null}],"system_fingerprint":"fp","prompt_filter_results":[{"prompt_index":0}]}"#
    );
}

#[test]
fn choices_are_keyed_by_index_in_any_order_and_sorted() {
    let out = accumulate(&[
        r#"{"choices":[{"delta":{"content":"b1"},"index":1},{"index":0,"delta":{"content":"a1"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"a2"},"finish_reason":"stop"}]}"#,
        r#"{"choices":[{"finish_reason":"length","delta":{"content":"b2"},"index":1}]}"#,
    ]);
    assert_eq!(
        out,
        r#"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"a1a2"},"finish_reason":"stop"},{"index":1,"message":{"role":"assistant","content":"b1b2"},"finish_reason":"length"}]}"#
    );
}

#[test]
fn members_before_the_index_merge_in_arrival_order_however_many() {
    // Six members wait for `index` (Azure sorts keys: `delta` and `finish_reason` come first): all
    // merge, in order.
    let out = accumulate(&[
        r#"{"choices":[{"a":1,"delta":{"content":"x"},"b":2,"c":3,"d":4,"delta":{"content":"y"},"e":5,"index":0}]}"#,
    ]);
    assert_eq!(
        out,
        r#"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"xy"},"finish_reason":null,"a":1,"b":2,"c":3,"d":4,"e":5}]}"#
    );
}

#[test]
fn tool_calls_merge_by_index_id_and_latest() {
    let out = accumulate(&[
        // First index 1, id repeated on every fragment, "" name on continuations.
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_a","type":"function","function":{"name":"f","arguments":""}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_a","function":{"name":"","arguments":"{\"x\""}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":": 1}"}}]}}]}"#,
        // A different id at the same index: a new call.
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"g","arguments":"{}"}}]}}]}"#,
        // No index: by id; then neither: the latest call.
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"id":"call_c","function":{"name":"h","arguments":"{\"y\""}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":":2}"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
    ]);
    assert_eq!(
        out,
        concat!(
            r#"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":["#,
            r#"{"id":"call_a","type":"function","function":{"name":"f","arguments":"{\"x\": 1}"}},"#,
            r#"{"id":"call_b","type":"function","function":{"name":"g","arguments":"{}"}},"#,
            r#"{"id":"call_c","type":"function","function":{"name":"h","arguments":"{\"y\":2}"}}"#,
            r#"]},"finish_reason":"tool_calls"}]}"#
        )
    );
}

#[test]
fn interleaved_parallel_tool_calls() {
    let out = accumulate(&[
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"f","arguments":""}},{"index":1,"id":"b","type":"function","function":{"name":"g","arguments":""}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"[2"}},{"index":0,"function":{"arguments":"[1"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"]"}},{"index":1,"function":{"arguments":"]"}}]}}]}"#,
    ]);
    assert!(out.contains(r#"{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}},{"id":"b","type":"function","function":{"name":"g","arguments":"[2]"}}"#), "{out}");
}

#[test]
fn usage_last_non_null_wins_wherever_it_arrives() {
    let out = accumulate(&[
        r#"{"choices":[{"index":0,"delta":{"content":"a"}}],"usage":{"prompt_tokens":1,"total_tokens":1}}"#,
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#,
        r#"{"choices":[],"usage":null}"#,
    ]);
    assert!(out.ends_with(r#""usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#), "{out}");
}

#[test]
fn reasoning_strings_and_unknown_delta_strings_concatenate() {
    let out = accumulate(&[
        r#"{"choices":[{"index":0,"delta":{"reasoning_content":"th","reasoning":"r1","x_note":"a","x_count":1}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"reasoning_content":"ink","reasoning":"r2","x_note":"b","x_count":2}}]}"#,
    ]);
    assert_eq!(
        out,
        r#"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null,"reasoning_content":"think","reasoning":"r1r2","x_note":"ab","x_count":2},"finish_reason":null}]}"#
    );
}

#[test]
fn indexed_lists_merge_by_index_and_set_once_keys_do_not_repeat() {
    let out = accumulate(&[
        r#"{"choices":[{"index":0,"delta":{"reasoning_details":[{"type":"reasoning.text","text":"a","format":"f1","index":0}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"reasoning_details":[{"type":"reasoning.text","text":"b","format":"f1","index":0}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"reasoning_details":[{"type":"reasoning.encrypted","data":"zz","index":1}]}}]}"#,
    ]);
    assert!(out.contains(r#""reasoning_details":[{"type":"reasoning.text","text":"ab","format":"f1","index":0},{"type":"reasoning.encrypted","data":"zz","index":1}]"#), "{out}");
}

#[test]
fn content_parts_keep_earlier_text() {
    let out = accumulate(&[
        r#"{"choices":[{"index":0,"delta":{"content":"Hi. "}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":[{"type":"thinking","thinking":[{"type":"text","text":"hm"}]}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":[{"type":"thinking","thinking":[{"type":"text","text":"m"}]}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"Done"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"!"}}]}"#,
    ]);
    assert!(
        out.contains(r#""content":[{"type":"text","text":"Hi. "},{"type":"thinking","thinking":[{"type":"text","text":"hmm"}]},{"type":"text","text":"Done!"}]"#),
        "{out}"
    );
}

#[test]
fn logprobs_and_annotations_extend() {
    let out = accumulate(&[
        r#"{"choices":[{"index":0,"delta":{"content":"a"},"logprobs":{"content":[{"token":"a","logprob":-0.1,"bytes":[97],"top_logprobs":[]}],"refusal":null}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"b","annotations":[{"type":"url_citation"}]},"logprobs":{"content":[{"token":"b","logprob":-0.2,"bytes":[98],"top_logprobs":[]}],"refusal":null}}]}"#,
        r#"{"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}"#,
    ]);
    assert_eq!(
        out,
        concat!(
            r#"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ab","annotations":[{"type":"url_citation"}]},"#,
            r#""logprobs":{"content":[{"token":"a","logprob":-0.1,"bytes":[97],"top_logprobs":[]},{"token":"b","logprob":-0.2,"bytes":[98],"top_logprobs":[]}],"refusal":null},"#,
            r#""finish_reason":"stop"}]}"#
        )
    );
}

#[test]
fn an_empty_list_then_items() {
    let out = accumulate(&[
        r#"{"choices":[{"index":0,"delta":{},"logprobs":{"content":[]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{},"logprobs":{"content":[{"token":"a"}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{},"logprobs":{"content":[{"token":"b"}]}}]}"#,
    ]);
    assert!(out.contains(r#""logprobs":{"content":[{"token":"a"},{"token":"b"}]}"#), "{out}");
}

#[test]
fn snapshot_members_deep_merge_and_last_value_wins() {
    let out = accumulate(&[
        r#"{"choices":[{"index":0,"delta":{},"content_filter_results":{"hate":{"filtered":false}}}],"x_groq":{"id":"req_1"}}"#,
        r#"{"choices":[{"index":0,"delta":{},"content_filter_results":{"violence":{"filtered":true}}}],"x_groq":{"usage":{"total_tokens":2}},"citations":["a"]}"#,
        r#"{"choices":[],"citations":["a","b"]}"#,
    ]);
    assert!(out.contains(r#""finish_reason":null,"content_filter_results":{"hate":{"filtered":false},"violence":{"filtered":true}}}"#), "{out}");
    assert!(out.ends_with(r#""x_groq":{"id":"req_1","usage":{"total_tokens":2}},"citations":["a","b"]}"#), "{out}");
}

#[test]
fn big_integers_stay_exact() {
    let out = accumulate(&[r#"{"created":18446744073709551617,"choices":[],"x":{"seed":123456789012345678901234567890}}"#]);
    assert_eq!(out, r#"{"object":"chat.completion","created":18446744073709551617,"choices":[],"x":{"seed":123456789012345678901234567890}}"#);
}

#[test]
fn upstream_error_is_reported() {
    let mut accumulator = Accumulator::new();
    assert!(!accumulator.add(br#"{"choices":[],"error":null}"#).unwrap().upstream_error);
    assert!(accumulator.add(br#"{"error":{"message":"boom"}}"#).unwrap().upstream_error);
    assert!(accumulator.add(br#"{"object":"error","message":"bad"}"#).unwrap().upstream_error);
}

#[test]
fn errors_say_where() {
    let mut accumulator = Accumulator::new();
    // A member of the wrong type is left out and reported; the rest of the chunk is merged.
    let outcome = accumulator.add(br#"{"choices":[{"index":0,"delta":{"content":5,"reasoning":"r"}}]}"#).unwrap();
    let rejected = outcome.rejected.unwrap();
    assert_eq!((rejected.offset, rejected.path.as_str()), (42, "$.choices[0].delta.content"));
    assert_eq!(rejected.message, "expected a string, an array or null, found a number");
    // Not JSON: the chunk stops there, reported with the path of the member it broke in.
    let error = accumulator.add(br#"{"choices":[{"index":0,"delta":{"content":"a"},}]}"#).unwrap_err();
    assert_eq!((error.offset, error.path.as_str()), (47, "$.choices[0]"));
    let error = accumulator.add(br#"{"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"name":"f",]}}]}"#).unwrap_err();
    assert_eq!((error.offset, error.path.as_str()), (70, "$.choices[0].delta.tool_calls[0].function"));
    let error = accumulator.add(b"[]").unwrap_err();
    assert_eq!((error.path.as_str(), error.message.as_str()), ("$", "expected an object, found an array"));
    let mut out = String::new();
    accumulator.write_json(&mut out);
    // What came before each break is kept (the broken tool-call list was opened: null, no call).
    let expected = r#"{"index":0,"message":{"role":"assistant","content":"a","reasoning":"r","tool_calls":null},"finish_reason":null}"#;
    assert_eq!(out, format!(r#"{{"object":"chat.completion","choices":[{expected}]}}"#));
}

#[test]
fn strings_are_escaped_on_output() {
    let mut out = String::new();
    write_str(&mut out, "a\"b\\c\n\u{1}é");
    assert_eq!(out, "\"a\\\"b\\\\c\\n\\u0001é\"");
}

#[test]
fn all_finished_needs_every_choice() {
    let mut accumulator = Accumulator::new();
    assert!(!accumulator.all_finished());
    accumulator.add(br#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"},{"index":1,"delta":{}}]}"#).unwrap();
    assert!(!accumulator.all_finished());
    accumulator.add(br#"{"choices":[{"index":1,"delta":{},"finish_reason":"stop"}]}"#).unwrap();
    assert!(accumulator.all_finished());
}

#[test]
fn tool_calls_are_listed_by_index() {
    let out = accumulate(&[
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","type":"function","function":{"name":"g","arguments":"{}"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}"#,
    ]);
    assert!(out.contains(r#""tool_calls":[{"id":"a","#), "{out}");
}

#[test]
fn copied_elements_are_made_compact() {
    let out = accumulate(&[r#"{"choices":[{"index":0,"delta":{},"logprobs":{"content":[{"token": "a b", "logprob": -1.50, "bytes": [97, 32]}]}}]}"#]);
    assert!(out.contains(r#""content":[{"token":"a b","logprob":-1.50,"bytes":[97,32]}]"#), "{out}");
}

#[test]
fn labels_take_the_last_value_and_an_empty_finish_reason_is_no_reason() {
    let out = accumulate(&[
        r#"{"choices":[{"index":0,"delta":{"channel":"analysis","reasoning":"r","index":0},"finish_reason":null}]}"#,
        r#"{"choices":[{"index":0,"delta":{"channel":"final","content":"c"},"finish_reason":"stop"}]}"#,
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":""}]}"#,
    ]);
    assert_eq!(
        out,
        r#"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"c","reasoning":"r","channel":"final"},"finish_reason":"stop"}]}"#
    );
}

#[test]
fn repeated_leading_members_are_skipped_only_when_they_cannot_differ() {
    // `"n":1` is a prefix of `"n":12`: the byte after the known prefix decides, and the 12 is merged.
    let out = accumulate(&[
        r#"{"id":"c1","n":1,"choices":[{"index":0,"delta":{"content":"a"}}]}"#,
        r#"{"id":"c1","n":12,"choices":[{"index":0,"delta":{"content":"b"}}]}"#,
        r#"{"id":"c1","n":12,"choices":[{"index":0,"delta":{"content":"c"}}],"usage":{"total_tokens":3}}"#,
    ]);
    assert_eq!(
        out,
        r#"{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"abc"},"finish_reason":null}],"usage":{"total_tokens":3},"n":12}"#
    );
    // An error member ends the skippable run: it is reported on every chunk that carries it.
    let mut accumulator = Accumulator::new();
    for _ in 0..3 {
        assert!(accumulator.add(br#"{"id":"c1","object":"error","message":"bad"}"#).unwrap().upstream_error);
        assert!(accumulator.add(br#"{"id":"c1","error":{"message":"boom"}}"#).unwrap().upstream_error);
    }
    // After a skipped prefix the rest of the chunk is still checked: a trailing comma is refused.
    let mut accumulator = Accumulator::new();
    accumulator.add(br#"{"id":"c1","model":"m","choices":[]}"#).unwrap();
    assert_eq!(accumulator.repeated_prefix, br#"{"id":"c1","model":"m""#);
    let error = accumulator.add(br#"{"id":"c1","model":"m",}"#).unwrap_err();
    assert_eq!((error.offset, error.message.as_str()), (23, "expected a string key, found '}'"));
}

#[test]
fn a_leading_member_repeated_later_in_a_chunk_is_never_skipped() {
    // The last value of a duplicated key wins (as in msgspec and json.loads). Here `x` leads each chunk
    // and comes again after the choices: the leading `"x":1` must not be skipped as already merged,
    // since the later `"x":2` replaced it.
    let expected = r#"{"object":"chat.completion","choices":[],"x":1}"#;
    assert_eq!(accumulate(&[r#"{"x":1,"choices":[],"x":2}"#, r#"{"x":1,"choices":[]}"#]), expected);
    assert_eq!(
        accumulate(&[r#"{"x":1,"choices":[]}"#, r#"{"x":1,"choices":[],"x":2}"#, r#"{"x":1,"choices":[]}"#]),
        expected
    );
    assert_eq!(
        accumulate(&[r#"{"usage":{"n":1},"choices":[]}"#, r#"{"usage":{"n":1},"choices":[],"usage":{"n":2}}"#, r#"{"usage":{"n":1},"choices":[]}"#]),
        r#"{"object":"chat.completion","choices":[],"usage":{"n":1}}"#
    );
    // The same name spelled with an escape in the run, or right after it.
    assert_eq!(accumulate(&[r#"{"\u0078":1,"choices":[],"x":2}"#, r#"{"\u0078":1,"choices":[]}"#]), expected);
    assert_eq!(accumulate(&[r#"{"x":1,"\u0078":2,"choices":[]}"#, r#"{"x":1,"choices":[]}"#]), expected);
    // A chunk that fails after merging `"x":2` leaves no run to skip either.
    let mut accumulator = Accumulator::new();
    accumulator.add(br#"{"x":1,"choices":[]}"#).unwrap();
    accumulator.add(br#"{"choices":[],"x":2,}"#).unwrap_err();
    accumulator.add(br#"{"x":1,"choices":[]}"#).unwrap();
    let mut out = String::new();
    accumulator.write_json(&mut out);
    assert_eq!(out, expected);
    // Nor one failing inside the value of such a member, after merging part of it.
    let mut accumulator = Accumulator::new();
    accumulator.add(br#"{"x":{"a":0},"choices":[]}"#).unwrap();
    accumulator.add(br#"{"x":{"a":0},"choices":[],"x":{"a":1,"b":}"#).unwrap_err();
    accumulator.add(br#"{"x":{"a":0},"choices":[]}"#).unwrap();
    let mut out = String::new();
    accumulator.write_json(&mut out);
    assert_eq!(out, r#"{"object":"chat.completion","choices":[],"x":{"a":0}}"#);
}

#[test]
fn skipping_repeated_members_gives_the_same_completion_as_scanning_them() {
    // The same chunks, every other one with a leading space so that no chunk starts with the bytes
    // of the one before: every member of every chunk is scanned.
    let chunks: Vec<String> = (0..40)
        .map(|n| {
            format!(
                r#"{{"id":"c{}","object":"chat.completion.chunk","created":{},"model":"m","system_fingerprint":"fp","usage":{},"x":{{"k":{}}},"choices":[{{"index":{},"delta":{{"content":"t{n} "}},"finish_reason":null}}]}}"#,
                n / 10,
                n / 7,
                if n == 39 { r#"{"total_tokens":40}"# } else { "null" },
                n / 5,
                n % 2,
            )
        })
        .collect();
    let scanned: Vec<String> = chunks.iter().enumerate().map(|(n, chunk)| if n % 2 == 1 { format!(" {chunk}") } else { chunk.clone() }).collect();
    let skipped = accumulate(&chunks.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(skipped, accumulate(&scanned.iter().map(String::as_str).collect::<Vec<_>>()));
    assert!(skipped.contains(r#""x":{"k":7}"#) && skipped.contains(r#""usage":{"total_tokens":40}"#), "{skipped}");
}

#[test]
fn members_kept_as_json_text_merge_like_trees() {
    let out = accumulate(&[
        // Azure: an empty object first, then the full results, then the same again.
        r#"{"choices":[{"index":0,"delta":{},"filter":{}}],"meta":{ "a" : [1, 2] , "s":"x y"},"list":[1]}"#,
        r#"{"choices":[{"index":0,"delta":{},"filter":{"hate":{"filtered":false}}}],"meta":{"b":true},"list":{"now":"object"}}"#,
        r#"{"choices":[{"index":0,"delta":{},"filter":{"hate":{"filtered":false}}}],"meta":{"b":true},"list":[2,3]}"#,
        r#"{"choices":[{"index":0,"delta":{},"filter":{"hate":{"filtered":true}}}],"meta":{"a":null}}"#,
    ]);
    assert!(out.contains(r#""finish_reason":null,"filter":{"hate":{"filtered":true}}}"#), "{out}");
    // Whitespace inside a kept value is dropped; a null member changes nothing; an array replaces.
    assert!(out.ends_with(r#""meta":{"a":[1,2],"s":"x y","b":true},"list":[2,3]}"#), "{out}");
    // A scalar replaces a kept object, and an object replaces the scalar.
    let out = accumulate(&[r#"{"choices":[],"x":{"k":1}}"#, r#"{"choices":[],"x":5}"#, r#"{"choices":[],"x":{"k":2}}"#]);
    assert!(out.ends_with(r#""choices":[],"x":{"k":2}}"#), "{out}");
}

fn add_all(accumulator: &mut Accumulator, payloads: &[&str]) -> Vec<Option<AccumulateError>> {
    payloads.iter().map(|payload| accumulator.add(payload.as_bytes()).unwrap().rejected.map(|rejected| *rejected)).collect()
}

fn json_of(accumulator: &Accumulator) -> String {
    let mut out = String::new();
    accumulator.write_json(&mut out);
    out
}

#[test]
fn values_that_would_not_build_are_left_out_and_reported() {
    // Each member below is valid JSON of a type the completion cannot hold there; the chunk's other
    // members are merged, the bad one is reported with its path.
    let cases = [
        (r#"{"choices":[{"index":0,"finish_reason":3,"delta":{"content":"a"}}]}"#, "$.choices[0].finish_reason", "expected a string or null, found a number"),
        (r#"{"usage":"n/a","choices":[{"index":0,"delta":{"content":"a"}}]}"#, "$.usage", "expected an object or null, found a string"),
        (r#"{"created":1.0,"choices":[{"index":0,"delta":{"content":"a"}}]}"#, "$.created", "expected an integer, found a float"),
        (r#"{"choices":[{"index":0,"delta":{"role":5,"content":"a"}}]}"#, "$.choices[0].delta.role", "expected a string, found a number"),
        (r#"{"choices":[{"index":0,"delta":{"content":"a","tool_calls":[{"index":0,"id":"c","function":"f"}]}}]}"#, "$.choices[0].delta.tool_calls[0].function", "expected an object, found a string"),
        (r#"{"choices":[{"index":0,"delta":{"content":"a"}}],"x":{"s":"\ud800"}}"#, "$.x", "\\u escape is a lone UTF-16 surrogate"),
        (r#"{"choices":[{"index":0,"delta":{"content":"a"}}],"x":[1e400]}"#, "$.x", "number out of range for a float"),
        (r#"{"choices":[{"index":0,"delta":{"content":"a"},"logprobs":{"content":[{"token":"a","logprob":"x"}]}}]}"#, "$.choices[0].logprobs.content[0].logprob", "expected a number, found a string"),
        (r#"{"choices":[{"index":0,"delta":{"content":"a"}}],"usage":{"prompt_tokens":"7"}}"#, "$.usage.prompt_tokens", "expected an integer, found a string"),
    ];
    for (payload, path, message) in cases {
        let mut accumulator = Accumulator::new();
        let rejected = accumulator.add(payload.as_bytes()).unwrap().rejected.unwrap_or_else(|| panic!("accepted {payload}"));
        assert_eq!((rejected.path.as_str(), rejected.message.as_str()), (path, message), "{payload}");
        let out = json_of(&accumulator);
        assert!(out.contains(r#""content":"a""#), "{out}");
    }
    let digits = "9".repeat(crate::json::MAX_INT_DIGITS + 1);
    let mut accumulator = Accumulator::new();
    let rejected = accumulator.add(format!(r#"{{"choices":[],"seed":{digits}}}"#).as_bytes()).unwrap().rejected.unwrap();
    assert_eq!(rejected.message, "integer of 4301 digits, more than a Python int takes (sys.get_int_max_str_digits(), 4300 by default)");
    // 4,300 digits still build.
    let digits = "9".repeat(crate::json::MAX_INT_DIGITS);
    assert_eq!(accumulator.add(format!(r#"{{"choices":[],"seed":{digits}}}"#).as_bytes()).unwrap().rejected, None);
}

#[test]
fn a_rejected_leading_member_is_checked_again_on_every_chunk() {
    let mut accumulator = Accumulator::new();
    let chunk = r#"{"created":"x","model":"m","choices":[]}"#;
    let rejected = add_all(&mut accumulator, &[chunk, chunk]);
    assert!(rejected.iter().all(|rejected| rejected.as_ref().is_some_and(|r| r.path == "$.created")), "{rejected:?}");
    assert_eq!(json_of(&accumulator), r#"{"object":"chat.completion","model":"m","choices":[]}"#);
}

#[test]
fn nulls_where_the_completion_admits_none_are_left_out() {
    let out = accumulate(&[
        r#"{"id":null,"choices":[{"index":0,"delta":{"name":null,"role":null,"tool_calls":[{"index":0,"id":null,"function":{"name":"f","arguments":null}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":null,"arguments":"{}"}}]}}]}"#,
    ]);
    assert_eq!(
        out,
        r#"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":null}]}"#
    );
}

#[test]
fn a_tool_call_index_must_be_a_64_bit_integer() {
    for index in [r#""0""#, "1.0", "9223372036854775808"] {
        let mut accumulator = Accumulator::new();
        let payloads = [
            format!(r#"{{"choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":{index},"function":{{"arguments":"{{\"x\":{{\"y\":1}}"}}}}]}}}}]}}"#),
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","function":{"name":"g","arguments":"2}"}}]}}]}"#.to_owned(),
        ];
        let rejected = accumulator.add(payloads[0].as_bytes()).unwrap().rejected.unwrap();
        assert_eq!(rejected.path, "$.choices[0].delta.tool_calls[0].index");
        assert!(rejected.message.starts_with("a tool call's index must be a 64-bit integer"), "{}", rejected.message);
        assert_eq!(accumulator.add(payloads[1].as_bytes()).unwrap().rejected, None);
        // The bad fragment merged nothing: the second call stands alone.
        assert_eq!(
            json_of(&accumulator),
            r#"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"b","type":"function","function":{"name":"g","arguments":"2}"}}]},"finish_reason":null}]}"#
        );
    }
}

#[test]
fn a_choice_index_out_of_range_says_so() {
    let mut accumulator = Accumulator::new();
    let error = accumulator.add(br#"{"choices":[{"index":9223372036854775808,"delta":{}}]}"#).unwrap().rejected.unwrap();
    assert_eq!(error.path, "$.choices[0].index");
    assert_eq!(error.message, "choice index 9223372036854775808 is out of range (a 64-bit integer is expected)");
    assert_eq!(json_of(&accumulator), r#"{"object":"chat.completion","choices":[]}"#);
}

#[test]
fn annotations_are_reported_under_their_own_path() {
    let mut accumulator = Accumulator::new();
    let error = accumulator.add(br#"{"choices":[{"index":0,"delta":{"annotations":5}}]}"#).unwrap().rejected.unwrap();
    assert_eq!(error.path, "$.choices[0].delta.annotations");
}

#[test]
fn a_message_repeating_the_delta_is_not_merged_twice() {
    let out = accumulate(&[
        r#"{"choices":[{"index":0,"message":{"content":"He"},"delta":{"content":"He"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"llo","tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{\"a\""}}]},"message":{"content":"llo","tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{\"a\""}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"message":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]}}]}"#,
        // A choice with only a message (a gateway sending the whole message that way) still merges.
        r#"{"choices":[{"index":1,"message":{"role":"assistant","content":"whole"},"finish_reason":"stop"}]}"#,
    ]);
    assert_eq!(
        out,
        r#"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hello","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":null},{"index":1,"message":{"role":"assistant","content":"whole"},"finish_reason":"stop"}]}"#
    );
}

#[test]
fn usage_inside_a_provider_extension_is_the_usage_when_there_is_no_other() {
    let groq = [
        r#"{"id":"c","choices":[{"index":0,"delta":{"content":"a"}}],"x_groq":{"id":"req_1"}}"#,
        r#"{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"x_groq":{"id":"req_1","usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4,"queue_time":0.01}}}"#,
    ];
    let mut accumulator = Accumulator::new();
    add_all(&mut accumulator, &groq);
    assert_eq!(accumulator.usage_json().as_deref(), Some(r#"{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4,"queue_time":0.01}"#));
    let out = json_of(&accumulator);
    assert!(out.contains(r#""usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4,"queue_time":0.01}"#), "{out}");
    // The extension stays as sent.
    assert!(out.contains(r#""x_groq":{"id":"req_1","usage":{"prompt_tokens":3"#), "{out}");
    // A top-level usage wins over it, wherever it comes.
    let mut accumulator = Accumulator::new();
    add_all(&mut accumulator, &[groq[1], r#"{"choices":[],"usage":{"total_tokens":9}}"#, groq[1]]);
    assert_eq!(accumulator.usage_json().as_deref(), Some(r#"{"total_tokens":9}"#));
    // One that is not a usage (here a count that is a string) is not taken, and rejects nothing.
    let mut accumulator = Accumulator::new();
    let rejected = add_all(&mut accumulator, &[r#"{"choices":[],"x_groq":{"usage":{"total_tokens":"4"}}}"#]);
    assert_eq!((rejected, accumulator.usage_json()), (vec![None], None));
}

#[test]
fn stream_padding_is_dropped() {
    let out = accumulate(&[
        r#"{"choices":[{"index":0,"delta":{"content":"a","p":"abc","obfuscation":"x"}}],"p":"abcdefgh"}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"b"}}],"obfuscation":"yy","p":"a"}"#,
    ]);
    assert_eq!(out, r#"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ab"},"finish_reason":null}]}"#);
    // A `p` that is no padding string is data.
    assert!(accumulate(&[r#"{"choices":[],"p":{"q":1}}"#]).contains(r#""p":{"q":1}"#));
}

#[test]
fn an_identity_member_empty_on_every_chunk_stays_empty() {
    let out = accumulate(&[
        r#"{"id":"","system_fingerprint":"","service_tier":null,"created":0,"choices":[]}"#,
        r#"{"id":"","system_fingerprint":"","created":0,"choices":[]}"#,
    ]);
    assert_eq!(out, r#"{"id":"","object":"chat.completion","created":0,"choices":[],"service_tier":null,"system_fingerprint":""}"#);
    // A later non-empty one still wins.
    let out = accumulate(&[r#"{"system_fingerprint":"","choices":[]}"#, r#"{"system_fingerprint":"fp","choices":[]}"#]);
    assert_eq!(out, r#"{"object":"chat.completion","choices":[],"system_fingerprint":"fp"}"#);
}

#[test]
fn an_error_report_is_kept_in_the_completion() {
    let mut accumulator = Accumulator::new();
    accumulator.add(br#"{"choices":[{"index":0,"delta":{"content":"a"}}]}"#).unwrap();
    let outcome = accumulator.add_error_report(br#"{"error":{"message":"boom","code":400}}"#).unwrap();
    assert!(outcome.upstream_error);
    assert!(json_of(&accumulator).ends_with(r#""error":{"message":"boom","code":400}}"#));
    for (payload, kept) in [
        (&b"{\"message\": \"no error member\"}"[..], r#""error":{"message":"no error member"}}"#),
        (b"rate limited", r#""error":"rate limited"}"#),
        (b"\"quoted\"", r#""error":"quoted"}"#),
        (b"", r#""error":""}"#),
    ] {
        let mut accumulator = Accumulator::new();
        assert!(accumulator.add_error_report(payload).unwrap().upstream_error);
        assert!(json_of(&accumulator).ends_with(kept), "{}", json_of(&accumulator));
    }
}

#[test]
fn many_distinct_names_indexes_and_calls_merge_as_a_scan_would() {
    // Past INDEXED_FROM the lookups go through hash indexes: the result must be the one the scans
    // give, order of arrival included.
    let n = 3 * INDEXED_FROM;
    let keys: Vec<String> = (0..n).map(|k| format!(r#""k{k}":"v""#)).collect();
    let choices: Vec<String> = (0..n).rev().map(|i| format!(r#"{{"index":{i},"delta":{{"content":"c{i}"}}}}"#)).collect();
    let calls: Vec<String> = (0..n).map(|i| format!(r#"{{"index":{i},"id":"id{i}","function":{{"name":"f","arguments":"{i}"}}}}"#)).collect();
    let more: Vec<String> = (0..n).map(|i| format!(r#"{{"index":{i},"function":{{"arguments":"+"}}}}"#)).collect();
    let by_id: Vec<String> = (0..n).map(|i| format!(r#"{{"id":"id{i}","function":{{"arguments":"!"}}}}"#)).collect();
    let details: Vec<String> = (0..n).map(|i| format!(r#"{{"index":{},"text":"t"}}"#, i % INDEXED_FROM * 3 + i / INDEXED_FROM)).collect();
    let mut accumulator = Accumulator::new();
    for payload in [
        format!(r#"{{"choices":[{}],{}}}"#, choices.join(","), keys.join(",")),
        format!(r#"{{"choices":[{}],{}}}"#, choices.join(","), keys.join(",")),
        format!(r#"{{"choices":[{{"index":0,"delta":{{"tool_calls":[{}],{}}}}}]}}"#, calls.join(","), keys.join(",")),
        format!(r#"{{"choices":[{{"index":0,"delta":{{"tool_calls":[{}]}}}}]}}"#, more.join(",")),
        format!(r#"{{"choices":[{{"index":0,"delta":{{"tool_calls":[{}]}}}}]}}"#, by_id.join(",")),
        format!(r#"{{"choices":[{{"index":0,"delta":{{"reasoning_details":[{}]}}}}]}}"#, details.join(",")),
        format!(r#"{{"choices":[{{"index":0,"delta":{{"reasoning_details":[{}]}}}}]}}"#, details.join(",")),
    ] {
        assert_eq!(accumulator.add(payload.as_bytes()).unwrap().rejected, None);
    }
    let out = json_of(&accumulator);
    let top_keys: Vec<String> = (0..n).map(|k| format!(r#""k{k}":"v""#)).collect();
    assert!(out.ends_with(&format!("],{}}}", top_keys.join(","))), "{out}");
    for i in 1..n {
        assert!(out.contains(&format!(r#"{{"index":{i},"message":{{"role":"assistant","content":"c{i}c{i}"}},"finish_reason":null}}"#)));
    }
    for i in 0..n {
        assert!(out.contains(&format!(r#"{{"id":"id{i}","type":"function","function":{{"name":"f","arguments":"{i}+!"}}}}"#)), "call {i}");
    }
    // Each detail index appears once, its text merged from both chunks, in order of first arrival.
    let merged: Vec<String> = (0..n).map(|i| format!(r#"{{"index":{},"text":"tt"}}"#, i % INDEXED_FROM * 3 + i / INDEXED_FROM)).collect();
    assert!(out.contains(&format!(r#""reasoning_details":[{}]"#, merged.join(","))), "{out}");
    // The delta's undeclared members, after the declared ones, in order of arrival.
    // The delta's undeclared members follow the declared ones, in order of arrival.
    assert!(out.contains(&format!(r#""arguments":"{}+!"}}}}],{},"reasoning_details""#, n - 1, keys.join(","))), "{out}");
}

#[test]
fn a_null_count_in_a_usage_is_left_out_not_the_usage() {
    let mut accumulator = Accumulator::new();
    let outcome = accumulator
        .add(br#"{"choices":[],"usage":{"prompt_tokens":5,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":null,"audio_tokens":0},"completion_tokens":null}}"#)
        .unwrap();
    assert_eq!(outcome.rejected, None);
    assert_eq!(accumulator.usage_json().as_deref(), Some(r#"{"prompt_tokens":5,"total_tokens":7,"prompt_tokens_details":{"audio_tokens":0}}"#));
    // A count of another wrong type still leaves the usage out, reported.
    let outcome = accumulator.add(br#"{"choices":[],"usage":{"prompt_tokens":"5"}}"#).unwrap();
    assert_eq!(outcome.rejected.map(|rejected| rejected.path), Some("$.usage.prompt_tokens".to_owned()));
}

/// `payload` with a space after every `:` and `,` outside strings: the same JSON, which none of the
/// compact-layout shortcuts takes (`append_arguments`, a repeated value read as its bytes, the
/// logprob entry's fast check).
fn spaced(payload: &str) -> String {
    let (mut out, mut in_string, mut escaped) = (String::new(), false, false);
    for c in payload.chars() {
        out.push(c);
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            ':' | ',' if !in_string => out.push(' '),
            _ => {}
        }
    }
    out
}

#[test]
fn the_compact_shortcuts_merge_as_the_general_reading_does() {
    let streams: [&[&str]; 5] = [
        &[
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"He"},"logprobs":null,"finish_reason":null}]}"#,
            r#"{"choices":[{"index":1,"delta":{"content":"\"x\"\n"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"llo","content":"!"},"logprobs":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"\ud800"},"logprobs":null,"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":null},"logprobs":null,"finish_reason":null}]}"#,
            r#"{"choices":[{"index":2,"delta":{"content":null}}]}"#,
            // Sorted members, a repeated index, an empty reason (no reason).
            r#"{"choices":[{"delta":{"content":"?"},"finish_reason":"","index":1,"logprobs":null}]}"#,
            r#"{"choices":[{"index":2,"delta":{"content":"x"},"index":3}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"},{"index":1,"delta":{"content":"."},"finish_reason":"length"}]}"#,
        ],
        &[
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":""},"logprobs":null,"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":null,"reasoning_content":"Let"},"logprobs":null,"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning":null},"logprobs":null,"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning":"me"},"logprobs":null,"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning_content":" think","reasoning":" see"},"logprobs":null,"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"Yes","reasoning_content":null},"logprobs":null,"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning_content":"\ud800"},"logprobs":null,"finish_reason":null}]}"#,
        ],
        &[
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"f","arguments":""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"x\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","type":"function","function":{"name":"g","arguments":"["}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1\u00e9}"}}]}}]}"#,
            // Not appended: a lone surrogate (reported), an index no call has yet (a new call), a
            // call without arguments so far.
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"\ud800"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":2,"function":{"arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":3,"id":"d","function":{"name":"h"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":3,"function":{"arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"]"}}]},"finish_reason":"tool_calls"}]}"#,
        ],
        &[
            r#"{"choices":[{"index":0,"delta":{"content":"a"},"content_filter_results":{"hate":{"filtered":false}}}],"usage":{"prompt_tokens":1,"total_tokens":1},"x":[1,{"k":2}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"b"},"content_filter_results":{"hate":{"filtered":false}}}],"usage":{"prompt_tokens":1,"total_tokens":1},"x":[1,{"k":2}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"c"},"content_filter_results":{"hate":{"filtered":true}}}],"usage":{"prompt_tokens":1,"total_tokens":2},"x":[1,{"k":3}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"d"},"content_filter_results":{"hate":{"filtered":true}}}],"usage":{"prompt_tokens":1,"total_tokens":2},"x":[1,{"k":3}]}"#,
        ],
        &[
            r#"{"choices":[{"index":0,"delta":{"content":"a"},"logprobs":{"content":[{"token":"a","logprob":-0.5,"bytes":[97],"top_logprobs":[{"token":"b","logprob":-1,"bytes":null}]}],"refusal":null}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"\u00e9"},"logprobs":{"content":[{"token":"\u00e9","logprob":-0.25,"bytes":[195,169],"top_logprobs":[]}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"c"},"logprobs":{"content":[{"token":"c","logprob":-1e400,"bytes":[99],"top_logprobs":[]}]}}]}"#,
        ],
    ];
    for payloads in streams {
        let (mut compact, mut general) = (Accumulator::new(), Accumulator::new());
        let spaced_payloads: Vec<String> = payloads.iter().map(|payload| spaced(payload)).collect();
        let spaced_payloads: Vec<&str> = spaced_payloads.iter().map(String::as_str).collect();
        let reported = |errors: Vec<Option<AccumulateError>>| errors.into_iter().map(|error| error.map(|error| (error.path, error.message))).collect::<Vec<_>>();
        let compact_errors = reported(add_all(&mut compact, payloads));
        let general_errors = reported(add_all(&mut general, &spaced_payloads));
        assert_eq!(compact_errors, general_errors);
        assert_eq!(json_of(&compact), json_of(&general));
    }
    // What the first streams add up to, whichever way they were read.
    let mut accumulator = Accumulator::new();
    let errors = add_all(&mut accumulator, streams[0]);
    assert_eq!(errors[4].as_ref().map(|error| error.path.as_str()), Some("$.choices[0].delta.content"));
    assert_eq!(
        json_of(&accumulator),
        r#"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"logprobs":null,"finish_reason":"stop"},{"index":1,"message":{"role":"assistant","content":"\"x\"\n?."},"logprobs":null,"finish_reason":"length"},{"index":2,"message":{"role":"assistant","content":"x"},"finish_reason":null},{"index":3,"message":{"role":"assistant","content":null},"finish_reason":null}]}"#
    );
    let mut accumulator = Accumulator::new();
    add_all(&mut accumulator, streams[1]);
    assert!(json_of(&accumulator).contains(r#""message":{"role":"assistant","content":"Yes","reasoning_content":"Let think","reasoning":"me see"}"#), "{}", json_of(&accumulator));
    let mut accumulator = Accumulator::new();
    let errors = add_all(&mut accumulator, streams[2]);
    assert_eq!(errors[4].as_ref().map(|error| error.path.as_str()), Some("$.choices[0].delta.tool_calls[0].function.arguments"));
    assert!(json_of(&accumulator).contains(
        r#""tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{\"x\":1é}"}},{"id":"b","type":"function","function":{"name":"g","arguments":"[]"}},{"type":"function","function":{"arguments":"{}"}},{"id":"d","type":"function","function":{"name":"h","arguments":"{}"}}]"#
    ), "{}", json_of(&accumulator));
}

#[test]
fn repeated_names_are_found_in_kept_text_by_either_reading() {
    let many: Vec<String> = (0..INDEXED_FROM + 3).map(|k| format!(r#""k{k}":{k}"#)).collect();
    let many_repeated = format!("{{{},\"k2\":0}}", many.join(","));
    let many = format!("{{{}}}", many.join(","));
    for (text, repeated) in [
        (r#"{"a":1,"b":2}"#, false),
        (r#"{"a":1,"a":2}"#, true),
        (r#"{"a":{"a":1},"b":[{"a":1},{"a":2}]}"#, false), // the same name in different objects
        (r#"{"a":[{"x":1,"y":{"x":2},"x":3}]}"#, true),
        (r#"[{"a":"\":\"a","a":1}]"#, true), // a value holding `":` is no name
        (r#"[{"a":"\":\"b","b":1}]"#, false),
        (r#"{"ab":1,"a\u0062":2}"#, true), // the same name escaped
        (r#"{"s":"\\","t":"\"\\\""}"#, false),
        (r#"[1,"a",{"z":[]},{"z":{}}]"#, false),
        (many.as_str(), false),
        (many_repeated.as_str(), true),
    ] {
        assert_eq!(has_duplicate_keys(text.as_bytes()), repeated, "{text}");
        assert_eq!(has_duplicate_keys_read(text.as_bytes()), repeated, "{text}");
    }
}
