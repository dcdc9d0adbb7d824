"""The proxy tap: forward a streamed body untouched while an Accumulator reads it, and report once.

``tap``/``atap`` wrap the upstream's byte iterator. Every byte goes on to the caller in order; the
accumulator's errors (a provider's error frame, a bad payload, an over-long line) are recorded, never
raised into the forwarding loop; ``on_done`` gets one ``TapResult`` whatever ends the stream.
"""

from __future__ import annotations

import asyncio
import builtins
import inspect
import logging
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Callable, Coroutine, Generator, Iterable, Iterator
from typing import Any, Literal, Union, cast

from chatsse._core import DEFAULT_MAX_EVENT_SIZE, Accumulator, Rewriter
from chatsse._errors import ChatSSEError, EventTooLargeError, TruncatedStreamError, UpstreamError
from chatsse._sse import Piece
from chatsse.types import ChatCompletion, Usage

__all__ = ["TapResult", "TapStatus", "atap", "tap"]

TapStatus = Literal["complete", "truncated", "upstream_error", "upstream_failed", "client_disconnected"]
"""How a tapped stream ended (see TapResult.status)."""

OnDone = Callable[["TapResult"], Union[None, Awaitable[None]]]

_logger = logging.getLogger("chatsse")

# Tasks running an async on_done while the tap is being cancelled: held so they are not collected.
_pending_callbacks: set[asyncio.Task[None]] = set()


class TapResult:
    """What a tapped stream added up to, handed to ``on_done`` once.

    ``status``:

    - ``"complete"``: the body ended after ``[DONE]`` or a finish reason on every choice.
    - ``"truncated"``: the body ended before that, or inside an event (``error`` is a TruncatedStreamError).
    - ``"upstream_error"``: the provider reported an error in the stream (``error`` is the first
      UpstreamError), or sent a payload that is not a chunk (a DecodeError) or an over-long event
      (EventTooLargeError). Forwarding went on to the end of the body.
    - ``"upstream_failed"``: reading the upstream raised (``error`` is that exception, which the tap
      re-raised to its caller after ``on_done``).
    - ``"client_disconnected"``: the consumer stopped early or closed the tap (or its task was
      cancelled) before ``[DONE]`` arrived; ``error`` is a provider's error that came before, if any.
      A consumer that stops after ``[DONE]`` (the official SDK hangs up there) leaves it ``"complete"``.

    ``usage``, ``usage_json``, ``completion`` and ``body`` are made on first access (each is a cost only
    when read), from what arrived before the end: what the upstream sent, also when the client got
    the stream rewritten (``rewrite=``).
    """

    __slots__ = ("_accumulator", "_body", "_completion", "bytes", "error", "status")

    status: TapStatus
    error: BaseException | None
    """The UpstreamError, DecodeError, TruncatedStreamError or the upstream's exception; None if complete."""
    bytes: int
    """Bytes received from the upstream."""

    def __init__(self, accumulator: Accumulator | Rewriter, status: TapStatus, error: BaseException | None, received: int) -> None:
        self._accumulator = accumulator
        self.status = status
        self.error = error
        self.bytes = received
        self._body: builtins.bytes | None = None
        self._completion: ChatCompletion | None = None

    @property
    def usage(self) -> Usage | None:
        """The last non-null usage that arrived, or None (a stream without ``include_usage``)."""
        return self._accumulator.usage

    @property
    def usage_json(self) -> builtins.bytes | None:
        """The usage as compact JSON, with every provider member kept (``cost``, ``cost_details``, ...)."""
        return self._accumulator.usage_json()

    @property
    def body(self) -> builtins.bytes:
        """The completion as the non-streamed response body (``Accumulator.to_json()``)."""
        if self._body is None:
            self._body = self._accumulator.to_json()
        return self._body

    @property
    def completion(self) -> ChatCompletion:
        """The completion merged from what arrived."""
        if self._completion is None:
            self._completion = self._accumulator.completion()
        return self._completion

    @property
    def chunks(self) -> int:
        """Chunks merged."""
        return self._accumulator.chunks

    @property
    def finished(self) -> bool:
        """``[DONE]`` arrived, or every choice has a finish reason."""
        return self._accumulator.finished

    def __repr__(self) -> str:
        return f"TapResult(status={self.status!r}, bytes={self.bytes}, chunks={self.chunks}, error={self.error!r})"


