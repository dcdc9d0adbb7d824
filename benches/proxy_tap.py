"""What a tap costs inside a real proxy: an aiohttp pass-through proxy and a Starlette + httpx one on
loopback, in front of a fast replaying upstream, each in its own process; the proxy's own CPU per
stream (``time.process_time`` inside the proxy, from the request's arrival to its last byte sent),
for each way of tapping, interleaved request by request.

    python benches/proxy_tap.py [--rounds 8] [--long-rounds 9] [--seconds 600] [--breakdown] [--concurrency N] [--core-b SO]

``--core-b SO`` measures another build of the extension (a wheel's ``chatsse/_core*.so``) against the
installed one in the same proxy process: the taps ``core-a`` and ``core-b`` take the plain tap's steps
on each, request by request, and the table gives each step's CPU time a stream.
``--concurrency N`` keeps N streams in flight (each tap in turn over a batch of streams, the proxy's
process time over the batch a stream) instead of one at a time, the proxy never idle between them.
The proxy runs on a CPU of its own, the upstream and this driver on the others (``--no-pin``: all
share), as a production worker has its core. ``--breakdown`` also times the ``chatsse`` tap's own steps inside the proxy (the thread's CPU time in
the accumulator's feeds, in the close at the end of the body, and in ``on_done``), which a difference of
two process times per stream is too noisy to split.

Taps (the ``x-tap`` request header picks one per request):

- ``none``: the pass-through alone.
- ``chatsse``: ``chatsse.atap`` around the upstream's pieces; ``on_done`` reads the usage and the body.
- ``chatsse-adapter``: the adapter (``chatsse.aiohttp.stream_response`` / ``chatsse.asgi.TapStreamingResponse``):
  whole events only, the error frame, closing the upstream.
- ``python``: split in Python + ``json.loads`` + a dict merge (``chatsse._bench``), then ``json.dumps``.
- ``sdk``: the official SDK's decoder (``openai._streaming.SSEDecoder``), its chunk models and
  ``ChatCompletionStreamState``, then the completion's JSON.

Workloads: the corpus mix (every capture of ../shared/corpus, one request each per round) and one
long stream (the benches' 10,000-token answer, 3.1 MB). The upstream writes each event on its own, as
a model server sends tokens. Every response is checked byte for byte against the capture. Not a test:
pytest never collects it (``testpaths`` is ``tests/``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

TAPS = ("none", "chatsse", "chatsse-adapter", "python", "sdk")
# Taps for looking into the chatsse tap's cost (--taps): an async generator layer that does nothing,
# the tap without the bill, and the accumulator alone (the pieces held, the joined body fed at the end).
EXTRA_TAPS = ("passthrough", "chatsse-unbilled", "accumulator", "core-a", "core-b")
LONG = "long-answer"


def bodies() -> dict[str, bytes]:
    from workloads import CORPUS

    from chatsse import _bench

    found = {path.name: path.read_bytes() for path in sorted(Path(CORPUS).glob("*.sse"))}
    found[LONG] = _bench.long_answer_body() if hasattr(_bench, "long_answer_body") else _long_answer()
    return found


def _long_answer() -> bytes:
    from workloads import streams

    return b"".join(streams()["long answer, socket cuts"].streams[0])


def events_of(body: bytes) -> list[bytes]:
    """The body cut after each blank line: one write per event."""
    parts = body.split(b"\n\n")
    pieces = [part + b"\n\n" for part in parts[:-1]]
    if parts[-1]:
        pieces.append(parts[-1])
    return pieces


# --- the upstream ---------------------------------------------------------------------------------


def run_upstream() -> None:
    from aiohttp import web

    replies = {name: events_of(body) for name, body in bodies().items()}

    async def handle(request: web.Request) -> web.StreamResponse:
        name = (await request.json())["model"]
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for event in replies[name]:
            await response.write(event)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    serve(app)


def serve(app: Any) -> None:
    import socket

    from aiohttp import web

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)  # listening before the port is printed: an early client waits, not refused
    print(listener.getsockname()[1], flush=True)
    web.run_app(app, sock=listener, print=None, access_log=None)


# --- the taps -------------------------------------------------------------------------------------


class Bill:
    """What every tap hands on: the usage and the completion body (a bill and a log line)."""

    def __init__(self) -> None:
        self.streams = 0
        self.usage_seen = 0

    def record(self, usage: Any, body: bytes) -> None:
        self.streams += 1
        self.usage_seen += usage is not None
        assert body


BILL = Bill()


def chatsse_tap(source: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    import chatsse

    def on_done(result: chatsse.TapResult) -> None:
        BILL.record(result.usage, result.body)

    return chatsse.atap(source, on_done=on_done)


async def python_tap(source: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    from chatsse._bench import dict_merge, python_split_payloads

    pieces = []
    async for piece in source:
        pieces.append(piece)
        yield piece
    # The split and merge of chatsse._bench (the README's Python baseline); run at the end they cost
    # what they cost piece by piece, and a tap must not raise whatever the body holds.
    try:
        completion = dict_merge(python_split_payloads(pieces), json.loads)
        BILL.record(completion.get("usage"), json.dumps(completion).encode())
    except Exception:
        BILL.record(None, b"{}")


async def sdk_tap(source: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    from openai._models import construct_type
    from openai._streaming import SSEDecoder
    from openai.lib.streaming.chat import ChatCompletionStreamState
    from openai.types.chat import ChatCompletionChunk

    decoder = SSEDecoder()
    state: Any = ChatCompletionStreamState()
    buffer = b""
    failed = False
    async for piece in source:
        yield piece
        if failed:
            continue
        buffer += piece
        *lines, buffer = buffer.split(b"\n")
        try:
            for line in lines:
                event = decoder.decode(line.decode().rstrip("\r"))
                if event is None or event.data.startswith("[DONE]"):
                    continue
                state.handle_chunk(construct_type(type_=ChatCompletionChunk, value=json.loads(event.data)))
        except Exception:
            failed = True  # the SDK cannot read this capture: it bills nothing more
    try:
        snapshot = state.current_completion_snapshot
        BILL.record(snapshot.usage, snapshot.model_dump_json().encode())
    except Exception:
        BILL.record(None, b"{}")


async def passthrough_tap(source: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    async for piece in source:
        yield piece


def chatsse_unbilled_tap(source: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    import chatsse

    return chatsse.atap(source, on_done=lambda result: None)


async def accumulator_tap(source: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    import chatsse

    accumulator = chatsse.Accumulator()
    pieces = []
    async for piece in source:
        pieces.append(piece)
        yield piece
    try:
        accumulator.feed(b"".join(pieces))
    except chatsse.ChatSSEError:
        pass


# Per build (``--core-b``): the CPU time of each step of core_steps_tap, summed, and the streams.
CORE_STEPS: dict[str, dict[str, float]] = {}
CORE_MODULES = {"core-a": "chatsse._core", "core-b": "chatsse_b._core"}


def core_steps_tap(tap_name: str) -> Callable[[AsyncIterable[bytes]], AsyncIterator[bytes]]:
    """What the plain tap does, step by step, each step timed with the thread's CPU clock (0.4 µs a
    read here), on one build of the core: ``core-a`` the installed one, ``core-b`` the build given to
    ``--core-b``. Both run in one proxy process, request by request: runs of two builds minutes apart
    differ by the host's drift more than the builds do (docs/decisions.md §12, "Session 11")."""

    async def tap(source: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        import importlib

        import chatsse

        core = importlib.import_module(CORE_MODULES[tap_name])
        times = CORE_STEPS.setdefault(tap_name, {})
        clock = time.thread_time

        def lap(step: str, started: float) -> float:
            now = clock()
            times[step] = times.get(step, 0.0) + now - started
            return now

        started = clock()
        accumulator = core.Accumulator()
        lap("create", started)
        pieces = []
        async for piece in source:
            pieces.append(piece)
            yield piece
        started = clock()
        try:
            accumulator.feed(b"".join(pieces))
        except chatsse.ChatSSEError:  # the other build's errors are chatsse's too (its core imports them by name)
            pass
        started = lap("feed", started)
        try:
            accumulator.close()
        except chatsse.ChatSSEError:
            pass
        started = lap("close", started)
        usage = accumulator.usage
        started = lap("usage", started)
        body = accumulator.to_json()
        started = lap("to_json", started)
        BILL.record(usage, body)
        del accumulator, usage, body, pieces
        lap("free", started)
        times["streams"] = times.get("streams", 0) + 1

    return tap


TAPPED: dict[str, Callable[[AsyncIterable[bytes]], AsyncIterator[bytes]]] = {
    "chatsse": chatsse_tap,
    "python": python_tap,
    "sdk": sdk_tap,
    "passthrough": passthrough_tap,
    "chatsse-unbilled": chatsse_unbilled_tap,
    "accumulator": accumulator_tap,
    "core-a": core_steps_tap("core-a"),
    "core-b": core_steps_tap("core-b"),
}


class CPU:
    """process_time per request, by tap and stream: the proxy's own CPU, whatever thread spent it;
    with ``--breakdown``, also the CPU time of the chatsse tap's own steps inside the proxy."""

    def __init__(self, breakdown: bool) -> None:
        self.spent: list[tuple[str, str, float]] = []
        self.steps = {"feed": 0.0, "close": 0.0, "report": 0.0, "streams": 0}
        if breakdown:
            self.time_tap_steps()

    def add(self, headers: Any, seconds: float) -> None:
        self.spent.append((headers["x-tap"], headers["x-stream"], seconds))

    def take(self) -> dict[str, Any]:
        spent, self.spent = self.spent, []
        steps, self.steps = self.steps, dict.fromkeys(self.steps, 0)
        core_steps = {name: dict(times) for name, times in CORE_STEPS.items()}
        CORE_STEPS.clear()
        return {"spent": spent, "billed": BILL.streams, "steps": steps, "core_steps": core_steps}

    def time_tap_steps(self) -> None:
        """Times the tap's steps (chatsse._tap): the accumulator's feeds of the held pieces, the end of
        the body (close, less the last feed) and the report (``on_done``: here the usage and the body).
        In the proxy, between its own work: what a hot loop cannot show (README, "What the tap costs")."""
        import chatsse._tap as tap

        clock = time.thread_time  # CPU time: a step preempted by the other processes is not charged their time
        flush, end_of_body, report = tap._Reader.flush, tap._Reader.end_of_body, tap._report

        # Only the plain tap's streams are counted: the adapter (aligned) reads each piece as it
        # passes, outside these steps, and reports through the same function.
        plain: set[int] = set()

        def timed_flush(reader: Any) -> None:
            started = clock()
            flush(reader)
            self.steps["feed"] += clock() - started

        def timed_end(reader: Any) -> Any:
            fed, started = self.steps["feed"], clock()
            ended = end_of_body(reader)
            if not reader.aligned and reader.rewriter is None:
                self.steps["close"] += clock() - started - (self.steps["feed"] - fed)
                plain.add(id(reader.accumulator))
            return ended

        def timed_report(on_done: Any, result: Any) -> Any:
            started = clock()
            outcome = report(on_done, result)
            if id(result._accumulator) in plain:
                plain.discard(id(result._accumulator))
                self.steps["report"] += clock() - started
                self.steps["streams"] += 1
            return outcome

        setattr(tap._Reader, "flush", timed_flush)  # noqa: B010 -- replacing a method, on purpose
        setattr(tap._Reader, "end_of_body", timed_end)  # noqa: B010
        tap._report = timed_report


# --- the aiohttp proxy ----------------------------------------------------------------------------


def run_aiohttp_proxy(upstream: str, breakdown: bool) -> None:
    import aiohttp
    from aiohttp import web

    import chatsse
    import chatsse.aiohttp

    cpu = CPU(breakdown)
    session_key = web.AppKey("session", aiohttp.ClientSession)

    async def on_done(result: chatsse.TapResult) -> None:
        BILL.record(result.usage, result.body)

    async def handle(request: web.Request) -> web.StreamResponse:
        started = time.process_time()
        tap = request.headers["x-tap"]
        session = request.app[session_key]
        async with session.post(upstream, data=await request.read(), headers={"content-type": "application/json"}) as answer:
            if tap == "chatsse-adapter":
                response = await chatsse.aiohttp.stream_response(request, answer.content.iter_any(), on_done=on_done, close=answer.release)
            else:
                response = web.StreamResponse(headers={"content-type": "text/event-stream"})
                await response.prepare(request)
                source: AsyncIterable[bytes] = answer.content.iter_any()
                if tap != "none":
                    source = TAPPED[tap](source)
                async for piece in source:
                    await response.write(piece)
                await response.write_eof()
        cpu.add(request.headers, time.process_time() - started)
        return response

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(cpu.take())

    async def process_cpu(request: web.Request) -> web.Response:
        return web.json_response({"cpu": time.process_time()})

    async def session_context(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            app[session_key] = session
            yield

    app = web.Application()
    app.cleanup_ctx.append(session_context)
    app.router.add_post("/v1/chat/completions", handle)
    app.router.add_get("/stats", stats)
    app.router.add_get("/cpu", process_cpu)
    serve(app)


# --- the Starlette proxy --------------------------------------------------------------------------


def run_starlette_proxy(upstream: str, breakdown: bool) -> None:
    import socket

    import httpx
    import uvicorn
    from starlette.applications import Starlette
    from starlette.background import BackgroundTask
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    import chatsse
    from chatsse.asgi import TapStreamingResponse

    cpu = CPU(breakdown)
    client = httpx.AsyncClient()

    async def on_done(result: chatsse.TapResult) -> None:
        BILL.record(result.usage, result.body)

    async def proxy(request: Request) -> Response:
        tap = request.headers["x-tap"]
        sent = client.build_request("POST", upstream, content=await request.body(), headers={"content-type": "application/json"})
        answer = await client.send(sent, stream=True)
        if tap == "chatsse-adapter":
            return TapStreamingResponse(answer.aiter_raw(), on_done=on_done, close=answer.aclose)
        source: AsyncIterable[bytes] = answer.aiter_raw()
        if tap != "none":
            source = TAPPED[tap](source)
        return StreamingResponse(source, media_type="text/event-stream", background=BackgroundTask(answer.aclose))

    async def stats(request: Request) -> Response:
        return JSONResponse(cpu.take())

    async def process_cpu(request: Request) -> Response:
        return JSONResponse({"cpu": time.process_time()})

    routes = [Route("/v1/chat/completions", proxy, methods=["POST"]), Route("/stats", stats), Route("/cpu", process_cpu)]
    app = Starlette(routes=routes)

    async def timed(scope: Any, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]) -> None:
        # From the request's arrival to its last byte sent: the whole of the proxy's work for it.
        if scope["type"] != "http" or scope["path"] in ("/stats", "/cpu"):
            await app(scope, receive, send)
            return
        started = time.process_time()
        await app(scope, receive, send)
        headers = {key.decode(): value.decode() for key, value in scope["headers"]}
        cpu.add(headers, time.process_time() - started)

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)  # listening before the port is printed: an early client waits, not refused
    print(listener.getsockname()[1], flush=True)
    uvicorn.Server(uvicorn.Config(timed, log_level="warning", access_log=False, lifespan="off")).run(sockets=[listener])


