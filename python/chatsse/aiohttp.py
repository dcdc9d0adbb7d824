"""aiohttp.web adapters for the tap. Needs aiohttp, imported only here (``pip install 'chatsse[aiohttp]'``)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping

from aiohttp import web

from chatsse._core import Rewriter
from chatsse._proxy import acomplete, aforward
from chatsse._sse import Piece
from chatsse._tap import OnDone

__all__ = ["complete_response", "stream_response"]


async def stream_response(
    request: web.Request,
    content: AsyncIterable[Piece],
    *,
    on_done: OnDone,
    close: Callable[[], object] | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    error_frame: bool = True,
    include_usage: bool = True,
    rewrite: Rewriter | None = None,
) -> web.StreamResponse:
    """Prepares a ``web.StreamResponse`` (``text/event-stream`` unless ``headers`` say otherwise)
    and writes the upstream's streamed body to it through the tap (``aforward``): every byte in
    order, whole events only and an ``event: error`` frame if the upstream breaks (``error_frame``),
    the usage-only chunk hidden unless ``include_usage``, rewritten by ``rewrite`` (a new
    chatsse.Rewriter) when given. ``on_done`` runs exactly once, also when
    the client disconnects (a failed write, or the handler cancelled); ``close`` (the upstream
    response's ``release``/``close``) then runs, shielded from that cancellation."""
    response = web.StreamResponse(status=status, headers=headers)
    if response.content_type == "application/octet-stream":
        response.content_type = "text/event-stream"
    forwarded = aforward(content, on_done=on_done, error_frame=error_frame, include_usage=include_usage, rewrite=rewrite)
    try:
        await response.prepare(request)
        async for piece in forwarded:
            await response.write(piece)
        await response.write_eof()
    except ConnectionError:
        pass  # the client is gone (a write raised ClientConnectionResetError): nothing more to send
    finally:
        await asyncio.shield(_finish(forwarded.aclose(), close))
    return response


async def _finish(closing: Awaitable[None], close: Callable[[], object] | None) -> None:
    await closing
    if close is not None:
        outcome = close()  # aiohttp's ClientResponse.release() and close() are plain calls
        if inspect.isawaitable(outcome):
            await outcome


async def complete_response(
    content: AsyncIterable[Piece],
    *,
    on_done: OnDone,
    close: Callable[[], object] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """The answer to a client that did not ask to stream, from a streamed upstream (``acomplete``):
    the non-streamed response body, or the error status and OpenAI-shaped error body."""
    try:
        status, body = await acomplete(content, on_done=on_done)
    finally:
        if close is not None:
            await asyncio.shield(_finish(_nothing(), close))
    return web.Response(body=body, status=status, headers=headers, content_type="application/json")


async def _nothing() -> None:
    return None
