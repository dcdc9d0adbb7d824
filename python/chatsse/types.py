"""msgspec Structs for OpenAI-compatible Chat Completions: responses, streamed chunks and request messages.

Conventions shared by every Struct here (tests/test_types.py checks each claim below):

* Every optional field defaults to ``UNSET``, so a key that was absent stays distinguishable from an explicit
  ``null`` (``None``), and ``msgspec.json.encode`` writes back exactly the keys that were present.
* Only a choice's ``index`` is required: deltas are merged per choice index, and every provider sends it.
  Everything else is optional because some real provider omits it (Copilot sends chunks without ``object`` and
  ``model``, OpenAI audio streams send chunks without ``choices``, Mistral sends tool calls without ``index``
  and ``type``, Snowflake and Z.ai send choices without ``finish_reason``).
* Enumerations (``role``, ``finish_reason``, ``object``, ``service_tier``, tool call ``type``) are plain ``str``,
  not ``Literal``: providers extend them (Perplexity's last chunk has ``object`` "chat.completion.done", Azure's
  preamble has ``object`` "").
* Fields are declared in the order OpenAI sends them, so positional construction and re-encoding follow the wire.
* ``dict=True``: instances have a ``__dict__`` so fields this schema does not declare (``x_groq``,
  ``prompt_filter_results``, ``content_filter_results``, ``citations``, ...) can be kept as plain attributes.
  Those attributes are outside the Struct: ``==``, ``repr``, ``copy.copy``, ``msgspec.structs.replace``,
  ``msgspec.structs.asdict``, pickling and ``msgspec.json.encode`` all ignore them. Set them with ``setattr``,
  never by writing into ``__dict__``: msgspec leaves instances holding only scalars untracked by the garbage
  collector, and only ``setattr`` re-tracks one when a container is attached (a cycle made through
  ``__dict__`` directly is never collected).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Union

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    # response
    "ChatCompletion",
    "Choice",
    "ChatCompletionMessage",
    "ToolCall",
    "FunctionCall",
    "CustomCall",
    "ChoiceLogprobs",
    "TokenLogprob",
    "TopLogprob",
    "Annotation",
    "AnnotationURLCitation",
    "ChatCompletionAudio",
    # usage
    "Usage",
    "TokenCounts",
    "PromptTokensDetails",
    "CompletionTokensDetails",
    # stream
    "ChatCompletionChunk",
    "ChunkChoice",
    "ChoiceDelta",
    "ChoiceDeltaToolCall",
    "ChoiceDeltaFunctionCall",
    "ChoiceDeltaCustomCall",
    "ChoiceDeltaAudio",
    # request messages
    "Message",
    "ContentPart",
    "ChatCompletionContentPartText",
    "ChatCompletionContentPartImage",
    "ImageURL",
    "ChatCompletionContentPartInputAudio",
    "InputAudio",
    "ChatCompletionContentPartFile",
    "File",
    "ChatCompletionContentPartVideo",
    "VideoURL",
    "ChatCompletionContentPartRefusal",
    # re-exported so users need not import msgspec to test for absence
    "UNSET",
    "UnsetType",
]


class _Struct(msgspec.Struct, dict=True, repr_omit_defaults=True):
    """Base of every type here: a ``__dict__`` for undeclared provider fields, and reprs that leave out ``UNSET``.

    Not ``frozen`` (extra fields are attached after construction), not ``kw_only`` (positional construction
    follows the wire order), not ``array_like`` (the wire format is JSON objects), and not ``gc=False`` (msgspec
    refuses it together with ``dict=True``). chatsse's decoder makes instances without calling the class,
    writing each field's slot as msgspec's own decoder does, except for a class with ``__post_init__``, which
    it calls so that the hook runs.
    """


# ---------------------------------------------------------------------------------------------------------------------
# Content parts. A message's ``content`` is a string or a list of parts tagged by ``"type"``.


class ChatCompletionContentPartText(_Struct, tag_field="type", tag="text"):
    """``{"type": "text", "text": ...}``."""

    text: str | UnsetType = UNSET


class ImageURL(_Struct):
    """The ``image_url`` object of an image part: an http(s) or ``data:`` URL and the detail level."""

    url: str | UnsetType = UNSET
    detail: str | UnsetType = UNSET


class ChatCompletionContentPartImage(_Struct, tag_field="type", tag="image_url"):
    """``{"type": "image_url", "image_url": {...}}``."""

    image_url: ImageURL | UnsetType = UNSET


class InputAudio(_Struct):
    """The ``input_audio`` object of an audio part: base64 data and its format (``wav``, ``mp3``)."""

    data: str | UnsetType = UNSET
    format: str | UnsetType = UNSET


class ChatCompletionContentPartInputAudio(_Struct, tag_field="type", tag="input_audio"):
    """``{"type": "input_audio", "input_audio": {...}}``."""

    input_audio: InputAudio | UnsetType = UNSET


class File(_Struct):
    """The ``file`` object of a file part: inline base64 ``file_data`` or an uploaded ``file_id``."""

    filename: str | UnsetType = UNSET
    file_data: str | UnsetType = UNSET
    file_id: str | UnsetType = UNSET


class ChatCompletionContentPartFile(_Struct, tag_field="type", tag="file"):
    """``{"type": "file", "file": {...}}``."""

    file: File | UnsetType = UNSET


class VideoURL(_Struct):
    """The ``video_url`` object of a video part (vLLM, Qwen/DashScope; not an OpenAI part)."""

    url: str | UnsetType = UNSET


class ChatCompletionContentPartVideo(_Struct, tag_field="type", tag="video_url"):
    """``{"type": "video_url", "video_url": {...}}``."""

    video_url: VideoURL | UnsetType = UNSET


class ChatCompletionContentPartRefusal(_Struct, tag_field="type", tag="refusal"):
    """``{"type": "refusal", "refusal": ...}``: the part OpenAI allows in assistant messages besides text."""

    refusal: str | UnsetType = UNSET


ContentPart = Union[
    ChatCompletionContentPartText,
    ChatCompletionContentPartImage,
    ChatCompletionContentPartInputAudio,
    ChatCompletionContentPartFile,
    ChatCompletionContentPartVideo,
    ChatCompletionContentPartRefusal,
]
"""The content parts this schema knows, as a union tagged by ``"type"``."""

_PART_TYPE_BY_TAG: dict[str, type[msgspec.Struct]] = {
    cls.__struct_config__.tag: cls
    for cls in ContentPart.__args__  # type: ignore[attr-defined]
}

if TYPE_CHECKING:
    ContentParts = list[Union[ContentPart, dict[str, Any]]]
else:
    # msgspec refuses a union of tagged Structs and dict, and fails a whole message on a tag it does not know
    # (msgspec issues #649, #691). A gateway must forward parts it does not know (Mistral's "thinking" parts,
    # a type added next year), so parts decode as plain values and _typed_content_parts types the known ones.
    ContentParts = list[Any]


def _typed_content_parts(content: Any) -> Any:
    """Return ``content`` with each part dict whose ``"type"`` is known replaced by its Struct.

    An unknown part stays the dict it was decoded as, so it re-encodes unchanged. A known part holding a value
    of the wrong type raises ``ValueError`` (``msgspec.ValidationError`` when it happens while decoding), as a
    wrong value in any declared field does. The caller's list is never modified: a new list is made once a
    part is typed.
    """
    if type(content) is not list:
        return content
    typed_parts = None
    for position, part in enumerate(content):
        if type(part) is not dict:
            continue
        tag = part.get("type")
        part_type = _PART_TYPE_BY_TAG.get(tag) if type(tag) is str else None
        if part_type is None:
            continue
        try:
            typed = msgspec.convert(part, part_type)
        except msgspec.ValidationError as exc:
            # A ValueError, not a ValidationError, so that msgspec, when decoding, appends where the message
            # is; the path inside the part is rebased onto the content list.
            raise ValueError(str(exc).replace(" - at `$", f" - at `$.content[{position}]", 1)) from None
        # Keys the part type does not declare (OpenRouter's "cache_control", OpenAI's "prompt_cache_breakpoint")
        # become attributes, as undeclared fields do everywhere else.
        for key in part.keys() - part_type.__struct_fields__ - {"type"}:
            if hasattr(part_type, key):
                # A name the class already has ("__class__", "copy"): kept as data, never through a descriptor.
                typed.__dict__[key] = part[key]
            else:
                setattr(typed, key, part[key])
        if typed_parts is None:
            typed_parts = list(content)
        typed_parts[position] = typed
    return content if typed_parts is None else typed_parts


# ---------------------------------------------------------------------------------------------------------------------
# Response (``"object": "chat.completion"``).


class FunctionCall(_Struct):
    """A complete function call: the tool call's ``function``, or the legacy ``message.function_call``."""

    name: str | UnsetType = UNSET
    arguments: str | UnsetType = UNSET


