"""The heartbeat bench keeps working: `bench.bench_heartbeats --quick` end to end.

One manager at an offered rate, then two manager processes sharing a fleet that heartbeats
every second on one (SQLite) database: every heartbeat is processed by one of them, and
no live amphora is failed over.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_quick_bench_runs_one_and_two_managers_without_spurious_failovers() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_heartbeats", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ratios = re.findall(
        r"^ratio: heartbeats sqlite 300 amphorae (.+?) processed/offered = "
        r"([\d.]+) \(goal 1.00 with no spurious failover: (\d+);",
        done.stdout,
        re.MULTILINE,
    )
    assert [mode for mode, _, _ in ratios] == ["capacity", "steady x2 HMs"], done.stdout
    for mode, ratio, failovers in ratios:
        assert float(ratio) > 0.3, (mode, ratio)
        assert failovers == "0", (mode, done.stdout[-3000:])
    # The two managers each heard their half of the fleet.
    shares = re.findall(r"HM(\d) processed/s=(\d+)", done.stdout)
    assert len(shares) == 2 and all(int(rate) > 0 for _, rate in shares), done.stdout
