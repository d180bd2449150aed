"""The data-plane bench keeps working: `bench.bench_dataplane --quick` end to end."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("wrk", "nginx", "haproxy")),
    reason="needs wrk, nginx and haproxy (scripts/install-system-packages.sh test)",
)


def test_quick_bench_serves_through_all_three_targets_and_prints_ratios() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_dataplane", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    # Every wrk run got answers, none failed.
    runs = re.findall(
        r"^round \d+ (.+?)\s+(ostia|tuned|direct)\s+(\d+) req/s.*errors (\d+)$", out, re.MULTILINE
    )
    assert {target for _, target, _, _ in runs} == {"ostia", "tuned", "direct"}, out
    assert all(int(rate) > 0 and errors == "0" for _, _, rate, errors in runs), out
    # Ostia's LB really is an haproxy the amphora rendered, and the table has its ratios.
    assert "rendered by Ostia" in out
    rows = [
        line
        for line in out.splitlines()
        if line.startswith("| keep-alive c=64") or line.startswith("| close c=64")
    ]
    assert len(rows) == 2, out
    for row in rows:
        ratio = float(re.search(r"\| ([\d.]+)x \|", row).group(1))  # type: ignore[union-attr]
        assert ratio > 0
    assert not [p for p in _leftovers()], "bench left processes behind"


def _leftovers() -> list[str]:
    found = subprocess.run(
        ["pgrep", "-af", "ostia-dataplane-|tuned-haproxy.cfg"], capture_output=True, text=True
    ).stdout
    return [line for line in found.splitlines() if "pgrep" not in line]
