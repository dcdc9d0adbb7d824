"""Tests of the msgspec Structs in chatsse.types: exact decoding, lossless re-encoding, the recorded corpus,
the behaviour of undeclared fields kept as attributes, and a differential check against the openai SDK."""

from __future__ import annotations

import copy
import gc
import json
import pickle
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chatsse.types as types_module
from chatsse.types import (
    UNSET,
    Annotation,
    AnnotationURLCitation,
    ChatCompletion,
    ChatCompletionAudio,
    ChatCompletionChunk,
    ChatCompletionContentPartFile,
    ChatCompletionContentPartImage,
    ChatCompletionContentPartInputAudio,
    ChatCompletionContentPartRefusal,
    ChatCompletionContentPartText,
    ChatCompletionContentPartVideo,
    ChatCompletionMessage,
    Choice,
    ChoiceDelta,
    ChoiceDeltaAudio,
    ChoiceDeltaCustomCall,
    ChoiceDeltaFunctionCall,
    ChoiceDeltaToolCall,
    ChoiceLogprobs,
    ChunkChoice,
    CompletionTokensDetails,
    CustomCall,
    File,
    FunctionCall,
    ImageURL,
    InputAudio,
    Message,
    PromptTokensDetails,
    TokenLogprob,
    ToolCall,
    TopLogprob,
    Usage,
    VideoURL,
)

STRUCT_TYPES = [
    value
    for name in types_module.__all__
    if isinstance(value := getattr(types_module, name), type) and issubclass(value, msgspec.Struct)
]


def decode(payload: bytes, type: Any) -> Any:
    return msgspec.json.decode(payload, type=type)


# ---------------------------------------------------------------------------------------------------------------------
# Exact decoding, type by type.


def test_chunk_every_top_level_field() -> None:
    chunk = decode(
        b'{"id":"chatcmpl-1","object":"chat.completion.chunk","created":9223372036854775807,"model":"gpt-4o",'
        b'"service_tier":"default","system_fingerprint":"fp_1","choices":[],"usage":null,"obfuscation":"Qup1"}',
        ChatCompletionChunk,
    )
    assert chunk.id == "chatcmpl-1"
    assert chunk.object == "chat.completion.chunk"
    assert chunk.created == 2**63 - 1
    assert chunk.model == "gpt-4o"
    assert chunk.service_tier == "default"
    assert chunk.system_fingerprint == "fp_1"
    assert chunk.choices == []
    assert chunk.usage is None
    assert chunk.obfuscation == "Qup1"


def test_chunk_with_nothing_declared_decodes_to_all_unset() -> None:
    # OpenAI audio streams send chunks without "choices"; Copilot sends chunks without "object" and "model".
    chunk = decode(b"{}", ChatCompletionChunk)
    assert [getattr(chunk, name) for name in ChatCompletionChunk.__struct_fields__] == [UNSET] * 9


def test_chunk_azure_preamble() -> None:
    chunk = decode(b'{"choices":[],"created":0,"id":"","model":"","object":""}', ChatCompletionChunk)
    assert (chunk.id, chunk.object, chunk.created, chunk.model, chunk.choices) == ("", "", 0, "", [])
    assert chunk.usage is UNSET


def test_chunk_choice_every_field() -> None:
    choice = decode(b'{"index":2,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":"length"}', ChunkChoice)
    assert choice.index == 2
    assert choice.delta == ChoiceDelta(content="Hi")
    assert choice.logprobs is None
    assert choice.finish_reason == "length"


def test_chunk_choice_absent_versus_null() -> None:
    absent = decode(b'{"index":0}', ChunkChoice)
    null = decode(b'{"index":0,"delta":{},"logprobs":null,"finish_reason":null}', ChunkChoice)
    assert (absent.delta, absent.logprobs, absent.finish_reason) == (UNSET, UNSET, UNSET)
    assert (null.delta, null.logprobs, null.finish_reason) == (ChoiceDelta(), None, None)
    assert absent != null


def test_chunk_choice_index_is_required() -> None:
    message = r"^Object missing required field `index` - at `\$.choices\[0\]`$"
    with pytest.raises(msgspec.ValidationError, match=message):
        decode(b'{"choices":[{"delta":{}}]}', ChatCompletionChunk)


def test_delta_every_field() -> None:
    delta = decode(
        b'{"role":"assistant","content":"a","refusal":"b","reasoning_content":"c","reasoning":"d",'
        b'"tool_calls":[],"function_call":{"name":"f"},"audio":{"id":"audio_1"},"annotations":[]}',
        ChoiceDelta,
    )
    assert delta.role == "assistant"
    assert delta.content == "a"
    assert delta.refusal == "b"
    assert delta.reasoning_content == "c"
    assert delta.reasoning == "d"
    assert delta.tool_calls == []
    assert delta.function_call == ChoiceDeltaFunctionCall(name="f")
    assert delta.function_call.arguments is UNSET
    assert delta.audio == ChoiceDeltaAudio(id="audio_1")
    assert delta.annotations == []


def test_delta_explicit_nulls_stay_none() -> None:
    # Azure AI Foundry (SGLang) sends every delta field, null when it has nothing.
    delta = decode(b'{"role":null,"content":null,"reasoning_content":null,"tool_calls":null}', ChoiceDelta)
    assert (delta.role, delta.content, delta.reasoning_content, delta.tool_calls) == (None, None, None, None)
    assert (delta.refusal, delta.reasoning, delta.function_call, delta.audio, delta.annotations) == (UNSET,) * 5


