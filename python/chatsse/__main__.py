"""Command line: ``chatsse events FILE`` (or ``python -m chatsse events FILE``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from chatsse._core import DEFAULT_MAX_EVENT_SIZE, SSEDecoder, ServerSentEvent
from chatsse._errors import ChatSSEError, EventTooLargeError

READ_SIZE = 64 * 1024


def read_pieces(stream: BinaryIO) -> Iterator[bytes]:
    while piece := stream.read(READ_SIZE):
        yield piece


def print_events(path: str, max_event_size: int) -> int:
    """Print each event of an SSE body as one JSON line; report a cut-off event on stderr."""
    decoder = SSEDecoder(max_event_size=max_event_size)
    with open(path, "rb") if path != "-" else sys.stdin.buffer as body:
        for piece in read_pieces(body):
            try:
                events = decoder.feed(piece)
            except EventTooLargeError as error:
                print_event_lines(error.events)  # what completed before the failure is still output
                raise
            print_event_lines(events)
    if decoder.close():
        print(f"chatsse: {path}: the stream ended inside an event (no blank line after it); it was discarded", file=sys.stderr)
        return 1
    return 0


def print_event_lines(events: list[ServerSentEvent]) -> None:
    write = sys.stdout.write
    for event in events:
        record = {"event": event.event, "data": event.data, "id": event.id, "retry": event.retry}
        write(json.dumps(record, ensure_ascii=False) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chatsse", description="Parse OpenAI-compatible Chat Completions streams.")
    commands = parser.add_subparsers(dest="command", required=True)
    events = commands.add_parser("events", help="split an SSE body into events, one JSON object per line")
    events.add_argument("path", help="file holding the raw response body, or - for standard input")
    events.add_argument("--max-event-size", type=int, default=DEFAULT_MAX_EVENT_SIZE, help="bytes (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        return print_events(args.path, args.max_event_size)
    except (ChatSSEError, OSError) as error:
        print(f"chatsse: {args.path}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
