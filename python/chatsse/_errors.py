"""The exceptions chatsse raises. Every one derives from ChatSSEError, so one ``except`` catches them all."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chatsse._core import ServerSentEvent

__all__ = ["ChatSSEError", "DecoderClosedError", "EventTooLargeError"]


class ChatSSEError(Exception):
    """Base class of every error raised by chatsse."""


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
    """Events the failing ``feed`` call completed before the error: nothing is lost."""

    def __init__(self, message: str, *, limit: int, offset: int, events: list[ServerSentEvent] | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.offset = offset
        self.events = [] if events is None else events


class DecoderClosedError(ChatSSEError):
    """``feed`` was called after ``close``: a decoder parses one stream."""