class CustomCall(_Struct):
    """The ``custom`` object of a custom tool call: free-form ``input`` instead of JSON ``arguments``."""

    name: str | UnsetType = UNSET
    input: str | UnsetType = UNSET


class ToolCall(_Struct):
    """A tool call of a message: ``type`` "function" carries ``function``, ``type`` "custom" carries ``custom``.

    One Struct for both, not a tagged union, because Mistral omits ``type`` and a tagged union needs it.
    """

    id: str | UnsetType = UNSET
    type: str | UnsetType = UNSET
    function: FunctionCall | UnsetType = UNSET
    custom: CustomCall | UnsetType = UNSET


class TopLogprob(_Struct):
    """One of the most likely tokens at a position; ``bytes`` is the token's UTF-8, or null."""

    token: str | UnsetType = UNSET
    logprob: float | UnsetType = UNSET
    bytes: list[int] | None | UnsetType = UNSET


class TokenLogprob(_Struct):
    """The log probability of one output token, with its alternatives."""

    token: str | UnsetType = UNSET
    logprob: float | UnsetType = UNSET
    bytes: list[int] | None | UnsetType = UNSET
    top_logprobs: list[TopLogprob] | UnsetType = UNSET


class ChoiceLogprobs(_Struct):
    """Log probabilities of a choice's content tokens and refusal tokens (in a stream: of this chunk's tokens)."""

    content: list[TokenLogprob] | None | UnsetType = UNSET
    refusal: list[TokenLogprob] | None | UnsetType = UNSET


