"""Accumulator, accumulate and aaccumulate: the completion a stream adds up to.

1. Differential against the openai SDK (ChatCompletionStreamState fed through the SDK's own client, SSE
   decoder and chunk models) on generated OpenAI-style streams cut anywhere, and on the OpenAI corpus files.
2. Where the SDK is wrong: one test each, asserting what the SDK produces and what we produce.
3. Every corpus file: a table of expected values, checked against our completion and against a naive merge
   written here (so the table is not a copy of our output).
4. The merge rules of src/accumulate.rs, one test each, through ``feed`` of SSE bodies; the Accumulator API.
5. Memory: 100,000 chunks are merged without being kept.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tracemalloc
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.lib.streaming.chat import ChatCompletionStreamState

from chatsse import (
    UNSET,
    Accumulator,
    ChatCompletion,
    ChatCompletionChunk,
    ChatSSEError,
    ChunkDecoder,
    CompletionTokensDetails,
    DecodeError,
    DecoderClosedError,
    IncompleteStreamWarning,
    PromptTokensDetails,
    TruncatedStreamError,
    UpstreamError,
    Usage,
    aaccumulate,
    accumulate,
    decode_completion,
    encode,
)

try:  # the HTTP library the installed SDK is built on (openai 3.x: httpx2; earlier: httpx)
    import httpx2 as http
except ImportError:  # pragma: no cover
    import httpx as http  # type: ignore[no-redef]

CORPUS_FILE_COUNT = 44
TEXT_FIELDS = ("content", "reasoning_content", "reasoning", "refusal")

# ---------------------------------------------------------------------------------------------------------------------
# Helpers: bodies, our side.


def sse(*payloads: dict[str, Any] | str | bytes, done: bool = True) -> bytes:
    """An SSE body: one ``data: `` event per payload (dicts as compact JSON), then ``data: [DONE]``."""
    events = []
    for payload in payloads:
        if isinstance(payload, dict):
            payload = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        if isinstance(payload, str):
            payload = payload.encode()
        events.append(b"data: " + payload + b"\n\n")
    if done:
        events.append(b"data: [DONE]\n\n")
    return b"".join(events)


def chunk(*choices: dict[str, Any], **members: Any) -> dict[str, Any]:
    """A chunk as OpenAI sends it: identity first, then ``choices``, then the given members."""
    identity = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1727346168, "model": "gpt-4o"}
    return {**identity, "choices": list(choices), **members}


def choice(index: int = 0, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    return {"index": index, "delta": delta, "finish_reason": finish}


def fed(body: bytes | Iterable[bytes], **options: Any) -> Accumulator:
    """An Accumulator fed `body` (whole, or the given pieces) and closed."""
    accumulator = Accumulator(**options)
    for piece in [body] if isinstance(body, bytes) else body:
        accumulator.feed(piece)
    accumulator.close()
    return accumulator


def merged(body: bytes | Iterable[bytes], **options: Any) -> bytes:
    return fed(body, **options).to_json()


def fed_through_errors(pieces: Iterable[bytes]) -> Accumulator:
    """Feeds every piece even when one raises (a bad or error chunk is reported once the rest is merged)."""
    accumulator = Accumulator()
    for piece in pieces:
        try:
            accumulator.feed(piece)
        except ChatSSEError:
            pass
    try:
        accumulator.close()
    except ChatSSEError:
        pass
    return accumulator


def cut(body: bytes, points: Iterable[int]) -> list[bytes]:
    bounds = [0, *sorted(set(points)), len(body)]
    return [body[start:end] for start, end in zip(bounds, bounds[1:])]


def assert_same_json(got: Any, expected: Any, path: str = "$") -> None:
    """Equal as JSON values, types included (True is not 1, 1.0 is not 1); member order ignored."""
    assert type(got) is type(expected), f"{path}: {type(got).__name__} instead of {type(expected).__name__}"
    if type(expected) is dict:
        assert sorted(got) == sorted(expected), path
        for key, value in expected.items():
            assert_same_json(got[key], value, f"{path}.{key}")
    elif type(expected) is list:
        assert len(got) == len(expected), path
        for position, (item, expected_item) in enumerate(zip(got, expected)):
            assert_same_json(item, expected_item, f"{path}[{position}]")
    elif type(expected) is float:
        assert repr(got) == repr(expected), path
    else:
        assert got == expected, path


def corpus_chunks(path: Path) -> list[dict[str, Any]]:
    """Every payload of a corpus file with json.loads: each corpus event is one ``data: `` line (LF framing,
    checked in test_sse.py); [DONE], comments and ``event:`` lines left out."""
    return [
        json.loads(line[len("data: ") :])
        for line in path.read_text(encoding="utf-8").split("\n")
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


def corpus_names(corpus: Path) -> list[str]:
    return sorted(path.name for path in corpus.glob("*.sse"))


def none_if_unset(value: Any) -> Any:
    return None if value is UNSET else value


# ---------------------------------------------------------------------------------------------------------------------
# Helpers: the SDK side. A real openai client whose transport answers with the body's pieces, so the SDK's own SSE
# decoder, [DONE] handling and chunk models run; its chunks go into ChatCompletionStreamState, as its docstring shows.


class _Body(http.SyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    def __iter__(self) -> Iterable[bytes]:
        yield from self._pieces


def sdk_client(pieces: list[bytes]) -> openai.OpenAI:
    def answer(request: http.Request) -> http.Response:
        return http.Response(200, headers={"content-type": "text/event-stream"}, stream=_Body(pieces))

    transport = http.MockTransport(answer)
    return openai.OpenAI(
        api_key="sk-test", base_url="http://sdk.test/v1", max_retries=0, http_client=http.Client(transport=transport)
    )


REQUEST: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def sdk_state(pieces: list[bytes]) -> ChatCompletionStreamState[Any]:
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    with sdk_client(pieces) as client:
        for sdk_chunk in client.chat.completions.create(**REQUEST, stream=True):
            state.handle_chunk(sdk_chunk)
    return state


def sdk_completion(pieces: list[bytes]) -> Any:
    """``get_final_completion()``; the state's snapshot when it refuses a "length" or "content_filter" finish,
    which it does even without a response_format (test_sdk_final_completion_refuses_a_length_finish)."""
    state = sdk_state(pieces)
    try:
        return state.get_final_completion()
    except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError):
        return state.current_completion_snapshot


def sdk_view(completion: Any) -> dict[str, Any]:
    def tokens(logprobs: Any, field: str) -> list[dict[str, Any]] | None:
        listed = None if logprobs is None else getattr(logprobs, field)
        return None if listed is None else [token.to_dict() for token in listed]

    return {
        "id": completion.id,
        "model": completion.model,
        "created": completion.created,
        "system_fingerprint": completion.system_fingerprint,
        "service_tier": completion.service_tier,
        "choices": [
            {
                "index": choice.index,
                "finish_reason": choice.finish_reason,
                "role": choice.message.role,
                "content": choice.message.content,
                "refusal": choice.message.refusal,
                "tool_calls": [
                    (call.id, call.type, call.function.name, call.function.arguments)
                    for call in choice.message.tool_calls or []
                ],
                "logprobs.content": tokens(choice.logprobs, "content"),
                "logprobs.refusal": tokens(choice.logprobs, "refusal"),
            }
            for choice in completion.choices
        ],
        "usage": None if completion.usage is None else completion.usage.to_dict(),
    }


def our_view(completion: ChatCompletion) -> dict[str, Any]:
    """The same fields as sdk_view, from our typed completion (absent and null both read as None)."""

    def tokens(logprobs: Any, field: str) -> list[dict[str, Any]] | None:
        logprobs = none_if_unset(logprobs)
        listed = None if logprobs is None else none_if_unset(getattr(logprobs, field))
        return None if listed is None else [json.loads(encode(token)) for token in listed]

    usage = none_if_unset(completion.usage)
    return {
        "id": completion.id,
        "model": completion.model,
        "created": completion.created,
        "system_fingerprint": none_if_unset(completion.system_fingerprint),
        "service_tier": none_if_unset(completion.service_tier),
        "choices": [
            {
                "index": choice.index,
                "finish_reason": none_if_unset(choice.finish_reason),
                "role": choice.message.role,
                "content": choice.message.content,
                "refusal": none_if_unset(choice.message.refusal),
                "tool_calls": [
                    (call.id, call.type, call.function.name, call.function.arguments)
                    for call in none_if_unset(choice.message.tool_calls) or []
                ],
                "logprobs.content": tokens(choice.logprobs, "content"),
                "logprobs.refusal": tokens(choice.logprobs, "refusal"),
            }
            for choice in completion.choices
        ],
        "usage": None if usage is None else json.loads(encode(usage)),
    }


# ---------------------------------------------------------------------------------------------------------------------
# 1. Differential against the SDK where it is right: well-formed OpenAI streams.

ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# Any code point but a lone surrogate: control characters, quotes, backslashes, astral emoji (a surrogate pair
# when escaped with ensure_ascii).
fragment_texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=10)
tool_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
call_ids = st.text(ALNUM, min_size=8, max_size=24).map("call_".__add__)
argument_objects = st.dictionaries(
    st.text(max_size=8),
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), fragment_texts
    ),
    max_size=4,
)
token_counts = st.integers(min_value=0, max_value=100_000)


@st.composite
def fragments(draw: st.DrawFn, text: str) -> list[str]:
    """`text` split at random places (empty pieces included: OpenAI sends ``"arguments": ""``)."""
    bounds = [0, *sorted(draw(st.lists(st.integers(0, len(text)), max_size=6))), len(text)]
    return [text[start:end] for start, end in zip(bounds, bounds[1:])]


@st.composite
def token_logprobs(draw: st.DrawFn, text: str) -> dict[str, Any]:
    logprob = draw(st.floats(min_value=-30, max_value=0))
    alternative = {"token": text, "logprob": logprob, "bytes": list(text.encode())}
    alternatives = draw(st.lists(st.just(alternative), max_size=1))
    return {"token": text, "logprob": logprob, "bytes": list(text.encode()), "top_logprobs": alternatives}


@st.composite
def choice_scripts(draw: st.DrawFn, logprobs_requested: bool) -> list[tuple[dict[str, Any], Any, str | None]]:
    """One choice's (delta, logprobs, finish_reason) in order, as OpenAI sends them: a role delta (content "" for
    text, refusal "" for a refusal), text fragments with their token logprobs, then tool calls one after the
    other (index, id, type and name on the first fragment only, arguments split anywhere), then an empty delta
    with the finish reason."""
    kind = draw(st.sampled_from(["content", "refusal", "tool_calls", "content_and_tool_calls"]))
    says_text = kind in ("content", "content_and_tool_calls")
    first = {"role": "assistant", "content": "" if says_text else None, "refusal": "" if kind == "refusal" else None}
    first_logprobs = None
    if logprobs_requested and kind != "tool_calls":
        first_logprobs = {"content": None, "refusal": []} if kind == "refusal" else {"content": [], "refusal": None}
    script: list[tuple[dict[str, Any], Any, str | None]] = [(first, first_logprobs, None)]
    if kind != "tool_calls":
        field = "refusal" if kind == "refusal" else "content"
        for text in draw(st.lists(fragment_texts, max_size=6)):
            logprobs = None
            if logprobs_requested:
                listed = [draw(token_logprobs(text))]
                logprobs = {"content": None, "refusal": listed}
                if kind != "refusal":
                    logprobs = {"content": listed, "refusal": None}
            script.append(({field: text}, logprobs, None))
    calls = 0
    if kind in ("tool_calls", "content_and_tool_calls"):
        calls = draw(st.integers(1 if kind == "tool_calls" else 0, 3))
        for call_index in range(calls):
            arguments = json.dumps(draw(argument_objects), ensure_ascii=draw(st.booleans()))
            header = {
                "index": call_index,
                "id": draw(call_ids),
                "type": "function",
                "function": {"name": draw(tool_names), "arguments": ""},
            }
            script.append(({"tool_calls": [header]}, None, None))
            for piece in draw(fragments(arguments)):
                script.append(({"tool_calls": [{"index": call_index, "function": {"arguments": piece}}]}, None, None))
    finish = "tool_calls" if calls else draw(st.sampled_from(["stop", "stop", "length", "content_filter"]))
    script.append(({}, None, finish))
    return script


@st.composite
def openai_streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    """The payloads of a well-formed OpenAI stream of 1-3 choices: every choice's role delta in index order, then
    the choices' other deltas interleaved at random, one choice per chunk; with stream_options.include_usage,
    "usage": null on every chunk and a last usage chunk with choices []."""
    identity: dict[str, Any] = {
        "id": "chatcmpl-" + draw(st.text(ALNUM, min_size=10, max_size=29)),
        "object": "chat.completion.chunk",
        "created": draw(st.integers(1, 2**33)),
        "model": draw(st.sampled_from(["gpt-4o-2024-08-06", "gpt-4.1-nano-2025-04-14", "gpt-5-2025-08-07"])),
    }
    tier = draw(st.sampled_from([None, "default", "flex"]))
    if tier is not None:
        identity["service_tier"] = tier
    identity["system_fingerprint"] = draw(st.sampled_from(["fp_5050236cbd", None]))
    usage_requested = draw(st.booleans())
    logprobs_requested = draw(st.booleans())
    obfuscated = draw(st.booleans())
    scripts = [draw(choice_scripts(logprobs_requested)) for _ in range(draw(st.integers(1, 3)))]
    later = [index for index, script in enumerate(scripts) for _ in script[1:]]
    order = list(range(len(scripts))) + draw(st.permutations(later))
    cursors = [0] * len(scripts)
    payloads = []
    for index in order:
        delta, logprobs, finish = scripts[index][cursors[index]]
        cursors[index] += 1
        sent = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
        payload = {**identity, "choices": [sent]}
        if usage_requested:
            payload["usage"] = None
        if obfuscated:
            payload["obfuscation"] = draw(st.text(ALNUM, max_size=12))
        payloads.append(payload)
    if usage_requested:
        prompt, completion = draw(token_counts), draw(token_counts)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }
        payloads.append({**identity, "choices": [], "usage": usage})
    return payloads


@st.composite
def sse_bodies(draw: st.DrawFn, payloads: list[dict[str, Any]]) -> bytes:
    """The payloads framed as SSE, with or without \\u escapes and spaces, LF or CRLF line endings."""
    ensure_ascii = draw(st.booleans())
    separators = draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    newline = draw(st.sampled_from([b"\n", b"\r\n"]))
    events = [b"data: " + json.dumps(p, ensure_ascii=ensure_ascii, separators=separators).encode() for p in payloads]
    return b"".join(event + newline + newline for event in [*events, b"data: [DONE]"])


@st.composite
def cuttings(draw: st.DrawFn, body: bytes) -> list[bytes]:
    return cut(body, draw(st.lists(st.integers(0, len(body)), max_size=24)))


@settings(max_examples=250, deadline=None)
@given(data=st.data())
def test_generated_openai_streams_match_the_sdk(data: st.DataObject) -> None:
    payloads = data.draw(openai_streams())
    pieces = data.draw(cuttings(data.draw(sse_bodies(payloads))))
    accumulator = fed(pieces)
    assert (accumulator.chunks, accumulator.done, accumulator.finished) == (len(payloads), True, True)
    assert our_view(accumulator.completion()) == sdk_view(sdk_completion(pieces))


def test_a_generated_stream_exercises_every_compared_field() -> None:
    """The differential compares something: one fixed example with every field set."""
    token = {"token": "Hi", "logprob": -0.25, "bytes": [72, 105], "top_logprobs": []}
    header = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}
    tier = {"service_tier": "default", "system_fingerprint": "fp_1"}
    payloads = [
        chunk(choice(role="assistant", content="", refusal=None), **tier),
        chunk(choice(1, role="assistant", content=None, refusal=""), **tier),
        chunk(choice(content="Hi"), **tier),
        chunk(choice(1, refusal="No"), **tier),
        chunk(choice(tool_calls=[header]), **tier),
        chunk(choice(tool_calls=[{"index": 0, "function": {"arguments": "{}"}}]), **tier),
        chunk(choice(finish="tool_calls"), choice(1, finish="stop"), **tier),
        chunk(usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}, **tier),
    ]
    payloads[2]["choices"][0]["logprobs"] = {"content": [token], "refusal": None}
    pieces = [sse(*payloads)]
    ours = our_view(fed(pieces).completion())
    assert ours == sdk_view(sdk_completion(pieces))
    assert ours == {
        "id": "chatcmpl-1",
        "model": "gpt-4o",
        "created": 1727346168,
        "system_fingerprint": "fp_1",
        "service_tier": "default",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "role": "assistant",
                "content": "Hi",
                "refusal": None,
                "tool_calls": [("call_1", "function", "f", "{}")],
                "logprobs.content": [token],
                "logprobs.refusal": None,
            },
            {
                "index": 1,
                "finish_reason": "stop",
                "role": "assistant",
                "content": None,
                "refusal": "No",
                "tool_calls": [],
                "logprobs.content": None,
                "logprobs.refusal": None,
            },
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    }


# The OpenAI recordings, except openai-audio-output.sse, on which the SDK crashes
# (test_sdk_crashes_on_chunks_without_choices), and openai-moderation-chunk.sse, whose usage it loses
# (test_sdk_loses_usage_that_is_not_on_the_last_chunk).
OPENAI_FILES_THE_SDK_HANDLES = [
    "openai-content-usage.sse",
    "openai-finish-length.sse",
    "openai-logprobs-content.sse",
    "openai-logprobs-refusal.sse",
    "openai-n3-choices.sse",
    "openai-parallel-tool-calls-obfuscation.sse",
    "openai-parallel-tool-calls.sse",
    "openai-refusal.sse",
    "openai-text-obfuscation-service-tier.sse",
    "openai-tool-call-strict.sse",
]


def test_the_sdk_differential_covers_the_openai_files_the_sdk_gets_right(corpus: Path) -> None:
    openai_files = [name for name in corpus_names(corpus) if name.startswith("openai-")]
    left_out = ["openai-audio-output.sse", "openai-moderation-chunk.sse"]
    assert sorted([*OPENAI_FILES_THE_SDK_HANDLES, *left_out]) == openai_files


@pytest.mark.parametrize("name", OPENAI_FILES_THE_SDK_HANDLES)
@pytest.mark.parametrize("piece_size", [None, 7])
def test_openai_corpus_file_matches_the_sdk(corpus: Path, name: str, piece_size: int | None) -> None:
    body = (corpus / name).read_bytes()
    pieces = [body] if piece_size is None else cut(body, range(piece_size, len(body), piece_size))
    accumulator = fed(pieces)
    assert accumulator.done
    assert our_view(accumulator.completion()) == sdk_view(sdk_completion(pieces))


# ---------------------------------------------------------------------------------------------------------------------
# 2. Where the SDK is wrong and we are right: what each produces.


def test_sdk_concatenates_a_role_repeated_on_every_delta(corpus: Path) -> None:
    path = corpus / "zai-glm-reasoning-content.sse"  # Z.ai repeats "role":"assistant" on every delta
    deltas_with_role = sum("role" in c["delta"] for payload in corpus_chunks(path) for c in payload["choices"])
    assert deltas_with_role == 93
    sdk = sdk_completion([path.read_bytes()])
    assert sdk.choices[0].message.role == "assistant" * 93
    assert accumulate([path.read_bytes()]).choices[0].message.role == "assistant"


def test_sdk_adds_up_numbers_repeated_in_deltas(corpus: Path) -> None:
    path = corpus / "together-deepseek-r1-think-inline.sse"  # Together sends the token's id in every delta
    token_ids = [c["delta"]["token_id"] for payload in corpus_chunks(path) for c in payload["choices"]]
    assert (len(token_ids), token_ids[-1]) == (955, 1)
    assert sdk_completion([path.read_bytes()]).choices[0].message.token_id == sum(token_ids) == 11117656
    assert json.loads(merged(path.read_bytes()))["choices"][0]["message"]["token_id"] == 1


def test_sdk_concatenates_a_tool_call_id_repeated_on_every_fragment() -> None:
    call = {"index": 0, "id": "call_abc", "type": "function"}
    body = sse(
        chunk(choice(role="assistant", tool_calls=[{**call, "function": {"name": "get_weather", "arguments": ""}}])),
        chunk(choice(tool_calls=[{**call, "function": {"arguments": '{"city":'}}])),
        chunk(choice(tool_calls=[{**call, "function": {"arguments": '"Paris"}'}}])),
        chunk(choice(finish="tool_calls")),
    )
    sdk_call = sdk_completion([body]).choices[0].message.tool_calls[0]
    assert (sdk_call.id, sdk_call.type, sdk_call.function.name) == ("call_abc" * 3, "function", "get_weather")
    ours = json.loads(merged(body))["choices"][0]["message"]["tool_calls"]
    assert ours == [
        {"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
    ]


def test_sdk_merges_two_calls_that_share_index_0(corpus: Path) -> None:
    path = corpus / "copilot-claude-tool-calls-same-index.sse"  # Copilot/Claude: both calls at index 0
    sdk_calls = sdk_completion([path.read_bytes()]).choices[0].message.tool_calls
    assert [(call.id, call.function.name) for call in sdk_calls] == [
        ("tooluse_448k6WHnTpS28K0Bd1bhgA" + "tooluse_2SRF2HShTXOoLdGrjWuGiw", "edit_file" + "edit_file")
    ]
    ours = accumulate([path.read_bytes()]).choices[0].message.tool_calls
    assert [(call.id, call.function.name) for call in ours] == [
        ("tooluse_448k6WHnTpS28K0Bd1bhgA", "edit_file"),
        ("tooluse_2SRF2HShTXOoLdGrjWuGiw", "edit_file"),
    ]


@pytest.mark.parametrize("order", [(1, 0), (0, 2, 1)])
def test_sdk_crashes_on_choices_out_of_order(order: tuple[int, ...]) -> None:
    words = ["zero", "one", "two"]
    body = sse(
        *[chunk(choice(index, role="assistant", content=words[index])) for index in order],
        *[chunk(choice(index, finish="stop")) for index in order],
    )
    with pytest.raises(IndexError):
        sdk_completion([body])
    choices = [(c["index"], c["message"]["content"], c["finish_reason"]) for c in json.loads(merged(body))["choices"]]
    assert choices == [(index, words[index], "stop") for index in sorted(order)]


def test_sdk_crashes_when_the_first_tool_call_index_is_1(corpus: Path) -> None:
    body = (corpus / "anthropic-gateway-tool-index-1.sse").read_bytes()
    with pytest.raises(IndexError):
        sdk_completion([body])
    assert json.loads(merged(body))["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Reading it.",
                "tool_calls": [
                    {
                        "id": "toolu_sanitized",
                        "type": "function",
                        "function": {"name": "read_file", "arguments": '{"path": "a.txt"}'},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ]


def test_sdk_crashes_on_tool_calls_without_index(corpus: Path) -> None:
    body = (corpus / "mistral-tool-call-whole-no-index.sse").read_bytes()
    with pytest.raises(TypeError, match="list indices must be integers or slices, not NoneType"):
        sdk_completion([body])
    assert json.loads(merged(body))["choices"][0]["message"]["tool_calls"] == [
        # Mistral sends no "type": the non-streamed shape has one.
        {
            "id": "gSIMJiOkT",
            "type": "function",
            "function": {"name": "weather", "arguments": '{"location": "San Francisco"}'},
        }
    ]


def test_sdk_loses_usage_that_is_not_on_the_last_chunk(corpus: Path) -> None:
    # OpenAI itself sends a chunk after the usage chunk: gpt-5's "moderation" chunk, gpt-audio's expires_at.
    path = corpus / "openai-moderation-chunk.sse"
    chunks = corpus_chunks(path)
    assert chunks[-2]["usage"]["total_tokens"] == 24
    assert (chunks[-1]["choices"], chunks[-1]["usage"], "moderation" in chunks[-1]) == ([], None, True)
    assert sdk_completion([path.read_bytes()]).usage is None
    assert json.loads(merged(path.read_bytes()))["usage"] == chunks[-2]["usage"]
    usage = {"prompt_tokens": 18, "completion_tokens": 16, "total_tokens": 34}
    body = sse(
        chunk(choice(role="assistant", content="Hi"), usage=None),
        chunk(choice(finish="stop"), usage=None),
        chunk(usage=usage),
        chunk(choice(), usage=None),
    )
    assert sdk_completion([body]).usage is None
    assert fed(body).usage == Usage(prompt_tokens=18, completion_tokens=16, total_tokens=34)
    assert json.loads(merged(body))["usage"] == usage


def test_sdk_crashes_on_chunks_without_choices(corpus: Path) -> None:
    body = (corpus / "openai-audio-output.sse").read_bytes()
    chunks = corpus_chunks(corpus / "openai-audio-output.sse")
    assert sum("choices" not in payload for payload in chunks) == 12
    with pytest.raises(TypeError, match="'NoneType' object is not iterable"):
        sdk_completion([body])
    deltas = [c["delta"] for payload in chunks for c in payload.get("choices", [])]
    audio_deltas = [delta["audio"] for delta in deltas if "audio" in delta]
    completion = json.loads(merged(body))
    assert completion["choices"][0]["message"]["audio"] == {
        "id": "audio_6a233a4333a0819190c8b8082b1fb038",
        "transcript": "".join(audio.get("transcript", "") for audio in audio_deltas),
        "data": "".join(audio.get("data", "") for audio in audio_deltas),
        "expires_at": 1780697172,
    }
    assert completion["choices"][0]["message"]["audio"]["transcript"] == "Hello"
    assert len(completion["choices"][0]["message"]["audio"]["data"]) == 25600 + 9600
    # The usage chunk is not the last one: the audio's expires_at comes after it.
    assert completion["usage"]["total_tokens"] == 34


def test_sdk_state_takes_id_and_model_from_an_empty_azure_preamble(corpus: Path) -> None:
    body = (corpus / "azure-content-filter-results.sse").read_bytes()
    state_completion = sdk_completion([body])
    assert (state_completion.id, state_completion.model, state_completion.created) == ("", "", 0)
    # The SDK is right through client.chat.completions.stream(): ChatCompletionStream skips chunks whose object is
    # not "chat.completion.chunk", and the preamble's is "".
    with sdk_client([body]) as client, client.chat.completions.stream(**REQUEST) as stream:
        streamed = stream.get_final_completion()
    assert (streamed.id, streamed.model, streamed.created) == (
        "chatcmpl-DPTBaSsimU1JbOyrWiQNkSSfOPQE7",
        "gpt-4.1-mini-2025-04-14",
        1774962762,
    )
    ours = accumulate([body])
    assert (ours.id, ours.model, ours.created) == (streamed.id, streamed.model, streamed.created)


def test_sdk_stream_skips_every_chunk_that_lacks_object(corpus: Path) -> None:
    # The same filter drops all of Copilot's chunks, which carry no "object": nothing is accumulated at all.
    body = (corpus / "copilot-azure-n3.sse").read_bytes()
    with sdk_client([body]) as client, client.chat.completions.stream(**REQUEST) as stream:
        with pytest.raises(AssertionError):
            stream.get_final_completion()
    assert [c.message.content for c in accumulate([body]).choices] == ["generate", "generate", "generate"]


def test_sdk_dispatches_empty_events_for_keep_alives_after_an_id_line() -> None:
    # The SDK's decoder dispatches an event on a blank line whenever a last event id is set (it never resets it),
    # so a keep-alive comment after any `id:` line becomes an event with data "" that it json.loads.
    body = (
        b"id: 1\n"
        + sse(chunk(choice(role="assistant", content="Hel")), done=False)
        + b": keep-alive\n\n"
        + sse(chunk(choice(content="lo", finish="stop")))
    )
    with pytest.raises(json.JSONDecodeError):
        sdk_completion([body])
    assert json.loads(merged(body))["choices"][0]["message"]["content"] == "Hello"


def test_sdk_loses_the_first_event_after_a_bom() -> None:
    body = b"\xef\xbb\xbf" + sse(
        chunk(choice(role="assistant", content="Hel")), chunk(choice(content="lo")), chunk(choice(finish="stop"))
    )
    sdk_message = sdk_completion([body]).choices[0].message
    assert (sdk_message.role, sdk_message.content) == (None, "lo")
    accumulator = fed(body)
    assert accumulator.chunks == 3
    assert json.loads(accumulator.to_json())["choices"][0]["message"] == {"role": "assistant", "content": "Hello"}


def test_sdk_drops_mistral_thinking_parts(corpus: Path) -> None:
    body = (corpus / "mistral-magistral-thinking-array.sse").read_bytes()
    with pytest.warns(UserWarning, match="PydanticSerializationUnexpectedValue"):
        sdk_content = sdk_completion([body]).choices[0].message.content
    assert sdk_content.startswith("To cross the street safely") and len(sdk_content) == 607
    ours = json.loads(merged(body))["choices"][0]["message"]["content"]
    assert [part["type"] for part in ours] == ["thinking", "text"]
    assert ours[1]["text"] == sdk_content
    assert ours[0]["thinking"][0]["text"].startswith("Okay, the user is asking how to cross the street.")


def test_sdk_crashes_on_annotations_without_index(corpus: Path) -> None:
    body = (corpus / "openrouter-web-search-annotations.sse").read_bytes()
    with pytest.raises(RuntimeError, match="Expected list delta entry to have an `index` key"):
        sdk_completion([body])
    annotations = json.loads(merged(body))["choices"][0]["message"]["annotations"]
    assert [a["url_citation"]["url"] for a in annotations] == [
        "https://github.com/pydantic/pydantic-ai",
        "https://pydantic.dev/pydantic-ai",
        "https://github.com/pydantic/pydantic-ai/releases/tag/v2.0.0",
        "https://pydantic.dev/docs/ai/overview/",
        "https://github.com/pydantic/pydantic-ai/tree/refs/tags/v1.44.0",
    ]


def test_sdk_final_completion_refuses_a_length_finish(corpus: Path) -> None:
    # get_final_completion() raises for finish_reason "length" even with no response_format or tools to parse.
    body = (corpus / "openai-finish-length.sse").read_bytes()
    with pytest.raises(openai.LengthFinishReasonError):
        sdk_state([body]).get_final_completion()
    completion = accumulate([body])
    assert (completion.choices[0].finish_reason, completion.choices[0].message.content) == ("length", '{"')


def test_sdk_raises_on_an_upstream_error_and_keeps_nothing(corpus: Path) -> None:
    body = (corpus / "openrouter-reasoning-error-midstream.sse").read_bytes()
    with pytest.raises(openai.APIError, match="^Token limit reached$"):
        sdk_state([body])
    with pytest.raises(UpstreamError, match="^Token limit reached$") as raised:
        accumulate([body])
    assert raised.value.completion is not None
    assert raised.value.completion.choices[0].message.reasoning == "We need to respond to a greeting. The user"


def test_sdk_is_right_on_tool_calls_null_on_every_delta(corpus: Path) -> None:
    # Not an SDK bug: an explicit "tool_calls": null on every delta (Azure Foundry/SGLang) leaves no tool calls in both.
    body = (corpus / "azure-foundry-deepseek-sglang-style.sse").read_bytes()
    assert sdk_completion([body]).choices[0].message.tool_calls is None
    assert accumulate([body]).choices[0].message.tool_calls is None


# ---------------------------------------------------------------------------------------------------------------------
# 3. Every corpus file adds up to the right completion. The table was computed with naive_view below, a plain Python
# merge of the json.loads'ed payloads, and read against the files; the test checks both our completion and
# naive_view against it.


@dataclass(frozen=True)
class Call:
    id: str
    name: str
    arguments: str | None = None  # exact, when short enough to read; else:
    head: str = ""  # the first 40 characters
    length: int = 0


@dataclass(frozen=True)
class Expected:
    finish_reasons: tuple[str | None, ...]  # per choice in index order: also the number of choices
    # (choice index, message field) -> (first 40 characters, length), or None for null; Mistral's content as
    # (part type, first 40 characters of its text, length) per part.
    texts: dict[tuple[int, str], Any]
    total_tokens: int | None
    tool_calls: tuple[Call, ...] = ()  # choice 0's
    arguments_are_json: bool = True
    function_call: tuple[str, str] | None = None  # choice 0's legacy function_call (name, arguments)
    upstream_error: str | None = None  # accumulate raises UpstreamError with this message


CORPUS_EXPECTED: dict[str, Expected] = {
    "anthropic-gateway-tool-index-1.sse": Expected(
        finish_reasons=("tool_calls",),
        texts={(0, "content"): ("Reading it.", 11)},
        tool_calls=(Call("toolu_sanitized", "read_file", '{"path": "a.txt"}'),),
        total_tokens=None,
    ),
    "azure-content-filter-legacy.sse": Expected(
        finish_reasons=("stop",),
        texts={(0, "content"): ("Why did the Opentelemetry developer brin", 120)},
        total_tokens=None,
    ),
    "azure-content-filter-results.sse": Expected(
        finish_reasons=("stop",),
        texts={(0, "content"): ("Why did the developer bring a map to the", 109), (0, "refusal"): None},
        total_tokens=None,
    ),
    "azure-foundry-deepseek-sglang-style.sse": Expected(
        finish_reasons=("stop",),
        texts={
            (0, "content"): ("Exciting news, Knicks fans—there's a bra", 2661),
            (0, "reasoning_content"): ("We need to invent a new holiday around t", 3832),
        },
        total_tokens=1739,
    ),
    "azure-model-router-prompt-filter.sse": Expected(
        finish_reasons=("stop",),
        texts={(0, "content"): ("Capital of Denmark.", 19), (0, "refusal"): None},
        total_tokens=93,
    ),
    "copilot-azure-filter-offsets.sse": Expected(
        finish_reasons=("stop",),
        texts={(0, "content"): ("Hello! How can I assist you with your pr", 62)},
        total_tokens=None,
    ),
    "copilot-azure-legacy-function-call.sse": Expected(
        finish_reasons=("function_call",),
        texts={(0, "content"): None},
        function_call=("get_current_weather", '{\n  "location": "Z"\n}'),
        total_tokens=None,
    ),
    "copilot-azure-n3.sse": Expected(
        finish_reasons=("stop", "stop", "stop"),
        texts={(0, "content"): ("generate", 8), (1, "content"): ("generate", 8), (2, "content"): ("generate", 8)},
        total_tokens=None,
    ),
    "copilot-claude-tool-calls-same-index.sse": Expected(
        finish_reasons=("tool_calls",),
        texts={(0, "content"): ("I'll make two changes:\n1. Add a multiply", 132)},
        tool_calls=(
            Call(
                "tooluse_448k6WHnTpS28K0Bd1bhgA",
                "edit_file",
                head='{"filePath":"/Users/roblou/code/debugtes',
                length=172,
            ),
            Call(
                "tooluse_2SRF2HShTXOoLdGrjWuGiw",
                "edit_file",
                head='"filePath":"/Users/roblou/code/debugtest',
                length=676,
            ),
        ),
        # As recorded: the first call's arguments hold a raw newline, the second's lack their opening brace.
        arguments_are_json=False,
        total_tokens=2298,
    ),
    "deepseek-reasoner-reasoning-content.sse": Expected(
        finish_reasons=("stop",),
        texts={
            (0, "content"): ("Hello there! 😊 How can I help you today?", 40),
            (0, "reasoning_content"): ('Hmm, the user just said "Hello". It\'s a ', 882),
        },
        total_tokens=218,
    ),
    "deepseek-tool-call-after-reasoning.sse": Expected(
        finish_reasons=("tool_calls",),
        texts={(0, "content"): ("", 0), (0, "reasoning_content"): ("The user is asking for the weather in Sa", 191)},
        tool_calls=(Call("call_00_ioIn7yN9p1ZOMNpDLwd4MgAF", "weather", '{"location": "San Francisco"}'),),
        total_tokens=422,
    ),
    "groq-gpt-oss-reasoning-tool-call.sse": Expected(
        finish_reasons=("tool_calls",),
        texts={(0, "content"): ("", 0), (0, "reasoning"): ("We need to call the function with correc", 92)},
        tool_calls=(Call("fc_bfb39741-3748-4def-9886-a93fc9c64a90", "get_something_by_name", '{"name":"example"}'),),
        total_tokens=353,
    ),
    "groq-llama3-x-groq.sse": Expected(
        finish_reasons=("stop",),
        texts={(0, "content"): ("A joke about OpenTelemetry!\n\nWhy did the", 277)},
        total_tokens=91,  # reported only as x_groq.usage
    ),
    "groq-qwen3-reasoning-field.sse": Expected(
        finish_reasons=("stop",),
        texts={
            (0, "content"): ('The word **"strawberry"** is spelled as ', 347),
            (0, "reasoning"): ("Okay, let me try to figure out how many ", 2952),
        },
        total_tokens=1124,
    ),
    "groq-tool-use-failed-error.sse": Expected(
        finish_reasons=(None,),
        texts={(0, "content"): ("", 0), (0, "reasoning"): ("We need to call the tool with invalid pa", 412)},
        total_tokens=None,
        upstream_error=(
            "Tool call validation failed: tool call validation failed: parameters for tool get_something_by_name "
            "did not match schema: errors: [missing properties: 'name', additionalProperties 'invalid_param' not "
            "allowed]"
        ),
    ),
    "mistral-glm-incremental-tool-call.sse": Expected(
        finish_reasons=("tool_calls",),
        texts={(0, "content"): ("", 0)},
        tool_calls=(Call("chatcmpl-tool-9f149c74c42f265b", "webSearchTool", '{"query": "current Berlin weather"}'),),
        total_tokens=185,
    ),
    "mistral-magistral-thinking-array.sse": Expected(
        finish_reasons=("stop",),
        texts={
            (0, "content"): (
                ("thinking", "Okay, the user is asking how to cross th", 421),
                ("text", "To cross the street safely, follow these", 607),
            )
        },
        total_tokens=242,
    ),
    "mistral-tiny-usage-final.sse": Expected(
        finish_reasons=("stop",),
        texts={(0, "content"): ("Here's a light-hearted joke that combine", 297)},
        total_tokens=91,
    ),
    "mistral-tool-call-whole-no-index.sse": Expected(
        finish_reasons=("tool_calls",),
        texts={(0, "content"): ("", 0)},
        tool_calls=(Call("gSIMJiOkT", "weather", '{"location": "San Francisco"}'),),
        total_tokens=146,
    ),
    "novita-sla-metrics.sse": Expected(
        finish_reasons=("stop",),
        texts={(0, "content"): ("Paris", 5)},
        total_tokens=42,
    ),
    "openai-audio-output.sse": Expected(
        finish_reasons=(None,),  # no finish_reason ever arrives; [DONE] ends it
        texts={(0, "content"): None, (0, "refusal"): None},
        total_tokens=34,
    ),
    "openai-content-usage.sse": Expected(
        finish_reasons=("stop",),
        texts={(0, "content"): ("I'm unable to provide real-time weather ", 159), (0, "refusal"): None},
        total_tokens=44,
    ),
    "openai-finish-length.sse": Expected(
        finish_reasons=("length",),
        texts={(0, "content"): ('{"', 2), (0, "refusal"): None},
        total_tokens=80,
    ),
    "openai-logprobs-content.sse": Expected(
        finish_reasons=("stop",),
        texts={(0, "content"): ("Foo!", 4), (0, "refusal"): None},
        total_tokens=11,
    ),
    "openai-logprobs-refusal.sse": Expected(
        finish_reasons=("stop",),
        texts={(0, "content"): None, (0, "refusal"): ("I'm very sorry, but I can't assist with ", 45)},
        total_tokens=91,
    ),
    "openai-moderation-chunk.sse": Expected(
        finish_reasons=("stop",),
        texts={(0, "content"): ("Paris.", 6), (0, "refusal"): None},
        total_tokens=24,
    ),
    "openai-n3-choices.sse": Expected(
        finish_reasons=("stop", "stop", "stop"),
        texts={
            (0, "content"): ('{"city":"San Francisco","temperature":65', 53),
            (0, "refusal"): None,
            (1, "content"): ('{"city":"San Francisco","temperature":61', 53),
            (1, "refusal"): None,
            (2, "content"): ('{"city":"San Francisco","temperature":59', 53),
            (2, "refusal"): None,
        },
        total_tokens=121,
    ),
    "openai-parallel-tool-calls-obfuscation.sse": Expected(
        finish_reasons=("tool_calls",),
        texts={(0, "content"): None},
        tool_calls=(
            Call("call_q2UyBRP7eXNTzAoR8lEhjc9Z", "get_country", "{}"),
            Call("call_b51ijcpFkDiTQG1bQzsrmtW5", "get_product_name", "{}"),
        ),
        total_tokens=404,
    ),
    "openai-parallel-tool-calls.sse": Expected(
        finish_reasons=("tool_calls",),
        texts={(0, "content"): None},
        tool_calls=(
            Call(
                "call_JMW1whyEaYG438VE1OIflxA2",
                "GetWeatherArgs",
                '{"city": "Edinburgh", "country": "GB", "units": "c"}',
            ),
            Call("call_DNYTawLBoN8fj3KN6qU9N1Ou", "get_stock_price", '{"ticker": "AAPL", "exchange": "NASDAQ"}'),
        ),
        total_tokens=209,
    ),
    "openai-refusal.sse": Expected(
        finish_reasons=("stop",),
        texts={(0, "content"): None, (0, "refusal"): ("I'm sorry, I can't assist with that requ", 44)},
        total_tokens=90,
    ),
    "openai-text-obfuscation-service-tier.sse": Expected(
        finish_reasons=("stop",),
        texts={(0, "content"): ("**Holiday Name:** Harmony Day\n\n**Date:**", 1724), (0, "refusal"): None},
        total_tokens=316,
    ),
    "openai-tool-call-strict.sse": Expected(
        finish_reasons=("tool_calls",),
        texts={(0, "content"): None, (0, "refusal"): None},
        tool_calls=(Call("call_CTf1nWJLqSeRgDqaCG27xZ74", "get_weather", '{"city":"San Francisco","state":"CA"}'),),
        total_tokens=67,
    ),
    "openrouter-claude-reasoning-signature.sse": Expected(
        finish_reasons=("stop",),
        texts={(0, "content"): ("2 + 2 = 4", 9), (0, "reasoning"): ("This is a simple arithmetic question. 2+", 51)},
        total_tokens=79,
    ),
    "openrouter-reasoning-error-midstream.sse": Expected(
        finish_reasons=("length",),
        texts={(0, "content"): ("", 0), (0, "reasoning"): ("We need to respond to a greeting. The us", 42)},
        total_tokens=53,  # the error chunk's usage is merged before the error is raised
        upstream_error="Token limit reached",
    ),
    "openrouter-web-search-annotations.sse": Expected(
        finish_reasons=("stop",),
        texts={(0, "content"): ("The URL for Pydantic AI's GitHub reposit", 90)},
        total_tokens=2370,
    ),
    "perplexity-citations-usage-every-chunk.sse": Expected(
        finish_reasons=("stop",),
        texts={(0, "content"): ("The current population of **[2][3]", 34)},  # trimmed by the fixture's authors
        total_tokens=346,
    ),
    "qwen-dashscope-reasoning-content.sse": Expected(
        finish_reasons=("stop",),
        texts={
            (0, "content"): ('The word **"strawberry"** contains **3**', 816),
            (0, "reasoning_content"): ("We are asked: \"How many 'r's are in the ", 3301),
        },
        total_tokens=1379,
    ),
    "qwen-dashscope-tool-call-empty-id.sse": Expected(
        finish_reasons=("tool_calls",),
        texts={(0, "content"): None},
        tool_calls=(Call("call_eee11723464a4b9eb8cee71d", "weather", '{"location": "San Francisco"}'),),
        total_tokens=317,
    ),
    "snowflake-cortex-claude-reasoning.sse": Expected(
        finish_reasons=(None,),  # Snowflake sends no finish_reason key at all
        texts={(0, "content"): ("15 × 27 = **405**\n\nHere's the breakdown:", 93), (0, "refusal"): ("", 0)},
        total_tokens=118,
    ),
    "together-deepseek-r1-think-inline.sse": Expected(
        finish_reasons=("stop",),
        texts={(0, "content"): ('<think>\nOkay, the user asked "How do I c', 4002)},
        total_tokens=965,
    ),
    "vllm-crusoe-token-ids.sse": Expected(
        finish_reasons=("stop",),
        texts={(0, "content"): ("1, 2, 3, 4, 5", 13)},
        total_tokens=60,
    ),
    "vllm-opt125m-stop-reason.sse": Expected(
        finish_reasons=("length",),
        texts={(0, "content"): ("<|im_end|>doctor\n<|im_end|>supervisor\n<", 39)},
        total_tokens=None,
    ),
    "xai-grok-tool-call-whole.sse": Expected(
        finish_reasons=("tool_calls",),
        texts={(0, "content"): None, (0, "reasoning_content"): ("First, the user is", 18)},
        tool_calls=(Call("call_55117580", "weather", '{"location":"San Francisco"}'),),
        total_tokens=513,
    ),
    "zai-glm-reasoning-content.sse": Expected(
        finish_reasons=("stop",),
        texts={(0, "content"): ("4", 1), (0, "reasoning_content"): ("\n1.  **Analyze the User's Request:** The", 2173)},
        total_tokens=577,
    ),
}


def head_and_length(text: str | None) -> tuple[str, int] | None:
    return None if text is None else (text[:40], len(text))


def part_text(part: dict[str, Any]) -> str:
    """The text of a Mistral content part: a text part's, or the joined texts of a thinking part's parts."""
    if part["type"] == "text":
        return part["text"]
    return "".join(inner["text"] for inner in part["thinking"])


def naive_view(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The table's fields, merged the obvious way: text fields concatenated per choice index (a list content split
    into runs of same-typed parts), the last non-null finish reason and usage, and tool calls started by each new
    non-empty id (every corpus provider sends the id on a call's first fragment and no interleaving)."""
    finish: dict[int, str | None] = {}
    texts: dict[tuple[int, str], str | None] = {}
    parts: dict[int, list[list[str]]] = {}
    calls: dict[int, list[list[str]]] = {}
    function_call: dict[int, list[str]] = {}
    total_tokens = extension_tokens = None
    for payload in chunks:
        if payload.get("usage") is not None:
            total_tokens = payload["usage"].get("total_tokens")
        for name, extension in payload.items():  # a provider extension's usage (x_groq), for want of any other
            if name.startswith("x_") and isinstance(extension, dict) and isinstance(extension.get("usage"), dict):
                extension_tokens = extension["usage"].get("total_tokens")
        for position, chunk_choice in enumerate(payload.get("choices") or []):
            index = chunk_choice.get("index", position)
            finish.setdefault(index, None)
            texts.setdefault((index, "content"), None)
            if chunk_choice.get("finish_reason") is not None:
                finish[index] = chunk_choice["finish_reason"]
            delta = chunk_choice.get("delta") or {}
            for field in TEXT_FIELDS:
                if field not in delta:
                    continue
                texts.setdefault((index, field), None)
                value = delta[field]
                if isinstance(value, list):
                    so_far = texts[(index, field)]
                    runs = parts.setdefault(index, [["text", so_far]] if so_far else [])
                    for part in value:
                        if not runs or runs[-1][0] != part["type"]:
                            runs.append([part["type"], ""])
                        runs[-1][1] += part_text(part)
                elif isinstance(value, str) and index in parts:
                    if parts[index][-1][0] != "text":
                        parts[index].append(["text", ""])
                    parts[index][-1][1] += value
                elif isinstance(value, str):
                    texts[(index, field)] = (texts[(index, field)] or "") + value
            for fragment in delta.get("tool_calls") or []:
                call_id = fragment.get("id") or ""
                function = fragment.get("function") or {}
                own = calls.setdefault(index, [])
                if call_id and (not own or own[-1][0] != call_id):
                    own.append([call_id, "", ""])
                own[-1][1] = own[-1][1] or function.get("name") or ""
                own[-1][2] += function.get("arguments") or ""
            if delta.get("function_call"):
                name_and_arguments = function_call.setdefault(index, ["", ""])
                name_and_arguments[0] = name_and_arguments[0] or delta["function_call"].get("name") or ""
                name_and_arguments[1] += delta["function_call"].get("arguments") or ""
    view_texts: dict[tuple[int, str], Any] = {key: head_and_length(value) for key, value in texts.items()}
    for index, runs in parts.items():
        view_texts[(index, "content")] = tuple((kind, text[:40], len(text)) for kind, text in runs)
    return {
        "finish_reasons": tuple(finish[index] for index in sorted(finish)),
        "texts": view_texts,
        "tool_calls": {index: [tuple(call) for call in own] for index, own in calls.items()},
        "function_call": {index: tuple(pair) for index, pair in function_call.items()},
        "total_tokens": extension_tokens if total_tokens is None else total_tokens,
    }


