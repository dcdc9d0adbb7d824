"""What a proxy needs around the tap: the upstream request made to stream with usage, and an
upstream's failure turned into what the client is owed (an HTTP status and an OpenAI-shaped error
body, or an SSE error frame when the client is mid-stream)."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from chatsse._errors import TruncatedStreamError, UpstreamError

__all__ = ["StreamRequest", "error_body", "error_event", "error_status", "stream_request"]


class StreamRequest(NamedTuple):
    """An upstream request body, and what the client asked for."""

    body: bytes
    """The request body with ``stream: true`` and ``stream_options.include_usage: true``."""
    stream: bool
    """The client asked to stream: else answer it with ``TapResult.body`` (one JSON response)."""
    include_usage: bool
    """The client asked for usage: else hide the usage-only chunk (``choices: []``) from it."""


def stream_request(body: bytes | str | dict[str, Any]) -> StreamRequest:
    """Makes a Chat Completions request body stream with usage, so that every response can be
    tapped and billed: ``stream`` and ``stream_options.include_usage`` are set to true, every other
    member is kept. Raises ValueError when the body is not a JSON object."""
    request = json.loads(body) if isinstance(body, (bytes, str)) else dict(body)
    if not isinstance(request, dict):
        raise ValueError(f"a Chat Completions request body is a JSON object, not {type(request).__name__}")
    stream = request.get("stream") is True
    options = request.get("stream_options")
    options = dict(options) if isinstance(options, dict) else {}
    include_usage = stream and options.get("include_usage") is True
    options["include_usage"] = True
    request["stream"] = True
    request["stream_options"] = options
    return StreamRequest(json.dumps(request, separators=(",", ":"), ensure_ascii=False).encode(), stream, include_usage)


def error_status(error: BaseException) -> int:
    """The HTTP status a client is answered with for a failed upstream: the provider's own status
    (Groq's ``error.status_code``, or a ``code`` between 400 and 599, as OpenRouter and vLLM send),
    else 502 (Bad Gateway); 504 (Gateway Timeout) when reading the upstream timed out."""
    if isinstance(error, UpstreamError):
        fields: dict[str, Any] = error.error if isinstance(error.error, dict) else {}
        for candidate in (fields.get("status_code"), fields.get("status"), error.code):
            status = _http_status(candidate)
            if status is not None:
                return status
        return 502
    if isinstance(error, TimeoutError) or type(error).__name__ in ("ReadTimeout", "TimeoutException", "ServerTimeoutError"):
        return 504
    return 502


def _http_status(value: object) -> int | None:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 400 <= value <= 599:
        return value
    return None


def error_body(error: BaseException) -> bytes:
    """An OpenAI-shaped error body for the client: ``{"error": {"message", "type", "param", "code", ...}}``.
    A provider's error object is kept whole (its other members too); other failures get type
    ``"upstream_error"`` and a message naming them."""
    return json.dumps({"error": _error_object(error)}, separators=(",", ":"), ensure_ascii=False).encode()


def error_event(error: BaseException) -> bytes:
    """An SSE ``event: error`` frame carrying ``error_body(error)``, for a client that is mid-stream.
    The official SDK raises it as an ``APIError`` with the provider's message."""
    return b"event: error\ndata: " + error_body(error) + b"\n\n"


def _error_object(error: BaseException) -> dict[str, Any]:
    if isinstance(error, UpstreamError):
        provided: dict[str, Any] = dict(error.error) if isinstance(error.error, dict) else {}
        provided["message"] = error.message
        provided.setdefault("type", error.type if error.type is not None else "upstream_error")
        provided.setdefault("param", error.param)
        provided.setdefault("code", error.code)
        return provided
    if isinstance(error, TruncatedStreamError):
        message = f"the upstream response ended early: {error}"
    else:
        message = f"the upstream failed: {type(error).__name__}: {error}" if str(error) else f"the upstream failed: {type(error).__name__}"
    return {"message": message, "type": "upstream_error", "param": None, "code": None}