# Pieces held before the accumulator reads them in one call (unaligned taps). Feeding each piece
# as it passed cost 3-4x its hot-loop time inside a proxy, the proxy's own work between two pieces
# evicting the parser's code and data from the caches; read in batches it runs hot, for the same
# result (README, "What the tap costs in a proxy"). The batch bounds what is held.
_BATCH_BYTES = 64 * 1024


class _Reader:
    """The accumulator side of a tap: feeds pieces (held in a batch when unaligned), keeps the
    first error, and (aligned) cuts the output at the end of the last complete event; with a
    Rewriter, the output is what it gives out."""

    __slots__ = ("accumulator", "aligned", "batch", "error", "feeding", "held", "received", "rewriter", "sent")

    def __init__(self, aligned: bool, max_event_size: int, rewrite: Rewriter | None = None) -> None:
        self.accumulator: Accumulator | Rewriter = Accumulator(max_event_size=max_event_size) if rewrite is None else rewrite
        self.rewriter = rewrite
        self.aligned = aligned
        self.batch: list[bytes] = []
        self.error: ChatSSEError | None = None
        self.feeding = True
        self.held = b""
        self.received = 0
        self.sent = 0

    def feed(self, data: Piece) -> None:
        self.received += len(data)
        if self.feeding:
            try:
                self.accumulator.feed(data)
            except ChatSSEError as error:
                self.failed(error)

    def flush(self) -> None:
        """Reads the pieces held, in one call (a feed merges all of its input before it raises)."""
        batch = self.batch
        if batch:
            data = batch[0] if len(batch) == 1 else b"".join(batch)
            batch.clear()
            self.feed(data)

    def failed(self, error: ChatSSEError) -> None:
        if self.error is None or (isinstance(error, UpstreamError) and not isinstance(self.error, UpstreamError)):
            self.error = error  # a provider's own report explains more than what followed it
        if isinstance(error, EventTooLargeError):
            self.feeding = False  # the framer is finished: every later feed would raise the same

    def whole_events(self, piece: Piece) -> bytes:
        """Reads the piece; returns the bytes of whole events now available, the unfinished tail
        held back (bounded by ``max_event_size``, the framer's own limit: past it the framer fails)."""
        self.received += len(piece)
        buffer = self.held + piece if self.held else bytes(piece)
        if self.feeding:
            try:
                self.accumulator.feed(piece)
            except ChatSSEError as error:
                self.failed(error)
        if not self.feeding:
            self.held = b""
            self.sent += len(buffer)
            return buffer
        end = cast("Accumulator", self.accumulator).complete_offset
        cut = end - self.sent
        self.sent = end
        if cut == len(buffer):
            self.held = b""
            return buffer
        self.held = buffer[cut:]
        return buffer[:cut]

    def rewritten(self, piece: Piece) -> bytes:
        """Reads the piece through the Rewriter; returns what it gives out (whole events only, the
        output of a feed that raised included). Past a framing error, the piece as it came."""
        self.received += len(piece)
        rewriter = cast("Rewriter", self.rewriter)
        if not self.feeding:
            return bytes(piece)
        try:
            return rewriter.feed(piece)
        except ChatSSEError as error:
            self.failed(error)
            return rewriter.take()

    def end_of_body(self) -> tuple[TapStatus, BaseException | None, bytes]:
        """Closes the accumulator; returns the status, the error and the tail still to forward."""
        self.flush()
        tail = self.held
        self.held = b""
        rewriter = self.rewriter
        if self.feeding:
            try:
                if rewriter is None:
                    self.accumulator.close()
                else:
                    tail = rewriter.close()
            except TruncatedStreamError as error:
                tail = b""  # cut inside an event: its bytes would only garble an error frame after them
                if self.error is None:
                    return "truncated", error, tail
            except ChatSSEError as error:
                self.failed(error)
                if rewriter is not None:
                    tail = rewriter.take()
        if self.error is not None:
            return "upstream_error", self.error, tail
        if self.accumulator.finished:
            return "complete", None, tail
        message = f"the stream ended after {self.accumulator.chunks} chunks without [DONE] or a finish reason on every choice"
        return "truncated", TruncatedStreamError(message, offset=self.received), tail

    def result(self, status: TapStatus, error: BaseException | None) -> TapResult:
        return TapResult(self.accumulator, status, error, self.received)

    def interrupted(self, interruption: BaseException) -> TapResult:
        """The result when the stream stopped before its end: the consumer left, or the source raised."""
        self.flush()
        if isinstance(interruption, (GeneratorExit, asyncio.CancelledError)):
            if self.accumulator.done and self.error is None:
                # [DONE] had arrived: the response is whole (the official SDK hangs up right there).
                return self.result("complete", None)
            return self.result("client_disconnected", self.error)
        return self.result("upstream_failed", interruption)


