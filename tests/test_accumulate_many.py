"""accumulate_many: for each body what accumulate gives (or raises, in its place), on all cores."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

import chatsse
from chatsse import (
    ChatCompletion,
    DecodeError,
    EventTooLargeError,
    IncompleteStreamWarning,
    TruncatedStreamError,
    UpstreamError,
)
from chatsse._bench import answer_payloads, logprob_payloads, multi_choice_payloads, reasoning_payloads, sse_body, tool_call_payloads


def chunk(content: str, finish: str | None = None) -> str:
    return json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                       "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]})


def sse(*payloads: str, done: bool = True) -> bytes:
    return b"".join(f"data: {payload}\n\n".encode() for payload in (*payloads, *(["[DONE]"] if done else [])))


GENERATED = [
    sse_body(answer_payloads(500, seed=1)),
    sse_body(tool_call_payloads(calls=4, seed=2)),
    sse_body(reasoning_payloads(300, 100, seed=3)),
    sse_body(logprob_payloads(200, seed=4)),
    sse_body(multi_choice_payloads(3, 100, seed=5)),
]


def test_each_body_gives_what_accumulate_gives() -> None:
    bodies = GENERATED * 3
    expected = [chatsse.accumulate([body]) for body in bodies]
    assert chatsse.accumulate_many(bodies) == expected
    assert chatsse.accumulate_many(bodies, workers=1) == expected
    assert chatsse.accumulate_many(bodies, workers=7) == expected


def test_corpus_bodies(corpus: Path) -> None:
    bodies = [path.read_bytes() for path in sorted(corpus.glob("*.sse"))]
    expected: list[Any] = []
    for body in bodies:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", IncompleteStreamWarning)
                expected.append(chatsse.encode(chatsse.accumulate([body])))
        except chatsse.ChatSSEError as error:
            expected.append((type(error), str(error), chatsse.encode(error.completion)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IncompleteStreamWarning)
        results = chatsse.accumulate_many(bodies)
    got = [
        (type(result), str(result), chatsse.encode(result.completion)) if isinstance(result, Exception) else chatsse.encode(result)
        for result in results
    ]
    assert got == expected


def test_as_json_is_to_json() -> None:
    expected = []
    for body in GENERATED:
        accumulator = chatsse.Accumulator()
        accumulator.feed(body)
        expected.append(accumulator.to_json())
    assert chatsse.accumulate_many(GENERATED, as_json=True) == expected


def test_a_failing_body_takes_its_error_in_its_place() -> None:
    good = sse(chunk("fine", "stop"))
    bad_json = sse(chunk("a"), '{"choices": [', chunk("b", "stop"))
    upstream = sse(chunk("before"), '{"error": {"message": "overloaded", "type": "server_error"}}')
    cut_inside = sse(chunk("a"), done=False) + b'data: {"choices": [{"index": 0, "delta": {"content": "x'
    results = chatsse.accumulate_many([good, bad_json, upstream, cut_inside, good], strict=True)
    assert [type(result) for result in results] == [ChatCompletion, DecodeError, UpstreamError, TruncatedStreamError, ChatCompletion]
    for index, body in [(1, bad_json), (2, upstream), (3, cut_inside)]:
        with pytest.raises(chatsse.ChatSSEError) as raised:
            chatsse.accumulate([body], strict=True)
        assert type(results[index]) is type(raised.value)
        assert str(results[index]) == str(raised.value)
        assert results[index].completion == raised.value.completion
    # What arrived before the failure (DecodeError: and after it, in the same piece) is kept.
    assert results[1].completion.choices[0].message.content == "ab"
    assert results[2].completion.choices[0].message.content == "before"
    assert results[2].message == "overloaded"
    assert results[3].offset == len(cut_inside)
    assert results[0].choices[0].message.content == "fine"
    # Without strict, a body cut inside a payload is unfinished, as for accumulate: its completion, warned of.
    with pytest.warns(IncompleteStreamWarning, match=r"^1 of 1 bodies ended without \[DONE\]"):
        (unfinished,) = chatsse.accumulate_many([cut_inside])
    assert unfinished.choices[0].message.content == "a"


def test_event_too_large() -> None:
    body = sse(chunk("a" * 100, "stop"))
    (result,) = chatsse.accumulate_many([body], max_event_size=50)
    assert isinstance(result, EventTooLargeError)
    assert (result.limit, result.offset) == (50, 0)
    assert result.completion.choices == []


def test_unfinished_bodies_warn_once_or_raise_when_strict() -> None:
    finished = sse(chunk("a", "stop"), done=False)
    unfinished = sse(chunk("b"), done=False)
    with pytest.warns(IncompleteStreamWarning) as caught:
        results = chatsse.accumulate_many([finished, unfinished, unfinished])
    assert [str(warning.message) for warning in caught] == [
        "2 of 3 bodies ended without [DONE] or a finish reason on every choice (bodies 1, 2)"
    ]
    assert [result.choices[0].message.content for result in results] == ["a", "b", "b"]
    results = chatsse.accumulate_many([finished, unfinished], strict=True)
    assert results[0].choices[0].message.content == "a"
    assert isinstance(results[1], TruncatedStreamError)
    assert str(results[1]) == "the stream ended after 1 chunks without [DONE] or a finish reason on every choice"
    assert results[1].completion.choices[0].message.content == "b"


def test_inputs() -> None:
    assert chatsse.accumulate_many([]) == []
    body = sse(chunk("z", "stop"))
    expected = chatsse.accumulate([body])
    assert chatsse.accumulate_many(iter([bytearray(body), memoryview(body)])) == [expected, expected]
    assert chatsse.accumulate_many([body.replace(b"data: ", b"")], format="jsonl")[0].choices[0].message.content == "z"
    with pytest.raises(TypeError, match="expected bytes, bytearray or memoryview of bytes, got str"):
        chatsse.accumulate_many(["text"])
    with pytest.raises(ValueError, match="workers must be at least 1"):
        chatsse.accumulate_many([body], workers=0)
    with pytest.raises(ValueError, match="format must be 'auto', 'sse' or 'jsonl'"):
        chatsse.accumulate_many([body], format="xml")  # type: ignore[arg-type]