# --- the driver -----------------------------------------------------------------------------------


def pinning() -> tuple[set[int], set[int]] | None:
    """The proxy's CPU and the others' (the upstream's and this driver's), or None (fewer than two CPUs,
    or no affinity on this OS). A production worker has a core of its own, the upstream and the
    clients are elsewhere; sharing cores with them here would charge the proxy the caches they evict
    (unpinned, the aiohttp pass-through's median was once twice its fastest round)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return ({cpus[0]}, set(cpus[1:])) if len(cpus) >= 2 else None


def second_core(built: Path) -> None:
    """Makes ``chatsse_b._core`` of another build of the extension, importable by the proxies (its
    directory on their PYTHONPATH), and adds the two builds' step taps to those measured."""
    import sysconfig
    import tempfile

    package = Path(tempfile.mkdtemp(prefix="chatsse-core-b-")) / "chatsse_b"
    package.mkdir()
    (package / "__init__.py").write_text('"""A second build of chatsse._core, for benches/proxy_tap.py --core-b."""\n')
    shutil.copy(built, package / f"_core{sysconfig.get_config_var('EXT_SUFFIX')}")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(package.parent), os.environ.get("PYTHONPATH")]))
    globals()["TAPS"] = (*TAPS, *(tap for tap in CORE_MODULES if tap not in TAPS))