def _report(on_done: Callable[[TapResult], object], result: TapResult) -> object:
    try:
        return on_done(result)
    except Exception:
        # The bill must not break the client's stream, nor vanish: it goes to the log.
        _logger.exception("chatsse: on_done raised for a stream that ended %s", result.status)
        return None


def tap(
    source: Iterable[Piece],
    *,
    on_done: Callable[[TapResult], None],
    aligned: bool = False,
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    rewrite: Rewriter | None = None,
) -> Generator[Piece, None, None]:
    """Yield every piece of ``source`` untouched while an Accumulator reads it; call ``on_done``
    exactly once with the TapResult. With ``aligned=True`` only whole events are yielded (the
    unfinished tail is held back), so a frame appended after a failure starts clean.

    With ``rewrite`` (a new ``Rewriter`` for this stream) the caller gets the rewritten bytes, whole
    events only (as aligned), while the TapResult is made of what the upstream sent.

    Errors of the accumulator never reach the caller. An exception raised by ``source`` reaches it
    after ``on_done``; an exception raised by ``on_done`` is logged (logger ``chatsse``), not raised.
    """
    if inspect.iscoroutinefunction(on_done):
        raise TypeError("tap() needs a plain callable for on_done; use atap() for a coroutine function")
    return _tap(source, on_done, aligned, max_event_size, _checked_rewriter(rewrite))


def _checked_rewriter(rewrite: Rewriter | None) -> Rewriter | None:
    if rewrite is not None and not isinstance(rewrite, Rewriter):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"rewrite takes a chatsse.Rewriter, not {type(rewrite).__name__}")
    return rewrite


def _tap(
    source: Iterable[Piece], on_done: Callable[[TapResult], None], aligned: bool, max_event_size: int, rewrite: Rewriter | None
) -> Generator[Piece, None, None]:
    reader = _Reader(aligned, max_event_size, rewrite)
    iterator = iter(source)
    try:
        if rewrite is not None:
            rewritten = reader.rewritten
            for piece in iterator:
                piece = rewritten(piece)
                if piece:
                    yield piece
        elif aligned:
            whole_events = reader.whole_events
            for piece in iterator:
                piece = whole_events(piece)
                if piece:
                    yield piece
        else:
            hold = reader.batch.append
            held, limit = 0, _BATCH_BYTES
            for piece in iterator:
                # A buffer that is not bytes may be reused by its owner once yielded: held as a copy.
                hold(piece if isinstance(piece, bytes) else bytes(piece))
                held += len(piece)
                if held >= limit:
                    reader.flush()
                    held = 0
                yield piece
        status, error, tail = reader.end_of_body()
        if tail:
            yield tail
    except BaseException as interruption:
        _close_quietly(iterator)
        _report(on_done, reader.interrupted(interruption))
        raise
    _report(on_done, reader.result(status, error))


