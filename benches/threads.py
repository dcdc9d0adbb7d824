"""Threads: what releasing the GIL buys (README, Threads). Three measurements, each a ratio of two ways
of doing the same work in the same run, the ways taking turns and the fastest round of each kept (the
host's cores are shared; bursts of other guests only ever add time):

- detach: one thread feeding an Accumulator pieces one byte below `DETACH_FROM` (fed attached) and
  pieces of exactly it (fed detached), on the same body: the cost of releasing and taking the GIL,
  per piece; and the same with pieces from 256 B to 64 KiB to show the work each size carries;
- two streams: two Accumulators fed large pieces (16 KiB) of two long answers, by one thread one after
  the other, and by two threads at once;
- batch: `accumulate_many` over many bodies against a one-thread loop of `accumulate` over them.

Each two-thread ratio is printed with the machine's own in the same run (see `paired`): on shared
cores, the ceiling of what two threads could show at that time.

Usage: python benches/threads.py [--rounds N]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import threading
import time
from collections.abc import Callable

import chatsse
from chatsse._bench import answer_payloads, logprob_payloads, reasoning_payloads, sse_body, tool_call_payloads

DETACH_FROM = 4096  # src/python/accumulator.rs
LARGE_PIECE = 16 * 1024


def cut(body: bytes, size: int) -> list[bytes]:
    return [body[at : at + size] for at in range(0, len(body), size)]


def best_of(ways: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Each way's fastest call, the ways taking turns for `rounds` rounds."""
    best = dict.fromkeys(ways, float("inf"))
    for _ in range(rounds):
        for name, way in ways.items():
            started = time.perf_counter()
            way()
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def timed(way: Callable[[], object]) -> float:
    started = time.perf_counter()
    way()
    return time.perf_counter() - started


HASHED = bytes(2 * 1024 * 1024)


def paired(one: Callable[[], object], many: Callable[[], object], rounds: int) -> tuple[float, float]:
    """The speedup of `many` (threads) over `one` (one thread), and the machine's own in the same run.

    As everywhere in benches/, the fastest round of each way is kept: the cores are shared with other
    guests, whose bursts only ever add time, so `many`'s fastest round is one in which both cores were
    free. The machine's ratio (two threads hashing, hashlib releases the GIL, against one thread hashing
    both), timed in turns with ours, is the ceiling this run could show.
    """

    def hash_one() -> None:
        hashlib.sha256(HASHED).digest()
        hashlib.sha256(HASHED).digest()

    hashes = Workers([lambda: hashlib.sha256(HASHED).digest(), lambda: hashlib.sha256(HASHED).digest()])
    best = best_of({"one": one, "many": many, "hash one": hash_one, "hash many": hashes.run}, rounds)
    hashes.stop()
    return best["one"] / best["many"], best["hash one"] / best["hash many"]


def feed_pieces(pieces: list[bytes]) -> Accumulator:
    accumulator = chatsse.Accumulator()
    for piece in pieces:
        accumulator.feed(piece)
    return accumulator


Accumulator = chatsse.Accumulator


