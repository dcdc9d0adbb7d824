"""Turns one run of the suite into the README's tables (markdown on stdout): rates, MB/s and each
approach's time over chatsse's on the same bytes.

Times are each benchmark's fastest round: on a machine whose cores are shared with other guests,
interference only ever adds time, and it comes in bursts that can cover all the rounds' middle. Given
several runs of the suite, a benchmark's time is its fastest round in any of them: a burst can last
longer than one benchmark's rounds (seconds), and two runs minutes apart rarely both fall in one.

Usage: python benches/summarize.py bench.json [bench2.json ...] [core.txt] [--update README.md]

bench*.json are pytest-benchmark's `--benchmark-json`; core.txt, optional, is the output of
`cargo bench --bench core`, for the table of the Python API against the Rust core alone. With
--update, the README's tables are replaced in place (matched by their bold titles); else printed.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

HEADLINE = "long answer, socket cuts"


@dataclass(frozen=True)
class Result:
    group: str
    approach: str
    label: str
    workload: str
    cutting: str
    unit: str
    count: int
    size: int
    seconds: float
    series: str

    @property
    def workload_label(self) -> str:
        return f"{self.workload}, {self.cutting}" if self.cutting else self.workload


def load(*paths: str) -> list[Result]:
    """The benchmarks of one or more runs of the suite; a benchmark in several runs keeps its fastest."""
    fastest: dict[str, Result] = {}
    for path in paths:
        with open(path) as file:
            report = json.load(file)
        for bench in report["benchmarks"]:
            info: dict[str, Any] = bench["extra_info"]
            result = Result(
                group=info["group"], approach=info["approach"], label=info["label"], workload=info["workload"],
                cutting=info["cutting"], unit=info["unit"],
                count=info["events"] if info["unit"] == "events" else info["chunks"], size=info["bytes"],
                seconds=bench["stats"]["min"], series=info.get("series", ""),
            )
            known = fastest.get(bench["fullname"])
            if known is None or result.seconds < known.seconds:
                fastest[bench["fullname"]] = result
    return list(fastest.values())


def rate(value: float) -> str:
    return f"{value:,.0f}"


def megabytes(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def ratio(value: float) -> str:
    return f"{value:,.0f}×" if value >= 100 else f"{value:.1f}×"


def size(count: int) -> str:
    if count < 10_000:
        return f"{count / 1e3:.1f} kB"
    return f"{count / 1e6:.2f} MB"


def duration(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:,.1f} µs"
    return f"{seconds * 1e3:,.2f} ms" if seconds < 1 else f"{seconds:,.2f} s"


def table(header: list[str], rows: list[list[str]]) -> str:
    align = ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def chatsse_of(rows: list[Result]) -> Result:
    return next(row for row in rows if row.approach == "chatsse")


def headline(results: list[Result], group: str) -> str:
    """One workload, every approach: rate, MB/s, ratio."""
    rows = [r for r in results if r.group == group and r.workload_label == HEADLINE]
    if not rows:
        return ""
    base = chatsse_of(rows)
    body = [[row.label, rate(row.count / row.seconds), megabytes(row.size / row.seconds / 1e6),
             ratio(row.seconds / base.seconds)] for row in sorted(rows, key=lambda row: row.seconds)]
    title = f"**{group.capitalize()}**, {HEADLINE} ({base.count:,} {base.unit}, {base.size / 1e6:.1f} MB):"
    return title + "\n\n" + table(["approach", f"{base.unit}/s", "MB/s", "chatsse is faster by"], body)


def pivot(results: list[Result], group: str) -> str:
    """Every workload of a group: chatsse's rate, then each alternative's time over chatsse's."""
    rows = [r for r in results if r.group == group]
    if not rows:
        return ""
    by_workload: dict[str, list[Result]] = defaultdict(list)
    for row in rows:
        by_workload[row.workload_label].append(row)
    alternatives = list(dict.fromkeys(row.label for row in rows if row.approach != "chatsse"))
    base = chatsse_of(rows)
    unit = base.unit
    header = ["workload", "size", f"chatsse {unit}/s", "chatsse MB/s", *alternatives]
    body = []
    for label, group_rows in by_workload.items():
        base = chatsse_of(group_rows)
        seconds = {row.label: row.seconds for row in group_rows}
        body.append([label, size(base.size), rate(base.count / base.seconds),
                     megabytes(base.size / base.seconds / 1e6),
                     *(ratio(seconds[alt] / base.seconds) if alt in seconds else "–" for alt in alternatives)])
    return (f"**{group.capitalize()}, every workload**: chatsse's rate, and each alternative's time over chatsse's "
            "(above 1: chatsse is faster):\n\n" + table(header, body))


