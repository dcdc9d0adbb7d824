"""What the benchmarks share: deterministic workloads, the alternatives chatsse is measured against, and the
quick comparison that ``chatsse bench`` prints.

The pytest-benchmark suite (``benches/`` in a checkout) measures these same approaches on more workloads
with more rounds; both import this module, so the quick command and the suite compare the same code.
The alternatives are imported only when asked for: ``pip install 'chatsse[bench]'`` installs them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

import chatsse
from chatsse.types import ChatCompletion, ChatCompletionChunk

# -- Workloads ------------------------------------------------------------------------------------------


class SplitMix64:
    """The splitmix64 generator (Steele, Lea and Flood, 2014). Chosen over `random` because it is a few
    lines in any language: benches/core.rs generates byte for byte the same long answer with it."""

    MASK = (1 << 64) - 1

    def __init__(self, seed: int) -> None:
        self.state = seed & self.MASK

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def below(self, bound: int) -> int:
        return self.next() % bound

    def between(self, low: int, high: int) -> int:
        return low + self.below(high - low + 1)

    def choice(self, items: Sequence[Any]) -> Any:
        return items[self.below(len(items))]


WORDS = ("the of and to in is that for it as with was on be by this are or from at which an not have "
         "stream event chunk delta choice token answer model request server client").split()


@dataclass(frozen=True)
class Workload:
    """One or more response bodies, each cut into the pieces a consumer receives."""

    name: str
    cutting: str
    streams: tuple[tuple[bytes, ...], ...]
    #: Chat chunks (payloads other than [DONE]), or documents for whole responses.
    chunks: int
    #: Server-sent events, [DONE] included (comments are no events).
    events: int

    @property
    def size(self) -> int:
        return sum(len(piece) for pieces in self.streams for piece in pieces)

    @property
    def label(self) -> str:
        return f"{self.name}, {self.cutting}" if self.cutting else self.name


def socket_cuts(body: bytes, seed: int = 11, smallest: int = 1024, largest: int = 16 * 1024) -> tuple[bytes, ...]:
    """Random cuts of 1-16 KiB, as reads from a TCP socket come."""
    rng = SplitMix64(seed)
    pieces, start = [], 0
    while start < len(body):
        end = start + rng.between(smallest, largest)
        pieces.append(body[start:end])
        start = end
    return tuple(pieces)


def tiny_pieces(body: bytes, size: int = 64) -> tuple[bytes, ...]:
    """Pieces of 64 bytes: a slow or chatty upstream, and the worst case for per-call overhead."""
    return tuple(body[start : start + size] for start in range(0, len(body), size))


CUTTINGS: dict[str, Callable[[bytes], tuple[bytes, ...]]] = {"socket cuts": socket_cuts, "64-byte pieces": tiny_pieces}


def sse_body(payloads: Iterable[str], line_ending: str = "\n", keep_alive_every: int = 0) -> bytes:
    """`data:` events around the payloads, then [DONE]; optionally a `: keep-alive` comment every n events."""
    out = []
    for n, payload in enumerate(payloads, 1):
        out.append(f"data: {payload}{line_ending}{line_ending}")
        if keep_alive_every and n % keep_alive_every == 0:
            out.append(f": keep-alive{line_ending}{line_ending}")
    out.append(f"data: [DONE]{line_ending}{line_ending}")
    return "".join(out).encode()


OPENAI_HEAD = ('{"id":"chatcmpl-BENCH0123456789abcdefghij","object":"chat.completion.chunk","created":1763700000,'
               '"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_b1c2d3e4f5",')


def answer_payloads(tokens: int, seed: int = 7) -> list[str]:
    """A chat answer as OpenAI streams it: a role chunk, one chunk per token (with the `obfuscation`
    padding OpenAI adds), a finish chunk and a usage chunk; about 230 bytes a chunk. benches/core.rs
    builds the same bytes (`answer_body`): change both or neither."""
    rng = SplitMix64(seed)
    payloads = [f'{OPENAI_HEAD}"choices":[{{"index":0,"delta":{{"role":"assistant","content":"","refusal":null}},'
                '"logprobs":null,"finish_reason":null}]}']
    for _ in range(tokens):
        word = rng.choice(WORDS)
        padding = rng.next() >> 24
        payloads.append(f'{OPENAI_HEAD}"choices":[{{"index":0,"delta":{{"content":" {word}"}},"logprobs":null,'
                        f'"finish_reason":null}}],"obfuscation":"{padding:x}"}}')
    payloads.append(f'{OPENAI_HEAD}"choices":[{{"index":0,"delta":{{}},"logprobs":null,"finish_reason":"stop"}}]}}')
    payloads.append(f'{OPENAI_HEAD}"choices":[],"usage":{{"prompt_tokens":20,"completion_tokens":{tokens},'
                    f'"total_tokens":{tokens + 20}}}}}')
    return payloads


def tool_call_payloads(calls: int = 6, seed: int = 21) -> list[str]:
    """Parallel tool calls as OpenAI streams them: each call's first fragment carries `index`, `id`,
    `type` and `name` with empty arguments, later fragments only `index` and a few characters of the
    arguments. The calls' fragments interleave (a call starts after the one before it started)."""
    rng = SplitMix64(seed)
    head = OPENAI_HEAD.replace('"service_tier":"default",', "")
    names = ("get_weather", "search_flights", "lookup_order", "create_event", "send_email", "query_database")
    fragments: list[list[str]] = []
    for index in range(calls):
        call_id = "call_" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                                    for _ in range(24))
        arguments = json.dumps({
            "location": f"{rng.choice(WORDS).title()}ville, {rng.choice(WORDS).title()}land",
            "unit": "celsius",
            "days": rng.between(1, 14),
            "fields": [rng.choice(WORDS) for _ in range(8)],
            "note": " ".join(rng.choice(WORDS) for _ in range(40)),
        })
        call = [f'{{"index":{index},"id":"{call_id}","type":"function","function":{{"name":"{names[index % len(names)]}",'
                '"arguments":""}}']
        start = 0
        while start < len(arguments):
            end = start + rng.between(1, 8)
            call.append(f'{{"index":{index},"function":{{"arguments":{json.dumps(arguments[start:end])}}}}}')
            start = end
        fragments.append(call)
    payloads = [f'{head}"choices":[{{"index":0,"delta":{{"role":"assistant","content":null,"refusal":null}},'
                '"logprobs":null,"finish_reason":null}]}']
    opened = 0  # calls whose first fragment went out; call `opened` is the one that may start next
    while any(fragments):
        index = rng.choice([n for n in range(min(opened + 1, calls)) if fragments[n]])
        if index == opened:
            opened += 1
        payloads.append(f'{head}"choices":[{{"index":0,"delta":{{"tool_calls":[{fragments[index].pop(0)}]}},'
                        '"logprobs":null,"finish_reason":null}]}')
    payloads.append(f'{head}"choices":[{{"index":0,"delta":{{}},"logprobs":null,"finish_reason":"tool_calls"}}]}}')
    payloads.append(f'{head}"choices":[],"usage":{{"prompt_tokens":310,"completion_tokens":{len(payloads) - 2},'
                    f'"total_tokens":{len(payloads) + 308}}}}}')
    return payloads


