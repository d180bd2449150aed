"""bench/bench_worker.py keeps working: its quick mode drives real local amphorae, with the
backends and the VIP probe in a process of their own (bench/outside_client.py, which
bench/bench_lb_create.py uses too; its quick mode, 1 create each way plus a spare pool's
fill, is left to `bench/run_all --quick` to keep the suite's time)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_quick(module: str, *extra: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", module, "--quick", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_bench_worker_times_each_step_of_a_round():
    stdout = run_quick("bench.bench_worker", "--trace")
    rows = {line.split(" | ")[0][2:]: line for line in stdout.splitlines() if line.startswith("| ")}
    for measure in ("LB (full graph) -> traffic", "member -> traffic", "member -> ACTIVE"):
        median = rows[measure].split(" | ")[1]
        assert re.fullmatch(r"\d+ ms", median) and int(median.split()[0]) > 0
    assert re.search(r"^ratio: member -> traffic, median ms = \d+ \(goal <= 50\)$", stdout, re.MULTILINE)
    # --trace: when each step of the member add ended, from the API to the backend.
    steps = {
        line.split(" | ")[0][2:]: float(line.split(" | ")[1].split()[0])
        for line in stdout.split("| member add: step |", 1)[1].splitlines()[2:]
        if line.startswith("| ")
    }
    pushed = steps["worker: PUT configuration answered"]
    served = steps["new member's backend: first answer sent"]
    assert 0 < steps["API: change committed, worker woken"] < steps["worker: graph snapshot read"] < pushed
    # haproxy takes the new server during `PUT reload`, maybe before the worker reads its answer.
    assert pushed < steps["worker: PUT reload answered"] and pushed < served
    assert pushed < steps["outside client: the new member answers through the VIP"]
