# Types of the native module chatsse._core (Rust, src/python.rs).
from typing import final

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
class SSEDecoder:
    """Incremental ``text/event-stream`` decoder following the WHATWG HTML rules."""

    def __init__(self, *, max_event_size: int = ...) -> None: ...
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
