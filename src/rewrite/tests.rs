use super::*;
use crate::payload_stream::{Format, PayloadStream};

fn rules() -> Rules {
    let mut rules = Rules::new();
    rules.set("model", b"\"house\"").unwrap();
    rules.drop("obfuscation").unwrap();
    rules.drop("choices.delta.p").unwrap();
    rules.rename("choices.delta.reasoning", "reasoning_content").unwrap();
    rules.drop_usage_only(true);
    rules
}

fn one(rules: &Rules, payload: &str) -> (Verdict, String) {
    let mut out = b"before".to_vec();
    let verdict = rules.rewrite(payload.as_bytes(), &[], &mut out, &mut Workspace::default()).unwrap();
    let out = out.strip_prefix(b"before").unwrap().to_vec();
    (verdict, String::from_utf8(out).unwrap())
}

/// The whole body through a PayloadStream and a Rewriter, every payload taken as a chunk.
fn run(rules: Rules, format: Format, pieces: &[&[u8]]) -> Vec<u8> {
    let mut stream = PayloadStream::new(format, 1 << 16);
    let mut rewriter = Rewriter::new(rules);
    let mut out = Vec::new();
    for piece in pieces {
        let result = stream.feed(piece, |payload| {
            rewriter.payload(piece, &payload, &[], &mut out);
            Ok::<(), ()>(())
        });
        assert!(result.is_ok());
        rewriter.end(piece, stream.complete_offset(), &mut out);
    }
    stream
        .finish(|payload| {
            rewriter.payload(&[], &payload, &[], &mut out);
            Ok::<(), ()>(())
        })
        .unwrap();
    rewriter.pass_rest(&[], &mut out);
    out
}

