"""Command line: ``chatsse accumulate FILE``, ``chatsse events FILE``, ``chatsse bench`` (or
``python -m chatsse ...``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from chatsse._core import DEFAULT_MAX_EVENT_SIZE, Accumulator, SSEDecoder, ServerSentEvent, __version__
from chatsse._errors import ChatSSEError, DecodeError, EventTooLargeError, TruncatedStreamError, UpstreamError

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


def print_completion(path: str, max_event_size: int, indent: bool) -> int:
    """Print the non-streamed response body that a streamed one adds up to."""
    accumulator = Accumulator(max_event_size=max_event_size)
    status = 0

    def report(message: str) -> None:
        nonlocal status
        if status == 0:  # the first problem; the rest of the body is still merged
            print(f"chatsse: {path}: {message}", file=sys.stderr)
            status = 1

    with open(path, "rb") if path != "-" else sys.stdin.buffer as body:
        for piece in read_pieces(body):
            try:
                accumulator.feed(piece)
            except UpstreamError as error:
                report(f"the provider reported an error: {error.message}")
            except DecodeError as error:  # a bad chunk: reported, left out, the others merged
                report(str(error))
        try:
            accumulator.close()
        except TruncatedStreamError as error:
            report(str(error))
    completion = accumulator.to_json()
    if indent:
        # The completion is valid JSON that json reads back (no float beyond f64, no int past the
        # digit limit, no lone surrogate: the accumulator refuses them); allow_nan keeps it so.
        completion = json.dumps(json.loads(completion), indent=2, ensure_ascii=False, allow_nan=False).encode()
    sys.stdout.buffer.write(completion + b"\n")
    if status == 0 and not accumulator.finished:
        print(f"chatsse: {path}: the stream ended unfinished (no [DONE], no finish reason)", file=sys.stderr)
        status = 1
    return status


def print_event_lines(events: list[ServerSentEvent]) -> None:
    write = sys.stdout.write
    for event in events:
        record = {"event": event.event, "data": event.data, "id": event.id, "retry": event.retry}
        write(json.dumps(record, ensure_ascii=False) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chatsse", description="Parse OpenAI-compatible Chat Completions streams.")
    parser.add_argument("--version", action="version", version=f"chatsse {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    accumulate = commands.add_parser("accumulate", help="print the non-streamed response a streamed body adds up to")
    accumulate.add_argument("path", help="file holding the raw response body (SSE or JSON lines), or - for standard input")
    accumulate.add_argument("--indent", action="store_true", help="pretty-print the JSON")
    accumulate.add_argument("--max-event-size", type=int, default=DEFAULT_MAX_EVENT_SIZE, help="bytes (default: %(default)s)")
    events = commands.add_parser("events", help="split an SSE body into events, one JSON object per line")
    events.add_argument("path", help="file holding the raw response body, or - for standard input")
    events.add_argument("--max-event-size", type=int, default=DEFAULT_MAX_EVENT_SIZE, help="bytes (default: %(default)s)")
    bench = commands.add_parser("bench", help="compare chatsse with the other parsers installed, on generated streams")
    # Imported only for this command: it carries the workloads and the alternatives' adapters.
    from chatsse import _bench

    _bench.add_arguments(bench)
    args = parser.parse_args(argv)
    if args.command == "bench":
        return _bench.main(args.seconds, args.group)
    try:
        if args.command == "accumulate":
            return print_completion(args.path, args.max_event_size, args.indent)
        return print_events(args.path, args.max_event_size)
    except (ChatSSEError, OSError) as error:
        print(f"chatsse: {args.path}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
