"""Typed decoding: decode_chunk / decode_completion (exact values, undeclared fields, errors), encode, UpstreamError,
ChunkDecoder / iter_chunks / aiter_chunks over SSE and JSON lines, the recorded corpus, and property tests."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_types import STRUCT_TYPES
from test_types import _json_values as json_objects

import chatsse

from chatsse import (
    UNSET,
    Annotation,
    AnnotationURLCitation,
    ChatCompletion,
    ChatCompletionAudio,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatSSEError,
    Choice,
    ChoiceDelta,
    ChoiceDeltaAudio,
    ChoiceDeltaCustomCall,
    ChoiceDeltaFunctionCall,
    ChoiceDeltaToolCall,
    ChoiceLogprobs,
    ChunkChoice,
    ChunkDecoder,
    CompletionTokensDetails,
    CustomCall,
    DecodeError,
    DecoderClosedError,
    EventTooLargeError,
    FunctionCall,
    PromptTokensDetails,
    ServerSentEvent,
    SSEDecoder,
    TokenLogprob,
    ToolCall,
    TopLogprob,
    TruncatedStreamError,
    UpstreamError,
    Usage,
    aiter_chunks,
    decode_chunk,
    decode_completion,
    encode,
    iter_chunks,
)

# ---------------------------------------------------------------------------------------------------------------------
# Helpers.


def assert_same_json(got: Any, expected: Any, path: str = "$", *, key_order: bool = True) -> None:
    """Equal as JSON values, types included (True is not 1, 1.0 is not 1, -0.0 is not 0.0)."""
    assert type(got) is type(expected), f"{path}: {type(got).__name__} instead of {type(expected).__name__}"
    if type(expected) is dict:
        if key_order:
            assert list(got) == list(expected), path
        else:
            assert sorted(got) == sorted(expected), path
        for key, value in expected.items():
            assert_same_json(got[key], value, f"{path}.{key}", key_order=key_order)
    elif type(expected) is list:
        assert len(got) == len(expected), path
        for position, (item, expected_item) in enumerate(zip(got, expected)):
            assert_same_json(item, expected_item, f"{path}[{position}]", key_order=key_order)
    elif type(expected) is float:
        assert repr(got) == repr(expected), path
    else:
        assert got == expected, path


def round_trip(chunk_or_completion: Any) -> Any:
    return json.loads(encode(chunk_or_completion))


def is_error_report(event: ServerSentEvent) -> bool:
    if event.event == "error":
        return True
    document = json.loads(event.data)
    return document.get("error") is not None or document.get("object") == "error"


def corpus_events(path: Path) -> list[tuple[ServerSentEvent, int]]:
    """The events of a corpus file (split by SSEDecoder, [DONE] left out) with the stream offset of each payload.

    Every corpus event is a single `data: ` line (tests/test_sse.py checks it), so the payload starts right after
    the `data: ` of the next line that holds it."""
    body = path.read_bytes()
    decoder = SSEDecoder()
    events = decoder.feed(body)
    decoder.close()
    located = []
    cursor = 0
    for event in events:
        if event.data == "[DONE]":
            continue
        line = b"data: " + event.data.encode()
        start = body.index(line, cursor)
        located.append((event, start + len(b"data: ")))
        cursor = start + len(line)
    return located


def pieces_of(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def collect(source: Iterable[bytes], **options: Any) -> tuple[list[ChatCompletionChunk], BaseException | None]:
    chunks: list[ChatCompletionChunk] = []
    try:
        for chunk in iter_chunks(source, **options):
            chunks.append(chunk)
    except ChatSSEError as error:
        return chunks, error
    return chunks, None


def encoded(chunks: list[Any]) -> list[bytes]:
    return [encode(chunk) for chunk in chunks]


CORPUS_FILE_COUNT = 44


# ---------------------------------------------------------------------------------------------------------------------
# 1. Exact values, one realistic payload per type family.


def test_chunk_content_with_every_top_level_field() -> None:
    payload = (
        b'{"id":"chatcmpl-BJ8e3kUn","object":"chat.completion.chunk","created":1743982571,"model":"gpt-4o-2024-08-06",'
        b'"service_tier":"default","system_fingerprint":"fp_f5bdcc3276","choices":[{"index":0,"delta":{"role":'
        b'"assistant","content":"Hello","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null,'
        b'"obfuscation":"rWaRdQ"}'
    )
    chunk = decode_chunk(payload)
    assert type(chunk) is ChatCompletionChunk
    assert chunk == ChatCompletionChunk(
        id="chatcmpl-BJ8e3kUn",
        object="chat.completion.chunk",
        created=1743982571,
        model="gpt-4o-2024-08-06",
        service_tier="default",
        system_fingerprint="fp_f5bdcc3276",
        choices=[
            ChunkChoice(
                index=0,
                delta=ChoiceDelta(role="assistant", content="Hello", refusal=None),
                logprobs=None,
                finish_reason=None,
            )
        ],
        usage=None,
        obfuscation="rWaRdQ",
    )
    assert type(chunk.choices[0]) is ChunkChoice and type(chunk.choices[0].delta) is ChoiceDelta
    assert chunk.choices[0].delta.reasoning_content is UNSET
    assert chunk.__dict__ == {} and chunk.choices[0].__dict__ == {} and chunk.choices[0].delta.__dict__ == {}
    assert encode(chunk) == payload


def test_chunk_tool_call_fragments() -> None:
    first = decode_chunk(
        b'{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,'
        b'"id":"call_DdmO9pD3xa9XTPNJ32zg2hcA","type":"function","function":{"name":"get_weather","arguments":""}}]},'
        b'"finish_reason":null}]}'
    )
    tool_call = first.choices[0].delta.tool_calls[0]
    assert type(tool_call) is ChoiceDeltaToolCall and type(tool_call.function) is ChoiceDeltaFunctionCall
    assert tool_call == ChoiceDeltaToolCall(
        index=0,
        id="call_DdmO9pD3xa9XTPNJ32zg2hcA",
        type="function",
        function=ChoiceDeltaFunctionCall(name="get_weather", arguments=""),
    )
    assert tool_call.custom is UNSET
    assert first.choices[0].delta.content is None

    later = decode_chunk(
        b'{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\\"lo"}}]}}]}'
    )
    fragment = later.choices[0].delta.tool_calls[0]
    assert (fragment.index, fragment.id, fragment.type) == (1, UNSET, UNSET)
    assert fragment.function == ChoiceDeltaFunctionCall(arguments='{"lo')
    assert fragment.function.name is UNSET
    assert later.choices[0].delta.role is UNSET


def test_chunk_custom_tool_call() -> None:
    chunk = decode_chunk(
        b'{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_9","type":"custom",'
        b'"custom":{"name":"apply_patch","input":"*** Begin"}}]}}]}'
    )
    tool_call = chunk.choices[0].delta.tool_calls[0]
    assert tool_call == ChoiceDeltaToolCall(
        index=0, id="call_9", type="custom", custom=ChoiceDeltaCustomCall(name="apply_patch", input="*** Begin")
    )
    assert type(tool_call.custom) is ChoiceDeltaCustomCall
    assert tool_call.function is UNSET


def test_chunk_legacy_function_call() -> None:
    chunk = decode_chunk(
        b'{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"function_call":{"name":"get_time",'
        b'"arguments":""}},"finish_reason":null}]}'
    )
    delta = chunk.choices[0].delta
    assert delta.function_call == ChoiceDeltaFunctionCall(name="get_time", arguments="")
    assert type(delta.function_call) is ChoiceDeltaFunctionCall
    finish = decode_chunk(b'{"choices":[{"index":0,"delta":{},"finish_reason":"function_call"}]}')
    assert finish.choices[0].finish_reason == "function_call"
    assert finish.choices[0].delta == ChoiceDelta()


def test_chunk_logprobs_with_bytes_and_top_logprobs() -> None:
    payload = (
        b'{"choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":{"content":[{"token":"Hi","logprob":-0.0019029,'
        b'"bytes":[72,105],"top_logprobs":[{"token":"Hi","logprob":-0.0019029,"bytes":[72,105]},'
        b'{"token":"\\u00e9","logprob":-6.25,"bytes":[195,169]},{"token":"<|x|>","logprob":-9,"bytes":null}]}],'
        b'"refusal":null},"finish_reason":null}]}'
    )
    logprobs = decode_chunk(payload).choices[0].logprobs
    assert type(logprobs) is ChoiceLogprobs
    assert logprobs == ChoiceLogprobs(
        content=[
            TokenLogprob(
                token="Hi",
                logprob=-0.0019029,
                bytes=[72, 105],
                top_logprobs=[
                    TopLogprob(token="Hi", logprob=-0.0019029, bytes=[72, 105]),
                    TopLogprob(token="é", logprob=-6.25, bytes=[195, 169]),
                    TopLogprob(token="<|x|>", logprob=-9.0, bytes=None),
                ],
            )
        ],
        refusal=None,
    )
    token = logprobs.content[0]
    assert type(token) is TokenLogprob and type(token.top_logprobs[0]) is TopLogprob
    # A float field takes an integer JSON number, as a float.
    assert type(token.top_logprobs[2].logprob) is float
    assert repr(token.top_logprobs[2].logprob) == "-9.0"
    assert [type(b) for b in token.bytes] == [int, int]


def test_chunk_refusal() -> None:
    chunk = decode_chunk(
        b'{"choices":[{"index":0,"delta":{"content":null,"refusal":"I\'m sorry, I can\'t help with that."},'
        b'"logprobs":{"content":null,"refusal":[{"token":"I","logprob":-0.5,"bytes":[73],"top_logprobs":[]}]},'
        b'"finish_reason":null}]}'
    )
    choice = chunk.choices[0]
    assert choice.delta == ChoiceDelta(content=None, refusal="I'm sorry, I can't help with that.")
    assert choice.logprobs == ChoiceLogprobs(
        content=None, refusal=[TokenLogprob(token="I", logprob=-0.5, bytes=[73], top_logprobs=[])]
    )


def test_chunk_annotations_url_citation() -> None:
    chunk = decode_chunk(
        b'{"choices":[{"index":0,"delta":{"role":"assistant","content":"","annotations":[{"type":"url_citation",'
        b'"url_citation":{"end_index":0,"start_index":0,"title":"San Francisco - Wikipedia",'
        b'"url":"https://en.wikipedia.org/wiki/San_Francisco"}}]}}]}'
    )
    annotation = chunk.choices[0].delta.annotations[0]
    assert type(annotation) is Annotation and type(annotation.url_citation) is AnnotationURLCitation
    assert annotation == Annotation(
        type="url_citation",
        url_citation=AnnotationURLCitation(
            end_index=0,
            start_index=0,
            title="San Francisco - Wikipedia",
            url="https://en.wikipedia.org/wiki/San_Francisco",
        ),
    )


def test_chunk_audio() -> None:
    first = decode_chunk(
        b'{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"refusal":null,"audio":{"id":'
        b'"audio_6806f0f5e8c48191","transcript":"Hel"}},"finish_reason":null}]}'
    )
    assert first.choices[0].delta.audio == ChoiceDeltaAudio(id="audio_6806f0f5e8c48191", transcript="Hel")
    assert type(first.choices[0].delta.audio) is ChoiceDeltaAudio
    last = decode_chunk(b'{"choices":[{"index":0,"delta":{"audio":{"data":"UklGRg==","expires_at":1745289989}}}]}')
    audio = last.choices[0].delta.audio
    assert (audio.id, audio.data, audio.expires_at, audio.transcript) == (UNSET, "UklGRg==", 1745289989, UNSET)


def test_chunk_usage_with_both_detail_objects() -> None:
    chunk = decode_chunk(
        b'{"id":"c","choices":[],"usage":{"prompt_tokens":1117,"completion_tokens":46,"total_tokens":1163,'
        b'"prompt_tokens_details":{"cached_tokens":1024,"cache_write_tokens":0,"audio_tokens":0,"text_tokens":93,'
        b'"image_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,'
        b'"accepted_prediction_tokens":0,"rejected_prediction_tokens":0,"text_tokens":46}}}'
    )
    assert chunk.choices == []
    assert chunk.usage == Usage(
        prompt_tokens=1117,
        completion_tokens=46,
        total_tokens=1163,
        prompt_tokens_details=PromptTokensDetails(
            cached_tokens=1024, cache_write_tokens=0, audio_tokens=0, text_tokens=93, image_tokens=0
        ),
        completion_tokens_details=CompletionTokensDetails(
            reasoning_tokens=0,
            audio_tokens=0,
            accepted_prediction_tokens=0,
            rejected_prediction_tokens=0,
            text_tokens=46,
        ),
    )
    assert type(chunk.usage.prompt_tokens_details) is PromptTokensDetails
    assert type(chunk.usage.completion_tokens_details) is CompletionTokensDetails


def test_chunk_reasoning_content_and_reasoning() -> None:
    chunk = decode_chunk(
        b'{"choices":[{"index":0,"delta":{"role":null,"content":null,"reasoning_content":"Let me think","reasoning":'
        b'"step 1"},"finish_reason":null}],"service_tier":null,"system_fingerprint":null}'
    )
    delta = chunk.choices[0].delta
    assert (delta.role, delta.content) == (None, None)
    assert (delta.reasoning_content, delta.reasoning) == ("Let me think", "step 1")
    assert (chunk.service_tier, chunk.system_fingerprint) == (None, None)


def test_completion_every_field() -> None:
    payload = (
        b'{"id":"chatcmpl-C1","object":"chat.completion","created":1741569952,"model":"gpt-4.1-2025-04-14",'
        b'"choices":[{"index":0,"message":{"role":"assistant","content":"See [1].","refusal":null,'
        b'"reasoning_content":"why","reasoning":"because","name":"helper","tool_calls":[{"id":"call_a","type":'
        b'"function","function":{"name":"f","arguments":"{\\"x\\":1}"}},{"id":"call_b","type":"custom","custom":'
        b'{"name":"g","input":"raw text"}}],"function_call":{"name":"legacy","arguments":"{}"},"annotations":'
        b'[{"type":"url_citation","url_citation":{"end_index":8,"start_index":4,"title":"T",'
        b'"url":"https://t.example"}}],'
        b'"audio":{"id":"audio_1","data":"AAA=","expires_at":1741573552,"transcript":"See one."}},'
        b'"logprobs":{"content":[{"token":"See","logprob":-0.25,"bytes":[83,101,101],"top_logprobs":[]}],'
        b'"refusal":null},"finish_reason":"stop"}],"usage":{"prompt_tokens":19,"completion_tokens":10,'
        b'"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":'
        b'{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},'
        b'"service_tier":"default","system_fingerprint":"fp_b3f1157249"}'
    )
    completion = decode_completion(payload)
    assert type(completion) is ChatCompletion
    assert completion == ChatCompletion(
        id="chatcmpl-C1",
        object="chat.completion",
        created=1741569952,
        model="gpt-4.1-2025-04-14",
        choices=[
            Choice(
                index=0,
                message=ChatCompletionMessage(
                    role="assistant",
                    content="See [1].",
                    refusal=None,
                    reasoning_content="why",
                    reasoning="because",
                    name="helper",
                    tool_calls=[
                        ToolCall(id="call_a", type="function", function=FunctionCall(name="f", arguments='{"x":1}')),
                        ToolCall(id="call_b", type="custom", custom=CustomCall(name="g", input="raw text")),
                    ],
                    function_call=FunctionCall(name="legacy", arguments="{}"),
                    annotations=[
                        Annotation(
                            type="url_citation",
                            url_citation=AnnotationURLCitation(
                                end_index=8, start_index=4, title="T", url="https://t.example"
                            ),
                        )
                    ],
                    audio=ChatCompletionAudio(id="audio_1", data="AAA=", expires_at=1741573552, transcript="See one."),
                ),
                logprobs=ChoiceLogprobs(
                    content=[TokenLogprob(token="See", logprob=-0.25, bytes=[83, 101, 101], top_logprobs=[])],
                    refusal=None,
                ),
                finish_reason="stop",
            )
        ],
        usage=Usage(
            prompt_tokens=19,
            completion_tokens=10,
            total_tokens=29,
            prompt_tokens_details=PromptTokensDetails(cached_tokens=0, audio_tokens=0),
            completion_tokens_details=CompletionTokensDetails(
                reasoning_tokens=0, audio_tokens=0, accepted_prediction_tokens=0, rejected_prediction_tokens=0
            ),
        ),
        service_tier="default",
        system_fingerprint="fp_b3f1157249",
    )
    message = completion.choices[0].message
    assert type(completion.choices[0]) is Choice and type(message) is ChatCompletionMessage
    assert [type(call) for call in message.tool_calls] == [ToolCall, ToolCall]
    assert (type(message.tool_calls[0].function), type(message.tool_calls[1].custom)) == (FunctionCall, CustomCall)
    assert type(message.function_call) is FunctionCall and type(message.audio) is ChatCompletionAudio
    assert encode(completion) == payload


def test_completion_absent_versus_null() -> None:
    completion = decode_completion(
        b'{"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":null,"function_call":null,'
        b'"annotations":null,"audio":null},"logprobs":null,"finish_reason":null}],"usage":null,"service_tier":null,'
        b'"system_fingerprint":null}'
    )
    message = completion.choices[0].message
    assert (message.content, message.tool_calls, message.function_call, message.annotations, message.audio) == (
        None, None, None, None, None,
    )  # fmt: skip
    assert (message.refusal, message.reasoning_content, message.reasoning, message.name) == (UNSET, UNSET, UNSET, UNSET)
    assert (completion.usage, completion.service_tier, completion.system_fingerprint) == (None, None, None)
    assert (completion.id, completion.object, completion.created, completion.model) == (UNSET, UNSET, UNSET, UNSET)


def test_chunk_absent_versus_null_at_every_nullable_field() -> None:
    absent = decode_chunk(b'{"choices":[{"index":0,"delta":{}}]}')
    null = decode_chunk(
        b'{"service_tier":null,"system_fingerprint":null,"choices":[{"index":0,"delta":{"role":null,"content":null,'
        b'"refusal":null,"reasoning_content":null,"reasoning":null,"tool_calls":null,"function_call":null,'
        b'"audio":null,"annotations":null},"logprobs":null,"finish_reason":null}],"usage":null}'
    )
    delta_fields = ChoiceDelta.__struct_fields__
    assert [getattr(absent.choices[0].delta, name) for name in delta_fields] == [UNSET] * 9
    assert [getattr(null.choices[0].delta, name) for name in delta_fields] == [None] * 9
    assert (absent.service_tier, absent.system_fingerprint, absent.usage) == (UNSET, UNSET, UNSET)
    assert (null.service_tier, null.system_fingerprint, null.usage) == (None, None, None)
    assert (absent.choices[0].logprobs, absent.choices[0].finish_reason) == (UNSET, UNSET)
    assert (null.choices[0].logprobs, null.choices[0].finish_reason) == (None, None)
    # Absent stays absent and null stays null when encoded.
    assert encode(absent) == b'{"choices":[{"index":0,"delta":{}}]}'
    assert json.loads(encode(null))["choices"][0]["delta"] == dict.fromkeys(delta_fields)


@pytest.mark.parametrize(
    ("number", "value"),
    [
        ("9223372036854775807", 2**63 - 1),
        ("9223372036854775808", 2**63),
        ("18446744073709551617", 2**64 + 1),
        ("-9223372036854775809", -(2**63) - 1),
        ("0", 0),
        ("-0", 0),
        ("123456789012345678901234567890123456789", 123456789012345678901234567890123456789),
    ],
)
def test_integers_are_exact_in_declared_and_undeclared_fields(number: str, value: int) -> None:
    chunk = decode_chunk(f'{{"created":{number},"choices":[{{"index":{number},"seed":{number}}}],"x":{number}}}')
    for got in (chunk.created, chunk.choices[0].index, chunk.choices[0].seed, chunk.x):
        assert type(got) is int and got == value
    assert json.loads(encode(chunk)) == {"created": value, "choices": [{"index": value, "seed": value}], "x": value}


def test_together_seed_above_2_53_is_exact(corpus: Path) -> None:
    last = corpus_events(corpus / "together-deepseek-r1-think-inline.sse")[-1][0]
    chunk = decode_chunk(last.data)
    assert chunk.choices[0].seed == 7228414683750928000
    assert chunk.choices[0].finish_reason == "stop"
    assert chunk.usage.cached_tokens == 0
    assert b'"seed":7228414683750928000' in encode(chunk)


@pytest.mark.parametrize(
    ("number", "value"),
    [
        ("-0.5", -0.5),
        ("-1e-7", -1e-7),
        ("-1E+2", -100.0),
        ("-0.0", -0.0),
        ("5e-324", 5e-324),
        ("1.7976931348623157e308", 1.7976931348623157e308),
        ("-3", -3.0),
        ("0", 0.0),
        ("12345678901234567890", 12345678901234567890.0),
    ],
)
def test_floats(number: str, value: float) -> None:
    chunk = decode_chunk(
        f'{{"choices":[{{"index":0,"logprobs":{{"content":[{{"token":"a","logprob":{number}}}]}}}}],"x":{number}}}'
    )
    logprob = chunk.choices[0].logprobs.content[0].logprob
    assert type(logprob) is float and repr(logprob) == repr(value)
    # An undeclared member keeps the JSON type: an integer stays an int.
    assert chunk.x == json.loads(number) and type(chunk.x) is type(json.loads(number))


def test_integer_in_a_float_field_encodes_as_a_float() -> None:
    chunk = decode_chunk(b'{"choices":[{"index":0,"logprobs":{"content":[{"token":"a","logprob":0,"bytes":null}]}}]}')
    assert encode(chunk) == (
        b'{"choices":[{"index":0,"logprobs":{"content":[{"token":"a","logprob":0.0,"bytes":null}]}}]}'
    )


def test_escapes_and_non_ascii_text() -> None:
    payload = (
        '{"id":"caf\\u00e9-\\ud83d\\ude00","model":"模型","choices":[{"index":0,"delta":{"content":'
        '"\\"q\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u0000 \\u001f \\u2028 é😀 \\u00E9"}}],'
        '"\\u0078_note":"\\ud83d\\ude00é"}'
    )
    for data in (payload.encode(), payload):
        chunk = decode_chunk(data)
        assert chunk.id == "café-😀"
        assert chunk.model == "模型"
        assert chunk.choices[0].delta.content == '"q" \\ / \b\f\n\r\t \x00 \x1f \u2028 é😀 é'
        assert chunk.__dict__ == {"x_note": "😀é"}
    # A declared key written with escapes is still the declared field.
    assert decode_chunk(b'{"\\u0069d":"a","\\u0063hoices":[]}') == ChatCompletionChunk(id="a", choices=[])


@pytest.mark.parametrize("kind", [bytes, str, bytearray, memoryview])
def test_every_input_type_decodes_the_same(kind: type) -> None:
    text = '{"id":"é","choices":[{"index":0,"delta":{"content":"😀"}}],"x_groq":{"id":"req_1"}}'
    data = text if kind is str else kind(text.encode())
    chunk = decode_chunk(data)
    assert chunk == ChatCompletionChunk(id="é", choices=[ChunkChoice(index=0, delta=ChoiceDelta(content="😀"))])
    assert chunk.x_groq == {"id": "req_1"}
    completion_text = '{"id":"é","choices":[{"index":0,"message":{"content":"😀"}}]}'
    completion = decode_completion(completion_text if kind is str else kind(completion_text.encode()))
    expected_message = ChatCompletionMessage(content="😀")
    assert completion == ChatCompletion(id="é", choices=[Choice(index=0, message=expected_message)])


def test_memoryview_slice_decodes_only_its_bytes() -> None:
    assert decode_chunk(memoryview(b'xx{"id":"a"}yy')[2:-2]) == ChatCompletionChunk(id="a")


@pytest.mark.parametrize("value", [None, 5, ["{}"], {"id": "a"}])
def test_other_input_types_are_refused(value: object) -> None:
    with pytest.raises(TypeError, match=r"^expected bytes, str, bytearray or memoryview, got "):
        decode_chunk(value)


def test_compact_declared_order_payload_round_trips_byte_for_byte() -> None:
    payload = (
        b'{"id":"chatcmpl-1","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":'
        b'{"content":"a\\"b\\\\c\\n\xc3\xa9"},"logprobs":null,"finish_reason":null}],"usage":null,"x_groq":{"id":"r"}}'
    )
    assert encode(decode_chunk(payload)) == payload


# ---------------------------------------------------------------------------------------------------------------------
# 2. Undeclared fields at every level.

CHUNK_WITH_EXTRAS_EVERYWHERE = (
    b'{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":'
    b'"assistant","content":"Hi","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f",'
    b'"arguments":"{}","f_extra":[1,2]},"tool_extra":"t"},{"index":1,"type":"custom","custom":{"name":"g","input":"i",'
    b'"c_extra":null}}],"audio":{"id":"a1","audio_extra":1.5},"annotations":[{"type":"url_citation","url_citation":'
    b'{"end_index":1,"start_index":0,"title":"T","url":"u","content":"cited text"},"annotation_extra":true}],'
    b'"channel":"analysis","token_id":73369},"logprobs":{"content":[{"token":"Hi","logprob":-0.5,"bytes":[72,105],'
    b'"top_logprobs":[{"token":"Hi","logprob":-0.5,"bytes":[72,105],"top_extra":0}],"token_extra":{"k":"v"}}],'
    b'"refusal":null,"logprobs_extra":[]},"finish_reason":null,"content_filter_results":{"hate":{"filtered":false,'
    b'"severity":"safe"}},"matched_stop":null}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,'
    b'"prompt_tokens_details":{"cached_tokens":0,"video_tokens":7},"completion_tokens_details":{"reasoning_tokens":0,'
    b'"image_tokens":8},"cost":0.00012,"is_byok":false},"x_groq":{"id":"req_1","usage":{"queue_time":0.28245049}},'
    b'"prompt_filter_results":[{"prompt_index":0}],"huge":18446744073709551617}'
)


def test_undeclared_fields_at_every_level_of_a_chunk() -> None:
    chunk = decode_chunk(CHUNK_WITH_EXTRAS_EVERYWHERE)
    assert chunk.__dict__ == {
        "x_groq": {"id": "req_1", "usage": {"queue_time": 0.28245049}},
        "prompt_filter_results": [{"prompt_index": 0}],
        "huge": 18446744073709551617,
    }
    assert chunk.x_groq["id"] == "req_1"
    choice = chunk.choices[0]
    assert choice.__dict__ == {
        "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}},
        "matched_stop": None,
    }
    delta = choice.delta
    assert delta.__dict__ == {"channel": "analysis", "token_id": 73369}
    assert (delta.content, delta.channel) == ("Hi", "analysis")
    function_call, custom_call = delta.tool_calls
    assert function_call.__dict__ == {"tool_extra": "t"}
    assert function_call.function.__dict__ == {"f_extra": [1, 2]}
    assert function_call.function.arguments == "{}"
    assert custom_call.custom.__dict__ == {"c_extra": None}
    assert delta.audio.__dict__ == {"audio_extra": 1.5}
    assert delta.annotations[0].__dict__ == {"annotation_extra": True}
    assert delta.annotations[0].url_citation.__dict__ == {"content": "cited text"}
    assert choice.logprobs.__dict__ == {"logprobs_extra": []}
    assert choice.logprobs.content[0].__dict__ == {"token_extra": {"k": "v"}}
    assert choice.logprobs.content[0].top_logprobs[0].__dict__ == {"top_extra": 0}
    assert chunk.usage.__dict__ == {"cost": 0.00012, "is_byok": False}
    assert chunk.usage.prompt_tokens_details.__dict__ == {"video_tokens": 7}
    assert chunk.usage.completion_tokens_details.__dict__ == {"image_tokens": 8}
    assert chunk.usage.completion_tokens_details.image_tokens == 8
    # Written in declared order with extras last, so it comes back byte for byte.
    assert encode(chunk) == CHUNK_WITH_EXTRAS_EVERYWHERE
    assert_same_json(round_trip(chunk), json.loads(CHUNK_WITH_EXTRAS_EVERYWHERE))


def test_undeclared_fields_keep_exact_plain_types() -> None:
    chunk = decode_chunk(b'{"a":true,"b":1,"c":1.0,"d":null,"e":"1","f":[{}],"g":{"h":[false,0,0.0]},"i":-0.0,"j":1e2}')
    expected = {
        "a": True, "b": 1, "c": 1.0, "d": None, "e": "1", "f": [{}], "g": {"h": [False, 0, 0.0]}, "i": -0.0, "j": 100.0,
    }  # fmt: skip
    assert_same_json(chunk.__dict__, expected)
    assert type(chunk.f[0]) is dict and type(chunk.g) is dict


def test_keys_of_undeclared_objects_are_exact_whatever_the_key_cache_holds() -> None:
    # Short ASCII keys come from a cache of 512 entries: 3,000 distinct keys collide and evict each
    # other, keys of 32 and 33 bytes sit on its limit, escaped and non-ASCII keys bypass it.
    keys = [f"k{n}" for n in range(3000)] + ["a" * 32, "a" * 33, "b" * 32, "a" * 31, "\u00e9t\u00e9", "tab\there", ""]
    members = {key: n for n, key in enumerate(keys)}
    payload = json.dumps({"id": "c", "choices": [], "x": members, "y": [{key: None} for key in keys[:40]]}).encode()
    for _ in range(2):  # the second time, from a warm cache
        chunk = decode_chunk(payload)
        assert list(chunk.x.items()) == list(members.items())
        assert chunk.y == [{key: None} for key in keys[:40]]
        assert all(type(key) is str for key in chunk.x)


@settings(database=None, max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=20), st.integers(), max_size=30))
def test_any_keys_of_an_undeclared_object_decode_as_json_loads_does(members: dict[str, int]) -> None:
    payload = json.dumps({"id": "c", "x": members}, ensure_ascii=False).encode()
    assert decode_chunk(payload).__dict__ == {"x": members}


def test_undeclared_fields_of_a_completion() -> None:
    payload = (
        b'{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"c","tool_calls":[{"id":"t",'
        b'"type":"function","function":{"name":"f","arguments":"{}","fn_extra":1},"call_extra":2}],"annotations":'
        b'[{"type":"url_citation","url_citation":{"end_index":1,"start_index":0,"title":"T","url":"u","cite_extra":3},'
        b'"ann_extra":4}],"reasoning_details":[{"type":"reasoning.text","text":"t"}]},"finish_reason":"stop",'
        b'"native_finish_reason":"end_turn","stop_reason":null}],"usage":{"prompt_tokens":1,"prompt_tokens_details":'
        b'{"cached_tokens":0,"p_extra":5},"completion_tokens_details":{"reasoning_tokens":0,"c_extra":6},'
        b'"u_extra":7},"provider":"Google","citations":["https://a.example"]}'
    )
    completion = decode_completion(payload)
    assert completion.__dict__ == {"provider": "Google", "citations": ["https://a.example"]}
    choice = completion.choices[0]
    assert choice.__dict__ == {"native_finish_reason": "end_turn", "stop_reason": None}
    message = choice.message
    assert message.__dict__ == {"reasoning_details": [{"type": "reasoning.text", "text": "t"}]}
    assert message.tool_calls[0].__dict__ == {"call_extra": 2}
    assert message.tool_calls[0].function.__dict__ == {"fn_extra": 1}
    assert message.annotations[0].__dict__ == {"ann_extra": 4}
    assert message.annotations[0].url_citation.__dict__ == {"cite_extra": 3}
    assert completion.usage.__dict__ == {"u_extra": 7}
    assert completion.usage.prompt_tokens_details.__dict__ == {"p_extra": 5}
    assert completion.usage.completion_tokens_details.__dict__ == {"c_extra": 6}
    assert encode(completion) == payload


def assert_same_objects(built: Any, expected: Any, where: str = "$") -> None:
    """`built` (chatsse) and `expected` (msgspec) are the same tree: types, values, and for every Struct
    its garbage-collector tracking, which chatsse's directly made instances must decide as msgspec does."""
    assert type(built) is type(expected), where
    if isinstance(expected, msgspec.Struct):
        assert gc.is_tracked(built) == gc.is_tracked(expected), f"{where}: tracked"
        for name in expected.__struct_fields__:
            assert_same_objects(getattr(built, name), getattr(expected, name), f"{where}.{name}")
    elif isinstance(expected, list):
        assert len(built) == len(expected), where
        for index, (left, right) in enumerate(zip(built, expected, strict=True)):
            assert_same_objects(left, right, f"{where}[{index}]")
    elif isinstance(expected, dict):
        assert list(built) == list(expected), where
        for key in expected:
            assert_same_objects(built[key], expected[key], f"{where}.{key}")
    else:
        assert built == expected or (built != built and expected != expected), where