def completion_view(completion: ChatCompletion) -> dict[str, Any]:
    """The table's fields, read from our typed completion."""
    texts: dict[tuple[int, str], Any] = {}
    calls: dict[int, list[tuple[str, str, str]]] = {}
    function_call: dict[int, tuple[str, str]] = {}
    for completion_choice in completion.choices:
        message = completion_choice.message
        for field in TEXT_FIELDS:
            value = getattr(message, field)
            if isinstance(value, list):
                texts[(completion_choice.index, field)] = tuple(
                    (part["type"], *head_and_length(part_text(part))) for part in value  # type: ignore[misc]
                )
            elif value is not UNSET:
                texts[(completion_choice.index, field)] = head_and_length(value)
        if none_if_unset(message.tool_calls):
            calls[completion_choice.index] = [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls]
        if none_if_unset(message.function_call):
            function_call[completion_choice.index] = (message.function_call.name, message.function_call.arguments)
    usage = none_if_unset(completion.usage)
    return {
        "finish_reasons": tuple(none_if_unset(c.finish_reason) for c in completion.choices),
        "texts": texts,
        "tool_calls": calls,
        "function_call": function_call,
        "total_tokens": None if usage is None else usage.total_tokens,
    }


def assert_view_is(view: dict[str, Any], expected: Expected) -> None:
    assert view["finish_reasons"] == expected.finish_reasons
    assert view["texts"] == expected.texts
    assert view["total_tokens"] == expected.total_tokens
    assert view["function_call"] == ({0: expected.function_call} if expected.function_call else {})
    assert set(view["tool_calls"]) == ({0} if expected.tool_calls else set())
    calls = view["tool_calls"].get(0, [])
    assert [(call_id, name) for call_id, name, _ in calls] == [(call.id, call.name) for call in expected.tool_calls]
    for (_, _, arguments), call in zip(calls, expected.tool_calls):
        if call.arguments is not None:
            assert arguments == call.arguments
        else:
            assert (arguments[:40], len(arguments)) == (call.head, call.length)
        if expected.arguments_are_json:
            json.loads(arguments)
        else:
            with pytest.raises(json.JSONDecodeError):
                json.loads(arguments)


