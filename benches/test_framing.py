"""Group 1, framing: chatsse.SSEDecoder against the other SSE parsers on the same bytes, in one run.

Run: python -m pytest benches/test_framing.py --benchmark-only (see README, "Benchmarks").
Every parser must find the same events with the same data, and each event's data is read (as every
consumer does), so nobody wins by doing less or by deferring work.
"""

from __future__ import annotations

from typing import Any

import pytest
from workloads import streams

from chatsse._bench import FRAMING, Approach, Workload


@pytest.mark.parametrize("approach", FRAMING.approaches, ids=lambda approach: approach.key)
@pytest.mark.parametrize("workload", streams().values(), ids=lambda workload: workload.label)
def test_framing(compare: Any, workload: Workload, approach: Approach) -> None:
    compare(FRAMING, approach, workload)
