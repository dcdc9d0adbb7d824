"""chatsse.encode (a walk in Rust) against the Python walk it replaced, kept here as the reference:
byte for byte the same output, and the same exception (type and message) where the reference raises.
Generated chunks and completions with undeclared members at every level, hand-made Structs holding
values of every kind, every corpus file's chunks and final completion; Accumulator.add of a chunk
object against add of its bytes; deep nesting."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chatsse
from chatsse import types


def reference_builtins(value: Any) -> Any:
    """The Python walk of chatsse.encode before issue 13 (python/chatsse/_chunks.py), as it was."""
    if isinstance(value, msgspec.Struct):
        cls = type(value)
        config = cls.__struct_config__
        out = {config.tag_field: config.tag} if config.tag_field is not None else {}
        for name in cls.__struct_fields__:
            field = getattr(value, name)
            if field is not msgspec.UNSET:
                out[name] = reference_builtins(field)
        extras = value.__dict__
        if extras:
            for name, field in extras.items():
                out[name] = reference_builtins(field)
        return out
    if isinstance(value, list):
        return [reference_builtins(item) for item in value]
    if isinstance(value, dict):
        return {key: reference_builtins(item) for key, item in value.items()}
    return value


def reference_encode(obj: Any) -> bytes:
    return msgspec.json.encode(reference_builtins(obj))


def outcome(encode: Any, obj: Any) -> tuple[str, Any]:
    try:
        return ("ok", encode(obj))
    except Exception as error:  # noqa: BLE001 -- the exception is the result compared
        return (type(error).__name__, str(error))


def assert_same(obj: Any) -> None:
    expected = outcome(reference_encode, obj)
    assert outcome(chatsse.encode, obj) == expected


# -- generated documents --------------------------------------------------------------------------------

keys = st.text(st.characters(codec="utf-8"), max_size=8)
texts = st.text(st.characters(codec="utf-8"), max_size=12)
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1e16, 1e-6, 1e-5, 5e-324, 1e308, 0.1, 123456789.125]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
plain = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)), max_leaves=8)
# Undeclared members: names no chatsse type declares (a declared name would be read as the field).
extra_names = st.sampled_from(["x_groq", "content_filter_results", "matched_stop", "citations", "k\u00e9y", "a\"b", "p2"])
extras = st.dictionaries(extra_names, plain, max_size=2)


def with_extras(members: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    return {**members, **more}


logprob = st.fixed_dictionaries(
    {"token": texts, "logprob": st.floats(max_value=0, allow_nan=False, allow_infinity=False), "bytes": st.one_of(st.none(), st.lists(st.integers(0, 255), max_size=3))},
    optional={"top_logprobs": st.lists(st.fixed_dictionaries({"token": texts, "logprob": st.floats(max_value=0, allow_nan=False, allow_infinity=False), "bytes": st.none()}), max_size=2)},
).flatmap(lambda member: extras.map(lambda more: with_extras(member, more)))
tool_call_delta = st.fixed_dictionaries(
    {}, optional={"index": st.integers(0, 3), "id": texts, "type": st.just("function"),
                  "function": st.fixed_dictionaries({}, optional={"name": texts, "arguments": texts}).flatmap(lambda f: extras.map(lambda more: with_extras(f, more)))},
).flatmap(lambda member: extras.map(lambda more: with_extras(member, more)))
delta = st.fixed_dictionaries(
    {}, optional={"role": st.just("assistant"), "content": st.one_of(st.none(), texts), "refusal": st.one_of(st.none(), texts),
                  "reasoning_content": texts, "reasoning": texts, "tool_calls": st.lists(tool_call_delta, max_size=2)},
).flatmap(lambda member: extras.map(lambda more: with_extras(member, more)))
chunk_choice = st.fixed_dictionaries(
    {"index": st.integers(0, 3)},
    optional={"delta": delta, "logprobs": st.one_of(st.none(), st.fixed_dictionaries({}, optional={"content": st.lists(logprob, max_size=2), "refusal": st.none()})),
              "finish_reason": st.one_of(st.none(), st.sampled_from(["stop", "length", "tool_calls"]))},
).flatmap(lambda member: extras.map(lambda more: with_extras(member, more)))
usage = st.fixed_dictionaries(
    {}, optional={"prompt_tokens": st.integers(0, 2**64), "completion_tokens": st.integers(0, 10**6), "total_tokens": st.integers(0, 10**6),
                  "prompt_tokens_details": st.fixed_dictionaries({}, optional={"cached_tokens": st.integers(0, 100)}).flatmap(lambda d: extras.map(lambda more: with_extras(d, more)))},
).flatmap(lambda member: extras.map(lambda more: with_extras(member, more)))
chunks = st.fixed_dictionaries(
    {}, optional={"id": texts, "object": st.just("chat.completion.chunk"), "created": st.integers(0, 2**40), "model": texts,
                  "service_tier": st.one_of(st.none(), texts), "system_fingerprint": st.one_of(st.none(), texts),
                  "choices": st.lists(chunk_choice, max_size=3), "usage": st.one_of(st.none(), usage), "obfuscation": texts},
).flatmap(lambda member: extras.map(lambda more: with_extras(member, more)))


def as_completion(chunk: dict[str, Any]) -> dict[str, Any]:
    """A completion of the same shape: each choice's delta as its message."""
    completion = {key: value for key, value in chunk.items() if key != "obfuscation"}
    completion["choices"] = [
        {("message" if key == "delta" else key): value for key, value in choice.items()} for choice in chunk.get("choices", [])
    ]
    for choice in completion["choices"]:
        for call in (choice.get("message") or {}).get("tool_calls") or ():
            call.pop("index", None)
    return completion


