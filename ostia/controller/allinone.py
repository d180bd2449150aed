"""The four controller services together in one process, as `ostia up` runs them."""

from __future__ import annotations

import logging
from collections.abc import Callable

from oslo_config import cfg

from ostia.controller.health.service import HealthManagerService
from ostia.controller.housekeeping.service import HousekeepingService
from ostia.controller.service import Service
from ostia.controller.worker.service import WorkerService
from ostia.db.session import Database
from ostia.drivers.loader import load_driver

LOG = logging.getLogger(__name__)


class AllInOne:
    """Worker, health manager and housekeeper threads; the API runs beside them."""

    def __init__(self, conf: cfg.ConfigOpts, db: Database) -> None:
        self.worker = WorkerService(conf, db)
        self.services: list[Service] = [
            # First: its port may be taken (ServiceStartError), and then nothing else starts.
            # Failovers go to this worker in-process; all share one set of drivers.
            HealthManagerService(conf, db, drivers=self.worker.drivers, wake=self.worker.wake),
            self.worker,
            HousekeepingService(conf, db, self.worker.drivers),
        ]

    def wake(self, lb_id: str) -> None:
        """The API's in-process wake-up: no message broker between API and worker."""
        self.worker.wake(lb_id)

    def start(self) -> None:
        for service in self.services:
            service.start()

    def stop(self, timeout: float = 4.0) -> None:
        for service in self.services:
            service.stopping.set()
        for service in self.services:
            service.stop(timeout / len(self.services))


def purge_amphorae(conf: cfg.ConfigOpts, progress: Callable[[int, int, str], None] | None = None) -> int:
    """Delete every amphora the configured compute driver started; return how many."""
    compute = load_driver("octavia.compute.drivers", conf.controller_worker.compute_driver, conf)
    instances = compute.list_instances()
    for done, instance in enumerate(instances, start=1):
        compute.delete(instance.compute_id)
        if progress is not None:
            progress(done, len(instances), instance.compute_id)
    return len(instances)
