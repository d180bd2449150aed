"""Wait for a process to exit without polling: a pidfd (Linux 5.3+) becomes readable when
the process ends, whether or not it is the caller's child and before anyone reaps it."""

from __future__ import annotations

import os
import select


def wait_for_exit(pid: int, timeout: float | None = None) -> bool:
    """True once `pid` has ended (a zombie has ended), False if `timeout` s passed first."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(None if timeout is None else max(0, int(timeout * 1000))))
    finally:
        os.close(fd)