@settings(max_examples=200, deadline=None)
@given(chunks)
def test_generated_chunks_encode_as_the_python_walk_did(chunk: dict[str, Any]) -> None:
    payload = json.dumps(chunk, ensure_ascii=False).encode()
    decoded = chatsse.decode_chunk(payload)
    assert_same(decoded)
    # Undeclared members decode as plain values: the encoding reads back as the payload's JSON value
    # (less the float-for-int fields: `logprob` is declared a float).
    if not any(choice.get("logprobs") for choice in chunk.get("choices", [])):
        assert json.loads(chatsse.encode(decoded)) == chunk


@settings(max_examples=150, deadline=None)
@given(chunks)
def test_generated_completions_encode_as_the_python_walk_did(chunk: dict[str, Any]) -> None:
    assert_same(chatsse.decode_completion(json.dumps(as_completion(chunk)).encode()))


# -- hand-made Structs holding every kind of value ----------------------------------------------------------


class Color(str):
    """A str subclass: msgspec refuses it as a value, accepts it as a key."""


odd_values = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 2**64 - 1, 2**64, -(2**64), 10**40, True, False, None, (1, "a"), b"ab",
                     msgspec.UNSET, Color("red"), {1: "int key", 2.5: "float key"}, {Color("k"): 1}, [msgspec.UNSET], object(),
                     "\ud800", {"lone": "\udfff"}, "\x00\x1f\x7f\u2028\"\\/", frozenset()]),
    plain,
)
struct_classes = st.sampled_from([types.ChatCompletionChunk, types.ChunkChoice, types.ChoiceDelta, types.Usage, types.ChatCompletion,
                                  types.ChatCompletionMessage, types.ToolCall, types.ChatCompletionContentPartText, types.Message])


@st.composite
def structs(draw: st.DrawFn, depth: int = 0) -> msgspec.Struct:
    cls = draw(struct_classes)
    instance = cls(index=draw(st.integers(0, 3))) if "index" in cls.__struct_fields__ and cls.__struct_defaults__ and len(cls.__struct_defaults__) < len(cls.__struct_fields__) else cls()
    for name in draw(st.lists(st.sampled_from(cls.__struct_fields__), max_size=3, unique=True)):
        value = draw(structs(depth + 1)) if depth < 2 and draw(st.booleans()) else draw(odd_values)
        setattr(instance, name, value)
    for name in draw(st.lists(extra_names, max_size=2, unique=True)):
        value = draw(st.one_of(odd_values, st.lists(structs(depth + 1), max_size=2))) if depth < 2 else draw(odd_values)
        setattr(instance, name, value)
    return instance


@settings(max_examples=300, deadline=None)
@given(st.one_of(structs(), st.lists(structs(), max_size=3), st.dictionaries(keys, structs(), max_size=2), odd_values))
def test_any_value_encodes_or_fails_as_the_python_walk_did(obj: Any) -> None:
    assert_same(obj)