@pytest.mark.parametrize("struct_type", STRUCT_TYPES, ids=lambda t: t.__name__)
@settings(database=None, max_examples=60, deadline=None)
@given(data=st.data())
def test_every_type_is_built_as_msgspec_decodes_it(struct_type: type, data: st.DataObject) -> None:
    # chatsse writes fields straight into the instances' slots (no __init__ call) for every type without a
    # __post_init__: a wrong slot or a wrong tracking decision shows here.
    payload = msgspec.json.encode(data.draw(json_objects(struct_type)))
    assert_same_objects(chatsse.decode(payload, struct_type), msgspec.json.decode(payload, type=struct_type))


def test_undeclared_fields_in_any_key_order_re_encode_to_the_same_json() -> None:
    payload = b'{"x_groq":{"id":"r"},"choices":[{"seed":null,"delta":{"z":1,"content":"a"},"index":0}],"id":"i"}'
    chunk = decode_chunk(payload)
    assert encode(chunk) == (
        b'{"id":"i","choices":[{"index":0,"delta":{"content":"a","z":1},"seed":null}],"x_groq":{"id":"r"}}'
    )
    assert_same_json(round_trip(chunk), json.loads(payload), key_order=False)


def test_error_null_is_a_plain_undeclared_field() -> None:
    chunk = decode_chunk(b'{"id":"a","error":null,"choices":[]}')
    assert chunk.__dict__ == {"error": None}
    assert chunk.id == "a"


