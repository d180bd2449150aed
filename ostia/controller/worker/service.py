"""The controller worker service (the reconciler lands here with the worker issue)."""

from __future__ import annotations

import logging

from oslo_config import cfg

from ostia.controller.service import Service
from ostia.db.session import Database

LOG = logging.getLogger(__name__)


class WorkerService(Service):
    name = "octavia-worker"

    def __init__(self, conf: cfg.ConfigOpts, db: Database) -> None:
        super().__init__()
        self.conf = conf
        self.db = db

    def wake(self, lb_id: str) -> None:
        """In-process wake-up from the API: reconcile `lb_id` soon."""
        LOG.debug("wake-up for load balancer %s", lb_id)

    def run(self) -> None:
        while not self.wait(self.conf.reconciler.sweep_interval):
            pass