def test_the_table_covers_every_corpus_file(corpus: Path) -> None:
    assert sorted(CORPUS_EXPECTED) == corpus_names(corpus)
    assert len(CORPUS_EXPECTED) == CORPUS_FILE_COUNT


@pytest.mark.parametrize("name", sorted(CORPUS_EXPECTED))
def test_corpus_file_accumulates_to_the_expected_completion(corpus: Path, name: str) -> None:
    expected = CORPUS_EXPECTED[name]
    body = (corpus / name).read_bytes()
    if expected.upstream_error is None:
        completion = accumulate([body])  # no IncompleteStreamWarning: warnings are errors here
    else:
        with pytest.raises(UpstreamError) as raised:
            accumulate([body])
        assert raised.value.message == expected.upstream_error
        assert raised.value.completion is not None
        completion = raised.value.completion
    assert type(completion) is ChatCompletion
    assert_view_is(completion_view(completion), expected)
    assert_view_is(naive_view(corpus_chunks(corpus / name)), expected)


@pytest.mark.parametrize("name", sorted(CORPUS_EXPECTED))
def test_corpus_file_fed_byte_by_byte_gives_the_same_completion(corpus: Path, name: str) -> None:
    body = (corpus / name).read_bytes()
    whole = fed_through_errors([body])
    single_bytes = fed_through_errors(body[i : i + 1] for i in range(len(body)))
    assert single_bytes.to_json() == whole.to_json()
    assert (single_bytes.chunks, single_bytes.done) == (whole.chunks, whole.done)


