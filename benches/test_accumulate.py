"""Group 3, accumulate: the final completion of a streamed body, chatsse against the other ways, same
bytes, one run; every approach must arrive at the same content, reasoning, tool calls, finish reasons and
logprobs. Run: python -m pytest benches/test_accumulate.py --benchmark-only"""

from __future__ import annotations

from typing import Any

import pytest
from workloads import streams

from chatsse._bench import ACCUMULATE, Approach, Workload


@pytest.mark.parametrize("approach", ACCUMULATE.approaches, ids=lambda approach: approach.key)
@pytest.mark.parametrize("workload", streams().values(), ids=lambda workload: workload.label)
def test_accumulate(compare: Any, workload: Workload, approach: Approach) -> None:
    compare(ACCUMULATE, approach, workload)
