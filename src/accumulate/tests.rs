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
    let error = accumulator.add(br#"{"choices":[{"index":0,"delta":{"content":5}}]}"#).unwrap_err();
    assert_eq!((error.offset, error.path.as_str()), (42, "$.choices[0].delta.content"));
    assert_eq!(error.message, "expected string, array or null, found number");
    let error = accumulator.add(br#"{"choices":[{"index":0,"delta":{"content":"a"},}]}"#).unwrap_err();
    assert_eq!(error.offset, 47);
    let error = accumulator.add(b"[]").unwrap_err();
    assert_eq!(error.message, "expected object, found array");
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
