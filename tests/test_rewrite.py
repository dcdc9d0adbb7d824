"""chatsse.Rewriter: rules on hand-written streams (exact outputs), the identity and any cutting over the
corpus, each rule checked against the completion, errors as on Accumulator, and the tap's rewrite=."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chatsse
from chatsse import Accumulator, Rewriter, TapResult

from conftest import corpus_files

CORPUS = corpus_files()


def gateway() -> Rewriter:
    """The rules of the README's example: alias, strip two provider members, rename, hide usage."""
    return Rewriter(
        set={"model": "house-model"},
        drop=["obfuscation", "choices.delta.p"],
        rename={"choices.delta.reasoning": "reasoning_content"},
        drop_usage_only=True,
    )


def rewrite(rewriter: Rewriter, pieces: list[bytes]) -> bytes:
    """Every output byte, whatever raises (the output of a call that raised comes with `take`)."""
    out = b""
    for piece in pieces:
        try:
            out += rewriter.feed(piece)
        except chatsse.ChatSSEError:
            out += rewriter.take()
    try:
        out += rewriter.close()
    except chatsse.ChatSSEError:
        out += rewriter.take()
    return out


def accumulated(body: bytes) -> dict[str, Any]:
    accumulator = Accumulator()
    try:
        accumulator.feed(body)
    except chatsse.ChatSSEError:
        pass
    try:
        accumulator.close()
    except chatsse.ChatSSEError:
        pass
    return json.loads(accumulator.to_json())


def cut(body: bytes, points: list[int]) -> list[bytes]:
    points = sorted({min(p, len(body)) for p in points})
    edges = [0, *points, len(body)]
    return [body[a:b] for a, b in zip(edges, edges[1:])]


# --- each rule, exact outputs -------------------------------------------------------------------

STREAM = (
    b": OPENROUTER PROCESSING\n\n"
    b'id: 7\nretry: 3000\ndata: {"id":"c", "model": "gpt-4o","obfuscation":"Qx","choices":[{"index":0,"delta":{"role":"assistant","reasoning":"hm","p":"abc"}}]}\n\n'
    b'data: {"id":"c","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}],"x_score":1.50E+9}\r\n\r\n'
    b'data: {"id":"c","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}\n\n'
    b"data: [DONE]\n\n"
)
STREAM_REWRITTEN = (
    b": OPENROUTER PROCESSING\n\n"
    b'id: 7\nretry: 3000\ndata: {"id":"c", "model": "house-model","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"hm"}}]}\n\n'
    b'data: {"id":"c","model":"house-model","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}],"x_score":1.50E+9}\r\n\r\n'
    b"data: [DONE]\n\n"
)


def test_the_gateway_rules_on_a_stream() -> None:
    rewriter = gateway()
    assert rewrite(rewriter, [STREAM]) == STREAM_REWRITTEN
    # The bill is what the upstream sent: its model, its usage.
    assert rewriter.usage is not None and rewriter.usage.total_tokens == 4
    assert rewriter.completion().model == "gpt-4o"
    assert rewriter.completion().choices[0].message.reasoning == "hm"
    assert rewriter.to_json() == accumulated_json(STREAM)
    assert (rewriter.chunks, rewriter.finished, rewriter.done) == (3, True, True)
    assert repr(rewriter) == "Rewriter(chunks=3, finished=True)"


def accumulated_json(body: bytes) -> bytes:
    accumulator = Accumulator()
    accumulator.feed(body)
    accumulator.close()
    return accumulator.to_json()


def test_feed_returns_whole_events_only() -> None:
    rewriter = gateway()
    first_event_end = STREAM.index(b"\n\n", 30) + 2
    assert rewriter.feed(STREAM[:10]) == b""  # the comment's block is not complete yet
    assert rewriter.feed(STREAM[10:first_event_end - 1]) == b": OPENROUTER PROCESSING\n\n"
    assert rewriter.feed(STREAM[first_event_end - 1 : first_event_end]) == STREAM_REWRITTEN[len(b": OPENROUTER PROCESSING\n\n") : STREAM_REWRITTEN.index(b"\n\n", 30) + 2]