def test_duplicate_keys_keep_the_last_value_like_json_loads() -> None:
    payload = b'{"id":"a","id":"b","x":1,"x":2,"choices":[{"index":0,"index":1}]}'
    chunk = decode_chunk(payload)
    assert (chunk.id, chunk.x, chunk.choices[0].index) == ("b", 2, 1)
    assert round_trip(chunk) == json.loads(payload)


# Keys a provider could send that are also special attributes of a Python object. Decoding must either keep the
# member (so that encode writes it back) or refuse the payload with a DecodeError; never raise a foreign exception
# (iter_chunks then loses the chunks before it) nor silently drop other members.
@pytest.mark.parametrize(
    "payload",
    [
        b'{"__class__":1}',
        b'{"__dict__":5}',
        b'{"__struct_fields__":[]}',
        b'{"__struct_config__":1}',
        b'{"choices":[{"index":0,"__dict__":[]}]}',
        b'{"x":1,"__dict__":{"a":1}}',
    ],
)
def test_undeclared_key_named_like_a_python_attribute(payload: bytes) -> None:
    try:
        chunk = decode_chunk(payload)
    except DecodeError:
        return
    assert round_trip(chunk) == json.loads(payload)


def test_iter_chunks_keeps_a_member_named_like_a_python_attribute() -> None:
    chunks = list(iter_chunks([b'data: {"id":"a"}\n\ndata: {"__class__":1}\n\ndata: [DONE]\n\n']))
    assert chunks == [ChatCompletionChunk(id="a"), ChatCompletionChunk()]
    assert type(chunks[1]) is ChatCompletionChunk
    assert chunks[1].__dict__ == {"__class__": 1}
    assert json.loads(encode(chunks[1])) == {"__class__": 1}


