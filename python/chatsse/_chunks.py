"""Typed chunk streams over ChunkDecoder, and encoding of the types back to JSON."""

from __future__ import annotations

import typing
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any, Literal

import msgspec

from chatsse import _core
from chatsse._core import DEFAULT_MAX_EVENT_SIZE, ChunkDecoder
from chatsse._errors import ChatSSEError
from chatsse._sse import Piece, check_source
from chatsse.types import ChatCompletionChunk

__all__ = ["aiter_chunks", "decode", "encode", "iter_chunks"]

Format = Literal["auto", "sse", "jsonl"]
"""How a body frames its chunks: SSE ``data:`` events, JSON lines, or detected from the first byte."""


def iter_chunks(
    source: Iterable[Piece],
    *,
    format: Format = "auto",  # noqa: A002
    require_done: bool = True,
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
) -> Iterator[ChatCompletionChunk]:
    """Yield the ``ChatCompletionChunk``s of a streamed response body given as an iterable of byte
    pieces (``httpx``'s ``iter_bytes()``, a file read in blocks, a list). Stops at ``data: [DONE]``
    without reading further. Errors are raised after every chunk before them has been yielded."""
    check_source(source, "iter_chunks")
    decoder = ChunkDecoder(format=format, require_done=require_done, max_event_size=max_event_size)
    feed = decoder.feed
    try:
        for piece in source:
            yield from feed(piece)
            if decoder.done:
                return
        yield from decoder.close()
    except ChatSSEError as error:
        yield from error.chunks
        error.chunks = []
        raise


async def aiter_chunks(
    source: AsyncIterable[Piece],
    *,
    format: Format = "auto",  # noqa: A002
    require_done: bool = True,
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
) -> AsyncIterator[ChatCompletionChunk]:
    """The async twin of iter_chunks (``httpx``'s ``aiter_bytes()``, ``aiohttp``'s ``content.iter_any()``)."""
    check_source(source, "aiter_chunks")
    decoder = ChunkDecoder(format=format, require_done=require_done, max_event_size=max_event_size)
    feed = decoder.feed
    try:
        async for piece in source:
            for chunk in feed(piece):
                yield chunk
            if decoder.done:
                return
        for chunk in decoder.close():
            yield chunk
    except ChatSSEError as error:
        for chunk in error.chunks:
            yield chunk
        error.chunks = []
        raise


encode = _core.encode
"""Compact JSON of a chatsse type, as the API sends it: declared fields in order (absent ones left
out), then the undeclared fields kept from decoding, at every level. Written in Rust
(src/python/encode.rs); values it does not know go through `_encode_python`, byte for byte the same."""


def _encode_python(obj: Any) -> bytes:
    """The Python walk behind `encode`: for the values the Rust walk hands over (other types,
    subclasses, dicts with keys that are not str) and for every error, which it raises as it always did."""
    return msgspec.json.encode(_builtins(obj))


def _builtins(value: Any) -> Any:
    if isinstance(value, msgspec.Struct):
        cls = type(value)  # not the instance: an undeclared "__struct_fields__" lives in its dict
        config = cls.__struct_config__
        out = {config.tag_field: config.tag} if config.tag_field is not None else {}
        for name in cls.__struct_fields__:
            field = getattr(value, name)
            if field is not msgspec.UNSET:
                out[name] = _builtins(field)
        extras = value.__dict__
        if extras:
            for name, field in extras.items():
                out[name] = _builtins(field)
        return out
    if isinstance(value, list):
        return [_builtins(item) for item in value]
    if isinstance(value, dict):
        return {key: _builtins(item) for key, item in value.items()}
    return value


def decode(data: bytes | str | bytearray | memoryview, type: Any) -> Any:  # noqa: A002
    """Decode one JSON document into any type of chatsse.types, or ``list[T]`` of one (a request's
    ``messages``: ``decode(body_messages, list[Message])``), keeping undeclared members as attributes
    like ``decode_chunk`` does. Raises DecodeError; TypeError for a type that is not chatsse's."""
    if typing.get_origin(type) is list:
        (item,) = typing.get_args(type)
        return _core.decode_as(data, item, as_list=True)
    return _core.decode_as(data, type)
