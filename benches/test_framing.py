"""Group 1, framing: chatsse.SSEDecoder against the other SSE parsers on the same bytes, in one run.

Run: python -m pytest benches/test_framing.py --benchmark-only (see README, "Benchmarks").
Every competitor must produce the same number of events and each event's data is read (as every
consumer does), so nobody wins by doing less or by deferring work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import httpx
import httpx_sse
import pytest
import sseclient
from openai._streaming import SSEDecoder as OpenAISSEDecoder
from workloads import Workload, long_answer, one_mib_line

import chatsse


def chatsse_events(pieces: tuple[bytes, ...]) -> int:
    decoder = chatsse.SSEDecoder()
    feed = decoder.feed
    count = 0
    for piece in pieces:
        for event in feed(piece):
            event.data  # noqa: B018 -- read, as a consumer does
            count += 1
    decoder.close()
    return count


def count_with_data(events: Iterable[Any]) -> int:
    count = 0
    for event in events:
        event.data  # noqa: B018
        count += 1
    return count


def openai_sdk_events(pieces: tuple[bytes, ...]) -> int:
    return count_with_data(OpenAISSEDecoder().iter_bytes(iter(pieces)))


def httpx_sse_events(pieces: tuple[bytes, ...]) -> int:
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=iter(pieces))
    return count_with_data(httpx_sse.EventSource(response).iter_sse())


def sseclient_py_events(pieces: tuple[bytes, ...]) -> int:
    return count_with_data(sseclient.SSEClient(iter(pieces)).events())


PARSERS: dict[str, Callable[[tuple[bytes, ...]], int]] = {
    "chatsse": chatsse_events,
    "openai-sdk": openai_sdk_events,
    "httpx-sse": httpx_sse_events,
    "sseclient-py": sseclient_py_events,
}

WORKLOADS = {"long-answer": long_answer(), "1mib-line": one_mib_line()}


@pytest.mark.parametrize("approach", PARSERS)
@pytest.mark.parametrize("workload_name", WORKLOADS)
def test_framing(benchmark, approach: str, workload_name: str) -> None:  # type: ignore[no-untyped-def]
    workload: Workload = WORKLOADS[workload_name]
    run = PARSERS[approach]
    benchmark.group = f"framing: {workload.name}"
    benchmark.extra_info.update(events=workload.events, bytes=workload.size)
    slow = approach != "chatsse" and workload_name == "1mib-line"
    if slow:
        count = benchmark.pedantic(run, args=(workload.pieces,), rounds=3, iterations=1)
    else:
        count = benchmark(run, workload.pieces)
    assert count == workload.events
