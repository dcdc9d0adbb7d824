"""examples/proxy.py run as a process on loopback, in front of a replaying upstream (tests/replay_upstream.py),
with the official openai SDK as the client: every capture streamed and not, sync and async, cut into
realistic and tiny pieces; the faults a proxy meets. Each request's JSON log line is checked against
what the upstream sent, merged independently here."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

import chatsse
from replay_upstream import ReplayUpstream

from conftest import corpus_files

PROXY = Path(__file__).resolve().parent.parent / "examples" / "proxy.py"
CAPTURES = [path.name for path in corpus_files()]
MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]
TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
]


class Proxy:
    def __init__(self, process: subprocess.Popen[str], url: str, log: Path) -> None:
        self.process = process
        self.url = url
        self.log = log
        self.read = 0

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def next_record(self, timeout: float = 10.0) -> dict[str, Any]:
        """The log line of the next request, waiting for it (the proxy writes it when the stream ends)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            records = self.records()
            if len(records) > self.read:
                self.read += 1
                return records[self.read - 1]
            time.sleep(0.01)
        raise AssertionError("the proxy wrote no log line")


@pytest.fixture(scope="module")
def upstream(corpus: Path) -> Iterator[ReplayUpstream]:
    with ReplayUpstream(corpus) as server:
        yield server