def start(*args: str, cpus: set[int] | None = None) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True)
    if cpus is not None:
        os.sched_setaffinity(process.pid, cpus)
    assert process.stdout is not None
    port = process.stdout.readline().strip()
    if not port:
        raise RuntimeError(f"{args[0]} did not start")
    return process, f"http://127.0.0.1:{port}"


def measure(server: str, upstream_url: str, expected: dict[str, bytes], options: argparse.Namespace, deadline: float) -> dict[str, Any]:
    import httpx

    process, url = start(server, upstream_url + "/v1/chat/completions", *(["--breakdown"] if options.breakdown else []), cpus=options.proxy_cpus)
    draw = random.Random(7)
    results: dict[str, Any] = {}
    plans = (
        ("corpus mix", [n for n in expected if n != LONG], options.rounds, options.rounds),
        ("long stream", [LONG], options.long_rounds, options.sdk_long_rounds),
    )
    try:
        if options.concurrency > 1:
            with httpx.Client(base_url=url, timeout=120) as client:
                warm_up(client, list(expected), expected)
            for workload, names, count, sdk_count in plans:
                results[workload] = asyncio.run(measure_loaded(url, names, expected, count, sdk_count, options, deadline, draw))
            return results
        with httpx.Client(base_url=url, timeout=120) as client:
            for workload, names, count, sdk_count in plans:
                warm_up(client, names, expected)
                done_rounds = 0
                for round_number in range(count):
                    if time.monotonic() > deadline:
                        break
                    for name in names:
                        order = [tap for tap in TAPS if tap != "sdk" or round_number < sdk_count]
                        draw.shuffle(order)  # interleaved: no tap always runs right after another
                        for tap in order:
                            check(client, name, tap, expected[name])
                    done_rounds += 1
                spent: dict[tuple[str, str], list[float]] = {}
                stats = client.get("/stats").json()
                for tap, name, seconds in stats["spent"]:
                    spent.setdefault((tap, name), []).append(seconds)
                # Per stream, the median over the rounds, and the fastest round (the host's slow
                # windows only ever add time); then the mean over the streams of the workload.
                cpu = {tap: sum(statistics.median(spent[tap, name]) for name in names) / len(names) for tap in TAPS}
                fastest = {tap: sum(min(spent[tap, name]) for name in names) / len(names) for tap in TAPS}
                results[workload] = {"rounds": done_rounds, "streams": len(names), "cpu": cpu, "fastest": fastest}
                results[workload].update(steps_of(stats))
    finally:
        process.terminate()
        process.wait(10)
    return results


