"""What a release ships: one version everywhere, the license in the installed distribution, the
metadata PyPI shows, and release workflows that pass GitHub's schema and zizmor's audits (offline)."""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import chatsse

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def cargo_version() -> str:
    match = re.search(r'^version = "([^"]+)"', (ROOT / "Cargo.toml").read_text(encoding="utf-8"), re.MULTILINE)
    assert match
    return match.group(1)


def test_one_version() -> None:
    assert chatsse.__version__ == cargo_version() == importlib.metadata.version("chatsse")
    assert chatsse.__version__ == chatsse._core.__version__
    assert f"## [{chatsse.__version__}]" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


def test_command_line_version() -> None:
    result = subprocess.run([sys.executable, "-m", "chatsse", "--version"], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"chatsse {chatsse.__version__}\n", "")


def installed_from_a_wheel() -> bool:
    """maturin develop / pip install -e leave no license file in the dist-info; a wheel does."""
    direct_url = importlib.metadata.distribution("chatsse").read_text("direct_url.json")
    return not (direct_url and json.loads(direct_url).get("dir_info", {}).get("editable"))


def test_metadata() -> None:
    metadata = importlib.metadata.metadata("chatsse")
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License") is None  # the expression replaces the old field
    classifiers = set(metadata.get_all("Classifier") or [])
    for version in ("3.10", "3.11", "3.12", "3.13", "3.14"):
        assert f"Programming Language :: Python :: {version}" in classifiers
    assert "Programming Language :: Python :: Free Threading :: 2 - Beta" in classifiers
    assert "Typing :: Typed" in classifiers
    assert not any(classifier.startswith("License ::") for classifier in classifiers)
    urls = dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL") or [])
    assert set(urls) == {"Homepage", "Documentation", "Source", "Issues", "Changelog"}
    assert metadata["Requires-Python"] == ">=3.10"


@pytest.mark.skipif(not installed_from_a_wheel(), reason="an editable install carries no license file")
def test_the_license_is_installed() -> None:
    files = importlib.metadata.distribution("chatsse").files or []
    (license_file,) = [file for file in files if file.name == "LICENSE"]
    assert license_file.read_text(encoding="utf-8") == (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_file.read_text(encoding="utf-8").startswith("MIT License\n")


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} is not installed (pip install '.[workflows]'; .ci/run does)")
    return found


def test_there_are_workflows() -> None:
    assert [path.name for path in WORKFLOWS] == ["release.yml"]


def test_workflows_match_githubs_schema() -> None:
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_zizmor_finds_nothing() -> None:
    """Every audit, at every severity (the "auditor" persona), offline: none is suppressed."""
    result = subprocess.run(
        [tool("zizmor"), "--offline", "--persona=auditor", "--format=json", *map(str, WORKFLOWS)],
        capture_output=True, text=True, check=False,
    )
    assert (result.returncode, json.loads(result.stdout)) == (0, []), result.stderr


def test_the_pgo_training_run_runs() -> None:
    # scripts/pgo-build trains on this script; a training run that raises would build a wheel from a
    # profile of nothing. It must run on the installed package, with only what the repo ships.
    training = ROOT / "scripts" / "pgo-train.py"
    done = subprocess.run([sys.executable, str(training)], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr) == (0, "")
