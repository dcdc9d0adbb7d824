use super::*;
use crate::accumulate::Accumulator;

fn payloads(events: &Events) -> Vec<&str> {
    events
        .iter()
        .map(|event| std::str::from_utf8(event).unwrap().strip_prefix("data: ").unwrap().strip_suffix("\n\n").unwrap())
        .collect()
}

/// The completion the stream of `body` accumulates to.
fn round_trip(body: &str, piece_size: usize) -> String {
    let events = completion_stream(body.as_bytes(), piece_size, Framing::Sse).unwrap().events();
    let mut merge = Accumulator::new();
    let payloads = payloads(&events);
    assert_eq!(*payloads.last().unwrap(), "[DONE]");
    for payload in &payloads[..payloads.len() - 1] {
        let outcome = merge.add(payload.as_bytes()).unwrap();
        assert!(outcome.rejected.is_none(), "{payload}");
    }
    let mut out = String::new();
    merge.write_json(&mut out);
    out
}

const ANSWER: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"héllo wörld 😀!","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7},"system_fingerprint":"fp"}"#;

#[test]
fn an_answer_streams_as_openai_sends_it_and_accumulates_back() {
    let events = completion_stream(ANSWER.as_bytes(), 4, Framing::Sse).unwrap().events();
    let payloads = payloads(&events);
    let head = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":"fp","choices":["#;
    assert_eq!(payloads[0], format!(r#"{head}{{"index":0,"delta":{{"role":"assistant","refusal":null}},"logprobs":null,"finish_reason":null}}]}}"#));
    // Pieces of 4 characters, never a split character.
    let texts: Vec<String> = payloads[1..5].iter().map(|p| p.split(r#""content":""#).nth(1).unwrap().split('"').next().unwrap().to_owned()).collect();
    assert_eq!(texts, ["héll", "o wö", "rld ", "😀!"]);
    assert_eq!(payloads[5], format!(r#"{head}{{"index":0,"delta":{{}},"logprobs":null,"finish_reason":"stop"}}]}}"#));
    assert_eq!(payloads[6], format!(r#"{head}],"usage":{{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}}}"#));
    assert_eq!(payloads[7], "[DONE]");
    assert_eq!(round_trip(ANSWER, 4), ANSWER);
    assert_eq!(round_trip(ANSWER, 1), ANSWER);
}

#[test]
fn json_lines_have_no_done() {
    let events = completion_stream(ANSWER.as_bytes(), 100, Framing::JsonLines).unwrap().events();
    let lines: Vec<&[u8]> = events.iter().collect();
    assert_eq!(lines.len(), 4);
    assert!(lines.iter().all(|line| line.starts_with(b"{") && line.ends_with(b"}\n")));
}

#[test]
fn logprob_tokens_carry_their_text() {
    let body = r#"{"id":"a","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi there"},"logprobs":{"content":[{"token":"Hi","logprob":-0.1,"bytes":[72,105],"top_logprobs":[]},{"token":" there","logprob":-0.25,"bytes":null,"top_logprobs":[]}],"refusal":null},"finish_reason":"stop"}]}"#;
    let events = completion_stream(body.as_bytes(), 3, Framing::Sse).unwrap().events();
    let payloads = payloads(&events);
    assert!(payloads[0].contains(r#""logprobs":{"refusal":null}"#), "{}", payloads[0]);
    assert!(payloads[1].contains(r#""delta":{"content":"Hi"},"logprobs":{"content":[{"token":"Hi","logprob":-0.1,"bytes":[72,105],"top_logprobs":[]}]}"#));
    assert!(payloads[2].contains(r#""delta":{"content":" there"},"logprobs":{"content":[{"token":" there""#));
    assert_eq!(round_trip(body, 3), body);
}

#[test]
fn logprobs_that_do_not_spell_the_content_ride_with_the_first_chunk() {
    let body = r#"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"abc"},"logprobs":{"content":[{"token":"x","logprob":-1.0,"bytes":null,"top_logprobs":[]}]},"finish_reason":"stop"}]}"#;
    let events = completion_stream(body.as_bytes(), 2, Framing::Sse).unwrap().events();
    assert!(payloads(&events)[0].contains(r#""logprobs":{"content":[{"token":"x""#));
    assert_eq!(round_trip(body, 2), body);
}

#[test]
fn tool_calls_stream_header_then_arguments() {
    let body = r#"{"id":"a","object":"chat.completion","created":5,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get","arguments":"{\"city\": \"Zürich\"}"}},{"id":"call_2","type":"custom","custom":{"name":"sh","input":"ls -l"},"x":1}]},"finish_reason":"tool_calls","matched_stop":7}]}"#;
    let events = completion_stream(body.as_bytes(), 5, Framing::Sse).unwrap().events();
    let payloads = payloads(&events);
    assert!(payloads[1].contains(r#""delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get","arguments":""}}]}"#), "{}", payloads[1]);
    assert!(payloads[2].contains(r#""delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"cit"}}]}"#), "{}", payloads[2]);
    assert_eq!(round_trip(body, 5), body);
}

#[test]
fn choices_take_turns_and_keep_their_members() {
    let body = r#"{"id":"a","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"one two","reasoning_content":"hm","annotations":[{"type":"url_citation"}],"reasoning_details":[{"index":0,"text":"r"}]},"finish_reason":"stop","content_filter_results":{"hate":{"filtered":false}}},{"index":1,"message":{"role":"assistant","content":"three","refusal":"no"},"finish_reason":"length"}],"usage":{"prompt_tokens":1,"completion_tokens_details":{"reasoning_tokens":2}},"prompt_filter_results":[{"prompt_index":0}],"service_tier":"default"}"#;
    let events = completion_stream(body.as_bytes(), 2, Framing::Sse).unwrap().events();
    let payloads = payloads(&events);
    assert!(payloads[0].contains(r#""choices":[{"index":0,"#) && payloads[1].contains(r#""choices":[{"index":1,"#));
    assert!(payloads[0].ends_with(r#""prompt_filter_results":[{"prompt_index":0}]}"#));
    let accumulated = round_trip(body, 2);
    // The completion's members come back in its declared order: service_tier before the extras.
    assert_eq!(accumulated, body.replace(r#","prompt_filter_results":[{"prompt_index":0}],"service_tier":"default""#, r#","service_tier":"default","prompt_filter_results":[{"prompt_index":0}]"#));
}

#[test]
fn empty_texts_and_missing_choices() {
    let body = r#"{"id":"a","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"stop"}]}"#;
    assert_eq!(round_trip(body, 4), body);
    let events = completion_stream(br#"{"id":"a"}"#, 4, Framing::Sse).unwrap().events();
    assert_eq!(payloads(&events), [r#"{"id":"a","object":"chat.completion.chunk","choices":[]}"#, "[DONE]"]);
}

#[test]
fn what_is_not_a_completion_is_refused() {
    let error = completion_stream(b"[1]", 4, Framing::Sse).unwrap_err();
    assert_eq!((error.offset, error.path.as_str(), error.message.as_str()), (0, "$", "expected a completion (a JSON object)"));
    let error = completion_stream(br#"{"choices":{}}"#, 4, Framing::Sse).unwrap_err();
    assert_eq!((error.path.as_str(), error.message.as_str()), ("$.choices", "expected an array"));
    let error = completion_stream(br#"{"choices":[1]}"#, 4, Framing::Sse).unwrap_err();
    assert_eq!(error.path, "$.choices[0]");
    assert_eq!(completion_stream(br#"{"id":"a",}"#, 4, Framing::Sse).unwrap_err().offset, 10);
}

#[test]
fn pieces_count_characters() {
    assert_eq!(pieces("", 3).collect::<Vec<_>>(), [""]);
    assert_eq!(pieces("abcdefg", 3).collect::<Vec<_>>(), ["abc", "def", "g"]);
    assert_eq!(pieces("ééé😀", 2).collect::<Vec<_>>(), ["éé", "é😀"]);
}