def reasoning_payloads(reasoning_tokens: int = 3000, answer_tokens: int = 1000, seed: int = 31) -> list[str]:
    """DeepSeek's shape: `reasoning_content` deltas (with `"content":null`), then `content` deltas (with
    `"reasoning_content":null`), `"usage":null` on every chunk until the last."""
    rng = SplitMix64(seed)
    head = ('{"id":"33be18fc-3842-486c-8c29-dd8e578f7f20","object":"chat.completion.chunk","created":1763700000,'
            '"model":"deepseek-reasoner","system_fingerprint":"fp_393bca965e_prod0623_fp8_kvcache",')

    def token(n: int) -> str:
        return json.dumps("\n\n" if n % 50 == 49 else " " + rng.choice(WORDS))

    def chunk(delta: str, finish: str = "null", usage: str = "null") -> str:
        return f'{head}"choices":[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}],"usage":{usage}}}'

    payloads = [chunk('{"role":"assistant","content":null,"reasoning_content":""}')]
    payloads += [chunk(f'{{"content":null,"reasoning_content":{token(n)}}}') for n in range(reasoning_tokens)]
    payloads += [chunk(f'{{"content":{token(n)},"reasoning_content":null}}') for n in range(answer_tokens)]
    total = reasoning_tokens + answer_tokens
    usage = (f'{{"prompt_tokens":17,"completion_tokens":{total},"total_tokens":{total + 17},'
             f'"prompt_tokens_details":{{"cached_tokens":0}},"completion_tokens_details":{{"reasoning_tokens":'
             f'{reasoning_tokens}}},"prompt_cache_hit_tokens":0,"prompt_cache_miss_tokens":17}}')
    payloads.append(chunk('{"content":"","reasoning_content":null}', '"stop"', usage))
    return payloads


def _logprob_entry(rng: SplitMix64, token: str) -> str:
    """One `TokenLogprob` as JSON text; logprobs are written out as OpenAI does, as literals."""
    return (f'"token":{json.dumps(token)},"logprob":-{rng.below(10**8) / 10**8:.8f},'
            f'"bytes":{json.dumps(list(token.encode()), separators=(",", ":"))}')


