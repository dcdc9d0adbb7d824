//! The accumulator on generated chunk streams: the fuzz input drives a generator of Chat Completions
//! chunks (every declared member, extras, explicit nulls, duplicated keys, escapes, big and float
//! numbers, and now and then a value of the wrong type), framed as SSE and as JSON lines.
//!
//! - Adding the chunks directly, feeding the SSE body and the JSON-lines body in any cutting, and
//!   adding them with the repeated-run skip defeated all give the same result (completion JSON,
//!   usage, tool-call arguments, finished state, per-chunk reports).
//! - The completion always builds (src/shape.rs).
//! - Merging stays linear in chunks of up to 16,000 choices, tool calls, members or list elements.
//! - When every chunk merged whole (no member left out for its type): each choice's content is the concatenation of its string deltas, its
//!   finish reason the last non-empty one, and the usage the last non-null one.
#![no_main]

use chatsse::accumulate::Accumulator;
use chatsse::payload_stream::Format;
use chatsse_fuzz::accumulate::{accumulate_body, accumulate_unskipped, add_chunk, ChunkReport, Outcome};
use chatsse_fuzz::cuts::{random_pieces, seed_of, Rng};
use chatsse_fuzz::shape::check_completion;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Decisions read from the fuzz input (zeros once it runs out, which ends every list).
struct Gen<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Gen<'_> {
    fn byte(&mut self) -> u8 {
        let byte = self.input.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        byte
    }

    fn below(&mut self, bound: usize) -> usize {
        self.byte() as usize % bound
    }

    /// One time in `n`.
    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0 && self.pos <= self.input.len()
    }

    fn exhausted(&self) -> bool {
        self.pos >= self.input.len()
    }
}

/// String contents as they stand in JSON, and what they decode to.
const STRINGS: &[(&str, &str)] = &[
    ("", ""),
    ("a", "a"),
    ("Hel", "Hel"),
    ("lo ", "lo "),
    ("stop", "stop"),
    ("length", "length"),
    ("tool_calls", "tool_calls"),
    ("assistant", "assistant"),
    ("function", "function"),
    ("text", "text"),
    ("thinking", "thinking"),
    ("call_1", "call_1"),
    ("call_2", "call_2"),
    ("get_weather", "get_weather"),
    ("{\\\"city\\\":", "{\"city\":"),
    (" \\\"Paris\\\"}", " \"Paris\"}"),
    ("\\n", "\n"),
    ("\\u00e9t\\u00e9", "été"),
    ("\\ud83d\\ude00", "\u{1F600}"),
    ("caf\u{e9}", "caf\u{e9}"),
    ("\\\\", "\\"),
    ("\\/", "/"),
    ("\\t\\b\\f\\r", "\t\u{8}\u{c}\r"),
    ("\\u0000", "\0"),
    ("\\u001f", "\u{1f}"),
    ("[DONE]", "[DONE]"),
    ("error", "error"),
    ("chat.completion.chunk", "chat.completion.chunk"),
];

const INTEGERS: &[&str] = &["0", "1", "2", "-1", "7", "42", "1700000000", "9007199254740993", "18446744073709551615", "123456789012345678901234567890"];
const FLOATS: &[&str] = &["0.5", "-1.25", "-0.0", "1e3", "2.5E-3", "-12.345678", "1e308", "1e400", "-1e400"];

struct Chunk {
    json: String,
}

#[derive(Default)]
struct Expected {
    /// Per choice index: the concatenated content, or None once parts (or nothing) made it untracked.
    content: Vec<(i64, Option<String>, bool)>,
    finish_reason: Vec<(i64, Option<String>)>,
    /// The last non-null usage, None inside when the oracle cannot tell what it merges to.
    usage: Option<Option<String>>,
}

impl Expected {
    fn content(&mut self, index: i64) -> &mut (i64, Option<String>, bool) {
        if let Some(at) = self.content.iter().position(|(i, _, _)| *i == index) {
            return &mut self.content[at];
        }
        self.content.push((index, Some(String::new()), false));
        self.content.last_mut().unwrap()
    }
}

struct Writer<'g, 'a> {
    gen: &'g mut Gen<'a>,
    out: String,
    expected: Expected,
    usage_repeats_a_key: bool,
}

impl Writer<'_, '_> {
    fn space(&mut self) {
        if self.gen.one_in(6) {
            self.out.push_str([" ", "  ", "\t"][self.gen.below(3)]);
        }
    }

