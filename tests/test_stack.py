"""Deep documents on small-stack threads: every entry point decodes, or fails with a DecodeError, and the
process lives. Each case runs in a child process, so that an overflow shows as a crash, not as the end of
the test run."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

CASES = {
    "decode_chunk": "chatsse.decode_chunk(chunk)",
    "decode_completion": "chatsse.decode_completion(completion)",
    "decode": "chatsse.decode(completion, chatsse.ChatCompletion)",
    "iter_chunks": "list(chatsse.iter_chunks([b'data: ' + chunk.encode() + b'\\n\\ndata: [DONE]\\n\\n']))",
    "Accumulator.feed": "accumulator.feed(b'data: ' + chunk.encode() + b'\\n\\n')",
    "Accumulator.completion": "accumulator.add(delta)",
    "parse_partial_json": "chatsse.parse_partial_json(chunk[:-5])",
}

SCRIPT = """
import sys, threading, chatsse
depth, stack = int(sys.argv[1]), int(sys.argv[2])
nested = "[" * depth + "]" * depth
chunk = '{"id":"a","x":' + nested + '}'
completion = '{"id":"a","choices":[{"index":0,"message":{"content":"hi","x":' + nested + '}}]}'
delta = '{"choices":[{"index":0,"delta":{"content":"hi","x":' + nested + '}}]}'
accumulator = chatsse.Accumulator()
# chatsse's first use loads its types by running Python code (imports, msgspec.inspect), whose own depth
# is Python's affair: done here, on the main thread, so that the small thread measures chatsse alone.
chatsse.decode_chunk(b"{}")
outcome = []
def run():
    try:
        CALL
        outcome.append("ok")
    except chatsse.DecodeError as error:
        outcome.append("DecodeError: " + str(error).split(" at ")[0])
    # The body needs no Python object: it is always written. The completion is built as decode_completion
    # builds a body: on this stack, it may be too deep.
    accumulator.to_json()
    try:
        accumulator.completion()
    except chatsse.DecodeError as error:
        outcome.append("completion: DecodeError: " + str(error).split(" at ")[0])
if stack:
    threading.stack_size(stack * 1024)
thread = threading.Thread(target=run)
thread.start()
thread.join()
print("\\n".join(outcome))
"""


def run(call: str, depth: int, stack_kib: int) -> str:
    script = textwrap.dedent(SCRIPT).replace("CALL", call)
    result = subprocess.run([sys.executable, "-c", script, str(depth), str(stack_kib)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-500:]}"
    return result.stdout.strip()


TOO_DEEP = "DecodeError: nesting of {} levels is too deep for this thread's native stack (give it a larger one)"


def too_deep(line: str) -> bool:
    words = line.split()
    depth = int(words[words.index("of") + 1])
    return depth % 16 == 0 and 16 <= depth <= 128 and line.endswith("levels is too deep for this thread's native stack (give it a larger one)")


@pytest.mark.parametrize("name", sorted(CASES))
def test_deep_documents_on_small_stacks_fail_cleanly(name: str) -> None:
    # 250 levels (the scanner's limit is 256): a 64 KiB thread refuses them where its stack would run out,
    # at a check every 16 levels; an ordinary thread decodes them.
    lines = run(CASES[name], 250, 64).splitlines()
    if name == "Accumulator.feed":
        # A member outside the deltas is kept as its text, read without recursion: the feed takes it, and
        # only building it as Python objects is too deep for this thread.
        assert lines[0] == "ok" and lines[1].startswith("completion: DecodeError: nesting of ") and too_deep(lines[1])
    elif name == "Accumulator.completion":
        # A delta member is merged as a tree: refused at add, so the completion of what was kept builds.
        assert len(lines) == 1 and lines[0].startswith("DecodeError: nesting of ") and too_deep(lines[0])
    else:
        assert len(lines) == 1 and lines[0].startswith("DecodeError: nesting of ") and too_deep(lines[0])
    assert run(CASES[name], 250, 0) == "ok"
    # Documents shallower than the first check decode on the small thread.
    assert run(CASES[name], 8, 64) == "ok"
