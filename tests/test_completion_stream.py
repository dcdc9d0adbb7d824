"""chatsse.completion_to_stream: the events a provider would have sent for a completion, and the round
trip: accumulating them gives back the completion, byte for byte, for generated completions (text,
unicode, reasoning, refusals, tool calls, logprobs, n > 1, usage with details, undeclared members) and
for every corpus file's final completion."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chatsse

texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
names = st.text("abcdefghij_", min_size=1, max_size=8)
floats = st.floats(min_value=-50, max_value=0, allow_nan=False)
plain = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63), floats, texts),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(names, inner, max_size=3)),
    max_leaves=6,
)
# Undeclared members, named as providers name theirs (no declared name, no `index`, no padding name).
extra_names = st.sampled_from(["x_groq", "content_filter_results", "matched_stop", "stop_reason", "provider_specific", "x_\u00e9"])


def extras() -> st.SearchStrategy[dict[str, Any]]:
    # A value that is not null: a member seen only as null is kept only where it was.
    return st.dictionaries(extra_names, plain.filter(lambda value: value is not None), max_size=2)


def top_logprob() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda token, logprob: {"token": token, "logprob": logprob, "bytes": list(token.encode())}, texts, floats)


def entry(token: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda logprob, top: {"token": token, "logprob": logprob, "bytes": list(token.encode()), "top_logprobs": top},
                     floats, st.lists(top_logprob(), max_size=2))


@st.composite
def text_with_logprobs(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]] | None]:
    """A text, and the logprob entries of its tokens (which spell it), of other tokens, or none."""
    tokens = draw(st.lists(texts.filter(bool), min_size=1, max_size=6))
    kind = draw(st.sampled_from(["spelled", "other", "none"]))
    if kind == "none":
        return "".join(tokens), None
    if kind == "other":
        tokens_listed = draw(st.lists(texts, min_size=1, max_size=3))
        return "".join(tokens), [draw(entry(token)) for token in tokens_listed]
    return "".join(tokens), [draw(entry(token)) for token in tokens]


@st.composite
def tool_call(draw: st.DrawFn, n: int) -> dict[str, Any]:
    if draw(st.booleans()):
        call = {"id": f"call_{n}", "type": "function", "function": {"name": draw(names), "arguments": draw(texts)}}
    else:
        call = {"id": f"call_{n}", "type": "custom", "custom": {"name": draw(names), "input": draw(texts)}}
    return {**call, **draw(st.dictionaries(st.sampled_from(["x_call", "provider_specific"]), plain.filter(lambda v: v is not None), max_size=1))}


@st.composite
def choice(draw: st.DrawFn, index: int) -> dict[str, Any]:
    content, content_logprobs = draw(text_with_logprobs())
    message: dict[str, Any] = {"role": "assistant", "content": draw(st.sampled_from([content, None])) if content_logprobs is None else content}
    refusal_logprobs = None
    if draw(st.booleans()):
        refusal, refusal_logprobs = draw(text_with_logprobs())
        message["refusal"] = draw(st.sampled_from([refusal, None])) if refusal_logprobs is None else refusal
    for name in ("reasoning_content", "reasoning"):
        if draw(st.booleans()):
            message[name] = draw(texts)
    if draw(st.booleans()):
        message["tool_calls"] = [draw(tool_call(n)) for n in range(draw(st.integers(1, 3)))]
    if draw(st.booleans()):
        message["annotations"] = [{"type": "url_citation", "url_citation": {"end_index": 3, "start_index": 0, "title": draw(texts), "url": "https://x"}}]
    message.update(draw(st.dictionaries(st.sampled_from(["reasoning_details", "x_message", "channel"]), plain.filter(lambda v: v is not None), max_size=2)))
    out: dict[str, Any] = {"index": index, "message": message}
    logprobs_kind = draw(st.sampled_from(["absent", "null", "object"]))
    if content_logprobs is not None or refusal_logprobs is not None or logprobs_kind == "object":
        out["logprobs"] = {"content": content_logprobs, "refusal": refusal_logprobs}
    elif logprobs_kind == "null":
        out["logprobs"] = None
    out["finish_reason"] = draw(st.sampled_from(["stop", "length", "tool_calls", "content_filter", None]))
    out.update(draw(extras()))
    return out


@st.composite
def completions(draw: st.DrawFn) -> dict[str, Any]:
    """Completions as the accumulator writes them: members in chatsse.types order, the message with
    `role` and `content`, each choice with `finish_reason`, then the undeclared members."""
    completion: dict[str, Any] = {"id": draw(texts), "object": "chat.completion", "created": draw(st.integers(0, 2**40)), "model": draw(texts)}
    completion["choices"] = [draw(choice(index)) for index in range(draw(st.integers(0, 3)))]
    if draw(st.booleans()):
        usage: dict[str, Any] = {"prompt_tokens": draw(st.integers(0, 10**6)), "completion_tokens": draw(st.integers(0, 10**6)), "total_tokens": draw(st.integers(0, 2**64))}
        if draw(st.booleans()):
            usage["prompt_tokens_details"] = {"cached_tokens": draw(st.integers(0, 100)), "audio_tokens": 0}
        if draw(st.booleans()):
            usage["completion_tokens_details"] = {"reasoning_tokens": draw(st.integers(0, 100)), "accepted_prediction_tokens": 0}
        usage.update(draw(st.dictionaries(st.sampled_from(["cost", "is_byok"]), st.one_of(floats, st.booleans()), max_size=2)))
        completion["usage"] = usage
    elif draw(st.booleans()):
        completion["usage"] = None
    if draw(st.booleans()):
        completion["service_tier"] = draw(st.sampled_from(["default", "flex", None]))
    if draw(st.booleans()):
        completion["system_fingerprint"] = draw(st.sampled_from(["fp_1", None]))
    completion.update(draw(st.dictionaries(st.sampled_from(["prompt_filter_results", "citations", "x_groq"]), plain.filter(lambda v: v is not None), max_size=2)))
    return completion


def compact(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def accumulated(events: list[bytes], format: str = "sse") -> bytes:  # noqa: A002
    accumulator = chatsse.Accumulator(format=format)
    accumulator.feed(b"".join(events))
    accumulator.close()
    assert accumulator.finished
    return accumulator.to_json()


@settings(max_examples=300, deadline=None)
@given(completions(), st.integers(1, 9))
def test_a_generated_completion_comes_back_byte_for_byte(completion: dict[str, Any], piece_size: int) -> None:
    body = compact(completion)
    events = chatsse.completion_to_stream(body, piece_size=piece_size)
    assert events[-1] == b"data: [DONE]\n\n"
    assert accumulated(events) == body
    # Every chunk is one SSE event holding a chunk of the API's shape.
    for event in events[:-1]:
        assert event.startswith(b"data: ") and event.endswith(b"\n\n") and event.count(b"\n\n") == 1
        chunk = json.loads(event[6:])
        assert chunk["object"] == "chat.completion.chunk"
        for key in ("id", "created", "model", "service_tier", "system_fingerprint"):
            assert chunk.get(key, "absent") == completion.get(key, "absent")
        assert len(chunk["choices"]) <= 1
        for streamed in chunk["choices"]:
            for name in ("content", "refusal", "reasoning_content", "reasoning"):
                text = streamed["delta"].get(name)
                if isinstance(text, str) and not streamed.get("logprobs"):
                    assert len(text) <= piece_size
    chatsse.decode_chunk(events[0][6:])
    # JSON lines: the same chunks, one a line, no [DONE].
    lines = chatsse.completion_to_stream(body, piece_size=piece_size, format="jsonl")
    assert lines == [event[6:-1] for event in events[:-1]]
    assert accumulated(lines, format="jsonl") == body


@settings(max_examples=100, deadline=None)
@given(completions())
def test_a_completion_object_streams_as_its_encoding(completion: dict[str, Any]) -> None:
    decoded = chatsse.decode_completion(compact(completion))
    assert chatsse.completion_to_stream(decoded, piece_size=3) == chatsse.completion_to_stream(chatsse.encode(decoded), piece_size=3)
    assert chatsse.completion_to_stream(compact(completion).decode()) == chatsse.completion_to_stream(compact(completion))


def test_the_shape_of_a_short_answer() -> None:
    body = (b'{"id":"c1","object":"chat.completion","created":7,"model":"m","choices":[{"index":0,"message":'
            b'{"role":"assistant","content":"Hi there!","refusal":null},"logprobs":null,"finish_reason":"stop"}],'
            b'"usage":{"prompt_tokens":2,"completion_tokens":3,"total_tokens":5}}')
    head = b'data: {"id":"c1","object":"chat.completion.chunk","created":7,"model":"m","choices":['
    assert chatsse.completion_to_stream(body, piece_size=5) == [
        head + b'{"index":0,"delta":{"role":"assistant","refusal":null},"logprobs":null,"finish_reason":null}]}\n\n',
        head + b'{"index":0,"delta":{"content":"Hi th"},"logprobs":null,"finish_reason":null}]}\n\n',
        head + b'{"index":0,"delta":{"content":"ere!"},"logprobs":null,"finish_reason":null}]}\n\n',
        head + b'{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}\n\n',
        head + b'],"usage":{"prompt_tokens":2,"completion_tokens":3,"total_tokens":5}}\n\n',
        b"data: [DONE]\n\n",
    ]


def test_errors() -> None:
    with pytest.raises(chatsse.DecodeError, match=r"expected a completion \(a JSON object\)"):
        chatsse.completion_to_stream(b"[]")
    with pytest.raises(chatsse.DecodeError, match=r"expected an array at \$\.choices"):
        chatsse.completion_to_stream(b'{"choices":{}}')
    with pytest.raises(chatsse.DecodeError) as raised:
        chatsse.completion_to_stream(b'{"id":"a",}')
    assert raised.value.position == 10
    with pytest.raises(TypeError, match="expected a ChatCompletion or its JSON body"):
        chatsse.completion_to_stream(chatsse.ChatCompletionChunk())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="piece_size must be at least 1"):
        chatsse.completion_to_stream(b"{}", piece_size=0)
    with pytest.raises(ValueError, match='format must be "sse" or "jsonl"'):
        chatsse.completion_to_stream(b"{}", format="ndjson")  # type: ignore[arg-type]


def corpus_paths() -> list[Path]:
    from conftest import corpus_files

    return corpus_files()


@pytest.mark.parametrize("path", corpus_paths(), ids=lambda path: path.name)
@pytest.mark.parametrize("piece_size", [1, 4, 64])
def test_every_corpus_completion_comes_back_byte_for_byte(path: Path, piece_size: int) -> None:
    first = chatsse.Accumulator()
    try:
        first.feed(path.read_bytes())
        first.close()
    except chatsse.ChatSSEError:
        pass  # a provider's error or a cut body: the completion of what arrived is the input here
    body = first.to_json()
    events = chatsse.completion_to_stream(body, piece_size=piece_size)
    again = chatsse.Accumulator()
    try:
        again.feed(b"".join(events))
        again.close()
    except chatsse.UpstreamError:
        # A completion holding a provider's `error` member streams it, and merging it raises again.
        assert b'"error":' in body
    assert again.to_json() == body
    assert again.done


def test_the_readme_example_prints_what_the_readme_says(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n### `completion_to_stream(", 1)[1].split("\n### ", 1)[0]
    code, printed = re.findall(r"```(?:python)?\n(.*?)```", section, re.S)
    exec(compile(code, "README.md, completion_to_stream", "exec"), {})  # noqa: S102 -- the README's own example
    assert capsys.readouterr().out == printed