    /// A string of one or two pieces of STRINGS; returns what it decodes to.
    fn string(&mut self) -> String {
        let pieces = 1 + self.gen.below(2);
        let mut decoded = String::new();
        self.out.push('"');
        for _ in 0..pieces {
            let (raw, value) = STRINGS[self.gen.below(STRINGS.len())];
            self.out.push_str(raw);
            decoded.push_str(value);
        }
        self.out.push('"');
        decoded
    }

    fn integer(&mut self) {
        let text = INTEGERS[self.gen.below(INTEGERS.len())];
        self.out.push_str(text);
    }

    fn float(&mut self) {
        let text = FLOATS[self.gen.below(FLOATS.len())];
        self.out.push_str(text);
    }

    /// Any JSON value.
    fn any(&mut self, depth: u32) {
        match self.gen.below(if depth > 3 { 5 } else { 7 }) {
            0 => self.out.push_str("null"),
            1 => self.out.push_str(["true", "false"][self.gen.below(2)]),
            2 => self.integer(),
            3 => self.float(),
            4 => {
                self.string();
            }
            5 => self.list(|w| w.any(depth + 1)),
            _ => self.object(|w| {
                let key = ["a", "b", "index", "type", "text", "content", "id"][w.gen.below(7)];
                w.member(key, |w| w.any(depth + 1));
                true
            }),
        }
    }

    /// A value of the right kind, or now and then any value.
    fn typed(&mut self, right: impl FnOnce(&mut Self)) {
        if self.gen.one_in(12) {
            self.any(0);
        } else {
            right(self);
        }
    }

    fn nullable(&mut self, right: impl FnOnce(&mut Self)) {
        if self.gen.one_in(4) {
            self.out.push_str("null");
        } else {
            self.typed(right);
        }
    }

    fn list(&mut self, mut element: impl FnMut(&mut Self)) {
        self.out.push('[');
        let count = self.gen.below(4);
        for n in 0..count {
            if n > 0 {
                self.out.push(',');
            }
            self.space();
            element(self);
        }
        self.space();
        self.out.push(']');
    }

    /// An object whose members `member` writes, one call per member, until it returns false or the
    /// generator says stop.
    fn object(&mut self, mut member: impl FnMut(&mut Self) -> bool) {
        self.out.push('{');
        let start = self.out.len();
        let count = self.gen.below(6);
        for _ in 0..count {
            let mark = self.out.len();
            if mark > start {
                self.out.push(',');
            }
            if !member(self) {
                self.out.truncate(mark);
            }
        }
        self.space();
        self.out.push('}');
    }

    fn member(&mut self, key: &str, value: impl FnOnce(&mut Self)) {
        self.space();
        self.out.push('"');
        self.out.push_str(key);
        self.out.push('"');
        self.space();
        self.out.push(':');
        self.space();
        value(self);
    }