def logprob_payloads(tokens: int = 1000, top: int = 5, seed: int = 41) -> list[str]:
    """`logprobs=true, top_logprobs=5`: every chunk carries its token's logprob and five alternatives."""
    rng = SplitMix64(seed)
    head = OPENAI_HEAD.replace('"service_tier":"default",', "")
    payloads = [f'{head}"choices":[{{"index":0,"delta":{{"role":"assistant","content":"","refusal":null}},'
                '"logprobs":{"content":[],"refusal":null},"finish_reason":null}]}']
    for _ in range(tokens):
        word = " " + rng.choice(WORDS)
        entry = _logprob_entry(rng, word)
        alternatives = ",".join("{" + _logprob_entry(rng, " " + rng.choice(WORDS)) + "}" for _ in range(top))
        payloads.append(f'{head}"choices":[{{"index":0,"delta":{{"content":{json.dumps(word)}}},"logprobs":{{"content":'
                        f'[{{{entry},"top_logprobs":[{alternatives}]}}],"refusal":null}},"finish_reason":null}}]}}')
    payloads.append(f'{head}"choices":[{{"index":0,"delta":{{}},"logprobs":null,"finish_reason":"stop"}}]}}')
    payloads.append(f'{head}"choices":[],"usage":{{"prompt_tokens":12,"completion_tokens":{tokens},'
                    f'"total_tokens":{tokens + 12}}}}}')
    return payloads


def multi_choice_payloads(choices: int = 4, tokens: int = 500, seed: int = 51) -> list[str]:
    """`n=4`: OpenAI sends each choice's deltas in chunks of their own, the choices taking turns."""
    rng = SplitMix64(seed)
    head = OPENAI_HEAD.replace('"service_tier":"default",', "")
    payloads = []
    for n in range(tokens + 1):
        for index in range(choices):
            delta = ('{"role":"assistant","content":"","refusal":null}' if n == 0
                     else f'{{"content":{json.dumps(" " + rng.choice(WORDS))}}}')
            payloads.append(f'{head}"choices":[{{"index":{index},"delta":{delta},"logprobs":null,"finish_reason":null}}]}}')
    for index in range(choices):
        payloads.append(f'{head}"choices":[{{"index":{index},"delta":{{}},"logprobs":null,"finish_reason":"stop"}}]}}')
    payloads.append(f'{head}"choices":[],"usage":{{"prompt_tokens":9,"completion_tokens":{choices * tokens},'
                    f'"total_tokens":{choices * tokens + 9}}}}}')
    return payloads


def stream_workload(name: str, payloads: list[str], cutting: str, line_ending: str = "\n",
                    keep_alive_every: int = 0) -> Workload:
    body = sse_body(payloads, line_ending, keep_alive_every)
    return Workload(name, cutting, (CUTTINGS[cutting](body),), len(payloads), len(payloads) + 1)


def generated_workloads(cutting: str) -> list[Workload]:
    """The generated stream workloads, in one cutting."""
    return [
        stream_workload("short answer", answer_payloads(40, seed=3), cutting),
        stream_workload("long answer", answer_payloads(10_000), cutting),
        stream_workload("parallel tool calls", tool_call_payloads(), cutting),
        stream_workload("reasoning", reasoning_payloads(), cutting),
        stream_workload("logprobs", logprob_payloads(), cutting),
        stream_workload("n=4 choices", multi_choice_payloads(), cutting),
        stream_workload("CRLF + keep-alives", answer_payloads(2000, seed=5), cutting, "\r\n", keep_alive_every=20),
    ]


def answer_workload(chunks: int, cutting: str = "socket cuts") -> Workload:
    """A chat answer of `chunks` token chunks (plus its role, finish and usage chunks)."""
    return stream_workload(f"{chunks:,}-token answer", answer_payloads(chunks), cutting)


def one_mib_line() -> Workload:
    """One event whose single data line is 1 MiB, fed in 64-byte pieces: quadratic rescanning shows here."""
    body = b"data: " + b"x" * (1 << 20) + b"\n\n"
    return Workload("1 MiB line", "64-byte pieces", (tiny_pieces(body),), 1, 1)


def completion_bodies() -> dict[str, bytes]:
    """Non-streamed responses as OpenAI returns them (indented JSON): a short answer, one with parallel
    tool calls, one with content logprobs."""
    rng = SplitMix64(61)

    def body(message: dict[str, Any], finish_reason: str, logprobs: Any = None, tokens: int = 40) -> bytes:
        return json.dumps({
            "id": "chatcmpl-BENCH0123456789abcdefghij", "object": "chat.completion", "created": 1763700000,
            "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "message": message, "logprobs": logprobs, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 20, "completion_tokens": tokens, "total_tokens": tokens + 20,
                      "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                    "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
            "service_tier": "default", "system_fingerprint": "fp_b1c2d3e4f5",
        }, indent=2).encode()

    short = " ".join(rng.choice(WORDS) for _ in range(40))
    calls = [{"id": f"call_{n:024d}", "type": "function",
              "function": {"name": name, "arguments": json.dumps({"location": rng.choice(WORDS).title() + "ville",
                                                                  "days": rng.between(1, 14),
                                                                  "note": " ".join(rng.choice(WORDS) for _ in range(20))})}}
             for n, name in enumerate(("get_weather", "search_flights", "lookup_order", "create_event"))]
    words = [" " + rng.choice(WORDS) for _ in range(300)]

    def logprob(token: str) -> dict[str, Any]:
        return {"token": token, "logprob": -rng.below(10**8) / 10**8, "bytes": list(token.encode())}

    content_logprobs = [{**logprob(word), "top_logprobs": [logprob(" " + rng.choice(WORDS)) for _ in range(5)]}
                        for word in words]
    return {
        "short answer": body({"role": "assistant", "content": short, "refusal": None, "annotations": []}, "stop"),
        "parallel tool calls": body({"role": "assistant", "content": None, "tool_calls": calls, "refusal": None,
                                     "annotations": []}, "tool_calls"),
        "logprobs": body({"role": "assistant", "content": "".join(words), "refusal": None, "annotations": []}, "stop",
                         {"content": content_logprobs, "refusal": None}, tokens=300),
    }


