//! The scanner against hand-checked inputs; the Python suite adds a differential test against `json`.

use super::*;

/// Renders a value back in a canonical form, to compare what was scanned.
fn render(scanner: &mut Scanner<'_>, out: &mut String) -> Result<(), JsonError> {
    match scanner.peek()? {
        Kind::Null => {
            scanner.null()?;
            out.push_str("null");
        }
        Kind::Bool => out.push_str(if scanner.boolean()? { "true" } else { "false" }),
        Kind::Number => out.push_str(scanner.number()?.text),
        Kind::String => {
            let s = scanner.string()?;
            let mut buffer = Vec::new();
            s.unescape_into(&mut buffer)?;
            out.push_str(&format!("{:?}", String::from_utf8(buffer).unwrap()));
        }
        Kind::Array => {
            scanner.begin_array()?;
            out.push('[');
            let mut first = true;
            while scanner.next_element(&mut first)? {
                render(scanner, out)?;
                out.push(',');
            }
            out.push(']');
        }
        Kind::Object => {
            scanner.begin_object()?;
            out.push('{');
            let mut first = true;
            while let Some(key) = scanner.next_key(&mut first)? {
                out.push_str(&String::from_utf8_lossy(key.raw));
                out.push(':');
                render(scanner, out)?;
                out.push(',');
            }
            out.push('}');
        }
    }
    Ok(())
}

fn scan(input: &str) -> Result<String, JsonError> {
    scan_bytes(input.as_bytes())
}

fn scan_bytes(input: &[u8]) -> Result<String, JsonError> {
    let mut scanner = Scanner::new(input)?;
    let mut out = String::new();
    render(&mut scanner, &mut out)?;
    scanner.end()?;
    Ok(out)
}

fn error_of(input: &str) -> (usize, JsonErrorKind) {
    let error = scan(input).unwrap_err();
    (error.offset, error.kind)
}

