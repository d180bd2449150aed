"""Pid files, as daemons (and the drivers) write them: a number and a newline."""

from __future__ import annotations


def read_pid(path: str) -> int | None:
    """The pid in `path`; None when the file is missing or holds no number."""
    try:
        with open(path) as handle:
            text = handle.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