# ---------------------------------------------------------------------------------------------------------------------
# 4. The merge rules, one test each.


def test_content_concatenates_and_a_repeated_role_is_kept_once() -> None:
    body = sse(
        chunk(choice(role="assistant", content="")),
        chunk(choice(role="assistant", content='Say "hi"\n')),
        chunk(choice(role="assistant", content="\\ 😊 é")),
        chunk(choice(finish="stop")),
    )
    assert merged(body) == (
        b'{"id":"chatcmpl-1","object":"chat.completion","created":1727346168,"model":"gpt-4o","choices":[{"index":0,'
        b'"message":{"role":"assistant","content":"Say \\"hi\\"\\n\\\\ \xf0\x9f\x98\x8a \xc3\xa9"},'
        b'"finish_reason":"stop"}]}'
    )


def test_choices_are_keyed_by_index_and_sorted() -> None:
    body = sse(
        chunk(choice(2, content="c1"), choice(0, content="a1")),
        chunk(choice(1, content="b1")),
        chunk(choice(0, content="a2", finish="stop"), choice(2, content="c2", finish="length")),
        chunk(choice(1, finish="stop")),
    )
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in json.loads(merged(body))["choices"]] == [
        (0, "a1a2", "stop"),
        (1, "b1", "stop"),
        (2, "c1c2", "length"),
    ]