#[test]
fn each_rule_on_one_payload() {
    let rules = rules();
    assert_eq!(
        one(&rules, r#"{"id":"x", "model" : "gpt-4o" ,"obfuscation":"zz","choices":[{"delta":{"p":"abc","content":"hi", "reasoning":"r"}},{"delta":{"reasoning":"s"}}]}"#),
        (Verdict::Rewritten, r#"{"id":"x", "model" : "house","choices":[{"delta":{"content":"hi", "reasoning_content":"r"}},{"delta":{"reasoning_content":"s"}}]}"#.into())
    );
    // A member dropped goes with the comma and the spacing before it; the first members dropped: the next one's comma goes, the space after the brace stays.
    assert_eq!(one(&rules, r#"{ "obfuscation":1, "id":1.50e3}"#), (Verdict::Rewritten, r#"{ "id":1.50e3,"model":"house"}"#.into()));
    assert_eq!(one(&rules, r#"{"obfuscation":1}"#), (Verdict::Rewritten, r#"{"model":"house"}"#.into()));
    assert_eq!(one(&rules, r#"{ }"#), (Verdict::Rewritten, r#"{"model":"house" }"#.into()));
    // A member already called by the new name goes; the renamed one takes its place.
    assert_eq!(
        one(&rules, r#"{"model":"m","choices":[{"delta":{"reasoning_content":"old","reasoning":"new"}}]}"#),
        (Verdict::Rewritten, r#"{"model":"house","choices":[{"delta":{"reasoning_content":"new"}}]}"#.into())
    );
    // With no member to rename, a member of the new name stays.
    assert_eq!(one(&rules, r#"{"model":"house","choices":[{"delta":{"reasoning_content":"old"}}]}"#).0, Verdict::Untouched);
    assert_eq!(one(&rules, r#"{"model":"house","choices":[],"usage":{"total_tokens":3}}"#).0, Verdict::DropEvent);
    assert_eq!(one(&rules, r#"{"model":"house","choices":[],"usage":{}}"#).0, Verdict::Untouched);
    assert_eq!(one(&rules, r#"{"model":"house","choices":[{}],"usage":{"a":1}}"#).0, Verdict::Untouched);
    assert_eq!(one(&rules, r#"[1]"#).0, Verdict::Untouched);
    assert!(rules.rewrite(br#"{"model":"a",}"#, &[], &mut Vec::new(), &mut Workspace::default()).is_err());
    assert_eq!(one(&Rules::new(), r#"{"model":"a"}"#).0, Verdict::Untouched);
}

#[test]
fn a_repeated_prefix_is_resumed_with_the_same_result() {
    let payloads = [
        r#"{"obfuscation":"a","created":17,"model":"m","choices":[{"delta":{"reasoning":"x"}}]}"#,
        r#"{"obfuscation":"a","created":17,"model":"m","choices":[{"delta":{"p":"y"}}],"usage":{"a":1}}"#,
        r#"{"obfuscation":"a","created":170,"model":"m","choices":[]}"#,
        r#"{"obfuscation":"a","created":17,"model":"m","choices":[],"usage":{"a":1}}"#,
        r#"{"obfuscation":"a","created":17,"model":"m" ,"choices":[]}"#,
        r#"{"usage":{"a":1},"obfuscation":"a","choices":[]}"#,
        r#"{"usage":{"a":1},"obfuscation":"a","choices":[{}]}"#,
        r#"{"id":"i","choices":[{"delta":{}}],"obfuscation":"b"}"#,
        r#"{"id":"i","choices":[{"delta":{"p":1}}],"obfuscation":"b"}"#,
        r#"{"id":"i","x":1}"#,
    ];
    let mut plain = Rules::new();
    plain.set("model", b"\"house\"").unwrap();
    plain.drop("obfuscation").unwrap();
    plain.drop("choices.delta.p").unwrap();
    plain.drop_usage_only(true);
    for rules in [rules(), plain] {
        let mut work = Workspace::default();
        for payload in payloads {
            let mut out = Vec::new();
            let verdict = rules.rewrite(payload.as_bytes(), &[], &mut out, &mut work).unwrap();
            let fresh = one(&rules, payload);
            assert_eq!((verdict, String::from_utf8(out).unwrap()), fresh, "{payload}");
        }
    }
}

#[test]
fn bad_rules_are_refused() {
    let mut rules = Rules::new();
    assert_eq!(rules.drop("a..b"), Err(RuleError::BadPath { path: "a..b".into() }));
    assert_eq!(rules.drop(""), Err(RuleError::BadPath { path: "".into() }));
    rules.drop("choices.delta").unwrap();
    assert_eq!(rules.drop("choices.delta.p"), Err(RuleError::Conflict { path: "choices.delta.p".into(), other: "choices.delta".into() }));
    assert!(matches!(rules.set("choices", b"1"), Err(RuleError::Conflict { .. })));
    assert!(matches!(rules.set("x", b"{"), Err(RuleError::BadValue { .. })));
    assert!(matches!(rules.set("x", b"1 2"), Err(RuleError::BadValue { .. })));
    rules.rename("a.b", "c").unwrap();
    assert_eq!(rules.drop("a.c"), Err(RuleError::Conflict { path: "a.c".into(), other: "a.c".into() }));
    assert!(matches!(rules.rename("a.d", "c"), Err(RuleError::Conflict { .. })));
}

const BODY: &[u8] = b": keep-alive\n\nid: 1\ndata: {\"model\":\"m\",\"obfuscation\":\"q\",\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\r\n\r\nevent: other\ndata: {\"choices\":[],\"usage\":{\"total_tokens\":1}}\r\n\r\nretry: 5\n\ndata: [DONE]\n\n";
const EXPECTED: &[u8] = b": keep-alive\n\nid: 1\ndata: {\"model\":\"house\",\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\r\n\r\nretry: 5\n\ndata: [DONE]\n\n";

#[test]
fn a_stream_rewritten_the_same_however_cut() {
    assert_eq!(run(rules(), Format::Auto, &[BODY]), EXPECTED);
    for cut in 0..=BODY.len() {
        assert_eq!(run(rules(), Format::Auto, &[&BODY[..cut], &BODY[cut..]]), EXPECTED, "cut at {cut}");
    }
    for size in [1, 2, 3, 5, 7, 11, 40] {
        let pieces: Vec<&[u8]> = BODY.chunks(size).collect();
        assert_eq!(run(rules(), Format::Auto, &pieces), EXPECTED, "pieces of {size}");
    }
    let bytes: Vec<&[u8]> = BODY.chunks(1).collect();
    assert_eq!(run(Rules::new(), Format::Auto, &bytes), BODY);
}

#[test]
fn json_lines_and_the_unterminated_last_event() {
    let body = b"{\"model\":\"m\"}\r\n  {\"choices\":[],\"usage\":{\"a\":1}}\n{\"model\":\"n\"}";
    let expected = b"{\"model\":\"house\"}\r\n{\"model\":\"house\"}";
    for cut in 0..=body.len() {
        assert_eq!(run(rules(), Format::Auto, &[&body[..cut], &body[cut..]]), expected, "cut at {cut}");
    }
    assert_eq!(run(rules(), Format::Sse, &[b"data: {\"model\":\"m\"}\n"]), b"data: {\"model\":\"house\"}\n");
}

#[test]
fn data_over_several_lines() {
    let body = b"data: {\"model\":\ndata: \"m\",\n: a comment\ndata:\"x\":1}\r\n\r\n";
    // The rewritten payload `{"model":\n"house",\n"x":1}` as data lines where the first was.
    let out = run(rules(), Format::Sse, &[body]);
    assert_eq!(out, b"data: {\"model\":\ndata: \"house\",\ndata: \"x\":1}\n: a comment\n\r\n");
    for cut in 0..=body.len() {
        assert_eq!(run(rules(), Format::Sse, &[&body[..cut], &body[cut..]]), out, "cut at {cut}");
    }
}
