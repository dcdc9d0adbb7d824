"""Draws docs/benchmarks.png from one or more runs of the suite (each benchmark's fastest round in any of
them, as in summarize.py): throughput per approach and workload (log scale),
each alternative's bar labelled with how many times chatsse's time it takes, and the cost per chunk
against stream length.

Usage: python benches/chart.py bench.json [bench2.json ...] [docs/benchmarks.png]   (needs matplotlib: pip install '.[bench]')
"""

from __future__ import annotations

import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from summarize import Result, load

CUTTING = "socket cuts"  # the chart shows the socket-sized reads; the tables have the 64-byte pieces too
COLOURS = {
    "chatsse": "#d1495b",
    "httpx-sse": "#66a182",
    "sseclient-py": "#8d96a3",
    "openai-sdk": "#2e4057",
    "python-split+msgspec": "#edae49",
    "python-split+msgspec+python-merge": "#edae49",
    "msgspec": "#edae49",
    "orjson+dict-merge": "#00798c",
    "orjson": "#00798c",
    "json+dict-merge": "#a0c4e2",
    "json": "#a0c4e2",
}


def short_label(label: str) -> str:
    return label.replace("`", "")


def bars(axes: Axes, results: list[Result], group: str, title: str) -> None:
    # chatsse's other entry points (accumulate()) are in the tables; the chart keeps one bar for chatsse.
    rows = [r for r in results if r.group == group and r.cutting in (CUTTING, "") and not r.approach.startswith("chatsse-")]
    workloads = list(dict.fromkeys(row.workload for row in rows))
    approaches = list(dict.fromkeys(row.approach for row in rows))
    labels = {row.approach: short_label(row.label) for row in rows}
    by_key = {(row.workload, row.approach): row for row in rows}
    width = 0.8 / len(approaches)
    for n, approach in enumerate(approaches):
        xs, heights, ratios = [], [], []
        for x, workload in enumerate(workloads):
            row, base = by_key.get((workload, approach)), by_key.get((workload, "chatsse"))
            if row and base:
                xs.append(x + (n - (len(approaches) - 1) / 2) * width)
                heights.append(row.size / row.seconds / 1e6)
                ratios.append(row.seconds / base.seconds)
        drawn = axes.bar(xs, heights, width * 0.92, label=labels[approach], color=COLOURS.get(approach, "#999999"),
                         zorder=3)
        if approach != "chatsse":
            texts = [f"{r:,.0f}×" if r >= 10 else f"{r:.1f}×" for r in ratios]
            axes.bar_label(drawn, texts, rotation=90, padding=2, fontsize=7.5)
        else:
            axes.bar_label(drawn, [f"{h:,.0f}" for h in heights], rotation=90, padding=2, fontsize=7.5,
                           fontweight="bold", color=COLOURS["chatsse"])
    axes.set_yscale("log")
    axes.set_ylim(top=axes.get_ylim()[1] * 6)  # room for the labels above the tallest bars
    axes.set_xticks(range(len(workloads)), [textwrap.fill(w, 14) for w in workloads], fontsize=9)
    axes.set_ylabel("MB/s (log scale)")
    axes.set_title(title, loc="left", fontsize=11, fontweight="bold")
    axes.grid(axis="y", which="major", alpha=0.3, zorder=0)
    columns = 3 if len(workloads) > 3 else 1
    axes.legend(fontsize=8.5, loc="upper center", ncols=min(len(approaches), columns), framealpha=0.9)


def scaling(axes: Axes, results: list[Result]) -> None:
    rows = [r for r in results if r.group == "scaling"]
    lines: dict[tuple[str, str], list[Result]] = defaultdict(list)
    for row in rows:
        lines[(row.series, row.label)].append(row)
    styles = {"answer": ("-", "o"), "logprobs": ("--", "s")}
    for (series, label), points in lines.items():
        points.sort(key=lambda row: row.count)
        colour = COLOURS.get(points[0].approach, "#999999")
        if "iter_chunks" in label:
            colour = "#7b2cbf"
        elif "to_json" in label:
            colour = "#f26419"
        line, marker = styles.get(series, (":", "^"))
        axes.plot([p.count for p in points], [p.seconds / p.count * 1e9 for p in points], line, marker=marker,
                  color=colour, label=f"{series}: {short_label(label)}")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("chunks in the stream")
    axes.set_ylabel("ns per chunk (log scale)")
    axes.set_title("Cost per chunk as the stream grows (flat is right)", loc="left", fontsize=11, fontweight="bold")
    axes.grid(which="major", alpha=0.3)
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=1)


def main(paths: list[str]) -> None:
    """Usage: chart.py bench.json [bench2.json ...] [out.png] (the fastest of each benchmark over the runs)."""
    out = next((path for path in paths if path.endswith(".png")), "docs/benchmarks.png")
    results = load(*(path for path in paths if path.endswith(".json")))
    figure = plt.figure(figsize=(15, 24), layout="constrained")
    grid = figure.add_gridspec(4, 2, height_ratios=[1, 1, 1, 1.35], width_ratios=[1, 1.25])
    bars(figure.add_subplot(grid[0, :]), results, "framing", "Framing: SSE events out of the body (labels: chatsse's MB/s; "
         "the others' time over chatsse's)")
    bars(figure.add_subplot(grid[1, :]), results, "typed chunks", "Typed chunks: the body into chunk objects")
    bars(figure.add_subplot(grid[2, :]), results, "accumulate", "Accumulate: the body into the final completion")
    bars(figure.add_subplot(grid[3, 0]), results, "non-streamed", "Non-streamed: one response body into objects")
    scaling(figure.add_subplot(grid[3, 1]), results)
    figure.suptitle("chatsse against the alternatives, every approach on the same bytes "
                    f"({CUTTING}: reads of 1–16 KiB)", fontsize=13)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
