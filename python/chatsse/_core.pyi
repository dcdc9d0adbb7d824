# Types of the native module chatsse._core (Rust, src/python/).
from collections.abc import Iterable, Mapping
from typing import Any, Literal, final

from chatsse._errors import ChatSSEError
from chatsse.types import ChatCompletion, ChatCompletionChunk, Usage

__version__: str
DEFAULT_MAX_EVENT_SIZE: int

@final
class ServerSentEvent:
    """One server-sent event."""

    @property
    def event(self) -> str:
        """The event type: the ``event`` field's value, or "message" when it was absent or empty."""
    @property
    def data(self) -> str:
        """The ``data`` lines joined with "\\n"; invalid UTF-8 replaced by U+FFFD."""
    @property
    def id(self) -> str:
        """The last event ID in force when this event was dispatched ("" if none yet)."""
    @property
    def retry(self) -> int | None:
        """The reconnection time in ms from a valid ``retry`` field in this event's block, else None."""
    def __init__(self, data: str = "", event: str = "message", id: str = "", retry: int | None = None) -> None: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

@final
class _HttpxSSEServerSentEvent:
    """One server-sent event, as httpx-sse's ``ServerSentEvent`` (``chatsse.httpx_sse.ServerSentEvent``)."""

    @property
    def event(self) -> str: ...
    @property
    def data(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def retry(self) -> int | None: ...
    def __init__(
        self, event: str | None = None, data: str | None = None, id: str | None = None, retry: int | None = None
    ) -> None: ...
    def json(self) -> Any: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

@final
class SSEDecoder:
    """Incremental ``text/event-stream`` decoder following the WHATWG HTML rules.

    One call at a time: a call while another runs raises ConcurrentUseError."""

    def __init__(self, *, max_event_size: int = ...) -> None: ...
    @staticmethod
    def _for_httpx_sse(*, max_event_size: int = ...) -> Any:
        """A decoder whose feed returns ``chatsse.httpx_sse.ServerSentEvent``s."""
    def feed(self, data: bytes | bytearray | memoryview) -> list[ServerSentEvent]:
        """Parse the next piece of the stream and return the events it completed.

        Raises EventTooLargeError past ``max_event_size`` and DecoderClosedError after ``close()``.
        """
    def close(self) -> bool:
        """End the stream; True when an unterminated event was discarded."""
    @property
    def last_event_id(self) -> str: ...
    @property
    def retry(self) -> int | None: ...
    @property
    def max_event_size(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def closed(self) -> bool: ...

def parse_partial_json(text: str | bytes | bytearray | memoryview) -> Any:
    """The value a prefix of a JSON document stands for so far; None when no value has begun."""

def decode_as(data: bytes | str | bytearray | memoryview, cls: type, *, as_list: bool = False) -> Any:
    """Decode a document into a chatsse.types Struct (or a list of them); see chatsse.decode."""

def decode_chunk(data: bytes | str | bytearray | memoryview) -> ChatCompletionChunk:
    """Decode one stream payload. Raises DecodeError or UpstreamError."""

def decode_completion(data: bytes | str | bytearray | memoryview) -> ChatCompletion:
    """Decode a non-streamed response body. Raises DecodeError or UpstreamError."""

def completion_to_stream(
    completion: ChatCompletion | bytes | str | bytearray | memoryview, *, piece_size: int = 4, format: Literal["sse", "jsonl"] = "sse"
) -> list[bytes]:
    """The events of the stream a provider would have sent for a completion (README, completion_to_stream)."""

def encode(obj: Any) -> bytes:
    """Compact JSON of a chatsse type: declared fields in order (UNSET left out), then the undeclared
    members, at every level. Raises what msgspec.json.encode raises for values it cannot encode."""

@final
class ChunkDecoder:
    """Incremental decoder of a streamed response body into ChatCompletionChunks.

    One call at a time: a call while another runs raises ConcurrentUseError."""

    def __init__(
        self, *, format: Literal["auto", "sse", "jsonl"] = "auto", require_done: bool = True, max_event_size: int = ...
    ) -> None: ...
    def feed(self, data: bytes | bytearray | memoryview) -> list[ChatCompletionChunk]: ...
    def close(self) -> list[ChatCompletionChunk]: ...
    @property
    def done(self) -> bool: ...
    @property
    def format(self) -> Literal["auto", "sse", "jsonl"]: ...
    @property
    def offset(self) -> int: ...

@final
class Accumulator:
    """Merges a streamed response into the completion the same request would have returned unstreamed.

    One call that changes it at a time; its readers may run together. Any other overlap raises
    ConcurrentUseError."""

    def __init__(self, *, format: Literal["auto", "sse", "jsonl"] = "auto", max_event_size: int = ...) -> None: ...
    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Take the next piece of the raw body; no Python object is made per chunk. A piece of 4 KiB or
        more is framed and merged with the GIL released."""
    def feed_all(self, source: Iterable[bytes | bytearray | memoryview]) -> None:
        """Feed every piece of an iterable, looping in Rust; stops at the first piece that raises."""
    def add(self, chunk: ChatCompletionChunk | bytes | str | bytearray | memoryview) -> None:
        """Merge one chunk obtained elsewhere (a chunk object, or its JSON payload)."""
    def close(self) -> None:
        """End the body; raises TruncatedStreamError when it ended inside a payload."""
    def completion(self) -> ChatCompletion:
        """The completion so far (a snapshot)."""
    def to_json(self) -> bytes:
        """The completion so far as compact JSON: the non-streamed response body."""
    def tool_call_arguments(self, choice: int = 0) -> list[Any]:
        """Each tool call's arguments parsed so far (partial JSON completed); None where none yet."""
    @property
    def usage(self) -> Usage | None: ...
    @property
    def finished(self) -> bool:
        """True once [DONE] arrived or every choice has a finish reason."""
    @property
    def done(self) -> bool: ...
    @property
    def chunks(self) -> int: ...
    @property
    def complete_offset(self) -> int:
        """The stream offset just past the last complete event: ``body[:complete_offset]`` is whole events."""
    def usage_json(self) -> bytes | None:
        """The usage as compact JSON with every provider member kept, or None."""

@final
class Rewriter:
    """Rewrites a streamed response as it passes (set, drop and rename members of each chunk, drop the
    usage-only chunk), every untouched byte as it came, while an Accumulator merges what the upstream
    sent. One call that changes it at a time; its readers may run together."""

    def __init__(
        self,
        *,
        set: Mapping[str, Any] | None = None,
        drop: Iterable[str] | None = None,
        rename: Mapping[str, str] | None = None,
        drop_usage_only: bool = False,
        format: Literal["auto", "sse", "jsonl"] = "auto",
        max_event_size: int = ...,
    ) -> None: ...
    def feed(self, data: bytes | bytearray | memoryview) -> bytes:
        """The rewritten bytes of the events this piece completed (b"" while an event is open). Raises as
        Accumulator.feed does; the output of a call that raised comes with the next call, or ``take()``."""
    def close(self) -> bytes:
        """End the body; the rest of the output. Raises as Accumulator.close does."""
    def take(self) -> bytes:
        """The output of the last call that raised, not given out yet (b"" when none)."""
    def completion(self) -> ChatCompletion:
        """The completion the upstream sent so far (a snapshot)."""
    def to_json(self) -> bytes:
        """The completion the upstream sent so far as compact JSON."""
    def tool_call_arguments(self, choice: int = 0) -> list[Any]: ...
    @property
    def usage(self) -> Usage | None: ...
    @property
    def finished(self) -> bool: ...
    @property
    def done(self) -> bool: ...
    @property
    def chunks(self) -> int: ...
    def usage_json(self) -> bytes | None: ...

def accumulate_bodies(
    bodies: Iterable[bytes | bytearray | memoryview],
    *,
    format: Literal["auto", "sse", "jsonl"] = "auto",
    max_event_size: int = ...,
    as_json: bool = False,
    workers: int | None = None,
) -> list[tuple[ChatCompletion | bytes, bool, int, ChatSSEError | None]]:
    """Per body: (completion or its JSON, finished, chunks merged, the error that stopped it or None);
    merged on ``workers`` threads with the GIL released. See chatsse.accumulate_many."""
