"""The processes of the data-plane programs the agent runs (haproxy, nginx): telling
whether one runs, stopping them, and reading what a start logged. They are started with
ostia.common.detached_process, so that they outlive the agent.

Liveness reads /proc, never `kill -0`: a killed process whose parent is init stays a
zombie for a second or two, and a zombie answers `kill -0`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence

# Seconds a SIGKILLed process is given to go.
KILL_WAIT = 2.0
# How much of a log an error carries (its end).
LOG_TAIL_BYTES = 8000


def process_alive(pid: int, needle: str | None = None) -> bool:
    """True if `pid` runs and is not a zombie (and its command line contains `needle`)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(b")", 1)[-1].split()[0:1]
    if state in ([b"Z"], [b"X"]):
        return False
    if needle is None:
        return True
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return needle.encode() in handle.read()
    except (FileNotFoundError, ProcessLookupError):
        return False


def reap(child: subprocess.Popen[bytes] | None) -> None:
    """Collect a stopped child's exit status (a moment at most)."""
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=1.0)


def signal_quietly(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def wait_gone(pids: Sequence[int], timeout: float) -> bool:
    """Wait until none of `pids` runs (zombies count as gone); True if they all went."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(process_alive(pid) for pid in pids):
            return True
        time.sleep(0.01)
    return not any(process_alive(pid) for pid in pids)


def stop_processes(pids: Sequence[int], timeout: float, terminate: Sequence[int] | None = None) -> None:
    """SIGTERM `terminate` (default: all of `pids`; a master alone stops its workers
    itself), wait up to `timeout` for every one of `pids` to go, then SIGKILL what is left."""
    if not pids:
        return
    for pid in pids if terminate is None else terminate:
        signal_quietly(pid, signal.SIGTERM)
    if not wait_gone(pids, timeout):
        for pid in pids:
            signal_quietly(pid, signal.SIGKILL)
        wait_gone(pids, KILL_WAIT)


def log_size(path: str) -> int:
    """Where what is logged next starts (0 for no log yet)."""
    return os.path.getsize(path) if os.path.exists(path) else 0


def log_since(path: str, offset: int) -> str:
    """The end of what was logged after `offset`, for an error's details."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read()[-LOG_TAIL_BYTES:].decode(errors="replace").strip()
    except OSError:
        return ""
