"""chatsse.httpx_sse against httpx-sse 0.4.3: the same API and results where httpx-sse follows the
WHATWG rules (a differential test over generated streams and the corpus), the spec where it does
not (one test per difference listed in the README)."""

from __future__ import annotations

import asyncio
import copy
import json
import pickle
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx_sse as reference
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatsse import httpx_sse
from chatsse.httpx_sse import EventSource, ServerSentEvent, SSEError, aconnect_sse, connect_sse

from conftest import corpus_files


class Body(httpx.SyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    def __iter__(self) -> Iterator[bytes]:
        yield from self.pieces


class AsyncBody(httpx.AsyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece


def response(pieces: list[bytes], content_type: str = "text/event-stream") -> httpx.Response:
    return httpx.Response(200, headers={"content-type": content_type}, stream=Body(pieces))


def ours(pieces: list[bytes], content_type: str = "text/event-stream") -> list[tuple[str, str, str, int | None]]:
    return [(e.event, e.data, e.id, e.retry) for e in EventSource(response(pieces, content_type)).iter_sse()]


def theirs(pieces: list[bytes], content_type: str = "text/event-stream") -> list[tuple[str, str, str, int | None]]:
    return [(e.event, e.data, e.id, e.retry) for e in reference.EventSource(response(pieces, content_type)).iter_sse()]


# --- the API ------------------------------------------------------------------------------------


def handler(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/plain":
        return httpx.Response(200, text="hello")
    return httpx.Response(200, headers={"content-type": "text/event-stream; charset=utf-8"}, content=b"event: a\ndata: 1\n\ndata: 2\n\n")


def test_connect_sse_asks_for_an_event_stream() -> None:
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        with connect_sse(client, "GET", "http://test/sse", headers={"x-key": "k"}, params={"q": "1"}) as source:
            assert source.response.request.headers["accept"] == "text/event-stream"
            assert source.response.request.headers["cache-control"] == "no-store"
            assert source.response.request.headers["x-key"] == "k"
            assert source.response.request.url.params["q"] == "1"
            events = list(source.iter_sse())
    assert [(e.event, e.data) for e in events] == [("a", "1"), ("message", "2")]
    assert all(isinstance(e, ServerSentEvent) for e in events)


def test_aconnect_sse() -> None:
    async def run() -> list[str]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            async with aconnect_sse(client, "POST", "http://test/sse", json={"a": 1}) as source:
                assert source.response.request.headers["accept"] == "text/event-stream"
                return [event.data async for event in source.aiter_sse()]

    assert asyncio.run(run()) == ["1", "2"]


@pytest.mark.parametrize("content_type", ["text/plain; charset=utf-8", "", "application/json"])
def test_content_type_is_checked_as_httpx_sse_does(content_type: str) -> None:
    for module in (httpx_sse, reference):
        source = module.EventSource(httpx.Response(200, headers={"content-type": content_type} if content_type else {}, content=b"data: x\n\n"))
        with pytest.raises(module.SSEError) as raised:
            list(source.iter_sse())
        expected = f"Expected response header Content-Type to contain 'text/event-stream', got {content_type.partition(';')[0]!r}"
        assert str(raised.value) == expected


HEADER_SETS = [
    [(b"Content-Type", b"text/event-stream")],
    [(b"CONTENT-TYPE", b"text/event-stream; charset=utf-8")],
    [(b"content-type", b"text/plain"), (b"content-type", b"text/event-stream")],  # joined, as httpx does
    [(b"content-type", b"text/event-stream"), (b"content-type", b"text/plain; a=b")],
    [(b"content-type", b"application/json; profile=text/event-stream")],  # only in a parameter
    [(b"content-type", b"TEXT/EVENT-STREAM")],  # httpx-sse compares case and all
    [(b"content-type", b"text/event-stream; name=\xe9t\xe9")],  # not ASCII: decoded as Latin-1 by httpx
    [(b"content-type", b"text/\xe9vent-stream")],  # refused, the message shows it decoded
    [(b"content-type-options", b"text/event-stream")],  # another header of the same start
    [(b"x-content-type", b"text/event-stream"), (b"content-type", b"text/html")],
    [],
]


@pytest.mark.parametrize("headers", HEADER_SETS, ids=lambda headers: repr(headers)[:60])
def test_content_type_is_read_from_the_raw_headers_as_httpx_sse_reads_it(headers: list[tuple[bytes, bytes]]) -> None:
    def outcome(module: Any) -> Any:
        made = httpx.Response(200, headers=headers, stream=Body([b"data: x\n\n"]))
        try:
            return [event.data for event in module.EventSource(made).iter_sse()]
        except module.SSEError as error:
            return str(error)

    assert outcome(httpx_sse) == outcome(reference)


@pytest.mark.parametrize("encoding", [b"identity", b" Identity ", b"", b"IDENTITY"])
def test_an_identity_encoding_is_read_as_it_came(encoding: bytes) -> None:
    made = httpx.Response(200, headers=[(b"content-type", b"text/event-stream"), (b"Content-Encoding", encoding)], stream=Body([b"data: a\n", b"\n"]))
    assert [e.data for e in EventSource(made).iter_sse()] == ["a"]
    assert made.is_stream_consumed and made.is_closed


def test_content_type_is_checked_before_reading_async() -> None:
    async def run() -> None:
        source = EventSource(httpx.Response(200, headers={"content-type": "text/html"}, stream=AsyncBody([b"data: x\n\n"])))
        with pytest.raises(SSEError):
            async for _ in source.aiter_sse():
                pass

    asyncio.run(run())


def test_sse_error_is_a_transport_error() -> None:
    assert issubclass(SSEError, httpx.TransportError)


def test_server_sent_event_is_httpx_sses() -> None:
    assert ServerSentEvent() == ServerSentEvent(None, None, None, None)
    for module in (httpx_sse, reference):
        made = module.ServerSentEvent()
        assert (made.event, made.data, made.id, made.retry) == ("message", "", "", None)
        made = module.ServerSentEvent("", "d", "i", 3)
        assert (made.event, made.data, made.id, made.retry) == ("message", "d", "i", 3)
        assert repr(module.ServerSentEvent()) == "ServerSentEvent(event='message')"
        assert repr(module.ServerSentEvent(data="d", retry=3, id="i", event="e")) == "ServerSentEvent(event='e', data='d', id='i', retry=3)"
        assert repr(module.ServerSentEvent(retry=0)) == "ServerSentEvent(event='message', retry=0)"
        assert module.ServerSentEvent(data='{"a": [1]}').json() == {"a": [1]}
        with pytest.raises(json.JSONDecodeError):
            module.ServerSentEvent().json()
    event = ServerSentEvent("e", "d", "i", 7)
    assert pickle.loads(pickle.dumps(event)) == event
    assert copy.copy(event) == event and hash(copy.copy(event)) == hash(event)
    assert type(event).__module__ == "chatsse.httpx_sse"
    with pytest.raises(TypeError, match="argument 'data' must be str, not int"):
        ServerSentEvent(data=1)  # type: ignore[arg-type]


# --- the same events as httpx-sse, where it follows the spec ----------------------------------------

field_lines = st.sampled_from(
    [b"data: x", b"data:y", b"data:  two spaces", b"data", b"data: \xc3\xa9\xe2\x80\xa8", b"event: update", b"event:", b"id: 7", b"id", b"id: a\x00b",
     b"retry: 1500", b"retry: 15x", b": comment", b"unknown: field", b"data: {\"choices\": []}"]
)
line_endings = st.sampled_from([b"\n", b"\r\n", b"\r"])


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    """Blocks that each hold a data line (httpx-sse dispatches data-less blocks, see below), with
    any line endings."""
    body = b""
    for _ in range(draw(st.integers(0, 6))):
        lines = draw(st.lists(field_lines, max_size=5)) + [b"data: last"]
        ending = draw(line_endings)
        body += b"".join(line + ending for line in draw(st.permutations(lines))) + ending
    return body


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_same_events_as_httpx_sse(data: st.DataObject) -> None:
    body = data.draw(streams())
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=6)))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)]) if b > a]
    assert ours(pieces) == theirs(pieces)


