"""Shared test fixtures: where the recorded provider streams live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# ../shared/corpus beside the checkout (CI puts it there); CHATSSE_CORPUS overrides.
CORPUS = Path(os.environ.get("CHATSSE_CORPUS", Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"))


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(CORPUS.glob("*.sse"))


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"corpus folder {CORPUS} is missing; CI must have ../shared beside the checkout")
        pytest.skip(f"corpus folder {CORPUS} not present")
    return CORPUS
