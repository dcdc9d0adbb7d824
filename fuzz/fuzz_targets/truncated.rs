//! `json::is_truncated`, the test by which the end of a body is told to have cut a payload short
//! (`Payload::is_cut_short`, hence TruncatedStreamError rather than a decode error).
//!
//! Every proper prefix of a valid object, array or string (the input, or a document generated from
//! it) is truncated, wherever the cut falls: inside a literal, a number, an escape or a UTF-8
//! sequence too. The whole document is not.
#![no_main]

use chatsse::json::is_truncated;
use chatsse_fuzz::documents::document;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let document = document(input);
    let bytes = document.trim_ascii().as_bytes();
    if !matches!(bytes.first(), Some(b'{' | b'[' | b'"')) {
        return; // a complete number or literal is never "cut": its prefixes are values too
    }
    for end in 1..bytes.len() {
        assert!(is_truncated(&bytes[..end]), "a prefix of a valid document is not seen as cut: {:?}", String::from_utf8_lossy(&bytes[..end]));
    }
    assert!(!is_truncated(bytes), "a whole document is seen as cut");
});
