"""docs/operator-guide.md's `tested` blocks, run in order in a scratch directory.

The guide installs the four services from /etc/octavia/octavia.conf and runs upstream's
test deployment against them. Here its paths move under a short temporary directory,
/opt/ostia/bin is this virtual environment, and its ports and loopback ranges become free
ones (see SUBSTITUTIONS); afterwards every process the guide started is stopped and every
amphora the worker built is deleted, pass or fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.acceptance.guide import Step, runnable_steps, script
from tests.support.amphora import random_mgmt_cidr, short_tempdir
from tests.support.live_api import free_port

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "operator-guide.md"
BIN = Path(sys.executable).parent
RUN_TIMEOUT = 300


def substitutions(scratch: str) -> dict[str, str]:
    second, third = random.randint(192, 223), random.randint(0, 254)
    return {
        "/etc/octavia": f"{scratch}/etc/octavia",
        # haproxy's unix sockets live under the amphora directory: keep its path short.
        "/var/lib/octavia/amphorae": f"{scratch}/amph",
        "/var/lib/octavia": f"{scratch}/var/lib/octavia",
        "/var/log/octavia": f"{scratch}/var/log/octavia",
        "/opt/ostia/bin": str(BIN),
        "9876": str(free_port()),
        "5555": str(free_port()),
        "127.0.100.": f"127.{second}.{third}.",
        "127.0.200.": f"127.{second}.{third + 1}.",
        "127.1.0.0/16": random_mgmt_cidr(),
    }


def test_tested_blocks_are_parsed_into_commands_outputs_and_files():
    doc = "\n".join(
        [
            "text",
            "```console",
            "$ not run",
            "```",
            "```console tested",
            "$ echo one \\",
            "    two",
            "one two",
            "$ true",
            "```",
            "```ini tested file=/etc/x.conf",
            "[a]",
            "b = /etc/y",
            "```",
        ]
    )
    steps = runnable_steps(doc, {"/etc": "/scratch/etc"})
    assert [(s.command, s.expected, s.line) for s in steps[:2]] == [
        ("echo one \\\n    two", ("one two",), 6),
        ("true", (), 9),
    ]
    assert (steps[2].file, steps[2].content) == ("/scratch/etc/x.conf", "[a]\nb = /scratch/etc/y\n")


def test_guide_has_tested_blocks_for_every_stage():
    commands = " ".join(s.command or s.file for s in runnable_steps(GUIDE.read_text(), {}))
    for stage in (
        "ostia certs create",
        "/etc/octavia/octavia.conf",
        "upgrade head",
        "octavia-api",
        "octavia-worker",
        "octavia-health-manager",
        "octavia-housekeeping",
        "loadbalancer create --name lb1",
        "loadbalancer listener create --name listener1",
    ):
        assert stage in commands, stage


def _failure(steps: list[Step], outputs: Path, scratch: str) -> str | None:
    """What went wrong, or None when every step ran and printed what the guide shows."""
    for number, step in enumerate(steps):
        rc_file = outputs / f"{number}.rc"
        if not rc_file.exists():
            return f"{step.describe()} did not run"
        out_file = outputs / f"{number}.out"
        output = out_file.read_text(errors="replace") if out_file.exists() else ""
        rc = rc_file.read_text().strip()
        if rc != "0":
            return f"{step.describe()} exited {rc}:\n{output}\n{_logs(scratch)}"
        missing = [line for line in step.expected if line not in output]
        if missing:
            return f"{step.describe()} did not print {missing}; it printed:\n{output}"
    return None


def _logs(scratch: str) -> str:
    logs = Path(scratch) / "var" / "log" / "octavia"
    return "\n".join(
        f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}" for log in sorted(logs.glob("*.log"))
    )


def _purge_amphorae(config: str) -> None:
    if not os.path.exists(config):
        return
    code = (
        "from ostia.cmd import runtime\n"
        "from ostia.controller.allinone import purge_amphorae\n"
        f"purge_amphorae(runtime.load([{config!r}], 'purge', check_drivers=False))\n"
    )
    subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, check=False)


def test_operator_guide_runs_as_written():
    with short_tempdir("ostia-guide-") as scratch:
        steps = runnable_steps(GUIDE.read_text(), substitutions(scratch))
        outputs = Path(scratch) / "steps"
        outputs.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env["HOME"] = scratch
        process = subprocess.Popen(
            ["bash", "-c", script(steps, outputs)],
            env=env,
            cwd=scratch,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            process.wait(timeout=RUN_TIMEOUT)
        finally:
            # The guide's background services share the script's process group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15)
            failure = _failure(steps, outputs, scratch)
            _purge_amphorae(f"{scratch}/etc/octavia/octavia.conf")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        assert failure is None, failure


def _guide_wait_active() -> str:
    (step,) = [s for s in runnable_steps(GUIDE.read_text(), {}) if s.command.startswith("wait_active() {")]
    return step.command


def _fake_tools(tmp_path: Path, statuses: list[str], reason: str) -> dict[str, str]:
    """`openstack` answering the next of `statuses` per call, `curl` answering the API."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (tmp_path / "statuses").write_text("\n".join(statuses) + "\n")
    (fake / "openstack").write_text(
        '#!/bin/sh\nhead -1 "$STATUSES"\n[ $(wc -l < "$STATUSES") -gt 1 ] && sed -i 1d "$STATUSES"\nexit 0\n'
    )
    body = json.dumps(
        {
            "loadbalancers": [
                {"name": "lb1", "provisioning_status": "ERROR", "provisioning_status_reason": reason}
            ]
        },
        separators=(",", ":"),
    )
    (fake / "curl").write_text(f"#!/bin/sh\necho '{body}'\n")
    for tool in ("openstack", "curl"):
        (fake / tool).chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{fake}:{os.environ['PATH']}",
        "STATUSES": str(tmp_path / "statuses"),
        "OS_ENDPOINT": "http://127.0.0.1:1",
    }


def test_the_guides_wait_loop_stops_on_error_and_prints_the_reason(tmp_path):
    reason = "listener 5f0e: haproxy refused the configuration"
    env = _fake_tools(tmp_path, ["PENDING_CREATE", "ERROR"], reason)
    started = time.monotonic()
    result = subprocess.run(
        ["bash", "-c", _guide_wait_active() + "\nwait_active lb1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1, result
    assert result.stdout.splitlines() == ["lb1 is in ERROR:", reason]
    assert time.monotonic() - started < 5  # one sleep, not the 60 s timeout


def test_the_guides_wait_loop_returns_once_active(tmp_path):
    env = _fake_tools(tmp_path, ["PENDING_UPDATE", "PENDING_UPDATE", "ACTIVE"], "")
    result = subprocess.run(
        ["bash", "-c", _guide_wait_active() + "\nwait_active lb1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (result.returncode, result.stdout) == (0, ""), result
