"""The README's examples of "Proxies" and "chatsse.httpx_sse" (each a block whose first line names it,
``# name.py``): each is type-checked (tests/test_typing.py) and run here against real inputs."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

import chatsse
from replay_upstream import ReplayUpstream

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = re.compile(r"```python\n# (\w+\.py)[^\n]*\n(.*?)```", re.S)


def readme_examples() -> dict[str, str]:
    return {name: f"# {name}\n{code}" for name, code in EXAMPLE.findall((ROOT / "README.md").read_text())}


def load(name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": f"readme_{name[:-3]}"}
    exec(compile(readme_examples()[name], f"README.md:{name}", "exec"), namespace)
    return namespace


def test_the_examples_are_there() -> None:
    assert sorted(readme_examples()) == sorted(
        ["tap_a_file.py", "own_loop.py", "starlette_proxy.py", "aiohttp_proxy.py", "sdk_transport.py", "billing.py", "httpx_sse_dropin.py", "rewrite_gateway.py"]
    )


@pytest.fixture(scope="module")
def upstream(corpus: Path) -> Iterator[ReplayUpstream]:
    with ReplayUpstream(corpus) as server:
        yield server


def test_tap_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    example = load("tap_a_file.py")
    path = ROOT / "examples" / "chat-stream.sse"
    assert example["forward"](str(path)) == path.stat().st_size
    assert capsys.readouterr().out == (
        "complete 5372 TokenCounts(prompt_tokens=14, completion_tokens=18, total_tokens=32, cached_tokens=0, reasoning_tokens=0)\n"
    )


def test_own_loop(corpus: Path) -> None:
    example = load("own_loop.py")
    body = (corpus / "openai-parallel-tool-calls.sse").read_bytes()
    sent: list[bytes] = []
    accumulator = example["forward_events"]([body[i : i + 5] for i in range(0, len(body), 5)], sent.append)
    assert b"".join(sent) == body
    assert accumulator.done

    def broken() -> Iterator[bytes]:
        yield body[:1000]
        raise ConnectionResetError("reset")

    sent.clear()
    example["forward_events"](broken(), sent.append)
    whole = body[:1000][: body[:1000].rindex(b"\n\n") + 2]
    assert sent[:-1] and b"".join(sent[:-1]) == whole
    assert sent[-1] == chatsse.error_event(ConnectionResetError("reset"))


def test_starlette_proxy(upstream: ReplayUpstream, capsys: pytest.CaptureFixture[str]) -> None:
    example = load("starlette_proxy.py")
    example["UPSTREAM"] = upstream.url + "/chat/completions"
    name = "openrouter-claude-reasoning-signature.sse"

    async def run() -> tuple[bytes, dict[str, Any], int]:
        transport = httpx.ASGITransport(app=example["app"])
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
            request = {"model": name, "messages": [], "stream": True, "stream_options": {"include_usage": True}}
            streamed = (await client.post("/v1/chat/completions", json=request)).content
            whole = (await client.post("/v1/chat/completions", json={"model": name, "messages": []})).json()
            failed = await client.post("/v1/chat/completions", json={"model": "x", "replay": {"fault": "status", "status": 429}})
        await example["client"].aclose()
        return streamed, whole, failed.status_code

    streamed, whole, status = asyncio.run(run())
    assert streamed == (upstream.corpus / name).read_bytes()
    assert whole["choices"][0]["message"]["reasoning"]
    assert status == 429
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["complete", "complete"]
    assert json.loads(lines[0].split(" ", 1)[1][2:-1])["cost"] == 0.000669


def test_aiohttp_proxy(upstream: ReplayUpstream, capsys: pytest.CaptureFixture[str]) -> None:
    import aiohttp
    from aiohttp import web

    example = load("aiohttp_proxy.py")
    example["UPSTREAM"] = upstream.url + "/chat/completions"
    name = "groq-tool-use-failed-error.sse"

    async def run() -> tuple[bytes, int, int]:
        runner = web.AppRunner(example["app"])
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        try:
            async with aiohttp.ClientSession() as client:
                async with client.post(url, json={"model": name, "stream": True}) as answer:
                    streamed = await answer.read()
                async with client.post(url, json={"model": name}) as answer:
                    whole = answer.status
                async with client.post(url, json={"model": "x", "replay": {"fault": "status", "status": 500}}) as answer:
                    failed = answer.status
        finally:
            await runner.cleanup()
        return streamed, whole, failed

    streamed, whole, failed = asyncio.run(run())
    assert streamed == (upstream.corpus / name).read_bytes()
    assert (whole, failed) == (400, 500)
    assert capsys.readouterr().out.splitlines() == ["upstream_error None", "upstream_error None"]


def test_sdk_transport(upstream: ReplayUpstream) -> None:
    example = load("sdk_transport.py")
    with openai.OpenAI(base_url=upstream.url, api_key="k", max_retries=0) as client:
        completion = example["answer"](client, "deepseek-tool-call-after-reasoning.sse")
    assert completion.usage is not None and completion.usage.token_counts().reasoning_tokens == 39
    assert completion.choices and completion.choices[0].finish_reason == "tool_calls"


def test_billing() -> None:
    example = load("billing.py")
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "prompt_tokens_details": {"cached_tokens": 4}}
    with_cost = {**usage, "cost": 0.5}
    for given, expected in ((usage, 11 * 0.25), (with_cost, 0.5), (None, 0.0)):
        body = b'data: {"choices": [], "usage": ' + json.dumps(given).encode() + b"}\n\ndata: [DONE]\n\n"
        results: list[chatsse.TapResult] = []
        list(chatsse.tap([body], on_done=results.append))
        assert example["cost_of"](results[0], 0.25) == expected


def test_httpx_sse_dropin(capsys: pytest.CaptureFixture[str]) -> None:
    example = load("httpx_sse_dropin.py")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=b"event: tick\ndata: 1\n\ndata: 2\n\n")

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        example["print_events"](client, "http://test/events")
    assert capsys.readouterr().out == "tick 1\nmessage 2\n"
