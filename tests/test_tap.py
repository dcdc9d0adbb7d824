"""The proxy tap (tap/atap, TapResult), the forwarding helpers around it and Accumulator.complete_offset."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import chatsse
from chatsse import Accumulator, TapResult, UpstreamError

from conftest import corpus_files


def sse(*payloads: Any, done: bool = True) -> bytes:
    body = b"".join(b"data: " + (p if isinstance(p, bytes) else json.dumps(p).encode()) + b"\n\n" for p in payloads)
    return body + (b"data: [DONE]\n\n" if done else b"")


def chunk(content: str | None = None, finish: str | None = None, **members: Any) -> dict[str, Any]:
    delta = {} if content is None else {"content": content}
    return {"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **members}


USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5, "cost": 0.25, "is_byok": False}
BODY = sse(chunk("Hel"), chunk("lo", "stop"), {"id": "c1", "choices": [], "usage": USAGE})
ERROR_BODY = sse(chunk("Hel"), done=False) + b'event: error\ndata: {"error": {"message": "boom", "code": 429}}\n\n' + sse(chunk("lo"), done=False)


def pieces(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def run_tap(source: Any, **options: Any) -> tuple[bytes, list[TapResult]]:
    results: list[TapResult] = []
    forwarded = b"".join(chatsse.tap(source, on_done=results.append, **options))
    return forwarded, results


# --- the stream ends ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 7, 64, 10_000])
@pytest.mark.parametrize("aligned", [False, True])
def test_complete_stream(size: int, aligned: bool) -> None:
    forwarded, results = run_tap(pieces(BODY, size), aligned=aligned)
    assert forwarded == BODY
    (result,) = results
    assert result.status == "complete"
    assert result.error is None
    assert result.bytes == len(BODY)
    assert result.chunks == 3
    assert result.finished
    assert json.loads(result.body)["choices"][0]["message"]["content"] == "Hello"
    assert result.completion.choices and result.completion.choices[0].message.content == "Hello"
    assert result.usage is not None and result.usage.token_counts() == chatsse.TokenCounts(3, 2, 5, 0, 0)
    assert result.usage_json == json.dumps(USAGE, separators=(",", ":")).encode()
    assert result.usage.extras() == {"cost": 0.25, "is_byok": False}


def test_unaligned_pieces_are_forwarded_as_they_came() -> None:
    source = [bytearray(b"data: {}\n"), memoryview(b"\ndata: [DONE]\n\n")]
    got = list(chatsse.tap(source, on_done=lambda result: None))
    assert got == source
    assert got[0] is source[0]


def test_aligned_pieces_end_at_events() -> None:
    got = list(chatsse.tap(pieces(BODY, 10), on_done=lambda result: None, aligned=True))
    events = BODY.split(b"\n\n")[:-1]
    ends = {len(b"\n\n".join(events[: i + 1])) + 2 for i in range(len(events))}
    position = 0
    for piece in got:
        position += len(piece)
        assert position in ends
    assert b"".join(got) == BODY


def test_truncated_stream() -> None:
    body = sse(chunk("Hel"), done=False)
    forwarded, (result,) = run_tap([body])
    assert forwarded == body
    assert result.status == "truncated"
    assert isinstance(result.error, chatsse.TruncatedStreamError)
    assert str(result.error) == "the stream ended after 1 chunks without [DONE] or a finish reason on every choice"


@pytest.mark.parametrize("aligned", [False, True])
def test_stream_cut_inside_an_event(aligned: bool) -> None:
    body = sse(chunk("Hel"), done=False) + b'data: {"id": "c1", "choi'
    forwarded, (result,) = run_tap(pieces(body, 5), aligned=aligned)
    # Aligned, the unfinished event is not forwarded: a frame sent after it starts clean.
    assert forwarded == (body[: body.index(b'data: {"id": "c1", "choi')] if aligned else body)
    assert result.status == "truncated"
    assert isinstance(result.error, chatsse.TruncatedStreamError)
    assert json.loads(result.body)["choices"][0]["message"]["content"] == "Hel"


@pytest.mark.parametrize("aligned", [False, True])
def test_a_last_event_without_its_blank_line_is_forwarded_and_merged(aligned: bool) -> None:
    body = sse(chunk("Hel", "stop"), done=False) + b"data: [DONE]\n"
    forwarded, (result,) = run_tap(pieces(body, 3), aligned=aligned)
    assert forwarded == body
    assert result.status == "complete"


@pytest.mark.parametrize("size", [1, 9, 1000])
def test_provider_error_is_recorded_and_forwarding_goes_on(size: int) -> None:
    forwarded, (result,) = run_tap(pieces(ERROR_BODY, size))
    assert forwarded == ERROR_BODY
    assert result.status == "upstream_error"
    assert isinstance(result.error, UpstreamError)
    assert result.error.message == "boom"
    # Everything that arrived is merged, what came after the error frame too.
    assert json.loads(result.body)["choices"][0]["message"]["content"] == "Hello"


def test_bad_payload_is_an_upstream_error_and_merging_goes_on() -> None:
    body = sse(chunk("a"), b"{not json", chunk("b", "stop"))
    forwarded, (result,) = run_tap([body])
    assert forwarded == body
    assert result.status == "upstream_error"
    assert isinstance(result.error, chatsse.DecodeError)
    assert json.loads(result.body)["choices"][0]["message"]["content"] == "ab"


def test_a_provider_error_wins_over_a_bad_payload_before_it() -> None:
    # Aligned, each piece is read as it passes. Unaligned, pieces are read in batches, and a feed
    # raises the first error of its input: the bad payload is what is kept, the status the same.
    body = [sse(b"{bad", done=False), b'event: error\ndata: {"error": {"message": "x"}}\n\n']
    _, (result,) = run_tap(body, aligned=True)
    assert isinstance(result.error, UpstreamError)
    _, (result,) = run_tap(body)
    assert result.status == "upstream_error" and isinstance(result.error, chatsse.DecodeError)


def test_unaligned_pieces_are_read_in_bounded_batches() -> None:
    big = sse(*[chunk("x" * 1000) for _ in range(200)], chunk("", "stop"))
    results: list[TapResult] = []
    tapped = chatsse.tap(pieces(big, 1000), on_done=results.append)
    for _ in range(70):
        next(tapped)
    # 70 kB passed: the first 64 KiB batch has been read, the rest is held.
    tapped.close()
    (result,) = results
    assert result.status == "client_disconnected"
    assert result.bytes == 70_000
    assert json.loads(result.body)["choices"][0]["message"]["content"] == "x" * 1000 * (result.chunks)


def test_a_reused_buffer_is_held_as_a_copy() -> None:
    buffer = bytearray(BODY)
    results: list[TapResult] = []
    for piece in chatsse.tap([buffer], on_done=results.append):
        assert piece is buffer
        buffer[:] = b"x" * len(buffer)  # the owner reuses its buffer once the piece is forwarded
    assert results[0].status == "complete"


def test_over_long_event_stops_reading_not_forwarding() -> None:
    body = b"data: " + b"x" * 100 + b"\n\n" + sse(chunk("a"))
    for aligned in (False, True):
        forwarded, (result,) = run_tap(pieces(body, 16), aligned=aligned, max_event_size=50)
        assert forwarded == body
        assert result.status == "upstream_error"
        assert isinstance(result.error, chatsse.EventTooLargeError)


# --- the stream is interrupted ------------------------------------------------------------------


class Broken(Exception):
    pass


def failing_source(body: bytes, after: int) -> Iterator[bytes]:
    yield from pieces(body, 10)[:after]
    raise Broken("connection reset")


def test_source_failure_reports_then_raises() -> None:
    results: list[TapResult] = []
    forwarded = []
    with pytest.raises(Broken):
        for piece in chatsse.tap(failing_source(BODY, 3), on_done=results.append):
            forwarded.append(piece)
    assert b"".join(forwarded) == BODY[:30]
    (result,) = results
    assert result.status == "upstream_failed"
    assert isinstance(result.error, Broken)
    assert result.bytes == 30


def test_consumer_stopping_early_is_a_client_disconnect_and_closes_the_source() -> None:
    closed = []

    def source() -> Iterator[bytes]:
        try:
            yield from pieces(BODY, 10)
        finally:
            closed.append(True)

    results: list[TapResult] = []
    tapped = chatsse.tap(source(), on_done=results.append)
    assert next(tapped) == BODY[:10]
    assert results == []
    tapped.close()
    (result,) = results
    assert result.status == "client_disconnected"
    assert result.error is None
    assert closed == [True]
    tapped.close()
    assert len(results) == 1


def test_consumer_stopping_after_done_is_complete() -> None:
    results: list[TapResult] = []
    tapped = chatsse.tap([BODY, b": trailing comment\n\n"], on_done=results.append)
    assert next(tapped) == BODY
    tapped.close()
    assert results[0].status == "complete"


def test_on_done_errors_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def on_done(result: TapResult) -> None:
        raise RuntimeError("billing down")

    with caplog.at_level(logging.ERROR, logger="chatsse"):
        assert b"".join(chatsse.tap([BODY], on_done=on_done)) == BODY
    assert "on_done raised for a stream that ended complete" in caplog.text
    assert "billing down" in caplog.text


def test_sync_tap_refuses_a_coroutine_function() -> None:
    async def on_done(result: TapResult) -> None:
        pass

    with pytest.raises(TypeError, match="use atap"):
        chatsse.tap([BODY], on_done=on_done)  # type: ignore[arg-type]


# --- async --------------------------------------------------------------------------------------


async def async_source(items: list[bytes], fail: bool = False, delay: float = 0) -> AsyncIterator[bytes]:
    for item in items:
        if delay:
            await asyncio.sleep(delay)
        yield item
    if fail:
        raise Broken("reset")


@pytest.mark.parametrize("asynchronous_callback", [False, True])
def test_atap_complete_and_failed(asynchronous_callback: bool) -> None:
    results: list[TapResult] = []

    async def async_on_done(result: TapResult) -> None:
        await asyncio.sleep(0)
        results.append(result)

    on_done = async_on_done if asynchronous_callback else results.append

    async def run() -> bytes:
        out = b"".join([piece async for piece in chatsse.atap(async_source(pieces(ERROR_BODY, 7)), on_done=on_done)])
        with pytest.raises(Broken):
            async for _ in chatsse.atap(async_source(pieces(BODY, 7)[:2], fail=True), on_done=on_done, aligned=True):
                pass
        return out

    assert asyncio.run(run()) == ERROR_BODY
    assert [result.status for result in results] == ["upstream_error", "upstream_failed"]


def test_atap_cancelled_runs_an_async_on_done_to_its_end() -> None:
    finished: list[str] = []

    async def on_done(result: TapResult) -> None:
        await asyncio.sleep(0.01)  # would be cut short if awaited inside the cancelled task
        finished.append(result.status)

    async def consume() -> None:
        async for _ in chatsse.atap(async_source(pieces(BODY, 4), delay=0.01), on_done=on_done):
            pass

    async def run() -> None:
        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.035)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.05)

    asyncio.run(run())
    assert finished == ["client_disconnected"]


def test_atap_async_on_done_survives_a_cancellation_while_it_runs() -> None:
    finished: list[str] = []
    started = asyncio.Event()

    async def on_done(result: TapResult) -> None:
        started.set()
        await asyncio.sleep(0.03)
        finished.append(result.status)

    async def consume() -> None:
        async for _ in chatsse.atap(async_source([BODY]), on_done=on_done):
            pass

    async def run() -> None:
        task = asyncio.ensure_future(consume())
        await started.wait()
        task.cancel()  # the client goes while the bill is being written
        with pytest.raises(asyncio.CancelledError):
            await task
        assert finished == []
        await asyncio.sleep(0.06)

    asyncio.run(run())
    assert finished == ["complete"]


def test_atap_an_async_on_done_that_waits_for_nothing_runs_without_a_task() -> None:
    # A bill that waits for nothing (a counter, a queue's put_nowait) runs in the tap's own task: a
    # task and a shield per stream cost tens of microseconds of the event loop.
    finished: list[str] = []
    made: list[object] = []

    async def on_done(result: TapResult) -> None:
        finished.append(result.status)

    async def run() -> None:
        loop = asyncio.get_running_loop()

        def counting_factory(loop: asyncio.AbstractEventLoop, coroutine: Any, **options: Any) -> asyncio.Task[Any]:
            made.append(coroutine)
            return asyncio.Task(coroutine, loop=loop, **options)

        loop.set_task_factory(counting_factory)  # type: ignore[arg-type]
        async for _ in chatsse.atap(async_source(pieces(BODY, 9)), on_done=on_done):
            pass
        assert finished == ["complete"]  # done when the tap ends, not in a later loop turn
        assert [getattr(coroutine, "__qualname__", coroutine) for coroutine in made] == []

    asyncio.run(run())


def test_atap_an_async_on_done_that_waits_gets_what_it_awaits() -> None:
    # After its first step ran in the tap, the rest runs in a task: values and exceptions of what it
    # awaits reach it as they would have without the tap.
    seen: list[object] = []

    async def failing() -> None:
        await asyncio.sleep(0)
        raise KeyError("billing down")

    async def on_done(result: TapResult) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        loop.call_soon(future.set_result, 42)
        seen.append(await future)
        seen.append(await asyncio.sleep(0, result="slept"))
        try:
            await failing()
        except KeyError as error:
            seen.append(error.args[0])
        seen.append(result.status)

    async def run() -> None:
        async for _ in chatsse.atap(async_source(pieces(BODY, 9)), on_done=on_done):
            pass
        assert seen == [42, "slept", "billing down", "complete"]  # awaited before the tap ended

    asyncio.run(run())


def test_atap_an_async_on_done_raising_after_it_waited_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def on_done(result: TapResult) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("billing down")

    async def run() -> bytes:
        return b"".join([piece async for piece in chatsse.atap(async_source(pieces(BODY, 9)), on_done=on_done)])

    with caplog.at_level(logging.ERROR, logger="chatsse"):
        assert asyncio.run(run()) == BODY
    assert "billing down" in caplog.text


def test_atap_aclose_awaits_on_done() -> None:
    finished: list[str] = []

    async def on_done(result: TapResult) -> None:
        await asyncio.sleep(0)
        finished.append(result.status)

    async def run() -> None:
        tapped = chatsse.atap(async_source(pieces(BODY, 4)), on_done=on_done)
        await tapped.__anext__()
        await tapped.aclose()  # type: ignore[attr-defined]
        assert finished == ["client_disconnected"]

    asyncio.run(run())


# --- forwarding helpers -------------------------------------------------------------------------


def collect_forward(source: AsyncIterator[bytes], **options: Any) -> tuple[bytes, list[TapResult]]:
    results: list[TapResult] = []

    async def run() -> bytes:
        return b"".join([piece async for piece in chatsse.aforward(source, on_done=results.append, **options)])

    return asyncio.run(run()), results


def test_aforward_appends_an_error_frame_when_the_upstream_breaks() -> None:
    cut = BODY[: BODY.index(b"\n\n") + 40]  # one whole event, and a part of the next
    out, (result,) = collect_forward(async_source(pieces(cut, 7), fail=True))
    whole_events = cut[: cut.rindex(b"\n\n") + 2]
    frame = b'event: error\ndata: {"error":{"message":"the upstream failed: Broken: reset","type":"upstream_error","param":null,"code":null}}\n\n'
    assert out == whole_events + frame
    assert result.status == "upstream_failed"


def test_aforward_appends_an_error_frame_when_the_body_is_truncated() -> None:
    out, (result,) = collect_forward(async_source([sse(chunk("a"), done=False)]))
    assert result.status == "truncated"
    assert out.endswith(b"\n\nevent: error\n" + b"data: " + chatsse.error_body(result.error) + b"\n\n")  # type: ignore[arg-type]


def test_aforward_keeps_a_provider_error_as_it_came() -> None:
    out, (result,) = collect_forward(async_source(pieces(ERROR_BODY, 5)))
    assert out == ERROR_BODY
    assert result.status == "upstream_error"


def test_aforward_without_error_frame_forwards_untouched() -> None:
    out, _ = collect_forward(async_source(pieces(BODY[:50], 7)), error_frame=False)
    assert out == BODY[:50]


def test_aforward_hides_the_usage_chunk() -> None:
    out, (result,) = collect_forward(async_source(pieces(BODY, 11)), include_usage=False)
    assert out == sse(chunk("Hel"), chunk("lo", "stop"))
    assert result.usage_json is not None


def test_acomplete() -> None:
    async def run(source: AsyncIterator[bytes]) -> tuple[int, bytes]:
        return await chatsse.acomplete(source, on_done=lambda result: None)

    status, body = asyncio.run(run(async_source([BODY])))
    assert status == 200
    assert json.loads(body)["usage"] == USAGE
    status, body = asyncio.run(run(async_source([ERROR_BODY])))
    assert (status, json.loads(body)) == (429, {"error": {"message": "boom", "code": 429, "type": "upstream_error", "param": None}})
    status, body = asyncio.run(run(async_source([BODY[:40]], fail=True)))
    assert status == 502 and json.loads(body)["error"]["message"] == "the upstream failed: Broken: reset"
    status, body = asyncio.run(run(async_source([sse(chunk("a"), done=False)])))
    assert status == 502 and json.loads(body)["error"]["message"].startswith("the upstream response ended early")


def test_drop_usage_chunks_keeps_every_other_byte() -> None:
    usage_chunk = b'data: {"choices": [], "usage": {"total_tokens": 5}}\r\n\r\n'
    other = b'data: {"choices": [], "usage": null}\r\n\r\n: keep-alive\r\n\r\ndata: {"choices":[],"x":1}\n\n'
    assert chatsse.drop_usage_chunks(other + usage_chunk + b"data: [DONE]\r\n\r\n") == other + b"data: [DONE]\r\n\r\n"
    assert chatsse.drop_usage_chunks(b"data: [DONE]\n\n") == b"data: [DONE]\n\n"


# --- error mapping and the request ----------------------------------------------------------------


def upstream_error(payload: dict[str, Any]) -> UpstreamError:
    return UpstreamError.from_payload(json.dumps(payload), 0, "error")


@pytest.mark.parametrize(
    "error, status",
    [
        (upstream_error({"error": {"message": "m", "code": 400}}), 400),  # OpenRouter
        (upstream_error({"error": {"message": "m", "code": "tool_use_failed", "status_code": 400}}), 400),  # Groq
        (upstream_error({"object": "error", "message": "m", "code": 404}), 404),  # vLLM
        (upstream_error({"error": {"message": "m", "code": "429"}}), 429),
        (upstream_error({"error": {"message": "m", "type": "server_error"}}), 502),
        (upstream_error({"error": {"message": "m", "code": 200}}), 502),
        (upstream_error({"error": {"message": "m", "code": True}}), 502),
        (Broken("x"), 502),
        (TimeoutError("t"), 504),
        (asyncio.TimeoutError(), 504),
        (__import__("httpx").ConnectTimeout("t"), 504),
        (__import__("httpx").ConnectError("t"), 502),
    ],
)
def test_error_status(error: BaseException, status: int) -> None:
    assert chatsse.error_status(error) == status


def test_error_body_and_event() -> None:
    error = upstream_error({"error": {"message": "m", "code": "tool_use_failed", "status_code": 400, "failed_generation": "{}"}})
    expected = {"error": {"message": "m", "code": "tool_use_failed", "status_code": 400, "failed_generation": "{}", "type": "upstream_error", "param": None}}
    assert json.loads(chatsse.error_body(error)) == expected
    assert chatsse.error_event(error) == b"event: error\ndata: " + chatsse.error_body(error) + b"\n\n"
    assert json.loads(chatsse.error_body(Broken())) == {"error": {"message": "the upstream failed: Broken", "type": "upstream_error", "param": None, "code": None}}


@pytest.mark.parametrize(
    "request_body, stream, include_usage",
    [
        ({"model": "m"}, False, False),
        ({"model": "m", "stream": True}, True, False),
        ({"model": "m", "stream": True, "stream_options": {"include_usage": True, "x": 1}}, True, True),
        ({"model": "m", "stream": False, "stream_options": {"include_usage": True}}, False, False),
    ],
)
def test_stream_request(request_body: dict[str, Any], stream: bool, include_usage: bool) -> None:
    for given in (request_body, json.dumps(request_body), json.dumps(request_body).encode()):
        made = chatsse.stream_request(given)
        assert (made.stream, made.include_usage) == (stream, include_usage)
        sent = json.loads(made.body)
        assert sent == {**request_body, "stream": True, "stream_options": {**request_body.get("stream_options", {}), "include_usage": True}}
    with pytest.raises(ValueError, match="JSON object, not list"):
        chatsse.stream_request(b"[]")


# --- Accumulator.complete_offset over the corpus --------------------------------------------------


@pytest.mark.parametrize("path", corpus_files(), ids=lambda path: path.name)
def test_complete_offset_cuts_only_at_event_ends(path: Path) -> None:
    body = path.read_bytes()
    accumulator = Accumulator()
    offsets = []
    for piece in pieces(body, 13):
        try:
            accumulator.feed(piece)
        except chatsse.ChatSSEError:
            pass
        offsets.append(accumulator.complete_offset)
    # Every offset is the end of a blank line, and the last one the end of the body's last event.
    for offset in offsets:
        assert offset == 0 or body[:offset].endswith((b"\n\n", b"\r\n\r\n", b"\r\r"))
        assert chatsse.SSEDecoder().close() is False
        decoder = chatsse.SSEDecoder()
        decoder.feed(body[:offset])
        assert decoder.close() is False  # nothing unfinished before the offset
    assert offsets == sorted(offsets)
    assert offsets[-1] == len(body) - (0 if body.endswith(b"\n\n") else len(body) - body.rindex(b"\n\n") - 2)