@pytest.mark.parametrize("path", corpus_files(), ids=lambda path: path.name)
def test_same_events_as_httpx_sse_on_the_corpus(path: Path) -> None:
    body = path.read_bytes()
    pieces = [body[i : i + 97] for i in range(0, len(body), 97)]
    assert ours(pieces) == theirs(pieces)


def test_async_same_events() -> None:
    body = b"event: a\r\ndata: 1\r\n\r\ndata: 2\rid: 9\r\r"

    async def run(module: Any) -> list[tuple[str, str, str]]:
        source = module.EventSource(httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=AsyncBody([body[:5], body[5:21], body[21:]])))
        return [(e.event, e.data, e.id) async for e in source.aiter_sse()]

    assert asyncio.run(run(httpx_sse)) == asyncio.run(run(reference)) == [("a", "1", ""), ("message", "2", "9")]


# --- where httpx-sse departs from the spec (README: "chatsse.httpx_sse") ------------------------------


def test_a_block_without_data_dispatches_nothing() -> None:
    # Spec, "dispatch the event", step 2: an empty data buffer dispatches nothing.
    body = [b"retry: 10000\n\nid: 5\n\nevent: ping\n\n"]
    assert ours(body) == []
    assert theirs(body) == [("message", "", "", 10000), ("message", "", "5", None), ("ping", "", "5", None)]


