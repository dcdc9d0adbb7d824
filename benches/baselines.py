"""The pure-Python alternatives the benchmarks measure chatsse against, written as well as Python allows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import msgspec

from chatsse.types import ChatCompletionChunk

_chunk_decoder = msgspec.json.Decoder(ChatCompletionChunk)


def python_split_payloads(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """The fastest correct-enough incremental splitter in Python: LF framing only (what OpenAI sends),
    one `data:` line per event, no comments, no CR. Stops at [DONE]."""
    buffer = b""
    for piece in pieces:
        buffer += piece
        events = buffer.split(b"\n\n")
        buffer = events.pop()
        for event in events:
            if event.startswith(b"data: "):
                payload = event[6:]
                if payload == b"[DONE]":
                    return
                yield payload


def python_split_msgspec_chunks(pieces: Iterable[bytes]) -> Iterator[ChatCompletionChunk]:
    """Frames split in Python, payloads decoded by msgspec into the same Structs chatsse returns."""
    decode = _chunk_decoder.decode
    for payload in python_split_payloads(pieces):
        yield decode(payload)