    fn function(&mut self, keys: [&'static str; 2]) {
        self.object(|w| {
            let key = keys[w.gen.below(2)];
            w.member(key, |w| w.typed(|w| {
                w.string();
            }));
            true
        });
    }

    /// A usage object; notes in `usage_repeats_a_key` whether it (or a details object) repeats a
    /// key, as the oracle then cannot tell which value stays (a null count never replaces one).
    fn usage(&mut self) {
        let mut keys: Vec<usize> = Vec::new();
        self.object(|w| {
            let key = w.gen.below(5);
            w.usage_repeats_a_key |= keys.contains(&key);
            keys.push(key);
            let mut details = 0;
            let mut count = |w: &mut Self, name: &str| {
                details += 1;
                w.usage_repeats_a_key |= details > 1;
                w.member(name, |w| w.typed(Self::integer));
                true
            };
            match key {
                0 => w.member("prompt_tokens", |w| w.typed(Self::integer)),
                1 => w.member("completion_tokens", |w| w.typed(Self::integer)),
                2 => w.member("total_tokens", |w| w.typed(Self::integer)),
                3 => w.member("prompt_tokens_details", |w| w.nullable(|w| w.object(|w| count(w, "cached_tokens")))),
                _ => w.member("completion_tokens_details", |w| w.nullable(|w| w.object(|w| count(w, "reasoning_tokens")))),
            }
            true
        });
    }

    fn token_logprob(&mut self, top: bool) {
        self.object(|w| {
            match w.gen.below(4) {
                0 => w.member("token", |w| w.typed(|w| {
                    w.string();
                })),
                1 => w.member("logprob", |w| w.typed(Self::float)),
                2 => w.member("bytes", |w| w.nullable(|w| w.list(Self::integer))),
                _ if top => w.member("top_logprobs", |w| w.typed(|w| w.list(|w| w.token_logprob(false)))),
                _ => return false,
            }
            true
        });
    }

    fn tool_call(&mut self) {
        self.object(|w| {
            match w.gen.below(5) {
                0 => w.member("index", |w| w.typed(|w| w.out.push_str(["0", "1", "2"][w.gen.below(3)]))),
                1 => w.member("id", |w| w.typed(|w| w.out.push_str(["\"call_1\"", "\"call_2\"", "\"\""][w.gen.below(3)]))),
                2 => w.member("type", |w| w.typed(|w| w.out.push_str("\"function\""))),
                3 => w.member("function", |w| w.typed(|w| w.function(["name", "arguments"]))),
                _ => w.member("custom", |w| w.typed(|w| w.function(["name", "input"]))),
            }
            true
        });
    }

    /// A delta for choice `index`; records what it adds to the content when it is a string.
    fn delta(&mut self, index: i64) {
        self.object(|w| {
            match w.gen.below(12) {
                0 => w.member("role", |w| w.nullable(|w| w.out.push_str(["\"assistant\"", "\"\""][w.gen.below(2)]))),
                1 | 2 => w.member("content", |w| {
                    if w.gen.one_in(12) {
                        w.any(0);
                        w.expected.content(index).1 = None;
                    } else if w.gen.one_in(5) {
                        w.out.push_str("null");
                    } else if w.gen.one_in(5) {
                        w.expected.content(index).1 = None;
                        w.list(|w| {
                            w.object(|w| {
                                match w.gen.below(3) {
                                    0 => w.member("type", |w| w.out.push_str(["\"text\"", "\"thinking\""][w.gen.below(2)])),
                                    1 => w.member("text", |w| w.typed(|w| {
                                        w.string();
                                    })),
                                    _ => w.member("thinking", |w| w.list(|w| w.object(|w| {
                                        w.member("text", |w| {
                                            w.string();
                                        });
                                        true
                                    }))),
                                }
                                true
                            })
                        });
                    } else {
                        let text = w.string();
                        let entry = w.expected.content(index);
                        entry.2 = true;
                        if let Some(content) = &mut entry.1 {
                            content.push_str(&text);
                        }
                    }
                }),
                3 => w.member("reasoning_content", |w| w.nullable(|w| {
                    w.string();
                })),
                4 => w.member("reasoning", |w| w.nullable(|w| {
                    w.string();
                })),
                5 => w.member("refusal", |w| w.nullable(|w| {
                    w.string();
                })),
                6 | 7 => w.member("tool_calls", |w| w.nullable(|w| w.list(Self::tool_call))),
                8 => w.member("function_call", |w| w.nullable(|w| w.function(["name", "arguments"]))),
                9 => w.member("annotations", |w| w.nullable(|w| w.list(|w| w.object(|w| {
                    match w.gen.below(2) {
                        0 => w.member("type", |w| w.out.push_str("\"url_citation\"")),
                        _ => w.member("url_citation", |w| w.typed(|w| w.object(|w| {
                            match w.gen.below(4) {
                                0 => w.member("start_index", |w| w.typed(Self::integer)),
                                1 => w.member("end_index", |w| w.typed(Self::integer)),
                                2 => w.member("title", |w| w.typed(|w| {
                                    w.string();
                                })),
                                _ => w.member("url", |w| w.typed(|w| {
                                    w.string();
                                })),
                            }
                            true
                        }))),
                    }
                    true
                })))),
                10 => w.member("audio", |w| w.nullable(|w| w.object(|w| {
                    match w.gen.below(4) {
                        0 => w.member("id", |w| w.typed(|w| {
                            w.string();
                        })),
                        1 => w.member("data", |w| w.typed(|w| {
                            w.string();
                        })),
                        2 => w.member("expires_at", |w| w.typed(Self::integer)),
                        _ => w.member("transcript", |w| w.typed(|w| {
                            w.string();
                        })),
                    }
                    true
                }))),
                _ => {
                    let key = ["channel", "x_extra", "name"][w.gen.below(3)];
                    w.member(key, |w| w.typed(|w| {
                        w.string();
                    }));
                }
            }
            true
        });
    }

    fn choice(&mut self, position: i64) {
        // The index, placed first or last (Azure sorts keys: `delta` before `index`), absent or null.
        let index_kind = self.gen.below(8);
        let (index, index_text) = match index_kind {
            0 => (position, None),
            1 => (position, Some("null".to_owned())),
            2 if self.gen.one_in(4) => (-1, Some("\"0\"".to_owned())),
            _ => {
                let index = self.gen.below(3) as i64;
                (index, Some(index.to_string()))
            }
        };
        let index_last = self.gen.one_in(3);
        let mut delta_written = false;
        self.out.push('{');
        let mut comma = false;
        if let (Some(text), false) = (&index_text, index_last) {
            let text = text.clone();
            self.member("index", |w| w.out.push_str(&text));
            comma = true;
        }
        let count = self.gen.below(4);
        for _ in 0..count {
            if comma {
                self.out.push(',');
            }
            comma = true;
            match self.gen.below(5) {
                0 | 1 if !delta_written => {
                    delta_written = true;
                    let key = if self.gen.one_in(6) { "message" } else { "delta" };
                    self.member(key, |w| {
                        if w.gen.one_in(10) {
                            w.out.push_str("null");
                        } else {
                            w.delta(index);
                        }
                    });
                }
                0 | 1 | 2 => self.member("finish_reason", |w| {
                    if w.gen.one_in(12) {
                        w.any(0);
                        w.expected.finish_reason.push((index, None));
                    } else {
                        match w.gen.below(5) {
                            0 | 1 => w.out.push_str("null"),
                            2 => w.out.push_str("\"\""),
                            _ => {
                                let reason = ["stop", "length", "tool_calls"][w.gen.below(3)];
                                w.out.push_str(&format!("\"{reason}\""));
                                w.expected.finish_reason.push((index, Some(reason.to_owned())));
                            }
                        }
                    }
                }),
                3 => self.member("logprobs", |w| w.nullable(|w| w.object(|w| {
                    let key = ["content", "refusal"][w.gen.below(2)];
                    w.member(key, |w| w.nullable(|w| w.list(|w| w.token_logprob(true))));
                    true
                }))),
                _ => {
                    let key = ["content_filter_results", "stop_reason", "native_finish_reason"][self.gen.below(3)];
                    self.member(key, |w| w.any(0));
                }
            }
        }
        if let (Some(text), true) = (&index_text, index_last) {
            if comma {
                self.out.push(',');
            }
            let text = text.clone();
            self.member("index", |w| w.out.push_str(&text));
        }
        self.space();
        self.out.push('}');
    }

    fn chunk(&mut self) -> Chunk {
        self.out.clear();
        self.object(|w| {
            match w.gen.below(14) {
                0 => w.member("id", |w| w.typed(|w| w.out.push_str(["\"chatcmpl-1\"", "\"\"", "\"chatcmpl-2\""][w.gen.below(3)]))),
                1 => w.member("object", |w| w.typed(|w| w.out.push_str(["\"chat.completion.chunk\"", "\"\"", "\"error\""][w.gen.below(3)]))),
                2 => w.member("created", |w| w.typed(Self::integer)),
                3 => w.member("model", |w| w.typed(|w| {
                    w.string();
                })),
                4 => w.member("system_fingerprint", |w| w.nullable(|w| {
                    w.string();
                })),
                5 => w.member("service_tier", |w| w.nullable(|w| {
                    w.string();
                })),
                6..=9 => w.member("choices", |w| {
                    if w.gen.one_in(16) {
                        w.any(0);
                        return;
                    }
                    w.out.push('[');
                    let count = 1 + w.gen.below(2);
                    for position in 0..count {
                        if position > 0 {
                            w.out.push(',');
                        }
                        w.choice(position as i64);
                    }
                    w.out.push(']');
                }),
                10 | 11 => w.member("usage", |w| {
                    w.usage_repeats_a_key = false;
                    let start = w.out.len();
                    w.nullable(Self::usage);
                    let text = w.out[start..].to_owned();
                    if text != "null" {
                        w.expected.usage = Some((!w.usage_repeats_a_key).then_some(text));
                    }
                }),
                12 => w.member("obfuscation", |w| {
                    w.string();
                }),
                _ => {
                    let key = ["x_groq", "prompt_filter_results", "error", "citations"][w.gen.below(4)];
                    w.member(key, |w| w.any(0));
                }
            }
            true
        });
        Chunk { json: std::mem::take(&mut self.out) }
    }
}

fn sse_body(chunks: &[Chunk], gen: &mut Gen<'_>) -> Vec<u8> {
    let mut body = Vec::new();
    let ending: &[u8] = [b"\n".as_slice(), b"\r\n", b"\r"][gen.below(3)];
    for chunk in chunks {
        if gen.one_in(8) {
            body.extend_from_slice(b": keep-alive");
            body.extend_from_slice(ending);
            body.extend_from_slice(ending);
        }
        if gen.one_in(8) {
            body.extend_from_slice(b"event: message");
            body.extend_from_slice(ending);
        }
        body.extend_from_slice(if gen.one_in(4) { b"data:".as_slice() } else { b"data: " });
        body.extend_from_slice(chunk.json.as_bytes());
        body.extend_from_slice(ending);
        body.extend_from_slice(ending);
    }
    match gen.below(3) {
        0 => body.extend_from_slice(b"data: [DONE]\n\n"),
        1 => body.extend_from_slice(b"data: [DONE]\n"),
        _ => {}
    }
    body
}

fn json_lines_body(chunks: &[Chunk], gen: &mut Gen<'_>) -> Vec<u8> {
    let mut body = Vec::new();
    for (n, chunk) in chunks.iter().enumerate() {
        body.extend_from_slice(chunk.json.as_bytes());
        // The last line may go without its line ending.
        if n + 1 < chunks.len() || gen.one_in(2) {
            body.extend_from_slice(if gen.one_in(3) { b"\r\n" } else { b"\n" });
        }
    }
    body
}

fn check_body(body: &[u8], direct: &Outcome, payloads: &[(Vec<u8>, bool)], what: &str) {
    let mut rng = Rng::new(seed_of(body));
    let whole = accumulate_body(&[body], Format::Auto);
    assert_eq!(whole.frame_error, None, "{what}");
    assert_eq!(whole.payloads, payloads, "{what}: the body's payloads are not the chunks");
    assert_eq!(&whole.outcome, direct, "{what}: the body accumulates otherwise than its chunks");
    for pieces in [random_pieces(body, &mut rng), body.chunks(1).collect()] {
        assert_eq!(accumulate_body(&pieces, Format::Auto), whole, "{what}: a cutting differs");
    }
}

/// Two chunks each holding `count` distinct elements of one kind (choices, tool calls by index or by
/// id, delta members, top-level members, indexed list elements, content parts, members of a kept
/// object), the second merging into what the first made. Merging must stay linear: a quadratic
/// lookup takes seconds here and is reported by libFuzzer's `-timeout` (and `-report_slow_units`).
fn scale_chunks(kind: usize, count: usize) -> [String; 2] {
    let element = |i: usize| match kind {
        0 => format!(r#"{{"index":{i},"delta":{{"content":"a"}}}}"#),
        1 => format!(r#"{{"index":{i},"id":"call_{i}","function":{{"arguments":"x"}}}}"#),
        2 => format!(r#"{{"id":"call_{i}","function":{{"arguments":"x"}}}}"#),
        3 | 4 | 7 => format!(r#""k{i}":"v""#),
        5 => format!(r#"{{"index":{i},"text":"a"}}"#),
        _ => [r#"{"type":"text","text":"a"}"#, r#"{"type":"thinking","thinking":"b"}"#][i % 2].to_owned(),
    };
    let list = (0..count).map(element).collect::<Vec<_>>().join(",");
    let chunk = match kind {
        0 => format!(r#"{{"choices":[{list}]}}"#),
        1 | 2 => format!(r#"{{"choices":[{{"index":0,"delta":{{"tool_calls":[{list}]}}}}]}}"#),
        3 => format!(r#"{{"choices":[{{"index":0,"delta":{{{list}}}}}]}}"#),
        4 => format!(r#"{{{list}}}"#),
        5 => format!(r#"{{"choices":[{{"index":0,"delta":{{"items":[{list}]}}}}]}}"#),
        6 => format!(r#"{{"choices":[{{"index":0,"delta":{{"content":[{list}]}}}}]}}"#),
        _ => format!(r#"{{"x_extra":{{{list}}}}}"#),
    };
    [chunk.clone(), chunk]
}

fuzz_target!(|input: &[u8]| {
    // Inputs that start with "SCALE" (few: each takes about a second): the scale check instead.
    if let [b'S', b'C', b'A', b'L', b'E', kind, size, ..] = input {
        let count = 2000 * (1 + *size as usize % 8);
        let mut merge = Accumulator::new();
        for chunk in scale_chunks(*kind as usize % 8, count) {
            assert!(add_chunk(&mut merge, chunk.as_bytes(), false).whole(), "a scale chunk was not merged whole");
        }
        let mut json = String::new();
        merge.write_json(&mut json);
        if let Err(problem) = check_completion(&json) {
            panic!("the completion does not build: {problem}");
        }
        return;
    }
    let mut gen = Gen { input, pos: 0 };
    let mut writer = Writer { gen: &mut gen, out: String::new(), expected: Expected::default(), usage_repeats_a_key: false };
    let mut chunks = Vec::new();
    while chunks.len() < 12 && !writer.gen.exhausted() {
        chunks.push(writer.chunk());
    }
    let expected = std::mem::take(&mut writer.expected);
    // To read a finding: `CHATSSE_FUZZ_PRINT=1 target/.../accumulate_chunks FILE` prints its chunks.
    if std::env::var_os("CHATSSE_FUZZ_PRINT").is_some() {
        chunks.iter().for_each(|chunk| eprintln!("{}", chunk.json));
    }

    let mut merge = Accumulator::new();
    let reports: Vec<ChunkReport> = chunks.iter().map(|chunk| add_chunk(&mut merge, chunk.json.as_bytes(), false)).collect();
    let direct = Outcome::of(&merge, reports);
    let payloads: Vec<(Vec<u8>, bool)> = chunks.iter().map(|chunk| (chunk.json.as_bytes().to_vec(), false)).collect();

    assert_eq!(accumulate_unskipped(&payloads), direct, "skipping a repeated run changed the result");
    if let Err(problem) = check_completion(&direct.json) {
        panic!("the completion does not build: {problem}\n{}", direct.json);
    }
    if !chunks.is_empty() {
        check_body(&sse_body(&chunks, &mut gen), &direct, &payloads, "SSE");
        check_body(&json_lines_body(&chunks, &mut gen), &direct, &payloads, "JSON lines");
    }

    // The merge rules, checked when every chunk merged.
    if !direct.reports.iter().all(ChunkReport::whole) {
        return;
    }
    let completion: Value = serde_json::from_str(&direct.json).unwrap();
    let choice = |index: i64| {
        completion["choices"].as_array().unwrap().iter().find(|choice| choice["index"].to_string() == index.to_string()).cloned()
    };
    for (index, content, saw_string) in &expected.content {
        let (Some(content), true) = (content, *saw_string) else { continue };
        let choice = choice(*index).unwrap_or_else(|| panic!("choice {index} is missing"));
        assert_eq!(choice["message"]["content"].as_str(), Some(content.as_str()), "content of choice {index}");
    }
    for (index, _) in &expected.finish_reason {
        let last = expected.finish_reason.iter().rev().find(|(i, _)| i == index).unwrap();
        if let (_, Some(reason)) = last {
            let choice = choice(*index).unwrap_or_else(|| panic!("choice {index} is missing"));
            assert_eq!(choice["finish_reason"].as_str(), Some(reason.as_str()), "finish reason of choice {index}");
        }
    }
    if let Some(Some(usage)) = &expected.usage {
        let mut usage: Value = serde_json::from_str(usage).unwrap();
        // A null where the type admits none (a declared count) is left out, not the usage
        // (accumulate.rs); an undeclared member admits null.
        const COUNTS: &[&str] = &[
            "prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "cache_write_tokens", "audio_tokens",
            "text_tokens", "image_tokens", "reasoning_tokens", "accepted_prediction_tokens", "rejected_prediction_tokens",
        ];
        if let Value::Object(members) = &mut usage {
            members.retain(|key, value| !value.is_null() || !COUNTS.contains(&key.as_str()));
            for (key, details) in members.iter_mut() {
                if let (true, Value::Object(counts)) = (key.ends_with("_details"), details) {
                    counts.retain(|key, value| !value.is_null() || !COUNTS.contains(&key.as_str()));
                }
            }
        }
        assert_eq!(completion["usage"], usage, "usage");
    }
});