def test_delta_function_tool_call() -> None:
    delta = decode(
        b'{"tool_calls":[{"index":1,"id":"call_a","type":"function","function":{"name":"get","arguments":""}},'
        b'{"index":1,"function":{"arguments":"{\\"q\\""}}]}',
        ChoiceDelta,
    )
    first, second = delta.tool_calls
    assert (first.index, first.id, first.type) == (1, "call_a", "function")
    assert (first.function.name, first.function.arguments) == ("get", "")
    assert first.custom is UNSET
    assert (second.index, second.id, second.type, second.custom) == (1, UNSET, UNSET, UNSET)
    assert (second.function.name, second.function.arguments) == (UNSET, '{"q"')


def test_delta_custom_tool_call() -> None:
    delta = decode(
        b'{"tool_calls":[{"index":0,"id":"call_c","type":"custom","custom":{"name":"grammar","input":"SELECT"}}]}',
        ChoiceDelta,
    )
    (call,) = delta.tool_calls
    assert (call.index, call.id, call.type, call.function) == (0, "call_c", "custom", UNSET)
    assert call.custom == ChoiceDeltaCustomCall(name="grammar", input="SELECT")


def test_delta_tool_call_without_index_or_type() -> None:
    # Mistral sends a whole tool call in one delta, without "index" and "type".
    delta = decode(
        b'{"content":null,"tool_calls":[{"id":"gSIMJiOkT","function":{"name":"weather","arguments":"{}"}}]}',
        ChoiceDelta,
    )
    assert delta.tool_calls == [
        ChoiceDeltaToolCall(id="gSIMJiOkT", function=ChoiceDeltaFunctionCall(name="weather", arguments="{}"))
    ]
    assert (delta.tool_calls[0].index, delta.tool_calls[0].type) == (UNSET, UNSET)


def test_delta_legacy_function_call() -> None:
    delta = decode(b'{"content":null,"role":"assistant","function_call":{"arguments":"","name":"w"}}', ChoiceDelta)
    assert delta.function_call == ChoiceDeltaFunctionCall(name="w", arguments="")
    assert (delta.role, delta.content) == ("assistant", None)


def test_delta_audio_fragments() -> None:
    assert decode(b'{"audio":{"id":"audio_6a","transcript":"Hello"}}', ChoiceDelta).audio == ChoiceDeltaAudio(
        id="audio_6a", transcript="Hello"
    )
    audio = decode(b'{"audio":{"data":"MwAuAB"}}', ChoiceDelta).audio
    assert (audio.id, audio.data, audio.expires_at, audio.transcript) == (UNSET, "MwAuAB", UNSET, UNSET)
    assert decode(b'{"audio":{"expires_at":1780697172}}', ChoiceDelta).audio.expires_at == 1780697172


def test_delta_annotations() -> None:
    delta = decode(
        b'{"annotations":[{"type":"url_citation","url_citation":'
        b'{"end_index":9,"start_index":2,"title":"Weather","url":"https://example.com/w"}}]}',
        ChoiceDelta,
    )
    assert delta.annotations == [
        Annotation(
            type="url_citation",
            url_citation=AnnotationURLCitation(
                end_index=9, start_index=2, title="Weather", url="https://example.com/w"
            ),
        )
    ]


def test_delta_content_list_is_kept_as_decoded() -> None:
    # Mistral reasoning models send content as a list of "thinking" parts; no part type here is typed in a delta.
    delta = decode(b'{"content":[{"type":"thinking","thinking":[{"type":"text","text":"Okay"}]}]}', ChoiceDelta)
    assert delta.content == [{"type": "thinking", "thinking": [{"type": "text", "text": "Okay"}]}]
    delta = decode(b'{"content":[{"type":"text","text":"Hi"}]}', ChoiceDelta)
    assert delta.content == [{"type": "text", "text": "Hi"}]


def test_logprobs_with_bytes_and_top_logprobs() -> None:
    logprobs = decode(
        b'{"content":[{"token":"Foo","logprob":-0.0009,"bytes":[70,111,111],"top_logprobs":'
        b'[{"token":"Foo","logprob":-0.0009,"bytes":[70,111,111]},{"token":"\\u00e9","logprob":-7.5,"bytes":null}]}],'
        b'"refusal":null}',
        ChoiceLogprobs,
    )
    (token,) = logprobs.content
    assert token.token == "Foo"
    assert token.logprob == -0.0009
    assert type(token.logprob) is float
    assert token.bytes == [70, 111, 111]
    assert token.top_logprobs == [
        TopLogprob(token="Foo", logprob=-0.0009, bytes=[70, 111, 111]),
        TopLogprob(token="\u00e9", logprob=-7.5, bytes=None),
    ]
    assert logprobs.refusal is None


def test_logprobs_refusal_list() -> None:
    logprobs = decode(
        b'{"content":null,"refusal":[{"token":"I","logprob":-0.5,"bytes":[73],"top_logprobs":[]}]}', ChoiceLogprobs
    )
    assert logprobs.content is None
    assert logprobs.refusal == [TokenLogprob(token="I", logprob=-0.5, bytes=[73], top_logprobs=[])]


def test_logprob_sent_as_integer_decodes_as_float() -> None:
    token = decode(b'{"token":"a","logprob":0}', TokenLogprob)
    assert token.logprob == 0.0
    assert type(token.logprob) is float


def test_usage_every_field() -> None:
    usage = decode(
        b'{"prompt_tokens":9223372036854775807,"completion_tokens":30,"total_tokens":44,'
        b'"prompt_tokens_details":{"cached_tokens":1,"cache_write_tokens":2,"audio_tokens":3,"text_tokens":4,'
        b'"image_tokens":5},"completion_tokens_details":{"reasoning_tokens":6,"audio_tokens":7,'
        b'"accepted_prediction_tokens":8,"rejected_prediction_tokens":9,"text_tokens":10}}',
        Usage,
    )
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (2**63 - 1, 30, 44)
    assert usage.prompt_tokens_details == PromptTokensDetails(
        cached_tokens=1, cache_write_tokens=2, audio_tokens=3, text_tokens=4, image_tokens=5
    )
    assert usage.completion_tokens_details == CompletionTokensDetails(
        reasoning_tokens=6, audio_tokens=7, accepted_prediction_tokens=8, rejected_prediction_tokens=9, text_tokens=10
    )