def test_a_choice_without_index_is_keyed_by_its_position() -> None:
    body = sse(
        '{"choices":[{"delta":{"content":"a"}},{"delta":{"content":"b"}}]}',
        '{"choices":[{"delta":{"content":"A"},"finish_reason":"stop"},'
        '{"index":null,"delta":{"content":"B"},"finish_reason":"stop"}]}',
    )
    assert merged(body) == (
        b'{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"aA"},'
        b'"finish_reason":"stop"},{"index":1,"message":{"role":"assistant","content":"bB"},"finish_reason":"stop"}]}'
    )


def test_azure_sorted_keys_put_index_after_delta(corpus: Path) -> None:
    body = sse(
        '{"choices":[{"delta":{"content":"b","role":"assistant"},"finish_reason":null,"index":1},'
        '{"delta":{"content":"a","role":"assistant"},"finish_reason":null,"index":0}],'
        '"created":5,"id":"x","model":"m"}',
        '{"choices":[{"delta":{"content":"B"},"finish_reason":"stop","index":1},'
        '{"delta":{"content":"A"},"finish_reason":"stop","index":0}],"created":5,"id":"x","model":"m"}',
    )
    choices = json.loads(merged(body))["choices"]
    assert [(c["index"], c["message"]["content"]) for c in choices] == [(0, "aA"), (1, "bB")]
    # The recording: every choice has "delta" before "index" ("content_filter_results" first of all).
    recorded = (corpus / "azure-content-filter-results.sse").read_bytes()
    assert recorded.count(b'"finish_reason":null,"index":0') == 23
    assert recorded.count(b'"finish_reason":"stop","index":0') == 1
    completion = json.loads(merged(recorded))
    assert [c["index"] for c in completion["choices"]] == [0]
    assert completion["choices"][0]["message"]["content"] == (
        "Why did the developer bring a map to the OpenTelemetry conference? \n\n"
        "Because they wanted to trace every step!"
    )


def test_set_once_keys_keep_their_first_non_empty_value() -> None:
    audio = {"id": "audio_1", "transcript": "He"}
    detail = {"type": "reasoning.text", "format": "anthropic-claude-v1", "index": 0}
    header = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}
    body = sse(
        chunk(
            choice(role="", name="bot", audio=audio, reasoning_details=[{**detail, "text": "th"}], tool_calls=[header])
        ),
        chunk(
            choice(
                role="assistant",
                name="bot",
                audio={**audio, "transcript": "llo"},
                reasoning_details=[{**detail, "text": "ink"}],
                tool_calls=[{**header, "function": {"name": "f", "arguments": "{}"}}],
                object="x",
            )
        ),
        chunk(choice(role="user", object="y", finish="tool_calls")),
    )
    message = json.loads(merged(body))["choices"][0]["message"]
    assert message == {
        "role": "assistant",
        "content": None,
        "name": "bot",
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        "audio": {"id": "audio_1", "transcript": "Hello"},
        "reasoning_details": [{"type": "reasoning.text", "format": "anthropic-claude-v1", "index": 0, "text": "think"}],
        "object": "x",
    }


def test_numbers_and_booleans_in_a_delta_take_the_last_value() -> None:
    body = sse(
        chunk(choice(token_id=7, x_flag=True, x_score=1)),
        chunk(choice(token_id=1, x_flag=False, x_score=2.5, finish="stop")),
    )
    message = json.loads(merged(body))["choices"][0]["message"]
    assert_same_json(message, {"role": "assistant", "content": None, "token_id": 1, "x_flag": False, "x_score": 2.5})


def test_objects_in_a_delta_merge_key_by_key(corpus: Path) -> None:
    # Legacy function_call: the name first, then the arguments in pieces.
    body = (corpus / "copilot-azure-legacy-function-call.sse").read_bytes()
    message = json.loads(merged(body))["choices"][0]["message"]
    assert message == {
        "role": "assistant",
        "content": None,
        "function_call": {"arguments": '{\n  "location": "Z"\n}', "name": "get_current_weather"},
    }