# --- the corpus ------------------------------------------------------------------------------------------------------


def test_every_corpus_chunk_re_encodes_to_the_same_json(corpus: Path) -> None:
    files = sorted(corpus.glob("*.sse"))
    assert len(files) == CORPUS_FILE_COUNT
    decoded = 0
    skipped = []
    for path in files:
        for event, _ in corpus_events(path):
            if is_error_report(event):
                skipped.append(path.name)
                continue
            chunk = decode_chunk(event.data)
            # No exceptions needed: the corpus has no integer in a float field.
            assert_same_json(round_trip(chunk), json.loads(event.data), f"{path.name}: $", key_order=False)
            decoded += 1
    assert decoded == 4765
    assert skipped == ["groq-tool-use-failed-error.sse", "openrouter-reasoning-error-midstream.sse"]


# Files whose payloads are compact, in declared key order with extras last: every one comes back byte for byte.
BYTE_EXACT_FILES = {
    "anthropic-gateway-tool-index-1.sse": 8,
    "deepseek-reasoner-reasoning-content.sse": 211,
    "deepseek-tool-call-after-reasoning.sse": 52,
    "groq-llama3-x-groq.sse": 74,
    "groq-tool-use-failed-error.sse": 94,
    "openai-audio-output.sse": 18,
    "openai-content-usage.sse": 33,
    "openai-finish-length.sse": 4,
    "openai-logprobs-content.sse": 5,
    "openai-logprobs-refusal.sse": 14,
    "openai-n3-choices.sse": 49,
    "openai-parallel-tool-calls.sse": 25,
    "openai-refusal.sse": 13,
    "openai-text-obfuscation-service-tier.sse": 303,
    "vllm-opt125m-stop-reason.sse": 21,
}


@pytest.mark.parametrize("name", sorted(BYTE_EXACT_FILES))
def test_corpus_files_in_declared_order_round_trip_byte_for_byte(corpus: Path, name: str) -> None:
    payloads = [event.data.encode() for event, _ in corpus_events(corpus / name) if not is_error_report(event)]
    assert len(payloads) == BYTE_EXACT_FILES[name]
    for payload in payloads:
        assert encode(decode_chunk(payload)) == payload


def test_groq_x_groq(corpus: Path) -> None:
    events = corpus_events(corpus / "groq-llama3-x-groq.sse")
    first, last = decode_chunk(events[0][0].data), decode_chunk(events[-1][0].data)
    assert first.x_groq == {"id": "req_01jmefve36eajb6c1x6k8ppv5m"}
    assert first.__dict__ == {"x_groq": {"id": "req_01jmefve36eajb6c1x6k8ppv5m"}}
    assert_same_json(
        last.x_groq,
        {
            "id": "req_01jmefve36eajb6c1x6k8ppv5m",
            "usage": {
                "queue_time": 0.28245049, "prompt_tokens": 18, "prompt_time": 0.002698174, "completion_tokens": 73,
                "completion_time": 0.060833333, "total_tokens": 91, "total_time": 0.063531507,
            },
        },
    )  # fmt: skip
    assert "x_groq" not in decode_chunk(events[1][0].data).__dict__


def test_azure_prompt_filter_results_and_content_filter_results(corpus: Path) -> None:
    events = corpus_events(corpus / "azure-content-filter-results.sse")
    preamble = decode_chunk(events[0][0].data)
    assert (preamble.id, preamble.object, preamble.created, preamble.model, preamble.choices) == ("", "", 0, "", [])
    safe = {"filtered": False, "severity": "safe"}
    assert preamble.prompt_filter_results == [
        {
            "prompt_index": 0,
            "content_filter_results": {
                "hate": safe, "jailbreak": {"detected": False, "filtered": False}, "self_harm": safe, "sexual": safe,
                "violence": safe,
            },
        }
    ]  # fmt: skip
    role = decode_chunk(events[1][0].data)
    assert role.choices[0].content_filter_results == {}
    assert role.obfuscation == "JiOWeZWGpcIbgf"
    assert role.choices[0].delta == ChoiceDelta(role="assistant", content="", refusal=None)
    text = decode_chunk(events[2][0].data)
    assert text.choices[0].delta.content == "Why"
    assert text.choices[0].content_filter_results == {
        "hate": safe,
        "protected_material_code": {"detected": False, "filtered": False},
        "protected_material_text": {"detected": False, "filtered": False},
        "self_harm": safe,
        "sexual": safe,
        "violence": safe,
    }
    legacy = decode_chunk(corpus_events(corpus / "azure-content-filter-legacy.sse")[0][0].data)
    assert legacy.prompt_filter_results == [
        {
            "prompt_index": 0,
            "content_filter_results": {"hate": safe, "self_harm": safe, "sexual": safe, "violence": safe},
        }
    ]


def test_azure_foundry_matched_stop(corpus: Path) -> None:
    events = corpus_events(corpus / "azure-foundry-deepseek-sglang-style.sse")
    chunks = [decode_chunk(event.data) for event, _ in events]
    assert len(chunks) == 785
    matched = [chunk.choices[0].matched_stop for chunk in chunks if chunk.choices]
    assert matched == [None] * 783 + [1]
    finish = chunks[-2].choices[0]
    assert (finish.finish_reason, finish.matched_stop) == ("stop", 1)
    assert finish.delta == ChoiceDelta(role=None, content=None, reasoning_content=None, tool_calls=None)
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.total_tokens, usage.completion_tokens) == (19, 1739, 1720)
    assert usage.prompt_tokens_details is None
    assert usage.__dict__ == {"reasoning_tokens": 0}


def test_perplexity_citations(corpus: Path) -> None:
    events = corpus_events(corpus / "perplexity-citations-usage-every-chunk.sse")
    chunks = [decode_chunk(event.data) for event, _ in events]
    citations = [
        "https://populationstat.com/united-states/san-francisco",
        "https://en.wikipedia.org/wiki/San_Francisco",
        "https://fred.stlouisfed.org/graph/?g=4K5j",
        "https://www.california-demographics.com/cities_by_population",
        "https://worldpopulationreview.com/us-cities/california/san-francisco",
        "https://worldpopulationreview.com/us-counties/california/san-francisco-county",
        "https://www.worldometers.info/world-population/us-population/",
    ]
    assert len(chunks) == 8
    assert all(chunk.citations == citations for chunk in chunks)
    assert chunks[0].usage == Usage(prompt_tokens=10, completion_tokens=1, total_tokens=11)
    assert (chunks[-1].object, chunks[-1].choices[0].finish_reason) == ("chat.completion.done", "stop")
    assert chunks[0].choices[0].finish_reason is UNSET


def test_openrouter_provider_and_native_finish_reason(corpus: Path) -> None:
    events = corpus_events(corpus / "openrouter-reasoning-error-midstream.sse")
    first = decode_chunk(events[0][0].data)
    assert first.provider == "Minimax"
    assert first.choices[0].native_finish_reason is None
    assert first.choices[0].delta.reasoning == "We need"
    assert first.choices[0].delta.reasoning_details == [
        {"type": "reasoning.text", "text": "We need", "index": 0, "format": None}
    ]


# ---------------------------------------------------------------------------------------------------------------------
# 3. Errors.


