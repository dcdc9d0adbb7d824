"""Group "rewrite": a gateway's rewriting of a stream in flight (its own model alias, OpenAI's
`obfuscation` dropped, the usage-only chunk hidden), with the bill taken from what the upstream sent,
against the plain tap (`Accumulator.feed`, the bytes forwarded as they came) and against the Python path
(SSEDecoder -> decode_chunk -> mutate -> encode -> b"data: ...\\n\\n", beside the same Accumulator).
Same pieces, one run; the rewritten chunks and the bill must agree between the two rewriters.
Run: python -m pytest benches/test_rewrite.py --benchmark-only"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from workloads import streams

import chatsse
from chatsse._bench import Workload

ALIAS = "house-model"
WORKLOADS = [
    label
    for label in streams()
    if label.startswith(("long answer", "34 provider captures"))
]

Pieces = tuple[bytes, ...]


def tap(pieces: Pieces) -> tuple[list[bytes], bytes | None]:
    """The plain tap: every piece forwarded as it came, an Accumulator reading it."""
    accumulator = chatsse.Accumulator()
    feed = accumulator.feed
    sent: list[bytes] = []
    send = sent.append
    for piece in pieces:
        try:
            feed(piece)
        except chatsse.ChatSSEError:
            pass
        send(piece)
    accumulator.close()
    return sent, accumulator.usage_json()


def rewriter(pieces: Pieces) -> tuple[list[bytes], bytes | None]:
    rewriter = chatsse.Rewriter(set={"model": ALIAS}, drop=["obfuscation"], drop_usage_only=True)
    feed = rewriter.feed
    sent: list[bytes] = []
    send = sent.append
    for piece in pieces:
        try:
            out = feed(piece)
        except chatsse.ChatSSEError:
            out = rewriter.take()
        if out:
            send(out)
    send(rewriter.close())
    return sent, rewriter.usage_json()


def python_path(pieces: Pieces) -> tuple[list[bytes], bytes | None]:
    """What a proxy author writes today: frame, decode each chunk, change it, encode it again; the
    Accumulator beside it for the bill. Comments and other fields are lost on the way."""
    accumulator = chatsse.Accumulator()
    decoder = chatsse.SSEDecoder()
    decode, encode, unset = chatsse.decode_chunk, chatsse.encode, msgspec.UNSET
    sent: list[bytes] = []
    send = sent.append
    for piece in pieces:
        try:
            accumulator.feed(piece)
        except chatsse.ChatSSEError:
            pass
        out: list[bytes] = []
        for event in decoder.feed(piece):
            if event.data == "[DONE]":
                out.append(b"data: [DONE]\n\n")
                continue
            chunk = decode(event.data)
            if not chunk.choices and chunk.usage:
                continue
            chunk.model = ALIAS
            chunk.obfuscation = unset
            out.append(b"data: " + encode(chunk) + b"\n\n")
        if out:
            send(b"".join(out))
    accumulator.close()
    return sent, accumulator.usage_json()


APPROACHES: dict[str, tuple[str, Callable[[Pieces], tuple[list[bytes], bytes | None]]]] = {
    "chatsse-tap": ("chatsse tap (`Accumulator.feed`, bytes forwarded as they came)", tap),
    "chatsse-rewriter": ("chatsse `Rewriter.feed` (alias + drop `obfuscation` + drop the usage-only chunk)", rewriter),
    "python-path": ("SSEDecoder -> decode_chunk -> mutate -> encode, beside the Accumulator", python_path),
}


def chunks_sent(sent: list[bytes]) -> list[Any]:
    """The chunks a client reads from what was sent (for agreeing, never timed)."""
    return [json.loads(event.data) for event in chatsse.iter_events(sent) if event.data != "[DONE]"]


def run(approach: Callable[[Pieces], Any], workload: Workload) -> list[Any]:
    return [approach(pieces) for pieces in workload.streams]


@pytest.mark.parametrize("key", APPROACHES)
@pytest.mark.parametrize("label", WORKLOADS)
def test_rewrite(benchmark: Any, label: str, key: str) -> None:
    workload = streams()[label]
    name, approach = APPROACHES[key]
    results = run(approach, workload)
    expected = run(tap, workload)
    for (sent, bill), (upstream, upstream_bill) in zip(results, expected):
        assert bill == upstream_bill, "the bill is what the upstream sent"
        if key != "chatsse-tap":
            reference = [chunk for chunk in chunks_sent(upstream) if not (chunk["choices"] == [] and chunk.get("usage"))]
            for chunk in reference:
                chunk["model"] = ALIAS
                chunk.pop("obfuscation", None)
            assert chunks_sent(sent) == reference, f"{key} sends other chunks"
    benchmark.group = f"rewrite: {label}"
    benchmark.extra_info.update(
        group="rewrite", approach=key, label=name, workload=workload.name, cutting=workload.cutting,
        unit="chunks", chunks=workload.chunks, events=workload.events, bytes=workload.size,
    )
    benchmark(run, approach, workload)
