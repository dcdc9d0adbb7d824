"""Deterministic benchmark inputs: OpenAI-style chunk streams, cut the way a socket delivers them."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

WORDS = "the of and to in is that for it as with was on be by this are or from at which an not have".split()


@dataclass(frozen=True)
class Workload:
    name: str
    pieces: tuple[bytes, ...]
    events: int

    @property
    def size(self) -> int:
        return sum(map(len, self.pieces))


def content_stream(chunks: int, seed: int = 7) -> bytes:
    """A long chat answer: one `data:` event per token, a finish chunk, a usage chunk and [DONE], the
    shape and key order OpenAI sends (about 230 bytes an event)."""
    rng = random.Random(seed)
    head = '{"id":"chatcmpl-BENCH0123456789abcdefghij","object":"chat.completion.chunk","created":1763700000,' \
           '"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_b1c2d3e4f5",'
    out = [f'data: {head}"choices":[{{"index":0,"delta":{{"role":"assistant","content":"","refusal":null}},'
           '"logprobs":null,"finish_reason":null}]}\n\n']
    for _ in range(chunks):
        token = json.dumps(" " + rng.choice(WORDS))
        out.append(f'data: {head}"choices":[{{"index":0,"delta":{{"content":{token}}},"logprobs":null,'
                   f'"finish_reason":null}}],"obfuscation":"{rng.getrandbits(40):x}"}}\n\n')
    out.append(f'data: {head}"choices":[{{"index":0,"delta":{{}},"logprobs":null,"finish_reason":"stop"}}]}}\n\n')
    out.append(f'data: {head}"choices":[],"usage":{{"prompt_tokens":20,"completion_tokens":{chunks},'
               f'"total_tokens":{chunks + 20}}}}}\n\n')
    out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def socket_cuts(body: bytes, seed: int = 11, smallest: int = 1024, largest: int = 16 * 1024) -> tuple[bytes, ...]:
    """Random cuts of 1-16 KiB, as reads from a TCP socket come."""
    rng = random.Random(seed)
    pieces, start = [], 0
    while start < len(body):
        end = start + rng.randint(smallest, largest)
        pieces.append(body[start:end])
        start = end
    return tuple(pieces)


def long_answer() -> Workload:
    chunks = 10_000
    return Workload("long answer, socket cuts", socket_cuts(content_stream(chunks)), chunks + 4)


def one_mib_line() -> Workload:
    """One event whose single data line is 1 MiB, fed in 64-byte pieces: quadratic rescanning shows here."""
    body = b"data: " + b"x" * (1 << 20) + b"\n\n"
    return Workload("1 MiB line, 64-byte pieces", tuple(body[i : i + 64] for i in range(0, len(body), 64)), 1)
