//! Partial JSON: every prefix of a valid document completes to valid JSON.
//!
//! For each prefix (at a character boundary) of a valid document (the input, or one generated from
//! it): `partial_json::complete` never refuses it, gives nothing only while no value has begun
//! (blank space, or a lone `-`), and otherwise gives text that is valid JSON. The whole document
//! completes to itself (the same value).
#![no_main]

use chatsse::partial_json::complete;
use chatsse_fuzz::documents::document;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|input: &[u8]| {
    let document = document(input);
    for end in (0..=document.len()).filter(|&end| document.is_char_boundary(end)) {
        let prefix = &document[..end];
        let completed = complete(prefix).unwrap_or_else(|_| panic!("a prefix of a valid document was refused: {prefix:?}"));
        match completed {
            None => assert!(matches!(prefix.trim_ascii(), "" | "-"), "no completion for {prefix:?}"),
            Some(text) => {
                if let Err(error) = serde_json::from_str::<Value>(&text) {
                    panic!("{prefix:?} completed to {text:?}, which is not JSON: {error}");
                }
            }
        }
    }
    let whole = complete(&document).unwrap().expect("a whole document completes");
    assert_eq!(serde_json::from_str::<Value>(&whole).unwrap(), serde_json::from_str::<Value>(&document).unwrap());
});