def in_threads(works: list[Callable[[], object]]) -> None:
    threads = [threading.Thread(target=work) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def detach_cost(rounds: int) -> None:
    body = sse_body(answer_payloads(10_000))
    below, at = cut(body, DETACH_FROM - 1), cut(body, DETACH_FROM)
    best = best_of({"below": lambda: feed_pieces(below), "at": lambda: feed_pieces(at)}, rounds)
    per_piece_below = best["below"] / len(below) * 1e6
    per_piece_at = best["at"] / len(at) * 1e6
    # The body is the same; 4095-byte pieces are slightly more pieces: compare the cost per byte.
    per_byte_below = best["below"] / len(body) * 1e9
    per_byte_at = best["at"] / len(body) * 1e9
    print(f"detach: long answer ({len(body):,} bytes), one thread")
    print(f"  {DETACH_FROM - 1}-byte pieces (attached): {per_piece_below:.2f} us a piece, {per_byte_below:.3f} ns a byte")
    print(f"  {DETACH_FROM}-byte pieces (detached): {per_piece_at:.2f} us a piece, {per_byte_at:.3f} ns a byte")
    print(f"  detaching costs {(per_byte_at - per_byte_below) * DETACH_FROM / 1000:+.2f} us a piece")
    sizes = (256, 1024, 2048, 4095, 8192, 16384, 65536)
    ways = {size: (lambda pieces=cut(body, size): feed_pieces(pieces)) for size in sizes}
    timed = best_of(ways, rounds)
    print("  work per piece by size: " + ", ".join(f"{size} B {timed[size] / len(cut(body, size)) * 1e6:.2f} us" for size in sizes))


class Workers:
    """Threads started once, each running its task when `run` is called (so that no round times the
    starting of threads)."""

    def __init__(self, tasks: list[Callable[[], object]]) -> None:
        self.tasks = tasks
        self.start = threading.Barrier(len(tasks) + 1)
        self.end = threading.Barrier(len(tasks) + 1)
        self.stopping = False
        self.threads = [threading.Thread(target=self.loop, args=(task,), daemon=True) for task in tasks]
        for thread in self.threads:
            thread.start()

    def loop(self, task: Callable[[], object]) -> None:
        while True:
            self.start.wait()
            if self.stopping:
                return
            task()
            self.end.wait()

    def run(self) -> None:
        self.start.wait()
        self.end.wait()

    def stop(self) -> None:
        self.stopping = True
        self.start.wait()
        for thread in self.threads:
            thread.join()


def two_streams(rounds: int, piece_size: int) -> float:
    bodies = [sse_body(answer_payloads(10_000, seed=7)), sse_body(answer_payloads(10_000, seed=8))]
    pieces = [cut(body, piece_size) for body in bodies]
    expected = [feed_pieces(p).to_json() for p in pieces]
    results: list[bytes] = [b"", b""]

    def stream(index: int) -> None:
        results[index] = feed_pieces(pieces[index]).to_json()

    def one_thread() -> None:
        stream(0)
        stream(1)

    both = Workers([lambda: stream(0), lambda: stream(1)])
    both.run()
    assert results == expected, "two threads disagree with one"
    single = best_of({"one thread": one_thread}, rounds)["one thread"]
    ratio, machine = paired(one_thread, both.run, rounds)
    both.stop()
    size = sum(map(len, bodies)) / 1e6
    print(f"two streams: 2 long answers ({size:.1f} MB) in {piece_size // 1024} KiB pieces, an Accumulator each "
          f"(one thread: {size / single:.0f} MB/s): two threads / one thread {ratio:.2f}x (machine: {machine:.2f}x)")
    return ratio


def batch(rounds: int) -> None:
    kinds = [answer_payloads(2_000), tool_call_payloads(), reasoning_payloads(), logprob_payloads()]
    bodies = [sse_body(kinds[index % len(kinds)]) for index in range(32)]
    expected = [chatsse.accumulate([body]) for body in bodies]
    assert chatsse.accumulate_many(bodies) == expected, "accumulate_many disagrees with accumulate"
    ways = {
        "accumulate loop": lambda: [chatsse.accumulate([body]) for body in bodies],
        "accumulate_many": lambda: chatsse.accumulate_many(bodies),
        "accumulate_many, 1 worker": lambda: chatsse.accumulate_many(bodies, workers=1),
        "to_json loop": lambda: [feed_pieces([body]).to_json() for body in bodies],
        "accumulate_many(as_json)": lambda: chatsse.accumulate_many(bodies, as_json=True),
    }
    best = best_of(ways, rounds)
    size = sum(map(len, bodies)) / 1e6
    print(f"batch: {len(bodies)} bodies ({size:.1f} MB: answers, tool calls, reasoning, logprobs), {os.cpu_count()} cores; "
          "fastest round of each: " + ", ".join(f"{name} {seconds * 1e3:.1f} ms" for name, seconds in best.items()))
    for many, one in [("accumulate_many", "accumulate loop"), ("accumulate_many(as_json)", "to_json loop")]:
        ratio, machine = paired(ways[one], ways[many], rounds)
        print(f"  {many} / {one}: {ratio:.2f}x (machine: {machine:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=100, help="turns each way takes (default: 100)")
    args = parser.parse_args()
    print(f"chatsse {chatsse.__version__}, CPython {'.'.join(map(str, __import__('sys').version_info[:3]))}")
    detach_cost(args.rounds)
    for piece_size in (LARGE_PIECE // 4, LARGE_PIECE, 4 * LARGE_PIECE):
        two_streams(args.rounds, piece_size)
    batch(args.rounds)


if __name__ == "__main__":
    main()