def completion_workload(name: str, body: bytes) -> Workload:
    return Workload(name, "", ((body,),), 1, 0)


# -- The pure-Python alternatives, written as well as Python allows ----------------------------------------

_chunk_decoder = msgspec.json.Decoder(ChatCompletionChunk)


def python_split_payloads(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """The fastest correct-enough incremental splitter in Python: LF or CRLF framing (told by the first
    line ending), one `data:` line per event; blocks that are not `data:` (comments) are skipped. Stops
    at [DONE]. Not the SSE rules (no lone CR, no multi-line data, no BOM): less than chatsse does."""
    buffer = b""
    separator = b""
    for piece in pieces:
        buffer += piece
        if not separator:
            end = buffer.find(b"\n")
            if end < 0:
                continue
            separator = b"\r\n\r\n" if buffer[end - 1 : end] == b"\r" else b"\n\n"
        events = buffer.split(separator)
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


def _new_choice(index: int) -> dict[str, Any]:
    # Text arrives as parts joined once at the end: `+=` on a string kept in a dict copies the whole
    # text every time (CPython extends in place only a local variable's string), quadratic on long answers.
    return {"index": index, "role": "assistant", "content": [], "reasoning_content": [], "refusal": [],
            "tool_calls": {}, "logprobs": [], "finish_reason": None}


def _new_call() -> dict[str, Any]:
    return {"id": "", "name": "", "arguments": []}


def _choice_of(state: dict[str, Any]) -> dict[str, Any]:
    """The end of a Python merge: a choice's state as the completion's choice."""
    message = {"role": state["role"], "content": "".join(state["content"]) or None}
    for key in ("refusal", "reasoning_content"):
        if state[key]:
            message[key] = "".join(state[key])
    if state["tool_calls"]:
        message["tool_calls"] = [
            {"id": call["id"], "type": "function",
             "function": {"name": call["name"], "arguments": "".join(call["arguments"])}}
            for _, call in sorted(state["tool_calls"].items())
        ]
    return {"index": state["index"], "message": message, "finish_reason": state["finish_reason"],
            "logprobs": {"content": state["logprobs"]} if state["logprobs"] else None}


def python_merge(chunks: Iterable[ChatCompletionChunk]) -> dict[str, Any]:
    """Merges typed chunks in Python into a completion dict: the usual hand-written merge (content,
    refusal, reasoning_content, role, tool calls by index, logprobs, finish reason, usage, identity from
    the first chunk). Fewer rules than chatsse's (no index-less calls, no undeclared members)."""
    completion: dict[str, Any] = {}
    choices: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        if "id" not in completion and chunk.id:
            completion.update(id=chunk.id, object="chat.completion", created=chunk.created, model=chunk.model)
        if chunk.usage:
            completion["usage"] = chunk.usage
        for choice in chunk.choices or ():
            state = choices.get(choice.index)
            if state is None:
                state = choices[choice.index] = _new_choice(choice.index)
            delta = choice.delta
            if delta:
                if delta.content:
                    state["content"].append(delta.content)
                if delta.reasoning_content:
                    state["reasoning_content"].append(delta.reasoning_content)
                if delta.refusal:
                    state["refusal"].append(delta.refusal)
                if delta.role:
                    state["role"] = delta.role
                for call in delta.tool_calls or ():
                    target = state["tool_calls"].get(call.index)
                    if target is None:
                        target = state["tool_calls"][call.index] = _new_call()
                    if call.id:
                        target["id"] = call.id
                    function = call.function
                    if function:
                        if function.name:
                            target["name"] = function.name
                        if function.arguments:
                            target["arguments"].append(function.arguments)
            if choice.logprobs and choice.logprobs.content:
                state["logprobs"].extend(choice.logprobs.content)
            if choice.finish_reason:
                state["finish_reason"] = choice.finish_reason
    completion["choices"] = [_choice_of(state) for _, state in sorted(choices.items())]
    return completion


def dict_merge(payloads: Iterable[bytes], loads: Callable[[bytes], Any]) -> dict[str, Any]:
    """The same merge over plain dicts, from `json.loads` or `orjson.loads`."""
    completion: dict[str, Any] = {}
    choices: dict[int, dict[str, Any]] = {}
    for payload in payloads:
        chunk = loads(payload)
        if "id" not in completion and chunk.get("id"):
            completion.update(id=chunk["id"], object="chat.completion", created=chunk.get("created"),
                              model=chunk.get("model"))
        if chunk.get("usage"):
            completion["usage"] = chunk["usage"]
        for choice in chunk.get("choices") or ():
            index = choice["index"]
            state = choices.get(index)
            if state is None:
                state = choices[index] = _new_choice(index)
            delta = choice.get("delta")
            if delta:
                if delta.get("content"):
                    state["content"].append(delta["content"])
                if delta.get("reasoning_content"):
                    state["reasoning_content"].append(delta["reasoning_content"])
                if delta.get("refusal"):
                    state["refusal"].append(delta["refusal"])
                if delta.get("role"):
                    state["role"] = delta["role"]
                for call in delta.get("tool_calls") or ():
                    target = state["tool_calls"].get(call["index"])
                    if target is None:
                        target = state["tool_calls"][call["index"]] = _new_call()
                    if call.get("id"):
                        target["id"] = call["id"]
                    function = call.get("function")
                    if function:
                        if function.get("name"):
                            target["name"] = function["name"]
                        if function.get("arguments"):
                            target["arguments"].append(function["arguments"])
            logprobs = choice.get("logprobs")
            if logprobs and logprobs.get("content"):
                state["logprobs"].extend(logprobs["content"])
            if choice.get("finish_reason"):
                state["finish_reason"] = choice["finish_reason"]
    completion["choices"] = [_choice_of(state) for _, state in sorted(choices.items())]
    return completion


# -- What every approach of a group must agree on ---------------------------------------------------------


def _member(obj: Any, name: str) -> Any:
    """A member of a dict, a msgspec Struct or a pydantic model (their undeclared extras too)."""
    value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
    return None if value is msgspec.UNSET else value


def completion_outcome(completion: Any) -> list[tuple[Any, ...]]:
    """Per choice: index, content, reasoning_content, tool calls (id, name, arguments), finish reason and
    the number of content logprobs. Compared across approaches, never timed. A JSON body (the proxy's
    `to_json()`) is compared as the value it holds."""
    if isinstance(completion, bytes):
        completion = json.loads(completion)
    rows = []
    for choice in _member(completion, "choices") or ():
        message = _member(choice, "message")
        calls = tuple((_member(call, "id"), _member(_member(call, "function"), "name"),
                       _member(_member(call, "function"), "arguments")) for call in _member(message, "tool_calls") or ())
        logprobs = _member(choice, "logprobs")
        tokens = len(_member(logprobs, "content") or ()) if logprobs else 0
        rows.append((_member(choice, "index"), _member(message, "content") or "",
                     _member(message, "reasoning_content") or "", calls, _member(choice, "finish_reason"), tokens))
    return sorted(rows)


def chunks_outcome(chunks: Iterable[Any]) -> tuple[int, list[tuple[Any, ...]]]:
    """The number of chunks and what they add up to, per choice, in the shape of `completion_outcome`."""
    choices: dict[int, dict[str, Any]] = {}
    count = 0
    for chunk in chunks:
        count += 1
        for choice in _member(chunk, "choices") or ():
            state = choices.setdefault(_member(choice, "index"),
                                       {"content": [], "reasoning": [], "calls": {}, "finish": None, "logprobs": 0})
            delta = _member(choice, "delta")
            state["content"].append(_member(delta, "content") or "")
            state["reasoning"].append(_member(delta, "reasoning_content") or "")
            for call in _member(delta, "tool_calls") or ():
                target = state["calls"].setdefault(_member(call, "index"), ["", "", []])
                function = _member(call, "function")
                target[0] = target[0] or _member(call, "id") or ""
                target[1] = target[1] or _member(function, "name") or ""
                target[2].append(_member(function, "arguments") or "")
            state["finish"] = _member(choice, "finish_reason") or state["finish"]
            logprobs = _member(choice, "logprobs")
            state["logprobs"] += len(_member(logprobs, "content") or ()) if logprobs else 0
    rows = [(index, "".join(s["content"]), "".join(s["reasoning"]),
             tuple((call_id, name, "".join(arguments)) for _, (call_id, name, arguments) in sorted(s["calls"].items())),
             s["finish"], s["logprobs"]) for index, s in choices.items()]
    return count, sorted(rows)


def same(result: Any) -> Any:
    return result


def count_items(items: Iterable[Any]) -> int:
    """Takes each chunk and lets it go, as a streaming consumer does: keeping them all would make the
    timing mostly the garbage collector's, walking the growing heap."""
    count = 0
    for _ in items:
        count += 1
    return count


# -- The approaches -----------------------------------------------------------------------------------------

Pieces = tuple[bytes, ...]
# What is timed, over one stream: its pieces, or what its Approach.prepare made of them.
Run = Callable[[Any], Any]


@dataclass(frozen=True)
class Approach:
    """One way to do what a group measures. `make` returns the function to time (which takes one
    stream's pieces); it raises ImportError when the alternative is not installed."""

    key: str
    label: str
    make: Callable[[], Run]
    package: str = ""
    #: What the timed function is handed for each stream, made from its pieces before the clock
    #: starts; None: the pieces themselves.
    prepare: Callable[[Pieces], Any] | None = None

    def inputs(self, workload: Workload) -> list[Any]:
        """The timed function's input for each stream of the workload, fresh (a response reads once)."""
        prepare = self.prepare
        return list(workload.streams) if prepare is None else [prepare(pieces) for pieces in workload.streams]


@dataclass(frozen=True)
class Group:
    name: str
    #: What the rate counts: events, chunks or responses.
    unit: str
    approaches: tuple[Approach, ...]
    #: What every approach must agree on, from a result (not timed).
    outcome: Callable[[Any], Any]
    #: What the timed run does with a result: chunk iterators are consumed there.
    drain: Callable[[Any], Any] = same

    def timed(self, run: Run) -> Run:
        drain = self.drain
        return run if drain is same else lambda pieces: drain(run(pieces))


def count_events(events: Iterable[Any]) -> tuple[int, int]:
    """Events and characters of data: every parser's events are read, as a consumer reads them."""
    count = chars = 0
    for event in events:
        count += 1
        chars += len(event.data)
    return count, chars


def chatsse_events() -> Run:
    def run(pieces: Pieces) -> tuple[int, int]:
        decoder = chatsse.SSEDecoder()
        feed = decoder.feed
        count = chars = 0
        for piece in pieces:
            for event in feed(piece):
                count += 1
                chars += len(event.data)
        decoder.close()
        return count, chars

    return run


def openai_sdk_events() -> Run:
    from openai._streaming import SSEDecoder  # the decoder openai.Stream uses (private, no public one)

    return lambda pieces: count_events(SSEDecoder().iter_bytes(iter(pieces)))


def event_stream_response(pieces: Pieces) -> Any:
    """What an httpx-sse reader is handed: the streamed ``httpx.Response`` of the pieces. httpx builds it
    whichever parser reads it (~5 us a stream here), so it is made before the clock starts."""
    import httpx

    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=iter(pieces))