def test_lists_of_indexed_objects_merge_by_index_and_other_lists_extend() -> None:
    body = sse(
        chunk(choice(x_steps=[{"index": 0, "text": "a"}, {"index": 1, "text": "b"}], x_plain=[{"k": 1}], x_n=[1, "a"])),
        chunk(choice(x_steps=[{"index": 1, "text": "B"}, {"index": 0, "text": "A"}], x_plain=[{"k": 1}], x_n=[2])),
        chunk(choice(x_steps=[{"index": 2, "text": "c"}], x_plain=[], x_n=None, finish="stop")),
    )
    message = json.loads(merged(body))["choices"][0]["message"]
    assert message["x_steps"] == [{"index": 0, "text": "aA"}, {"index": 1, "text": "bB"}, {"index": 2, "text": "c"}]
    assert message["x_plain"] == [{"k": 1}, {"k": 1}]
    assert message["x_n"] == [1, "a", 2]


def test_reasoning_details_merge_by_index(corpus: Path) -> None:
    path = corpus / "openrouter-claude-reasoning-signature.sse"
    signatures = [
        detail["signature"]
        for payload in corpus_chunks(path)
        for c in payload["choices"]
        for detail in c["delta"].get("reasoning_details") or []
        if detail.get("signature")
    ]
    assert len(signatures) == 1 and signatures[0].startswith("Et0BCkgIChACGAIqQA2s")
    message = json.loads(merged(path.read_bytes()))["choices"][0]["message"]
    assert message["reasoning_details"] == [
        {
            "type": "reasoning.text",
            "text": "This is a simple arithmetic question. 2+2 equals 4.",
            "signature": signatures[0],  # from the signature-only delta, after "signature":"" on the first
            "format": "anthropic-claude-v1",
            "index": 0,
        }
    ]
    assert message["reasoning"] == "This is a simple arithmetic question. 2+2 equals 4."


def test_explicit_null_changes_nothing_and_a_key_seen_only_as_null_stays_null() -> None:
    body = sse(
        chunk(choice(role="assistant", content=None, refusal=None, reasoning_content=None), usage=None),
        chunk(choice(content="a", reasoning_content="r"), usage=None),
        chunk(choice(content=None, reasoning_content=None, audio=None, finish="stop"), usage=None),
        chunk(choice(content=None, finish=None), usage=None),
    )
    assert merged(body) == (
        b'{"id":"chatcmpl-1","object":"chat.completion","created":1727346168,"model":"gpt-4o","choices":[{"index":0,'
        b'"message":{"role":"assistant","content":"a","refusal":null,"reasoning_content":"r","audio":null},'
        b'"finish_reason":"stop"}],"usage":null}'
    )


def test_tool_calls_null_on_every_delta(corpus: Path) -> None:
    header = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    only_nulls = sse(chunk(choice(content="a", tool_calls=None)), chunk(choice(tool_calls=None, finish="stop")))
    message = json.loads(merged(only_nulls))["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "a", "tool_calls": None}
    around_calls = sse(
        chunk(choice(tool_calls=None)),
        chunk(choice(tool_calls=[header])),
        chunk(choice(tool_calls=None, finish="tool_calls")),
    )
    assert json.loads(merged(around_calls))["choices"][0]["message"]["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    ]
    path = corpus / "azure-foundry-deepseek-sglang-style.sse"  # role, content, reasoning_content, tool_calls: null
    deltas = [c["delta"] for payload in corpus_chunks(path) for c in payload["choices"]]
    assert len(deltas) == 784 and all("tool_calls" in delta and delta["tool_calls"] is None for delta in deltas)
    assert json.loads(merged(path.read_bytes()))["choices"][0]["message"]["tool_calls"] is None


def test_members_outside_deltas_take_the_last_non_null_value_and_objects_merge(corpus: Path) -> None:
    second = {"filter": {"hate": {"severity": "safe"}, "n": None}, "x_label": "second"}
    body = sse(
        chunk(choice(content="a") | {"filter": {"hate": {"filtered": False}, "n": 1}, "x_label": "first"}),
        chunk(choice(content="b", finish="stop") | second),
        chunk(choice(finish=None) | {"filter": {}, "x_label": None}, x_top=[1]),
        chunk(x_top=[2]),
    )
    completion = json.loads(merged(body))
    assert completion["choices"][0] == {
        "index": 0,
        "message": {"role": "assistant", "content": "ab"},
        "finish_reason": "stop",  # the later null does not reset it
        "filter": {"hate": {"filtered": False, "severity": "safe"}, "n": 1},
        "x_label": "second",
    }
    assert completion["x_top"] == [2]  # replaced, not extended: outside deltas lists are values
    # OpenRouter: finish_reason null on the usage chunk after the "stop" chunk.
    openrouter = json.loads(merged((corpus / "openrouter-claude-reasoning-signature.sse").read_bytes()))
    reasons = (openrouter["choices"][0]["finish_reason"], openrouter["choices"][0]["native_finish_reason"])
    assert reasons == ("stop", "stop")


def test_x_groq_merges_key_by_key(corpus: Path) -> None:
    path = corpus / "groq-gpt-oss-reasoning-tool-call.sse"
    sent = [payload["x_groq"] for payload in corpus_chunks(path) if "x_groq" in payload]
    assert [sorted(x_groq) for x_groq in sent] == [["id", "seed"], ["id", "usage"]]
    x_groq = json.loads(merged(path.read_bytes()))["x_groq"]
    assert_same_json(x_groq, {"id": "req_01khrvt32ze9rb75za4xqmdz13", "seed": 1367355884, "usage": sent[1]["usage"]})
    assert list(x_groq) == ["id", "seed", "usage"]


def test_usage_is_replaced_whole_by_the_last_non_null_one(corpus: Path) -> None:
    body = sse(
        chunk(choice(content="a"), usage={"prompt_tokens": 5, "prompt_tokens_details": {"cached_tokens": 2}}),
        chunk(choice(finish="stop"), usage={"completion_tokens": 3, "total_tokens": 8}),
        chunk(usage=None),
    )
    assert json.loads(merged(body))["usage"] == {"completion_tokens": 3, "total_tokens": 8}
    path = corpus / "perplexity-citations-usage-every-chunk.sse"  # cumulative usage on every chunk
    assert json.loads(merged(path.read_bytes()))["usage"] == corpus_chunks(path)[-1]["usage"]


def test_identity_members_take_the_first_non_empty_value() -> None:
    preamble = {"id": "", "object": "", "created": 0, "model": "", "system_fingerprint": None, "service_tier": ""}
    body = sse(
        {**preamble, "choices": []},
        chunk(choice(content="x"), id="chatcmpl-A", created=5, service_tier="default"),
        {"id": "chatcmpl-B", "created": 6, "model": "o", "system_fingerprint": "fp_1", "service_tier": "flex"},
        {"id": "chatcmpl-C", "system_fingerprint": "fp_2", "choices": [choice(finish="stop")]},
    )
    assert merged(body) == (
        b'{"id":"chatcmpl-A","object":"chat.completion","created":5,"model":"gpt-4o","choices":[{"index":0,"message":'
        b'{"role":"assistant","content":"x"},"finish_reason":"stop"}],"service_tier":"default",'
        b'"system_fingerprint":"fp_1"}'
    )


def test_tool_calls_are_matched_by_index_then_id_then_the_latest_call() -> None:
    body = sse(
        # Index 0, then an interleaved index 1: fragments go by index.
        chunk(choice(tool_calls=[{"index": 0, "id": "call_a", "function": {"name": "f", "arguments": "[1"}}])),
        chunk(choice(tool_calls=[{"index": 1, "id": "call_b", "function": {"name": "g", "arguments": "[2"}}])),
        chunk(choice(tool_calls=[{"index": i, "function": {"arguments": "]"}} for i in (0, 1)])),
        # No index: by id; then neither: the latest call.
        chunk(choice(tool_calls=[{"id": "call_c", "function": {"name": "h", "arguments": "{"}}])),
        chunk(choice(tool_calls=[{"id": "call_a", "function": {"arguments": ""}}])),
        chunk(choice(tool_calls=[{"function": {"arguments": "}"}}], finish="tool_calls")),
    )
    assert json.loads(merged(body))["choices"][0]["message"]["tool_calls"] == [
        {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "[1]"}},
        {"id": "call_b", "type": "function", "function": {"name": "g", "arguments": "[2]"}},
        {"id": "call_c", "type": "function", "function": {"name": "h", "arguments": "{}"}},
    ]


def test_a_different_id_at_a_taken_index_starts_a_new_call(corpus: Path) -> None:
    path = corpus / "copilot-claude-tool-calls-same-index.sse"
    fragments_by_id: dict[str, list[str]] = {}
    current = ""
    for payload in corpus_chunks(path):
        for fragment in payload["choices"][0]["delta"].get("tool_calls") or []:
            assert fragment["index"] == 0
            current = fragment.get("id") or current
            fragments_by_id.setdefault(current, []).append(fragment["function"].get("arguments", ""))
    assert list(fragments_by_id) == ["tooluse_448k6WHnTpS28K0Bd1bhgA", "tooluse_2SRF2HShTXOoLdGrjWuGiw"]
    assert json.loads(merged(path.read_bytes()))["choices"][0]["message"]["tool_calls"] == [
        {"id": call_id, "type": "function", "function": {"name": "edit_file", "arguments": "".join(pieces)}}
        for call_id, pieces in fragments_by_id.items()
    ]


def test_an_id_after_the_arguments_still_decides_the_call() -> None:
    # The call a fragment continues is decided by its index and id wherever they stand in it: here the id
    # comes after `function` (spelled out, or escaped), and the result must be the one with the id first.
    # (A single pass that decides at the first other member would get this wrong; docs/decisions.md §8.)
    def body(fragment: str) -> bytes:
        return sse(
            chunk(choice(tool_calls=[{"index": 0, "id": "call_a", "function": {"name": "f", "arguments": "[1"}}])),
            '{"choices":[{"index":0,"delta":{"tool_calls":[' + fragment + "]}}]}",
            '{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"]"}}]}}]}',
            '{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"!"}}]}}],"id":"x"}',
            chunk(choice(finish="tool_calls")),
        )

    id_first = merged(body('{"index":0,"id":"call_b","function":{"name":"g","arguments":"[2"}}'))
    assert json.loads(id_first)["choices"][0]["message"]["tool_calls"] == [
        {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "[1"}},
        {"id": "call_b", "type": "function", "function": {"name": "g", "arguments": "[2]!"}},
    ]
    for id_later in ('{"index":0,"function":{"name":"g","arguments":"[2"},"id":"call_b"}',
                     '{"index":0,"function":{"name":"g","arguments":"[2"},"\\u0069d":"call_b"}'):
        assert merged(body(id_later)) == id_first, id_later


def test_output_tool_calls_drop_index_and_get_a_type() -> None:
    body = sse(
        chunk(choice(tool_calls=[{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}}])),
        chunk(choice(tool_calls=[{"index": 1, "id": "b", "custom": {"name": "patch", "input": "*** Begin"}}])),
        chunk(choice(tool_calls=[{"index": 1, "custom": {"input": " Patch"}}])),
        chunk(choice(tool_calls=[{"index": 2, "id": "c", "type": "function", "function": {"name": "g"}}])),
        chunk(choice(finish="tool_calls")),
    )
    assert json.loads(merged(body))["choices"][0]["message"]["tool_calls"] == [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
        {"id": "b", "type": "custom", "custom": {"name": "patch", "input": "*** Begin Patch"}},
        {"id": "c", "type": "function", "function": {"name": "g"}},
    ]


