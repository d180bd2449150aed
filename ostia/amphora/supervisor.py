"""Start again any haproxy that died without being asked to stop (upstream: systemd's
`Restart=always` on each haproxy unit).

A load balancer is supervised while its configuration exists and no `stop` action left the
`stopped` marker. That covers haproxies that crashed, and ones that died while the agent
itself was down.

The supervisor sleeps until something happens: it holds a pidfd (Linux 5.3+) on every
running master, which becomes readable the moment that master ends, whether or not it is
the agent's child (a new agent takes over the masters of the previous one). The agent
wakes it after every start, reload and stop, so that it watches the master now running.
A host of a thousand idle amphorae then spends no CPU on supervision; only a failed start
is retried on a timer. Without pidfds it falls back to looking every `interval` seconds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
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
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        # lb_id -> (master pid, pidfd on it)
        self._watched: dict[str, tuple[int, int]] = {}
        self.pidfds = hasattr(os, "pidfd_open")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="haproxy-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wake(self) -> None:
        """Look again now: a master was started, reloaded or stopped."""
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_write, b"x")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check_once()
                self._watch()
            except Exception:  # the supervisor must outlive any single failure
                LOG.exception("haproxy supervision failed")
            self._sleep(self._timeout())
        for _, fd in self._watched.values():
            os.close(fd)
        self._watched.clear()

    def _timeout(self) -> float | None:
        """Seconds until the next look: only a failed start is retried on a timer."""
        if not self.pidfds:
            return self.interval
        if not self._failed_at:
            return None
        due = min(self._failed_at.values()) + self.retry_after - time.monotonic()
        return max(due, 0.0)

    def _sleep(self, timeout: float | None) -> None:
        """Until a watched master ends, someone calls wake(), or `timeout` s pass."""
        poller = select.poll()
        poller.register(self._wake_read, select.POLLIN)
        for _, fd in self._watched.values():
            poller.register(fd, select.POLLIN)
        events = poller.poll(None if timeout is None else int(timeout * 1000) + 1)
        if any(fd == self._wake_read for fd, _ in events):
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_read, 4096)

    def _watch(self) -> None:
        """Hold a pidfd on the running master of every load balancer, and on nothing else."""
        if not self.pidfds:
            return
        wanted = {}
        for lb_id in self.configs.paths.lb_ids():
            pid = self._running_master(lb_id)
            if pid is not None:
                wanted[lb_id] = pid
        for lb_id, (pid, fd) in list(self._watched.items()):
            if wanted.get(lb_id) != pid:
                os.close(fd)
                del self._watched[lb_id]
        for lb_id, pid in wanted.items():
            if lb_id in self._watched:
                continue
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:
                self.wake()  # ended in between: look again at once
                continue
            except OSError as exc:  # no pidfds on this kernel: look on a timer
                LOG.warning("no pidfd for haproxy %s (%s); supervising every %s s", pid, exc, self.interval)
                self.pidfds = False
                return
            self._watched[lb_id] = (pid, fd)

    def _running_master(self, lb_id: str) -> int | None:
        """The pid of the running master of `lb_id`: its pid file's, or the master CLI's
        answer when the pid file is stale."""
        pid = self._pid_file_master(lb_id)
        if pid is not None:
            return pid
        if self.haproxy.stopped_on_purpose(lb_id):
            return None
        status = self.haproxy.master_status(lb_id, wait=0)
        return status.master_pid if status is not None else None

    def _pid_file_master(self, lb_id: str) -> int | None:
        try:
            with open(self.haproxy.paths.pid_file(lb_id)) as handle:
                text = handle.read().strip()
        except OSError:
            return None
        if text.isdigit() and process_alive(int(text), self.haproxy.paths.config(lb_id)):
            return int(text)
        return None

    def _master_alive(self, lb_id: str) -> bool:
        """The master of the pid file runs (not a zombie) with this LB's configuration.

        Read from /proc, without asking the master CLI, which would wake the master. Only a
        negative answer is confirmed through the CLI.
        """
        return self._pid_file_master(lb_id) is not None

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
                self._failed_at.pop(lb_id, None)
                continue
            with self.lock_for(lb_id):
                if (
                    not self.configs.exists(lb_id)
                    or self.haproxy.stopped_on_purpose(lb_id)
                    or self.haproxy.is_running(lb_id)
                ):
                    self._failed_at.pop(lb_id, None)
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
        for gone in set(self._failed_at) - set(self.configs.paths.lb_ids()):
            del self._failed_at[gone]
        return started