def httpx_sse_events() -> Run:
    import httpx_sse

    return lambda response: count_events(httpx_sse.EventSource(response).iter_sse())


def chatsse_httpx_sse_events() -> Run:
    """chatsse.httpx_sse, the drop-in: httpx-sse's API over the same httpx.Response, chatsse's framer."""
    from chatsse import httpx_sse

    return lambda response: count_events(httpx_sse.EventSource(response).iter_sse())


def sseclient_py_events() -> Run:
    import sseclient

    return lambda pieces: count_events(sseclient.SSEClient(iter(pieces)).events())


def openai_sdk_chunk_stream() -> Callable[[Pieces], Iterable[Any]]:
    """openai.Stream over a canned response: the SDK's SSE decoder, json.loads and its pydantic chunk
    models, exactly as `client.chat.completions.create(stream=True)` iterates."""
    import openai
    import openai._streaming as streaming
    from openai.types.chat import ChatCompletionChunk as SDKChunk

    # The SDK builds its responses with its own HTTP library (httpx, or httpx2 in recent versions): the
    # canned response must be of that kind. No request is sent: the base URL is never contacted.
    http: Any = getattr(streaming, "httpx2", None) or getattr(streaming, "httpx")  # noqa: B009
    client = openai.OpenAI(api_key="sk-bench", base_url="http://127.0.0.1:9/v1")
    request = http.Request("POST", "http://127.0.0.1:9/v1/chat/completions")

    def stream(pieces: Pieces) -> Iterable[Any]:
        response = http.Response(200, headers={"content-type": "text/event-stream"}, content=iter(pieces), request=request)
        return openai.Stream(cast_to=SDKChunk, response=response, client=client)

    return stream


