"""Typed code using chatsse type-checks: a billing function (tests/typing/billing.py), the README's
examples of "Proxies" and "chatsse.httpx_sse", and chatsse's own proxy modules, under pyright
(strict) and mypy --strict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from test_readme_proxies import readme_examples

ROOT = Path(__file__).resolve().parent.parent
CHECKED = [
    ROOT / "tests" / "typing" / "billing.py",
    *(ROOT / "python" / "chatsse" / name for name in ("_tap.py", "_proxy.py", "asgi.py", "aiohttp.py", "httpx_sse.py")),
    ROOT / "examples" / "proxy.py",
]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("typed")
    examples = []
    for name, code in readme_examples().items():
        path = folder / f"readme_{name}"
        path.write_text(code)
        examples.append(path)
    return [*CHECKED, *examples]


def test_pyright_strict(sources: list[Path], tmp_path: Path) -> None:
    config = tmp_path / "pyrightconfig.json"
    config.write_text(json.dumps({"typeCheckingMode": "strict", "pythonVersion": "3.10", "reportMissingModuleSource": False}))
    run = subprocess.run(
        [sys.executable, "-m", "pyright", "--outputjson", "-p", str(config), "--pythonpath", sys.executable, *map(str, sources)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(run.stdout)
    problems = [f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']}" for d in report["generalDiagnostics"]]
    assert problems == []
    assert report["summary"]["filesAnalyzed"] == len(sources)


def test_mypy_strict(sources: list[Path], tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--python-version", "3.10", "--cache-dir", str(tmp_path / "cache"), *map(str, sources)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.stdout.strip().splitlines()[-1] == f"Success: no issues found in {len(sources)} source files", run.stdout