def test_what_the_python_walk_does_with_odd_members() -> None:
    chunk = chatsse.decode_chunk(b'{"id":"a","choices":[]}')
    chunk.__dict__["id"] = "replaced in place"  # a declared name in __dict__: the dict's rule, kept
    assert chatsse.encode(chunk) == reference_encode(chunk) == b'{"id":"replaced in place","choices":[]}'
    part = types.ChatCompletionContentPartText(text="t")
    part.__dict__["type"] = "other"  # the tag field's name
    assert chatsse.encode(part) == reference_encode(part) == b'{"type":"other","text":"t"}'
    usage = types.Usage(prompt_tokens=1)
    usage.__dict__[3] = "a key that is not a str"
    assert chatsse.encode(usage) == reference_encode(usage) == b'{"prompt_tokens":1,"3":"a key that is not a str"}'
    assert chatsse.encode({"f": [math.nan, -0.0, 1e16, 1e-7]}) == b'{"f":[null,-0.0,1e16,1e-7]}'
    with pytest.raises(TypeError, match="Encoding objects of type msgspec.UnsetType is unsupported"):
        chatsse.encode([types.Usage(), msgspec.UNSET])
    with pytest.raises(UnicodeEncodeError):
        chatsse.encode(types.ChoiceDelta(content="\ud800"))

    class Plain(msgspec.Struct):
        a: int = 1

    # Not a dict=True Struct: `value.__dict__` raises, as it always did.
    assert outcome(chatsse.encode, Plain()) == outcome(reference_encode, Plain())
    assert outcome(chatsse.encode, Plain())[0] == "AttributeError"


def test_an_int_beyond_the_str_digits_limit_raises_what_int_does() -> None:
    assert_same(types.Usage(prompt_tokens=10**5000))
    assert outcome(chatsse.encode, types.Usage(prompt_tokens=10**5000))[0] == "ValueError"


def test_deep_nesting_is_written_or_refused_as_the_python_walk_did() -> None:
    for depth in (250, 257, 600, 5000):
        nested: Any = []
        for _ in range(depth):
            nested = [nested]
        delta = types.ChoiceDelta(content="x")
        delta.x = nested
        found, expected = outcome(chatsse.encode, delta), outcome(reference_encode, delta)
        if expected[0] == "RecursionError":
            # Past Python's recursion limit: the same error, whose message names the call that hit
            # the limit (which depends on how deep the caller already is).
            assert found[0] == "RecursionError", depth
        else:
            assert found == expected, depth


SMALL_STACK = """
import threading, chatsse
from chatsse import types
nested = []
for _ in range(250):
    nested = [nested]
delta = types.ChoiceDelta(content="x")
delta.x = nested
expected = chatsse.encode(delta)
outcome = []
def run():
    try:
        outcome.append(chatsse.encode(delta) == expected)
    except chatsse.ChatSSEError as error:
        outcome.append(str(error))
threading.stack_size(64 * 1024)
thread = threading.Thread(target=run)
thread.start()
thread.join()
print(outcome[0])
"""


def test_deep_nesting_on_a_small_stack_fails_cleanly() -> None:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(SMALL_STACK)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr[-500:]
    line = result.stdout.strip()
    assert line == "True" or (line.startswith("cannot encode: nesting of ") and line.endswith("levels is too deep for this thread's native stack (give it a larger one)")), line


# -- the corpus ------------------------------------------------------------------------------------------------


def corpus_paths() -> list[Path]:
    from conftest import corpus_files

    return corpus_files()


@pytest.mark.parametrize("path", corpus_paths(), ids=lambda path: path.name)
def test_corpus_chunks_and_completion_encode_as_the_python_walk_did(path: Path) -> None:
    body = path.read_bytes()
    decoder = chatsse.ChunkDecoder(require_done=False)
    decoded = []
    try:
        decoded += decoder.feed(body)
        decoded += decoder.close()
    except chatsse.ChatSSEError as error:
        decoded += error.chunks
    assert decoded
    for chunk in decoded:
        assert chatsse.encode(chunk) == reference_encode(chunk)
    accumulator = chatsse.Accumulator()
    try:
        accumulator.feed(body)
        accumulator.close()
    except chatsse.ChatSSEError:
        pass
    completion = accumulator.completion()
    assert chatsse.encode(completion) == reference_encode(completion)
    assert json.loads(chatsse.encode(completion)) == json.loads(accumulator.to_json())


# -- Accumulator.add of a chunk object ----------------------------------------------------------------------------


