"""The native module's edges: a decode reached while chatsse loads its types fails instead of waiting for
itself, and a failed ServerSentEvent construction frees its error at once. Each runs in a fresh child
interpreter (first use happens once per process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_a_decode_reentered_while_the_types_load_raises_instead_of_hanging() -> None:
    # Loading reads every type through msgspec.inspect.type_info: a hook there that decodes (any Python code
    # the load runs could) used to wait on the load's own once-lock forever.
    out = run("""
        import msgspec.inspect
        import chatsse

        original = msgspec.inspect.type_info
        seen = []

        def hooked(cls):
            if not seen:
                try:
                    chatsse.decode_chunk(b'{"id": "inner"}')
                    seen.append("decoded")
                except chatsse.ChatSSEError as error:
                    seen.append(f"{type(error).__name__}: {error}")
            return original(cls)

        msgspec.inspect.type_info = hooked
        print(chatsse.decode_chunk(b'{"id": "outer"}').id)
        print(seen[0])
        msgspec.inspect.type_info = original
        print(chatsse.decode_chunk(b'{"id": "later"}').id)
    """)
    assert out.splitlines() == [
        "outer",
        "ChatSSEError: chatsse was called while it loads its types (from Python code that loading runs: an import "
        "side effect or a hook on msgspec.inspect); call it after that code returns",
        "later",
    ]


def test_failed_event_constructions_free_their_errors_at_once() -> None:
    # pyo3 held what a failing slot dropped until its next own call: 10^6 failures held 126 MiB.
    out = run("""
        import tracemalloc
        import chatsse

        def fail(times):
            for _ in range(times):
                try:
                    chatsse.ServerSentEvent(data=5)
                except TypeError:
                    pass

        fail(1000)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        fail(100_000)
        print(tracemalloc.get_traced_memory()[0] - before)
    """)
    assert int(out) < 64 * 1024
