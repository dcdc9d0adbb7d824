"""parse_partial_json and Accumulator.tool_call_arguments: values usable while a tool call streams."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatsse import Accumulator, DecodeError, parse_partial_json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ('{"city": "Par', {"city": "Par"}),
        ('{"city": "Paris", "da', {"city": "Paris"}),
        ('{"city": "Paris", "days": ', {"city": "Paris"}),
        ('{"days": [1, 2', {"days": [1, 2]}),
        ('{"days": [1, 2.', {"days": [1, 2]}),
        ('{"ok": fa', {"ok": False}),
        ('{"s": "a\\"b\\n', {"s": 'a"b\n'}),
        ('{"s": "\\u00e9\\u00', {"s": "é"}),
        ('{"nested": {"a": [{"b": "c', {"nested": {"a": [{"b": "c"}]}}),
        ("[", []),
        ("", None),
        ("   ", None),
        ('{"a": 1}', {"a": 1}),
    ],
)
def test_prefixes_complete_to_what_has_arrived(prefix: str, expected: Any) -> None:
    assert parse_partial_json(prefix) == expected
    assert parse_partial_json(prefix.encode()) == expected


@pytest.mark.parametrize("text", ["x", '{"a" 1', "[1,]", '{"a": 1} tail', '{"a": trux'])
def test_text_that_cannot_begin_a_document_is_refused(text: str) -> None:
    with pytest.raises(DecodeError, match="not the beginning of a JSON document"):
        parse_partial_json(text)


@settings(max_examples=300)
@given(json_values, st.booleans())
def test_every_prefix_of_a_document_parses_and_the_whole_gives_the_value(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert parse_partial_json(text) == json.loads(text)
    for end in range(len(text)):
        parse_partial_json(text[:end])  # never raises on a genuine prefix


@settings(max_examples=200)
@given(st.dictionaries(st.text(min_size=1, max_size=6), st.text(max_size=10) | st.integers(), min_size=1, max_size=4))
def test_members_appear_in_order_and_earlier_ones_are_final(value: dict[str, Any]) -> None:
    text = json.dumps(value)
    keys = list(value)
    for end in range(1, len(text) + 1):
        partial = parse_partial_json(text[:end])
        assert isinstance(partial, dict)
        assert list(partial) == keys[: len(partial)]
        for key in list(partial)[:-1]:
            assert partial[key] == value[key]
    assert parse_partial_json(text) == value


def test_accumulator_tool_call_arguments_while_streaming() -> None:
    accumulator = Accumulator()
    fragments = ['{"location": "San', ' Francisco", "unit', '": "cel', 'sius"}']
    expected = [
        [{"location": "San"}],
        [{"location": "San Francisco"}],
        [{"location": "San Francisco", "unit": "cel"}],
        [{"location": "San Francisco", "unit": "celsius"}],
    ]
    assert accumulator.tool_call_arguments() == []
    head = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "weather", "arguments": ""}}
    accumulator.feed(b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"tool_calls": [head]}}]}).encode() + b"\n\n")
    assert accumulator.tool_call_arguments() == [None]
    for fragment, arguments in zip(fragments, expected):
        delta = {"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]}
        accumulator.feed(b"data: " + json.dumps({"choices": [{"index": 0, "delta": delta}]}).encode() + b"\n\n")
        assert accumulator.tool_call_arguments() == arguments
    assert accumulator.tool_call_arguments(choice=1) == []