@pytest.mark.parametrize(
    ("rules", "payload", "expected"),
    [
        # set: replaced in place, spacing around it kept; added at the end where absent
        ({"set": {"model": "a"}}, b'{ "model" : "b" , "x":1 }', b'{ "model" : "a" , "x":1 }'),
        ({"set": {"model": "a"}}, b'{"x":1.0e2}', b'{"x":1.0e2,"model":"a"}'),
        ({"set": {"system_fingerprint": None, "n": [1, {"k": "\u00e9"}]}}, b'{"n":0}', '{"n":[1,{"k":"\u00e9"}],"system_fingerprint":null}'.encode()),
        ({"set": {"choices.delta.role": "assistant"}}, b'{"choices":[{"delta":{}},{"delta":{"role":"user"}},{"x":1}]}',
         b'{"choices":[{"delta":{"role":"assistant"}},{"delta":{"role":"assistant"}},{"x":1}]}'),
        # drop: top level, choice, delta, deeper; the comma goes with the member
        ({"drop": ["obfuscation"]}, b'{"obfuscation":"a","id":"1"}', b'{"id":"1"}'),
        ({"drop": ["obfuscation"]}, b'{"id":"1", "obfuscation":"a"}', b'{"id":"1"}'),
        ({"drop": ["obfuscation"]}, b'{ "obfuscation":"a" }', b'{  }'),
        ({"drop": ["choices.logprobs"]}, b'{"choices":[{"index":0,"logprobs":{"content":[]}}]}', b'{"choices":[{"index":0}]}'),
        ({"drop": ["choices.delta.tool_calls.function.name"]}, b'{"choices":[{"delta":{"tool_calls":[{"function":{"name":"f","arguments":"{}"}}]}}]}',
         b'{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"{}"}}]}}]}'),
        ({"drop": ["x_groq", "usage.cost"]}, b'{"x_groq":{"id":"q"},"usage":{"cost":1,"total_tokens":2}}', b'{"usage":{"total_tokens":2}}'),
        # rename: in place; a member of the new name goes when the renamed one is there
        ({"rename": {"choices.delta.reasoning": "reasoning_content"}}, b'{"choices":[{"delta":{"reasoning":"r","content":null}}]}',
         b'{"choices":[{"delta":{"reasoning_content":"r","content":null}}]}'),
        ({"rename": {"choices.delta.reasoning_content": "reasoning"}}, b'{"choices":[{"delta":{"reasoning":"a","reasoning_content":"b"}}]}',
         b'{"choices":[{"delta":{"reasoning":"b"}}]}'),
        ({"rename": {"model": "m\"odel"}}, b'{"model":"x"}', b'{"m\\"odel":"x"}'),
        # untouched: a payload no rule matches keeps its bytes
        ({"drop": ["nothing"]}, b'{"a" :  1.500}', b'{"a" :  1.500}'),
    ],
)
def test_each_rule_on_one_event(rules: dict[str, Any], payload: bytes, expected: bytes) -> None:
    body = b"data: " + payload + b"\n\n"
    assert rewrite(Rewriter(**rules), [body]) == b"data: " + expected + b"\n\n"


def test_drop_usage_only_drops_the_whole_event_and_nothing_else() -> None:
    usage = b'{"choices":[],"usage":{"total_tokens":4}}'
    body = b": c\n\nevent: message\ndata: " + usage + b"\r\n\r\n: after\n\n" + b'data: {"choices":[],"usage":null}\n\n' + b'data: {"choices":[{}],"usage":{"a":1}}\n\n'
    assert rewrite(Rewriter(drop_usage_only=True), [body]) == b": c\n\n: after\n\n" + body[body.index(b'data: {"choices":[],"usage":null}') :]
    # Cut between the CR and the LF of the blank line: the LF goes with the event.
    split = body.index(b"\r\n\r\n") + 3
    assert rewrite(Rewriter(drop_usage_only=True), [body[:split], body[split:]]) == rewrite(Rewriter(drop_usage_only=True), [body])


def test_json_lines_bodies() -> None:
    body = b'{"model":"a","choices":[]}\r\n  {"choices":[],"usage":{"total_tokens":1}}\n{"model":"b"}'
    expected = b'{"model":"house-model","choices":[]}\r\n{"model":"house-model"}'
    for format in ("auto", "jsonl"):
        rewriter = Rewriter(set={"model": "house-model"}, drop_usage_only=True, format=format)  # type: ignore[arg-type]
        assert rewrite(rewriter, [body]) == expected
        assert rewriter.usage is not None and rewriter.usage.total_tokens == 1


