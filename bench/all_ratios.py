"""bench/run_all: every benchmark in sequence, then one table of their ratios.

A benchmark reports a ratio with a line `ratio: <measure> = <value> (goal <goal>)` on its
standard output (bench_api prints one per call and concurrency); each run's own output
passes through as it comes. A benchmark that prints no ratio line, or fails, still gets a
row saying so. To add a benchmark, add it to BENCHES with the arguments of its full and
quick runs.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# module, full-run arguments, quick-run arguments (None: no quick mode, skipped by --quick)
BENCHES: list[tuple[str, list[str], list[str] | None]] = [
    ("bench.bench_api", ["--db", "both"], ["--quick"]),
    ("bench.bench_control_plane", [], ["--quick"]),
    ("bench.bench_scale", [], ["--quick"]),
    ("bench.bench_dataplane", [], ["--quick"]),
    ("bench.bench_worker", ["--rounds", "20"], ["--quick"]),
    ("bench.bench_lb_create", ["--count", "20"], ["--quick"]),
    # Issue 16's goal: 10,000 amphorae heartbeating every second on PostgreSQL.
    (
        "bench.bench_heartbeats",
        [
            "--db",
            "postgresql",
            "--amphorae",
            "10000",
            "--mode",
            "capacity,steady",
            "--rate",
            "10000",
            "--interval",
            "1",
            "--timeout",
            "3",
            "--seconds",
            "15",
        ],
        ["--quick"],
    ),
    ("bench.bench_failover", [], None),
]
RATIO = re.compile(r"^ratio: (?P<measure>.+?) = (?P<value>\S+)(?: \((?P<goal>.*)\))?\s*$")


def run(module: str, args: list[str]) -> tuple[int, list[tuple[str, str, str]], float]:
    started = time.monotonic()
    ratios: list[tuple[str, str, str]] = []
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        if match := RATIO.match(line):
            ratios.append((match["measure"], match["value"], match["goal"] or ""))
    return proc.wait(), ratios, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run every benchmark; one table of ratios.")
    parser.add_argument("--quick", action="store_true", help="each benchmark's quick mode")
    parser.add_argument(
        "--only", action="append", default=[], help="run only benchmarks whose module name contains this"
    )
    args = parser.parse_args(argv)
    rows: list[str] = []
    failed = 0
    for module, full, quick in BENCHES:
        if args.only and not any(part in module for part in args.only):
            continue
        if not (ROOT / (module.replace(".", "/") + ".py")).exists():
            continue
        if args.quick and quick is None:
            rows.append(f"| {module} | (no quick mode: not run) | | |")
            continue
        print(f"\n===== {module} {' '.join(quick if args.quick else full)}", flush=True)
        code, ratios, took = run(module, quick if args.quick else full)
        failed += code != 0
        if code != 0:
            rows.append(f"| {module} | FAILED (exit {code}) after {took:.0f} s | | |")
        for measure, value, goal in ratios:
            rows.append(f"| {module} | {measure} | {value} | {goal} |")
        if code == 0 and not ratios:
            rows.append(f"| {module} | (prints no ratio line; see its output above) | | |")
    print("\n| benchmark | measure | ratio | goal |\n|---|---|---|---|")
    print("\n".join(rows))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