@pytest.mark.parametrize(
    ("payload", "position", "path", "description"),
    [
        (b'{"id":"a"', 9, "$", "JSON ends unexpectedly"),
        (b'{"choices":[{"index":0,"delta":{"content":"Hel', 46, "$.choices[0].delta.content", "JSON ends unexpectedly"),
        (b"", 0, "$", "JSON ends unexpectedly"),
        (b'{"id":"a"} x', 11, "$", "trailing characters after the JSON value"),
        (b'{"id":"a"}{"id":"b"}', 10, "$", "trailing characters after the JSON value"),
        (b'{"id":"a\\q"}', 8, "$.id", "invalid escape sequence in string"),
        (b'{"id":"\\u12G4"}', 7, "$.id", "invalid escape sequence in string"),
        (b'{"id":"a\\ud800"}', 8, "$.id", "\\u escape is a lone UTF-16 surrogate"),
        (b'{"id":"a\\udc00b"}', 8, "$.id", "\\u escape is a lone UTF-16 surrogate"),
        (b'{"id":"a\\ud83dx"}', 8, "$.id", "\\u escape is a lone UTF-16 surrogate"),
        (b'{"x":"\\ud800"}', 6, "$.x", "\\u escape is a lone UTF-16 surrogate"),
        (b'{"id":"a\nb"}', 8, "$.id", "unescaped control character in string"),
        (b'{"x":01}', 5, "$.x", "invalid number"),
        (b'{"x":NaN}', 5, "$.x", "expected a JSON value, found 'N'"),
        (b'{"x":1e400}', 5, "$.x", "number out of range for a float"),
        (b'{"id":"a",}', 10, "$", "expected a string key, found '}'"),
        (b'{"choices":[{"index":0},]}', 24, "$.choices[1]", "expected a JSON value, found ']'"),
        (b"{'id':'a'}", 1, "$", "expected a string key, found '''"),
        (b'{"id" "a"}', 6, "$", "expected ':', found '\"'"),
    ],
)
def test_invalid_json(payload: bytes, position: int, path: str, description: str) -> None:
    with pytest.raises(DecodeError) as raised:
        decode_chunk(payload)
    error = raised.value
    assert (error.position, error.offset, error.path) == (position, position, path)
    assert str(error) == f"{description} at {path} (byte {position}): {error.excerpt}"
    assert ">>>" in error.excerpt
    assert isinstance(error, ValueError) and isinstance(error, ChatSSEError)
    assert error.chunks == []


@pytest.mark.parametrize(
    ("payload", "position"),
    [(b'{"id":"\xff"}', 7), (b'{"id":"caf\xc3"}', 10), (b'{"id":"\xed\xa0\x80"}', 7), (b'{"id":"\xc0\xaf"}', 7)],
)
def test_invalid_utf8(payload: bytes, position: int) -> None:
    with pytest.raises(DecodeError) as raised:
        decode_chunk(payload)
    assert (raised.value.position, raised.value.offset) == (position, position)
    assert str(raised.value).startswith("invalid UTF-8 at ")


def test_invalid_utf8_names_the_member_it_is_in() -> None:
    with pytest.raises(DecodeError) as raised:
        decode_chunk(b'{"choices":[{"index":0,"delta":{"content":"\xff"}}]}')
    assert raised.value.path == "$.choices[0].delta.content"


# The example response copied from the OpenAI API reference into countless tutorials and mocks, with its trailing
# comma after the last member of "message".
WIDELY_COPIED_COMPLETION = b"""{
  "id": "chatcmpl-123",
  "object": "chat.completion",
  "created": 1677652288,
  "model": "gpt-4o-mini",
  "system_fingerprint": "fp_44709d6fcb",
  "choices": [{
    "index": 0,
    "message": {
      "role": "assistant",
      "content": "\\n\\nHello there, how may I assist you today?",
    },
    "logprobs": null,
    "finish_reason": "stop"
  }],
  "usage": {
    "prompt_tokens": 9,
    "completion_tokens": 12,
    "total_tokens": 21
  }
}"""


def test_trailing_comma_in_the_widely_copied_completion_example() -> None:
    with pytest.raises(DecodeError) as raised:
        decode_completion(WIDELY_COPIED_COMPLETION)
    error = raised.value
    assert error.position == 294
    assert WIDELY_COPIED_COMPLETION[error.position : error.position + 1] == b"}"
    assert WIDELY_COPIED_COMPLETION[error.position - 7 : error.position] == b'",\n    '
    assert (error.offset, error.path) == (294, "$.choices[0].message")
    # ">>>" marks the position; line endings are shown escaped.
    assert error.excerpt == (
        '...here, how may I assist you today?",\\n    >>>},\\n    "logprobs": null,\\n    "finish_rea...'
    )
    assert str(error) == f"expected a string key, found '}}' at $.choices[0].message (byte 294): {error.excerpt}"
    # Without the comma it is a valid completion.
    fixed = decode_completion(WIDELY_COPIED_COMPLETION.replace(b'today?",', b'today?"'))
    assert fixed.choices[0].message == ChatCompletionMessage(
        role="assistant", content="\n\nHello there, how may I assist you today?"
    )
    assert fixed.usage == Usage(prompt_tokens=9, completion_tokens=12, total_tokens=21)


@pytest.mark.parametrize(
    ("payload", "position", "path", "description"),
    [
        (b"[]", 0, "$", "expected object, found array"),
        (b'"chunk"', 0, "$", "expected object, found string"),
        (b"null", 0, "$", "expected object, found null"),
        (b'{"choices":{}}', 11, "$.choices", "expected array, found object"),
        (b'{"choices":[1]}', 12, "$.choices[0]", "expected object, found number"),
        (b'{"choices":[{"index":0},{"delta":{}}]}', 24, "$.choices[1]", "object is missing the required field `index`"),
        (b'{"created":1.5}', 11, "$.created", "expected integer, found float"),
        (b'{"created":1.0}', 11, "$.created", "expected integer, found float"),
        (b'{"created":"1"}', 11, "$.created", "expected integer, found string"),
        (b'{"choices":[{"index":true}]}', 21, "$.choices[0].index", "expected integer, found boolean"),
        (
            b'{"choices":[{"index":0,"delta":{"content":5}}]}',
            42,
            "$.choices[0].delta.content",
            "expected string or array or null, found number",
        ),
        (b'{"model":null}', 9, "$.model", "expected string, found null"),
        (
            b'{"choices":[{"index":0,"logprobs":{"content":[{"logprob":"-1"}]}}]}',
            57,
            "$.choices[0].logprobs.content[0].logprob",
            "expected number, found string",
        ),
        (
            b'{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":{}}}]}}]}',
            81,
            "$.choices[0].delta.tool_calls[0].function.arguments",
            "expected string, found object",
        ),
        (
            b'{"usage":{"prompt_tokens_details":[]}}',
            34,
            "$.usage.prompt_tokens_details",
            "expected object or null, found array",
        ),
    ],
)
def test_wrong_shapes(payload: bytes, position: int, path: str, description: str) -> None:
    with pytest.raises(DecodeError) as raised:
        decode_chunk(payload)
    error = raised.value
    assert (error.position, error.offset, error.path) == (position, position, path)
    assert str(error) == f"{description} at {path} (byte {position}): {error.excerpt}"


def test_completion_wrong_shape_and_missing_index() -> None:
    with pytest.raises(DecodeError) as raised:
        decode_completion(b'{"choices":[{"message":{"content":"hi"}}]}')
    assert (raised.value.path, raised.value.position) == ("$.choices[0]", 12)
    assert str(raised.value).startswith("object is missing the required field `index` at $.choices[0] ")
    with pytest.raises(DecodeError) as raised:
        decode_completion(b'{"choices":[{"index":0,"message":{"tool_calls":[{"function":{"name":7}}]}}]}')
    assert (raised.value.path, raised.value.position) == ("$.choices[0].message.tool_calls[0].function.name", 68)


def test_error_excerpt_is_the_payload_around_the_position() -> None:
    payload = b'{"id":"' + b"a" * 60 + b'","created":"x","model":"' + b"b" * 60 + b'"}'
    with pytest.raises(DecodeError) as raised:
        decode_chunk(payload)
    error = raised.value
    assert error.position == 79
    assert error.excerpt == "..." + payload[39:79].decode() + ">>>" + payload[79:119].decode() + "..."
    assert error.excerpt == '...' + 'a' * 28 + '","created":>>>"x","model":"' + 'b' * 27 + '...'
    assert str(error) == f"expected integer, found string at $.created (byte 79): {error.excerpt}"


# ---------------------------------------------------------------------------------------------------------------------
# 4. Upstream errors.


def test_openai_style_error_payload() -> None:
    payload = (
        b'{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota",'
        b'"code":"insufficient_quota","param":null}}'
    )
    for decode in (decode_chunk, decode_completion):
        with pytest.raises(UpstreamError) as raised:
            decode(payload)
        error = raised.value
        assert str(error) == "You exceeded your current quota."
        assert (error.message, error.type, error.code, error.param) == (
            "You exceeded your current quota.", "insufficient_quota", "insufficient_quota", None,
        )  # fmt: skip
        assert error.error == {
            "message": "You exceeded your current quota.", "type": "insufficient_quota", "code": "insufficient_quota",
            "param": None,
        }  # fmt: skip
        assert (error.payload, error.offset, error.event) == (payload.decode(), 0, "message")
        assert not isinstance(error, DecodeError) and isinstance(error, ChatSSEError)


def test_error_payload_with_a_param() -> None:
    with pytest.raises(UpstreamError) as raised:
        decode_chunk(
            b'{"error":{"message":"bad temperature","type":"invalid_request_error","code":null,"param":"temperature"}}'
        )
    assert (raised.value.message, raised.value.type, raised.value.code, raised.value.param) == (
        "bad temperature", "invalid_request_error", None, "temperature",
    )  # fmt: skip


def test_vllm_style_error_payload() -> None:
    payload = (
        b'{"object":"error","message":"max_tokens must be at least 1, got 0.","type":"BadRequestError","param":null,'
        b'"code":400}'
    )
    with pytest.raises(UpstreamError) as raised:
        decode_chunk(payload)
    error = raised.value
    assert (error.message, error.type, error.code, error.param) == (
        "max_tokens must be at least 1, got 0.", "BadRequestError", 400, None,
    )  # fmt: skip
    assert error.error == json.loads(payload)
    assert error.payload == payload.decode()


def test_error_report_that_is_not_chunk_shaped_is_still_an_upstream_error() -> None:
    # "choices": 5 would be a DecodeError; the error member wins.
    with pytest.raises(UpstreamError) as raised:
        decode_chunk(b'{"error":{"message":"overloaded","code":529},"choices":5}')
    assert (raised.value.message, raised.value.code) == ("overloaded", 529)


