"""An OpenAI-compatible proxy that bills every request: Starlette + httpx + chatsse's tap.

    python examples/proxy.py --upstream https://api.openai.com/v1 [--api-key KEY] [--port 8000] [--log FILE]

(or CHATSSE_UPSTREAM / CHATSSE_UPSTREAM_KEY in the environment). It serves ``POST /v1/chat/completions``
on 127.0.0.1: every upstream request streams with usage (``chatsse.stream_request``); a streaming
client gets the upstream's bytes as they come (whole events; an ``event: error`` frame if the
upstream breaks; the usage-only chunk only if it asked for usage), a non-streaming client the
completion the stream added up to. Upstream error statuses (429, 500, ...) are forwarded as they
came. One JSON line per request goes to the log: its status, usage (every provider member kept)
and the completion body. Needs ``pip install 'chatsse[asgi]' uvicorn``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
import threading
from collections.abc import AsyncGenerator
from typing import IO, Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import chatsse
from chatsse.asgi import TapStreamingResponse, complete_response

# Headers of the upstream's response that describe the body as it was sent, not as forwarded.
_HOP_HEADERS = {"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive"}


class RequestLog:
    """One JSON line per request, written whole under a lock (the log is shared by all requests)."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()

    def tap_record(self, request_id: str, result: chatsse.TapResult) -> None:
        usage = result.usage_json
        self.write(
            {
                "request": request_id,
                "status": result.status,
                "usage": json.loads(usage) if usage is not None else None,
                "body": json.loads(result.body),
                "error": None if result.error is None else f"{type(result.error).__name__}: {result.error}",
                "bytes": result.bytes,
            }
        )


def create_app(upstream: str, api_key: str | None, log: RequestLog) -> Starlette:
    client: httpx.AsyncClient | None = None
    counter = 0

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncGenerator[None, None]:
        nonlocal client
        async with httpx.AsyncClient(base_url=upstream.rstrip("/") + "/", timeout=httpx.Timeout(60.0, connect=10.0)) as opened:
            client = opened
            yield

    async def chat_completions(request: Request) -> Response:
        nonlocal counter
        assert client is not None
        counter += 1
        request_id = f"req-{counter}"
        try:
            asked = chatsse.stream_request(await request.body())
        except ValueError as error:
            refusal = {"error": {"message": str(error), "type": "invalid_request_error", "param": None, "code": None}}
            return Response(json.dumps(refusal), status_code=400, media_type="application/json")
        headers = {"content-type": "application/json", "accept": "text/event-stream"}
        authorization = f"Bearer {api_key}" if api_key else request.headers.get("authorization")
        if authorization:
            headers["authorization"] = authorization
        upstream_request = client.build_request("POST", "chat/completions", content=asked.body, headers=headers)
        try:
            response = await client.send(upstream_request, stream=True)
        except httpx.HTTPError as error:
            log.write({"request": request_id, "status": "upstream_failed", "usage": None, "body": None, "error": repr(error)})
            return Response(chatsse.error_body(error), status_code=chatsse.error_status(error), media_type="application/json")
        forwarded_headers = {k: v for k, v in response.headers.items() if k.lower() not in _HOP_HEADERS}

        if response.status_code != 200 or "text/event-stream" not in response.headers.get("content-type", ""):
            # An error status (429, 500, ...), or an upstream that answered in one piece: as it came.
            body = await response.aread()
            await response.aclose()
            log.write({"request": request_id, "status": f"http_{response.status_code}", "usage": None, "body": _json_or_text(body), "error": None})
            return Response(body, status_code=response.status_code, headers=forwarded_headers)

        def on_done(result: chatsse.TapResult) -> None:
            log.tap_record(request_id, result)

        if not asked.stream:
            forwarded_headers.pop("content-type", None)
            return await complete_response(response.aiter_bytes(), on_done=on_done, close=response.aclose, headers=forwarded_headers)
        return TapStreamingResponse(
            response.aiter_bytes(),
            on_done=on_done,
            close=response.aclose,
            headers=forwarded_headers,
            include_usage=asked.include_usage,
        )

    return Starlette(routes=[Route("/v1/chat/completions", chat_completions, methods=["POST"])], lifespan=lifespan)


def _json_or_text(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="An OpenAI-compatible proxy that bills every request.")
    parser.add_argument("--upstream", default=os.environ.get("CHATSSE_UPSTREAM"), help="base URL, e.g. https://api.openai.com/v1")
    parser.add_argument("--api-key", default=os.environ.get("CHATSSE_UPSTREAM_KEY"), help="sent upstream; else the client's Authorization")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--log", default="-", help="file for the JSON lines ('-': standard output)")
    options = parser.parse_args(argv)
    if not options.upstream:
        parser.error("--upstream (or CHATSSE_UPSTREAM) is required")
    out = sys.stdout if options.log == "-" else open(options.log, "a", encoding="utf-8")  # noqa: SIM115
    # Bound and listening here, so that the port is known (and printed) before the first request and a
    # client that connects at once waits in the backlog until the server accepts: bound but not yet
    # listening, a connection made while uvicorn still starts up is refused.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", options.port))
    listener.listen(128)
    print(f"chatsse proxy on http://127.0.0.1:{listener.getsockname()[1]}/v1 -> {options.upstream}", file=sys.stderr, flush=True)
    app = create_app(options.upstream, options.api_key, RequestLog(out))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    server.run(sockets=[listener])


if __name__ == "__main__":
    main()
