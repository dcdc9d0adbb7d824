//! The Rust core alone, no Python: the ceiling of this design, which the Python API is measured against
//! (README, "Benchmarks"). Run: `cargo bench --bench core`.
//!
//! The input is the suite's long answer byte for byte: the same splitmix64 draws of the same words as
//! `answer_payloads` in python/chatsse/_bench.py, cut the same way (`socket_cuts`, `tiny_pieces`).
//! A change to one generator must be made to the other; `answer_body` checks the length it knows.

use std::hint::black_box;

use chatsse::accumulate::Accumulator;
use chatsse::event_stream::{EventStreamDecoder, DEFAULT_MAX_EVENT_SIZE};
use chatsse::payload_stream::{Format, PayloadStream};
use divan::counter::{BytesCount, ItemsCount};
use divan::Bencher;

fn main() {
    divan::main();
}

/// splitmix64 (Steele, Lea and Flood, 2014), as `SplitMix64` in _bench.py.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

const WORDS: [&str; 35] = [
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "was", "on", "be", "by", "this", "are",
    "or", "from", "at", "which", "an", "not", "have", "stream", "event", "chunk", "delta", "choice", "token",
    "answer", "model", "request", "server", "client",
];

const HEAD: &str = r#"{"id":"chatcmpl-BENCH0123456789abcdefghij","object":"chat.completion.chunk","created":1763700000,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_b1c2d3e4f5","#;

/// The SSE body of a chat answer of `tokens` token chunks, plus its role, finish and usage chunks and
/// `[DONE]`: `sse_body(answer_payloads(tokens))` in _bench.py.
fn answer_body(tokens: usize) -> Vec<u8> {
    let mut rng = SplitMix64(7);
    let mut out = String::new();
    out.push_str(&format!(
        "data: {HEAD}\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
    ));
    for _ in 0..tokens {
        let word = WORDS[rng.below(WORDS.len() as u64) as usize];
        let padding = rng.next() >> 24;
        out.push_str(&format!(
            "data: {HEAD}\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\" {word}\"}},\"logprobs\":null,\"finish_reason\":null}}],\"obfuscation\":\"{padding:x}\"}}\n\n"
        ));
    }
    out.push_str(&format!(
        "data: {HEAD}\"choices\":[{{\"index\":0,\"delta\":{{}},\"logprobs\":null,\"finish_reason\":\"stop\"}}]}}\n\n"
    ));
    out.push_str(&format!(
        "data: {HEAD}\"choices\":[],\"usage\":{{\"prompt_tokens\":20,\"completion_tokens\":{tokens},\"total_tokens\":{}}}}}\n\n",
        tokens + 20
    ));
    out.push_str("data: [DONE]\n\n");
    if tokens == 10_000 {
        // Python's long answer is this long: a drift of either generator shows here.
        assert_eq!(out.len(), LONG_ANSWER_BYTES, "the long answer differs from python/chatsse/_bench.py's");
    }
    out.into_bytes()
}

const LONG_ANSWER_BYTES: usize = 3_107_248;

/// Random cuts of 1-16 KiB, as `socket_cuts` in _bench.py.
fn socket_cuts(body: &[u8]) -> Vec<&[u8]> {
    let mut rng = SplitMix64(11);
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < body.len() {
        let end = (start + 1024 + rng.below(16 * 1024 - 1024 + 1) as usize).min(body.len());
        pieces.push(&body[start..end]);
        start = end;
    }
    pieces
}

fn cut<'a>(body: &'a [u8], cutting: &str) -> Vec<&'a [u8]> {
    match cutting {
        "socket cuts" => socket_cuts(body),
        _ => body.chunks(64).collect(),
    }
}

const CUTTINGS: [&str; 2] = ["socket cuts", "64-byte pieces"];

/// The framer: `SSEDecoder.feed` without the Python objects. Counts events and reads each one's data.
#[divan::bench(args = CUTTINGS)]
fn frame_events(bencher: Bencher, cutting: &str) {
    let body = answer_body(10_000);
    let pieces = cut(&body, cutting);
    bencher.counter(ItemsCount::new(10_004usize)).counter(BytesCount::new(body.len())).bench_local(|| {
        let mut decoder = EventStreamDecoder::new(DEFAULT_MAX_EVENT_SIZE);
        let mut events = 0usize;
        for piece in &pieces {
            decoder
                .feed(black_box(piece), |event| {
                    black_box(event.data);
                    events += 1;
                })
                .expect("a valid stream");
        }
        decoder.close();
        assert_eq!(events, 10_004);
    });
}

/// The chat-stream rules over the framer (format, `[DONE]`, empty payloads): what every consumer runs.
#[divan::bench(args = CUTTINGS)]
fn payloads(bencher: Bencher, cutting: &str) {
    let body = answer_body(10_000);
    let pieces = cut(&body, cutting);
    bencher.counter(ItemsCount::new(10_003usize)).counter(BytesCount::new(body.len())).bench_local(|| {
        let mut stream = PayloadStream::new(Format::Auto, DEFAULT_MAX_EVENT_SIZE);
        let mut chunks = 0usize;
        for piece in &pieces {
            stream
                .feed(black_box(piece), |payload| {
                    black_box(payload.bytes);
                    chunks += 1;
                    Ok::<(), ()>(())
                })
                .expect("a valid stream");
        }
        assert_eq!(chunks, 10_003);
    });
}

/// What `Accumulator.feed` then `to_json()` do, all in Rust: frame, parse, merge, write the completion.
fn accumulate(pieces: &[&[u8]]) -> String {
    let mut stream = PayloadStream::new(Format::Auto, DEFAULT_MAX_EVENT_SIZE);
    let mut merge = Accumulator::new();
    for piece in pieces {
        stream.feed(black_box(piece), |payload| merge.add(payload.bytes).map(drop)).expect("a valid stream");
    }
    stream.finish(|payload| merge.add(payload.bytes).map(drop)).expect("a valid stream");
    let mut completion = String::new();
    merge.write_json(&mut completion);
    completion
}

#[divan::bench(args = CUTTINGS)]
fn accumulate_answer(bencher: Bencher, cutting: &str) {
    let body = answer_body(10_000);
    let pieces = cut(&body, cutting);
    bencher
        .counter(ItemsCount::new(10_003usize))
        .counter(BytesCount::new(body.len()))
        .bench_local(|| accumulate(&pieces));
}

/// The same on answers of 1,000 to 100,000 chunks: the cost per chunk must not grow with the stream.
#[divan::bench(args = [1_000, 10_000, 100_000])]
fn accumulate_scaling(bencher: Bencher, tokens: usize) {
    let body = answer_body(tokens);
    let pieces = socket_cuts(&body);
    bencher.counter(ItemsCount::new(tokens + 3)).bench_local(|| accumulate(&pieces));
}
