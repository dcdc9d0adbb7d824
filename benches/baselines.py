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


def python_merge(chunks: Iterable[ChatCompletionChunk]) -> dict:
    """Merges typed chunks in Python into a completion dict: the usual hand-written merge (content,
    refusal, reasoning, role, tool calls by index, finish reason, usage, identity from the first chunk)."""
    completion: dict = {"choices": {}}
    for chunk in chunks:
        if "id" not in completion and chunk.id:
            completion.update(id=chunk.id, created=chunk.created, model=chunk.model)
        if chunk.usage:
            completion["usage"] = chunk.usage
        for choice in chunk.choices or ():
            state = completion["choices"].setdefault(choice.index, {"content": "", "tool_calls": {}, "finish_reason": None})
            delta = choice.delta
            if delta:
                if delta.role and "role" not in state:
                    state["role"] = delta.role
                if delta.content:
                    state["content"] += delta.content
                if delta.refusal:
                    state["refusal"] = state.get("refusal", "") + delta.refusal
                if delta.reasoning_content:
                    state["reasoning_content"] = state.get("reasoning_content", "") + delta.reasoning_content
                for call in delta.tool_calls or ():
                    target = state["tool_calls"].setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                    if call.id:
                        target["id"] = call.id
                    if call.function:
                        if call.function.name:
                            target["name"] = call.function.name
                        if call.function.arguments:
                            target["arguments"] += call.function.arguments
            if choice.finish_reason:
                state["finish_reason"] = choice.finish_reason
    return completion


def dict_merge(payloads: Iterable[bytes], loads) -> dict:  # type: ignore[no-untyped-def]
    """The same merge over plain dicts, from `json.loads` or `orjson.loads`."""
    completion: dict = {"choices": {}}
    for payload in payloads:
        chunk = loads(payload)
        if "id" not in completion and chunk.get("id"):
            completion.update(id=chunk["id"], created=chunk.get("created"), model=chunk.get("model"))
        if chunk.get("usage"):
            completion["usage"] = chunk["usage"]
        for choice in chunk.get("choices") or ():
            state = completion["choices"].setdefault(choice["index"], {"content": "", "tool_calls": {}, "finish_reason": None})
            delta = choice.get("delta") or {}
            if delta.get("role") and "role" not in state:
                state["role"] = delta["role"]
            if delta.get("content"):
                state["content"] += delta["content"]
            if delta.get("refusal"):
                state["refusal"] = state.get("refusal", "") + delta["refusal"]
            for call in delta.get("tool_calls") or ():
                target = state["tool_calls"].setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
                if call.get("id"):
                    target["id"] = call["id"]
                function = call.get("function") or {}
                if function.get("name"):
                    target["name"] = function["name"]
                if function.get("arguments"):
                    target["arguments"] += function["arguments"]
            if choice.get("finish_reason"):
                state["finish_reason"] = choice["finish_reason"]
    return completion
