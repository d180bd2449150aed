"""Keeping `spare_amphora_pool_size` started, unassigned amphorae ready for new LBs."""

from __future__ import annotations

import logging
import threading

from oslo_config import cfg

from ostia.common import constants as c
from ostia.controller.worker import amphorae, spares
from ostia.controller.worker.drivers import WorkerDrivers
from ostia.controller.worker.graph import AmphoraState
from ostia.db import models
from ostia.db.session import Database

LOG = logging.getLogger(__name__)


def _drop_dead_spares(db: Database, drivers: WorkerDrivers) -> int:
    """Spares whose instance died are deleted so that the pool refills with live ones."""
    dropped = 0
    for spare_id in spares.ready_spares(db):
        with db.transaction() as session:
            row = session.get(models.Amphora, spare_id)
            if row is None or row.status != c.AMPHORA_READY or row.load_balancer_id:
                continue
            spare = AmphoraState.of(row)
        if not amphorae.instance_alive(drivers, spare):
            LOG.warning("spare amphora %s died; replacing it", spare_id)
            amphorae.destroy(db, drivers, spare)
            dropped += 1
    return dropped


def fill_pool(
    db: Database, conf: cfg.ConfigOpts, drivers: WorkerDrivers, stopping: threading.Event | None = None
) -> int:
    """Build spares until the pool has its configured size; returns how many were built.

    One at a time, checking `stopping` between builds, so that a housekeeper asked to stop
    does not leave an instance starting behind it.
    """
    wanted = conf.house_keeping.spare_amphora_pool_size
    if wanted <= 0:
        return 0
    _drop_dead_spares(db, drivers)
    built = 0
    while len(spares.ready_spares(db)) < wanted:
        if stopping is not None and stopping.is_set():
            break
        try:
            spares.build_spare(conf, db, drivers)
        except Exception:
            LOG.exception("could not build a spare amphora; retrying next check")
            break
        built += 1
    return built
