"""Group 4, non-streamed responses: one whole response body into objects, chatsse.decode_completion
against the JSON parsers, msgspec with chatsse's own types, and the SDK's models.
Run: python -m pytest benches/test_completions.py --benchmark-only"""

from __future__ import annotations

from typing import Any

import pytest
from workloads import completions

from chatsse._bench import NON_STREAMED, Approach, Workload


@pytest.mark.parametrize("approach", NON_STREAMED.approaches, ids=lambda approach: approach.key)
@pytest.mark.parametrize("workload", completions().values(), ids=lambda workload: workload.label)
def test_non_streamed(compare: Any, workload: Workload, approach: Approach) -> None:
    compare(NON_STREAMED, approach, workload)
