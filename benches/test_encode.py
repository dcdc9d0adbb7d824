"""Group 6, bytes out: `chatsse.encode` against `msgspec.json.encode` on the same Structs (msgspec drops
the undeclared members, chatsse writes them) and against the Python walk it replaced;
`Accumulator.add` of chunk objects against add of the same chunks' bytes; `completion_to_stream` +
`accumulate` round trip of the long answer against a Python generator of the same chunk dicts dumped by
`json.dumps` (then accumulated by chatsse). Each benchmark first checks that its approach gives
chatsse's result. Run: python -m pytest benches/test_encode.py --benchmark-only"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import msgspec
import pytest

import chatsse
from chatsse._bench import answer_payloads, completion_bodies, logprob_payloads, sse_body, tool_call_payloads
from chatsse._chunks import _builtins

PIECE_SIZE = 4


def python_walk(obj: Any) -> bytes:
    """What chatsse.encode did before it moved to Rust."""
    return msgspec.json.encode(_builtins(obj))


@cache
def encode_workloads() -> dict[str, list[Any]]:
    """Structs to encode, decoded once: chunks of three shapes, and whole completions."""
    bodies = completion_bodies()
    return {
        "answer chunks": [chatsse.decode_chunk(p) for p in answer_payloads(200)],
        "tool-call chunks": [chatsse.decode_chunk(p) for p in tool_call_payloads()],
        "logprobs chunks": [chatsse.decode_chunk(p) for p in logprob_payloads(200)],
        "short completion": [chatsse.decode_completion(bodies["short answer"])],
        "logprobs completion": [chatsse.decode_completion(bodies["logprobs"])],
    }


ENCODERS: dict[str, tuple[str, Callable[[Any], bytes]]] = {
    "chatsse": ("chatsse `encode` (undeclared members written)", chatsse.encode),
    "msgspec": ("`msgspec.json.encode` (undeclared members dropped)", msgspec.json.encode),
    "python-walk": ("the Python walk `encode` was (msgspec over dicts)", python_walk),
}


def record(benchmark: Any, group: str, approach: str, label: str, workload: str, count: int, size: int) -> None:
    benchmark.group = f"{group}: {workload}"
    benchmark.extra_info.update(group=group, approach=approach, label=label, workload=workload, cutting="", unit="chunks",
                                chunks=count, events=count, bytes=size)


@pytest.mark.parametrize("approach", ENCODERS)
@pytest.mark.parametrize("workload", list(encode_workloads()))
def test_encode(benchmark: Any, workload: str, approach: str) -> None:
    objects = encode_workloads()[workload]
    label, encode = ENCODERS[approach]
    expected = [python_walk(obj) for obj in objects]
    if approach == "msgspec":
        # The same JSON less the undeclared members (decoding with msgspec leaves them out).
        assert [encode(obj) for obj in objects] == [encode(msgspec.json.decode(json, type=type(obj))) for obj, json in zip(objects, expected)]
    else:
        assert [encode(obj) for obj in objects] == expected
    record(benchmark, "bytes out", approach, label, workload, len(objects), sum(map(len, expected)))
    benchmark(lambda: [encode(obj) for obj in objects])


@cache
def add_workload() -> tuple[list[bytes], list[Any]]:
    payloads = [p.encode() for p in answer_payloads(1000)]
    return payloads, [chatsse.decode_chunk(p) for p in payloads]


def add_all(items: list[Any]) -> bytes:
    accumulator = chatsse.Accumulator()
    add = accumulator.add
    for item in items:
        add(item)
    return accumulator.to_json()


@pytest.mark.parametrize("approach", ["chatsse", "bytes"])
def test_accumulator_add(benchmark: Any, approach: str) -> None:
    payloads, objects = add_workload()
    items = objects if approach == "chatsse" else payloads
    assert add_all(items) == add_all(payloads)
    label = "`Accumulator.add(chunk)`, a ChatCompletionChunk" if approach == "chatsse" else "`Accumulator.add(payload)`, its bytes"
    record(benchmark, "accumulator add", approach, label, "answer chunks", len(items), sum(map(len, payloads)))
    benchmark(add_all, items)


@cache
def long_answer() -> bytes:
    """The completion the long answer of chatsse._bench adds up to."""
    accumulator = chatsse.Accumulator()
    accumulator.feed(sse_body(answer_payloads(10_000)))
    accumulator.close()
    return accumulator.to_json()


def python_chunks(body: bytes, piece_size: int = PIECE_SIZE) -> Iterator[bytes]:
    """The same chunks as completion_to_stream, built as dicts and dumped by json.dumps: the header on
    every chunk, a role chunk, the content in pieces, the finish chunk, the usage chunk, [DONE]."""
    completion = json.loads(body)
    head = {"id": completion["id"], "object": "chat.completion.chunk", "created": completion["created"], "model": completion["model"]}
    for key in ("service_tier", "system_fingerprint"):
        if key in completion:
            head[key] = completion[key]
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for choice in completion["choices"]:
        index, message = choice["index"], choice["message"]
        role_delta = {"role": message.get("role") or "assistant"}
        role_delta.update((key, None) for key, value in message.items() if value is None and key != "role")
        logprobs = {"logprobs": None} if "logprobs" in choice and choice["logprobs"] is None else {}

        def event(delta: dict[str, Any], finish_reason: Any = None) -> bytes:
            streamed = {"index": index, "delta": delta, **logprobs, "finish_reason": finish_reason}  # noqa: B023
            return b"data: " + dumps({**head, "choices": [streamed]}).encode() + b"\n\n"

        yield event(role_delta)
        content = message.get("content")
        if isinstance(content, str):
            for at in range(0, max(len(content), 1), piece_size):
                yield event({"content": content[at:at + piece_size]})
        yield event({}, choice["finish_reason"])
    if completion.get("usage") is not None:
        yield b"data: " + dumps({**head, "choices": [], "usage": completion["usage"]}).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"


ROUND_TRIPS: dict[str, tuple[str, Callable[[bytes], Any]]] = {
    "chatsse": ("chatsse `completion_to_stream`, then `accumulate`", lambda body: chatsse.accumulate(chatsse.completion_to_stream(body, piece_size=PIECE_SIZE))),
    "python-generator": ("a Python generator of chunk dicts + `json.dumps`, then chatsse `accumulate`", lambda body: chatsse.accumulate(python_chunks(body))),
}


@pytest.mark.parametrize("approach", ROUND_TRIPS)
def test_completion_to_stream_round_trip(benchmark: Any, approach: str) -> None:
    body = long_answer()
    label, run = ROUND_TRIPS[approach]
    assert chatsse.encode(run(body)) == chatsse.encode(chatsse.decode_completion(body))
    events = chatsse.completion_to_stream(body, piece_size=PIECE_SIZE)
    # The generator makes the very same events, byte for byte.
    assert list(python_chunks(body)) == events
    record(benchmark, "to stream", approach, label, "long answer", len(events), sum(map(len, events)))
    benchmark.pedantic(run, args=(body,), rounds=15, iterations=1, warmup_rounds=1)