def test_blank_lines_after_an_id_dispatch_nothing() -> None:
    body = [b"id: 1\ndata: a\n\n\n: keep-alive\n\n"]
    assert ours(body) == [("message", "a", "1", None)]
    assert theirs(body) == [("message", "a", "1", None), ("message", "", "1", None), ("message", "", "1", None)]


def test_a_leading_bom_is_dropped() -> None:
    body = [b"\xef\xbb\xbfdata: first\n\ndata: second\n\n"]
    assert ours(body) == [("message", "first", "", None), ("message", "second", "", None)]
    assert theirs(body) == [("message", "second", "", None)]


@pytest.mark.parametrize("value, taken_by_httpx_sse", [(b"  5", 5), (b"+5", 5), (b"1_000", 1000), ("\uff15".encode(), 5), (b"-1", -1)])
def test_retry_takes_ascii_digits_only(value: bytes, taken_by_httpx_sse: int) -> None:
    body = [b"retry:" + value + b"\ndata: x\n\n"]
    assert ours(body) == [("message", "x", "", None)]
    assert theirs(body) == [("message", "x", "", taken_by_httpx_sse)]


def test_the_stream_is_utf8_whatever_the_charset_says() -> None:
    body = [b"data: caf\xc3\xa9\n\n"]
    content_type = "text/event-stream; charset=latin-1"
    assert ours(body, content_type) == [("message", "café", "", None)]
    assert theirs(body, content_type) == [("message", "cafÃ©", "", None)]


# --- reading the response as httpx does -------------------------------------------------------------


def test_a_gzip_body_is_decoded() -> None:
    import gzip

    body = gzip.compress(b"data: a\n\ndata: b\n\n")
    made = httpx.Response(200, headers={"content-type": "text/event-stream", "content-encoding": "gzip"}, stream=Body([body[:9], body[9:]]))
    assert [e.data for e in EventSource(made).iter_sse()] == ["a", "b"]
    # The coding's name read as httpx reads it (any case, blank space around it).
    made = httpx.Response(200, headers=[(b"Content-Type", b"text/event-stream"), (b"CONTENT-ENCODING", b" GZip ")], stream=Body([body]))
    assert [e.data for e in EventSource(made).iter_sse()] == ["a", "b"]


def test_a_body_already_read_is_served_and_the_stream_is_closed_after() -> None:
    made = response([b"data: a\n", b"\n"])
    made.read()
    assert [e.data for e in EventSource(made).iter_sse()] == ["a"]
    fresh = response([b"data: a\n", b"\n"])
    assert [e.data for e in EventSource(fresh).iter_sse()] == ["a"]
    assert fresh.is_stream_consumed and fresh.is_closed
    with pytest.raises(httpx.StreamConsumed):
        list(EventSource(fresh).iter_sse())


def test_a_transport_error_names_its_request() -> None:
    class Failing(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield b"data: a\n\n"
            raise httpx.ReadError("reset")

    request = httpx.Request("GET", "http://test/sse")
    made = httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Failing(), request=request)
    seen = []
    with pytest.raises(httpx.ReadError) as raised:
        for event in EventSource(made).iter_sse():
            seen.append(event.data)
    assert seen == ["a"]
    assert raised.value.request is request


def test_the_response_is_closed_at_the_end_and_an_error_in_closing_names_its_request() -> None:
    # What Response.close()/aclose() do, which the direct path does without their context manager.
    class Closing(httpx.SyncByteStream, httpx.AsyncByteStream):
        def __init__(self) -> None:
            self.closed = 0

        def __iter__(self) -> Iterator[bytes]:
            yield b"data: a\n\n"

        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b"data: a\n\n"

        def close(self) -> None:
            self.closed += 1
            raise httpx.ReadError("reset while closing")

        async def aclose(self) -> None:
            self.close()

    request = httpx.Request("GET", "http://test/sse")
    for reading in ("sync", "async"):
        stream = Closing()
        made = httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=stream, request=request)
        seen: list[str] = []

        async def read_async(made: httpx.Response = made, seen: list[str] = seen) -> None:
            async for event in EventSource(made).aiter_sse():
                seen.append(event.data)

        with pytest.raises(httpx.ReadError) as raised:
            if reading == "sync":
                seen.extend(event.data for event in EventSource(made).iter_sse())
            else:
                asyncio.run(read_async())
        assert (seen, stream.closed, made.is_closed, raised.value.request) == (["a"], 1, True, request), reading


def test_iter_sse_checks_the_content_type_lazily() -> None:
    events = EventSource(response([b"data: a\n\n"], "text/html")).iter_sse()
    with pytest.raises(SSEError):
        next(events)
