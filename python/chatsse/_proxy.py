"""What a proxy needs around the tap: the upstream request made to stream with usage, and an
upstream's failure turned into what the client is owed (an HTTP status and an OpenAI-shaped error
body, or an SSE error frame when the client is mid-stream)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable
from typing import Any, NamedTuple, cast

from chatsse._errors import ChatSSEError, TruncatedStreamError, UpstreamError
from chatsse._sse import Piece
from chatsse._core import Rewriter
from chatsse._tap import OnDone, TapResult, atap

__all__ = [
    "StreamRequest",
    "acomplete",
    "aforward",
    "drop_usage_chunks",
    "error_body",
    "error_event",
    "error_status",
    "stream_request",
]


class StreamRequest(NamedTuple):
    """An upstream request body, and what the client asked for."""

    body: bytes
    """The request body with ``stream: true`` and ``stream_options.include_usage: true``."""
    stream: bool
    """The client asked to stream: else answer it with ``TapResult.body`` (one JSON response)."""
    include_usage: bool
    """The client asked for usage: else hide the usage-only chunk (``choices: []``) from it."""


def stream_request(body: bytes | str | dict[str, Any]) -> StreamRequest:
    """Makes a Chat Completions request body stream with usage, so that every response can be
    tapped and billed: ``stream`` and ``stream_options.include_usage`` are set to true, every other
    member is kept. Raises ValueError when the body is not a JSON object."""
    decoded: object = json.loads(body) if isinstance(body, (bytes, str)) else dict(body)
    if not isinstance(decoded, dict):
        raise ValueError(f"a Chat Completions request body is a JSON object, not {type(decoded).__name__}")
    request = cast("dict[str, Any]", decoded)
    stream = request.get("stream") is True
    given: object = request.get("stream_options")
    options: dict[str, Any] = dict(cast("dict[str, Any]", given)) if isinstance(given, dict) else {}
    include_usage = stream and options.get("include_usage") is True
    options["include_usage"] = True
    request["stream"] = True
    request["stream_options"] = options
    return StreamRequest(json.dumps(request, separators=(",", ":"), ensure_ascii=False).encode(), stream, include_usage)


def error_status(error: BaseException) -> int:
    """The HTTP status a client is answered with for a failed upstream: the provider's own status
    (Groq's ``error.status_code``, or a ``code`` between 400 and 599, as OpenRouter and vLLM send),
    else 502 (Bad Gateway); 504 (Gateway Timeout) when reading the upstream timed out."""
    if isinstance(error, UpstreamError):
        fields = _error_fields(error)
        for candidate in (fields.get("status_code"), fields.get("status"), error.code):
            status = _http_status(candidate)
            if status is not None:
                return status
        return 502
    # Timeouts by the standard library's, httpx's and aiohttp's names, none of them imported here.
    if isinstance(error, (TimeoutError, asyncio.TimeoutError)) or any(
        cls.__name__ == "TimeoutException" for cls in type(error).__mro__
    ):
        return 504
    return 502


def _error_fields(error: UpstreamError) -> dict[str, Any]:
    provided: object = error.error
    return cast("dict[str, Any]", provided) if isinstance(provided, dict) else {}


def _http_status(value: object) -> int | None:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 400 <= value <= 599:
        return value
    return None


def error_body(error: BaseException) -> bytes:
    """An OpenAI-shaped error body for the client: ``{"error": {"message", "type", "param", "code", ...}}``.
    A provider's error object is kept whole (its other members too); other failures get type
    ``"upstream_error"`` and a message naming them."""
    return json.dumps({"error": _error_object(error)}, separators=(",", ":"), ensure_ascii=False).encode()


def error_event(error: BaseException) -> bytes:
    """An SSE ``event: error`` frame carrying ``error_body(error)``, for a client that is mid-stream.
    The official SDK raises it as an ``APIError`` with the provider's message."""
    return b"event: error\ndata: " + error_body(error) + b"\n\n"


def _error_object(error: BaseException) -> dict[str, Any]:
    if isinstance(error, UpstreamError):
        provided = dict(_error_fields(error))
        provided["message"] = error.message
        provided.setdefault("type", error.type if error.type is not None else "upstream_error")
        provided.setdefault("param", error.param)
        provided.setdefault("code", error.code)
        return provided
    if isinstance(error, TruncatedStreamError):
        message = f"the upstream response ended early: {error}"
    else:
        message = f"the upstream failed: {type(error).__name__}: {error}" if str(error) else f"the upstream failed: {type(error).__name__}"
    return {"message": message, "type": "upstream_error", "param": None, "code": None}


async def aforward(
    content: AsyncIterable[Piece],
    *,
    on_done: OnDone,
    error_frame: bool = True,
    include_usage: bool = True,
    rewrite: Rewriter | None = None,
) -> AsyncGenerator[bytes, None]:
    """The forwarding loop of a streaming proxy: what to send a streaming client, never raising.

    The upstream body goes through ``atap`` (``on_done`` runs once). With ``error_frame`` (the
    default) the tap forwards whole events only, and when the upstream fails (its iterator raises)
    or ends inside an event or before the response finished, an ``event: error`` frame
    (``error_event``) ends the client's stream cleanly instead of a broken connection. A provider's
    own error frame is forwarded as it came. With ``include_usage=False`` the usage-only chunk is
    left out (a ``Rewriter(drop_usage_only=True)``, or ``drop_usage_chunks`` on what a given
    ``rewrite`` sends): for a client that did not ask for it, when the proxy did.
    With ``rewrite`` the client gets the rewritten stream (``atap(..., rewrite=)``; whole events
    either way). Closing this iterator (a client gone) closes the tap, which closes ``content``.
    """
    outcome: list[TapResult] = []

    def record(result: TapResult) -> Awaitable[None] | None:
        outcome.append(result)
        return on_done(result)

    hide_usage = not include_usage and rewrite is not None  # else the rewriter below does it
    if not include_usage and rewrite is None:
        rewrite = Rewriter(drop_usage_only=True)
    tapped = atap(content, on_done=record, aligned=error_frame, rewrite=rewrite)
    try:
        async for piece in tapped:
            data = piece if isinstance(piece, bytes) else bytes(piece)
            yield drop_usage_chunks(data) if hide_usage else data
    except Exception as error:  # the upstream's own failure: on_done has run, the client is owed a frame
        if error_frame:
            yield error_event(error)
        return
    finally:
        await tapped.aclose()
    if error_frame and outcome and outcome[0].status == "truncated" and outcome[0].error is not None:
        yield error_event(outcome[0].error)


async def acomplete(content: AsyncIterable[Piece], *, on_done: OnDone) -> tuple[int, bytes]:
    """For a client that did not ask to stream, from a streamed upstream: reads the whole body
    through ``atap`` and returns the HTTP status and body to answer with: ``(200, result.body)``
    when the response completed, else ``error_status`` and ``error_body`` of what went wrong
    (a provider's error, a truncated body, the upstream's exception)."""
    outcome: list[TapResult] = []

    def record(result: TapResult) -> Awaitable[None] | None:
        outcome.append(result)
        return on_done(result)

    try:
        async for _ in atap(content, on_done=record):
            pass
    except Exception as error:
        return error_status(error), error_body(error)
    result = outcome[0]
    if result.status == "complete" or result.error is None:
        return 200, result.body
    return error_status(result.error), error_body(result.error)


def drop_usage_chunks(events: bytes) -> bytes:
    """``events`` (whole events, as ``atap(..., aligned=True)`` yields them) without the chunks that
    carry only usage (``"choices": []`` and a usage), the chunk ``stream_options.include_usage``
    adds: ``Rewriter(drop_usage_only=True)`` over them. Every other byte is kept as it came. Pieces
    without such a chunk cost one substring search."""
    if b'"choices":[]' not in events and b'"choices": []' not in events:
        return events
    rewriter = Rewriter(drop_usage_only=True, format="sse")
    try:
        kept = rewriter.feed(events)
    except ChatSSEError:  # a provider's error frame or a bad payload: kept as it came
        kept = rewriter.take()
    try:
        return kept + rewriter.close()
    except ChatSSEError:
        return kept + rewriter.take()
