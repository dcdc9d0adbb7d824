"""A plain transcription of WHATWG HTML §9.2.6 ("Interpreting an event stream") working on a whole
stream at once: slow and obviously right, the oracle for the property tests of SSEDecoder."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

LINE_ENDING = re.compile("\r\n|\r|\n")


@dataclass
class ReferenceResult:
    events: list[tuple[str, str, str, int | None]] = field(default_factory=list)
    last_event_id: str = ""
    retry: int | None = None


def reference_parse(stream: bytes) -> ReferenceResult:
    text = stream.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    # The text after the last line ending is an unfinished line: never processed (end of stream
    # discards it along with the pending block).
    lines = LINE_ENDING.split(text)[:-1]
    result = ReferenceResult()
    data: list[str] = []
    event_type = ""
    id_buffer = ""
    block_retry: int | None = None
    for line in lines:
        if line == "":
            result.last_event_id = id_buffer
            if data:
                result.events.append((event_type or "message", "\n".join(data), id_buffer, block_retry))
            data, event_type, block_retry = [], "", None
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event_type = value
        elif name == "id":
            if "\0" not in value:
                id_buffer = value
        elif name == "retry":
            if value and all(c in "0123456789" for c in value):
                block_retry = result.retry = min(int(value), 2**64 - 1)
    return result