def test_usage_null_details() -> None:
    # Novita sends null *_details; Perplexity sends the three counts only.
    usage = decode(b'{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"prompt_tokens_details":null}', Usage)
    assert (usage.prompt_tokens_details, usage.completion_tokens_details) == (None, UNSET)


def test_integers_keep_every_digit() -> None:
    # Beyond 2**53 a float would round; beyond 2**64 msgspec still returns an exact Python int.
    for value in (2**53 + 1, 2**63 - 1, 2**64 + 1, -(2**63)):
        chunk = decode(b'{"created":%d,"usage":{"total_tokens":%d}}' % (value, value), ChatCompletionChunk)
        assert (chunk.created, chunk.usage.total_tokens) == (value, value)


def test_integer_field_rejects_a_float() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"^Expected `int`, got `float` - at `\$.created`$"):
        decode(b'{"created":1727346168.0}', ChatCompletionChunk)


def test_chat_completion_every_field() -> None:
    completion = decode(
        b'{"id":"chatcmpl-2","object":"chat.completion","created":9223372036854775807,"model":"gpt-4o",'
        b'"choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"logprobs":null,"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3},'
        b'"service_tier":"default","system_fingerprint":"fp_2"}',
        ChatCompletion,
    )
    assert completion.id == "chatcmpl-2"
    assert completion.object == "chat.completion"
    assert completion.created == 2**63 - 1
    assert completion.model == "gpt-4o"
    assert completion.choices == [
        Choice(
            index=0, message=ChatCompletionMessage(role="assistant", content="Hi"), logprobs=None, finish_reason="stop"
        )
    ]
    assert completion.usage == Usage(prompt_tokens=1, completion_tokens=2, total_tokens=3)
    assert completion.service_tier == "default"
    assert completion.system_fingerprint == "fp_2"


def test_choice_every_field() -> None:
    choice = decode(
        b'{"index":1,"message":{"role":"assistant"},"logprobs":{"content":[],"refusal":null},"finish_reason":"stop"}',
        Choice,
    )
    assert choice.index == 1
    assert choice.message == ChatCompletionMessage(role="assistant")
    assert choice.logprobs == ChoiceLogprobs(content=[], refusal=None)
    assert choice.finish_reason == "stop"


def test_chat_completion_message_every_field() -> None:
    message = decode(
        b'{"role":"assistant","content":null,"refusal":"no","reasoning_content":"think","reasoning":"hmm",'
        b'"name":"bot","tool_calls":[{"id":"call_f","type":"function","function":{"name":"get","arguments":"{}"}},'
        b'{"id":"call_c","type":"custom","custom":{"name":"sql","input":"SELECT 1"}}],'
        b'"function_call":{"name":"old","arguments":"[]"},"annotations":[{"type":"url_citation","url_citation":'
        b'{"end_index":3,"start_index":0,"title":"T","url":"https://example.com"}}],'
        b'"audio":{"id":"audio_1","data":"UklGRg==","expires_at":1729018505,"transcript":"Yes"}}',
        ChatCompletionMessage,
    )
    assert message.role == "assistant"
    assert message.content is None
    assert message.refusal == "no"
    assert message.reasoning_content == "think"
    assert message.reasoning == "hmm"
    assert message.name == "bot"
    assert message.tool_calls == [
        ToolCall(id="call_f", type="function", function=FunctionCall(name="get", arguments="{}")),
        ToolCall(id="call_c", type="custom", custom=CustomCall(name="sql", input="SELECT 1")),
    ]
    assert (message.tool_calls[0].custom, message.tool_calls[1].function) == (UNSET, UNSET)
    assert message.function_call == FunctionCall(name="old", arguments="[]")
    assert message.annotations == [
        Annotation(
            type="url_citation",
            url_citation=AnnotationURLCitation(end_index=3, start_index=0, title="T", url="https://example.com"),
        )
    ]
    assert message.audio == ChatCompletionAudio(
        id="audio_1", data="UklGRg==", expires_at=1729018505, transcript="Yes"
    )


def test_chat_completion_message_content_list_is_kept_as_decoded() -> None:
    message = decode(b'{"role":"assistant","content":[{"type":"thinking","thinking":[]},"x"]}', ChatCompletionMessage)
    assert message.content == [{"type": "thinking", "thinking": []}, "x"]


# ---------------------------------------------------------------------------------------------------------------------
# Request messages and content parts.


def test_message_every_field() -> None:
    message = decode(
        b'{"role":"assistant","content":null,"name":"bot","refusal":null,'
        b'"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}],'
        b'"tool_call_id":"call_0","function_call":null,"audio":{"id":"audio_1"},'
        b'"reasoning_content":"r1","reasoning":"r2"}',
        Message,
    )
    assert message.role == "assistant"
    assert message.content is None
    assert message.name == "bot"
    assert message.refusal is None
    assert message.tool_calls == [
        ToolCall(id="call_1", type="function", function=FunctionCall(name="f", arguments="{}"))
    ]
    assert message.tool_call_id == "call_0"
    assert message.function_call is None
    assert message.audio == ChatCompletionAudio(id="audio_1")
    assert message.reasoning_content == "r1"
    assert message.reasoning == "r2"


