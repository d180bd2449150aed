"""Removed servers haproxy does not let go of yet, deleted in the background.

haproxy 2.6 refuses `del server` while the server has a connection, an idle one in its reuse
pool included; it closes pooled connections only at its `pool-purge-delay` rounds (5 s by
default; one pooled connection survives two or three rounds, up to 15 s measured). Rather
than reload for that, the agent leaves such a server in maintenance (no new request goes to
it), answers the change as applied (the file on disk no longer has the server, so a restart
or reload runs the same servers without it), and this module retries `del server` until
haproxy takes it or no longer runs it.

The rule every retry checks first: a server that the configuration haproxy runs
(`haproxy.cfg.running`) names again is no longer this module's to delete. Heartbeats leave
out every server that configuration does not name (Agent.collect_stats), so a lingering one
is never reported.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable

from ostia.amphora import haproxy_runtime
from ostia.amphora.haproxy_runtime import Server
from ostia.amphora.haproxy_socket import HaproxySocketError, send_command
from ostia.amphora.paths import AgentPaths

LOG = logging.getLogger(__name__)

# Retries every second while a pool purge may come any moment, then every ten (a long
# request, a WebSocket, keeps its server for as long as it lasts).
RETRY_INTERVAL = 1.0
SLOW_RETRY_AFTER = 30.0
SLOW_RETRY_INTERVAL = 10.0


@dataclasses.dataclass
class _Lingering:
    server: Server
    since: float
    due: float


class LingeringServers:
    """Per load balancer, the servers left in maintenance and their background deletion.

    `lb_lock` is the agent's per-load-balancer lock: a retry holds it, so that it never
    interleaves with a configuration change of the same load balancer.
    """

    def __init__(
        self,
        paths: AgentPaths,
        lb_lock: Callable[[str], threading.Lock] | None = None,
        retry_interval: float = RETRY_INTERVAL,
    ) -> None:
        self.paths = paths
        self._lb_lock = lb_lock or self._own_lock
        self.retry_interval = retry_interval
        self._own_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._entries: dict[str, dict[str, _Lingering]] = {}
        self._wake = threading.Event()
        # Runs only while something lingers: an agent at rest has no thread waking up here.
        self._thread: threading.Thread | None = None

    def servers(self, lb_id: str) -> dict[str, Server]:
        """`backend/name` -> server, of the servers lingering in `lb_id`'s haproxy."""
        with self._guard:
            return {target: entry.server for target, entry in self._entries.get(lb_id, {}).items()}

    def settle(self, lb_id: str, left: dict[str, Server], wanted: str) -> None:
        """After a runtime change to `wanted`: `left` now linger as well; any lingering
        server `wanted` names again was put back in service and is no longer one."""
        named = haproxy_runtime.server_names(wanted)
        now = time.monotonic()
        with self._guard:
            entries = self._entries.setdefault(lb_id, {})
            for target in list(entries):
                backend, _, name = target.partition("/")
                if name in named.get(backend, ()):
                    del entries[target]
            for target, server in left.items():
                entries[target] = _Lingering(server, now, now + self.retry_interval)
            if not entries:
                del self._entries[lb_id]
            elif self._thread is None:
                self._thread = threading.Thread(target=self._run, name="haproxy-lingering", daemon=True)
                self._thread.start()
        self._wake.set()

    def forget(self, lb_id: str) -> None:
        """haproxy was restarted, reloaded or stopped: none of its servers lingers any more."""
        with self._guard:
            self._entries.pop(lb_id, None)

    # -- background deletion -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._guard:
                due = [
                    (lb_id, target, entry)
                    for lb_id, entries in self._entries.items()
                    for target, entry in entries.items()
                ]
                if not due:
                    self._thread = None
                    return
            now = time.monotonic()
            wait = min(entry.due for _, _, entry in due) - now
            if wait > 0:
                self._wake.wait(wait)
                self._wake.clear()
                continue
            for lb_id, target, entry in due:
                if entry.due <= now:
                    try:
                        self._retry(lb_id, target)
                    except Exception:  # the thread must outlive any one load balancer's trouble
                        LOG.exception("deleting lingering server %s of %s failed", target, lb_id)
                        self._drop(lb_id, target)

    def _retry(self, lb_id: str, target: str) -> None:
        with self._lb_lock(lb_id):
            with self._guard:
                entry = self._entries.get(lb_id, {}).get(target)
            if entry is None:
                return
            if self._named_in_running_config(lb_id, target):
                # A reload or restart runs it again as a configured server.
                self._drop(lb_id, target)
                return
            try:
                answer = send_command(self.paths.stats_socket(lb_id), f"del server {target}").strip()
            except HaproxySocketError as exc:
                LOG.info("haproxy of %s does not answer (%s); %s no longer lingers", lb_id, exc, target)
                self._drop(lb_id, target)
                return
            age = time.monotonic() - entry.since
            if haproxy_runtime.STILL_CONNECTED in answer:
                interval = self.retry_interval if age < SLOW_RETRY_AFTER else SLOW_RETRY_INTERVAL
                entry.due = time.monotonic() + interval
                return
            if answer == "Server deleted.":
                LOG.info("haproxy of %s: lingering server %s deleted after %.1f s", lb_id, target, age)
            else:
                # "No such server." after a reload or restart, mostly.
                LOG.info("haproxy of %s: lingering server %s gone (%s)", lb_id, target, answer)
            self._drop(lb_id, target)

    def _named_in_running_config(self, lb_id: str, target: str) -> bool:
        try:
            with open(self.paths.running_config(lb_id)) as handle:
                named = haproxy_runtime.server_names(handle.read())
        except OSError:
            return False
        backend, _, name = target.partition("/")
        return name in named.get(backend, ())

    def _drop(self, lb_id: str, target: str) -> None:
        with self._guard:
            entries = self._entries.get(lb_id)
            if entries is not None:
                entries.pop(target, None)
                if not entries:
                    del self._entries[lb_id]

    def _own_lock(self, lb_id: str) -> threading.Lock:
        with self._guard:
            return self._own_locks.setdefault(lb_id, threading.Lock())