def test_data_over_several_lines_is_written_as_data_lines_where_the_first_was() -> None:
    body = b'data: {"model":\ndata: "m",\n: a comment\nid: 1\ndata:"x":1}\r\n\r\n'
    out = rewrite(Rewriter(set={"model": "house"}), [body])
    assert out == b'data: {"model":\ndata: "house",\ndata: "x":1}\n: a comment\nid: 1\n\r\n'
    assert [e.data for e in chatsse.iter_events([out])] == ['{"model":\n"house",\n"x":1}']
    untouched = rewrite(Rewriter(set={"model": "m"}), [body])
    assert untouched == body


# --- errors -------------------------------------------------------------------------------------

ERROR_FRAME = b'event: error\ndata: {"error":{"message":"boom","code":429},"model":"gpt"}\n\n'


def test_an_error_frame_is_forwarded_untouched_and_raised_as_accumulator_does() -> None:
    body = b'data: {"model":"gpt","choices":[]}\n\n' + ERROR_FRAME + b'data: {"model":"gpt","choices":[]}\n\n'
    accumulator = Accumulator()
    with pytest.raises(chatsse.UpstreamError) as expected:
        accumulator.feed(body)
    rewriter = Rewriter(set={"model": "house"})
    with pytest.raises(chatsse.UpstreamError) as raised:
        rewriter.feed(body)
    assert (str(raised.value), raised.value.offset, raised.value.code) == (str(expected.value), expected.value.offset, 429)
    # Nothing lost: the piece's output (the error frame as it came) waits for take() or the next call.
    out = b'data: {"model":"house","choices":[]}\n\n' + ERROR_FRAME + b'data: {"model":"house","choices":[]}\n\n'
    assert rewriter.take() == out
    assert rewriter.take() == b""
    with pytest.raises(chatsse.UpstreamError):
        rewriter.feed(body)
    assert rewriter.feed(b": x\n\n") == out + b": x\n\n"
    # An error chunk without the frame (OpenRouter's) is also left as it came.
    chunk = b'data: {"model":"gpt","error":{"message":"mid-stream"},"choices":[]}\n\n'
    with pytest.raises(chatsse.UpstreamError):
        Rewriter(set={"model": "house"}).feed(chunk)
    failing = Rewriter(set={"model": "house"})
    assert rewrite(failing, [chunk]) == chunk


def test_a_payload_that_is_not_a_chunk_goes_out_untouched_with_the_accumulators_decode_error() -> None:
    for bad in (b"data: {not json}\n\n", b"data: [1,2]\n\n", b'data: {"model":"a","choices":"x"}\n\n'):
        with pytest.raises(chatsse.DecodeError) as expected:
            Accumulator().feed(bad)
        rewriter = Rewriter(set={"model": "house"})
        with pytest.raises(chatsse.DecodeError) as raised:
            rewriter.feed(bad + b'data: {"model":"a"}\n\n')
        assert (str(raised.value), raised.value.offset) == (str(expected.value), expected.value.offset)
        assert rewriter.take() == bad + b'data: {"model":"house"}\n\n'


def test_the_last_event_at_close() -> None:
    # Complete but unterminated: rewritten, and no line ending added.
    rewriter = Rewriter(set={"model": "house"})
    assert rewriter.feed(b'data: {"model":"a"}\n\ndata: {"model":"b"}') == b'data: {"model":"house"}\n\n'
    assert rewriter.close() == b'data: {"model":"house"}'
    # Cut inside its payload: TruncatedStreamError, as Accumulator.close; the bytes as they came.
    rewriter = Rewriter(set={"model": "house"})
    assert rewriter.feed(b'data: {"model":"a"}\n\ndata: {"model":"b') == b'data: {"model":"house"}\n\n'
    with pytest.raises(chatsse.TruncatedStreamError):
        rewriter.close()
    assert rewriter.take() == b'data: {"model":"b'
    with pytest.raises(chatsse.DecoderClosedError):
        rewriter.feed(b"data: x\n\n")
    assert rewriter.take() == b"data: x\n\n"


