"""A panic inside chatsse (a bug: none is reachable from any input today) poisons the object it ran in:
the call raises a ChatSSEError naming the object, every later call says the object is unusable, and
nothing reuses its half-changed state. Shown with a build whose `panic-hook` feature (tests only, never in
a release build) panics on an event or payload whose data is `chatsse:panic`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """chatsse built with the panic-hook feature, installed into a folder of its own (put first on
    PYTHONPATH, it is the chatsse that a child interpreter imports). Built without LTO: faster, and the
    code under test is the same. Needs cargo: skipped where the suite runs against an installed wheel with
    no Rust (scripts/check-wheels, the release workflow's wheel tests)."""
    if shutil.which("cargo") is None:
        pytest.skip("building the panic-hook extension needs cargo")
    wheels = tmp_path_factory.mktemp("wheel")
    env = {**os.environ, "CARGO_PROFILE_RELEASE_LTO": "off", "CARGO_PROFILE_RELEASE_CODEGEN_UNITS": "16",
           "CARGO_TARGET_DIR": str(ROOT / "target" / "panic-hook")}
    features = "python,pyo3/extension-module,panic-hook"
    subprocess.run([sys.executable, "-m", "maturin", "build", "--release", "--quiet", "--features", features,
                    "--interpreter", sys.executable, "--out", str(wheels)], cwd=ROOT, env=env, check=True)
    (wheel,) = wheels.glob("*.whl")
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)], check=True)
    return target


ATTEMPT = """
def attempt(call):
    try:
        print("ok", repr(call()))
    except chatsse.ChatSSEError as error:
        print(type(error).__name__, error)
"""


def run(hooked: Path, code: str) -> list[str]:
    script = "import chatsse\n" + ATTEMPT + textwrap.dedent(code)
    env = {**os.environ, "PYTHONPATH": str(hooked)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.splitlines()




def expected(cls: str) -> tuple[str, str]:
    failed = f"ChatSSEError internal error in {cls} (a panic: injected by the panic-hook feature); this {cls} is unusable from now on, and this is a bug to report"
    unusable = f"ChatSSEError this {cls} failed inside chatsse (a panic, reported when it happened) and is unusable; make a new {cls}"
    return failed, unusable


def test_the_hook_is_off_in_the_build_under_test() -> None:
    import chatsse

    assert [event.data for event in chatsse.SSEDecoder().feed(b"data: chatsse:panic\n\n")] == ["chatsse:panic"]


def test_a_panic_poisons_an_sse_decoder(hooked: Path) -> None:
    failed, unusable = expected("SSEDecoder")
    lines = run(hooked, """
        decoder = chatsse.SSEDecoder()
        attempt(lambda: [e.data for e in decoder.feed(b"data: before\\n\\n")])
        attempt(lambda: decoder.feed(b"data: chatsse:panic\\n\\n"))
        attempt(lambda: decoder.feed(b"data: after\\n\\n"))
        attempt(lambda: decoder.last_event_id)
        attempt(lambda: decoder.close())
        print(repr(decoder).startswith("SSEDecoder("))
        attempt(lambda: [e.data for e in chatsse.SSEDecoder().feed(b"data: fresh\\n\\n")])
    """)
    assert lines == ["ok ['before']", failed, unusable, unusable, unusable, "True", "ok ['fresh']"]


def test_a_panic_poisons_a_chunk_decoder(hooked: Path) -> None:
    failed, unusable = expected("ChunkDecoder")
    lines = run(hooked, """
        decoder = chatsse.ChunkDecoder()
        attempt(lambda: [c.id for c in decoder.feed(b'data: {"id":"a"}\\n\\n')])
        attempt(lambda: decoder.feed(b'data: {"id":"b"}\\n\\ndata: chatsse:panic\\n\\n'))
        attempt(lambda: decoder.feed(b'data: {"id":"c"}\\n\\n'))
        attempt(lambda: decoder.close())
        attempt(lambda: decoder.done)
    """)
    assert lines == ["ok ['a']", failed, unusable, unusable, unusable]


@pytest.mark.parametrize("padding", [0, 8192], ids=["attached", "detached"])  # Accumulator.feed lets go of the GIL from 4 KiB
def test_a_panic_poisons_an_accumulator(hooked: Path, padding: int) -> None:
    failed, unusable = expected("Accumulator")
    lines = run(hooked, f"""
        accumulator = chatsse.Accumulator()
        comment = b": " + b"x" * {padding} + b"\\n"
        attempt(lambda: accumulator.feed(b'data: {{"choices":[{{"index":0,"delta":{{"content":"a"}}}}]}}\\n\\n'))
        attempt(lambda: accumulator.feed(comment + b'data: chatsse:panic\\n\\n'))
        attempt(lambda: accumulator.completion())
        attempt(lambda: accumulator.to_json())
        attempt(lambda: accumulator.feed(b'data: {{"choices":[]}}\\n\\n'))
        attempt(lambda: accumulator.usage)
        fresh = chatsse.Accumulator()
        fresh.add('{{"choices":[{{"index":0,"delta":{{"content":"new"}}}}]}}')
        attempt(lambda: fresh.completion().choices[0].message.content)
    """)
    assert lines == ["ok None", failed, unusable, unusable, unusable, unusable, "ok 'new'"]


@pytest.mark.parametrize("padding", [0, 8192], ids=["attached", "detached"])  # Rewriter.feed too, from 4 KiB
def test_a_panic_poisons_a_rewriter(hooked: Path, padding: int) -> None:
    failed, unusable = expected("Rewriter")
    lines = run(hooked, f"""
        rewriter = chatsse.Rewriter(set={{"model": "m"}})
        comment = b": " + b"x" * {padding} + b"\\n"
        attempt(lambda: rewriter.feed(b'data: {{"choices":[]}}\\n\\n'))
        attempt(lambda: rewriter.feed(comment + b'data: chatsse:panic\\n\\n'))
        attempt(lambda: rewriter.completion())
        attempt(lambda: rewriter.take())
        attempt(lambda: rewriter.close())
        attempt(lambda: chatsse.Rewriter().feed(b'data: {{}}\\n\\n'))
    """)
    assert lines == ["ok b'data: {\"choices\":[],\"model\":\"m\"}\\n\\n'", failed, unusable, unusable, unusable, "ok b'data: {}\\n\\n'"]
