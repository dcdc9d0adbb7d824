//! The JSON scanner against serde_json, on any bytes.
//!
//! - A document read through the pull API (peek, the value methods, `next_key`/`next_element`,
//!   strings unescaped, `end`) is accepted exactly when serde_json accepts it, with the same value
//!   (numbers compared by their text), up to serde's nesting limit.
//! - `skip` accepts exactly what the pull API accepts, and fails with the same error at the same
//!   offset (json.rs says so: `skip` is the pull methods folded into one loop); `skip_checked` the
//!   same against the pull API that also unescapes strings and checks `check_holdable` on numbers.
//! - `JsonNumber::as_i64` and `as_f64` agree with Rust's own parsing of the number's text.
#![no_main]

use chatsse::json::{JsonError, Kind, Scanner};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// How much a read checks beyond the grammar.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Checks {
    /// What `skip` checks: the grammar, UTF-8, escapes well formed.
    Grammar,
    /// Strings (keys too) unescaped, as every consumer does: a lone surrogate fails.
    Unescaped,
    /// Also every number a Python value can hold (`check_holdable`): what `skip_checked` checks.
    Holdable,
}

/// Reads one value with the pull API.
fn read(scanner: &mut Scanner<'_>, checks: Checks, scratch: &mut Vec<u8>) -> Result<Value, JsonError> {
    let unescape = checks != Checks::Grammar;
    Ok(match scanner.peek()? {
        Kind::Null => {
            scanner.null()?;
            Value::Null
        }
        Kind::Bool => Value::Bool(scanner.boolean()?),
        Kind::Number => {
            let number = scanner.number()?;
            check_number(number.text, number.integer, number.as_i64(), number.as_f64());
            if checks == Checks::Holdable {
                number.check_holdable()?;
            }
            Value::Number(number.text.parse().expect("serde_json reads a number the scanner accepted"))
        }
        Kind::String => Value::String(string(&scanner.string()?, unescape, scratch)?),
        Kind::Array => {
            scanner.begin_array()?;
            let mut items = Vec::new();
            let mut first = true;
            while scanner.next_element(&mut first)? {
                items.push(read(scanner, checks, scratch)?);
            }
            Value::Array(items)
        }
        Kind::Object => {
            scanner.begin_object()?;
            let mut members = serde_json::Map::new();
            let mut first = true;
            while let Some(key) = scanner.next_key(&mut first)? {
                let key = string(&key, unescape, scratch)?;
                // A repeated key: the last value wins, as in serde_json.
                members.insert(key, read(scanner, checks, scratch)?);
            }
            Value::Object(members)
        }
    })
}

fn string(text: &chatsse::json::JsonStr<'_>, unescape: bool, scratch: &mut Vec<u8>) -> Result<String, JsonError> {
    if !unescape {
        return Ok(text.raw_str().to_owned());
    }
    let value = text.unescaped(scratch)?;
    Ok(std::str::from_utf8(value).expect("unescaped text is UTF-8").to_owned())
}

fn check_number(text: &str, integer: bool, as_i64: Option<i64>, as_f64: Result<f64, JsonError>) {
    assert_eq!(integer, !text.contains(['.', 'e', 'E']), "{text}: integer flag");
    assert_eq!(as_i64, if integer { text.parse::<i64>().ok() } else { None }, "{text}: as_i64");
    let parsed: f64 = text.parse().expect("Rust parses a JSON number");
    match as_f64 {
        Ok(value) => assert_eq!(value.to_bits(), parsed.to_bits(), "{text}: as_f64 is not the correctly rounded value"),
        Err(_) => assert!(parsed.is_infinite(), "{text}: as_f64 refused a finite number"),
    }
}

/// The whole input as one document through the pull API.
fn read_document(input: &[u8], checks: Checks) -> Result<Value, JsonError> {
    let mut scanner = Scanner::new(input)?;
    let value = read(&mut scanner, checks, &mut Vec::new())?;
    scanner.end()?;
    Ok(value)
}

fuzz_target!(|input: &[u8]| {
    let pulled = read_document(input, Checks::Unescaped);

    let mut scanner = Scanner::new(input).unwrap();
    let skipped = scanner.skip().and_then(|_| scanner.end());
    assert_eq!(skipped.err(), read_document(input, Checks::Grammar).err(), "skip and the pull API disagree");
    let mut scanner = Scanner::new(input).unwrap();
    let skipped = scanner.skip_checked(&mut Vec::new()).and_then(|_| scanner.end());
    assert_eq!(skipped.err(), read_document(input, Checks::Holdable).err(), "skip_checked and the pull API disagree");

    let serde: Result<Value, serde_json::Error> = serde_json::from_slice(input);
    match (&pulled, &serde) {
        (Ok(ours), Ok(theirs)) => assert_eq!(ours, theirs, "the scanner and serde_json read different values"),
        (Err(_), Err(_)) => {}
        (_, Err(error)) if error.to_string().starts_with("recursion limit exceeded") => {}
        (Ok(ours), Err(error)) => panic!("the scanner accepts what serde_json refuses ({error}): {ours}"),
        (Err(error), Ok(theirs)) => panic!("the scanner refuses what serde_json accepts ({error}): {theirs}"),
    }
});