@pytest.fixture(scope="module")
def proxy(upstream: ReplayUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    log = tmp_path_factory.mktemp("proxy") / "requests.jsonl"
    log.touch()
    process = subprocess.Popen(
        [sys.executable, str(PROXY), "--upstream", upstream.url, "--api-key", "upstream-key", "--port", "0", "--log", str(log)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    banner = process.stderr.readline()
    assert banner.startswith("chatsse proxy on http://127.0.0.1:"), banner
    url = banner.split()[3]
    try:
        yield Proxy(process, url, log)
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stderr.close()


@pytest.fixture
def client(proxy: Proxy) -> Iterator[openai.OpenAI]:
    proxy.read = len(proxy.records())
    with openai.OpenAI(base_url=proxy.url, api_key="client-key", max_retries=0) as sdk:
        yield sdk


def as_sent(model: Any) -> dict[str, Any]:
    """An SDK object as the JSON it was made from (the SDK's models type Mistral's content parts as
    a str, hence no serializer warnings)."""
    return model.to_dict(mode="json", exclude_unset=True, warnings=False)  # type: ignore[no-any-return]


# --- what the upstream sent, read independently of chatsse ---------------------------------------


def upstream_payloads(upstream: ReplayUpstream, name: str) -> list[dict[str, Any]]:
    """The JSON payloads of a capture's data lines, up to [DONE] (plain splitting: every capture
    has one data line per event)."""
    payloads = []
    for line in (upstream.corpus / name).read_bytes().splitlines():
        if line.startswith(b"data:"):
            data = line[5:].strip()
            if data == b"[DONE]":
                break
            if data:
                payloads.append(json.loads(data))
    return payloads


def texts(value: Any) -> str:
    """Every string under a ``text`` key (content given as typed parts), or the string itself."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(texts(item) for item in value)
    if isinstance(value, dict):
        return "".join(texts(item) if key in ("text", "thinking") else "" for key, item in value.items())
    return ""


def merged_view(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    """A plain merge of the parts a bill and a log care about: per choice, the text, the
    reasoning, the finish reason, the tool calls' names and their arguments in order of arrival."""
    choices: dict[int, dict[str, Any]] = {}
    usage = extension_usage = None
    for payload in payloads:
        if payload.get("usage"):
            usage = payload["usage"]
        for name, extension in payload.items():  # Groq reports usage only as x_groq.usage: it is billed too
            if name.startswith("x_") and isinstance(extension, dict) and isinstance(extension.get("usage"), dict):
                extension_usage = extension["usage"]
        for position, choice in enumerate(payload.get("choices") or ()):
            view = choices.setdefault(choice.get("index", position), {"text": "", "reasoning": "", "finish": None, "names": [], "arguments": ""})
            delta = choice.get("delta") or {}
            view["text"] += texts(delta.get("content"))
            view["reasoning"] += (delta.get("reasoning_content") or "") + (delta.get("reasoning") or "")
            if choice.get("finish_reason"):
                view["finish"] = choice["finish_reason"]
            for call in delta.get("tool_calls") or ():
                function = call.get("function") or {}
                if function.get("name"):
                    view["names"].append(function["name"])
                view["arguments"] += function.get("arguments") or ""
            legacy = delta.get("function_call") or {}
            if legacy.get("name"):
                view["names"].append(legacy["name"])
            view["arguments"] += legacy.get("arguments") or ""
    return {"choices": [choices[index] for index in sorted(choices)], "usage": extension_usage if usage is None else usage}


def completion_view(body: dict[str, Any]) -> dict[str, Any]:
    """The same view of a non-streamed response body."""
    choices = []
    for choice in body.get("choices") or ():
        message = choice.get("message") or {}
        calls = message.get("tool_calls") or []
        legacy = message.get("function_call")
        functions = [call.get("function") or {} for call in calls] + ([legacy] if legacy else [])
        choices.append(
            {
                "text": texts(message.get("content")),
                "reasoning": (message.get("reasoning_content") or "") + (message.get("reasoning") or ""),
                "finish": choice.get("finish_reason"),
                "names": [function["name"] for function in functions if function.get("name")],
                "arguments": "".join(function.get("arguments") or "" for function in functions),
            }
        )
    return {"choices": choices, "usage": body.get("usage")}


def same_arguments(got: dict[str, Any], expected: dict[str, Any]) -> None:
    """Tool-call arguments are compared as a multiset of characters: calls are listed by index in
    the completion but arrive interleaved in parallel-call streams."""
    for mine, theirs in zip(got["choices"], expected["choices"]):
        assert sorted(mine.pop("arguments")) == sorted(theirs.pop("arguments"))
        assert sorted(mine.pop("names")) == sorted(theirs.pop("names"))
    assert got == expected


PROVIDER_ERRORS = {"groq-tool-use-failed-error.sse", "openrouter-reasoning-error-midstream.sse"}


def error_message(upstream: ReplayUpstream, name: str) -> str:
    for line in (upstream.corpus / name).read_bytes().splitlines():
        if line.startswith(b"data:") and b'"error"' in line:
            document = json.loads(line[5:])
            if isinstance(document.get("error"), dict):
                return str(document["error"]["message"])
    raise AssertionError(f"no error in {name}")


def check_record(record: dict[str, Any], upstream: ReplayUpstream, name: str) -> None:
    payloads = upstream_payloads(upstream, name)
    expected = merged_view(payloads)  # OpenRouter's error chunk carries the usage: it must be billed
    assert record["status"] == ("upstream_error" if name in PROVIDER_ERRORS else "complete")
    assert record["usage"] == expected["usage"]
    same_arguments(completion_view(record["body"]), expected)


def stream_requested(upstream: ReplayUpstream) -> dict[str, Any]:
    """The proxy asked the upstream for a stream with usage, with its own key."""
    seen = upstream.requests[-1]
    assert seen.body["stream"] is True and seen.body["stream_options"]["include_usage"] is True
    assert seen.headers["authorization"] == "Bearer upstream-key"
    return seen.body


# --- every capture ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CAPTURES)
def test_streaming_sync_client_gets_the_upstreams_chunks(name: str, client: openai.OpenAI, proxy: Proxy, upstream: ReplayUpstream) -> None:
    received = []
    stream = client.chat.completions.create(
        model=name, messages=MESSAGES, tools=TOOLS, stream=True, stream_options={"include_usage": True}
    )
    if name in PROVIDER_ERRORS:
        with pytest.raises(openai.APIError) as raised:
            for chunk in stream:
                received.append(as_sent(chunk))
        assert raised.value.message == error_message(upstream, name)
    else:
        received = [as_sent(chunk) for chunk in stream]
    expected = upstream_payloads(upstream, name)
    assert received == expected[: len(received)]
    assert len(received) == len(expected) - (name in PROVIDER_ERRORS)
    assert stream_requested(upstream)["tools"] == TOOLS
    record = proxy.next_record()
    check_record(record, upstream, name)
    if name in PROVIDER_ERRORS:
        assert error_message(upstream, name) in record["error"]


@pytest.mark.parametrize("name", CAPTURES)
def test_streaming_async_client_tiny_pieces(name: str, proxy: Proxy, upstream: ReplayUpstream) -> None:
    proxy.read = len(proxy.records())

    async def run() -> list[dict[str, Any]]:
        received = []
        async with openai.AsyncOpenAI(base_url=proxy.url, api_key="k", max_retries=0) as sdk:
            stream = await sdk.chat.completions.create(
                model=name, messages=MESSAGES, stream=True, stream_options={"include_usage": True}, extra_body={"replay": {"pieces": "tiny"}}
            )
            try:
                async for chunk in stream:
                    received.append(as_sent(chunk))
            except openai.APIError:
                assert name in PROVIDER_ERRORS
        return received

    received = asyncio.run(run())
    expected = upstream_payloads(upstream, name)
    assert received == expected[: len(received)]
    assert len(received) == len(expected) - (name in PROVIDER_ERRORS)
    check_record(proxy.next_record(), upstream, name)


@pytest.mark.parametrize("name", CAPTURES)
def test_non_streaming_client_is_answered_from_the_stream(name: str, client: openai.OpenAI, proxy: Proxy, upstream: ReplayUpstream) -> None:
    if name in PROVIDER_ERRORS:
        with pytest.raises(openai.APIStatusError) as raised:
            client.chat.completions.create(model=name, messages=MESSAGES, tools=TOOLS)
        status = 400  # Groq's error.status_code, OpenRouter's code
        assert raised.value.status_code == status
        assert raised.value.message == f"Error code: {status} - {error_message(upstream, name)}"
    else:
        completion = client.chat.completions.create(model=name, messages=MESSAGES, tools=TOOLS)
        record = proxy.records()[-1]
        assert as_sent(completion) == record["body"]
    body = stream_requested(upstream)
    assert (body["model"], body["messages"], body["tools"]) == (name, MESSAGES, TOOLS)
    check_record(proxy.next_record(), upstream, name)


def test_async_non_streaming_with_tools(proxy: Proxy, upstream: ReplayUpstream) -> None:
    proxy.read = len(proxy.records())
    name = "openai-parallel-tool-calls.sse"

    async def run() -> Any:
        async with openai.AsyncOpenAI(base_url=proxy.url, api_key="k", max_retries=0) as sdk:
            return await sdk.chat.completions.create(model=name, messages=MESSAGES, tools=TOOLS)

    completion = asyncio.run(run())
    calls = completion.choices[0].message.tool_calls or []
    expected = merged_view(upstream_payloads(upstream, name))["choices"][0]
    assert sorted(call.function.name for call in calls if call.type == "function") == sorted(expected["names"])
    assert sorted("".join(call.function.arguments for call in calls if call.type == "function")) == sorted(expected["arguments"])
    check_record(proxy.next_record(), upstream, name)


def test_usage_chunk_hidden_from_a_client_that_did_not_ask(client: openai.OpenAI, proxy: Proxy, upstream: ReplayUpstream) -> None:
    name = "openai-content-usage.sse"
    received = [as_sent(chunk) for chunk in client.chat.completions.create(model=name, messages=MESSAGES, stream=True)]
    expected = upstream_payloads(upstream, name)
    assert expected[-1]["choices"] == [] and expected[-1]["usage"]
    assert received == expected[:-1]
    record = proxy.next_record()
    assert record["usage"] == expected[-1]["usage"]


# --- faults -------------------------------------------------------------------------------------


def test_provider_error_midstream_reaches_the_client_and_the_record(client: openai.OpenAI, proxy: Proxy, upstream: ReplayUpstream) -> None:
    name = "groq-tool-use-failed-error.sse"
    texts_seen = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in client.chat.completions.create(model=name, messages=MESSAGES, stream=True):
            texts_seen.append(chunk.choices[0].delta.model_extra.get("reasoning") or "" if chunk.choices else "")
    assert raised.value.message == error_message(upstream, name)
    assert raised.value.body["status_code"] == 400  # the provider's error object, as it sent it
    record = proxy.next_record()
    assert record["status"] == "upstream_error"
    assert record["body"]["choices"][0]["message"]["reasoning"] == "".join(texts_seen)
    assert record["error"] == f"UpstreamError: {error_message(upstream, name)}"


@pytest.mark.parametrize("fault", ["end", "drop"])
def test_upstream_cut_gives_the_client_an_error_frame(fault: str, client: openai.OpenAI, proxy: Proxy, upstream: ReplayUpstream) -> None:
    name = "openai-text-obfuscation-service-tier.sse"
    expected = upstream_payloads(upstream, name)
    received = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in client.chat.completions.create(model=name, messages=MESSAGES, stream=True, extra_body={"replay": {"fault": fault, "at": 0.5}}):
            received.append(as_sent(chunk))
    assert 0 < len(received) < len(expected)
    assert received == expected[: len(received)]
    record = proxy.next_record()
    if fault == "end":
        assert record["status"] == "truncated"
        assert raised.value.message.startswith("the upstream response ended early")
    else:
        assert record["status"] == "upstream_failed"
        assert raised.value.message.startswith("the upstream failed: RemoteProtocolError")
    # The record has exactly what the client got: whole events only reached it.
    assert record["body"]["choices"][0]["message"]["content"] == "".join(c["choices"][0]["delta"].get("content") or "" for c in received if c["choices"])
    assert record["usage"] is None


def test_upstream_cut_for_a_non_streaming_client_is_a_502(client: openai.OpenAI, proxy: Proxy) -> None:
    with pytest.raises(openai.APIStatusError) as raised:
        client.chat.completions.create(model="openai-content-usage.sse", messages=MESSAGES, extra_body={"replay": {"fault": "drop", "at": 0.4}})
    assert raised.value.status_code == 502
    assert proxy.next_record()["status"] == "upstream_failed"


def test_client_disconnect_midstream_is_recorded_and_closes_the_upstream(client: openai.OpenAI, proxy: Proxy, upstream: ReplayUpstream) -> None:
    name = "openai-text-obfuscation-service-tier.sse"
    stream = client.chat.completions.create(
        model=name, messages=MESSAGES, stream=True, extra_body={"replay": {"pieces": "tiny", "delay": 0.005}}
    )
    received = [next(stream) for _ in range(3)]
    stream.close()
    record = proxy.next_record()
    assert record["status"] == "client_disconnected"
    assert record["bytes"] < (upstream.corpus / name).stat().st_size
    assert len(record["body"]["choices"][0]["message"]["content"]) >= len("".join(c.choices[0].delta.content or "" for c in received))
    seen = upstream.requests[-1]
    assert seen.done.wait(10)
    assert seen.hung_up


@pytest.mark.parametrize("status, error", [(429, openai.RateLimitError), (500, openai.InternalServerError)])
def test_upstream_error_status_is_forwarded(status: int, error: type[openai.APIStatusError], client: openai.OpenAI, proxy: Proxy) -> None:
    for stream in (True, False):
        with pytest.raises(error) as raised:
            client.chat.completions.create(model="x", messages=MESSAGES, stream=stream, extra_body={"replay": {"fault": "status", "status": status}})
        assert raised.value.status_code == status
        assert raised.value.message == f"Error code: {status} - replayed {status}"
        assert raised.value.body == {"message": f"replayed {status}", "type": "replayed_error", "param": None, "code": str(status)}
        record = proxy.next_record()
        assert record["status"] == f"http_{status}"


# --- the official SDK as the transport, chatsse as the parser -----------------------------------


def test_sdk_transport_chatsse_parser(client: openai.OpenAI, proxy: Proxy, upstream: ReplayUpstream) -> None:
    name = "deepseek-tool-call-after-reasoning.sse"
    with client.chat.completions.with_streaming_response.create(model=name, messages=MESSAGES, stream=True, stream_options={"include_usage": True}) as response:
        chunks = list(chatsse.iter_chunks(response.iter_bytes()))
    assert [chatsse.encode(chunk) for chunk in chunks] == [chatsse.encode(chatsse.decode_chunk(json.dumps(p))) for p in upstream_payloads(upstream, name)]
    check_record(proxy.next_record(), upstream, name)


def test_the_proxy_accepts_a_connection_as_soon_as_it_prints_its_address(upstream: ReplayUpstream) -> None:
    # A client (a test, a supervisor's health check) connects the moment the address is printed:
    # the socket listens by then, so the connection waits in the backlog while uvicorn starts up.
    import socket

    process = subprocess.Popen(
        [sys.executable, str(PROXY), "--upstream", upstream.url, "--api-key", "k", "--port", "0", "--log", os.devnull],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    try:
        banner = process.stderr.readline()
        port = int(banner.split()[3].removeprefix("http://127.0.0.1:").removesuffix("/v1"))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            assert connection.recv(9) == b"HTTP/1.1 "
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stderr.close()
