//! Completing a prefix of a JSON document into the document it could become, so that tool-call
//! arguments can be used while they stream: `{"city": "Par` becomes `{"city": "Par"}`.
//!
//! The completion keeps every complete member and element, the string, number or literal being
//! written (a string is closed; a number loses a dangling `.`, `e` or sign; `tru` becomes `true`),
//! and closes the open containers. A member whose key or colon is still arriving is left out, as is
//! a dangling comma. A prefix that cannot start a JSON document gives `None`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A value (at the top, after `[`, after `,` in an array, after `:`).
    Value,
    /// The first key of an object, or its end.
    KeyOrEnd,
    /// A key (after `,` in an object).
    Key,
    Colon,
    CommaOrEnd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Partial {
    None,
    /// Inside a string value that started at this byte.
    StringValue,
    /// Inside a key string.
    Key,
    /// Inside a number that started at this byte.
    Number(usize),
    /// Inside `true`, `false` or `null`: the whole word and how much of it has arrived.
    Literal(&'static str, usize),
}

/// `prefix` cannot begin a JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAPrefix;

/// The completed document; `Ok(None)` while no value has begun (`""`, `"  "`, `"-"`).
pub fn complete(prefix: &str) -> Result<Option<String>, NotAPrefix> {
    let bytes = prefix.as_bytes();
    // Open containers, innermost last: their closing byte and what comes next inside them.
    let mut stack: Vec<(u8, Expect)> = Vec::new();
    let mut top = Expect::Value;
    let mut top_done = false;
    let mut partial = Partial::None;
    // The longest prefix that ends right after a complete value or an opening bracket.
    let mut cut = 0;
    let mut escaped = false;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        match partial {
            Partial::StringValue | Partial::Key => {
                if escaped {
                    escaped = false;
                } else if byte == b'\\' {
                    escaped = true;
                } else if byte == b'"' {
                    let was_key = partial == Partial::Key;
                    partial = Partial::None;
                    if was_key {
                        set_expect(&mut stack, &mut top, Expect::Colon);
                    } else {
                        value_done(&mut stack, &mut top, &mut top_done);
                        cut = i + 1;
                    }
                }
                i += 1;
                continue;
            }
            Partial::Number(_) => {
                if matches!(byte, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                    i += 1;
                    continue;
                }
                partial = Partial::None;
                value_done(&mut stack, &mut top, &mut top_done);
                cut = i;
                // The delimiter is handled below.
            }
            Partial::Literal(word, seen) => {
                if bytes[i] != word.as_bytes()[seen] {
                    return Err(NotAPrefix);
                }
                i += 1;
                if seen + 1 == word.len() {
                    partial = Partial::None;
                    value_done(&mut stack, &mut top, &mut top_done);
                    cut = i;
                } else {
                    partial = Partial::Literal(word, seen + 1);
                }
                continue;
            }
            Partial::None => {}
        }
        let expect = stack.last().map_or(top, |(_, expect)| *expect);
        if top_done && stack.is_empty() && !byte.is_ascii_whitespace() {
            return Err(NotAPrefix); // something after the complete document
        }
        match (byte, expect) {
            (b' ' | b'\t' | b'\n' | b'\r', _) => {}
            (b'{', Expect::Value) => {
                stack.push((b'}', Expect::KeyOrEnd));
                cut = i + 1;
            }
            (b'[', Expect::Value) => {
                stack.push((b']', Expect::Value));
                cut = i + 1;
            }
            (b'"', Expect::Value) => partial = Partial::StringValue,
            (b'"', Expect::Key | Expect::KeyOrEnd) => partial = Partial::Key,
            (b'-' | b'0'..=b'9', Expect::Value) => partial = Partial::Number(i),
            (b't', Expect::Value) => partial = Partial::Literal("true", 1),
            (b'f', Expect::Value) => partial = Partial::Literal("false", 1),
            (b'n', Expect::Value) => partial = Partial::Literal("null", 1),
            (b':', Expect::Colon) => set_expect(&mut stack, &mut top, Expect::Value),
            (b',', Expect::CommaOrEnd) => {
                let next = if stack.last().is_some_and(|(close, _)| *close == b'}') { Expect::Key } else { Expect::Value };
                set_expect(&mut stack, &mut top, next);
            }
            (b'}', Expect::KeyOrEnd | Expect::CommaOrEnd) if stack.last().is_some_and(|(c, _)| *c == b'}') => {
                stack.pop();
                value_done(&mut stack, &mut top, &mut top_done);
                cut = i + 1;
            }
            // `[]`: an array's first "value" may be its end.
            (b']', Expect::Value | Expect::CommaOrEnd) if stack.last().is_some_and(|(c, _)| *c == b']') => {
                let empty_or_done = expect == Expect::CommaOrEnd || bytes[..i].trim_ascii_end().ends_with(b"[");
                if !empty_or_done {
                    return Err(NotAPrefix); // `[1,]`
                }
                stack.pop();
                value_done(&mut stack, &mut top, &mut top_done);
                cut = i + 1;
            }
            _ => return Err(NotAPrefix),
        }
        i += 1;
    }
    let mut out = match partial {
        Partial::StringValue => {
            let mut text = prefix.to_owned();
            drop_partial_escape(&mut text);
            text.push('"');
            text
        }
        Partial::Number(start) => {
            let trimmed = prefix.trim_end_matches(['.', 'e', 'E', '+', '-']);
            if trimmed.len() > start && trimmed[start..].bytes().any(|b| b.is_ascii_digit()) {
                trimmed.to_owned()
            } else {
                prefix[..cut].to_owned()
            }
        }
        Partial::Literal(word, seen) => format!("{prefix}{}", &word[seen..]),
        Partial::None | Partial::Key => prefix[..cut].to_owned(),
    };
    if out.trim().is_empty() {
        return Ok(None);
    }
    // A cut right after a comma never happens (cuts follow values); whitespace may trail.
    for (close, _) in stack.iter().rev() {
        out.push(*close as char);
    }
    Ok(Some(out))
}

