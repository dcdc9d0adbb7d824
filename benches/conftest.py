"""How every benchmark of the suite runs: the approach's result is checked against chatsse's on the same
workload (nobody wins by doing less), then timed by pytest-benchmark, with what the summary and the chart
need recorded in `extra_info`."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from chatsse._bench import Approach, Group, Workload, run_workload, workload_outcome  # noqa: E402

# A run slower than this gets five rounds and no calibration: the SDK's runs take seconds, and more
# rounds of them would say nothing more.
SLOW_RUN = 0.1
SLOW_ROUNDS = 5
# Approaches whose inputs are made before the clock starts (Approach.prepare) run once a round: about
# this long in all, within these bounds.
PREPARED_SECONDS = 1.0
PREPARED_MIN_ROUNDS = 20
PREPARED_MAX_ROUNDS = 20_000

_expected: dict[tuple[str, str], Any] = {}


def expected_outcome(group: Group, workload: Workload) -> Any:
    """What chatsse makes of the workload (the group's first approach), computed once."""
    key = (group.name, workload.label)
    if key not in _expected:
        first = group.approaches[0]
        _expected[key] = workload_outcome(group, first.make(), first.inputs(workload))
    return _expected[key]


@pytest.fixture
def compare(benchmark: Any) -> Callable[..., None]:
    def measure(group: Group, approach: Approach, workload: Workload, table: str = "", **extra: Any) -> None:
        try:
            run = approach.make()
        except ImportError:
            pytest.skip(f"{approach.package} is not installed (pip install '.[bench]')")
        benchmark.group = f"{table or group.name}: {workload.label}"
        benchmark.extra_info.update(
            group=table or group.name, approach=approach.key, label=approach.label, workload=workload.name,
            cutting=workload.cutting, unit=group.unit, chunks=workload.chunks, events=workload.events,
            bytes=workload.size, **extra,
        )
        inputs = approach.inputs(workload)
        started = time.perf_counter()
        found = workload_outcome(group, run, inputs)  # also the warm-up
        once = time.perf_counter() - started
        assert found == expected_outcome(group, workload), f"{approach.key} disagrees with chatsse on {workload.label}"
        timed = group.timed(run)

        def fresh() -> tuple[tuple[Any, ...], dict[str, Any]]:
            return (timed, approach.inputs(workload)), {}  # made before each round's clock starts

        if once > SLOW_RUN:
            benchmark.pedantic(run_workload, setup=fresh, rounds=SLOW_ROUNDS)
        elif approach.prepare is not None:
            # Inputs read once (a response): one run a round, each given fresh inputs made off the clock.
            rounds = max(PREPARED_MIN_ROUNDS, min(PREPARED_MAX_ROUNDS, int(PREPARED_SECONDS / max(once, 1e-6))))
            benchmark.pedantic(run_workload, setup=fresh, rounds=rounds, warmup_rounds=1)
        else:
            benchmark(run_workload, timed, inputs)

    return measure
