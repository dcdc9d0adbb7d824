"""Whole-stream accumulation over Accumulator."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterable, Iterable

from chatsse._chunks import Format
from chatsse._core import DEFAULT_MAX_EVENT_SIZE, Accumulator, accumulate_bodies, decode_as
from chatsse._errors import ChatSSEError, IncompleteStreamWarning, TruncatedStreamError
from chatsse._sse import Piece, check_source
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

    A body that is cut inside a payload, or that ends with neither ``[DONE]`` nor a finish reason on
    every choice (a JSON-lines body needs no ``[DONE]``: it ends at a line boundary), is unfinished:
    its completion is returned with an IncompleteStreamWarning, or, with ``strict=True``,
    TruncatedStreamError is raised. Any error raised (a chatsse error, or one from ``source``)
    carries the completion merged so far in its ``completion`` attribute.
    """
    check_source(source, "accumulate")
    accumulator = Accumulator(format=format, max_event_size=max_event_size)
    try:
        accumulator.feed_all(source)
        cut = _close(accumulator)
    except Exception as error:
        _carry_completion(error, accumulator)
        raise
    return _finish(accumulator, strict, cut)


async def aaccumulate(
    source: AsyncIterable[Piece],
    *,
    format: Format = "auto",  # noqa: A002
    strict: bool = False,
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
) -> ChatCompletion:
    """The async twin of accumulate."""
    check_source(source, "aaccumulate")
    accumulator = Accumulator(format=format, max_event_size=max_event_size)
    try:
        async for piece in source:
            accumulator.feed(piece)
        cut = _close(accumulator)
    except Exception as error:
        _carry_completion(error, accumulator)
        raise
    return _finish(accumulator, strict, cut)


def _close(accumulator: Accumulator) -> TruncatedStreamError | None:
    """Ends the body; a cut inside a payload is returned, for `_finish` to warn or raise by `strict`."""
    try:
        accumulator.close()
    except TruncatedStreamError as error:
        return error
    return None


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
        # A body cut inside a payload is unfinished as for accumulate: warned of unless strict.
        cut = isinstance(error, TruncatedStreamError)
        if (error is None and not finished) or cut:
            if not strict:
                unfinished.append(index)
                results.append(completion)
                continue
            if error is None:
                error = TruncatedStreamError(_unfinished_message(chunks), offset=-1)
            else:  # the words accumulate(strict=True) raises
                error = TruncatedStreamError(f"{error}, after {chunks} chunks", offset=error.offset)  # type: ignore[attr-defined]
        if error is None:
            results.append(completion)
            continue
        error.completion = decode_as(completion, ChatCompletion) if isinstance(completion, bytes) else completion
        results.append(error)
    if unfinished:
        shown = ", ".join(map(str, unfinished[:10])) + (", ..." if len(unfinished) > 10 else "")
        message = f"{len(unfinished)} of {len(results)} bodies ended without [DONE] or a finish reason on every choice (bodies {shown})"
        warnings.warn(message, IncompleteStreamWarning, stacklevel=2)
    return results


def _unfinished_message(chunks: int) -> str:
    return f"the stream ended after {chunks} chunks without [DONE] or a finish reason on every choice"


def _carry_completion(error: BaseException, accumulator: Accumulator) -> None:
    """An error leaving accumulate carries the completion merged so far (where the exception takes
    attributes: every chatsse error does, and nearly every other). A try statement in each caller
    rather than a context manager: the generator-based one cost ~1 us a call, a third of accumulating
    a one-chunk stream."""
    try:
        error.completion = accumulator.completion()  # type: ignore[attr-defined]
    except AttributeError:
        pass


def _finish(accumulator: Accumulator, strict: bool, cut: TruncatedStreamError | None) -> ChatCompletion:
    completion = accumulator.completion()
    if cut is None and accumulator.finished:
        return completion
    if cut is not None:
        message = f"{cut}, after {accumulator.chunks} chunks"
    else:
        message = _unfinished_message(accumulator.chunks)
    if strict:
        error = TruncatedStreamError(message, offset=-1 if cut is None else cut.offset)
        error.completion = completion
        raise error
    warnings.warn(message, IncompleteStreamWarning, stacklevel=3)
    return completion
