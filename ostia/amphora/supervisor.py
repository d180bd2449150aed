"""Start again any haproxy that died without being asked to stop (upstream: systemd's
`Restart=always` on each haproxy unit).

A load balancer is supervised while its configuration exists and no `stop` action left the
`stopped` marker. That covers haproxies that crashed, and ones that died while the agent
itself was down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ostia.amphora.haproxy_configs import ConfigStore
from ostia.amphora.haproxy_process import HaproxyController, HaproxyError, process_alive

LOG = logging.getLogger(__name__)


class HaproxySupervisor:
    def __init__(
        self,
        haproxy: HaproxyController,
        configs: ConfigStore,
        lock_for: Callable[[str], threading.Lock],
        interval: float = 1.0,
        retry_after: float = 5.0,
    ) -> None:
        self.haproxy = haproxy
        self.configs = configs
        self.lock_for = lock_for
        self.interval = interval
        self.retry_after = retry_after
        self._failed_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="haproxy-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check_once()
            except Exception:  # the supervisor must outlive any single failure
                LOG.exception("haproxy supervision failed")

    def _master_alive(self, lb_id: str) -> bool:
        """The master of the pid file runs (not a zombie) with this LB's configuration.

        Read from /proc, without asking the master CLI: every second for every load
        balancer, a socket round trip would wake each idle haproxy master and its agent
        (hundreds of them on a host of local amphorae). Only a negative answer is
        confirmed through the CLI.
        """
        try:
            with open(self.haproxy.paths.pid_file(lb_id)) as handle:
                text = handle.read().strip()
        except OSError:
            return False
        return text.isdigit() and process_alive(int(text), self.haproxy.paths.config(lb_id))

    def check_once(self) -> list[str]:
        """Start every supervised haproxy that is not running; returns the ones started."""
        started = []
        for lb_id in self.configs.paths.lb_ids():
            failed_at = self._failed_at.get(lb_id)
            if failed_at is not None and time.monotonic() - failed_at < self.retry_after:
                continue
            if (
                self.haproxy.stopped_on_purpose(lb_id)
                or self._master_alive(lb_id)
                or self.haproxy.is_running(lb_id)
            ):
                continue
            with self.lock_for(lb_id):
                if (
                    not self.configs.exists(lb_id)
                    or self.haproxy.stopped_on_purpose(lb_id)
                    or self.haproxy.is_running(lb_id)
                ):
                    continue
                LOG.warning("haproxy of load balancer %s is not running; starting it", lb_id)
                try:
                    self.haproxy.start(lb_id)
                except HaproxyError as exc:
                    self._failed_at[lb_id] = time.monotonic()
                    LOG.error("cannot start haproxy of %s: %s", lb_id, exc)
                    continue
                self.configs.keep_running(lb_id)
            self._failed_at.pop(lb_id, None)
            started.append(lb_id)
        return started