def test_message_string_content() -> None:
    message = decode(b'{"role":"tool","content":"42","tool_call_id":"call_1"}', Message)
    assert (message.role, message.content, message.tool_call_id) == ("tool", "42", "call_1")
    assert message.name is UNSET


def test_message_every_known_part_type() -> None:
    message = decode(
        b'{"role":"user","content":['
        b'{"type":"text","text":"Describe"},'
        b'{"type":"image_url","image_url":{"url":"https://example.com/a.png","detail":"high"}},'
        b'{"type":"input_audio","input_audio":{"data":"UklGRg==","format":"wav"}},'
        b'{"type":"file","file":{"filename":"a.pdf","file_data":"data:application/pdf;base64,JVBE",'
        b'"file_id":"file-1"}},'
        b'{"type":"video_url","video_url":{"url":"https://example.com/v.mp4"}},'
        b'{"type":"refusal","refusal":"No"}]}',
        Message,
    )
    assert message.content == [
        ChatCompletionContentPartText(text="Describe"),
        ChatCompletionContentPartImage(image_url=ImageURL(url="https://example.com/a.png", detail="high")),
        ChatCompletionContentPartInputAudio(input_audio=InputAudio(data="UklGRg==", format="wav")),
        ChatCompletionContentPartFile(
            file=File(filename="a.pdf", file_data="data:application/pdf;base64,JVBE", file_id="file-1")
        ),
        ChatCompletionContentPartVideo(video_url=VideoURL(url="https://example.com/v.mp4")),
        ChatCompletionContentPartRefusal(refusal="No"),
    ]
    assert [type(part) for part in message.content] == [
        ChatCompletionContentPartText,
        ChatCompletionContentPartImage,
        ChatCompletionContentPartInputAudio,
        ChatCompletionContentPartFile,
        ChatCompletionContentPartVideo,
        ChatCompletionContentPartRefusal,
    ]


def test_message_unknown_part_type_is_kept_as_a_dict_and_reencoded_unchanged() -> None:
    payload = (
        b'{"role":"user","content":[{"type":"text","text":"a"},'
        b'{"type":"thinking","thinking":[{"type":"text","text":"b"}]},'
        b'{"type":"input_image","image_url":"https://example.com/i.png"},{"no_type":1},{"type":7},"bare"]}'
    )
    message = decode(payload, Message)
    assert message.content == [
        ChatCompletionContentPartText(text="a"),
        {"type": "thinking", "thinking": [{"type": "text", "text": "b"}]},
        {"type": "input_image", "image_url": "https://example.com/i.png"},
        {"no_type": 1},
        {"type": 7},
        "bare",
    ]
    assert msgspec.json.encode(message) == payload


def test_message_known_part_keeps_undeclared_keys_as_attributes() -> None:
    message = decode(b'{"content":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}}]}', Message)
    (part,) = message.content
    assert part == ChatCompletionContentPartText(text="a")
    assert part.__dict__ == {"cache_control": {"type": "ephemeral"}}


def test_message_known_part_with_a_wrong_value_fails_with_its_path() -> None:
    with pytest.raises(
        msgspec.ValidationError, match=r"^Expected `str`, got `int` - at `\$.content\[1\].text` - at `\$\[0\]`$"
    ):
        decode(b'[{"content":["x",{"type":"text","text":5}]}]', list[Message])
    with pytest.raises(ValueError, match=r"^Expected `str`, got `int` - at `\$.content\[0\].image_url.url`$"):
        Message(content=[{"type": "image_url", "image_url": {"url": 1}}])


def test_message_built_from_dicts_types_known_parts_without_touching_the_callers_list() -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "unknown"}]
    message = Message(role="user", content=parts)
    assert message.content == [ChatCompletionContentPartText(text="a"), {"type": "unknown"}]
    assert parts == [{"type": "text", "text": "a"}, {"type": "unknown"}]
    only_unknown = [{"type": "unknown"}]
    assert Message(content=only_unknown).content is only_unknown


def test_content_part_tags() -> None:
    assert {cls.__struct_config__.tag_field for cls in types_module.ContentPart.__args__} == {"type"}
    assert [cls.__struct_config__.tag for cls in types_module.ContentPart.__args__] == [
        "text",
        "image_url",
        "input_audio",
        "file",
        "video_url",
        "refusal",
    ]


def test_content_part_encodes_its_tag_first() -> None:
    part = ChatCompletionContentPartImage(image_url=ImageURL(url="u"))
    assert msgspec.json.encode(part) == b'{"type":"image_url","image_url":{"url":"u"}}'


# ---------------------------------------------------------------------------------------------------------------------
# Encoding: absent keys are never invented, explicit nulls are kept, compact inputs round-trip byte for byte.


def test_unset_fields_are_not_encoded() -> None:
    assert msgspec.json.encode(ChoiceDelta()) == b"{}"
    assert msgspec.json.encode(ChunkChoice(index=0)) == b'{"index":0}'
    assert msgspec.json.encode(ChatCompletionChunk()) == b"{}"


def test_explicit_null_is_encoded_as_null() -> None:
    assert msgspec.json.encode(ChoiceDelta(content=None)) == b'{"content":null}'
    assert msgspec.json.encode(ChunkChoice(0, ChoiceDelta(), None, None)) == (
        b'{"index":0,"delta":{},"logprobs":null,"finish_reason":null}'
    )