def atap(
    source: AsyncIterable[Piece],
    *,
    on_done: OnDone,
    aligned: bool = False,
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    rewrite: Rewriter | None = None,
) -> AsyncGenerator[Piece, None]:
    """The async twin of tap: ``source`` is an async iterable (``httpx``'s ``aiter_bytes()``,
    ``aiohttp``'s ``content.iter_any()``), ``on_done`` a plain or async callable. When the task is
    cancelled (a client disconnect), an async ``on_done`` still runs to its end: its first step runs in
    the tap, and once it waits for something the rest runs in a task of its own."""
    return _atap(source, on_done, aligned, max_event_size, _checked_rewriter(rewrite))


async def _atap(
    source: AsyncIterable[Piece], on_done: OnDone, aligned: bool, max_event_size: int, rewrite: Rewriter | None
) -> AsyncGenerator[Piece, None]:
    reader = _Reader(aligned, max_event_size, rewrite)
    iterator = source.__aiter__()
    try:
        if rewrite is not None:
            rewritten = reader.rewritten
            async for piece in iterator:
                piece = rewritten(piece)
                if piece:
                    yield piece
        elif aligned:
            whole_events = reader.whole_events
            async for piece in iterator:
                piece = whole_events(piece)
                if piece:
                    yield piece
        else:
            hold = reader.batch.append
            held, limit = 0, _BATCH_BYTES
            async for piece in iterator:
                hold(piece if isinstance(piece, bytes) else bytes(piece))
                held += len(piece)
                if held >= limit:
                    reader.flush()
                    held = 0
                yield piece
        status, error, tail = reader.end_of_body()
        if tail:
            yield tail
    except BaseException as interruption:
        await _aclose_quietly(iterator)
        await _areport(on_done, reader.interrupted(interruption), interruption)
        raise
    await _areport(on_done, reader.result(status, error), None)


async def _areport(on_done: OnDone, result: TapResult, interruption: BaseException | None) -> None:
    outcome = _report(on_done, result)
    if outcome is None or not inspect.isawaitable(outcome):  # a plain callable's None: no ABC check
        return
    if inspect.iscoroutine(outcome):
        # Most bills finish without waiting for anything (a counter, a queue's put_nowait, a log
        # line): their first step runs here, and only one that waits gets a task. A task and a shield
        # per stream cost ~50 us of the event loop's time each (README, "What the tap costs").
        try:
            pending = outcome.send(None)
        except StopIteration:
            return
        except Exception:
            _logger.exception("chatsse: on_done raised for a stream that ended %s", result.status)
            return
        outcome = _Resumed(outcome, pending)
    # The callback runs in a task of its own, awaited shielded: a cancellation of this task (a client
    # gone, under anyio every await in a cancelled scope is cancelled again) must not cut the bill
    # short. After a cancellation it is not awaited at all: it runs on.
    task = asyncio.ensure_future(_logged(outcome, result.status))
    _pending_callbacks.add(task)
    task.add_done_callback(_pending_callbacks.discard)
    if not isinstance(interruption, asyncio.CancelledError):
        await asyncio.shield(task)


class _Resumed:
    """A coroutine whose first step has run (and waits on ``pending``), awaitable again: what it
    waits on goes up to the awaiting task, what the task sends or throws goes back down to it."""

    __slots__ = ("coroutine", "pending")

    def __init__(self, coroutine: Coroutine[Any, Any, None], pending: Any) -> None:
        self.coroutine = coroutine
        self.pending = pending

    def __await__(self) -> Generator[Any, Any, None]:
        coroutine, pending = self.coroutine, self.pending
        while True:
            try:
                sent = yield pending
            except BaseException as error:  # a cancellation, GeneratorExit: the coroutine decides
                try:
                    pending = coroutine.throw(error)
                except StopIteration:
                    return
            else:
                try:
                    pending = coroutine.send(sent)
                except StopIteration:
                    return


async def _logged(outcome: Awaitable[None], status: str) -> None:
    try:
        await outcome
    except Exception:
        _logger.exception("chatsse: on_done raised for a stream that ended %s", status)


def _close_quietly(iterator: Iterator[Piece]) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            _logger.debug("chatsse: closing the upstream iterator raised", exc_info=True)


async def _aclose_quietly(iterator: AsyncIterator[Piece]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except (Exception, asyncio.CancelledError):
        _logger.debug("chatsse: closing the upstream iterator raised", exc_info=True)