def chatsse_chunks() -> Run:
    return chatsse.iter_chunks


def _fed(pieces: Pieces) -> chatsse.Accumulator:
    """An Accumulator that has taken the whole body, as a proxy tap feeds it."""
    accumulator = chatsse.Accumulator()
    feed = accumulator.feed
    for piece in pieces:
        feed(piece)
    accumulator.close()
    return accumulator


def chatsse_accumulate() -> Run:
    return lambda pieces: _fed(pieces).completion()


def chatsse_accumulate_json() -> Run:
    """The proxy's path: the completion as the response body (bytes), no Python object per member."""
    return lambda pieces: _fed(pieces).to_json()


def chatsse_accumulate_function() -> Run:
    """`chatsse.accumulate` over the pieces: the same merge, the loop over the pieces in Rust."""
    return chatsse.accumulate


def python_split_msgspec_merge() -> Run:
    return lambda pieces: python_merge(python_split_msgspec_chunks(pieces))


def orjson_dict_merge() -> Run:
    import orjson

    return lambda pieces: dict_merge(python_split_payloads(pieces), orjson.loads)


def json_dict_merge() -> Run:
    return lambda pieces: dict_merge(python_split_payloads(pieces), json.loads)


def openai_sdk_accumulate() -> Run:
    from openai.lib.streaming.chat import ChatCompletionStreamState

    stream = openai_sdk_chunk_stream()

    def run(pieces: Pieces) -> Any:
        state = ChatCompletionStreamState()
        for chunk in stream(pieces):
            state.handle_chunk(chunk)
        return state.get_final_completion()

    return run