ROUND_TRIPS = [
    (ChatCompletionChunk, b'{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[]}'),
    (
        ChatCompletionChunk,
        b'{"id":"chatcmpl-D8Z5","object":"chat.completion.chunk","created":1770933892,"model":"gpt-4.1-nano",'
        b'"service_tier":"default","system_fingerprint":"fp_de","choices":[{"index":0,"delta":{"role":"assistant",'
        b'"content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"Qup1"}',
    ),
    (
        ChatCompletionChunk,
        b'{"id":"c","created":18446744073709551616,"choices":[],"usage":{"prompt_tokens":16,"completion_tokens":300,'
        b'"total_tokens":316,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":'
        b'{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}',
    ),
    (
        ChunkChoice,
        b'{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f",'
        b'"arguments":""}},{"index":1,"type":"custom","custom":{"name":"g","input":"x"}}]},"finish_reason":null}',
    ),
    (
        ChunkChoice,
        b'{"index":0,"delta":{"content":"Foo"},"logprobs":{"content":[{"token":"Foo","logprob":-0.0009,'
        b'"bytes":[70,111,111],"top_logprobs":[]}],"refusal":null},"finish_reason":null}',
    ),
    (ChoiceDelta, b'{"audio":{"id":"audio_1","data":"MwAu","expires_at":1780697172,"transcript":"Hello"}}'),
    (ChoiceDelta, b'{"content":[{"type":"thinking","thinking":[{"type":"text","text":"Okay"}]}]}'),
    (ChoiceDelta, b'{"role":null,"content":null,"reasoning_content":"x","tool_calls":null}'),
    (
        ChatCompletion,
        b'{"id":"chatcmpl-2","object":"chat.completion","created":1741570283,"model":"gpt-4o","choices":[{"index":0,'
        b'"message":{"role":"assistant","content":"Hi","refusal":null,"annotations":[{"type":"url_citation",'
        b'"url_citation":{"end_index":2,"start_index":0,"title":"T","url":"https://example.com"}}]},'
        b'"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3},'
        b'"service_tier":"default","system_fingerprint":"fp_2"}',
    ),
    (
        Message,
        b'{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"u",'
        b'"detail":"low"}},{"type":"file","file":{"filename":"a.pdf","file_id":"file-1"}}],"name":"n"}',
    ),
]


@pytest.mark.parametrize(("struct_type", "payload"), ROUND_TRIPS)
def test_compact_payload_round_trips_byte_for_byte(struct_type: type, payload: bytes) -> None:
    assert msgspec.json.encode(decode(payload, struct_type)) == payload


def _json_values(struct_type: type) -> st.SearchStrategy[dict[str, Any]]:
    """JSON objects of `struct_type`: any subset of its declared fields, in declared order, each null or a value."""
    return _objects(msgspec.inspect.type_info(struct_type))


def _values(info: msgspec.inspect.Type) -> st.SearchStrategy[Any]:
    if isinstance(info, msgspec.inspect.StructType):
        return _objects(info)
    if isinstance(info, msgspec.inspect.UnionType):
        return st.one_of([_values(member) for member in info.types])
    if isinstance(info, msgspec.inspect.ListType):
        return st.lists(_values(info.item_type), max_size=2)
    if isinstance(info, msgspec.inspect.IntType):
        return st.integers(min_value=-(2**70), max_value=2**70)
    if isinstance(info, msgspec.inspect.FloatType):
        return st.floats(allow_nan=False, allow_infinity=False)
    if isinstance(info, msgspec.inspect.StrType):
        return st.text(st.characters(codec="utf-8"), max_size=4)
    if isinstance(info, msgspec.inspect.NoneType):
        return st.none()
    if isinstance(info, msgspec.inspect.AnyType):
        # Content lists: known parts (typed by Message, kept as dicts elsewhere) and unknown ones.
        known_parts = [_objects(msgspec.inspect.type_info(cls)) for cls in types_module.ContentPart.__args__]
        return st.one_of([*known_parts, st.fixed_dictionaries({"type": st.just("thinking"), "n": st.integers()})])
    raise AssertionError(f"no strategy for {info}")


@st.composite
def _objects(draw: st.DrawFn, info: msgspec.inspect.StructType) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    if info.tag_field is not None:
        obj[info.tag_field] = info.tag
    for field in info.fields:
        if field.required or draw(st.booleans()):
            obj[field.encode_name] = draw(_values(field.type))
    return obj


@pytest.mark.parametrize("struct_type", STRUCT_TYPES, ids=lambda t: t.__name__)
@settings(database=None, max_examples=60, deadline=None)
@given(data=st.data())
def test_any_compact_object_round_trips_byte_for_byte(struct_type: type, data: st.DataObject) -> None:
    payload = msgspec.json.encode(data.draw(_json_values(struct_type)))
    assert msgspec.json.encode(decode(payload, struct_type)) == payload


# ---------------------------------------------------------------------------------------------------------------------
# Struct options, and what dict=True does to the attributes an instance carries beyond its fields.


@pytest.mark.parametrize("struct_type", STRUCT_TYPES, ids=lambda t: t.__name__)
def test_struct_options(struct_type: type) -> None:
    config = struct_type.__struct_config__
    assert config.dict is True
    assert config.repr_omit_defaults is True
    assert (config.frozen, config.array_like, config.omit_defaults) == (False, False, False)
    assert (config.forbid_unknown_fields, config.gc) == (False, True)
    # Not kw_only: test_positional_construction_follows_declared_order builds instances positionally.


def test_struct_fields_in_wire_order() -> None:
    assert ChatCompletionChunk.__struct_fields__ == (
        "id", "object", "created", "model", "service_tier", "system_fingerprint", "choices", "usage", "obfuscation",
    )  # fmt: skip
    assert ChunkChoice.__struct_fields__ == ("index", "delta", "logprobs", "finish_reason")
    assert ChoiceDelta.__struct_fields__ == (
        "role", "content", "refusal", "reasoning_content", "reasoning", "tool_calls", "function_call", "audio",
        "annotations",
    )  # fmt: skip
    assert ChoiceDeltaToolCall.__struct_fields__ == ("index", "id", "type", "function", "custom")
    assert Usage.__struct_fields__ == (
        "prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details", "completion_tokens_details",
    )  # fmt: skip
    assert TokenLogprob.__struct_fields__ == ("token", "logprob", "bytes", "top_logprobs")


