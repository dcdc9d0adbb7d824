"""The exceptions chatsse raises. Every one derives from ChatSSEError, so one ``except`` catches them all."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chatsse._core import ServerSentEvent
    from chatsse.types import ChatCompletion, ChatCompletionChunk

__all__ = [
    "ChatSSEError",
    "ConcurrentUseError",
    "DecodeError",
    "DecoderClosedError",
    "EventTooLargeError",
    "IncompleteStreamWarning",
    "TruncatedStreamError",
    "UpstreamError",
]


class ChatSSEError(Exception):
    """Base class of every error raised by chatsse."""

    chunks: list[ChatCompletionChunk]
    """Raised by ``ChunkDecoder.feed``/``close`` (and so by ``iter_chunks``): the chunks that call
    completed before the error, so that nothing is lost. Empty otherwise."""

    completion: ChatCompletion | None
    """Raised by ``accumulate``/``aaccumulate``: the completion merged so far. None otherwise."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.chunks = []
        self.completion = None

    def __reduce__(self) -> tuple[Any, ...]:
        # The subclasses' constructors take keyword-only attributes, which Exception's own reduce (the
        # class called with `args`) cannot pass: an error is rebuilt from its args and attributes instead,
        # so that it pickles (a ProcessPoolExecutor worker's error reaches the parent whole) and copies.
        return (_rebuild, (type(self), self.args, self.__dict__.copy()))


def _rebuild(cls: type[ChatSSEError], args: tuple[object, ...], attributes: dict[str, Any]) -> ChatSSEError:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(attributes)
    return error


class EventTooLargeError(ChatSSEError):
    """A line, or the data of one event, grew past the decoder's ``max_event_size``.

    The decoder stops there (every later ``feed`` raises this again) and its buffers are freed, so a
    stream that never sends a line ending cannot make it hold more than the limit.
    """

    limit: int
    """The ``max_event_size`` in force, in bytes."""
    offset: int
    """Byte offset in the stream where the offending line or event starts."""
    events: list[ServerSentEvent]
    """Events the failing ``SSEDecoder.feed`` call completed before the error: nothing is lost."""

    def __init__(self, message: str, *, limit: int, offset: int, events: list[ServerSentEvent] | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.offset = offset
        self.events = [] if events is None else events


class DecoderClosedError(ChatSSEError):
    """``feed`` was called after ``close``: a decoder parses one stream."""


class ConcurrentUseError(ChatSSEError, RuntimeError):
    """An ``SSEDecoder``, ``ChunkDecoder`` or ``Accumulator`` was called while another call on the same
    object had not returned: from another thread, or from code that call was running (the iterator
    given to ``feed_all``). The object is unchanged by the refused call; each parses one stream, one
    call at a time (an Accumulator's readers may run together): give each thread its own, or lock."""


class DecodeError(ChatSSEError, ValueError):
    """A payload is not valid JSON, or not of the expected shape (a chunk, a completion).

    The message says what was wrong, the JSON path, the byte position and an excerpt of the payload.
    """

    offset: int
    """Byte offset of the problem in the stream (for a single document: in the document)."""
    position: int
    """Byte offset of the problem inside the payload."""
    path: str
    """Where in the document, as a JSON path: ``$.choices[0].delta.content``."""
    excerpt: str
    """The payload around the problem."""

    def __init__(self, message: str, *, offset: int, position: int, path: str, excerpt: str) -> None:
        super().__init__(message)
        self.offset = offset
        self.position = position
        self.path = path
        self.excerpt = excerpt


class TruncatedStreamError(ChatSSEError):
    """The stream ended before ``data: [DONE]``, or inside an event (or, for ``accumulate(strict=True)``,
    before every choice finished)."""

    offset: int
    """Bytes received in all (-1 when not known: raised by ``accumulate``)."""

    def __init__(self, message: str, *, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class UpstreamError(ChatSSEError):
    """The provider reported an error inside a 200 response: an ``event: error`` frame, a payload with a
    non-null ``error`` member, or a payload with ``"object": "error"``."""

    message: str
    """The provider's message (the payload itself when it gave none)."""
    type: str | None
    code: str | int | None
    param: str | None
    error: Any
    """The provider's error object as decoded JSON (the whole payload when it has no ``error`` member),
    or None when the payload was not JSON."""
    payload: str
    """The raw payload."""
    offset: int
    """Byte offset of the payload in the stream."""
    event: str
    """The SSE event type of the frame ("message" unless the provider sent ``event: error``)."""

    def __init__(
        self,
        message: str,
        *,
        type: str | None = None,  # noqa: A002 -- the provider's field name
        code: str | int | None = None,
        param: str | None = None,
        error: Any = None,
        payload: str = "",
        offset: int = 0,
        event: str = "message",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.error = error
        self.payload = payload
        self.offset = offset
        self.event = event

    @classmethod
    def from_payload(cls, payload: str, offset: int, event: str) -> UpstreamError:
        """Reads the provider's error object out of a payload (cold path: plain ``json``)."""
        try:
            document = json.loads(payload)
        except (ValueError, RecursionError):  # not JSON, an int past Python's digit limit, too deep
            document = None
        error = document.get("error", document) if isinstance(document, dict) else document
        error_fields: dict[str, Any] = error if isinstance(error, dict) else {}
        message = _text_or_none(error_fields.get("message")) or (error if isinstance(error, str) else payload)
        return cls(
            message,
            type=_text_or_none(error_fields.get("type")),
            code=error_fields.get("code") if isinstance(error_fields.get("code"), (str, int)) else None,
            param=_text_or_none(error_fields.get("param")),
            error=error,
            payload=payload,
            offset=offset,
            event=event,
        )


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


class IncompleteStreamWarning(UserWarning):
    """``accumulate`` returned the completion of a stream that ended with neither ``[DONE]`` nor a
    finish reason on every choice: what arrived, which may be cut short."""
