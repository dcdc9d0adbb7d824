"""Group 5, pathological input: a 1 MiB line in 64-byte pieces (quadratic rescanning shows there), streams of
growing length, on which the cost per chunk must stay flat, and hostile chunks (many distinct choices, members,
tool calls, list indexes; a 1 MiB blank start), on which the merge must stay linear.
Run: python -m pytest benches/test_pathological.py --benchmark-only"""

from __future__ import annotations

import json
from typing import Any

import pytest
from workloads import ANSWER_SIZES, LOGPROB_SIZES, hostile, one_mib, scaling

from chatsse import Accumulator, iter_chunks
from chatsse._bench import ACCUMULATE, CHATSSE_TO_JSON, FRAMING, TYPED_CHUNKS, Approach, Group

# The SDK's runs past these lengths take minutes (its merge re-serialises the whole message, logprobs
# included, on every chunk); the shorter ones show the trend.
SDK_LONGEST = {"answer": 10_000, "logprobs": 1_000}

SCALING = [(ACCUMULATE, ACCUMULATE.approaches[0]), (ACCUMULATE, CHATSSE_TO_JSON),
           (TYPED_CHUNKS, TYPED_CHUNKS.approaches[0]),
           *((ACCUMULATE, approach) for approach in ACCUMULATE.approaches if approach.key in
             ("python-split+msgspec+python-merge", "openai-sdk"))]


@pytest.mark.parametrize("approach", FRAMING.approaches, ids=lambda approach: approach.key)
def test_one_mib_line(compare: Any, approach: Approach) -> None:
    compare(FRAMING, approach, one_mib(), table="pathological")


@pytest.mark.parametrize(("kind", "chunks"), [*(("answer", n) for n in ANSWER_SIZES),
                                              *(("logprobs", n) for n in LOGPROB_SIZES)])
@pytest.mark.parametrize(("group", "approach"), SCALING, ids=[f"{g.name}/{a.key}" for g, a in SCALING])
def test_scaling(compare: Any, kind: str, chunks: int, group: Group, approach: Approach) -> None:
    if approach.key == "openai-sdk" and chunks > SDK_LONGEST[kind]:
        pytest.skip(f"the SDK on {chunks:,} chunks: minutes")
    compare(group, approach, scaling(kind, chunks), table="scaling", series=kind)


def accumulator_counts(result: Any) -> tuple[int, int, int, int]:
    """Choices, tool calls, undeclared message members and list elements of a merged completion (its JSON)."""
    choices = json.loads(result.to_json())["choices"]
    messages = [choice["message"] for choice in choices]
    return (len(choices), sum(len(m.get("tool_calls") or ()) for m in messages),
            sum(len([k for k in m if k.startswith("k")]) for m in messages),
            sum(len(m.get("reasoning_details") or ()) for m in messages))


def chunk_counts(chunks: list[Any]) -> tuple[int, int, int, int]:
    """The same counts from the typed chunks, whose choices, calls and indexes are all distinct here."""
    deltas = [choice.delta for chunk in chunks for choice in chunk.choices]
    return (len(deltas), sum(len(d.tool_calls or ()) for d in deltas),
            sum(len([k for k in d.__dict__ if k.startswith("k")]) for d in deltas),
            sum(len(d.__dict__.get("reasoning_details") or ()) for d in deltas))


def outcome(result: Any) -> tuple[int, int, int, int]:
    return accumulator_counts(result) if isinstance(result, Accumulator) else chunk_counts(result)


def fed(pieces: tuple[bytes, ...]) -> Accumulator:
    accumulator = Accumulator()
    for piece in pieces:
        accumulator.feed(piece)
    accumulator.close()
    return accumulator


# The accumulator's time must stay linear: within 5x of decoding the same payloads into typed chunks, which is.
HOSTILE = Group("hostile chunks", "chunks", (
    Approach("chatsse", "chatsse `Accumulator.feed` (the tap)", lambda: fed),
    Approach("chatsse-iter-chunks", "chatsse `iter_chunks` (decode only, no merge)", lambda: lambda pieces: list(iter_chunks(pieces))),
), outcome)


@pytest.mark.parametrize("name", sorted(hostile()))
@pytest.mark.parametrize("approach", HOSTILE.approaches, ids=lambda approach: approach.key)
def test_hostile_chunks(compare: Any, name: str, approach: Approach) -> None:
    compare(HOSTILE, approach, hostile()[name], table="hostile")
