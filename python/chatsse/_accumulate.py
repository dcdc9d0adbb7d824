"""Whole-stream accumulation over Accumulator."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterable, Iterable

from chatsse._core import DEFAULT_MAX_EVENT_SIZE, Accumulator
from chatsse._chunks import Format
from chatsse._errors import ChatSSEError, IncompleteStreamWarning, TruncatedStreamError
from chatsse._sse import Piece
from chatsse.types import ChatCompletion

__all__ = ["aaccumulate", "accumulate"]



def accumulate(
    source: Iterable[Piece],
    *,
    format: Format = "auto",  # noqa: A002
    strict: bool = False,
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
) -> ChatCompletion:
    """The ChatCompletion a streamed response body adds up to. Reads the whole source.

    A body that ends with neither ``[DONE]`` nor a finish reason on every choice is unfinished: its
    completion is returned with an IncompleteStreamWarning, or, with ``strict=True``, TruncatedStreamError
    is raised with the completion in its ``completion`` attribute. Any error raised carries the
    completion so far in ``completion``.
    """
    accumulator = Accumulator(format=format, max_event_size=max_event_size)
    try:
        accumulator.feed_all(source)
        accumulator.close()
    except ChatSSEError as error:
        _carry_completion(error, accumulator)
        raise
    return _finish(accumulator, strict)


async def aaccumulate(
    source: AsyncIterable[Piece],
    *,
    format: Format = "auto",  # noqa: A002
    strict: bool = False,
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
) -> ChatCompletion:
    """The async twin of accumulate."""
    accumulator = Accumulator(format=format, max_event_size=max_event_size)
    try:
        async for piece in source:
            accumulator.feed(piece)
        accumulator.close()
    except ChatSSEError as error:
        _carry_completion(error, accumulator)
        raise
    return _finish(accumulator, strict)


def _carry_completion(error: ChatSSEError, accumulator: Accumulator) -> None:
    """A ChatSSEError leaving accumulate carries the completion merged so far. (A try statement in each
    caller rather than a context manager: the generator-based one cost ~1 us a call, a third of
    accumulating a one-chunk stream.)"""
    error.completion = accumulator.completion()


def _finish(accumulator: Accumulator, strict: bool) -> ChatCompletion:
    completion = accumulator.completion()
    if accumulator.finished:
        return completion
    message = f"the stream ended after {accumulator.chunks} chunks without [DONE] or a finish reason on every choice"
    if strict:
        error = TruncatedStreamError(message, offset=-1)
        error.completion = completion
        raise error
    warnings.warn(message, IncompleteStreamWarning, stacklevel=3)
    return completion
