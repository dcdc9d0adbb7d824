"""A replaying upstream for the proxy tests: an HTTP/1.1 server on 127.0.0.1 that answers
``POST .../chat/completions`` with a recorded stream, cut into pieces sent as separate chunked
frames, with faults on demand.

The request names what to replay (members the proxy forwards untouched): ``model`` is a capture's
file name; ``replay`` (optional) is ``{"pieces": "mixed" | "tiny" | "whole", "fault": ..., "at":
0.5, "delay": seconds between pieces}`` with ``fault`` one of ``"end"`` (the body ends cleanly after
``at`` of it, mid-event), ``"drop"`` (the connection is dropped there, the chunked body unfinished),
``"status"`` (answers ``status`` with an OpenAI error body). Each request's body, its headers and
whether the proxy hung up before the end are kept in ``requests``.
"""

from __future__ import annotations

import json
import random
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def pieces_of(body: bytes, mode: str, seed: str) -> list[bytes]:
    """The body cut as a network delivers it: ``mixed`` is mostly 64 B-4 KiB reads with one in
    four of 1-8 bytes; ``tiny`` is 1-8 bytes throughout; ``whole`` is one piece."""
    if mode == "whole":
        return [body]
    draw = random.Random(seed)
    pieces = []
    position = 0
    while position < len(body):
        tiny = mode == "tiny" or draw.random() < 0.25
        size = draw.randint(1, 8) if tiny else draw.randint(64, 4096)
        pieces.append(body[position : position + size])
        position += size
    return pieces


@dataclass
class Seen:
    body: dict[str, Any]
    headers: dict[str, str]
    hung_up: bool = False
    done: threading.Event = field(default_factory=threading.Event)


class ReplayUpstream:
    def __init__(self, corpus: Path) -> None:
        self.corpus = corpus
        self.requests: list[Seen] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length", "0"))
                request = json.loads(self.rfile.read(length))
                seen = Seen(request, {key.lower(): value for key, value in self.headers.items()})
                upstream.requests.append(seen)
                try:
                    upstream.answer(self, request, seen)
                finally:
                    seen.done.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ReplayUpstream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, handler: BaseHTTPRequestHandler, request: dict[str, Any], seen: Seen) -> None:
        replay: dict[str, Any] = request.get("replay") or {}
        if replay.get("fault") == "status":
            status = int(replay["status"])
            error = {"error": {"message": f"replayed {status}", "type": "replayed_error", "param": None, "code": str(status)}}
            payload = json.dumps(error).encode()
            handler.send_response(status)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            return
        body = (self.corpus / request["model"]).read_bytes()
        fault = replay.get("fault")
        cut_at = int(len(body) * float(replay.get("at", 0.5))) if fault in ("end", "drop") else len(body)
        pieces = pieces_of(body[:cut_at], replay.get("pieces", "mixed"), request["model"])
        handler.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("transfer-encoding", "chunked")
        handler.end_headers()
        delay = float(replay.get("delay", 0))
        stop = threading.Event()
        try:
            for piece in pieces:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                handler.wfile.flush()
                if delay:
                    stop.wait(delay)
            if fault == "drop":
                handler.connection.shutdown(socket.SHUT_RDWR)
                handler.close_connection = True
                return
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            seen.hung_up = True
            handler.close_connection = True
