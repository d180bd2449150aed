"""Find and stop the host processes that belong to a local amphora, by reading /proc.

A local amphora is an agent process plus the haproxy masters and workers the agent
started in their own sessions, so neither a process group nor a parent link ties them
together once the agent is gone. What they all share is their files: each one's command
line (`--config-file <dir>/...`, `-f <dir>/.../haproxy.cfg`) or working directory points
into the amphora's directory. That survives restarts of the controller and of the agent.

Liveness reads the process state, never `kill -0`: a killed process whose parent is init
stays a zombie for one or two seconds on this kind of host, and a zombie answers `kill -0`.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable


def process_state(pid: int) -> str | None:
    """The one-letter state of `pid` from /proc/<pid>/stat ("R", "S", "Z"...), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name in parentheses may itself contain spaces or ')'.
    fields = stat.rsplit(b")", 1)[-1].split()
    return fields[0].decode() if fields else None


def is_running(pid: int) -> bool:
    """True if `pid` exists and is neither a zombie nor dead."""
    return process_state(pid) not in (None, "Z", "X", "x")


def command_line(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            raw = handle.read()
    except OSError:
        return []
    return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]


def _working_directory(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


def belongs_to(pid: int, directory: str) -> bool:
    """True if `pid` runs with an argument or working directory inside `directory`."""
    prefix = directory.rstrip("/") + "/"
    if any(prefix in arg for arg in command_line(pid)):
        return True
    cwd = _working_directory(pid)
    return cwd is not None and (cwd + "/").startswith(prefix)


def processes_in(directory: str) -> list[int]:
    """Live processes (not zombies) whose command line or cwd points into `directory`."""
    own = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == own:
            continue
        pid = int(entry)
        if belongs_to(pid, directory) and is_running(pid):
            found.append(pid)
    return sorted(found)


def signal_quietly(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def wait_gone(pids: Iterable[int], timeout: float) -> bool:
    """Wait until none of `pids` runs (zombies count as gone); True if they all went."""
    remaining = set(pids)
    deadline = time.monotonic() + timeout
    while True:
        remaining = {pid for pid in remaining if is_running(pid)}
        if not remaining or time.monotonic() >= deadline:
            return not remaining
        time.sleep(0.01)


def stop_processes(pids: Iterable[int], timeout: float) -> bool:
    """SIGTERM `pids`, then SIGKILL whatever still runs after `timeout`; True if all ended."""
    targets = [pid for pid in pids if is_running(pid)]
    for pid in targets:
        signal_quietly(pid, signal.SIGTERM)
    if wait_gone(targets, timeout):
        return True
    for pid in targets:
        if is_running(pid):
            signal_quietly(pid, signal.SIGKILL)
    return wait_gone(targets, 2.0)
