"""Hostile and odd input: what an upstream nobody controls can send, and what each entry point makes of it.

Each test pins one rule: a chunk the Accumulator accepts always builds; every error is chatsse's own and
loses nothing; memory stays within the limits; providers' variants of the format merge right.
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import typing
import weakref
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatsse import (
    Accumulator,
    ChunkDecoder,
    DecodeError,
    EventTooLargeError,
    ServerSentEvent,
    SSEDecoder,
    TruncatedStreamError,
    UpstreamError,
    accumulate,
    aiter_chunks,
    decode_chunk,
    iter_chunks,
    iter_events,
    parse_partial_json,
    types,
)


def sse(*payloads: dict[str, Any] | str, done: bool = True) -> bytes:
    events = [b"data: " + (json.dumps(p) if isinstance(p, dict) else p).encode() + b"\n\n" for p in payloads]
    return b"".join(events) + (b"data: [DONE]\n\n" if done else b"")


def content_chunk(text: str, **members: Any) -> dict[str, Any]:
    return {"id": "c1", "choices": [{"index": 0, "delta": {"content": text}}], **members}


def pieces(body: bytes, size: int) -> list[bytes]:
    return [body[at : at + size] for at in range(0, len(body), size)]


# ---------------------------------------------------------------------------------------------------------------------
# What the Accumulator accepts always builds.

WRONG_AT_FEED = [
    # (payload, path of the member left out, the start of the message)
    ('{"choices":[{"index":0,"finish_reason":3,"delta":{"content":"ok"}}]}', "$.choices[0].finish_reason", "expected a string or null"),
    ('{"usage":"n/a","choices":[{"index":0,"delta":{"content":"ok"}}]}', "$.usage", "expected an object or null"),
    ('{"created":1.0,"choices":[{"index":0,"delta":{"content":"ok"}}]}', "$.created", "expected an integer, found a float"),
    ('{"choices":[{"index":0,"delta":{"role":5,"content":"ok"}}]}', "$.choices[0].delta.role", "expected a string"),
    (
        '{"choices":[{"index":0,"delta":{"content":"ok","tool_calls":[{"index":0,"function":"f"}]}}]}',
        "$.choices[0].delta.tool_calls[0].function",
        "expected an object",
    ),
    ('{"choices":[{"index":0,"delta":{"content":"ok"}}],"extra":"\\ud800"}', "$.extra", "\\u escape is a lone"),
    ('{"choices":[{"index":0,"delta":{"content":"ok"}}],"extra":{"n":1e400}}', "$.extra", "number out of range"),
    ('{"choices":[{"index":0,"delta":{"content":"ok"}}],"seed":' + "7" * 5000 + "}", "$.seed", "integer of 5000 digits"),
]


@pytest.mark.parametrize(("payload", "path", "message"), WRONG_AT_FEED, ids=[case[1] for case in WRONG_AT_FEED])
def test_a_member_that_would_not_build_is_refused_at_feed_and_the_rest_merged(payload: str, path: str, message: str) -> None:
    prefix = sse(content_chunk("Hi "), done=False)
    body = prefix + sse(payload, {"choices": [{"index": 0, "delta": {"content": "!"}, "finish_reason": "stop"}]})
    accumulator = Accumulator()
    with pytest.raises(DecodeError) as raised:
        accumulator.feed(body)
    assert raised.value.path == path
    assert str(raised.value).startswith(message)
    assert len(prefix) < raised.value.offset < len(body)  # a stream offset, in the bad payload
    accumulator.close()
    completion = accumulator.completion()
    assert (completion.choices[0].message.content, completion.choices[0].finish_reason) == ("Hi ok!", "stop")
    assert accumulator.usage is None
    assert json.loads(accumulator.to_json())["choices"][0]["message"]["content"] == "Hi ok!"
    # accumulate() raises it too, with the completion of the whole body.
    with pytest.raises(DecodeError) as raised:
        accumulate([body])
    assert raised.value.completion is not None and raised.value.completion.choices[0].message.content == "Hi ok!"


def test_add_refuses_the_same_members() -> None:
    for payload, path, _ in WRONG_AT_FEED:
        accumulator = Accumulator()
        with pytest.raises(DecodeError) as raised:
            accumulator.add(payload)
        assert raised.value.path == path
        assert accumulator.completion().choices[0].message.content == "ok"


def test_every_error_out_of_accumulate_carries_the_completion() -> None:
    def broken() -> typing.Iterator[bytes]:
        yield sse(content_chunk("partial"), done=False)
        raise ConnectionResetError("upstream dropped the connection")

    with pytest.raises(ConnectionResetError) as raised:
        accumulate(broken())
    assert raised.value.completion.choices[0].message.content == "partial"  # type: ignore[attr-defined]
    with pytest.raises(TypeError) as raised_type:
        accumulate([sse(content_chunk("a"), done=False), 5])  # type: ignore[list-item]
    assert raised_type.value.completion.choices[0].message.content == "a"  # type: ignore[attr-defined]


def completion_paths() -> list[tuple[tuple[str | int, ...], Any]]:
    """Every declared member below a completion, as the chunk path that merges into it (`message` is a
    choice's `delta`, lists hold one element) and its msgspec type."""
    found: list[tuple[tuple[str | int, ...], Any]] = []

    def walk(cls: Any, path: tuple[str | int, ...]) -> None:
        for field in msgspec.inspect.type_info(cls).fields:
            name = "delta" if (cls is types.Choice and field.name == "message") else field.name
            if path == () and name == "choices" or (cls is types.Choice and name == "index"):
                continue
            found.append(((*path, name), field.type))
            for inner in unwrap(field.type):
                if isinstance(inner, msgspec.inspect.StructType):
                    walk(inner.cls, (*path, name))
                elif isinstance(inner, msgspec.inspect.ListType):
                    for item in unwrap(inner.item_type):
                        if isinstance(item, msgspec.inspect.StructType):
                            walk(item.cls, (*path, name, 0))

    walk(types.ChatCompletion, ())
    walk(types.Choice, ("choices", 0))
    return found


def unwrap(t: Any) -> list[Any]:
    return list(t.types) if isinstance(t, msgspec.inspect.UnionType) else [t]


def wrong_values(t: Any) -> list[Any]:
    """JSON values that are not of type `t` (and none that is)."""
    kinds = {type(inner) for inner in unwrap(t)}
    candidates: list[tuple[Any, tuple[type, ...]]] = [
        (5, (msgspec.inspect.IntType, msgspec.inspect.FloatType, msgspec.inspect.AnyType)),
        (1.5, (msgspec.inspect.FloatType, msgspec.inspect.AnyType)),
        ("s", (msgspec.inspect.StrType, msgspec.inspect.AnyType)),
        ([1], (msgspec.inspect.ListType, msgspec.inspect.AnyType)),
        ({"k": 1}, (msgspec.inspect.StructType, msgspec.inspect.DictType, msgspec.inspect.AnyType)),
        (True, (msgspec.inspect.BoolType, msgspec.inspect.AnyType)),
    ]
    return [value for value, admitted in candidates if not kinds & set(admitted)]


def put(document: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    """Sets `value` at `path`, making (or replacing with) the objects and one-element lists on the way."""
    at: Any = document
    for step, following in zip(path, path[1:]):
        container: type = list if isinstance(following, int) else dict
        if isinstance(step, int):
            while len(at) <= step:
                at.append(container())
            if not isinstance(at[step], container):
                at[step] = container()
            at = at[step]
        else:
            if not isinstance(at.get(step), container):
                at[step] = container()
            at = at[step]
    if isinstance(at, list):
        at.append(value)
    else:
        at[path[-1]] = value


def test_the_merge_schema_follows_the_types() -> None:
    # A wrong-typed value at every declared path (read from chatsse.types, the source of truth): refused at feed
    # with that path, never built into a completion that fails. A path missing from the accumulator's own table
    # (src/accumulate/schema.rs) makes completion() fail here.
    paths = completion_paths()
    assert len(paths) > 60
    checked = 0
    for path, field_type in paths:
        for value in wrong_values(field_type):
            document: dict[str, Any] = {"choices": [{"index": 0, "delta": {"content": "ok"}}]}
            put(document, path, value)
            accumulator = Accumulator()
            if path == ("object",):  # not taken from the chunks: a completion's object is "chat.completion"
                accumulator.add(json.dumps(document))
                assert accumulator.completion().object == "chat.completion"
                continue
            with pytest.raises(DecodeError) as raised:
                accumulator.add(json.dumps(document))
            shown = "$" + "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)
            assert raised.value.path == shown or raised.value.path.startswith(shown + "."), (shown, value, raised.value)
            completion = accumulator.completion()
            replaced = ("choices", 0, "delta", "content")[: len(path)] == path  # the value took the content's place
            assert completion.choices[0].message.content == (None if replaced else "ok")
            checked += 1
    assert checked > 150


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_whatever_feed_accepts_builds(data: st.DataObject) -> None:
    paths = completion_paths()
    accumulator = Accumulator()
    body = b""
    for _ in range(data.draw(st.integers(1, 4))):
        document: dict[str, Any] = {"choices": [{"index": 0, "delta": {"content": "x"}}]}
        for _ in range(data.draw(st.integers(0, 3))):
            path, _ = data.draw(st.sampled_from(paths))
            put(document, path, data.draw(json_values))
        body += sse(document, done=False)
    for piece in pieces(body, data.draw(st.integers(1, 200))):
        try:
            accumulator.feed(piece)
        except (DecodeError, UpstreamError):
            pass
    accumulator.close()
    completion = accumulator.completion()  # builds: the point of the test
    assert type(completion) is types.ChatCompletion
    assert json.loads(accumulator.to_json(), parse_constant=pytest.fail)["object"] == "chat.completion"
    assert accumulator.usage is None or type(accumulator.usage) is types.Usage
    assert isinstance(accumulator.tool_call_arguments(), list)


# ---------------------------------------------------------------------------------------------------------------------
# Every error is chatsse's own, and loses nothing.


def test_integers_past_pythons_digit_limit_are_decode_errors() -> None:
    big = "9" * 5000
    with pytest.raises(DecodeError, match="^integer of 5000 digits") as raised:
        decode_chunk('{"created":' + big + "}")
    assert raised.value.path == "$.created"
    body = sse(content_chunk("a"), '{"id":"x","seed":' + big + "}", content_chunk("b"))
    decoder = ChunkDecoder()
    with pytest.raises(DecodeError) as raised:
        decoder.feed(body)
    assert [c.choices[0].delta.content for c in raised.value.chunks] == ["a"]  # type: ignore[index, union-attr]
    got = []
    with pytest.raises(DecodeError):
        for chunk in iter_chunks([body]):
            got.append(chunk)
    assert len(got) == 1
    # 4,300 digits are an int.
    assert decode_chunk('{"created":' + "9" * 4300 + "}").created == int("9" * 4300)


def test_a_deeply_nested_error_frame_is_an_upstream_error() -> None:
    nested = "[" * 50_000 + "]" * 50_000
    body = sse(content_chunk("a"), done=False) + b"event: error\ndata: " + nested.encode() + b"\n\n"
    with pytest.raises(UpstreamError) as raised:
        list(iter_chunks([body]))
    assert raised.value.error is None and raised.value.payload == nested
    accumulator = Accumulator()
    with pytest.raises(UpstreamError):
        accumulator.feed(body)
    assert accumulator.completion().choices[0].message.content == "a"


def test_a_payload_error_is_not_hidden_by_a_later_framing_error_of_the_same_feed() -> None:
    bad = b'data: {"choices":[{"index":0,"finish_reason":3}]}\n\n'
    error_frame = b'event: error\ndata: {"error":{"message":"overloaded"}}\n\n'
    too_large = b"data: " + b"x" * 200 + b"\n\n"
    for first, raised_first in ((bad, DecodeError), (error_frame, UpstreamError)):
        accumulator = Accumulator(max_event_size=100)
        with pytest.raises(raised_first):
            accumulator.feed(sse(content_chunk("a"), done=False) + first + too_large)
        with pytest.raises(EventTooLargeError):  # the stream stays failed: said at the next call
            accumulator.feed(b"data: {}\n\n")
        with pytest.raises(EventTooLargeError):
            accumulator.close()
        assert accumulator.completion().choices[0].message.content == "a"


def test_a_tool_call_index_that_is_no_integer_is_refused_not_merged() -> None:
    fragments = [
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": "0", "function": {"arguments": '{"x":{"y":1}'}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 1.0, "function": {"arguments": "2}"}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 2**63, "function": {"arguments": "3"}}]}}]},
    ]
    accumulator = Accumulator()
    paths = []
    for fragment in fragments:
        with pytest.raises(DecodeError) as raised:
            accumulator.add(json.dumps(fragment))
        paths.append(raised.value.path)
    assert paths == ["$.choices[0].delta.tool_calls[0].index"] * 3
    assert accumulator.completion().choices[0].message.tool_calls is None


def test_the_cli_writes_valid_json_or_a_one_line_error(tmp_path: Any) -> None:
    cases = {
        "float": b'{"choices":[],"x":1e400}',
        "surrogate": b'{"choices":[],"x":"\\ud800"}',
        "digits": b'{"choices":[],"x":' + b"1" * 5000 + b"}",
    }
    for name, bad in cases.items():
        path = tmp_path / f"{name}.sse"
        path.write_bytes(sse(content_chunk("Hi"), bad.decode(), {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        result = subprocess.run([sys.executable, "-m", "chatsse", "accumulate", "--indent", str(path)], capture_output=True, check=False)
        assert result.returncode == 1, name
        completion = json.loads(result.stdout)  # valid JSON: no Infinity
        assert (completion["choices"][0]["message"]["content"], "x" in completion) == ("Hi", False)
        assert len(result.stderr.decode().strip().splitlines()) == 1, result.stderr
        assert b"Traceback" not in result.stderr


def test_the_offset_of_a_last_json_line_after_blank_space() -> None:
    body = b'{"id":"a"}\n   {"id":"b","created":"x"}'
    with pytest.raises(DecodeError) as raised:
        list(iter_chunks([body]))
    assert raised.value.offset == body.index(b'"x"')


def test_events_hold_plain_strs_so_no_cycle_can_leak() -> None:
    class Tagged(str):
        pass

    data = Tagged("payload")
    event = ServerSentEvent(data, event=Tagged("message"), id=Tagged("7"))
    assert [type(value) for value in (event.data, event.event, event.id)] == [str, str, str]
    assert event == ServerSentEvent("payload", id="7")
    # A cycle through the str subclass would never be collected (events are no GC type): the event holds a copy.
    data.loop = event  # type: ignore[attr-defined]
    watcher = weakref.ref(data)
    del data, event
    gc.collect()
    assert watcher() is None


# ---------------------------------------------------------------------------------------------------------------------
# Clear messages.


def test_a_whole_body_passed_as_the_source_says_what_to_pass() -> None:
    message = r"^iter_chunks\(\) takes an iterable of byte pieces \(such as response.iter_bytes\(\)\), not bytes: "
    with pytest.raises(TypeError, match=message):
        list(iter_chunks(b'data: {"id":"a"}\n\n'))  # type: ignore[arg-type]
    for function in (accumulate, iter_events):
        with pytest.raises(TypeError, match=rf"^{function.__name__}\(\) takes an iterable of byte pieces .*, not str: "):
            result = function("data: x\n\n")  # type: ignore[arg-type]
            list(result) if not isinstance(result, types.ChatCompletion) else None


def test_a_whole_body_passed_to_aiter_chunks_says_what_to_pass() -> None:
    async def drain() -> None:
        async for _ in aiter_chunks(b"data: x\n\n"):  # type: ignore[arg-type]
            pass

    with pytest.raises(TypeError, match=r"^aiter_chunks\(\) takes an iterable of byte pieces"):
        asyncio.run(drain())


def test_a_str_without_utf8_form_is_a_decode_error() -> None:
    text = '{"id":"\ud800"}'
    for function in (decode_chunk, parse_partial_json, Accumulator().add):
        with pytest.raises(DecodeError, match=r"^the str has no UTF-8 form: a lone surrogate '\\ud800' at index 7$") as raised:
            function(text)
        assert raised.value.position == 7


def test_parse_partial_json_drops_a_character_cut_in_two() -> None:
    encoded = '{"text": "café'.encode()
    assert parse_partial_json(encoded[:-1]) == {"text": "caf"}
    assert parse_partial_json(encoded) == {"text": "café"}
    with pytest.raises(DecodeError, match="^invalid UTF-8"):
        parse_partial_json(b'{"text": "\xff"}')


def test_accumulator_errors_give_the_path_they_occur_at() -> None:
    accumulator = Accumulator()
    with pytest.raises(DecodeError) as raised:
        accumulator.add('{"choices":[{"index":0,"delta":{"content":"a",}}]}')
    assert raised.value.path == "$.choices[0].delta"
    with pytest.raises(DecodeError) as raised:
        accumulator.add('{"choices":[{"index":0,"delta":{"annotations":{"type":"url_citation"}}}]}')
    assert raised.value.path == "$.choices[0].delta.annotations"
    with pytest.raises(DecodeError, match="^choice index 9223372036854775808 is out of range") as raised:
        accumulator.add('{"choices":[{"index":9223372036854775808}]}')
    assert raised.value.path == "$.choices[0].index"


PRETTY_ERROR = b'{\n  "error": {\n    "message": "Invalid API key",\n    "type": "invalid_request_error",\n    "code": 401\n  }\n}\n'


def test_a_pretty_printed_error_body_is_an_upstream_error() -> None:
    for size in (len(PRETTY_ERROR), 7, 1):
        with pytest.raises(UpstreamError, match="^Invalid API key$") as raised:
            list(iter_chunks(pieces(PRETTY_ERROR, size)))
        assert (raised.value.code, raised.value.offset) == (401, 0)
        with pytest.raises(UpstreamError, match="^Invalid API key$") as raised:
            accumulate(pieces(PRETTY_ERROR, size))
        assert raised.value.completion is not None


# ---------------------------------------------------------------------------------------------------------------------
# Time and memory stay bounded.


def test_a_blank_start_gives_the_same_events_however_cut() -> None:
    body = b"\n" * 2000 + b'data: {"id":"a"}\n\n'
    for format_ in ("auto", "sse"):
        for size in (len(body), 64, 1):
            chunks = list(iter_chunks(pieces(body, size), format=format_, require_done=False, max_event_size=1024))
            assert chunks == [types.ChatCompletionChunk(id="a")], (format_, size)
    body = b" " * 2000 + b'{"id":"a"}\n'
    for size in (len(body), 64, 1):
        accumulator = Accumulator(max_event_size=1024)
        with pytest.raises(EventTooLargeError) as raised:
            for piece in pieces(body, size):
                accumulator.feed(piece)
        assert (raised.value.limit, raised.value.offset) == (1024, 0)
        with pytest.raises(EventTooLargeError):
            accumulator.feed(b"\n" * 64)  # stays failed, holds nothing more


def test_an_event_of_empty_data_lines_is_bounded_by_the_limit() -> None:
    decoder = SSEDecoder(max_event_size=1024)
    with pytest.raises(EventTooLargeError) as raised:
        for _ in range(1024):
            decoder.feed(b"data:\n")
    assert raised.value.offset == 0


def test_many_choices_and_names_in_one_chunk_merge_in_full() -> None:
    # Linear time is what benches/test_pathological.py measures; here, that the result is whole.
    n = 20_000
    accumulator = Accumulator()
    accumulator.feed(b'data: {"choices":[' + b",".join([b"{}"] * n) + b"]}\n\n")
    assert len(accumulator.completion().choices) == n
    names = ",".join(f'"k{k}":"{k}"' for k in range(n))
    accumulator = Accumulator()
    accumulator.add('{"choices":[{"index":0,"delta":{' + names + "}}]}")
    message = json.loads(accumulator.to_json())["choices"][0]["message"]
    assert [message[f"k{k}"] for k in (0, n // 2, n - 1)] == ["0", str(n // 2), str(n - 1)]


# ---------------------------------------------------------------------------------------------------------------------
# Providers' variants.


def test_a_message_sent_with_each_delta_is_not_merged_twice() -> None:
    body = sse(
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "He"}, "message": {"role": "assistant", "content": "He"}}]},
        {"choices": [{"index": 0, "message": {"content": "llo"}, "delta": {"content": "llo"}, "finish_reason": "stop"}]},
    )
    assert accumulate([body]).choices[0].message.content == "Hello"


def test_usage_only_inside_x_groq_is_the_usage() -> None:
    body = sse(
        content_chunk("a", x_groq={"id": "req_1"}),
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "x_groq": {"id": "req_1", "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}},
    )
    accumulator = Accumulator()
    accumulator.feed(body)
    assert accumulator.usage == types.Usage(prompt_tokens=5, completion_tokens=2, total_tokens=7)
    completion = accumulator.completion()
    assert completion.usage == accumulator.usage
    assert completion.x_groq == {"id": "req_1", "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}  # type: ignore[attr-defined]


def test_mistral_padding_is_dropped() -> None:
    body = sse(content_chunk("a", p="abcdefghij"), content_chunk("b", p="abc"))
    accumulator = Accumulator()
    accumulator.feed(body)
    assert "p" not in json.loads(accumulator.to_json())


def test_an_identity_member_empty_on_every_chunk_stays_empty() -> None:
    body = sse(content_chunk("a", system_fingerprint=""), content_chunk("b", system_fingerprint=""))
    assert accumulate([body]).system_fingerprint == ""


def test_an_error_frame_is_kept_in_the_body() -> None:
    body = sse(content_chunk("a"), done=False) + b'event: error\ndata: {"error":{"message":"overloaded","code":529}}\n\n'
    accumulator = Accumulator()
    with pytest.raises(UpstreamError, match="^overloaded$"):
        accumulator.feed(body)
    assert json.loads(accumulator.to_json())["error"] == {"message": "overloaded", "code": 529}
    assert accumulator.completion().error == {"message": "overloaded", "code": 529}  # type: ignore[attr-defined]
    accumulator = Accumulator()
    with pytest.raises(UpstreamError):
        accumulator.feed(b"event: error\ndata: upstream timed out\n\n")
    assert json.loads(accumulator.to_json())["error"] == "upstream timed out"


def test_json_lines_need_no_done() -> None:
    body = json.dumps(content_chunk("a")).encode() + b"\n" + json.dumps(content_chunk("b")).encode() + b"\n"
    assert [c.choices[0].delta.content for c in iter_chunks([body])] == ["a", "b"]  # type: ignore[index, union-attr]
    completion = accumulate([body], strict=True)  # unfinished choices, yet the body is whole
    assert completion.choices[0].message.content == "ab"
    with pytest.raises(TruncatedStreamError):
        list(iter_chunks([body[:-5]]))
    with pytest.raises(TruncatedStreamError):
        accumulate([body[:-5]], strict=True)
