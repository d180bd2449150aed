"""An exclusive lock on a directory shared by threads and processes (flock on a file in it).

The compute and network drivers keep their records as files in a directory that several
workers (threads, or processes on one host) may change at once; choosing a free address or
port and writing its record happen under this lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator


@contextlib.contextmanager
def directory_lock(directory: str, name: str) -> Iterator[None]:
    """Hold an exclusive lock on `directory` (through its file `name`), creating the
    directory (0700) if it is missing."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    with open(os.path.join(directory, name), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