fn set_expect(stack: &mut [(u8, Expect)], top: &mut Expect, expect: Expect) {
    match stack.last_mut() {
        Some((_, current)) => *current = expect,
        None => *top = expect,
    }
}

fn value_done(stack: &mut [(u8, Expect)], top: &mut Expect, top_done: &mut bool) {
    match stack.last_mut() {
        Some((_, current)) => *current = Expect::CommaOrEnd,
        None => {
            *top = Expect::CommaOrEnd;
            *top_done = true;
        }
    }
}

/// A string cut inside an escape (`"a\` or `"\u00`) loses the unfinished escape.
fn drop_partial_escape(text: &mut String) {
    let bytes = text.as_bytes();
    // Count the backslashes before the end: an odd run means a lone `\` ends the text.
    let trailing = bytes.iter().rev().take_while(|b| **b == b'\\').count();
    if trailing % 2 == 1 {
        text.pop();
    }
    if let Some(at) = text.rfind("\\u") {
        let preceding = text.as_bytes()[..at].iter().rev().take_while(|b| **b == b'\\').count();
        let hex = &text[at + 2..];
        if preceding % 2 == 0 && hex.len() < 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            text.truncate(at);
        }
    }
    // A high surrogate whose low half has not arrived would be invalid JSON text: drop it.
    if let Some(at) = text.rfind("\\u") {
        let hex = &text[at + 2..];
        let preceding = text.as_bytes()[..at].iter().rev().take_while(|b| **b == b'\\').count();
        if preceding % 2 == 0 && hex.len() == 4 && u16::from_str_radix(hex, 16).is_ok_and(|unit| (0xD800..0xDC00).contains(&unit)) {
            text.truncate(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{complete, NotAPrefix};

    #[test]
    fn completes_every_kind_of_cut() {
        let cases = [
            (r#"{"#, Some(r#"{}"#)),
            (r#"{"ci"#, Some(r#"{}"#)),
            (r#"{"city""#, Some(r#"{}"#)),
            (r#"{"city": "#, Some(r#"{}"#)),
            (r#"{"city": "Par"#, Some(r#"{"city": "Par"}"#)),
            (r#"{"city": "Paris", "#, Some(r#"{"city": "Paris"}"#)),
            (r#"{"city": "Paris", "days": 1"#, Some(r#"{"city": "Paris", "days": 1}"#)),
            (r#"{"a": 1.5e"#, Some(r#"{"a": 1.5}"#)),
            (r#"{"a": -"#, Some(r#"{}"#)),
            (r#"{"a": [1, 2"#, Some(r#"{"a": [1, 2]}"#)),
            (r#"{"a": [1, "#, Some(r#"{"a": [1]}"#)),
            (r#"{"a": [{"b": tr"#, Some(r#"{"a": [{"b": true}]}"#)),
            (r#"{"a": nu"#, Some(r#"{"a": null}"#)),
            (r#"{"a": "x\"#, Some(r#"{"a": "x"}"#)),
            (r#"{"a": "x\u00"#, Some(r#"{"a": "x"}"#)),
            (r#"{"a": "x\ud83d"#, Some(r#"{"a": "x"}"#)),
            (r#"{"a": "x\ud83d\"#, Some(r#"{"a": "x"}"#)),
            (r#"{"a": "x\\"#, Some(r#"{"a": "x\\"}"#)),
            (r#"{"a": {"b": {}}, "c": []"#, Some(r#"{"a": {"b": {}}, "c": []}"#)),
            (r#"["#, Some(r#"[]"#)),
            (r#""abc"#, Some(r#""abc""#)),
            (r#"12"#, Some(r#"12"#)),
            (r#"{"a": 1}"#, Some(r#"{"a": 1}"#)),
            ("", None),
            ("  ", None),
            ("x", None),
            (r#"{"a" 1"#, None),
            (r#"[1,]"#, None),
            (r#"{"a": 1} x"#, None),
            (r#"{"a": trx"#, None),
        ];
        for (prefix, expected) in cases {
            assert_eq!(complete(prefix).ok().flatten().as_deref(), expected, "{prefix}");
        }
        assert_eq!(complete(""), Ok(None));
        assert_eq!(complete("-"), Ok(None));
        assert_eq!(complete("x"), Err(NotAPrefix));
    }

    #[test]
    fn every_prefix_of_a_document_completes_to_valid_json_shape() {
        let document = r#"{"query": "weather in \"Paris\" \u00e9", "days": [1, 2.5, -3e2], "flags": {"metric": true, "x": null}}"#;
        for end in 0..=document.len() {
            if !document.is_char_boundary(end) {
                continue;
            }
            let completed = complete(&document[..end]).unwrap_or_else(|_| panic!("prefix {end} refused"));
            if end > 0 {
                let text = completed.unwrap_or_else(|| panic!("prefix {end} gave nothing"));
                assert!(text.starts_with('{') && text.ends_with('}'), "{text}");
            }
        }
        assert_eq!(complete(document), Ok(Some(document.to_owned())));
    }
}