def test_positional_construction_follows_declared_order() -> None:
    assert ChunkChoice(0, ChoiceDelta(UNSET, "x"), None, "stop") == ChunkChoice(
        index=0, delta=ChoiceDelta(content="x"), logprobs=None, finish_reason="stop"
    )


@pytest.mark.parametrize("struct_type", STRUCT_TYPES, ids=lambda t: t.__name__)
def test_any_attribute_can_be_set_and_dict_starts_empty(struct_type: type) -> None:
    instance = struct_type(0) if struct_type in (ChunkChoice, Choice) else struct_type()
    assert instance.__dict__ == {}
    instance.x_groq = {"id": "req_1"}
    assert instance.x_groq == {"id": "req_1"}
    assert instance.__dict__ == {"x_groq": {"id": "req_1"}}


def _with_extra() -> ChoiceDelta:
    delta = ChoiceDelta(content="x")
    delta.channel = "analysis"
    return delta


def test_extra_attributes_are_ignored_by_eq() -> None:
    assert _with_extra() == ChoiceDelta(content="x")


def test_extra_attributes_are_ignored_by_repr() -> None:
    assert repr(_with_extra()) == "ChoiceDelta(content='x')"


def test_repr_leaves_out_unset_but_shows_null() -> None:
    assert repr(ChunkChoice(0, UNSET, None)) == "ChunkChoice(index=0, logprobs=None)"


def test_copy_drops_extra_attributes() -> None:
    copied = copy.copy(_with_extra())
    assert copied == ChoiceDelta(content="x")
    assert copied.__dict__ == {}
    assert copy.deepcopy(_with_extra()).__dict__ == {}


def test_replace_drops_extra_attributes() -> None:
    replaced = msgspec.structs.replace(_with_extra(), role="assistant")
    assert replaced == ChoiceDelta(role="assistant", content="x")
    assert replaced.__dict__ == {}


def test_asdict_has_fields_only_including_unset_ones() -> None:
    assert msgspec.structs.asdict(_with_extra()) == {
        "role": UNSET, "content": "x", "refusal": UNSET, "reasoning_content": UNSET, "reasoning": UNSET,
        "tool_calls": UNSET, "function_call": UNSET, "audio": UNSET, "annotations": UNSET,
    }  # fmt: skip
    assert msgspec.to_builtins(_with_extra()) == {"content": "x"}


def test_pickle_drops_extra_attributes() -> None:
    restored = pickle.loads(pickle.dumps(_with_extra()))
    assert restored == ChoiceDelta(content="x")
    assert restored.__dict__ == {}
    assert restored.role is UNSET


def test_encode_ignores_extra_attributes() -> None:
    assert msgspec.json.encode(_with_extra()) == b'{"content":"x"}'


def test_decode_drops_undeclared_keys() -> None:
    # Keeping them is the job of the decoder that builds these Structs, not of msgspec.json.decode.
    chunk = decode(b'{"id":"c","x_groq":{"id":"req_1"},"citations":["u"]}', ChatCompletionChunk)
    assert chunk.__dict__ == {}


def test_setattr_retracks_an_untracked_instance_but_a_dict_write_does_not() -> None:
    # msgspec does not track instances that hold only scalars; a cycle through __dict__ needs tracking.
    delta = ChoiceDelta(content="x")
    assert not gc.is_tracked(delta)
    delta.extra = [delta]
    assert gc.is_tracked(delta)
    written = ChoiceDelta(content="x")
    written.__dict__["extra"] = [written]
    assert not gc.is_tracked(written)  # this cycle would never be collected
    del written.__dict__["extra"]


def test_instance_with_a_container_field_is_tracked() -> None:
    assert gc.is_tracked(ChoiceDelta(tool_calls=[]))


# ---------------------------------------------------------------------------------------------------------------------
# The recorded corpus: every chunk of every provider decodes, and every declared field equals its JSON value.
# The `corpus` fixture (conftest.py) is ../shared/corpus beside the checkout; it skips when the folder is absent
# (and fails under CI).


def _data_payloads(text: str) -> list[str]:
    """The data of each event of an SSE body: events end at a blank line; data lines are joined with "\\n"."""
    payloads = []
    for event in text.split("\n\n"):
        data = [line[5:].removeprefix(" ") for line in event.split("\n") if line.startswith("data:")]
        if data:
            payloads.append("\n".join(data))
    return payloads


def _chunk_payloads(path: Path) -> list[str]:
    chunks = []
    for payload in _data_payloads(path.read_text(encoding="utf-8")):
        if payload == "[DONE]":
            continue
        value = json.loads(payload)
        if "error" in value and "choices" not in value:
            continue
        chunks.append(payload)
    return chunks


def _assert_matches_json(decoded: Any, original: Any, path: str, undeclared: dict[str, set[str]]) -> None:
    """Every declared field equals the JSON value it was decoded from; absent keys stayed UNSET."""
    if isinstance(decoded, msgspec.Struct):
        assert type(original) is dict, path
        fields = decoded.__struct_fields__
        for name in fields:
            value = getattr(decoded, name)
            if value is UNSET:
                assert name not in original, f"{path}.{name} was sent but decoded as UNSET"
            else:
                assert name in original, f"{path}.{name} was invented"
                _assert_matches_json(value, original[name], f"{path}.{name}", undeclared)
        tag_field = decoded.__struct_config__.tag_field
        undeclared.setdefault(type(decoded).__name__, set()).update(original.keys() - set(fields) - {tag_field})
    elif type(decoded) is list:
        assert type(original) is list and len(decoded) == len(original), path
        for position, (item, original_item) in enumerate(zip(decoded, original)):
            _assert_matches_json(item, original_item, f"{path}[{position}]", undeclared)
    else:
        assert decoded == original and type(decoded) is type(original), path