#[test]
fn scans_every_kind_of_value() {
    let input = r#" {"a": [1, -2.5e3, true, false, null, "x"], "b": {}, "c": [], "d": "\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"} "#;
    assert_eq!(scan(input).unwrap(), r#"{a:[1,-2.5e3,true,false,null,"x",],b:{},c:[],d:"\"\\/\u{8}\u{c}\n\r\té😀",}"#);
}

#[test]
fn long_strings_take_the_word_at_a_time_path() {
    let text = "abcdefgh".repeat(20) + "é" + &"ijklmnop".repeat(3);
    let input = format!("\"{text}\"");
    let mut scanner = Scanner::new(input.as_bytes()).unwrap();
    let s = scanner.string().unwrap();
    assert_eq!(s.raw, text.as_bytes());
    assert!(!s.ascii && !s.escaped);
    let ascii = format!("\"{}\\n{}\"", "x".repeat(30), "y".repeat(9));
    let mut scanner = Scanner::new(ascii.as_bytes()).unwrap();
    let s = scanner.string().unwrap();
    assert!(s.ascii && s.escaped);
    assert_eq!(s.raw.len(), 41);
}

#[test]
fn numbers_follow_the_grammar() {
    for ok in ["0", "-0", "12", "1.5", "1e5", "1E+5", "1e-5", "-0.0e0", "18446744073709551616"] {
        assert_eq!(scan(ok).unwrap(), ok);
    }
    for bad in ["01", "-", "1.", ".5", "1e", "1e+", "+1", "--1"] {
        assert!(scan(bad).is_err(), "{bad}");
    }
    let mut scanner = Scanner::new(b"9223372036854775807").unwrap();
    assert_eq!(scanner.number().unwrap().as_i64(), Some(i64::MAX));
    let mut scanner = Scanner::new(b"9223372036854775808").unwrap();
    assert_eq!(scanner.number().unwrap().as_i64(), None);
    let mut scanner = Scanner::new(b"1e400").unwrap();
    assert_eq!(scanner.number().unwrap().as_f64().unwrap_err().kind, JsonErrorKind::NumberOutOfRange);
}

#[test]
fn errors_say_what_and_where() {
    assert_eq!(error_of(r#"{"a": 1,}"#), (8, JsonErrorKind::Unexpected { found: b'}', expected: "a string key" }));
    assert_eq!(error_of("[1,]"), (3, JsonErrorKind::Unexpected { found: b']', expected: "a JSON value" }));
    assert_eq!(error_of(r#"{"a" 1}"#), (5, JsonErrorKind::Unexpected { found: b'1', expected: "':'" }));
    assert_eq!(error_of(r#"{"a": 1 "b": 2}"#), (8, JsonErrorKind::Unexpected { found: b'"', expected: "',' or '}'" }));
    assert_eq!(error_of("[1 2]"), (3, JsonErrorKind::Unexpected { found: b'2', expected: "',' or ']'" }));
    assert_eq!(error_of(r#"{"a": tru}"#), (6, JsonErrorKind::Unexpected { found: b't', expected: "true" }));
    assert_eq!(error_of(r#"["abc"#), (5, JsonErrorKind::UnexpectedEnd));
    assert_eq!(error_of("[1"), (2, JsonErrorKind::UnexpectedEnd));
    assert_eq!(error_of("\"a\u{1}b\""), (2, JsonErrorKind::ControlCharacterInString));
    assert_eq!(error_of(r#""\x""#), (1, JsonErrorKind::InvalidEscape));
    assert_eq!(error_of(r#""\u12""#), (1, JsonErrorKind::InvalidEscape));
    assert_eq!(error_of(r#""ab\ud800""#), (3, JsonErrorKind::LoneSurrogate));
    assert_eq!(error_of(r#""\udc00""#), (1, JsonErrorKind::LoneSurrogate));
    assert_eq!(error_of("{} x"), (3, JsonErrorKind::TrailingCharacters));
    assert_eq!(error_of(""), (0, JsonErrorKind::UnexpectedEnd));
    assert_eq!(scan_bytes(b"[\"a\xff\"]").unwrap_err(), JsonError { offset: 3, kind: JsonErrorKind::InvalidUtf8 });
    assert_eq!(scan_bytes(b"[\"abcdefghijkl\xc3\"]").unwrap_err(), JsonError { offset: 14, kind: JsonErrorKind::InvalidUtf8 });
    // Outside strings a non-ASCII byte is simply unexpected.
    assert_eq!(scan_bytes(b"[\xc3\xa9]").unwrap_err(), JsonError { offset: 1, kind: JsonErrorKind::Unexpected { found: 0xc3, expected: "a JSON value" } });
    let message = scan(r#"{"a": 1,}"#).unwrap_err().to_string();
    assert_eq!(message, "expected a string key, found '}' at byte 8");
}

#[test]
fn truncation_is_told_from_bad_json() {
    assert!(is_truncated(br#"{"a": [1, "x"#));
    assert!(is_truncated(b""));
    assert!(!is_truncated(br#"{"a": 1.5}"#));
    assert!(!is_truncated(br#"{"a": 1,}"#));
}

#[test]
fn nesting_is_bounded() {
    let deep = "[".repeat(MAX_DEPTH as usize + 1) + &"]".repeat(MAX_DEPTH as usize + 1);
    assert_eq!(scan(&deep).unwrap_err().kind, JsonErrorKind::TooDeep);
    let fine = "[".repeat(MAX_DEPTH as usize) + &"]".repeat(MAX_DEPTH as usize);
    assert!(scan(&fine).is_ok());
}

#[test]
fn skip_checks_what_it_skips() {
    let mut scanner = Scanner::new(br#"{"a": [1, {"b": "\n"}], "c": 2}"#).unwrap();
    assert_eq!(scanner.skip().unwrap(), 0);
    scanner.end().unwrap();
    let mut scanner = Scanner::new(br#"{"a": [1, {"b" "x"}]}"#).unwrap();
    assert!(scanner.skip().is_err());
}

/// `skip` against the recursive pull methods (`render`): the same end, or the same error at the same
/// offset, on every prefix of some documents and on every one-byte replacement by a byte that matters
/// to the grammar.
#[test]
fn skip_agrees_with_the_pull_methods() {
    let documents: [&[u8]; 5] = [
        br#"{"a": [1, -2.5e3, true, false, null, "x\"y"], "b": {}, "c": [[], [{}]], "d": {"e": {"f": [0]}}}"#,
        br#"[{"token":" the","logprob":-0.25,"bytes":[32,116,104,101],"top_logprobs":[{"token":" a","logprob":-1e-3,"bytes":null}]}]"#,
        b"[ 1 , { \"k\" : [ ] } , \"\xc3\xa9\" ]",
        br#"{"x":{"y":{"z":[1,[2,[3,{"w":"\u00e9"}]]]}}}"#,
        b"\"plain\"",
    ];
    let replacements = b"{}[]\",:0-.eE \\tfnx\x01\xff";
    let check = |input: &[u8]| {
        let mut skipping = Scanner::new(input).unwrap();
        let skipped = skipping.skip().map(|_| skipping.position());
        let mut reading = Scanner::new(input).unwrap();
        let read = render(&mut reading, &mut String::new()).map(|()| reading.position());
        assert_eq!(skipped, read, "{}", String::from_utf8_lossy(input));
    };
    for document in documents {
        for end in 0..=document.len() {
            check(&document[..end]);
        }
        for at in 0..document.len() {
            for &byte in replacements {
                let mut changed = document.to_vec();
                changed[at] = byte;
                check(&changed);
            }
        }
    }
}

#[test]
fn skip_is_bounded_and_works_inside_a_container() {
    let deep = "[".repeat(MAX_DEPTH as usize + 1) + &"]".repeat(MAX_DEPTH as usize + 1);
    assert_eq!(Scanner::new(deep.as_bytes()).unwrap().skip().unwrap_err().kind, JsonErrorKind::TooDeep);
    // Objects and arrays alternating past 64 levels: the bit stack spans words.
    let fine = r#"{"a":["#.repeat(MAX_DEPTH as usize / 2) + &"]}".repeat(MAX_DEPTH as usize / 2);
    let mut scanner = Scanner::new(fine.as_bytes()).unwrap();
    scanner.skip().unwrap();
    scanner.end().unwrap();
    // Skipping a member's value inside an object leaves the scanner in the object.
    let mut scanner = Scanner::new(br#"{"a": {"b": [1]}, "c": 2}"#).unwrap();
    scanner.begin_object().unwrap();
    let mut first = true;
    assert_eq!(scanner.next_key(&mut first).unwrap().unwrap().raw, b"a");
    assert_eq!(scanner.skip().unwrap(), 6);
    assert_eq!(scanner.next_key(&mut first).unwrap().unwrap().raw, b"c");
}

/// The values read while scanning (`as_i64`, and `as_f64` on Clinger's fast path) are those of the
/// standard library's parsers, on numbers written every way the grammar allows.
#[test]
fn numbers_read_while_scanning_are_the_parsers_values() {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut texts: Vec<String> = ["0", "-0", "-0.0", "0.1", "1e22", "1e23", "9007199254740993", "0.30000000000000004",
        "123456789012345678", "1234567890123456789", "-999999999999999999", "1e-22", "4.9e-324", "1.7976931348623157e308",
        "0.000000000000000000000000001", "12345678901234567890.5", "1E+0000005", "2.5e00000000000000000001"]
        .iter().map(|text| text.to_string()).collect();
    for _ in 0..20_000 {
        let digits = (next() % 20 + 1) as u32;
        let significand = next() % 10u64.pow(digits.min(19));
        let point = (next() % u64::from(digits + 1)) as usize;
        let mut text = significand.to_string();
        if point > 0 && point < text.len() {
            text.insert(point, '.');
        }
        if next() % 3 == 0 {
            text = format!("{text}e{}", (next() % 60) as i64 - 30);
        }
        if next() % 2 == 0 {
            text.insert(0, '-');
        }
        texts.push(text);
    }
    for text in &texts {
        // Alone (the last bytes of the input are read one at a time) and followed by more JSON
        // (eight at a time).
        let mut scanner = Scanner::new(text.as_bytes()).unwrap();
        let alone = scanner.number().unwrap();
        let followed = format!("{text},\"more bytes than a word\"");
        let mut scanner = Scanner::new(followed.as_bytes()).unwrap();
        let number = scanner.number().unwrap();
        assert_eq!((number.as_i64(), number.as_f64().unwrap().to_bits()), (alone.as_i64(), alone.as_f64().unwrap().to_bits()));
        assert_eq!(number.text, text);
        assert_eq!(number.as_f64().unwrap().to_bits(), text.parse::<f64>().unwrap().to_bits(), "{text}");
        if number.integer {
            assert_eq!(number.as_i64(), text.parse::<i64>().ok(), "{text}");
        }
    }
}


#[test]
fn small_integer_reads_what_number_reads_as_an_i64_or_leaves_it() {
    for (text, expected) in [
        ("0", Some(0)),
        ("7,", Some(7)),
        ("42}", Some(42)),
        ("123456789012345678]", Some(123_456_789_012_345_678)),
        ("1234567890123456789", None), // 19 digits: `number` decides
        ("01", None),
        ("00", None),
        ("1.5", None),
        ("1e3", None),
        ("2E1", None),
        ("-1", None),
        ("\"1\"", None),
        ("", None),
    ] {
        let mut scanner = Scanner::new(text.as_bytes()).unwrap();
        assert_eq!(scanner.small_integer(), expected, "{text:?}");
        match expected {
            // Where `number` would have stopped, with the same value.
            Some(value) => {
                let mut reference = Scanner::new(text.as_bytes()).unwrap();
                assert_eq!(reference.number().unwrap().as_i64(), Some(value));
                assert_eq!(scanner.position(), reference.position(), "{text:?}");
            }
            None => assert_eq!(scanner.position(), 0, "{text:?}"),
        }
    }
}

#[test]
fn eat_moves_only_on_a_match() {
    let mut scanner = Scanner::new(b"{\"a\":12,0x").unwrap();
    assert!(!scanner.eat(b"{\"b\""));
    assert_eq!(scanner.position(), 0);
    assert!(scanner.eat(b"{\"a\":"));
    assert_eq!(scanner.small_integer(), Some(12));
    assert_eq!(scanner.small_integer(), None); // at the comma
    assert!(scanner.eat(b","));
    assert_eq!(scanner.small_integer(), Some(0)); // the `x` after it is the caller's to refuse
    assert_eq!(scanner.next_byte(), Some(b'x'));
    assert!(!scanner.eat(b"xy"));
    assert_eq!(scanner.position(), 9);
}

#[test]
fn floats_below_1e308_are_holdable_without_a_parse_and_the_rest_as_parsed() {
    for (text, holdable) in [
        ("0.000015598027633743823", true),
        ("2.212566909570261e-6", true),
        ("123456789012345678901234567890.5", true),
        ("1.7976931348623157e308", true), // f64::MAX: past the bound, parsed
        ("1.8e308", false),
        ("17976931348623159e292", false),
        ("0.00000000000000000000000000001e330", true), // 1e301
        ("1e-400", true),                               // underflows to 0.0: a float still
        ("-1e400", false),
        ("9.99e307", true),
        ("1e30000", false), // five exponent digits: parsed
    ] {
        let mut scanner = Scanner::new(text.as_bytes()).unwrap();
        let parsed = text.parse::<f64>().unwrap();
        assert_eq!(parsed.is_finite(), holdable, "{text}");
        assert_eq!(scanner.holdable_number().is_ok(), holdable, "{text}");
    }
}
