"""Starlette (and FastAPI, and any ASGI app built on Starlette's responses) adapters for the tap.

Needs starlette, imported only here (``pip install 'chatsse[asgi]'``).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Mapping

import anyio
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from chatsse._core import Rewriter
from chatsse._proxy import acomplete, aforward
from chatsse._sse import Piece
from chatsse._tap import OnDone

__all__ = ["TapStreamingResponse", "complete_response"]


class TapStreamingResponse(StreamingResponse):
    """A StreamingResponse that forwards an upstream's streamed body through the tap (``aforward``):
    every byte in order, whole events only and an ``event: error`` frame if the upstream breaks
    (``error_frame``), the usage-only chunk hidden unless ``include_usage``, rewritten by ``rewrite``
    (a new chatsse.Rewriter) when given. ``on_done`` runs exactly
    once, also when the client disconnects; then ``close`` (the upstream response's ``aclose``) is
    awaited, shielded from the cancellation that a disconnect brings, so the upstream connection is
    released whatever happened."""

    def __init__(
        self,
        content: AsyncIterable[Piece],
        *,
        on_done: OnDone,
        close: Callable[[], Awaitable[object]] | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str = "text/event-stream",
        error_frame: bool = True,
        include_usage: bool = True,
        rewrite: Rewriter | None = None,
    ) -> None:
        self._forwarded = aforward(content, on_done=on_done, error_frame=error_frame, include_usage=include_usage, rewrite=rewrite)
        self._close_upstream = close
        super().__init__(self._forwarded, status_code=status_code, headers=headers, media_type=media_type)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._forwarded.aclose()  # a client gone mid-stream: the tap reports now
                if self._close_upstream is not None:
                    await self._close_upstream()


async def complete_response(
    content: AsyncIterable[Piece],
    *,
    on_done: OnDone,
    close: Callable[[], Awaitable[object]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The answer to a client that did not ask to stream, from a streamed upstream: the whole body
    read through the tap, then the non-streamed response (``TapResult.body``) or the error status
    and OpenAI-shaped error body (``acomplete``)."""
    try:
        status, body = await acomplete(content, on_done=on_done)
    finally:
        if close is not None:
            with anyio.CancelScope(shield=True):
                await close()
    return Response(body, status_code=status, headers=headers, media_type="application/json")