class AnnotationURLCitation(_Struct):
    """A web citation: the cited page and the character range of the message content it supports."""

    end_index: int | UnsetType = UNSET
    start_index: int | UnsetType = UNSET
    title: str | UnsetType = UNSET
    url: str | UnsetType = UNSET


class Annotation(_Struct):
    """A message annotation; ``type`` "url_citation" is the only one OpenAI defines."""

    type: str | UnsetType = UNSET
    url_citation: AnnotationURLCitation | UnsetType = UNSET


class ChatCompletionAudio(_Struct):
    """Audio output of a message; in a request's assistant message only ``id`` is sent back."""

    id: str | UnsetType = UNSET
    data: str | UnsetType = UNSET
    expires_at: int | UnsetType = UNSET
    transcript: str | UnsetType = UNSET


class ChatCompletionMessage(_Struct):
    """The message of a non-streamed choice.

    ``content`` is a list only from Mistral, whose reasoning models send "thinking" parts; OpenAI defines no
    parts in responses, so the list is kept as decoded. ``reasoning_content`` (DeepSeek, Qwen, Z.ai, xAI) and
    ``reasoning`` (OpenRouter, Groq, newer vLLM) carry reasoning text.
    """

    role: str | UnsetType = UNSET
    content: str | list[Any] | None | UnsetType = UNSET
    refusal: str | None | UnsetType = UNSET
    reasoning_content: str | None | UnsetType = UNSET
    reasoning: str | None | UnsetType = UNSET
    name: str | UnsetType = UNSET
    tool_calls: list[ToolCall] | None | UnsetType = UNSET
    function_call: FunctionCall | None | UnsetType = UNSET
    annotations: list[Annotation] | None | UnsetType = UNSET
    audio: ChatCompletionAudio | None | UnsetType = UNSET


