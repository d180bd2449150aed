"""The health manager service (heartbeat receiver and stale detector land here)."""

from __future__ import annotations

from oslo_config import cfg

from ostia.controller.service import Service
from ostia.db.session import Database


class HealthManagerService(Service):
    name = "octavia-health-manager"

    def __init__(self, conf: cfg.ConfigOpts, db: Database) -> None:
        super().__init__()
        self.conf = conf
        self.db = db

    def run(self) -> None:
        while not self.wait(self.conf.health_manager.health_check_interval):
            pass