def one_mib(results: list[Result]) -> str:
    rows = [r for r in results if r.group == "pathological"]
    if not rows:
        return ""
    base = chatsse_of(rows)
    body = [[row.label, duration(row.seconds), ratio(row.seconds / base.seconds)]
            for row in sorted(rows, key=lambda row: row.seconds)]
    return f"**{rows[0].workload_label}**:\n\n" + table(["approach", "time", "chatsse is faster by"], body)


def hostile(results: list[Result]) -> str:
    """Per hostile workload, the tap's time against decoding the same payloads (the bound: within 5x)."""
    rows = [r for r in results if r.group == "hostile"]
    if not rows:
        return ""
    body = []
    for label in dict.fromkeys(row.workload_label for row in rows):
        cells = {row.approach: row for row in rows if row.workload_label == label}
        tap, decode = cells.get("chatsse"), cells.get("chatsse-iter-chunks")
        if tap is None or decode is None:
            continue
        body.append([label, size(tap.size), duration(tap.seconds), duration(decode.seconds), ratio(tap.seconds / decode.seconds)])
    header = ["workload", "size", "`Accumulator.feed`", "`iter_chunks` (decode only)", "feed over decode"]
    return "**Hostile chunks**: the tap's time against decoding the same payloads:\n\n" + table(header, body)


def rewriting(results: list[Result]) -> str:
    """Per workload, the Rewriter's and the Python path's time over the plain tap's (benches/test_rewrite.py)."""
    rows = [r for r in results if r.group == "rewrite"]
    body = []
    for label in dict.fromkeys(row.workload_label for row in rows):
        cells = {row.approach: row for row in rows if row.workload_label == label}
        tap, rewriter, python = (cells.get(key) for key in ("chatsse-tap", "chatsse-rewriter", "python-path"))
        if tap is None or rewriter is None or python is None:
            continue
        body.append([label, size(tap.size), duration(tap.seconds), duration(rewriter.seconds), ratio(rewriter.seconds / tap.seconds),
                     duration(python.seconds), ratio(python.seconds / tap.seconds)])
    if not body:
        return ""
    header = ["workload", "size", "tap (`Accumulator.feed`)", "`Rewriter.feed`", "over the tap", "Python path", "over the tap"]
    return "**Rewriting streams**: alias + drop `obfuscation` + drop the usage-only chunk, against the tap:\n\n" + table(header, body)


def scaling(results: list[Result]) -> str:
    """Per series, ns per chunk at each stream length: flat is the goal."""
    rows = [r for r in results if r.group == "scaling"]
    out = []
    for series in dict.fromkeys(row.series for row in rows):
        series_rows = [row for row in rows if row.series == series]
        sizes = sorted({row.count for row in series_rows})
        header = ["approach", *(f"{size:,} chunks" for size in sizes)]
        body = []
        for label in dict.fromkeys(row.label for row in series_rows):
            cells = {row.count: row.seconds / row.count * 1e9 for row in series_rows if row.label == label}
            body.append([label, *(f"{cells[size]:,.0f}" if size in cells else "–" for size in sizes)])
        out.append(f"**Scaling, {series} streams** of growing length (socket cuts), ns per chunk:\n\n"
                   + table(header, body))
    return "\n\n".join(out)


def bytes_out(results: list[Result]) -> str:
    """`encode`, `Accumulator.add` of chunk objects and `completion_to_stream` against their
    alternatives (benches/test_encode.py): each row's time over chatsse's on the same input."""
    groups = ("bytes out", "accumulator add", "to stream")
    rows = [r for r in results if r.group in groups]
    if not rows:
        return ""
    body = []
    for group in groups:
        for workload in dict.fromkeys(r.workload for r in rows if r.group == group):
            cells = [r for r in rows if r.group == group and r.workload == workload]
            base = chatsse_of(cells)
            for row in sorted(cells, key=lambda row: (row.approach != "chatsse", row.seconds)):
                body.append([workload, row.label, duration(row.seconds), ratio(row.seconds / base.seconds)])
    return ("**Bytes out**: encoding, adding chunk objects, a completion back into a stream (each row's time "
            "over chatsse's):\n\n" + table(["workload", "approach", "time", "÷ chatsse"], body))