def test_error_member_without_a_message() -> None:
    with pytest.raises(UpstreamError) as raised:
        decode_chunk(b'{"error":"rate limited"}')
    assert (raised.value.message, raised.value.error, raised.value.type) == ("rate limited", "rate limited", None)
    with pytest.raises(UpstreamError) as raised:
        decode_chunk(b'{"error":{}}')
    assert (raised.value.message, raised.value.error) == ('{"error":{}}', {})


def test_error_event_with_json_data() -> None:
    body = b'data: {"id":"a"}\n\nevent: error\ndata: {"error":{"message":"boom","type":"server_error"}}\n\n'
    decoder = ChunkDecoder()
    with pytest.raises(UpstreamError) as raised:
        decoder.feed(body)
    error = raised.value
    assert (error.message, error.type, error.code, error.event) == ("boom", "server_error", None, "error")
    assert error.offset == 37 == body.index(b'{"error"')
    assert error.chunks == [ChatCompletionChunk(id="a")]


def test_error_event_with_plain_text_data() -> None:
    body = b'data: {"id":"a"}\n\nevent: error\ndata: Internal server error\n\n'
    chunks, error = collect([body])
    assert chunks == [ChatCompletionChunk(id="a")]
    assert type(error) is UpstreamError
    assert (error.message, error.error) == ("Internal server error", None)
    assert (error.type, error.code, error.param) == (None, None, None)
    assert (error.payload, error.event, error.offset) == ("Internal server error", "error", 37)
    assert error.chunks == []  # handed over by iter_chunks


def test_error_payload_inside_a_jsonl_stream() -> None:
    body = b'{"id":"a"}\n{"object":"error","message":"m","code":400}\n'
    chunks, error = collect([body])
    assert chunks == [ChatCompletionChunk(id="a")]
    assert type(error) is UpstreamError
    assert (error.message, error.code, error.offset, error.event) == ("m", 400, 11, "message")


def test_openrouter_midstream_error(corpus: Path) -> None:
    path = corpus / "openrouter-reasoning-error-midstream.sse"
    body = path.read_bytes()
    events = corpus_events(path)
    error_payload, error_offset = events[3][0].data, events[3][1]
    assert error_offset == 1641
    for size in (1500, 7, len(body)):
        chunks, error = collect(pieces_of(body, size))
        assert encoded(chunks) == [encode(decode_chunk(event.data)) for event, _ in events[:3]]
        assert [chunk.choices[0].finish_reason for chunk in chunks] == [None, "length", "length"]
        assert type(error) is UpstreamError
        assert (error.message, error.code, error.type, error.param) == ("Token limit reached", 400, None, None)
        assert error.error == {"code": 400, "message": "Token limit reached"}
        assert (error.offset, error.event, error.payload) == (error_offset, "message", error_payload)
        assert body[error.offset : error.offset + len(error_payload)] == error_payload.encode()


def test_groq_tool_use_failed_error_event(corpus: Path) -> None:
    path = corpus / "groq-tool-use-failed-error.sse"
    body = path.read_bytes()
    events = corpus_events(path)
    assert len(events) == 95
    message = (
        "Tool call validation failed: tool call validation failed: parameters for tool get_something_by_name did not "
        "match schema: errors: [missing properties: 'name', additionalProperties 'invalid_param' not allowed]"
    )
    for size in (1500, 7):
        chunks, error = collect(pieces_of(body, size))
        assert len(chunks) == 94
        assert encoded(chunks) == [encode(decode_chunk(event.data)) for event, _ in events[:94]]
        assert type(error) is UpstreamError
        assert (error.message, error.type, error.code, error.param) == (
            message, "invalid_request_error", "tool_use_failed", None,
        )  # fmt: skip
        assert error.error["failed_generation"] == (
            '{"name": "get_something_by_name", "arguments": {\n  "invalid_param": "value"\n}}'
        )
        assert error.error["status_code"] == 400
        assert (error.event, error.offset) == ("error", 27760)
        assert error.offset == events[94][1]
        assert body[error.offset :].rstrip(b"\n").decode() == error.payload


# ---------------------------------------------------------------------------------------------------------------------
# 5. Streams.

# Corpus files whose stream ends with an upstream error, and how many chunks come before it.
UPSTREAM_ERROR_FILES = {"groq-tool-use-failed-error.sse": 94, "openrouter-reasoning-error-midstream.sse": 3}


def expected_stream(path: Path) -> tuple[list[bytes], bool]:
    """What a stream decoder must give for a corpus file: the encoded chunks before any error, and whether it fails."""
    chunks = []
    for event, _ in corpus_events(path):
        if is_error_report(event):
            return chunks, True
        chunks.append(encode(decode_chunk(event.data)))
    return chunks, False


def test_iter_chunks_over_every_corpus_file(corpus: Path) -> None:
    files = sorted(corpus.glob("*.sse"))
    assert len(files) == CORPUS_FILE_COUNT
    total = 0
    for path in files:
        body = path.read_bytes()
        expected, fails = expected_stream(path)
        chunks, error = collect(pieces_of(body, 1500))
        assert encoded(chunks) == expected, path.name
        if fails:
            assert type(error) is UpstreamError, path.name
            assert len(chunks) == UPSTREAM_ERROR_FILES[path.name]
        else:
            assert error is None, (path.name, error)
        total += len(chunks)
    assert total == 4765


@pytest.mark.parametrize(
    "name",
    [
        "anthropic-gateway-tool-index-1.sse",
        "copilot-claude-tool-calls-same-index.sse",
        "openai-audio-output.sse",
        "openrouter-web-search-annotations.sse",
        "mistral-magistral-thinking-array.sse",
        "openai-logprobs-refusal.sse",
    ],
)
def test_iter_chunks_in_seven_byte_pieces(corpus: Path, name: str) -> None:
    body = (corpus / name).read_bytes()
    expected, fails = expected_stream(corpus / name)
    assert not fails
    chunks, error = collect(pieces_of(body, 7))
    assert error is None
    assert encoded(chunks) == expected


def test_last_done_without_a_blank_line_still_ends_the_stream(corpus: Path) -> None:
    body = (corpus / "anthropic-gateway-tool-index-1.sse").read_bytes()
    assert body.endswith(b"\n\ndata: [DONE]\n")
    decoder = ChunkDecoder()
    chunks = decoder.feed(body)
    assert len(chunks) == 8
    assert decoder.done is False  # the event is not dispatched until the stream ends
    assert decoder.close() == []
    assert decoder.done is True
    assert [len(list(iter_chunks([body])))] == [8]
    tool_calls = [chunk.choices[0].delta.tool_calls for chunk in chunks if chunk.choices[0].delta.tool_calls]
    assert tool_calls[0][0].index == 1


def test_stream_without_done_is_truncated() -> None:
    body = b'data: {"id":"a"}\n\ndata: {"id":"b"}\n\n'
    chunks, error = collect([body])
    assert chunks == [ChatCompletionChunk(id="a"), ChatCompletionChunk(id="b")]
    assert type(error) is TruncatedStreamError
    assert error.offset == 36
    assert str(error) == "the stream ended without data: [DONE], at stream offset 36"
    chunks, error = collect([body], require_done=False)
    assert (len(chunks), error) == (2, None)


def test_stream_cut_inside_a_payload_is_truncated_even_without_require_done() -> None:
    body = b'data: {"id":"a"}\n\ndata: {"id":"b'
    for require_done in (True, False):
        chunks, error = collect([body], require_done=require_done)
        assert chunks == [ChatCompletionChunk(id="a")]
        assert type(error) is TruncatedStreamError
        assert error.offset == 32
        assert str(error) == "the stream ended inside an event, at stream offset 32"


def test_last_event_without_a_blank_line_is_kept_when_complete() -> None:
    decoder = ChunkDecoder(require_done=False)
    assert decoder.feed(b'data: {"id":"a"}\n\ndata: {"id":"b"}') == [ChatCompletionChunk(id="a")]
    assert decoder.close() == [ChatCompletionChunk(id="b")]


def test_unterminated_last_event_that_reports_an_error() -> None:
    for body, message, offset in [
        (b'data: {"id":"a"}\n\ndata: {"error":{"message":"x"}}', "x", 24),
        (b'data: {"id":"a"}\n\nevent: error\ndata: oops', "oops", 37),
    ]:
        chunks, error = collect([body])
        assert chunks == [ChatCompletionChunk(id="a")]
        assert type(error) is UpstreamError
        assert (error.message, error.offset) == (message, offset)


def test_unterminated_last_event_cut_inside_an_error_payload_is_truncated() -> None:
    chunks, error = collect([b'data: {"id":"a"}\n\ndata: {"error":{"mess'])
    assert chunks == [ChatCompletionChunk(id="a")]
    assert type(error) is TruncatedStreamError and error.offset == 39


@pytest.mark.parametrize("body", [b'data: {"id":"a"}\n\ndata: {"created":1.5}', b'{"id":"a"}\n{"created":1.5}'])
def test_complete_last_payload_of_the_wrong_shape_is_a_decode_error(body: bytes) -> None:
    chunks, error = collect([body], require_done=False)
    assert chunks == [ChatCompletionChunk(id="a")]
    assert type(error) is DecodeError
    assert (error.path, error.position) == ("$.created", 11)


def test_repeated_strings_across_chunks_of_one_stream() -> None:
    # The decoder reuses the str of a field whose raw text repeats from chunk to chunk; values must stay exact.
    payloads = [
        b'{"id":"a","model":"m","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}',
        b'{"id":"\\u0061","model":"m","choices":[{"index":0,"delta":{"role":"\\u00e9"},"finish_reason":"stop"}]}',
        b'{"id":"a","model":"n","choices":[{"index":0,"delta":{"role":"\xc3\xa9"},"finish_reason":"stop"}]}',
        b'{"id":"b","model":"n","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,'
        b'"id":"a","type":"function","function":{"name":"a"}}]}}]}',
        b'{"id":"b","object":"a","system_fingerprint":"a","service_tier":"a","choices":[]}',
    ]
    body = b"".join(b"data: " + payload + b"\n\n" for payload in payloads) + b"data: [DONE]\n\n"
    expected = [json.loads(payload) for payload in payloads]
    for size in (7, len(body)):
        chunks = list(iter_chunks(pieces_of(body, size)))
        assert [round_trip(chunk) for chunk in chunks] == expected
    assert [chunk.id for chunk in chunks] == ["a", "a", "a", "b", "b"]
    assert [chunk.choices[0].delta.role for chunk in chunks[:4]] == ["assistant", "é", "é", "assistant"]
    # A lone surrogate in a repeating field fails even right after a valid value in that field.
    chunks, error = collect([b'data: {"id":"a"}\n\ndata: {"id":"\\ud800"}\n\n'])
    assert chunks == [ChatCompletionChunk(id="a")]
    assert type(error) is DecodeError and error.path == "$.id"


