"""Threads (README, Threads): each pyclass refuses a second call with ConcurrentUseError and stays
usable; many threads with their own objects get exactly the one-thread results (under
pytest-run-parallel as well as with threads of their own); one object shared by many threads is never
corrupted; `Accumulator.feed` lets other threads run on large pieces; the collector is never switched
off where other threads or Python code could see it.
"""

from __future__ import annotations

import gc
import json
import re
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import chatsse
import chatsse.types
from chatsse import Accumulator, ChunkDecoder, ConcurrentUseError, Rewriter, SSEDecoder
from chatsse._bench import answer_payloads, logprob_payloads, reasoning_payloads, sse_body, tool_call_payloads

THREADS = 8
FREE_THREADED = not getattr(sys, "_is_gil_enabled", lambda: True)()


def content_chunk(text: str, index: int = 0) -> bytes:
    payload = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
               "choices": [{"index": index, "delta": {"content": text}, "finish_reason": None}]}
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def in_another_thread(call: Callable[[], Any]) -> BaseException | None:
    """Runs `call` in a new thread, waits for it; what it raised, or None."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as error:  # noqa: BLE001 -- handed back to the test
            raised.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return raised[0] if raised else None


# 1. A second call on one object, made while the first runs Python code: from another thread, and
# from the same one. (No other Python code runs inside these calls on a GIL build: the code that runs
# is the iterator given to feed_all, or a buffer's __buffer__, Python 3.12+.)


def assert_refused(error: BaseException | None, class_name: str) -> None:
    assert isinstance(error, ConcurrentUseError), error
    assert isinstance(error, RuntimeError)  # what pyo3's bare "Already borrowed" was
    assert str(error) == (
        f"this {class_name} is in use by a call that has not returned (another thread's, or one that is running"
        " the code that made this call); an object of this class takes one call at a time: give each thread"
        " its own, or hold a lock around its use"
    )


def test_accumulator_refuses_a_second_call_while_feed_all_runs_its_iterator() -> None:
    accumulator = Accumulator()
    refused: dict[str, BaseException | None] = {}

    def pieces() -> Iterator[bytes]:
        yield content_chunk("a")
        # feed_all holds the accumulator while it asks the iterator for the next piece.
        refused["feed"] = in_another_thread(lambda: accumulator.feed(content_chunk("x")))
        refused["completion"] = in_another_thread(accumulator.completion)
        refused["chunks"] = in_another_thread(lambda: accumulator.chunks)
        try:
            accumulator.add(content_chunk("y")[6:-2])
        except ConcurrentUseError as error:  # the same thread, re-entering
            refused["same thread"] = error
        yield content_chunk("b")

    accumulator.feed_all(pieces())
    for error in refused.values():
        assert_refused(error, "Accumulator")
    assert set(refused) == {"feed", "completion", "chunks", "same thread"}
    # The refused calls changed nothing; the accumulator goes on.
    assert accumulator.chunks == 2
    accumulator.feed(content_chunk("c") + b"data: [DONE]\n\n")
    assert accumulator.completion().choices[0].message.content == "abc"


class CallingBuffer:
    """A bytes-like object whose buffer export runs `call` first (Python 3.12+ `__buffer__`)."""

    def __init__(self, data: bytes, call: Callable[[], None]) -> None:
        self.data = data
        self.call = call

    def __buffer__(self, flags: int) -> memoryview:
        self.call()
        return memoryview(self.data)


needs_buffer_protocol = pytest.mark.skipif(sys.version_info < (3, 12), reason="__buffer__ is Python 3.12+")


@needs_buffer_protocol
@pytest.mark.parametrize("make", [SSEDecoder, ChunkDecoder, Accumulator, Rewriter], ids=lambda make: make.__name__)
def test_a_second_call_during_feed_is_refused(make: Callable[[], Any]) -> None:
    decoder = make()
    refused: list[BaseException | None] = []

    def during_feed() -> None:
        refused.append(in_another_thread(lambda: decoder.feed(content_chunk("x"))))
        refused.append(in_another_thread(lambda: repr(decoder)))
        refused.append(in_another_thread(lambda: decoder.offset if make in (SSEDecoder, ChunkDecoder) else decoder.done))

    decoder.feed(CallingBuffer(content_chunk("a"), during_feed))
    assert len(refused) == 3
    for error in refused:
        assert_refused(error, make.__name__)
    result = decoder.feed(content_chunk("b"))
    if make is SSEDecoder:
        assert [event.data for event in result] == [content_chunk("b")[6:-2].decode()]
        assert decoder.offset == 2 * len(content_chunk("a"))
    elif make is ChunkDecoder:
        assert [chunk.choices[0].delta.content for chunk in result] == ["b"]
    else:
        assert decoder.completion().choices[0].message.content == "ab"


# 2. Many threads, each with its own objects: exactly what one thread gets.

BODIES = [
    sse_body(answer_payloads(300, seed=1)),
    sse_body(tool_call_payloads(calls=3, seed=2)),
    sse_body(reasoning_payloads(200, 100, seed=3)),
    sse_body(logprob_payloads(100, seed=4)),
]


def cut(body: bytes, size: int) -> list[bytes]:
    return [body[at : at + size] for at in range(0, len(body), size)]


def everything_of(body: bytes) -> tuple[Any, ...]:
    """Every class and function on one body, as one thread sees it."""
    events = SSEDecoder().feed(body)
    chunks = ChunkDecoder().feed(body)
    accumulator = Accumulator()
    for piece in cut(body, 5000):  # pieces from 4 KiB on are fed with the GIL released
        accumulator.feed(piece)
    accumulator.close()
    completion = accumulator.completion()
    document = chatsse.encode(completion)
    return (
        [(event.event, event.data) for event in events],
        [chatsse.encode(chunk) for chunk in chunks],
        accumulator.to_json(),
        chatsse.encode(chatsse.decode_completion(document)),
        chatsse.encode(chatsse.accumulate(cut(body, 64))),
        accumulator.usage,
    )


EXPECTED = [everything_of(body) for body in BODIES]


def test_threads_with_their_own_objects_get_the_one_thread_results() -> None:
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(everything_of, BODIES * 6))
    assert results == EXPECTED * 6


@pytest.mark.force_parallel_threads(THREADS)
def test_under_pytest_run_parallel() -> None:
    """pytest-run-parallel runs this body in THREADS threads at once."""
    for body, expected in zip(BODIES, EXPECTED):
        assert everything_of(body) == expected


# 3. One object shared by many threads: each call is done whole or refused whole.


def test_one_accumulator_shared_by_many_threads() -> None:
    """Each piece is whole events of one character each, so whichever order the threads' feeds take,
    the content is one character per event merged and nothing else. Pieces are 4 KiB or more: fed with
    the GIL released, so that on every build the threads do meet inside feed."""
    event = content_chunk("a")
    piece = event * (5000 // len(event) + 1)
    events_per_piece = piece.count(b"data: ")
    accumulator = Accumulator()
    merged = [0] * THREADS
    refused = [0] * THREADS
    start = threading.Barrier(THREADS)

    def feeder(me: int) -> None:
        start.wait()
        for _ in range(200):
            try:
                accumulator.feed(piece)
                merged[me] += 1
            except ConcurrentUseError:
                refused[me] += 1
            try:
                accumulator.completion()
            except ConcurrentUseError:
                pass

    threads = [threading.Thread(target=feeder, args=(me,)) for me in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(merged) + sum(refused) == THREADS * 200
    assert sum(merged) >= 200
    assert accumulator.chunks == sum(merged) * events_per_piece
    assert accumulator.completion().choices[0].message.content == "a" * accumulator.chunks


@pytest.mark.parametrize("make", [SSEDecoder, ChunkDecoder], ids=lambda make: make.__name__)
def test_one_decoder_shared_by_many_threads(make: Callable[[], Any]) -> None:
    """Every call either returns all of its piece's events or is refused (ConcurrentUseError, on a
    free-threaded build): no event is split, lost or made twice."""
    event = content_chunk("a")
    decoder = make()
    got = [0] * THREADS
    refused = [0] * THREADS
    start = threading.Barrier(THREADS)

    def feeder(me: int) -> None:
        start.wait()
        for _ in range(300):
            try:
                got[me] += len(decoder.feed(event * 3))
            except ConcurrentUseError:
                refused[me] += 1

    threads = [threading.Thread(target=feeder, args=(me,)) for me in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    fed = THREADS * 300 - sum(refused)
    assert sum(got) == fed * 3
    assert decoder.offset == fed * 3 * len(event)
    if not FREE_THREADED:
        assert sum(refused) == 0  # with the GIL, no Python code runs inside these feeds


def test_functions_shared_by_many_threads() -> None:
    documents = [row[3] for row in EXPECTED]
    with ThreadPoolExecutor(THREADS) as pool:
        again = list(pool.map(lambda document: chatsse.encode(chatsse.decode_completion(document)), documents * 25))
    assert again == documents * 25


# 4. The GIL is released in Accumulator.feed on large pieces.


def test_other_threads_run_while_a_large_piece_is_fed() -> None:
    """A second thread, spinning on the accumulator while the main thread feeds one 47 MB piece (~50 ms
    of work), finds it in use: it ran during the feed. Holding the GIL through the feed, it could not."""
    payloads = answer_payloads(150_000, seed=9)
    body = sse_body(payloads)
    accumulator = Accumulator()
    spinning = threading.Event()
    feeding = True
    seen_in_use = 0

    def spin() -> None:
        nonlocal seen_in_use
        while feeding:
            try:
                _ = accumulator.chunks
            except ConcurrentUseError:
                seen_in_use += 1
            spinning.set()

    spinner = threading.Thread(target=spin)
    spinner.start()
    spinning.wait()
    accumulator.feed(body)
    feeding = False
    spinner.join()
    assert accumulator.chunks == len(payloads)
    assert seen_in_use > 0


# 5. The garbage collector.


@pytest.fixture
def post_init_probe(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bool, bool]]:
    """Message.__post_init__ (the one class with one) calls types._typed_content_parts: record, there, whether the collector is on
    for this thread and for another thread started from there."""
    seen: list[tuple[bool, bool]] = []
    original = chatsse.types._typed_content_parts

    def probe(content: Any) -> Any:
        elsewhere: list[bool] = []
        in_another_thread(lambda: elsewhere.append(gc.isenabled()))
        seen.append((gc.isenabled(), elsewhere[0]))
        return original(content)

    monkeypatch.setattr(chatsse.types, "_typed_content_parts", probe)
    return seen


MESSAGES = b'[{"role": "user", "content": "hi"}]'


def decode_messages() -> list[chatsse.types.Message]:
    messages = chatsse.decode(MESSAGES, list[chatsse.types.Message])
    assert [message.content for message in messages] == ["hi"]
    return messages


def test_the_collector_is_on_in_post_init_and_in_other_threads(post_init_probe: list[tuple[bool, bool]]) -> None:
    assert gc.isenabled()
    decode_messages()
    assert post_init_probe == [(True, True)]
    assert gc.isenabled()


def test_a_collector_switched_off_by_the_program_stays_off(post_init_probe: list[tuple[bool, bool]]) -> None:
    gc.disable()
    try:
        decode_messages()
        assert not gc.isenabled()
        assert post_init_probe == [(False, False)]
    finally:
        gc.enable()


def test_a_collector_switched_off_during_post_init_stays_off(monkeypatch: pytest.MonkeyPatch) -> None:
    original = chatsse.types._typed_content_parts

    def switch_off(content: Any) -> Any:
        gc.disable()
        return original(content)

    monkeypatch.setattr(chatsse.types, "_typed_content_parts", switch_off)
    try:
        decode_messages()
        assert not gc.isenabled()  # the program's choice, made while we decoded, is kept
    finally:
        gc.enable()


# 6. The README's example (section Threads) runs and prints what it says.


def test_the_readme_example(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(__file__).resolve().parent.parent
    section = (root / "README.md").read_text(encoding="utf-8").split("\n## Threads\n", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    monkeypatch.chdir(root)
    exec(compile(code, "README.md, Threads", "exec"), {})  # noqa: S102 -- the README's own example
    content = "Server-sent events carry each chunk as a `data:` line; a blank line ends the event."
    assert capsys.readouterr().out == f"stop 32\nfailed: TruncatedStreamError after {content!r}\nstop 32\n"
