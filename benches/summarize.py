"""Turns a pytest-benchmark JSON file into the README's table: events/s, MB/s and the ratio of each
approach to chatsse, per group. Usage: python benches/summarize.py results.json"""

from __future__ import annotations

import json
import sys
from collections import defaultdict


def main(path: str) -> None:
    with open(path) as file:
        report = json.load(file)
    groups: dict[str, list[tuple[str, float, dict]]] = defaultdict(list)
    for bench in report["benchmarks"]:
        approach = bench["params"]["approach"]
        groups[bench["group"]].append((approach, bench["stats"]["median"], bench["extra_info"]))
    for group, rows in groups.items():
        baseline = next(median for approach, median, _ in rows if approach == "chatsse")
        print(f"\n{group}\n")
        print("| approach | median time | events/s | MB/s | chatsse is faster by |")
        print("|---|---:|---:|---:|---:|")
        for approach, median, info in sorted(rows, key=lambda row: row[1]):
            print(f"| {approach} | {median * 1e3:.3f} ms | {info['events'] / median:,.0f} | "
                  f"{info['bytes'] / median / 1e6:,.1f} | {median / baseline:.1f}x |")


if __name__ == "__main__":
    main(sys.argv[1])
