"""The suite's inputs: the generated streams of `chatsse._bench` in both cuttings, the recorded provider
streams of ../shared/corpus, the non-streamed bodies, and the pathological inputs. Everything is
deterministic: the same bytes on every run and every machine."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from chatsse._bench import (
    tiny_pieces,
    sse_body,
    CUTTINGS,
    Workload,
    answer_payloads,
    completion_bodies,
    completion_workload,
    generated_workloads,
    logprob_payloads,
    one_mib_line,
    stream_workload,
)

import chatsse

CORPUS = Path(os.environ.get("CHATSSE_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "corpus")

# Captures on which some alternative fails or gives another answer than chatsse (what it gets wrong is the
# point of chatsse, but there is nothing to compare on them), and the two that end in a provider's error.
CORPUS_LEFT_OUT = {
    "anthropic-gateway-tool-index-1": "tool calls numbered from 1: the SDK's merge raises IndexError",
    "copilot-claude-tool-calls-same-index": "a new call at a taken index: every other merge joins the calls",
    "groq-tool-use-failed-error": "ends in a provider error",
    "openrouter-reasoning-error-midstream": "ends in a provider error",
    "mistral-magistral-thinking-array": "content as a list of parts: the Python merges and the SDK fail",
    "mistral-tool-call-whole-no-index": "tool calls without index: the dict merges and the SDK fail",
    "openai-audio-output": "audio deltas: the SDK's merge raises TypeError",
    "openai-finish-length": "finish_reason length: the SDK's merge raises LengthFinishReasonError",
    "vllm-opt125m-stop-reason": "finish_reason length: the SDK's merge raises LengthFinishReasonError",
    "openrouter-web-search-annotations": "annotations without index: the SDK's merge raises RuntimeError",
}


def corpus_workload(cutting: str) -> Workload | None:
    """The recorded captures every alternative agrees on, each its own stream; None without the corpus."""
    paths = sorted(path for path in CORPUS.glob("*.sse") if path.stem not in CORPUS_LEFT_OUT)
    if not paths:
        return None
    bodies = [path.read_bytes() for path in paths]
    # Counted by chatsse; that every alternative counts the same is what the suite asserts.
    chunks = sum(1 for body in bodies for _ in chatsse.iter_chunks([body]))
    events = sum(len(chatsse.SSEDecoder().feed(body)) for body in bodies)
    cut = CUTTINGS[cutting]
    return Workload(f"{len(paths)} provider captures", cutting, tuple(cut(body) for body in bodies), chunks, events)


@cache
def streams() -> dict[str, Workload]:
    """Every stream workload, by label, socket cuts first."""
    workloads: dict[str, Workload] = {}
    for cutting in CUTTINGS:
        for workload in [*generated_workloads(cutting), corpus_workload(cutting)]:
            if workload is not None:
                workloads[workload.label] = workload
    return workloads


@cache
def completions() -> dict[str, Workload]:
    return {name: completion_workload(name, body) for name, body in completion_bodies().items()}


#: Stream lengths for the scaling benchmarks: per-chunk cost must not grow with the stream.
ANSWER_SIZES = (1_000, 10_000, 100_000)
LOGPROB_SIZES = (250, 1_000, 10_000)


@cache
def scaling(kind: str, chunks: int) -> Workload:
    payloads = answer_payloads(chunks) if kind == "answer" else logprob_payloads(chunks)
    return stream_workload(f"{kind}, {chunks:,} chunks", payloads, "socket cuts")


@cache
def one_mib() -> Workload:
    return one_mib_line()


def _one_chunk(choices: list[str]) -> str:
    return '{"id":"x","choices":[' + ",".join(choices) + "]}"


@cache
def hostile() -> dict[str, Workload]:
    """Chunks built to make lookups quadratic (issue 11): many distinct choices, members, tool calls and list
    indexes in one payload or across a stream, and a blank start of 1 MiB in 64-byte pieces. Both approaches
    of the group must give the same counts on each."""
    many = 100_000
    bodies = {
        f"{many:,} choices, one chunk": [_one_chunk([f'{{"index":{i},"delta":{{"content":"x"}}}}' for i in range(many)])],
        f"{many:,} choice indexes over 100 chunks": [
            _one_chunk([f'{{"index":{i},"delta":{{"content":"x"}}}}' for i in range(start, start + 1000)])
            for start in range(0, many, 1000)
        ],
        "40,000 delta members, one chunk": [
            _one_chunk(['{"index":0,"delta":{' + ",".join(f'"k{k}":"v"' for k in range(40_000)) + "}}"])
        ],
        "20,000 tool calls, one chunk": [
            _one_chunk(['{"index":0,"delta":{"tool_calls":['
                        + ",".join(f'{{"index":{i},"id":"c{i}","function":{{"name":"f","arguments":"{{}}"}}}}' for i in range(20_000))
                        + "]}}"])
        ],
        "20,000 reasoning_details indexes, one chunk": [
            _one_chunk(['{"index":0,"delta":{"reasoning_details":['
                        + ",".join(f'{{"index":{i},"type":"reasoning.text","text":"t"}}' for i in range(20_000)) + "]}}"])
        ],
    }
    workloads = {
        name: Workload(name, "socket cuts", (CUTTINGS["socket cuts"](sse_body(payloads)),), len(payloads), len(payloads) + 1)
        for name, payloads in bodies.items()
    }
    blank = b"\n" * (1 << 20) + sse_body([_one_chunk(['{"index":0,"delta":{"content":"x"}}'])])
    workloads["1 MiB blank start"] = Workload("1 MiB blank start", "64-byte pieces", (tiny_pieces(blank),), 1, 2)
    return workloads
