"""Group 5, pathological input: a 1 MiB line in 64-byte pieces (quadratic rescanning shows there), and
streams of growing length, on which the cost per chunk must stay flat.
Run: python -m pytest benches/test_pathological.py --benchmark-only"""

from __future__ import annotations

from typing import Any

import pytest
from workloads import ANSWER_SIZES, LOGPROB_SIZES, one_mib, scaling

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
