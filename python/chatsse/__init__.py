"""chatsse: the fast, exact parser for OpenAI-compatible Chat Completions streams.

The native core (``chatsse._core``, Rust) does the parsing; this package re-exports the public API.
"""

from chatsse._core import DEFAULT_MAX_EVENT_SIZE, SSEDecoder, ServerSentEvent
from chatsse._errors import ChatSSEError, DecoderClosedError, EventTooLargeError
from chatsse._sse import aiter_events, iter_events

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "ChatSSEError",
    "DecoderClosedError",
    "EventTooLargeError",
    "SSEDecoder",
    "ServerSentEvent",
    "aiter_events",
    "iter_events",
]

__version__ = "0.1.0"