def test_every_corpus_chunk_decodes_exactly(corpus: Path) -> None:
    files = sorted(corpus.glob("*.sse"))
    assert len(files) == 44
    for path in files:
        text = path.read_text(encoding="utf-8")
        chunks = _chunk_payloads(path)
        # Counted independently of the splitter: every event of the corpus is one "data: " line.
        expected = sum(
            1 for line in text.split("\n") if line.startswith("data: {") and not line.startswith('data: {"error"')
        )
        assert len(chunks) == expected > 0, path.name
        for position, payload in enumerate(chunks):
            chunk = decode(payload.encode(), ChatCompletionChunk)
            _assert_matches_json(chunk, json.loads(payload), f"{path.name} chunk {position}", {})


def test_corpus_fields_left_undeclared(corpus: Path) -> None:
    # The provider extras of the corpus, which this schema deliberately does not declare (see SOURCES.md).
    undeclared: dict[str, set[str]] = {}
    chunk_count = 0
    for path in sorted(corpus.glob("*.sse")):
        for payload in _chunk_payloads(path):
            _assert_matches_json(decode(payload.encode(), ChatCompletionChunk), json.loads(payload), "$", undeclared)
            chunk_count += 1
    assert chunk_count == 4766
    assert {name: keys for name, keys in undeclared.items() if keys} == {
        "ChatCompletionChunk": {
            "citations", "error", "moderation", "p", "prompt_filter_results", "prompt_text", "prompt_token_ids",
            "provider", "sla_metrics", "x_groq",
        },
        "ChunkChoice": {
            "content_filter_offsets", "content_filter_results", "matched_stop", "native_finish_reason", "seed",
            "stop_reason", "text", "token_ids",
        },
        "ChoiceDelta": {"channel", "index", "reasoning_details", "token_id"},
        "AnnotationURLCitation": {"content"},
        "Usage": {
            "cached_tokens", "completion_time", "cost", "cost_details", "cost_in_usd_ticks", "is_byok",
            "num_sources_used", "prompt_cache_hit_tokens", "prompt_cache_miss_tokens", "prompt_time", "queue_time",
            "reasoning_tokens", "server_tool_use_details", "total_time",
        },
        "PromptTokensDetails": {"video_tokens"},
        "CompletionTokensDetails": {"image_tokens"},
    }  # fmt: skip


def test_sse_splitter() -> None:
    body = 'data: {"a":1}\n\n: comment\n\nevent: error\ndata: {"error":{}}\n\ndata:x\ndata: y\n\ndata: [DONE]\n'
    assert _data_payloads(body) == ['{"a":1}', '{"error":{}}', "x\ny", "[DONE]"]


# ---------------------------------------------------------------------------------------------------------------------
# Differential: the openai SDK decodes the same payloads to the same values, where its validation accepts them.


def _openai_chat_types() -> Any:
    import openai.types.chat  # a test dependency: the oracle must be there, never skipped

    return openai.types.chat


# Chunks the SDK's own validation (openai 3.54) refuses, per corpus file; each is a real provider quirk and the
# tests below show one of each decoding here.
OPENAI_SDK_REJECTIONS = {
    "azure-content-filter-legacy.sse": 1,  # preamble "object": ""
    "azure-content-filter-results.sse": 1,
    "azure-model-router-prompt-filter.sse": 1,
    "copilot-azure-filter-offsets.sse": 16,  # no "object", no "model"
    "copilot-azure-legacy-function-call.sse": 12,
    "copilot-azure-n3.sse": 10,
    "copilot-claude-tool-calls-same-index.sse": 142,  # no "object"
    "mistral-magistral-thinking-array.sse": 58,  # content is a list of "thinking" parts
    "mistral-tool-call-whole-no-index.sse": 1,  # tool call without "index"
    "openai-audio-output.sse": 12,  # no "choices"
    "perplexity-citations-usage-every-chunk.sse": 1,  # "object": "chat.completion.done"
    "snowflake-cortex-claude-reasoning.sse": 16,  # "service_tier": ""
}


def test_corpus_chunks_agree_with_openai_sdk(corpus: Path) -> None:
    chat = _openai_chat_types()
    import pydantic

    compared = 0
    rejected: dict[str, int] = {}
    for path in sorted(corpus.glob("*.sse")):
        for payload in _chunk_payloads(path):
            try:
                sdk_chunk = chat.ChatCompletionChunk.model_validate_json(payload)
            except pydantic.ValidationError:
                rejected[path.name] = rejected.get(path.name, 0) + 1
                continue
            ours = decode(payload.encode(), ChatCompletionChunk)
            _assert_matches_json(ours, sdk_chunk.model_dump(mode="json", exclude_unset=True), path.name, {})
            compared += 1
    assert rejected == OPENAI_SDK_REJECTIONS
    assert compared == 4766 - sum(OPENAI_SDK_REJECTIONS.values())


