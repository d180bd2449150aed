"""The environment amphora processes start with: written out in full, never inherited.

An amphora runs tenant-influenced configuration: haproxy expands `"$NAME"` in its
configuration and reads any variable with the `env()` sample fetch, and a health check
script sees the whole environment. So the agent, haproxy (and keepalived) get only what is
listed here, and nothing of the environment of the controller that started them
(credentials, transport URLs, keys).
"""

from __future__ import annotations

import os
import site

# A fixed search path: the controller's own PATH may name private directories.
AMPHORA_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def amphora_environment(**extra: str) -> dict[str, str]:
    """The environment of a process inside an amphora: PATH, a UTF-8 C locale, `extra`."""
    return {"PATH": AMPHORA_PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", **extra}


def agent_environment() -> dict[str, str]:
    """The environment of an amphora agent started on this host (local amphorae).

    The agent runs this interpreter with this `ostia` package; unless the package sits in
    the interpreter's site directories, the directory holding it goes into PYTHONPATH (a
    path of the code, not of the controller's environment).
    """
    extra = {"PYTHONUNBUFFERED": "1"}
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if package_root not in _site_directories():
        extra["PYTHONPATH"] = package_root
    return amphora_environment(**extra)


def _site_directories() -> set[str]:
    return {os.path.abspath(p) for p in [*site.getsitepackages(), site.getusersitepackages()]}