def test_tool_calls_come_out_in_index_order() -> None:
    body = sse(
        chunk(choice(tool_calls=[{"index": 1, "id": "call_b", "function": {"name": "g", "arguments": "{}"}}])),
        chunk(choice(tool_calls=[{"index": 0, "id": "call_a", "function": {"name": "f", "arguments": "{}"}}])),
        chunk(choice(finish="tool_calls")),
    )
    calls = json.loads(merged(body))["choices"][0]["message"]["tool_calls"]
    assert [call["id"] for call in calls] == ["call_a", "call_b"]


def test_content_parts_keep_earlier_text_and_merge_adjacent_parts(corpus: Path) -> None:
    thinking = [{"type": "thinking", "thinking": [{"type": "text", "text": "Hmm"}]}]
    body = sse(
        chunk(choice(role="assistant", content="")),
        chunk(choice(content="Pre")),
        chunk(choice(content=thinking)),
        chunk(choice(content=[{"type": "thinking", "thinking": [{"type": "text", "text": ", ok"}]}])),
        chunk(choice(content="An")),
        chunk(choice(content=[{"type": "text", "text": "swer"}])),
        chunk(choice(content=[{"type": "image_url", "image_url": {"url": "u"}}])),
        chunk(choice(content="!", finish="stop")),
    )
    assert json.loads(merged(body))["choices"][0]["message"]["content"] == [
        {"type": "text", "text": "Pre"},
        {"type": "thinking", "thinking": [{"type": "text", "text": "Hmm, ok"}]},
        {"type": "text", "text": "Answer"},
        {"type": "image_url", "image_url": {"url": "u"}},
        {"type": "text", "text": "!"},
    ]
    path = corpus / "mistral-magistral-thinking-array.sse"
    content = json.loads(merged(path.read_bytes()))["choices"][0]["message"]["content"]
    sent = [p["choices"][0]["delta"].get("content") for p in corpus_chunks(path)]
    thought = "".join(part_text(part) for parts in sent if type(parts) is list for part in parts)
    said = "".join(text for text in sent if type(text) is str)
    assert content == [
        {"type": "thinking", "thinking": [{"type": "text", "text": thought}]},
        {"type": "text", "text": said},
    ]


def test_logprobs_content_and_refusal_extend(corpus: Path) -> None:
    for name, field in [("openai-logprobs-content.sse", "content"), ("openai-logprobs-refusal.sse", "refusal")]:
        path = corpus / name
        sent = [c["logprobs"] for payload in corpus_chunks(path) for c in payload["choices"] if c.get("logprobs")]
        expected = [token for logprobs in sent for token in logprobs[field]]
        logprobs = json.loads(merged(path.read_bytes()))["choices"][0]["logprobs"]
        assert_same_json(logprobs[field], expected)
        assert len(expected) == {"content": 2, "refusal": 11}[field]
        assert logprobs["content" if field == "refusal" else "refusal"] is None
    b_token = {"token": "b", "logprob": -1.0, "bytes": [98], "top_logprobs": []}
    c_token = {"token": "c", "logprob": -0.5, "bytes": None, "top_logprobs": []}
    body = sse(
        chunk(choice(content="a") | {"logprobs": None}),
        chunk(choice(content="b") | {"logprobs": {"content": [b_token]}}),
        chunk(choice(content="c", finish="stop") | {"logprobs": {"content": [c_token], "refusal": None}}),
    )
    logprobs = json.loads(merged(body))["choices"][0]["logprobs"]
    assert_same_json(logprobs, {"content": [b_token, c_token], "refusal": None})


def test_annotations_extend(corpus: Path) -> None:
    path = corpus / "openrouter-web-search-annotations.sse"
    deltas = [c["delta"] for payload in corpus_chunks(path) for c in payload["choices"]]
    sent = [annotation for delta in deltas for annotation in delta.get("annotations") or []]
    assert len(sent) == 5
    assert_same_json(json.loads(merged(path.read_bytes()))["choices"][0]["message"]["annotations"], sent)


def test_obfuscation_is_dropped(corpus: Path) -> None:
    body = (corpus / "openai-text-obfuscation-service-tier.sse").read_bytes()
    assert body.count(b'"obfuscation":') == 303
    assert b"obfuscation" not in merged(body)


def test_message_always_has_a_role_and_content() -> None:
    body = sse(chunk(choice(reasoning_content="r")), chunk(choice(1, content=None)), chunk(choice(2, role="tool")))
    assert [c["message"] for c in json.loads(merged(body))["choices"]] == [
        {"role": "assistant", "content": None, "reasoning_content": "r"},
        {"role": "assistant", "content": None},
        {"role": "tool", "content": None},
    ]


def test_a_label_in_deltas_takes_the_last_value(corpus: Path) -> None:
    # Groq's gpt-oss sends "channel":"analysis" on every delta: a label (LABEL_KEYS), not text to concatenate.
    path = corpus / "groq-gpt-oss-reasoning-tool-call.sse"
    channels = [c["delta"]["channel"] for p in corpus_chunks(path) for c in p["choices"] if "channel" in c["delta"]]
    assert set(channels) == {"analysis"} and len(channels) > 1
    assert json.loads(merged(path.read_bytes()))["choices"][0]["message"]["channel"] == "analysis"


# --- the Accumulator API -------------------------------------------------------------------------------------------


def test_usage_is_available_as_soon_as_it_arrives(corpus: Path) -> None:
    body = (corpus / "openai-content-usage.sse").read_bytes()
    usage_at = body.index(b'"usage":{')
    accumulator = Accumulator()
    accumulator.feed(body[:usage_at])
    assert accumulator.usage is None
    accumulator.feed(body[usage_at : body.index(b"\n\n", usage_at) + 2])
    usage = accumulator.usage
    assert type(usage) is Usage
    details = CompletionTokensDetails(reasoning_tokens=0)
    assert usage == Usage(prompt_tokens=14, completion_tokens=30, total_tokens=44, completion_tokens_details=details)
    assert accumulator.usage is not usage  # a new object each time: later chunks do not change it
    accumulator.feed(body[body.index(b"\n\n", usage_at) + 2 :])
    accumulator.close()
    assert accumulator.usage == usage
    typed = fed((corpus / "openai-parallel-tool-calls-obfuscation.sse").read_bytes()).usage
    assert typed is not None and type(typed.prompt_tokens_details) is PromptTokensDetails
    assert typed.prompt_tokens_details == PromptTokensDetails(cached_tokens=0, audio_tokens=0)


def test_finished_and_done() -> None:
    accumulator = Accumulator()
    assert (accumulator.finished, accumulator.done, accumulator.chunks) == (False, False, 0)
    accumulator.feed(sse(chunk(choice(0, content="a"), choice(1, content="b")), done=False))
    assert (accumulator.finished, accumulator.done, accumulator.chunks) == (False, False, 1)
    accumulator.feed(sse(chunk(choice(0, finish="stop")), done=False))
    assert (accumulator.finished, accumulator.done) == (False, False)
    accumulator.feed(sse(chunk(choice(1, finish="length")), done=False))
    assert (accumulator.finished, accumulator.done) == (True, False)
    assert repr(accumulator) == "Accumulator(chunks=3, finished=True)"
    accumulator.feed(b"data: [DONE]\n\n")
    assert (accumulator.finished, accumulator.done, accumulator.chunks) == (True, True, 3)
    # [DONE] alone finishes a stream whose choices never said why they ended (Snowflake, OpenAI audio).
    no_reason = fed(sse(chunk(choice(content="a"))))
    assert (no_reason.finished, no_reason.done) == (True, True)
    accumulator.close()
    with pytest.raises(DecoderClosedError):
        accumulator.feed(b"data: {}\n\n")


def test_a_snapshot_is_not_changed_by_later_chunks() -> None:
    accumulator = Accumulator()
    accumulator.feed(sse(chunk(choice(role="assistant", content="Hel")), done=False))
    snapshot = accumulator.completion()
    before = encode(snapshot)
    accumulator.feed(sse(chunk(choice(content="lo", finish="stop"), usage={"total_tokens": 3})))
    assert encode(snapshot) == before
    assert snapshot.choices[0].message.content == "Hel" and snapshot.choices[0].finish_reason is None
    assert snapshot.usage is UNSET
    later = accumulator.completion()
    assert (later.choices[0].message.content, later.choices[0].finish_reason) == ("Hello", "stop")
    assert later is not snapshot


@pytest.mark.parametrize("name", sorted(CORPUS_EXPECTED))
def test_to_json_is_the_json_of_completion(corpus: Path, name: str) -> None:
    accumulator = fed_through_errors([(corpus / name).read_bytes()])
    # The same JSON value. Not always the same bytes: to_json keeps nested members (usage, audio, url_citation) in
    # the order they arrived, encode writes declared fields first.
    assert_same_json(json.loads(accumulator.to_json()), json.loads(encode(accumulator.completion())))
    reported = {
        "openrouter-reasoning-error-midstream.sse": "^Token limit reached$",  # an in-chunk error member
        "groq-tool-use-failed-error.sse": "^Tool call validation failed: ",  # an `event: error` frame
    }
    if name in reported:
        # The merged "error" member makes the body an error report for decode_completion.
        with pytest.raises(UpstreamError, match=reported[name]):
            decode_completion(accumulator.to_json())
    else:
        assert decode_completion(accumulator.to_json()) == accumulator.completion()


def test_to_json_is_encode_of_completion_byte_for_byte_when_members_arrive_in_declared_order() -> None:
    header = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    usage = {"prompt_tokens": 1, "total_tokens": 3, "completion_tokens_details": {"reasoning_tokens": 0}}
    body = sse(
        chunk(choice(role="assistant", content="Hi", refusal=None), service_tier="default", system_fingerprint="fp"),
        chunk(choice(tool_calls=[header], finish="tool_calls") | {"logprobs": None}, x_extra={"a": 1}),
        chunk(usage=usage),
    )
    accumulator = fed(body)
    assert accumulator.to_json() == encode(accumulator.completion())


def test_to_json_is_compact_whatever_the_provider_spacing() -> None:
    token = {"token": "Hi", "logprob": -0.5, "bytes": [72, 105], "top_logprobs": []}
    annotation = {"type": "url_citation", "url_citation": {"url": "https://example.com", "title": "a b"}}
    payload = chunk(choice(content="Hi", annotations=[annotation], finish="stop") | {"logprobs": {"content": [token]}})
    answer = merged(b"data: " + json.dumps(payload).encode() + b"\n\n")  # ", " and ": " separators
    assert json.loads(answer)["choices"][0]["logprobs"]["content"] == [token]
    outside_strings = re.sub(rb'"(?:[^"\\]|\\.)*"', b'""', answer)
    assert b" " not in outside_strings


ERROR_FILES = {"groq-tool-use-failed-error.sse", "openrouter-reasoning-error-midstream.sse"}


@pytest.mark.parametrize("name", sorted(set(CORPUS_EXPECTED) - ERROR_FILES))
def test_add_of_typed_chunks_equals_feed(corpus: Path, name: str) -> None:
    body = (corpus / name).read_bytes()
    decoder = ChunkDecoder()
    typed = decoder.feed(body)
    decoder.close()
    assert all(type(c) is ChatCompletionChunk for c in typed)
    from_structs = Accumulator()
    for typed_chunk in typed:
        from_structs.add(typed_chunk)
    from_payloads = Accumulator()
    for payload in corpus_chunks(corpus / name):
        from_payloads.add(json.dumps(payload, ensure_ascii=False))
    from_feed = fed(body)
    assert from_structs.chunks == from_payloads.chunks == from_feed.chunks == len(typed)
    # Structs re-encode their declared fields in declared order, so the same value, maybe not the same bytes.
    assert_same_json(json.loads(from_structs.to_json()), json.loads(from_feed.to_json()))
    assert_same_json(json.loads(from_payloads.to_json()), json.loads(from_feed.to_json()))


