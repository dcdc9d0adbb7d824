"""The training run of a profile-guided build (scripts/pgo-build): the paths a proxy and an SDK take.

Uses only what the package ships (the generated workloads of chatsse._bench and examples/), so
that a release runner without ../shared can run it. Each path runs a few times; the profile
records which branches and functions are hot, not how often in absolute terms.
"""

from __future__ import annotations

import pathlib

import chatsse
from chatsse import _bench

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def read(reader: chatsse.Accumulator | chatsse.Rewriter, pieces: tuple[bytes, ...]) -> None:
    try:
        for piece in pieces:
            reader.feed(piece)
        reader.close()
    except chatsse.ChatSSEError:
        pass  # the workloads trained on are valid: a raise here would be a bug, which the test suite finds


def train_stream(pieces: tuple[bytes, ...]) -> None:
    accumulator = chatsse.Accumulator()
    read(accumulator, pieces)
    accumulator.usage  # noqa: B018 -- the bill's path
    accumulator.usage_json()
    body = accumulator.to_json()
    try:
        completion = accumulator.completion()
        chatsse.encode(completion)
        chatsse.decode_completion(body)
    except chatsse.ChatSSEError:
        pass
    try:
        for chunk in chatsse.iter_chunks(pieces):
            chatsse.encode(chunk)
    except chatsse.ChatSSEError:
        pass
    events = chatsse.SSEDecoder()
    for piece in pieces:
        events.feed(piece)
    read(chatsse.Rewriter(set={"model": "alias"}, drop=["system_fingerprint"]), pieces)


def main() -> None:
    sample = (EXAMPLES / "chat-stream.sse").read_bytes()
    for cutting in ("socket cuts", "64-byte pieces"):
        for workload in _bench.generated_workloads(cutting):
            for _ in range(3):
                for pieces in workload.streams:
                    train_stream(pieces)
    for _ in range(20):
        train_stream(_bench.socket_cuts(sample))
    for body in _bench.completion_bodies().values():
        for _ in range(20):
            chatsse.decode_completion(body)


if __name__ == "__main__":
    main()
