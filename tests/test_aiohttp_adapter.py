"""chatsse.aiohttp: an aiohttp pass-through proxy on loopback in front of the replaying upstream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import chatsse
import chatsse.aiohttp
from replay_upstream import ReplayUpstream


@pytest.fixture(scope="module")
def upstream(corpus: Path) -> Iterator[ReplayUpstream]:
    with ReplayUpstream(corpus) as server:
        yield server


SESSION = web.AppKey("session", aiohttp.ClientSession)
Scenario = Callable[[str, list[chatsse.TapResult]], Awaitable[None]]


def with_proxy(upstream: ReplayUpstream, scenario: Scenario) -> list[chatsse.TapResult]:
    results: list[chatsse.TapResult] = []

    async def on_done(result: chatsse.TapResult) -> None:
        await asyncio.sleep(0)
        results.append(result)

    async def handle(request: web.Request) -> web.StreamResponse:
        asked = chatsse.stream_request(await request.read())
        session: aiohttp.ClientSession = request.app[SESSION]
        answer = await session.post(upstream.url + "/chat/completions", data=asked.body, headers={"content-type": "application/json"})
        if not asked.stream:
            return await chatsse.aiohttp.complete_response(answer.content.iter_any(), on_done=on_done, close=answer.release)
        return await chatsse.aiohttp.stream_response(
            request, answer.content.iter_any(), on_done=on_done, close=answer.close, include_usage=asked.include_usage
        )

    async def run() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", handle)
        async with aiohttp.ClientSession() as session:
            app[SESSION] = session
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            try:
                await scenario(f"http://127.0.0.1:{port}/v1/chat/completions", results)
            finally:
                await runner.cleanup()

    asyncio.run(run())
    return results


def request(name: str, **members: Any) -> dict[str, Any]:
    return {"model": name, "messages": [{"role": "user", "content": "hi"}], **members}


@pytest.mark.parametrize("name", ["openai-content-usage.sse", "groq-tool-use-failed-error.sse", "openrouter-reasoning-error-midstream.sse"])
def test_stream_response_forwards_every_byte(name: str, upstream: ReplayUpstream) -> None:
    received: list[bytes] = []

    async def scenario(url: str, results: list[chatsse.TapResult]) -> None:
        async with aiohttp.ClientSession() as client:
            async with client.post(url, json=request(name, stream=True, stream_options={"include_usage": True}, replay={"pieces": "tiny"})) as answer:
                assert answer.headers["content-type"] == "text/event-stream"
                received.append(await answer.read())

    (result,) = with_proxy(upstream, scenario)
    assert received == [(upstream.corpus / name).read_bytes()]
    assert result.status == ("complete" if name.startswith("openai") else "upstream_error")
    assert result.usage_json is None or json.loads(result.usage_json)["total_tokens"] > 0


def test_stream_response_error_frame_on_a_dropped_upstream(upstream: ReplayUpstream) -> None:
    name = "openai-text-obfuscation-service-tier.sse"
    received: list[bytes] = []

    async def scenario(url: str, results: list[chatsse.TapResult]) -> None:
        async with aiohttp.ClientSession() as client:
            async with client.post(url, json=request(name, stream=True, replay={"fault": "drop", "at": 0.3})) as answer:
                received.append(await answer.read())

    (result,) = with_proxy(upstream, scenario)
    assert result.status == "upstream_failed"
    body = (upstream.corpus / name).read_bytes()
    whole = body[: int(len(body) * 0.3)]
    whole = whole[: whole.rindex(b"\n\n") + 2]
    assert received == [whole + chatsse.error_event(result.error)]  # type: ignore[arg-type]


def test_stream_response_client_disconnect(upstream: ReplayUpstream) -> None:
    name = "openai-text-obfuscation-service-tier.sse"

    async def scenario(url: str, results: list[chatsse.TapResult]) -> None:
        async with aiohttp.ClientSession() as client:
            answer = await client.post(url, json=request(name, stream=True, replay={"pieces": "tiny", "delay": 0.005}))
            await answer.content.read(500)
            answer.close()
        for _ in range(500):
            if results:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)

    results = with_proxy(upstream, scenario)
    assert [result.status for result in results] == ["client_disconnected"]
    assert results[0].bytes < (upstream.corpus / name).stat().st_size
    seen = upstream.requests[-1]
    assert seen.done.wait(10) and seen.hung_up


def test_complete_response(upstream: ReplayUpstream) -> None:
    name = "openai-parallel-tool-calls.sse"
    bodies: list[Any] = []

    async def scenario(url: str, results: list[chatsse.TapResult]) -> None:
        async with aiohttp.ClientSession() as client:
            async with client.post(url, json=request(name)) as answer:
                assert answer.status == 200
                bodies.append(await answer.json())
            async with client.post(url, json=request("groq-tool-use-failed-error.sse")) as answer:
                assert answer.status == 400
                bodies.append(await answer.json())

    first, second = with_proxy(upstream, scenario)
    assert bodies[0] == json.loads(first.body)
    assert [call["function"]["name"] for call in bodies[0]["choices"][0]["message"]["tool_calls"]] == ["GetWeatherArgs", "get_stock_price"]
    assert bodies[1]["error"]["code"] == "tool_use_failed"
    assert second.status == "upstream_error"