def test_past_a_framing_error_every_byte_goes_out_as_it_came() -> None:
    rewriter = Rewriter(set={"model": "house"}, max_event_size=64)
    body = b'data: {"model":"a"}\n\ndata: "' + b"x" * 100
    with pytest.raises(chatsse.EventTooLargeError):
        rewriter.feed(body)
    assert rewriter.take() == b'data: {"model":"house"}\n\n' + body[21:]
    with pytest.raises(chatsse.EventTooLargeError):  # as Accumulator: every later feed says so again
        rewriter.feed(b'\n\ndata: {"model":"a"}\n\n')
    assert rewriter.take() == b'\n\ndata: {"model":"a"}\n\n'


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"drop": ["a..b"]}, ValueError, '"a..b" is not a path'),
        ({"drop": [""]}, ValueError, '"" is not a path'),
        ({"drop": "model"}, TypeError, "drop takes a list of paths, not one str"),
        ({"drop": [1]}, TypeError, "drop: a path is a str, not int"),
        ({"set": ["model"]}, TypeError, "set takes a mapping of paths, not list"),
        ({"set": {"model": object()}}, TypeError, 'set["model"]: the value is not JSON'),
        ({"set": {"x": float("nan")}}, ValueError, 'set["x"]: the value is not JSON'),
        ({"rename": {"a": 1}}, TypeError, 'rename["a"]: the new name is a str, not int'),
        ({"rename": {"a": ""}}, ValueError, 'rename["a"]: the new name is empty'),
        ({"drop": ["choices.delta"], "rename": {"choices.delta.reasoning": "r"}}, ValueError, '"choices.delta.reasoning" and "choices.delta" overlap'),
        ({"set": {"model": "a"}, "drop": ["model"]}, ValueError, '"model" and "model" overlap'),
        ({"rename": {"choices.delta.reasoning": "content"}, "drop": ["choices.delta.content"]}, ValueError, "overlap"),
        ({"format": "xml"}, ValueError, "format"),
    ],
)
def test_bad_rules_are_refused_at_construction(arguments: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        Rewriter(**arguments)


# --- the corpus ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_no_rule_is_the_identity_and_the_bill_is_the_accumulators(path: Path) -> None:
    body = path.read_bytes()
    rewriter = Rewriter()
    assert rewrite(rewriter, [body]) == body
    assert rewrite(Rewriter(), [body[i : i + 61] for i in range(0, len(body), 61)]) == body
    assert json.loads(rewriter.to_json()) == accumulated(body)


def without(document: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: value for name, value in document.items() if name not in names}


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_each_rule_over_the_corpus_gives_the_completion_with_the_rule_applied(path: Path) -> None:
    body = path.read_bytes()
    original = accumulated(body)

    # set: the alias everywhere (an error report keeps what the provider said)
    out = rewrite(Rewriter(set={"model": "house-model"}), [body])
    assert without(accumulated(out), "model") == without(original, "model")
    assert accumulated(out).get("model") in ("house-model", original.get("model"))
    payloads = chunk_payloads(out)
    assert all(p.get("model") == "house-model" for p in payloads if "error" not in p and p.get("object") != "error")

    # drop: a top-level member and a choice member
    out = rewrite(Rewriter(drop=["system_fingerprint", "choices.logprobs"]), [body])
    expected = without(original, "system_fingerprint")
    expected["choices"] = [without(choice, "logprobs") for choice in original.get("choices", [])]
    got = accumulated(out)
    got["choices"] = [without(choice, "logprobs") for choice in got.get("choices", [])]  # null where never sent
    assert got == expected

    # rename: the message's reasoning under the client's name
    out = rewrite(Rewriter(rename={"choices.delta.reasoning_content": "reasoning"}), [body])
    expected = dict(original)
    expected["choices"] = [dict(choice, message=renamed(choice["message"])) for choice in original.get("choices", [])]
    assert accumulated(out) == expected
    assert all("reasoning_content" not in (c.get("delta") or {}) for p in chunk_payloads(out) for c in p.get("choices") or [])

    # drop_usage_only: the same chunks less those, the same completion less their usage
    out = rewrite(Rewriter(drop_usage_only=True), [body])
    kept = [p for p in chunk_payloads(body) if not (p.get("choices") == [] and isinstance(p.get("usage"), dict) and p["usage"])]
    assert chunk_payloads(out) == kept
    if len(kept) == len(chunk_payloads(body)):
        assert out == body


def renamed(message: dict[str, Any]) -> dict[str, Any]:
    """The message with its `reasoning_content` as `reasoning` (where the message had it)."""
    if "reasoning_content" not in message:
        return message
    return {("reasoning" if name == "reasoning_content" else name): value for name, value in message.items() if name != "reasoning"}


def chunk_payloads(body: bytes) -> list[dict[str, Any]]:
    """The JSON objects of the body's data events, read by the Python side (json.loads)."""
    payloads: list[dict[str, Any]] = []
    for event in chatsse.iter_events([body]):
        if event.data == "[DONE]":
            break
        try:
            value = json.loads(event.data)
        except ValueError:
            continue
        if isinstance(value, dict):
            payloads.append(value)  # pyright: ignore[reportUnknownArgumentType]
    return payloads


# --- any cutting --------------------------------------------------------------------------------

CORPUS_BODIES = [path.read_bytes() for path in CORPUS]


@settings(max_examples=150, deadline=None)
@given(index=st.integers(0, max(len(CORPUS_BODIES) - 1, 0)), points=st.lists(st.integers(0, 1 << 20), max_size=12))
def test_any_cutting_of_a_corpus_file_gives_the_same_output(index: int, points: list[int]) -> None:
    if not CORPUS_BODIES:
        pytest.skip("no corpus")
    body = CORPUS_BODIES[index]
    points = [p % (len(body) + 1) for p in points]
    assert rewrite(gateway(), cut(body, points)) == rewrite(gateway(), [body])
    assert rewrite(Rewriter(), cut(body, points)) == body


CUT_LAST = b'data: {"model":"cut'

texts = st.one_of(st.text(max_size=8), st.none())
member_values = st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8), st.none())


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    """Chunks with the members the rules name, among comments, fields and CRLF or LF line endings."""
    ending = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    parts: list[bytes] = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["chunk", "usage", "comment", "id", "error"]))
        if kind == "comment":
            parts.append(b": keep-alive" + ending + ending)
            continue
        if kind == "id":
            parts.append(b"id: 1" + ending + b"retry: 10" + ending + ending)
            continue
        if kind == "usage":
            chunk: dict[str, Any] = {"model": "up", "choices": [], "usage": {"total_tokens": draw(st.integers(0, 9))}}
        elif kind == "error":
            chunk = {"error": {"message": draw(st.text(max_size=5))}}
        else:
            # Values of the types the accumulator takes (a chunk it refuses is left untouched).
            delta = {name: draw(texts) for name in draw(st.lists(st.sampled_from(["content", "reasoning", "reasoning_content", "p"]), unique=True))}
            chunk = {name: draw(texts) for name in draw(st.lists(st.sampled_from(["id", "model"]), unique=True))}
            chunk.update({name: draw(member_values) for name in draw(st.lists(st.sampled_from(["obfuscation", "x_extra"]), unique=True))})
            chunk["choices"] = [{"index": 0, "delta": delta}]
        spacing = draw(st.sampled_from([(",", ":"), (", ", ": ")]))
        parts.append(b"data: " + json.dumps(chunk, separators=spacing).encode() + ending + ending)
    endings = [b"data: [DONE]" + ending + ending, b"", CUT_LAST]
    parts.append(draw(st.sampled_from(endings)))
    return b"".join(parts)


