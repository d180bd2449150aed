"""A controller service: something that runs until told to stop, in a thread or alone."""

from __future__ import annotations

import abc
import logging
import threading

from oslo_config import cfg

LOG = logging.getLogger(__name__)


class ServiceStartError(RuntimeError):
    """A service cannot start (a port it needs is taken); the message is for an operator."""


def require_heartbeat_key(conf: cfg.ConfigOpts) -> None:
    """Workers hand the key to amphorae, health managers check it: neither runs without."""
    if not (conf.health_manager.heartbeat_key or "").strip():
        raise ServiceStartError(
            "[health_manager] heartbeat_key is empty: amphorae sign their heartbeats with "
            "it; set the same random value on every controller (e.g. `openssl rand -hex 16`)"
        )


class Service(abc.ABC):
    """A long-running controller component (worker, health manager, housekeeper)."""

    name = "service"

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @abc.abstractmethod
    def run(self) -> None:
        """Work until `self.stopping` is set; must return promptly after it is."""

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run_logged, name=self.name, daemon=True)
        self._thread.start()

    def _run_logged(self) -> None:
        try:
            self.run()
        except Exception:
            LOG.exception("%s stopped on an unexpected error", self.name)

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True if the service was asked to stop meanwhile."""
        return self.stopping.wait(seconds)