def test_chat_completion_agrees_with_openai_sdk() -> None:
    chat = _openai_chat_types()
    payload = (
        b'{"id":"chatcmpl-3","object":"chat.completion","created":1741570283,"model":"gpt-4o-2024-08-06",'
        b'"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_f",'
        b'"type":"function","function":{"name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"}},'
        b'{"id":"call_c","type":"custom","custom":{"name":"sql","input":"SELECT 1"}}],"refusal":null,'
        b'"annotations":[{"type":"url_citation","url_citation":{"end_index":4,"start_index":1,"title":"T",'
        b'"url":"https://example.com"}}],"audio":{"id":"audio_1","data":"UklGRg==","expires_at":1729018505,'
        b'"transcript":"Yes"}},"logprobs":{"content":[{"token":"Yes","logprob":-0.25,"bytes":[89,101,115],'
        b'"top_logprobs":[{"token":"No","logprob":-1.5,"bytes":null}]}],"refusal":null},"finish_reason":"tool_calls"}],'
        b'"usage":{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30,"prompt_tokens_details":'
        b'{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,'
        b'"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default",'
        b'"system_fingerprint":"fp_f"}'
    )
    sdk = chat.ChatCompletion.model_validate_json(payload)
    ours = decode(payload, ChatCompletion)
    _assert_matches_json(ours, sdk.model_dump(mode="json", exclude_unset=True), "$", {})
    assert ours.choices[0].message.tool_calls[1].custom == CustomCall(name="sql", input="SELECT 1")


SDK_REJECTED_CHUNKS = [
    # Copilot (Azure backend) sends chunks without "object" and "model".
    pytest.param(
        b'{"choices":[{"index":0,"delta":{"content":null,"role":"assistant","function_call":{"arguments":"",'
        b'"name":"get_current_weather"}}}],"created":1717591770,"id":"chatcmpl-9WkN"}',
        {"object": UNSET, "model": UNSET},
        id="copilot-no-object-no-model",
    ),
    # OpenAI's own audio stream sends chunks without "choices".
    pytest.param(
        b'{"id":"chatcmpl-DnW1","object":"chat.completion.chunk","created":1780693570,"model":"gpt-audio-1.5",'
        b'"service_tier":"default","system_fingerprint":"fp_58","usage":null,"obfuscation":"Kk27"}',
        {"choices": UNSET, "usage": None},
        id="openai-audio-no-choices",
    ),
    # Perplexity ends with "object": "chat.completion.done"; Azure's preamble has "object": "".
    pytest.param(
        b'{"id":"p","model":"sonar","created":1770768244,"object":"chat.completion.done","choices":[]}',
        {"object": "chat.completion.done"},
        id="perplexity-done-object",
    ),
    pytest.param(
        b'{"choices":[],"created":0,"id":"","model":"","object":""}', {"object": "", "created": 0}, id="azure-preamble"
    ),
    # Snowflake Cortex sends "service_tier": "".
    pytest.param(
        b'{"choices":[],"created":0,"id":"","model":"claude","object":"chat.completion.chunk","service_tier":""}',
        {"service_tier": ""},
        id="snowflake-empty-service-tier",
    ),
]


@pytest.mark.parametrize(("payload", "expected"), SDK_REJECTED_CHUNKS)
def test_openai_sdk_rejects_real_chunks_that_decode_here(payload: bytes, expected: dict[str, Any]) -> None:
    chat = _openai_chat_types()
    import pydantic

    with pytest.raises(pydantic.ValidationError):
        chat.ChatCompletionChunk.model_validate_json(payload)
    chunk = decode(payload, ChatCompletionChunk)
    assert {name: getattr(chunk, name) for name in expected} == expected


def test_openai_sdk_rejects_mistral_tool_call_without_index() -> None:
    chat = _openai_chat_types()
    import pydantic

    payload = (
        b'{"id":"b399","object":"chat.completion.chunk","created":1769088854,"model":"mistral-small-latest",'
        b'"choices":[{"index":0,"delta":{"content":null,"tool_calls":[{"id":"gSIMJiOkT","function":{"name":"weather",'
        b'"arguments":"{}"}}]},"finish_reason":"tool_calls","logprobs":null}]}'
    )
    with pytest.raises(pydantic.ValidationError, match="tool_calls.0.index"):
        chat.ChatCompletionChunk.model_validate_json(payload)
    (call,) = decode(payload, ChatCompletionChunk).choices[0].delta.tool_calls
    assert (call.index, call.id, call.function.name) == (UNSET, "gSIMJiOkT", "weather")


def test_openai_sdk_rejects_mistral_thinking_content_list() -> None:
    chat = _openai_chat_types()
    import pydantic

    payload = (
        b'{"id":"m","object":"chat.completion.chunk","created":1,"model":"magistral-medium-latest","choices":'
        b'[{"index":0,"delta":{"content":[{"type":"thinking","thinking":[{"type":"text","text":"Okay"}]}]},'
        b'"finish_reason":null}]}'
    )
    with pytest.raises(pydantic.ValidationError, match="delta.content"):
        chat.ChatCompletionChunk.model_validate_json(payload)
    delta = decode(payload, ChatCompletionChunk).choices[0].delta
    assert delta.content == [{"type": "thinking", "thinking": [{"type": "text", "text": "Okay"}]}]


# ---------------------------------------------------------------------------------------------------------------------


def test_all_lists_every_public_struct() -> None:
    public_structs = {
        name
        for name, value in vars(types_module).items()
        if not name.startswith("_") and isinstance(value, type) and issubclass(value, msgspec.Struct)
    }
    assert public_structs == {cls.__name__ for cls in STRUCT_TYPES}
    assert len(types_module.__all__) == len(set(types_module.__all__))


@pytest.mark.parametrize("struct_type", STRUCT_TYPES, ids=lambda t: t.__name__)
def test_every_struct_has_a_docstring(struct_type: type) -> None:
    assert struct_type.__doc__ and struct_type.__doc__.strip()
