"""Short paths for a local amphora's haproxy sockets when its directory is too deep for them.

haproxy refuses unix socket paths longer than 97 characters, and the longest one a local
amphora uses is `<amphora_dir>/<compute_id>/lb/<lb uuid>.sock`: `amphora_dir` may be at
most 39 characters, which a non-root user's `~/.local/share/ostia/amphorae` already
exceeds. The amphora's files stay where they are; only the path the agent and the
renderer use for `[haproxy_amphora] base_path` goes through a symlink
`<short root>/<compute_id>` -> `<amphora_dir>/<compute_id>/lb`, where the short root is
`/run/ostia` for root and `/tmp/ostia-<uid>` for anyone else (a private directory: mode
0700, owned by the user, never a symlink). Linux checks the path length on the string
bound, not on the resolved path, so the sockets fit whatever `amphora_dir` is.
"""

from __future__ import annotations

import contextlib
import os
import stat

from ostia.common.constants import HAPROXY_MAX_BASE_PATH

COMPUTE_ID_LENGTH = 12


class SocketPathError(Exception):
    """No usable place for an amphora's sockets; the message is one line for an operator."""


def default_short_root() -> str:
    return "/run/ostia" if os.geteuid() == 0 else f"/tmp/ostia-{os.geteuid()}"


class SocketPaths:
    """Where the agent of each amphora under `amphora_dir` keeps haproxy's sockets."""

    def __init__(self, amphora_dir: str, short_root: str | None = None) -> None:
        self.amphora_dir = amphora_dir
        deep = len(os.path.join(amphora_dir, "0" * COMPUTE_ID_LENGTH, "lb")) > HAPROXY_MAX_BASE_PATH
        self.short_root = (short_root or default_short_root()) if deep else None

    def check(self) -> None:
        """Make sure sockets will fit (creating the short root if needed), else raise."""
        if self.short_root is None:
            return
        if len(self._link(self.short_root, "0" * COMPUTE_ID_LENGTH)) > HAPROXY_MAX_BASE_PATH:
            raise SocketPathError(
                f"[local_compute] amphora_dir {self.amphora_dir!r} is too long for haproxy's "
                f"unix sockets and so is the short directory {self.short_root!r}"
            )
        _private_directory(self.short_root)

    def base_path(self, real_base_path: str, compute_id: str) -> str:
        """The base_path the agent is given: the real one, or a short link to it."""
        if self.short_root is None:
            return real_base_path
        return self._link(self.short_root, compute_id)

    def link(self, real_base_path: str, compute_id: str) -> None:
        """Create the short link for a new amphora (nothing when none is needed)."""
        if self.short_root is None:
            return
        self.check()
        link = self._link(self.short_root, compute_id)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(link)
        os.symlink(real_base_path, link)

    def unlink(self, compute_id: str) -> None:
        if self.short_root is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._link(self.short_root, compute_id))

    @staticmethod
    def _link(root: str, compute_id: str) -> str:
        return os.path.join(root, compute_id)


def _private_directory(path: str) -> None:
    """`path` as a directory only this user can enter (another user may not pre-create it)."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.lstat(path)
    except OSError as err:
        raise SocketPathError(f"cannot create {path} for haproxy's unix sockets: {err.strerror}") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise SocketPathError(f"{path} (for haproxy's unix sockets) is not a directory owned by this user")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)
