"""Group 3, accumulate: the final completion of a streamed body, chatsse against the other ways, same
bytes, one run. Run: python -m pytest benches/test_accumulate.py --benchmark-only"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx2
import openai
import orjson
import pytest
from baselines import dict_merge, python_merge, python_split_msgspec_chunks, python_split_payloads
from openai.lib.streaming.chat._completions import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk as SDKChunk
from workloads import Workload, long_answer

import chatsse

_sdk_client = openai.OpenAI(api_key="sk-bench", base_url="http://127.0.0.1:9/v1")


def chatsse_feed(pieces: tuple[bytes, ...]) -> str:
    accumulator = chatsse.Accumulator()
    feed = accumulator.feed
    for piece in pieces:
        feed(piece)
    accumulator.close()
    return accumulator.completion().choices[0].message.content


def python_split_msgspec_merge(pieces: tuple[bytes, ...]) -> str:
    return python_merge(python_split_msgspec_chunks(pieces))["choices"][0]["content"]


def json_dict_merge(pieces: tuple[bytes, ...]) -> str:
    return dict_merge(python_split_payloads(pieces), json.loads)["choices"][0]["content"]


def orjson_dict_merge(pieces: tuple[bytes, ...]) -> str:
    return dict_merge(python_split_payloads(pieces), orjson.loads)["choices"][0]["content"]


def openai_sdk_stream_state(pieces: tuple[bytes, ...]) -> str:
    """The SDK's pipeline: openai.Stream for the chunks, ChatCompletionStreamState to merge them."""
    request = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    response = httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=iter(pieces), request=request)
    state = ChatCompletionStreamState()
    for chunk in openai.Stream(cast_to=SDKChunk, response=response, client=_sdk_client):
        state.handle_chunk(chunk)
    return state.get_final_completion().choices[0].message.content


APPROACHES: dict[str, Callable[[tuple[bytes, ...]], str]] = {
    "chatsse": chatsse_feed,
    "python-split+msgspec+python-merge": python_split_msgspec_merge,
    "orjson+dict-merge": orjson_dict_merge,
    "json+dict-merge": json_dict_merge,
    "openai-sdk": openai_sdk_stream_state,
}

WORKLOADS = {"long-answer": long_answer()}


@pytest.mark.parametrize("approach", APPROACHES)
@pytest.mark.parametrize("workload_name", WORKLOADS)
def test_accumulate(benchmark, approach: str, workload_name: str) -> None:  # type: ignore[no-untyped-def]
    workload: Workload = WORKLOADS[workload_name]
    benchmark.group = f"accumulate: {workload.name}"
    benchmark.extra_info.update(events=workload.events - 1, bytes=workload.size)
    run = APPROACHES[approach]
    expected = chatsse_feed(workload.pieces)
    if approach == "openai-sdk":
        # Slow enough that a few rounds say all there is to say.
        content = benchmark.pedantic(run, args=(workload.pieces,), rounds=3, iterations=1)
    else:
        content = benchmark(run, workload.pieces)
    assert content == expected