def test_add_of_payload_bytes_equals_feed_byte_for_byte(corpus: Path) -> None:
    path = corpus / "openai-parallel-tool-calls.sse"
    accumulator = Accumulator()
    for line in path.read_bytes().split(b"\n"):
        if line.startswith(b"data: {"):
            accumulator.add(line[len(b"data: ") :])
    assert accumulator.to_json() == merged(path.read_bytes())
    assert (accumulator.chunks, accumulator.done, accumulator.finished) == (25, False, True)


def test_add_raises_for_an_error_payload_after_merging_it() -> None:
    accumulator = Accumulator()
    accumulator.add(json.dumps(chunk(choice(content="a"))))
    report = chunk(choice(finish="length"), error={"code": 400, "message": "Token limit reached"})
    with pytest.raises(UpstreamError, match="^Token limit reached$"):
        accumulator.add(json.dumps(report))
    with pytest.raises(DecodeError, match=r"^JSON ends unexpectedly at \$\.choices\[0\] ") as raised:
        accumulator.add(b'{"choices":[')
    assert raised.value.path == "$.choices[0]"
    assert accumulator.chunks == 2
    assert json.loads(accumulator.to_json())["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize("name", sorted(set(CORPUS_EXPECTED) - {"groq-tool-use-failed-error.sse"}))
def test_json_lines_input_gives_the_same_completion(corpus: Path, name: str) -> None:
    # groq-tool-use-failed-error.sse is left out: its `event: error` frame has no JSON-lines form.
    body = (corpus / name).read_bytes()
    payloads = corpus_chunks(corpus / name)
    lines = b"".join(json.dumps(payload, ensure_ascii=False).encode() + b"\n" for payload in payloads)
    from_sse = fed_through_errors([body])
    for options in [{"format": "jsonl"}, {}]:
        accumulator = Accumulator(**options)
        try:
            accumulator.feed(lines)
        except UpstreamError:
            assert name == "openrouter-reasoning-error-midstream.sse"
        accumulator.close()
        assert_same_json(json.loads(accumulator.to_json()), json.loads(from_sse.to_json()))
        assert (accumulator.chunks, accumulator.done) == (from_sse.chunks, False)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_cutting_of_a_corpus_body_gives_the_same_completion(corpus: Path, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(CORPUS_EXPECTED)))
    body = (corpus / name).read_bytes()
    points = data.draw(st.lists(st.integers(0, len(body)), max_size=40))
    whole = fed_through_errors([body])
    pieces = fed_through_errors(cut(body, points))
    assert pieces.to_json() == whole.to_json()
    assert (pieces.chunks, pieces.done, pieces.finished) == (whole.chunks, whole.done, whole.finished)


def test_an_unfinished_stream_warns_or_raises_when_strict() -> None:
    body = sse(chunk(choice(role="assistant", content="Hel")), chunk(choice(content="lo")), done=False)
    message = r"^the stream ended after 2 chunks without \[DONE\] or a finish reason on every choice$"
    with pytest.warns(IncompleteStreamWarning, match=message):
        completion = accumulate([body])
    assert completion.choices[0].message.content == "Hello"
    with pytest.raises(TruncatedStreamError, match=message) as raised:
        accumulate([body], strict=True)
    assert raised.value.offset == -1
    assert raised.value.completion is not None and raised.value.completion.choices[0].message.content == "Hello"
    # Every choice finished: complete without [DONE] (JSON-lines streams have none).
    finished = sse(chunk(choice(content="Hi", finish="stop")), done=False)
    assert accumulate([finished], strict=True).choices[0].finish_reason == "stop"


def test_a_body_cut_inside_a_payload_warns_or_raises_when_strict() -> None:
    body = sse(chunk(choice(role="assistant", content="Hel")), done=False) + b'data: {"id":"chatcmpl-1","choices":[{'
    message = rf"^the stream ended inside an event, at stream offset {len(body)}, after 1 chunks$"
    with pytest.warns(IncompleteStreamWarning, match=message):
        assert accumulate([body[:20], body[20:]]).choices[0].message.content == "Hel"
    with pytest.raises(TruncatedStreamError, match=message) as raised:
        accumulate([body[:20], body[20:]], strict=True)
    assert raised.value.offset == len(body)
    assert raised.value.completion is not None
    assert raised.value.completion.choices[0].message.content == "Hel"
    accumulator = Accumulator()
    accumulator.feed(body)
    with pytest.raises(TruncatedStreamError):
        accumulator.close()
    assert accumulator.chunks == 1


def test_a_last_event_lacking_its_blank_line_is_merged(corpus: Path) -> None:
    last = b'data: {"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}'
    body = sse(chunk(choice(content="Hel")), done=False) + last
    accumulator = fed(body)
    assert (accumulator.chunks, accumulator.finished, accumulator.done) == (2, True, False)
    assert json.loads(accumulator.to_json())["choices"][0]["message"]["content"] == "Hello"
    # anthropic-gateway-tool-index-1.sse ends with "data: [DONE]\n" (one newline).
    assert fed((corpus / "anthropic-gateway-tool-index-1.sse").read_bytes()).done


def test_a_body_cut_inside_the_done_line_is_truncated() -> None:
    accumulator = Accumulator()
    accumulator.feed(sse(chunk(choice(content="x", finish="stop")), done=False) + b"data: [DO")
    with pytest.raises(TruncatedStreamError):
        accumulator.close()


def test_a_bad_chunk_does_not_lose_the_chunks_after_it_in_the_same_feed() -> None:
    good_before = sse(chunk(choice(role="assistant", content="A")), done=False)
    bad = b'data: {"choices":[{"index":0,"delta":{"content":5}}]}\n\n'
    rest = sse(chunk(choice(content="B")), chunk(choice(content="C", finish="stop")))
    accumulator = Accumulator()
    with pytest.raises(DecodeError) as raised:
        accumulator.feed(good_before + bad + rest)
    assert raised.value.path == "$.choices[0].delta.content"
    assert raised.value.offset == len(good_before) + len(b'data: {"choices":[{"index":0,"delta":{"content":')
    # The bad chunk counts: its other members were merged (here none).
    assert (accumulator.chunks, accumulator.done, accumulator.finished) == (4, True, True)
    assert json.loads(accumulator.to_json())["choices"][0]["message"]["content"] == "ABC"
    # Through accumulate: the error carries the completion, later chunks of the same piece included.
    with pytest.raises(DecodeError) as raised:
        accumulate([good_before + bad + rest])
    assert raised.value.completion is not None and raised.value.completion.choices[0].message.content == "ABC"


def test_an_error_report_is_raised_after_the_rest_of_the_piece_is_merged() -> None:
    body = sse(
        chunk(choice(role="assistant", content="A")),
        chunk(error={"message": "Overloaded", "type": "overloaded_error", "code": 529}),
        chunk(choice(content="B", finish="stop")),
    )
    accumulator = Accumulator()
    with pytest.raises(UpstreamError, match="^Overloaded$") as raised:
        accumulator.feed(body)
    assert (raised.value.type, raised.value.code) == ("overloaded_error", 529)
    assert (accumulator.chunks, accumulator.done) == (3, True)
    assert json.loads(accumulator.to_json())["choices"][0]["message"]["content"] == "AB"


def test_aaccumulate_equals_accumulate(corpus: Path) -> None:
    body = (corpus / "openai-n3-choices.sse").read_bytes()

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 100):
            yield body[start : start + 100]

    completion = asyncio.run(aaccumulate(pieces()))
    assert encode(completion) == encode(accumulate([body]))
    assert [c.message.content[:40] for c in completion.choices] == [
        '{"city":"San Francisco","temperature":65',
        '{"city":"San Francisco","temperature":61',
        '{"city":"San Francisco","temperature":59',
    ]

    async def unfinished() -> AsyncIterator[bytes]:
        yield sse(chunk(choice(content="a")), done=False)

    with pytest.raises(TruncatedStreamError) as raised:
        asyncio.run(aaccumulate(unfinished(), strict=True))
    assert raised.value.completion is not None and raised.value.completion.choices[0].message.content == "a"


# ---------------------------------------------------------------------------------------------------------------------
# 5. Memory without timing: nothing per chunk is kept.


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_a_hundred_thousand_chunks_are_merged_without_being_kept() -> None:
    count, fragment = 100_000, "0123456789"
    event = sse(chunk(choice(content=fragment)), done=False)
    batch = event * 1_000
    resident_before = _resident_bytes() if os.path.exists("/proc/self/statm") else 0
    accumulator = Accumulator()
    tracemalloc.start()
    try:
        for _ in range(count // 1_000):
            accumulator.feed(batch)
        accumulator.feed(b"data: [DONE]\n\n")
        accumulator.close()
        answer = accumulator.to_json()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (accumulator.chunks, accumulator.done) == (count, True)
    assert answer == (
        b'{"id":"chatcmpl-1","object":"chat.completion","created":1727346168,"model":"gpt-4o","choices":[{"index":0,'
        b'"message":{"role":"assistant","content":"' + fragment.encode() * count + b'"},"finish_reason":null}]}'
    )
    streamed = len(event) * count
    assert streamed > 15 * len(answer)
    # The Python heap held the answer and the pieces, never a Python object per chunk.
    assert peak < 3 * len(answer)
    # tracemalloc does not see the Rust heap: the resident size must not grow with the 16 MB streamed either.
    if resident_before:
        assert _resident_bytes() - resident_before < streamed // 2


def test_add_refuses_what_is_neither_a_chunk_nor_a_payload() -> None:
    accumulator = Accumulator()
    with pytest.raises(TypeError, match="expected a ChatCompletionChunk or its JSON payload, got int"):
        accumulator.add(123)  # type: ignore[arg-type]
    accumulator.add(bytearray(b'{"choices":[{"index":0,"delta":{"content":"a"}}]}'))
    accumulator.add(memoryview(b'{"choices":[{"index":0,"delta":{"content":"b"}}]}'))
    assert accumulator.completion().choices[0].message.content == "ab"


def test_feed_all_equals_feeding_each_piece_and_stops_at_the_first_error() -> None:
    body = sse(chunk(choice(role="assistant", content="A")), chunk(choice(content="B", finish="stop")))
    pieces = [body[start : start + 7] for start in range(0, len(body), 7)]
    one_by_one = Accumulator()
    for piece in pieces:
        one_by_one.feed(piece)
    all_at_once = Accumulator()
    all_at_once.feed_all(iter(pieces))
    assert all_at_once.to_json() == one_by_one.to_json()
    assert (all_at_once.chunks, all_at_once.done) == (2, True)

    good = sse(chunk(choice(role="assistant", content="A")), done=False)
    bad = b'data: {"choices":[{"index":0,"delta":{"content":5}}]}\n\n'
    taken: list[bytes] = []

    def source() -> Iterable[bytes]:
        for piece in (good, bad, sse(chunk(choice(content="C", finish="stop")))):
            taken.append(piece)
            yield piece

    accumulator = Accumulator()
    with pytest.raises(DecodeError):
        accumulator.feed_all(source())
    assert taken == [good, bad]  # nothing read past the piece that raised
    assert json.loads(accumulator.to_json())["choices"][0]["message"]["content"] == "A"
    with pytest.raises(TypeError):
        accumulator.feed_all([good, "text"])
    with pytest.raises(TypeError):
        accumulator.feed_all(5)