def added(items: list[Any]) -> tuple[bytes, list[tuple[str, str]]]:
    accumulator = chatsse.Accumulator()
    errors = []
    for item in items:
        try:
            accumulator.add(item)
        except chatsse.ChatSSEError as error:
            errors.append((type(error).__name__, str(error).split(" (byte")[0]))
    return accumulator.to_json(), errors


@settings(max_examples=200, deadline=None)
@given(st.lists(chunks, min_size=1, max_size=4))
def test_add_of_a_chunk_object_is_add_of_its_bytes(stream: list[dict[str, Any]]) -> None:
    objects = [chatsse.decode_chunk(json.dumps(chunk).encode()) for chunk in stream]
    assert added(objects) == added([chatsse.encode(chunk) for chunk in objects])


def test_add_of_a_chunk_object_raises_what_its_bytes_raise() -> None:
    failing = chatsse.decode_chunk(b'{"choices":[{"index":0,"delta":{"content":"a"}}]}')
    failing.error = {"message": "overloaded", "type": "server_error"}
    wrong = chatsse.decode_chunk(b'{"choices":[{"index":0,"delta":{"content":"b"}}]}')
    wrong.choices[0].finish_reason = 3  # not a str: left out, reported
    for chunk in (failing, wrong):
        assert added([chunk]) == added([chatsse.encode(chunk)])
    assert added([failing])[1][0][0] == "UpstreamError"
    assert added([wrong])[1][0][0] == "DecodeError"
    with pytest.raises(TypeError, match="Encoding objects of type"):
        chatsse.Accumulator().add(types.ChatCompletionChunk(id=object()))  # type: ignore[arg-type]


def test_floats_are_spelled_as_msgspec_spells_them() -> None:
    # The float digits come from the `ryu` crate (src/json_write.rs), msgspec's from its own ryu.h:
    # checked against msgspec itself on random doubles of every magnitude, short decimals (logprobs,
    # costs), integers as floats, powers of two and ten, and the exact ties between two shortest
    # candidates (14566718008970.0625), 60,000 values a run.
    state = 0x2545F4914F6CDD1D
    values = [14566718008970.0625, 5e-324, 1.7976931348623157e308, 2.2250738585072014e-308, -0.0, 0.0, 1e16, 1e-5, 1e-6, 1e15]
    values += [2.0**exponent for exponent in range(-1074, 1024, 7)] + [float(f"1e{exponent}") for exponent in range(-323, 309)]
    mask = (1 << 64) - 1
    while len(values) < 60_000:
        state ^= (state << 13) & mask
        state ^= state >> 7
        state ^= (state << 17) & mask
        value = struct_unpack_double(state)
        if math.isfinite(value):
            values.append(value)
        values.append(-(state % 100_000_000) / 1e8)
        values.append(float(state % 1_000_000))
    entries = [types.TopLogprob(token="t", logprob=value) for value in values]
    entry = types.TokenLogprob(token="t", logprob=0.5, top_logprobs=entries)
    assert chatsse.encode(entry) == msgspec.json.encode(entry)


def test_ints_are_spelled_as_msgspec_spells_them() -> None:
    # Ints of one CPython digit (|value| < 2**30) are read from the object's layout, which differs up
    # to 3.11 and from 3.12 on (src/python/encode.rs, `compact_int`), and those below 1,000 written
    # apart: every boundary of both, each sign, then a spread of every bit length up to 70.
    edges = [0, 1, 9, 10, 99, 100, 999, 1000, 9999, 2**15, 2**30 - 1, 2**30, 2**31, 2**60, 2**62, 2**63 - 1, 2**63, 2**64]
    values = edges + [-value for value in edges] + [-(2**63), -(2**63) - 1]
    values += [(value * 0x9E3779B97F4A7C15 >> 6) % 2**bits - 2 ** (bits - 1) for value in range(3000) for bits in (8, 16, 31, 32, 45, 64, 70)]
    assert len(values) > 21_000
    chunk = types.ChatCompletionChunk(id="c", created=2**31, choices=[], usage=types.Usage(prompt_tokens=values[3]))
    chunk.__dict__["ints"] = values
    expected = b"[" + b",".join(str(value).encode() for value in values) + b"]"
    assert chatsse.encode(values) == expected
    assert chatsse.encode(chunk).endswith(b',"ints":' + expected + b"}")


def struct_unpack_double(bits: int) -> float:
    import struct

    return struct.unpack("<d", bits.to_bytes(8, "little"))[0]
