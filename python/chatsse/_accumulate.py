"""Whole-stream accumulation over Accumulator."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterable, Iterable

from chatsse._core import DEFAULT_MAX_EVENT_SIZE, Accumulator, accumulate_bodies, decode_as
from chatsse._chunks import Format
from chatsse._errors import ChatSSEError, IncompleteStreamWarning, TruncatedStreamError
from chatsse._sse import Piece
from chatsse.types import ChatCompletion

__all__ = ["aaccumulate", "accumulate", "accumulate_many"]


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


def accumulate_many(
    bodies: Iterable[Piece],
    *,
    format: Format = "auto",  # noqa: A002
    strict: bool = False,
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    as_json: bool = False,
    workers: int | None = None,
) -> list[ChatCompletion | bytes | ChatSSEError]:
    """What ``accumulate`` gives for each whole body of ``bodies``, in order, merged on ``workers`` threads
    (default: one per core) with the GIL released.

    A body that fails takes, in its place, the ChatSSEError that ``accumulate`` would raise (its
    ``completion`` holds what was merged before); the others are not affected. With ``as_json``, each
    completion is its JSON bytes, as ``Accumulator.to_json``. Unfinished bodies give one
    IncompleteStreamWarning for the batch, or, with ``strict=True``, a TruncatedStreamError each.
    """
    results: list[ChatCompletion | bytes | ChatSSEError] = []
    unfinished: list[int] = []
    outcomes = accumulate_bodies(bodies, format=format, max_event_size=max_event_size, as_json=as_json, workers=workers)
    for index, (completion, finished, chunks, error) in enumerate(outcomes):
        if error is None and not finished:
            if not strict:
                unfinished.append(index)
                results.append(completion)
                continue
            error = TruncatedStreamError(_unfinished_message(chunks), offset=-1)
        if error is None:
            results.append(completion)
            continue
        error.completion = decode_as(completion, ChatCompletion) if as_json else completion
        results.append(error)
    if unfinished:
        shown = ", ".join(map(str, unfinished[:10])) + (", ..." if len(unfinished) > 10 else "")
        message = f"{len(unfinished)} of {len(results)} bodies ended without [DONE] or a finish reason on every choice (bodies {shown})"
        warnings.warn(message, IncompleteStreamWarning, stacklevel=2)
    return results


def _unfinished_message(chunks: int) -> str:
    return f"the stream ended after {chunks} chunks without [DONE] or a finish reason on every choice"


def _carry_completion(error: ChatSSEError, accumulator: Accumulator) -> None:
    """A ChatSSEError leaving accumulate carries the completion merged so far. (A try statement in each
    caller rather than a context manager: the generator-based one cost ~1 us a call, a third of
    accumulating a one-chunk stream.)"""
    error.completion = accumulator.completion()


def _finish(accumulator: Accumulator, strict: bool) -> ChatCompletion:
    completion = accumulator.completion()
    if accumulator.finished:
        return completion
    message = _unfinished_message(accumulator.chunks)
    if strict:
        error = TruncatedStreamError(message, offset=-1)
        error.completion = completion
        raise error
    warnings.warn(message, IncompleteStreamWarning, stacklevel=3)
    return completion
