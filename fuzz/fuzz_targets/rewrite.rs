//! The rewriter driven as `chatsse.Rewriter` drives it (src/python/rewriter.rs): payloads from a
//! `PayloadStream`, merged by the accumulator (`add_chunk`), each one merged whole rewritten with the
//! merge's `member_ends`; the rest of the body passed on after a framing error or at the end.
//!
//! - Any cutting gives the same output, with the gateway rules and with rules inside the delta.
//! - No rule: the output is the body, byte for byte, whatever it holds.
#![no_main]

use chatsse::accumulate::Accumulator;
use chatsse::payload_stream::{Format, PayloadStream};
use chatsse::rewrite::{Rewriter, Rules};
use chatsse_fuzz::accumulate::add_chunk;
use chatsse_fuzz::cuts::cuttings;
use libfuzzer_sys::fuzz_target;

fn rewrite(rules: &Rules, pieces: &[&[u8]], limit: usize) -> Vec<u8> {
    let mut stream = PayloadStream::new(Format::Auto, limit);
    let mut merge = Accumulator::new();
    merge.record_member_ends();
    let mut rewriter = Rewriter::new(rules.clone());
    let mut out = Vec::new();
    for piece in pieces {
        if rewriter.passing_through() {
            out.extend_from_slice(piece);
            continue;
        }
        let fed = stream.feed(piece, |payload| {
            if add_chunk(&mut merge, payload.bytes, payload.error_event).whole() && !payload.error_event {
                rewriter.payload(piece, &payload, merge.member_ends(), &mut out);
            }
            Ok::<(), ()>(())
        });
        match fed {
            Ok(()) => rewriter.end(piece, stream.complete_offset(), &mut out),
            Err(_) => {
                rewriter.pass_rest(piece, &mut out);
                rewriter.pass_through();
            }
        }
    }
    if !rewriter.passing_through() {
        let _ = stream.finish(|payload| {
            if !payload.is_cut_short() && add_chunk(&mut merge, payload.bytes, payload.error_event).whole() && !payload.error_event {
                rewriter.payload(&[], &payload, merge.member_ends(), &mut out);
            }
            Ok::<(), ()>(())
        });
        rewriter.pass_rest(&[], &mut out);
    }
    out
}

fn gateway() -> Rules {
    let mut rules = Rules::new();
    rules.set("model", b"\"house-model\"").unwrap();
    rules.drop("obfuscation").unwrap();
    rules.drop_usage_only(true);
    rules
}

fn inside() -> Rules {
    let mut rules = Rules::new();
    rules.drop("choices.delta.p").unwrap();
    rules.rename("choices.delta.reasoning", "reasoning_content").unwrap();
    rules.set("choices.delta.role", b"\"assistant\"").unwrap();
    rules
}

fuzz_target!(|body: &[u8]| {
    for limit in [1 << 20, 64] {
        for rules in [gateway(), inside()] {
            let mut runs = cuttings(body).into_iter().map(|pieces| rewrite(&rules, &pieces, limit));
            let whole = runs.next().unwrap();
            for other in runs {
                assert_eq!(other, whole, "another cutting, another output");
            }
        }
        for pieces in cuttings(body) {
            assert_eq!(rewrite(&Rules::new(), &pieces, limit), body, "no rule must be the identity");
        }
    }
});
