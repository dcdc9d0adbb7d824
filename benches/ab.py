"""Interleaved A/B timing, for decisions (docs/decisions.md §7): the approaches of one group take turns on
the same workload, several rounds each, and the fastest round of each is kept. This host switches
between a fast and a ~1.5x slower mode for seconds at a time, so two benchmarks timed minutes apart
can differ by that much; timing them alternately puts both in the same windows.

Usage: python benches/ab.py GROUP WORKLOAD [APPROACH ...] [--rounds N] [--seconds S]

GROUP is framing, "typed chunks", accumulate or non-streamed; WORKLOAD a label of benches/workloads.py
(e.g. "logprobs, socket cuts") or a capture's name from ../shared/corpus (its socket cuts); APPROACH a key
of the group (default: all installed). Prints each approach's best time and its ratio to chatsse's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from workloads import CORPUS, completions, streams  # noqa: E402

from chatsse._bench import CUTTINGS, GROUPS, Workload, run_workload  # noqa: E402


def find_workload(label: str) -> Workload:
    known = {**streams(), **completions()}
    if label in known:
        return known[label]
    path = CORPUS / f"{label}.sse"
    if path.exists():
        return Workload(label, "socket cuts", (CUTTINGS["socket cuts"](path.read_bytes()),), 0, 0)
    raise SystemExit(f"no workload {label!r}; known: {', '.join(known)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("group", choices=list(GROUPS))
    parser.add_argument("workload")
    parser.add_argument("approaches", nargs="*")
    parser.add_argument("--rounds", type=int, default=3, help="turns each approach takes (default: 3)")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one turn (default: 1)")
    args = parser.parse_args()
    group = GROUPS[args.group]
    workload = find_workload(args.workload)
    runs, approaches = {}, {}
    for approach in group.approaches:
        if args.approaches and approach.key not in args.approaches and approach.key != "chatsse":
            continue
        try:
            runs[approach.key] = group.timed(approach.make())
            approaches[approach.key] = approach
        except ImportError:
            continue
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(args.rounds):
        for key, run in runs.items():
            ends = time.perf_counter() + args.seconds
            while True:
                inputs = approaches[key].inputs(workload)  # made before the clock starts
                begin = time.perf_counter()
                run_workload(run, inputs)
                now = time.perf_counter()
                best[key] = min(best[key], now - begin)
                if now > ends:
                    break
    for key, seconds in best.items():
        print(f"{key:<40} {seconds * 1e3:10.3f} ms  {seconds / best['chatsse']:6.2f}x chatsse's time")


if __name__ == "__main__":
    main()
