"""Whole-stream iteration over SSEDecoder, for HTTP clients that hand out the body piece by piece."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

from chatsse._core import DEFAULT_MAX_EVENT_SIZE, SSEDecoder, ServerSentEvent
from chatsse._errors import EventTooLargeError

__all__ = ["Piece", "aiter_events", "check_source", "iter_events"]

Piece = bytes | bytearray | memoryview
"""One piece of a raw response body, as HTTP clients hand them out."""


def check_source(source: object, function: str) -> None:
    """The stream functions take an iterable of pieces; a whole body passed as it is would be iterated
    as ints (bytes) or characters (str), and fail on the first with a message about an int."""
    if isinstance(source, (bytes, bytearray, memoryview, str)):
        kind = type(source).__name__
        raise TypeError(
            f"{function}() takes an iterable of byte pieces (such as response.iter_bytes()), not {kind}: "
            f"pass a whole body as a one-piece list, [body]"
        )


def iter_events(
    source: Iterable[Piece], *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE
) -> Iterator[ServerSentEvent]:
    """Yield the events of a byte stream given as an iterable of pieces (``httpx``'s ``iter_bytes()``,
    a file opened in binary mode, a list). An event cut off by the end of the stream is discarded, as
    the spec says; use SSEDecoder directly to find out whether that happened."""
    check_source(source, "iter_events")
    decoder = SSEDecoder(max_event_size=max_event_size)
    feed = decoder.feed
    for piece in source:
        try:
            events = feed(piece)
        except EventTooLargeError as error:
            yield from error.events
            raise
        yield from events
    decoder.close()


async def aiter_events(
    source: AsyncIterable[Piece], *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE
) -> AsyncIterator[ServerSentEvent]:
    """The async twin of iter_events (``httpx``'s ``aiter_bytes()``, ``aiohttp``'s ``content.iter_any()``)."""
    check_source(source, "aiter_events")
    decoder = SSEDecoder(max_event_size=max_event_size)
    feed = decoder.feed
    async for piece in source:
        try:
            events = feed(piece)
        except EventTooLargeError as error:
            for event in error.events:
                yield event
            raise
        for event in events:
            yield event
    decoder.close()