@settings(max_examples=200, deadline=None)
@given(body=streams(), points=st.lists(st.integers(0, 2000), max_size=8))
def test_any_cutting_of_a_generated_stream_gives_the_same_output(body: bytes, points: list[int]) -> None:
    whole = rewrite(gateway(), [body])
    assert rewrite(gateway(), cut(body, points)) == whole
    assert rewrite(gateway(), [body[i : i + 1] for i in range(len(body))]) == whole
    assert rewrite(Rewriter(), cut(body, points)) == body
    # What the rules promise, read back by the Python side.
    for payload in chunk_payloads(whole):
        if "error" in payload:
            continue
        assert payload["model"] == "house-model"
        assert "obfuscation" not in payload and payload["choices"] != []
        for choice in payload["choices"]:
            assert "p" not in choice["delta"] and "reasoning" not in choice["delta"]


# --- the tap ------------------------------------------------------------------------------------


def test_the_tap_forwards_the_rewritten_stream_and_bills_the_upstreams() -> None:
    results: list[TapResult] = []
    pieces = [STREAM[i : i + 9] for i in range(0, len(STREAM), 9)]
    out = b"".join(chatsse.tap(iter(pieces), on_done=results.append, rewrite=gateway()))
    assert out == STREAM_REWRITTEN
    (result,) = results
    assert (result.status, result.bytes, result.chunks) == ("complete", len(STREAM), 3)
    assert result.usage is not None and result.usage.total_tokens == 4
    assert result.completion.model == "gpt-4o" and result.body == accumulated_json(STREAM)


