"""The housekeeping service (DB cleanup, certificate rotation, spares land here)."""

from __future__ import annotations

from oslo_config import cfg

from ostia.controller.service import Service
from ostia.db.session import Database


class HousekeepingService(Service):
    name = "octavia-housekeeping"

    def __init__(self, conf: cfg.ConfigOpts, db: Database) -> None:
        super().__init__()
        self.conf = conf
        self.db = db

    def run(self) -> None:
        while not self.wait(self.conf.house_keeping.cleanup_interval):
            pass
