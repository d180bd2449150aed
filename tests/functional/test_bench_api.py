"""bench/bench_api.py keeps working: its quick mode drives a real octavia-api with wrk."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import bench_api

ROOT = Path(__file__).resolve().parents[2]


def test_wrk_output_is_read_with_its_units_and_every_kind_of_error():
    text = """Running 5s test @ http://127.0.0.1:1/
  Latency Distribution
     50%  812.00us
     75%    1.20ms
     99%    1.52s
  1234 requests in 5.00s, 1.00MB read
  Socket errors: connect 1, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:    246.80
"""
    result = bench_api.parse_wrk(text)
    assert (result.requests, result.rate) == (1234, 246.8)
    assert result.p50_ms == pytest.approx(0.812) and result.p99_ms == pytest.approx(1520)
    assert result.errors == 10


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is installed by the test profile")
def test_quick_mode_measures_every_call_at_both_concurrencies_without_errors():
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_api", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    rows = [
        line for line in out.stdout.splitlines() if line.startswith("| ") and not line.startswith("| call")
    ]
    assert [(r.split(" | ")[0][2:], r.split(" | ")[1]) for r in rows] == [
        (bench_api.label(call, 200), str(conc)) for call in bench_api.CALLS for conc in bench_api.CONCURRENCY
    ]
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        ostia_rate, ostia_errors = float(cells[7]), int(cells[10])
        # Every request Ostia answered in the run was a 2xx (no 409 for an id reused, no
        # socket error); the rate is whatever this machine's load allows, but not nothing.
        assert ostia_rate > 0 and ostia_errors == 0, row