def test_the_tap_with_a_provider_error_and_a_truncated_body() -> None:
    results: list[TapResult] = []
    body = b'data: {"model":"gpt","choices":[]}\n\n' + ERROR_FRAME + b'data: {"model":"gpt","choices":[]}\n\n'
    out = b"".join(chatsse.tap([body[:40], body[40:]], on_done=results.append, rewrite=Rewriter(set={"model": "h"})))
    assert out == body.replace(b'"model":"gpt","choices"', b'"model":"h","choices"')
    assert results[0].status == "upstream_error" and isinstance(results[0].error, chatsse.UpstreamError)
    results.clear()
    cut_body = b'data: {"model":"gpt","choices":[]}\n\ndata: {"model":"gp'
    out = b"".join(chatsse.tap([cut_body], on_done=results.append, rewrite=Rewriter(set={"model": "h"})))
    assert out == b'data: {"model":"h","choices":[]}\n\n'  # the cut event is not forwarded, as aligned
    assert results[0].status == "truncated" and isinstance(results[0].error, chatsse.TruncatedStreamError)


def test_the_tap_reports_once_when_the_client_leaves_or_the_upstream_fails() -> None:
    results: list[TapResult] = []
    tapped = chatsse.tap(iter([STREAM[:120], STREAM[120:]]), on_done=results.append, rewrite=gateway())
    next(tapped)
    tapped.close()
    assert [r.status for r in results] == ["client_disconnected"]

    def failing() -> Any:
        yield STREAM[:200]
        raise ConnectionResetError("gone")

    results.clear()
    with pytest.raises(ConnectionResetError):
        list(chatsse.tap(failing(), on_done=results.append, rewrite=gateway()))
    assert [r.status for r in results] == ["upstream_failed"]
    with pytest.raises(TypeError, match="rewrite takes a chatsse.Rewriter"):
        chatsse.tap([], on_done=results.append, rewrite="model")  # type: ignore[arg-type]


def test_atap_and_aforward_with_rewrite() -> None:
    async def source() -> AsyncIterator[bytes]:
        for i in range(0, len(STREAM), 13):
            yield STREAM[i : i + 13]

    async def main() -> tuple[bytes, bytes, list[TapResult]]:
        results: list[TapResult] = []
        tapped = b"".join([piece async for piece in chatsse.atap(source(), on_done=results.append, rewrite=gateway())])
        forwarded = b"".join([piece async for piece in chatsse.aforward(source(), on_done=results.append, rewrite=gateway())])
        return tapped, forwarded, results

    tapped, forwarded, results = asyncio.run(main())
    assert tapped == forwarded == STREAM_REWRITTEN
    assert [(r.status, r.chunks, r.usage is not None) for r in results] == [("complete", 3, True)] * 2


# --- the README's example -----------------------------------------------------------------------


def test_the_readme_example() -> None:
    from test_readme_proxies import ROOT, load

    example = load("rewrite_gateway.py")
    body = (ROOT / "examples" / "chat-stream.sse").read_bytes()
    results: list[TapResult] = []
    sent = example["forward_rewritten"](str(ROOT / "examples" / "chat-stream.sse"), results.append)
    assert sent.startswith(b": this sample is hand-written") and sent.endswith(b"data: [DONE]\n\n")
    chunks = chunk_payloads(sent)
    assert len(chunks) == len(chunk_payloads(body)) - 1  # the usage-only chunk is gone
    assert all(chunk["model"] == "house-model" and "system_fingerprint" not in chunk for chunk in chunks)
    (result,) = results
    assert result.status == "complete" and result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (14, 18)
    assert result.completion.model == "gpt-4o-mini-2024-07-18"
    out, usage = example["rewrite_body"](body)
    assert out == body.replace(b'"model":"gpt-4o-mini-2024-07-18"', b'"model":"house-model"')
    assert usage is not None and usage.total_tokens == 32


def test_aforward_hides_the_usage_chunk_with_the_rewriters_rule_however_cut() -> None:
    usage_event = STREAM[STREAM.index(b'data: {"id":"c","model":"gpt-4o","choices":[],') : STREAM.index(b"data: [DONE]")]
    expected = STREAM.replace(usage_event, b"")

    async def source(size: int) -> AsyncIterator[bytes]:
        for i in range(0, len(STREAM), size):
            yield STREAM[i : i + size]

    async def forwarded(size: int, error_frame: bool) -> bytes:
        results: list[TapResult] = []
        out = b"".join([p async for p in chatsse.aforward(source(size), on_done=results.append, error_frame=error_frame, include_usage=False)])
        assert results[0].usage is not None and results[0].usage.total_tokens == 4  # billed all the same
        return out

    for size in (1, 7, 64, len(STREAM)):
        for error_frame in (True, False):
            assert asyncio.run(forwarded(size, error_frame)) == expected
    assert chatsse.drop_usage_chunks(STREAM) == expected
    assert chatsse.drop_usage_chunks(ERROR_FRAME + usage_event) == ERROR_FRAME
