"""Which `ostia up` a command means when it is not told: the running one, found by a registry.

`ostia up` registers its state directory while it runs (one file per process, named by
its pid, holding the directory). `ostia certs ...`, `status` and `down` without
`--state-dir` then use, in order: `$OSTIA_HOME`, the one running instance of this user,
the default directory. Two running instances and no choice made is one line asking for
`--state-dir`, never a silent pick. The registry lives in `$XDG_RUNTIME_DIR/ostia` when
that is set, else in `/run/ostia` (root) or `/tmp/ostia-<uid>` (a private directory).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from ostia.cmd import runtime

PID_NAME = "ostia.pid"


def default_state_dir() -> Path:
    home = os.environ.get("OSTIA_HOME")
    if home:
        return Path(home)
    return Path.home() / ".local" / "share" / "ostia"


def registry_dir() -> Path:
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if runtime_dir:
        return Path(runtime_dir) / "ostia" / "instances"
    root = Path("/run/ostia") if os.geteuid() == 0 else Path(f"/tmp/ostia-{os.geteuid()}")
    return root / "instances"


def register(state: Path) -> Path | None:
    """Record that this process serves `state`; None if the registry is not writable."""
    directory = registry_dir()
    try:
        directory.mkdir(parents=True, mode=0o700, exist_ok=True)
        info = os.lstat(directory.parent)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            return None  # someone else's directory: do not write into it
        entry = directory / str(os.getpid())
        entry.write_text(str(state.resolve()), encoding="utf-8")
    except OSError:
        return None
    return entry


def unregister(entry: Path | None) -> None:
    if entry is not None:
        with contextlib.suppress(OSError):
            entry.unlink()


def running_state_dirs() -> list[Path]:
    """State directories of this user's running `ostia up` processes, oldest pid first."""
    directory = registry_dir()
    try:
        entries = sorted(directory.iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else 0)
    except OSError:
        return []
    found = []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            state = Path(entry.read_text(encoding="utf-8").strip())
            serving = (state / PID_NAME).read_text(encoding="utf-8").strip()
        except OSError:
            serving = ""
            state = Path()
        # The pid file inside the state directory must name the same live process: a
        # stale entry (killed with SIGKILL, pid reused) is removed.
        if serving == entry.name and _alive(int(entry.name)):
            found.append(state)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def chosen_state_dir(given: str | None) -> Path:
    """`--state-dir`, else $OSTIA_HOME, else the one running instance, else the default."""
    if given:
        return Path(given)
    if os.environ.get("OSTIA_HOME"):
        return default_state_dir()
    running = running_state_dirs()
    if len(running) == 1:
        return running[0]
    if len(running) > 1:
        runtime.fail(
            f"{len(running)} Ostia instances are running "
            f"({', '.join(str(p) for p in running)}); name one with --state-dir"
        )
    return default_state_dir()
