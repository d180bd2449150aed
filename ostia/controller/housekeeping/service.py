"""The housekeeper: DB cleanup, certificate rotation and the spares pool, each on its own
interval, in one thread. A failing job is logged and tried again at its next turn."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from oslo_config import cfg

from ostia.controller.housekeeping import cert_rotation, cleanup, spares_pool
from ostia.controller.service import Service
from ostia.controller.worker.drivers import WorkerDrivers
from ostia.db.session import Database

LOG = logging.getLogger(__name__)


class HousekeepingService(Service):
    name = "octavia-housekeeping"

    def __init__(self, conf: cfg.ConfigOpts, db: Database, drivers: WorkerDrivers | None = None) -> None:
        super().__init__()
        self.conf = conf
        self.db = db
        self._drivers = drivers

    @property
    def drivers(self) -> WorkerDrivers:
        if self._drivers is None:
            self._drivers = WorkerDrivers.from_config(self.conf)
        return self._drivers

    def jobs(self) -> list[tuple[str, Callable[[], float], Callable[[], object]]]:
        """(name, interval in seconds, job) for each periodic job."""
        hk = self.conf.house_keeping
        return [
            ("cleanup", lambda: hk.cleanup_interval, lambda: cleanup.run_cleanup(self.db, self.conf)),
            (
                "certificate rotation",
                lambda: hk.cert_interval,
                lambda: cert_rotation.run_rotation(self.db, self.conf, self.drivers),
            ),
            (
                "spares pool",
                lambda: hk.spare_check_interval,
                lambda: spares_pool.fill_pool(self.db, self.conf, self.drivers, self.stopping),
            ),
        ]

    def run(self) -> None:
        jobs = self.jobs()
        due = {name: time.monotonic() for name, _, _ in jobs}
        while not self.stopping.is_set():
            for name, interval, job in jobs:
                if self.stopping.is_set():
                    return
                if time.monotonic() < due[name]:
                    continue
                try:
                    job()
                except Exception:
                    LOG.exception("housekeeping job %s failed; retrying next interval", name)
                due[name] = time.monotonic() + max(0.1, float(interval()))
            next_due = min(due.values()) - time.monotonic()
            self.wait(max(0.05, min(next_due, 1.0)))
