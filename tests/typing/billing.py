"""A billing function as a proxy writes one: type-checked by pyright (strict) and mypy --strict in
tests/test_typing.py, and run there. Counts are ints, the provider's extras reachable, no UNSET test."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import chatsse


@dataclass(frozen=True)
class Bill:
    status: chatsse.TapStatus
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cost: float | None
    usage_json: bytes | None
    http_status: int


def bill(result: chatsse.TapResult) -> Bill:
    usage = result.usage
    counts = usage.token_counts() if usage is not None else chatsse.TokenCounts(0, 0, 0, 0, 0)
    extras: dict[str, Any] = usage.extras() if usage is not None else {}
    cost = extras.get("cost")
    return Bill(
        status=result.status,
        prompt_tokens=counts.prompt_tokens,
        completion_tokens=counts.completion_tokens + 0,  # an int, usable in arithmetic
        cached_tokens=counts.cached_tokens,
        reasoning_tokens=counts.reasoning_tokens,
        cost=float(cost) if isinstance(cost, (int, float)) else None,
        usage_json=result.usage_json,
        http_status=200 if result.error is None else chatsse.error_status(result.error),
    )


def log_line(result: chatsse.TapResult) -> str:
    completion = result.completion
    choices = completion.choices or []
    text = "".join(
        message.content
        for choice in choices
        if isinstance(message := choice.message, chatsse.ChatCompletionMessage) and isinstance(message.content, str)
    )
    return json.dumps({"status": result.status, "bytes": result.bytes, "text": text, "body": json.loads(result.body)})