_UNITS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
_LINE = re.compile(r"^(?P<tree>[\s│├╰─]*)(?P<name>\S[^│]*?)\s+(?:(?P<fastest>[\d.]+) (?P<unit>ns|µs|us|ms|s)\s+│|│)")


def load_core(path: str) -> dict[str, float]:
    """Fastest samples from divan's tree (as for the suite, the fastest round): {"accumulate_answer/socket
    cuts": seconds, ...}."""
    fastest: dict[str, float] = {}
    parents: dict[int, str] = {}
    with open(path, encoding="utf-8") as file:
        for line in file:
            match = _LINE.match(line)
            if not match or "slowest" in line:  # the header row
                continue
            depth = len(match["tree"])
            name = match["name"].strip()
            parents = {d: n for d, n in parents.items() if d < depth}
            path_name = "/".join([*(parents[d] for d in sorted(parents)), name])
            if match["fastest"]:
                fastest[path_name] = float(match["fastest"]) * _UNITS[match["unit"]]
            else:
                parents[depth] = name
    return fastest


def core_gap(results: list[Result], core: dict[str, float]) -> str:
    """The Python API against the Rust core on the same bytes: the gap is what the bindings cost."""
    pairs = [
        ("framing: `SSEDecoder.feed` vs `EventStreamDecoder::feed`", "framing", "chatsse", "frame_events"),
        ("accumulate: `Accumulator.feed` + `completion()` vs `PayloadStream` + `Accumulator::add` + `write_json`",
         "accumulate", "chatsse", "accumulate_answer"),
        ("accumulate: `accumulate()` vs the same core", "accumulate", "chatsse-accumulate", "accumulate_answer"),
    ]
    body = []
    for what, group, approach, bench in pairs:
        for cutting in ("socket cuts", "64-byte pieces"):
            rust = core.get(f"{bench}/{cutting}")
            python = next((r for r in results if r.group == group and r.approach == approach
                           and r.workload == "long answer" and r.cutting == cutting), None)
            if rust and python:
                body.append([f"{what}, {cutting}", duration(rust), duration(python.seconds),
                             f"{python.seconds / rust:.2f}×"])
    for row in sorted((r for r in results if r.group == "scaling" and r.series == "answer" and r.approach == "chatsse"
                       and "Accumulator" in r.label), key=lambda r: r.count):
        rust = core.get(f"accumulate_scaling/{row.count - 3}")
        if rust:
            body.append([f"accumulate, answer of {row.count:,} chunks", f"{rust / row.count * 1e9:,.0f} ns/chunk",
                         f"{row.seconds / row.count * 1e9:,.0f} ns/chunk", f"{row.seconds / rust:.2f}×"])
    if not body:
        return ""
    return ("**The Python API against the Rust core alone** (long answer; `cargo bench --bench core`):\n\n"
            + table(["what", "Rust core", "Python API", "Python ÷ core"], body))


def update(readme_path: str, tables: str) -> None:
    """Replaces in the README each table whose bold title matches one of `tables` (title line, blank
    line, table rows): the prose around them stays as written."""
    with open(readme_path, encoding="utf-8") as file:
        lines = file.read().split("\n")
    for block in tables.split("\n\n**"):
        block = block if block.startswith("**") else "**" + block
        title = block[: block.index("**", 2) + 2]
        start = next((n for n, line in enumerate(lines) if line.startswith(title)), None)
        if start is None:
            raise SystemExit(f"{readme_path} has no table titled {title}")
        end = start + 2  # past the title and the blank line
        while end < len(lines) and lines[end].startswith("|"):
            end += 1
        lines[start:end] = block.split("\n")
    with open(readme_path, "w", encoding="utf-8") as file:
        file.write("\n".join(lines))


def main(paths: list[str]) -> None:
    readme = None
    if "--update" in paths:
        at = paths.index("--update")
        readme, paths = paths[at + 1], paths[:at] + paths[at + 2 :]
    runs = [path for path in paths if path.endswith(".json")]
    core_paths = [path for path in paths if not path.endswith(".json")]
    results = load(*runs)
    parts = [headline(results, group) for group in ("framing", "typed chunks", "accumulate")]
    parts += [pivot(results, group) for group in ("framing", "typed chunks", "accumulate", "non-streamed")]
    parts += [one_mib(results), scaling(results), hostile(results), rewriting(results), bytes_out(results)]
    if core_paths:
        parts.append(core_gap(results, load_core(core_paths[0])))
    tables = "\n\n".join(part for part in parts if part)
    if readme:
        update(readme, tables)
    else:
        print(tables)


if __name__ == "__main__":
    main(sys.argv[1:])