def whole(decode: Callable[[bytes], Any]) -> Run:
    """A non-streamed body arrives whole: it is one piece."""
    return lambda pieces: decode(pieces[0])


def orjson_loads() -> Run:
    import orjson

    return whole(orjson.loads)


def openai_sdk_completion() -> Run:
    from openai.types.chat import ChatCompletion as SDKCompletion

    return whole(SDKCompletion.model_validate_json)


FRAMING = Group("framing", "events", (
    Approach("chatsse", "chatsse `SSEDecoder.feed`", chatsse_events),
    Approach("httpx-sse", "httpx-sse", httpx_sse_events, "httpx-sse", event_stream_response),
    Approach("chatsse-httpx-sse", "chatsse.httpx_sse (httpx-sse's API, over the same httpx.Response)", chatsse_httpx_sse_events, "httpx",
             event_stream_response),
    Approach("sseclient-py", "sseclient-py", sseclient_py_events, "sseclient-py"),
    Approach("openai-sdk", "openai SDK (`openai._streaming.SSEDecoder`)", openai_sdk_events, "openai"),
), same)

TYPED_CHUNKS = Group("typed chunks", "chunks", (
    Approach("chatsse", "chatsse `iter_chunks`", chatsse_chunks),
    Approach("python-split+msgspec", "split in Python + msgspec `Decoder(ChatCompletionChunk)`",
             lambda: python_split_msgspec_chunks),
    Approach("openai-sdk", "openai SDK (`openai.Stream`)", openai_sdk_chunk_stream, "openai"),
), chunks_outcome, count_items)

ACCUMULATE = Group("accumulate", "chunks", (
    Approach("chatsse", "chatsse `Accumulator.feed`, then `completion()`", chatsse_accumulate),
    Approach("chatsse-accumulate", "chatsse `accumulate()` (the loop over pieces in Rust)", chatsse_accumulate_function),
    Approach("python-split+msgspec+python-merge", "split in Python + msgspec + a Python merge",
             python_split_msgspec_merge),
    Approach("orjson+dict-merge", "split in Python + `orjson.loads` + a dict merge", orjson_dict_merge, "orjson"),
    Approach("json+dict-merge", "split in Python + `json.loads` + a dict merge", json_dict_merge),
    Approach("openai-sdk", "openai SDK (`openai.Stream` + `ChatCompletionStreamState`)", openai_sdk_accumulate, "openai"),
), completion_outcome)

#: Not in the accumulate tables (its result is bytes, the others' objects); in the scaling ones, where it
#: shows the merge alone, without the objects of the result.
CHATSSE_TO_JSON = Approach("chatsse-to-json", "chatsse `Accumulator.feed`, then `to_json()`", chatsse_accumulate_json)

NON_STREAMED = Group("non-streamed", "responses", (
    Approach("chatsse", "chatsse `decode_completion`", lambda: whole(chatsse.decode_completion)),
    Approach("msgspec", "msgspec `Decoder(chatsse.types.ChatCompletion)`",
             lambda: whole(msgspec.json.Decoder(ChatCompletion).decode)),
    Approach("orjson", "`orjson.loads` (dicts, no types)", orjson_loads, "orjson"),
    Approach("json", "`json.loads` (dicts, no types)", lambda: whole(json.loads)),
    Approach("openai-sdk", "openai SDK (`ChatCompletion.model_validate_json`)", openai_sdk_completion, "openai"),
), completion_outcome)

GROUPS = {group.name: group for group in (FRAMING, TYPED_CHUNKS, ACCUMULATE, NON_STREAMED)}


def run_workload(run: Run, inputs: Sequence[Any]) -> list[Any]:
    """The approach over every stream of the workload (``Approach.inputs``), one after the other."""
    return [run(stream) for stream in inputs]


