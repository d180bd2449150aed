"""Load balancer configuration files on the amphora: stage, check, keep, read, list, remove."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil

from ostia.amphora import haproxy_runtime
from ostia.amphora.haproxy_process import HaproxyConfigError, HaproxyController
from ostia.amphora.paths import AgentPaths

INTERNAL_PREFIX = "prometheus-exporter"


@dataclasses.dataclass(frozen=True)
class ListenerEntry:
    listener_id: str
    mode: str


def parse_listeners(config: str) -> list[ListenerEntry]:
    """Frontends of a configuration with their mode (`defaults` mode, else tcp)."""
    default_mode = "tcp"
    entries: list[tuple[str, str | None]] = []
    section: str | None = None
    for raw in config.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if not raw[:1].isspace():
            section = words[0]
            if section in ("frontend", "listen") and len(words) > 1:
                if not words[1].startswith(INTERNAL_PREFIX):
                    entries.append((words[1], None))
                else:
                    section = None
            continue
        if words[0] == "mode" and len(words) > 1:
            if section == "defaults":
                default_mode = words[1]
            elif section in ("frontend", "listen") and entries:
                entries[-1] = (entries[-1][0], words[1])
    return [ListenerEntry(name, mode or default_mode) for name, mode in entries]


class ConfigStore:
    def __init__(self, paths: AgentPaths, haproxy: HaproxyController) -> None:
        self.paths = paths
        self.haproxy = haproxy
        # lb_id -> ((inode, mtime, size) of its configuration, the listeners parsed from it)
        self._parsed: dict[str, tuple[tuple[int, int, int], list[ListenerEntry]]] = {}
        # lb_id -> (version of its running configuration, backend -> server names in it)
        self._running_servers: dict[str, tuple[tuple[int, int, int], dict[str, frozenset[str]]]] = {}

    def install(self, lb_id: str, config: bytes) -> str:
        """Check `config` with haproxy and make it the load balancer's configuration.

        Returns the md5 of the body. A configuration that fails the check is kept as
        `haproxy.cfg.new-failed`, the previous one stays in place, and HaproxyConfigError
        carries haproxy's output.
        """
        os.makedirs(self.paths.lb_dir(lb_id), mode=0o755, exist_ok=True)
        staged = self.paths.staged_config(lb_id)
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(config)
        if self.haproxy.changes_only_members(lb_id, config):
            # No `haproxy -c` (tens of ms of a new process): the reload that follows sends
            # these server lines to haproxy's own parser (`add server`), and anything it
            # refuses goes through the check and a full reload (HaproxyController.reload).
            os.replace(staged, self.paths.config(lb_id))
            return hashlib.md5(config).hexdigest()
        passed, output = self.haproxy.check_config(staged)
        if not passed:
            os.replace(staged, self.paths.failed_config(lb_id))
            raise HaproxyConfigError("Invalid request", output)
        os.replace(staged, self.paths.config(lb_id))
        self.haproxy.mark_checked(lb_id)
        return hashlib.md5(config).hexdigest()

    def keep_running(self, lb_id: str) -> None:
        """haproxy now runs the configuration in place: remember it as the one to go back to."""
        running = self.paths.running_config(lb_id)
        shutil.copyfile(self.paths.config(lb_id), running + ".tmp")
        os.replace(running + ".tmp", running)

    def restore_running(self, lb_id: str) -> bool:
        """haproxy could not run the configuration in place: put back the last one it ran.

        The refused one is kept as `haproxy.cfg.new-failed`. Without it on disk, a restart
        of haproxy (supervisor, reboot) would try the refused configuration again and stop
        serving the listeners that worked; and the worker, reading back the configuration,
        would take the refused one for applied. Returns False when haproxy never ran one
        (the configuration is then removed: nothing runs for this load balancer).
        """
        config = self.paths.config(lb_id)
        if os.path.exists(config):
            os.replace(config, self.paths.failed_config(lb_id))
        running = self.paths.running_config(lb_id)
        if not os.path.exists(running):
            return False
        shutil.copyfile(running, config + ".tmp")
        os.replace(config + ".tmp", config)
        return True

    def read(self, lb_id: str) -> bytes | None:
        try:
            with open(self.paths.config(lb_id), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def exists(self, lb_id: str) -> bool:
        return os.path.isfile(self.paths.config(lb_id))

    def listeners(self, lb_id: str) -> list[ListenerEntry]:
        # Asked at every heartbeat: parsed again only when the file changed.
        try:
            stat = os.stat(self.paths.config(lb_id))
        except FileNotFoundError:
            return []
        version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        cached = self._parsed.get(lb_id)
        if cached is not None and cached[0] == version:
            return list(cached[1])
        config = self.read(lb_id)
        entries = parse_listeners(config.decode(errors="replace")) if config else []
        self._parsed[lb_id] = (version, entries)
        return list(entries)

    def running_servers(self, lb_id: str) -> dict[str, frozenset[str]] | None:
        """backend -> server names of the configuration haproxy runs (None before it ran one).
        Asked at every heartbeat: parsed again only when the file changed."""
        try:
            stat = os.stat(self.paths.running_config(lb_id))
        except FileNotFoundError:
            return None
        version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        cached = self._running_servers.get(lb_id)
        if cached is not None and cached[0] == version:
            return cached[1]
        try:
            with open(self.paths.running_config(lb_id), errors="replace") as handle:
                servers = haproxy_runtime.server_names(handle.read())
        except FileNotFoundError:
            return None
        self._running_servers[lb_id] = (version, servers)
        return servers

    def all_listeners(self) -> dict[str, list[ListenerEntry]]:
        return {lb_id: self.listeners(lb_id) for lb_id in self.paths.lb_ids()}

    def remove(self, lb_id: str) -> None:
        """Delete the load balancer's directory, stats socket and certificates."""
        self.haproxy.forget(lb_id)
        self._parsed.pop(lb_id, None)
        self._running_servers.pop(lb_id, None)
        shutil.rmtree(self.paths.lb_dir(lb_id), ignore_errors=True)
        shutil.rmtree(self.paths.cert_dir(lb_id), ignore_errors=True)
        try:
            os.unlink(self.paths.stats_socket(lb_id))
        except FileNotFoundError:
            pass
