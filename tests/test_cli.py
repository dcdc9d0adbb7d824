"""The command line, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "chat-stream.sse"


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "chatsse", *args], input=stdin, capture_output=True, check=False)


def test_events_of_the_sample_stream() -> None:
    result = run("events", str(SAMPLE))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert len(records) == 22
    assert records[-1] == {"event": "message", "data": "[DONE]", "id": "", "retry": None}
    text = "".join(
        json.loads(r["data"])["choices"][0]["delta"].get("content") or "" for r in records[:-2]
    )
    assert text == "Server-sent events carry each chunk as a `data:` line; a blank line ends the event."


def test_events_from_stdin_reports_a_cut_off_event() -> None:
    result = run("events", "-", stdin=b"retry: 5\ndata: a\n\ndata: b")
    assert result.stdout.decode().splitlines() == ['{"event": "message", "data": "a", "id": "", "retry": 5}']
    assert result.returncode == 1
    assert b"ended inside an event" in result.stderr


def test_events_limit_error() -> None:
    result = run("events", "-", "--max-event-size", "8", stdin=b"data: a\n\ndata: 123456789\n\n")
    assert result.returncode == 2
    assert result.stdout.decode().splitlines() == ['{"event": "message", "data": "a", "id": "", "retry": null}']
    assert b"byte offset 9" in result.stderr


def test_missing_file() -> None:
    result = run("events", "/nonexistent/stream.sse")
    assert result.returncode == 2
    assert b"/nonexistent/stream.sse" in result.stderr


def test_accumulate_the_sample_stream() -> None:
    result = run("accumulate", str(SAMPLE))
    assert result.returncode == 0, result.stderr
    completion = json.loads(result.stdout)
    assert completion["object"] == "chat.completion"
    assert completion["id"] == "chatcmpl-example0001"
    assert completion["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Server-sent events carry each chunk as a `data:` line; a blank line ends the event.",
                "refusal": None,
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert completion["usage"]["total_tokens"] == 32
    assert result.stdout.count(b"\n") == 1  # compact unless --indent


def test_accumulate_reports_an_unfinished_stream() -> None:
    result = run("accumulate", "-", stdin=b'data: {"choices":[{"index":0,"delta":{"content":"par"}}]}\n\n')
    assert result.returncode == 1
    assert json.loads(result.stdout)["choices"][0]["message"]["content"] == "par"
    assert b"unfinished" in result.stderr


def test_accumulate_reports_an_upstream_error() -> None:
    body = b'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\ndata: {"error":{"message":"overloaded"}}\n\n'
    result = run("accumulate", "-", stdin=body)
    assert result.returncode == 1
    assert b"the provider reported an error: overloaded" in result.stderr
    assert json.loads(result.stdout)["choices"][0]["message"]["content"] == "a"


def test_bench_runs_a_quick_comparison() -> None:
    # A smoke test of `chatsse bench`: the table's shape, not its numbers (the suite never depends on timing).
    result = run("bench", "--seconds", "0.01", "--group", "non-streamed")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    chatsse_row = next(line for line in lines if line.startswith("chatsse decode_completion"))
    assert chatsse_row.endswith("1.0x")
    assert any(line.startswith("msgspec Decoder(chatsse.types.ChatCompletion)") for line in lines)
    assert "non-streamed" in result.stderr.decode()  # the progress display