class Choice(_Struct):
    """One choice of a non-streamed completion."""

    index: int
    message: ChatCompletionMessage | UnsetType = UNSET
    logprobs: ChoiceLogprobs | None | UnsetType = UNSET
    finish_reason: str | None | UnsetType = UNSET


class PromptTokensDetails(_Struct):
    """Breakdown of ``prompt_tokens``; ``cache_write_tokens`` is newer and also sent by OpenRouter."""

    cached_tokens: int | UnsetType = UNSET
    cache_write_tokens: int | UnsetType = UNSET
    audio_tokens: int | UnsetType = UNSET
    text_tokens: int | UnsetType = UNSET
    image_tokens: int | UnsetType = UNSET


class CompletionTokensDetails(_Struct):
    """Breakdown of ``completion_tokens``."""

    reasoning_tokens: int | UnsetType = UNSET
    audio_tokens: int | UnsetType = UNSET
    accepted_prediction_tokens: int | UnsetType = UNSET
    rejected_prediction_tokens: int | UnsetType = UNSET
    text_tokens: int | UnsetType = UNSET


class TokenCounts(NamedTuple):
    """A usage's counts as plain ints, for billing code (``Usage.token_counts()``); 0 where absent."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    """The provider's ``total_tokens``, or prompt + completion when it sent none."""
    cached_tokens: int
    """``prompt_tokens_details.cached_tokens``."""
    reasoning_tokens: int
    """``completion_tokens_details.reasoning_tokens``."""


class Usage(_Struct):
    """Token counts; ints, never floats, so counts above 2**53 stay exact."""

    prompt_tokens: int | UnsetType = UNSET
    completion_tokens: int | UnsetType = UNSET
    total_tokens: int | UnsetType = UNSET
    prompt_tokens_details: PromptTokensDetails | None | UnsetType = UNSET
    completion_tokens_details: CompletionTokensDetails | None | UnsetType = UNSET

    # Methods, not properties: a provider member of the same name becomes an instance attribute,
    # which a property (a data descriptor) would refuse.
    def token_counts(self) -> TokenCounts:
        """The counts as ints (absent counts are 0), so typed billing code needs no UNSET checks."""
        prompt = _count(self.prompt_tokens)
        completion = _count(self.completion_tokens)
        total = self.total_tokens if isinstance(self.total_tokens, int) else prompt + completion
        prompt_details = self.prompt_tokens_details
        completion_details = self.completion_tokens_details
        cached = _count(prompt_details.cached_tokens) if isinstance(prompt_details, PromptTokensDetails) else 0
        reasoning = _count(completion_details.reasoning_tokens) if isinstance(completion_details, CompletionTokensDetails) else 0
        return TokenCounts(prompt, completion, total, cached, reasoning)

    def extras(self) -> dict[str, Any]:
        """The members this type does not declare, as decoded (OpenRouter's ``cost``, ``cost_details``,
        ``is_byok``; Groq's timings): a copy of the instance's ``__dict__``."""
        return dict(self.__dict__)


def _count(value: int | UnsetType) -> int:
    return value if isinstance(value, int) else 0


class ChatCompletion(_Struct):
    """A non-streamed response (``"object": "chat.completion"``)."""

    id: str | UnsetType = UNSET
    object: str | UnsetType = UNSET
    created: int | UnsetType = UNSET
    model: str | UnsetType = UNSET
    choices: list[Choice] | UnsetType = UNSET
    usage: Usage | None | UnsetType = UNSET
    service_tier: str | None | UnsetType = UNSET
    system_fingerprint: str | None | UnsetType = UNSET


# ---------------------------------------------------------------------------------------------------------------------
# Stream (``"object": "chat.completion.chunk"``).


class ChoiceDeltaFunctionCall(_Struct):
    """A fragment of a function call: ``name`` arrives once, ``arguments`` arrives in pieces to concatenate."""

    name: str | UnsetType = UNSET
    arguments: str | UnsetType = UNSET


