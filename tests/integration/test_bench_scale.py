"""The scale bench keeps working: `bench.bench_scale --quick` end to end, nothing left."""

from __future__ import annotations

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _scale_processes() -> list[str]:
    """Command lines of live processes run from or in a bench_scale state directory."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if "/tmp/ostia-scale-" in cmdline or cwd.startswith("/tmp/ostia-scale-"):
            found.append(cmdline)
    return found


def test_quick_scale_bench_serves_every_vip_measures_memory_and_cleans_up() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_scale", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "| VIPs serving | 3 / 3 |" in out, out
    assert "| load balancers (amphorae) | 3 (3) |" in out, out
    per_amp = re.search(
        r"PSS per amphora.*\| ([\d.]+) MiB \(([\d.]+) MiB \+ ([\d.]+) MiB \+ "
        r"([\d.]+) MiB\)",
        out,
    )
    assert per_amp is not None, out
    total, agent, master, worker = map(float, per_amp.groups())
    # Every part was found and measured (a missing process would read 0).
    assert agent > 1 and master > 0.5 and worker > 0.5, out
    assert total > agent, out
    assert re.search(r"controller CPU at rest .*\| [\d.]+ % of one core", out), out
    # Agents share their modules through the zygote (the default).
    zygote = re.search(r"\(zygote ([\d.]+) MiB", out)
    assert zygote is not None and float(zygote.group(1)) > 1, out
    # bench/run_all's ratio lines.
    assert re.search(r"^ratio: PSS per amphora, MiB = [\d.]+ \(goal <= 20\)$", out, re.M), out
    assert len(re.findall(r"^ratio: ", out, re.M)) == 3, out
    assert _scale_processes() == []
