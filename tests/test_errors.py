"""Errors are values: every chatsse exception pickles and copies with all its attributes, and crosses a
process boundary (a ProcessPoolExecutor worker's error reaches the parent whole)."""

from __future__ import annotations

import copy
import pickle
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

import chatsse
from chatsse import (
    ChatSSEError,
    DecodeError,
    DecoderClosedError,
    EventTooLargeError,
    ServerSentEvent,
    TruncatedStreamError,
    UpstreamError,
    types,
)


def raised(make: Any) -> ChatSSEError:
    with pytest.raises(ChatSSEError) as caught:
        make()
    return caught.value


def every_error() -> list[ChatSSEError]:
    decode = raised(lambda: chatsse.decode_chunk(b'{"id": 5}'))
    decode.completion = types.ChatCompletion(id="c", choices=[types.Choice(index=0, finish_reason="stop")])
    chunks = raised(lambda: list(chatsse.ChunkDecoder().feed(b'data: {"id":"a"}\n\ndata: {"id":5}\n\n')))
    too_large = raised(lambda: chatsse.SSEDecoder(max_event_size=8).feed(b"data: a\n\ndata: 123456789\n\n"))
    truncated = raised(lambda: chatsse.ChunkDecoder().close())
    upstream = raised(lambda: chatsse.decode_chunk(b'{"error": {"message": "slow down", "type": "rate", "code": 429, "param": "x"}}'))
    closed_decoder = chatsse.SSEDecoder()
    closed_decoder.close()
    closed = raised(lambda: closed_decoder.feed(b"x"))
    return [decode, chunks, too_large, truncated, upstream, closed]


def attributes(error: BaseException) -> dict[str, Any]:
    return {"type": type(error), "args": error.args, "str": str(error), **vars(error)}


def test_every_error_has_what_the_test_compares() -> None:
    kinds = [type(error) for error in every_error()]
    assert kinds == [DecodeError, DecodeError, EventTooLargeError, TruncatedStreamError, UpstreamError, DecoderClosedError]
    decode, chunks, too_large, truncated, upstream, _ = every_error()
    assert (decode.path, decode.position) == ("$.id", 7)
    assert [chunk.id for chunk in chunks.chunks] == ["a"]
    assert too_large.events == [ServerSentEvent("a")] and too_large.limit == 8  # type: ignore[attr-defined]
    assert upstream.code == 429 and upstream.error["type"] == "rate"  # type: ignore[attr-defined]
    assert truncated.offset == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("copier", [pickle.loads, copy.copy, copy.deepcopy], ids=["pickle", "copy", "deepcopy"])
def test_errors_pickle_and_copy_with_every_attribute(copier: Any) -> None:
    for error in every_error():
        again = copier(pickle.dumps(error)) if copier is pickle.loads else copier(error)
        assert again is not error
        assert attributes(again) == attributes(error)


def fail_in_worker(payload: bytes) -> None:
    chatsse.decode_chunk(payload)


def test_an_error_crosses_a_process_pool() -> None:
    with ProcessPoolExecutor(max_workers=1) as pool:
        future = pool.submit(fail_in_worker, b'{"choices": [{"index": "zero"}]}')
        with pytest.raises(DecodeError) as caught:
            future.result(timeout=60)
    assert (caught.value.path, caught.value.position, caught.value.offset) == ("$.choices[0].index", 23, 23)
    assert caught.value.excerpt.startswith('{"choices": [{"index": >>>"zero"')