def test_done_without_any_line_ending() -> None:
    decoder = ChunkDecoder()
    assert decoder.feed(b'data: {"id":"a"}\n\ndata: [DONE]') == [ChatCompletionChunk(id="a")]
    assert decoder.close() == []
    assert decoder.done is True


def test_everything_after_done_is_ignored() -> None:
    body = b'data: {"id":"a"}\n\ndata: [DONE]\n\ndata: {"id":"b"}\n\ndata: not json\n\nevent: error\ndata: x\n\n'
    decoder = ChunkDecoder()
    assert decoder.feed(body) == [ChatCompletionChunk(id="a")]
    assert decoder.done is True
    assert decoder.feed(b'data: {"id":"c"}\n\n') == []
    assert decoder.close() == []
    assert decoder.offset == len(body) + 18


def test_iter_chunks_stops_reading_at_done() -> None:
    pulled: list[bytes] = []

    def source() -> Iterator[bytes]:
        for piece in [b'data: {"id":"a"}\n\n', b'data: [DO', b'NE]\n\n', b'data: {"id":"b"}\n\n', b"more"]:
            pulled.append(piece)
            yield piece

    assert list(iter_chunks(source())) == [ChatCompletionChunk(id="a")]
    assert pulled == [b'data: {"id":"a"}\n\n', b"data: [DO", b"NE]\n\n"]


def test_keep_alives_comments_and_empty_data_are_skipped() -> None:
    body = b': keep-alive\n\ndata:\n\ndata: \n\n:\n\ndata:{"id":"a"}\n\nevent: ping\n\ndata: [DONE]\n\n'
    assert list(iter_chunks([body])) == [ChatCompletionChunk(id="a")]


def test_crlf_and_cr_framed_sse() -> None:
    for ending in (b"\r\n", b"\r"):
        body = ending.join([b'data: {"id":"a"}', b"", b'data: {"id":"b"}', b"", b"data: [DONE]", b"", b""])
        decoder = ChunkDecoder()
        assert decoder.feed(body) == [ChatCompletionChunk(id="a"), ChatCompletionChunk(id="b")]
        assert decoder.done is True


def test_decode_error_in_a_stream_carries_offsets_and_earlier_chunks() -> None:
    body = b'data: {"id":"a"}\r\n\r\ndata: {"id":"b"}\r\n\r\ndata: {"id":5}\r\n\r\n'
    decoder = ChunkDecoder()
    with pytest.raises(DecodeError) as raised:
        decoder.feed(body)
    error = raised.value
    assert error.chunks == [ChatCompletionChunk(id="a"), ChatCompletionChunk(id="b")]
    assert (error.position, error.path) == (6, "$.id")
    assert error.offset == 52 == body.index(b"5}")
    assert str(error) == (
        'expected string, found number at $.id (byte 6 of the payload at stream offset 46): {"id":>>>5}'
    )
    # iter_chunks yields the same two chunks first, then raises; nothing half-built comes out.
    chunks, error = collect(pieces_of(body, 5))
    assert chunks == [ChatCompletionChunk(id="a"), ChatCompletionChunk(id="b")]
    assert type(error) is DecodeError and error.offset == 52 and error.chunks == []


def test_decode_error_offset_in_a_multi_line_payload() -> None:
    body = b'data: {"id":\ndata: 5}\n\n'
    with pytest.raises(DecodeError) as raised:
        ChunkDecoder().feed(body)
    assert raised.value.position == 7
    assert raised.value.offset == body.index(b"5}") == 19


def test_multi_line_payload_decodes() -> None:
    decoder = ChunkDecoder()
    assert decoder.feed(b'data: {"id":\ndata: "a"}\n\ndata: [DONE]\n\n') == [ChatCompletionChunk(id="a")]


def test_event_too_large_carries_earlier_chunks() -> None:
    too_long = b'{"id":"' + b"x" * 40 + b'"}'
    for body in (b'data: {"id":"a"}\n\ndata: ' + too_long + b"\n\n", b'{"id":"a"}\n' + too_long + b"\n"):
        decoder = ChunkDecoder(max_event_size=20)
        with pytest.raises(EventTooLargeError) as raised:
            decoder.feed(body)
        assert raised.value.limit == 20
        assert raised.value.chunks == [ChatCompletionChunk(id="a")]
        # The offset of the line (or event) that grew too large.
        assert raised.value.offset == body.index(too_long) - (6 if body.startswith(b"data") else 0)


def test_decoder_closed_error() -> None:
    decoder = ChunkDecoder()
    decoder.feed(b"data: [DONE]\n\n")
    assert decoder.close() == []
    with pytest.raises(DecoderClosedError) as raised:
        decoder.feed(b"data: {}\n\n")
    assert str(raised.value) == "the decoder was closed; feed a new decoder for a new stream"
    assert decoder.close() == []  # closing twice is harmless


def test_decoder_state() -> None:
    decoder = ChunkDecoder()
    assert (decoder.format, decoder.offset, decoder.done) == ("auto", 0, False)
    assert repr(decoder) == 'ChunkDecoder(format="auto", offset=0, done=False)'
    decoder.feed(b"\n \n")
    assert (decoder.format, decoder.offset) == ("auto", 3)
    decoder.feed(b'data: {"id":"a"}\n\ndata: [DONE]\n\n')
    assert (decoder.format, decoder.offset, decoder.done) == ("sse", 35, True)
    assert repr(decoder) == 'ChunkDecoder(format="sse", offset=35, done=True)'
    with pytest.raises(ValueError, match=r"^format must be 'auto', 'sse' or 'jsonl', not \"xml\"$"):
        ChunkDecoder(format="xml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^max_event_size must be at least 1 byte$"):
        ChunkDecoder(max_event_size=0)


def test_empty_stream_is_truncated() -> None:
    decoder = ChunkDecoder()
    with pytest.raises(TruncatedStreamError) as raised:
        decoder.close()
    assert raised.value.offset == 0
    assert decoder.format == "auto"
    assert ChunkDecoder(require_done=False).close() == []


# --- JSON lines ------------------------------------------------------------------------------------------------------


def test_jsonl_is_detected_from_the_first_non_blank_byte() -> None:
    decoder = ChunkDecoder()
    assert decoder.feed(b"\n\r\n  ") == []
    assert decoder.format == "auto"
    assert decoder.feed(b'{"id":"a"}\r\n\n{"id":"b"}\n[DONE]\n{"id":"c"}\n') == [
        ChatCompletionChunk(id="a"), ChatCompletionChunk(id="b"),
    ]  # fmt: skip
    assert (decoder.format, decoder.done) == ("jsonl", True)
    assert decoder.close() == []


@pytest.mark.parametrize("body", [b'\xef\xbb\xbf{"id":"a"}\n[DONE]\n', b'\xef\xbb\xbf\n\n{"id":"a"}\n[DONE]\n'])
def test_jsonl_after_a_bom(body: bytes) -> None:
    decoder = ChunkDecoder()
    assert decoder.feed(body) == [ChatCompletionChunk(id="a")]
    assert (decoder.format, decoder.done) == ("jsonl", True)


def test_sse_after_a_bom() -> None:
    decoder = ChunkDecoder()
    assert decoder.feed(b'\xef\xbb\xbfdata: {"id":"a"}\n\n') == [ChatCompletionChunk(id="a")]
    assert decoder.format == "sse"


def test_jsonl_pieces_and_explicit_format() -> None:
    body = b'{"id":"a"}\r\n{"id":"b", "choices": [{"index": 0, "delta": {"content": "\xc3\xa9"}}]}\r\n[DONE]\r\n'
    expected = [
        ChatCompletionChunk(id="a"),
        ChatCompletionChunk(id="b", choices=[ChunkChoice(index=0, delta=ChoiceDelta(content="é"))]),
    ]
    for format_ in ("auto", "jsonl"):
        for size in (1, 3, len(body)):
            assert list(iter_chunks(pieces_of(body, size), format=format_)) == expected


def test_jsonl_last_line_without_a_newline() -> None:
    decoder = ChunkDecoder(require_done=False)
    assert decoder.feed(b'{"id":"a"}\n{"id":"b"}') == [ChatCompletionChunk(id="a")]
    assert decoder.close() == [ChatCompletionChunk(id="b")]
    # JSON lines have no [DONE]: a body ending with a whole line is complete, require_done or not.
    chunks, error = collect([b'{"id":"a"}\n{"id":"b"}'])
    assert (chunks, error) == ([ChatCompletionChunk(id="a"), ChatCompletionChunk(id="b")], None)
    # One cut inside the line is truncated, in every format.
    for format_ in ("auto", "jsonl"):
        decoder = ChunkDecoder(format=format_)
        decoder.feed(b'{"id":"a"}\n{"id":"b"')
        with pytest.raises(TruncatedStreamError, match="^the stream ended inside an event, at stream offset 20$"):
            decoder.close()


def test_jsonl_done_line_without_a_newline() -> None:
    decoder = ChunkDecoder()
    assert decoder.feed(b'{"id":"a"}\n[DONE]') == [ChatCompletionChunk(id="a")]
    assert decoder.close() == []
    assert decoder.done is True


@pytest.mark.parametrize("require_done", [True, False])
def test_jsonl_cut_inside_a_payload_is_truncated(require_done: bool) -> None:
    chunks, error = collect([b'{"id":"a"}\n{"id":"b'], require_done=require_done)
    assert chunks == [ChatCompletionChunk(id="a")]
    assert type(error) is TruncatedStreamError


def test_explicit_sse_format_does_not_read_json_lines() -> None:
    decoder = ChunkDecoder(format="sse")
    assert decoder.feed(b'{"id":"a"}\n\n') == []
    assert decoder.format == "sse"
    with pytest.raises(TruncatedStreamError):
        decoder.close()


def test_explicit_jsonl_format_refuses_sse() -> None:
    with pytest.raises(DecodeError) as raised:
        ChunkDecoder(format="jsonl").feed(b'data: {"id":"a"}\n')
    assert (raised.value.position, raised.value.offset, raised.value.path) == (0, 0, "$")
    assert str(raised.value) == (
        "expected a JSON value, found 'd' at $ (byte 0 of the payload at stream offset 0): >>>data: {\"id\":\"a\"}"
    )


# --- async -----------------------------------------------------------------------------------------------------------


async def async_pieces(pieces: list[bytes], pulled: list[bytes] | None = None) -> AsyncIterator[bytes]:
    for piece in pieces:
        if pulled is not None:
            pulled.append(piece)
        await asyncio.sleep(0)
        yield piece


async def async_collect(
    source: AsyncIterator[bytes], **options: Any
) -> tuple[list[ChatCompletionChunk], BaseException | None]:
    chunks: list[ChatCompletionChunk] = []
    try:
        async for chunk in aiter_chunks(source, **options):
            chunks.append(chunk)
    except ChatSSEError as error:
        return chunks, error
    return chunks, None


