"""chatsse: the fast, exact parser for OpenAI-compatible Chat Completions streams.

The native core (``chatsse._core``, Rust) does the parsing; this package re-exports the public API.
"""

from chatsse import types
from chatsse._accumulate import aaccumulate, accumulate, accumulate_many
from chatsse._chunks import aiter_chunks, decode, encode, iter_chunks
from chatsse._core import (
    DEFAULT_MAX_EVENT_SIZE,
    Accumulator,
    ChunkDecoder,
    Rewriter,
    SSEDecoder,
    ServerSentEvent,
    __version__,
    completion_to_stream,
    decode_chunk,
    decode_completion,
    parse_partial_json,
)
from chatsse._errors import (
    ChatSSEError,
    ConcurrentUseError,
    DecodeError,
    DecoderClosedError,
    EventTooLargeError,
    IncompleteStreamWarning,
    TruncatedStreamError,
    UpstreamError,
)
from chatsse._proxy import (
    StreamRequest,
    acomplete,
    aforward,
    drop_usage_chunks,
    error_body,
    error_event,
    error_status,
    stream_request,
)
from chatsse._sse import aiter_events, iter_events
from chatsse._tap import TapResult, TapStatus, atap, tap
from chatsse.types import *  # noqa: F403 -- the types are part of the top-level API

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "Accumulator",
    "ChatSSEError",
    "ChunkDecoder",
    "ConcurrentUseError",
    "DecodeError",
    "DecoderClosedError",
    "EventTooLargeError",
    "IncompleteStreamWarning",
    "Rewriter",
    "SSEDecoder",
    "ServerSentEvent",
    "StreamRequest",
    "TapResult",
    "TapStatus",
    "TruncatedStreamError",
    "UpstreamError",
    "aaccumulate",
    "accumulate",
    "accumulate_many",
    "acomplete",
    "aforward",
    "aiter_chunks",
    "aiter_events",
    "atap",
    "completion_to_stream",
    "decode",
    "decode_chunk",
    "decode_completion",
    "drop_usage_chunks",
    "encode",
    "error_body",
    "error_event",
    "error_status",
    "iter_chunks",
    "iter_events",
    "parse_partial_json",
    "stream_request",
    "tap",
    "types",
    *types.__all__,
]