def workload_outcome(group: Group, run: Run, inputs: Sequence[Any]) -> list[Any]:
    """What the approach makes of each stream of the workload (``Approach.inputs``), for comparing."""
    return [group.outcome(run(stream)) for stream in inputs]


# -- chatsse bench: the quick comparison ------------------------------------------------------------------


@dataclass
class Measurement:
    group: Group
    approach: Approach
    workload: Workload
    seconds: float
    runs: int
    agrees: bool


class Progress:
    """One status line on stderr, rewritten in place on a terminal, one line per step otherwise."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.live = sys.stderr.isatty()

    def step(self, text: str) -> None:
        self.done += 1
        line = f"[{self.done:>2}/{self.total}] {text}"
        if self.live:
            sys.stderr.write(f"\r\x1b[K{line}")
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.live:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def measure(run: Run, approach: Approach, workload: Workload, budget: float) -> tuple[float, int]:
    """The median of at least three timed runs, more while the budget lasts (the first run, a warm-up,
    is not counted; each run's inputs are made before its clock starts)."""
    run_workload(run, approach.inputs(workload))
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - started < budget and len(times) < 200):
        inputs = approach.inputs(workload)
        begin = time.perf_counter()
        run_workload(run, inputs)
        times.append(time.perf_counter() - begin)
    return statistics.median(times), len(times)


def quick_plan() -> list[tuple[Group, Workload]]:
    """A 2,000-chunk answer in socket cuts for the stream groups (short enough that the SDK's runs take
    a fraction of a second; the full suite has the 10,000-chunk one), the three response bodies for
    the non-streamed group."""
    answer = answer_workload(2000)
    bodies = completion_bodies()
    responses = Workload("3 responses (short, tool calls, logprobs)", "", tuple((body,) for body in bodies.values()),
                         len(bodies), 0)
    return [(FRAMING, answer), (TYPED_CHUNKS, answer), (ACCUMULATE, answer), (NON_STREAMED, responses)]


def format_table(measurements: list[Measurement]) -> str:
    lines = []
    for group in dict.fromkeys(m.group for m in measurements):
        rows = [m for m in measurements if m.group is group]
        baseline = next((m.seconds for m in rows if m.approach.key == "chatsse"), None)
        workload = rows[0].workload
        lines.append(f"\n{group.name}: {workload.label} ({workload.size / 1e6:.2f} MB)\n")
        width = max(len(m.approach.label.replace("`", "")) for m in rows)
        header = f"{'approach':<{width}} {group.unit + '/s':>14} {'MB/s':>9}  time / chatsse's"
        lines += [header, "-" * len(header)]
        for m in sorted(rows, key=lambda m: m.seconds):
            count = m.workload.events if group is FRAMING else m.workload.chunks
            ratio = f"{m.seconds / baseline:.1f}x" if baseline else "-"
            note = "" if m.agrees else "  RESULT DIFFERS FROM CHATSSE'S"
            lines.append(f"{m.approach.label.replace('`', ''):<{width}} {count / m.seconds:>14,.0f} "
                         f"{m.workload.size / m.seconds / 1e6:>9,.1f}  {ratio:>16}{note}")
    return "\n".join(lines)


def main(budget: float = 0.3, groups: Sequence[str] = ()) -> int:
    """`chatsse bench`: each approach of each group for about `budget` seconds; prints the table."""
    plan = [(group, workload) for group, workload in quick_plan() if not groups or group.name in groups]
    progress = Progress(sum(len(group.approaches) for group, _ in plan))
    measurements: list[Measurement] = []
    missing: dict[str, str] = {}
    for group, workload in plan:
        expected = None
        for approach in group.approaches:
            progress.step(f"{group.name}: {approach.label.replace('`', '')}")
            try:
                run = approach.make()
            except ImportError as error:
                missing[approach.package or approach.key] = str(error)
                continue
            found = workload_outcome(group, run, approach.inputs(workload))
            seconds, runs = measure(group.timed(run), approach, workload, budget)
            if approach.key == "chatsse":
                expected = found
            measurements.append(Measurement(group, approach, workload, seconds, runs, found == expected))
    progress.finish()
    print(f"chatsse {chatsse.__version__}, Python {sys.version.split()[0]}: every approach on the same bytes, median of "
          f">= 3 runs each.\nLast column: the approach's time over chatsse's (above 1: chatsse is faster). The full "
          f"suite is benches/ in a checkout (README, Benchmarks).")
    print(format_table(measurements))
    if missing:
        print(f"\nSkipped, not installed: {', '.join(sorted(missing))} (pip install 'chatsse[bench]' installs them).")
    return 0 if all(m.agrees for m in measurements) else 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=0.3, help="time spent per approach (default: %(default)s)")
    parser.add_argument("--group", action="append", choices=list(GROUPS), default=[],
                        help="only this group (repeatable; default: all)")