def test_aiter_chunks_over_a_corpus_file(corpus: Path) -> None:
    path = corpus / "openai-parallel-tool-calls-obfuscation.sse"
    expected, _ = expected_stream(path)
    chunks, error = asyncio.run(async_collect(async_pieces(pieces_of(path.read_bytes(), 64))))
    assert error is None
    assert encoded(chunks) == expected
    assert len(chunks) == 7


def test_aiter_chunks_stops_at_done_and_reports_errors_after_earlier_chunks() -> None:
    pulled: list[bytes] = []
    pieces = [b'data: {"id":"a"}\n\n', b"data: [DONE]\n\n", b"never"]
    chunks, error = asyncio.run(async_collect(async_pieces(pieces, pulled)))
    assert (chunks, error, pulled) == ([ChatCompletionChunk(id="a")], None, pieces[:2])

    chunks, error = asyncio.run(async_collect(async_pieces([b'data: {"id":"a"}\n\ndata: {"id":5}\n\n'])))
    assert chunks == [ChatCompletionChunk(id="a")]
    assert type(error) is DecodeError and error.offset == 30

    chunks, error = asyncio.run(async_collect(async_pieces([b'data: {"id":"a"}\n\n'])))
    assert chunks == [ChatCompletionChunk(id="a")]
    assert type(error) is TruncatedStreamError

    chunks, error = asyncio.run(async_collect(async_pieces([b'{"id":"a"}\n', b'{"id":"b"}']), require_done=False))
    assert (chunks, error) == ([ChatCompletionChunk(id="a"), ChatCompletionChunk(id="b")], None)


# --- any cutting gives the same chunks -------------------------------------------------------------------------------

PROPERTY_FILES = [
    "anthropic-gateway-tool-index-1.sse",
    "mistral-tool-call-whole-no-index.sse",
    "openai-logprobs-content.sse",
    "openai-audio-output.sse",
    "copilot-azure-n3.sse",
    "together-deepseek-r1-think-inline.sse",
]


def property_payloads(corpus: Path) -> list[str]:
    payloads = [
        '{"id":"é😀","choices":[{"index":0,"delta":{"content":"\\ud83d\\ude00 \\n"}}]}',
        '{"choices":[],"usage":{"prompt_tokens":18446744073709551617}}',
    ]
    for name in PROPERTY_FILES:
        payloads.extend(event.data for event, _ in corpus_events(corpus / name)[:12])
    return payloads


def cut(body: bytes, points: list[int]) -> list[bytes]:
    bounds = sorted({point % (len(body) + 1) for point in points})
    edges = [0, *bounds, len(body)]
    return [body[a:b] for a, b in zip(edges, edges[1:])]


def chunks_of(pieces: list[bytes], **options: Any) -> list[bytes]:
    decoder = ChunkDecoder(**options)
    chunks = []
    for piece in pieces:
        chunks.extend(decoder.feed(piece))
    chunks.extend(decoder.close())
    assert decoder.done
    return encoded(chunks)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_cutting_of_an_sse_body_gives_the_same_chunks(corpus: Path, data: st.DataObject) -> None:
    pool = property_payloads(corpus)
    payloads = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=8), label="payloads")
    ending = data.draw(st.sampled_from(["\n", "\r\n", "\r"]), label="ending")
    prefix = data.draw(st.sampled_from(["data: ", "data:"]), label="prefix")
    frames = []
    for payload in payloads:
        if data.draw(st.booleans(), label="comment before"):
            frames.append(f": OPENROUTER PROCESSING{ending}{ending}")
        frames.append(f"{prefix}{payload}{ending}{ending}")
    # [DONE] may lack its blank line, or every line ending, at the very end; ignored junk may follow a whole one.
    last = data.draw(
        st.sampled_from([
            f"data: [DONE]{ending}{ending}", f"data: [DONE]{ending}{ending}data: {{not json{ending}{ending}",
            f"data: [DONE]{ending}", "data: [DONE]",
        ]),
        label="end",
    )  # fmt: skip
    body = ("".join(frames) + last).encode()
    expected = [encode(decode_chunk(payload)) for payload in payloads]
    assert chunks_of([body]) == expected
    points = data.draw(st.lists(st.integers(min_value=0), max_size=20), label="cuts")
    assert chunks_of(cut(body, points)) == expected


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_cutting_of_a_jsonl_body_gives_the_same_chunks(corpus: Path, data: st.DataObject) -> None:
    pool = property_payloads(corpus)
    payloads = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=8), label="payloads")
    ending = data.draw(st.sampled_from(["\n", "\r\n"]), label="ending")
    blank = data.draw(st.sampled_from(["", ending, " " + ending]), label="blank lines")
    body = (blank + "".join(f"{payload}{ending}{blank}" for payload in payloads) + "[DONE]").encode()
    expected = [encode(decode_chunk(payload)) for payload in payloads]
    points = data.draw(st.lists(st.integers(min_value=0), max_size=20), label="cuts")
    for format_ in ("auto", "jsonl"):
        assert chunks_of([body], format=format_) == expected
        assert chunks_of(cut(body, points), format=format_) == expected


# ---------------------------------------------------------------------------------------------------------------------
# 6. Differential: an undeclared member holds exactly what json.loads reads.

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64 + 1, -(2**63), -(2**63) - 1, 10**100, -(10**100)])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=25,
)


@settings(max_examples=500, deadline=None)
@given(value=json_values, ensure_ascii=st.booleans())
def test_undeclared_member_matches_json_loads(value: Any, ensure_ascii: bool) -> None:
    text = json.dumps({"choices": [], "x": value}, ensure_ascii=ensure_ascii)
    expected = json.loads(text)["x"]
    for data in (text, text.encode()):
        chunk = decode_chunk(data)
        assert_same_json(chunk.x, expected)
        assert chunk.choices == []
        assert_same_json(json.loads(encode(chunk)), {"choices": [], "x": expected})


# --- behaviour fixed after the first review ---------------------------------------------------------------------------


def test_decoder_stops_after_an_error() -> None:
    decoder = ChunkDecoder()
    with pytest.raises(DecodeError) as raised:
        decoder.feed(b'data: {"id":5}\n\ndata: {"id":"b"}\n\n')
    assert raised.value.chunks == []
    # The chunk after the bad one is not silently dropped: the decoder refuses to go on.
    with pytest.raises(DecoderClosedError, match=r"stopped at an earlier error \(DecodeError: expected string, found number"):
        decoder.feed(b'data: {"id":"c"}\n\n')
    with pytest.raises(DecoderClosedError):
        decoder.close()


def test_an_error_frame_is_an_error_even_with_done_as_data() -> None:
    with pytest.raises(UpstreamError) as raised:
        list(iter_chunks([b"event: error\ndata: [DONE]\n\n"]))
    assert (raised.value.event, raised.value.payload, raised.value.message) == ("error", "[DONE]", "[DONE]")


def test_explicit_json_lines_with_a_bom() -> None:
    chunks = list(iter_chunks([b'\xef\xbb\xbf{"id":"a"}\n[DONE]\n'], format="jsonl"))
    assert chunks == [ChatCompletionChunk(id="a")]


def test_excerpt_escapes_control_characters_the_python_way() -> None:
    with pytest.raises(DecodeError) as raised:
        decode_chunk(b'{"id": "a\x1fb"}')
    assert raised.value.excerpt == '{"id": "a>>>\\x1fb"}'


# --- decode(): any type of chatsse.types ------------------------------------------------------------------------------

REQUEST_MESSAGES = (
    b'[{"role":"system","content":"be brief","x_meta":1},'
    b'{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}},'
    b'{"type":"image_url","image_url":{"url":"data:image/png;base64,AA==","detail":"low"}},'
    b'{"type":"input_audio","input_audio":{"data":"UklG","format":"wav"}},'
    b'{"type":"file","file":{"filename":"a.pdf","file_id":"file-1"}},'
    b'{"type":"video_url","video_url":{"url":"https://v"}},{"type":"future_part","foo":1}]},'
    b'{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",'
    b'"function":{"name":"f","arguments":"{}"},"x":2}],"reasoning_content":"r"},'
    b'{"role":"tool","tool_call_id":"c1","content":"42","name":"f"}]'
)


def test_decode_request_messages_keeps_every_member() -> None:
    from chatsse import decode
    from chatsse.types import (
        ChatCompletionContentPartFile,
        ChatCompletionContentPartImage,
        ChatCompletionContentPartInputAudio,
        ChatCompletionContentPartText,
        ChatCompletionContentPartVideo,
        Message,
    )

    messages = decode(REQUEST_MESSAGES, list[Message])
    assert [m.role for m in messages] == ["system", "user", "assistant", "tool"]
    assert (messages[0].content, messages[0].x_meta) == ("be brief", 1)
    parts = messages[1].content
    assert [type(p) for p in parts[:5]] == [
        ChatCompletionContentPartText,
        ChatCompletionContentPartImage,
        ChatCompletionContentPartInputAudio,
        ChatCompletionContentPartFile,
        ChatCompletionContentPartVideo,
    ]
    assert parts[0].cache_control == {"type": "ephemeral"}
    assert (parts[1].image_url.url, parts[1].image_url.detail) == ("data:image/png;base64,AA==", "low")
    assert (parts[2].input_audio.format, parts[3].file.file_id, parts[4].video_url.url) == ("wav", "file-1", "https://v")
    assert parts[5] == {"type": "future_part", "foo": 1}  # an unknown part type is kept as it came
    assert (messages[2].content, messages[2].tool_calls[0].x, messages[2].reasoning_content) == (None, 2, "r")
    assert (messages[3].tool_call_id, messages[3].name) == ("c1", "f")
    assert [json.loads(encode(m)) for m in messages] == json.loads(REQUEST_MESSAGES)


def test_decode_refuses_foreign_types_and_bad_documents() -> None:
    from chatsse import Usage, decode

    assert decode(b'{"prompt_tokens":1,"x":[2]}', Usage).x == [2]
    with pytest.raises(TypeError, match="is not a type of chatsse.types"):
        decode(b"{}", dict)
    with pytest.raises(DecodeError, match=r"expected array, found object at \$"):
        decode(b"{}", list[Usage])
    with pytest.raises(DecodeError) as raised:
        decode(b'[{"prompt_tokens":1},{"prompt_tokens":"x"}]', list[Usage])
    assert raised.value.path == "$[1].prompt_tokens"


def test_the_garbage_collector_is_left_as_it_was_found() -> None:
    # Decoding holds the collector off while it builds; it must be back on afterwards, also after an
    # error, and a collector the caller turned off must stay off.
    body = b'{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[]}'
    assert gc.isenabled()
    decode_completion(body)
    with pytest.raises(DecodeError):
        decode_completion(body[:-1] + b",}")
    assert gc.isenabled()
    gc.disable()
    try:
        decode_completion(body)
        with pytest.raises(DecodeError):
            decode_completion(body[:-1] + b",}")
        assert not gc.isenabled()
    finally:
        gc.enable()
