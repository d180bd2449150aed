"""bench/bench_control_plane.py keeps working: quick mode, amphora provider, noop drivers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_mode_times_empty_and_full_creates_until_active():
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_control_plane", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    rows = {line.split(" | ")[0][2:]: line for line in out.stdout.splitlines() if line.startswith("| LB")}
    assert set(rows) == {"LB (empty)", "LB + listener + pool + 2 members (one call)"}
    for row in rows.values():
        samples, median = row.split(" | ")[1:3]
        assert samples == "3" and float(median) > 0
    assert "ratio: control plane POST->ACTIVE" in out.stdout
