"""Group 2, typed chunks: chatsse.iter_chunks against the other ways to get typed chunk objects from a
body, on the same bytes in one run. Run: python -m pytest benches/test_chunks.py --benchmark-only"""

from __future__ import annotations

from collections.abc import Callable

import httpx2
import openai
import pytest
from baselines import python_split_msgspec_chunks
from openai.types.chat import ChatCompletionChunk as SDKChunk
from workloads import Workload, long_answer

import chatsse

_sdk_client = openai.OpenAI(api_key="sk-bench", base_url="http://127.0.0.1:9/v1")


def chatsse_chunks(pieces: tuple[bytes, ...]) -> int:
    return sum(1 for _ in chatsse.iter_chunks(pieces))


def python_split_msgspec(pieces: tuple[bytes, ...]) -> int:
    return sum(1 for _ in python_split_msgspec_chunks(pieces))


def openai_sdk_stream(pieces: tuple[bytes, ...]) -> int:
    """The SDK's own pipeline: its SSE decoder, json.loads, and its model construction (openai.Stream)."""
    request = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    response = httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=iter(pieces), request=request)
    return sum(1 for _ in openai.Stream(cast_to=SDKChunk, response=response, client=_sdk_client))


APPROACHES: dict[str, Callable[[tuple[bytes, ...]], int]] = {
    "chatsse": chatsse_chunks,
    "python-split+msgspec": python_split_msgspec,
    "openai-sdk": openai_sdk_stream,
}

WORKLOADS = {"long-answer": long_answer()}


@pytest.mark.parametrize("approach", APPROACHES)
@pytest.mark.parametrize("workload_name", WORKLOADS)
def test_typed_chunks(benchmark, approach: str, workload_name: str) -> None:  # type: ignore[no-untyped-def]
    workload: Workload = WORKLOADS[workload_name]
    benchmark.group = f"typed chunks: {workload.name}"
    benchmark.extra_info.update(events=workload.events - 1, bytes=workload.size)  # [DONE] is no chunk
    assert benchmark(APPROACHES[approach], workload.pieces) == workload.events - 1