class ChoiceDeltaCustomCall(_Struct):
    """A fragment of a custom tool call: ``name`` arrives once, ``input`` arrives in pieces to concatenate."""

    name: str | UnsetType = UNSET
    input: str | UnsetType = UNSET


class ChoiceDeltaToolCall(_Struct):
    """A fragment of a tool call; ``index`` says which call of the message it continues.

    ``index`` is optional because Mistral sends whole tool calls without it.
    """

    index: int | UnsetType = UNSET
    id: str | UnsetType = UNSET
    type: str | UnsetType = UNSET
    function: ChoiceDeltaFunctionCall | UnsetType = UNSET
    custom: ChoiceDeltaCustomCall | UnsetType = UNSET


class ChoiceDeltaAudio(_Struct):
    """A fragment of audio output: ``data`` and ``transcript`` arrive in pieces, ``expires_at`` in a last delta."""

    id: str | UnsetType = UNSET
    data: str | UnsetType = UNSET
    expires_at: int | UnsetType = UNSET
    transcript: str | UnsetType = UNSET


class ChoiceDelta(_Struct):
    """What one chunk adds to a choice's message.

    ``content`` is a list only from Mistral (``[{"type": "thinking", ...}]``), kept as decoded: typing parts
    here, as ``Message`` does, would cost every delta a ``__post_init__`` call (about +25% per chunk), and
    the class would be called instead of its instances being made directly.
    ``annotations`` is sent in deltas by OpenRouter's web plugin.
    """

    role: str | None | UnsetType = UNSET
    content: str | list[Any] | None | UnsetType = UNSET
    refusal: str | None | UnsetType = UNSET
    reasoning_content: str | None | UnsetType = UNSET
    reasoning: str | None | UnsetType = UNSET
    tool_calls: list[ChoiceDeltaToolCall] | None | UnsetType = UNSET
    function_call: ChoiceDeltaFunctionCall | None | UnsetType = UNSET
    audio: ChoiceDeltaAudio | None | UnsetType = UNSET
    annotations: list[Annotation] | None | UnsetType = UNSET


class ChunkChoice(_Struct):
    """One choice of a chunk (OpenAI SDK: ``chat_completion_chunk.Choice``)."""

    index: int
    delta: ChoiceDelta | UnsetType = UNSET
    logprobs: ChoiceLogprobs | None | UnsetType = UNSET
    finish_reason: str | None | UnsetType = UNSET


class ChatCompletionChunk(_Struct):
    """One ``data:`` payload of a streamed response.

    ``obfuscation`` is OpenAI's random padding against length side channels; ``choices`` is ``[]`` on the
    usage chunk and absent on some OpenAI audio chunks.
    """

    id: str | UnsetType = UNSET
    object: str | UnsetType = UNSET
    created: int | UnsetType = UNSET
    model: str | UnsetType = UNSET
    service_tier: str | None | UnsetType = UNSET
    system_fingerprint: str | None | UnsetType = UNSET
    choices: list[ChunkChoice] | UnsetType = UNSET
    usage: Usage | None | UnsetType = UNSET
    obfuscation: str | UnsetType = UNSET


# ---------------------------------------------------------------------------------------------------------------------
# Request messages (the ``messages`` array of a request), which proxies inspect too.


class Message(_Struct):
    """A message of a request, of any role (system, developer, user, assistant, tool, function).

    ``tool_call_id`` answers a tool call in a "tool" message; ``reasoning_content`` and ``reasoning`` send
    reasoning back to the providers that accept it.
    """

    role: str | UnsetType = UNSET
    content: str | ContentParts | None | UnsetType = UNSET
    name: str | UnsetType = UNSET
    refusal: str | None | UnsetType = UNSET
    tool_calls: list[ToolCall] | None | UnsetType = UNSET
    tool_call_id: str | UnsetType = UNSET
    function_call: FunctionCall | None | UnsetType = UNSET
    audio: ChatCompletionAudio | None | UnsetType = UNSET
    reasoning_content: str | None | UnsetType = UNSET
    reasoning: str | None | UnsetType = UNSET

    def __post_init__(self) -> None:
        self.content = _typed_content_parts(self.content)
