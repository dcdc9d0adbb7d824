"""A drop-in for httpx-sse 0.4.3 on chatsse's framer: ``from chatsse.httpx_sse import connect_sse``.

The API is httpx-sse's: ``connect_sse``/``aconnect_sse`` (they send ``Accept: text/event-stream`` and
``Cache-Control: no-store``), ``EventSource`` (``iter_sse``, ``aiter_sse``, ``response``, the same
Content-Type check), ``ServerSentEvent`` (httpx-sse's constructor, repr and ``json()``) and ``SSEError``
(an ``httpx.TransportError``). The parsing is chatsse's ``SSEDecoder``, which follows the WHATWG rules
where httpx-sse departs from them (the README lists the differences). Needs httpx, imported only here.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from contextlib import asynccontextmanager, contextmanager
from itertools import chain
from typing import Any

import httpx

from chatsse._core import SSEDecoder

from chatsse._core import _HttpxSSEServerSentEvent as ServerSentEvent  # pyright: ignore[reportPrivateUsage]

__all__ = ["EventSource", "SSEError", "ServerSentEvent", "aconnect_sse", "connect_sse"]


class SSEError(httpx.TransportError):
    """The response is not an event stream (its Content-Type lacks ``text/event-stream``)."""


class EventSource:
    """The events of one streamed ``httpx.Response``."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def response(self) -> httpx.Response:
        return self._response

    def _check_content_type(self) -> bool:
        """httpx-sse's check, message included: the media type (parameters dropped) must contain
        ``text/event-stream``. Also answers whether the body is not content-encoded (its raw pieces
        are then the body). One pass over the raw headers: the first ``headers.get`` of a response
        decodes all of its headers, and the two lookups cost ~0.7 us, a tenth of a short stream's
        reading. Comparing bytes finds what comparing the decoded strs does: the names are ASCII."""
        response = self._response
        content_type = encoding = None
        for name, value in response.headers.raw:
            size = len(name)
            if size == 12 and name.lower() == b"content-type":
                content_type = value if content_type is None else content_type + b", " + value
            elif size == 16 and name.lower() == b"content-encoding":
                encoding = value if encoding is None else encoding + b", " + value
        if content_type is None or b"text/event-stream" not in content_type.partition(b";")[0]:
            got = response.headers.get("content-type", "").partition(";")[0]
            raise SSEError(f"Expected response header Content-Type to contain 'text/event-stream', got {got!r}")
        return encoding is None or encoding.strip().lower() in (b"identity", b"")

    def iter_sse(self) -> Iterator[ServerSentEvent]:
        """The events of the body as they arrive. An event that no blank line ended is dropped.
        The Content-Type is checked when iteration starts, as httpx-sse does."""
        # The pieces go to the framer and its events to the caller through C iterators: no Python
        # frame per event, one per piece (README: chatsse.httpx_sse, cost).
        decoder = SSEDecoder._for_httpx_sse()
        return chain.from_iterable(map(decoder.feed, self._pieces()))

    async def aiter_sse(self) -> AsyncIterator[ServerSentEvent]:
        """The async twin of ``iter_sse``."""
        identity = self._check_content_type()
        feed = SSEDecoder._for_httpx_sse().feed
        async for piece in self._apieces(identity):
            for event in feed(piece):
                yield event

    def _pieces(self) -> Iterator[bytes]:
        identity = self._check_content_type()
        response = self._response
        stream = response.stream
        if not (identity and _unread(response)) or not isinstance(stream, httpx.SyncByteStream):
            yield from response.iter_bytes()
            return
        # What Response.iter_raw does, less its chunker and a generator layer per piece (the body
        # is not content-encoded, so the raw pieces are the body).
        response.is_stream_consumed = True
        try:
            for piece in stream:
                yield piece
            # Response.close(), less its context manager (~0.6 us, a tenth of a short stream's
            # reading): the transport's errors are named here as it would name them.
            if not response.is_closed:
                response.is_closed = True
                stream.close()
        except httpx.RequestError as error:
            _name_request(error, response)
            raise

    async def _apieces(self, identity: bool) -> AsyncIterator[bytes]:
        response = self._response
        stream = response.stream
        if not (identity and _unread(response)) or not isinstance(stream, httpx.AsyncByteStream):
            async for piece in response.aiter_bytes():
                yield piece
            return
        response.is_stream_consumed = True
        try:
            async for piece in stream:
                yield piece
            if not response.is_closed:  # Response.aclose(), as in _pieces
                response.is_closed = True
                await stream.aclose()
        except httpx.RequestError as error:
            _name_request(error, response)
            raise


def _unread(response: httpx.Response) -> bool:
    """The stream is unread: with no content encoding its raw pieces are the body as it is. (Else
    ``iter_bytes`` decodes it, or serves a body already read, or raises as httpx does.)"""
    return not (response.is_stream_consumed or response.is_closed)


def _name_request(error: httpx.RequestError, response: httpx.Response) -> None:
    """As httpx's own iteration does: a transport error raised while reading names its request."""
    try:
        error.request  # noqa: B018 -- raises RuntimeError when not set
    except RuntimeError:
        error.request = response.request


def _sse_headers(kwargs: dict[str, Any]) -> httpx.Headers:
    headers = httpx.Headers(kwargs.pop("headers", None))
    headers["Accept"] = "text/event-stream"
    headers["Cache-Control"] = "no-store"
    return headers


@contextmanager
def connect_sse(client: httpx.Client, method: str, url: str, **kwargs: Any) -> Generator[EventSource, None, None]:
    """``client.stream(method, url, ...)`` asking for an event stream, as an EventSource."""
    headers = _sse_headers(kwargs)
    with client.stream(method, url, headers=headers, **kwargs) as response:
        yield EventSource(response)


@asynccontextmanager
async def aconnect_sse(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> AsyncGenerator[EventSource, None]:
    """The async twin of ``connect_sse``."""
    headers = _sse_headers(kwargs)
    async with client.stream(method, url, headers=headers, **kwargs) as response:
        yield EventSource(response)