async def measure_loaded(
    url: str, names: list[str], expected: dict[str, bytes], count: int, sdk_count: int, options: argparse.Namespace, deadline: float,
    draw: random.Random,
) -> dict[str, Any]:
    """The proxy under load: for each tap in turn (shuffled each round), a batch of streams sent
    ``--concurrency`` at a time, so the proxy never waits idle between them; the proxy's process
    time over the batch, divided by its streams. A batch is the workload's streams, each twice (the
    corpus mix), or as many copies of the long stream as run at once."""
    import aiohttp

    copies = 2 if len(names) > 1 else options.concurrency
    spent: dict[str, list[float]] = {tap: [] for tap in TAPS}
    busy: list[float] = []  # the proxy's CPU time over the wall time of each batch
    connector = aiohttp.TCPConnector(limit=options.concurrency)
    async with aiohttp.ClientSession(url, connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as session:

        async def process_cpu() -> float:
            async with session.get("/cpu") as answer:
                return float((await answer.json())["cpu"])

        async def send(jobs: Iterator[str], tap: str) -> None:
            for name in jobs:
                headers = {"x-tap": tap, "x-stream": name}
                async with session.post("/v1/chat/completions", json={"model": name}, headers=headers) as answer:
                    if await answer.read() != expected[name]:
                        raise AssertionError(f"{tap} changed the bytes of {name}")

        done_rounds = 0
        for round_number in range(count):
            if time.monotonic() > deadline:
                break
            order = [tap for tap in TAPS if tap != "sdk" or round_number < sdk_count]
            draw.shuffle(order)
            for tap in order:
                jobs = [name for _ in range(copies) for name in names]
                draw.shuffle(jobs)
                shared = iter(jobs)  # the senders take the next stream from one queue
                before, started = await process_cpu(), time.perf_counter()
                await asyncio.gather(*(send(shared, tap) for _ in range(options.concurrency)))
                used = await process_cpu() - before
                spent[tap].append(used / len(jobs))
                busy.append(used / (time.perf_counter() - started))
            done_rounds += 1
        async with session.get("/stats") as answer:
            stats = await answer.json()
    found: dict[str, Any] = {
        "rounds": done_rounds,
        "streams": len(names),
        "concurrency": options.concurrency,
        "busy": statistics.median(busy),
        "cpu": {tap: statistics.median(spent[tap]) for tap in TAPS},
        "fastest": {tap: min(spent[tap]) for tap in TAPS},
    }
    found.update(steps_of(stats))
    return found


def warm_up(client: Any, names: list[str], expected: dict[str, bytes]) -> None:
    """One round of every tap over the streams (imports, first-touch caches), then the proxy's
    figures taken and dropped: not counted."""
    for name in names:
        for tap in TAPS:
            check(client, name, tap, expected[name])
    client.get("/stats")


def steps_of(stats: dict[str, Any]) -> dict[str, Any]:
    """From the proxy's /stats, the timed steps a stream: the chatsse tap's (``--breakdown``) as
    "steps", the core-a/core-b taps' as "core_steps"; a key only where such streams ran."""
    per_stream = {
        name: {step: seconds / times["streams"] for step, seconds in times.items() if step != "streams"}
        for name, times in {"atap": stats["steps"], **stats["core_steps"]}.items()
        if times.get("streams")
    }
    found: dict[str, Any] = {}
    if "atap" in per_stream:
        found["steps"] = per_stream.pop("atap")
    if per_stream:
        found["core_steps"] = per_stream
    return found


def check(client: Any, name: str, tap: str, body: bytes) -> None:
    got = client.post("/v1/chat/completions", json={"model": name}, headers={"x-tap": tap, "x-stream": name}).content
    if got != body:
        raise AssertionError(f"{tap} changed the bytes of {name}")


def table(server: str, results: dict[str, Any]) -> str:
    lines = [
        f"**{server}**",
        "",
        "| workload | tap | proxy CPU per stream (median) | added to the pass-through | (fastest round) | added | tap's own cost ÷ chatsse's |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for workload, found in results.items():
        cpu, fastest = found["cpu"], found["fastest"]
        base, fastest_base = cpu["none"], fastest["none"]
        own = cpu.get("chatsse", base) - base
        busy = f", the proxy busy {100 * found['busy']:.0f}% of the time" if "busy" in found else ""
        for tap in TAPS:
            added = cpu[tap] - base
            ratio = "" if tap in ("none", "chatsse") or own <= 0 or "chatsse" not in cpu else f"{added / own:.1f}×"
            share = "" if tap == "none" else f"{100 * added / base:+.1f}%"
            fastest_share = "" if tap == "none" else f"{100 * (fastest[tap] - fastest_base) / fastest_base:+.1f}%"
            lines.append(
                f"| {workload} ({found['streams']} × {found['rounds']} rounds{busy}) | {tap} | {cpu[tap] * 1e6:,.0f} µs | {share} "
                f"| {fastest[tap] * 1e6:,.0f} µs | {fastest_share} | {ratio} |"
            )
        for name, steps in sorted(found.get("core_steps", {}).items()):
            each = ", ".join(f"{step} {seconds * 1e6:,.1f} µs" for step, seconds in steps.items())
            mine = sum(steps.values())
            lines.append(f"| {workload} | {name}'s steps (CPU time a stream) | {each} | {mine * 1e6:,.1f} µs "
                         f"| {100 * mine / base:.1f}% of the median pass-through | | |")
        if len(found.get("core_steps", {})) == 2:
            a, b = (sum(found["core_steps"][name].values()) for name in ("core-a", "core-b"))
            lines.append(f"| {workload} | core-b's steps ÷ core-a's | {b / a:.3f} | | | | |")
        if "steps" in found:
            each = ", ".join(f"{step} {seconds * 1e6:,.1f} µs" for step, seconds in found["steps"].items())
            mine = sum(found["steps"].values())
            lines.append(
                f"| {workload} | chatsse `atap`'s steps in the proxy (CPU time a stream) | {each} "
                f"| {100 * mine / base:.1f}% of the median pass-through | | | |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", nargs="?", default="bench", choices=["bench", "upstream", "aiohttp", "starlette"])
    parser.add_argument("upstream", nargs="?")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--long-rounds", type=int, default=9)
    parser.add_argument("--sdk-long-rounds", type=int, default=2, help="the SDK takes seconds per long stream")
    parser.add_argument("--seconds", type=float, default=600, help="no new round starts after this")
    parser.add_argument("--servers", default="aiohttp,starlette")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--breakdown", action="store_true", help="also time (CPU) the chatsse tap's feed, close and report inside the proxy")
    parser.add_argument("--concurrency", type=int, default=1, help="streams in flight at once (default 1: one at a time, the proxy idle between them)")
    parser.add_argument("--no-pin", action="store_true", help="let the proxy share CPUs with the upstream and the client")
    parser.add_argument("--core-b", metavar="SO", help="another build of chatsse/_core*.so (say, a PGO wheel's): adds the core-a and core-b taps")
    parser.add_argument("--taps", help=f"a comma-separated subset of {TAPS + EXTRA_TAPS} (none first)")
    options = parser.parse_args()
    if options.role == "upstream":
        return run_upstream()
    if options.role == "aiohttp":
        return run_aiohttp_proxy(options.upstream, options.breakdown)
    if options.role == "starlette":
        return run_starlette_proxy(options.upstream, options.breakdown)
    if options.taps:
        globals()["TAPS"] = tuple(options.taps.split(","))
    if options.core_b:
        second_core(Path(options.core_b))
    expected = bodies()
    pinned = None if options.no_pin else pinning()
    options.proxy_cpus = None
    if pinned is not None:
        options.proxy_cpus, others = pinned
        os.sched_setaffinity(0, others)
        print(f"proxy on CPU {sorted(options.proxy_cpus)}, the upstream and the client on {sorted(others)}", flush=True)
    upstream, upstream_url = start("upstream", cpus=None if pinned is None else pinned[1])
    deadline = time.monotonic() + options.seconds
    report = {}
    try:
        for server in options.servers.split(","):
            report[server] = measure(server, upstream_url, expected, options, deadline)
            title = server if options.concurrency == 1 else f"{server}, {options.concurrency} streams at once"
            print(table(title, report[server]), "\n", flush=True)
    finally:
        upstream.terminate()
        upstream.wait(10)
    if options.json:
        Path(options.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    # The SDK's models type Mistral's content parts as a str: its serializer warns on every such stream.
    warnings.filterwarnings("ignore", message="Pydantic serializer warnings")
    main()
