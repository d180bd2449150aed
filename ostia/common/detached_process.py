"""Start a long-lived program detached from the process that starts it.

The agent's data-plane programs (haproxy, nginx) and the local compute drivers' agents must
outlive whoever started them: each runs in a session of its own (a signal to the starter's
process group does not reach it) with its output appended to a log file. The starter reaps
it as soon as it exits, so that no zombie of its own lingers while it runs.
"""

from __future__ import annotations

import subprocess
import threading


def start_detached(
    argv: list[str], log_path: str, cwd: str, env: dict[str, str], reaper_name: str | None = None
) -> subprocess.Popen[bytes]:
    """Start `argv` in `cwd` with exactly the environment `env`, stdin empty, stdout and
    stderr appended to `log_path`; a daemon thread (`reaper_name`) waits for its exit."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            close_fds=True,
            start_new_session=True,
        )
    name = reaper_name or f"reap-{proc.pid}"
    threading.Thread(target=proc.wait, name=name, daemon=True).start()
    return proc
