"""Group 2, typed chunks: chatsse.iter_chunks against the other ways to get typed chunk objects from a
body, on the same bytes in one run. Each chunk is taken and let go, as a streaming consumer does; the
chunks of every approach must add up to the same answer. Run: python -m pytest benches/test_chunks.py
--benchmark-only"""

from __future__ import annotations

from typing import Any

import pytest
from workloads import streams

from chatsse._bench import TYPED_CHUNKS, Approach, Workload


@pytest.mark.parametrize("approach", TYPED_CHUNKS.approaches, ids=lambda approach: approach.key)
@pytest.mark.parametrize("workload", streams().values(), ids=lambda workload: workload.label)
def test_typed_chunks(compare: Any, workload: Workload, approach: Approach) -> None:
    compare(TYPED_CHUNKS, approach, workload)
