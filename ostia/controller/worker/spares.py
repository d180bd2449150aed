"""Spare amphorae: started ahead of need, taken by a load balancer instead of a build.

A spare is an Amphora row in READY with no load balancer, whose agent has answered once.
Taking one is a conditional UPDATE (READY and unassigned -> BOOTING for this LB), so two
workers never take the same spare; a taken spare whose instance died is simply rebuilt by
the usual BOOTING path. The housekeeper keeps the pool filled with `build_spare`.
"""

from __future__ import annotations

import logging
from typing import Any

from oslo_config import cfg
from sqlalchemy import select, update

from ostia.common import constants as c
from ostia.controller.worker import amphorae
from ostia.controller.worker.configure import agent_wait_seconds, amphora_paths, amphora_ref
from ostia.controller.worker.drivers import WorkerDrivers
from ostia.controller.worker.graph import AmphoraState
from ostia.db import models
from ostia.db.session import Database

LOG = logging.getLogger(__name__)
Amp = models.Amphora


def ready_spares(db: Database) -> list[str]:
    with db.transaction() as session:
        return list(
            session.scalars(
                select(Amp.id)
                .where(Amp.status == c.AMPHORA_READY, Amp.load_balancer_id.is_(None))
                .order_by(Amp.created_at)
            )
        )


def take_spare(
    conf: cfg.ConfigOpts, db: Database, drivers: WorkerDrivers, lb_id: str, role: str
) -> AmphoraState | None:
    """Assign a running spare to `lb_id` (as BOOTING); None when the pool is off or empty."""
    if conf.house_keeping.spare_amphora_pool_size <= 0:
        return None
    for spare_id in ready_spares(db):
        with db.transaction() as session:
            result: Any = session.execute(
                update(Amp)
                .where(Amp.id == spare_id, Amp.status == c.AMPHORA_READY, Amp.load_balancer_id.is_(None))
                .values(
                    status=c.AMPHORA_BOOTING, load_balancer_id=lb_id, role=role, updated_at=models.utcnow()
                )
                .execution_options(synchronize_session=False)
            )
            if not result.rowcount:
                continue  # another worker took it first
            row = session.get(Amp, spare_id)
            assert row is not None
            taken = AmphoraState.of(row)
        if amphorae.instance_alive(drivers, taken):
            LOG.info("load balancer %s takes spare amphora %s", lb_id, spare_id)
            return taken
        LOG.warning("spare amphora %s is not running; rebuilding it for %s", spare_id, lb_id)
        return amphorae.ensure_instance(
            conf, db, drivers, taken, conf.controller_worker.loadbalancer_topology
        )
    return None


def build_spare(conf: cfg.ConfigOpts, db: Database, drivers: WorkerDrivers) -> AmphoraState:
    """Start one spare amphora and wait for its agent; READY when it answered."""
    amp = amphorae.insert_row(db, None, None)
    try:
        amp = amphorae.ensure_instance(
            conf, db, drivers, amp, conf.controller_worker.loadbalancer_topology, inserted_now=True
        )
        info = drivers.amphora.wait_for_agent(amphora_ref(conf, amp), agent_wait_seconds(conf, True))
        # A worker sharing these drivers (all-in-one) then configures it without asking again.
        drivers.memo.learn_paths(amp.id, amphora_paths(conf, drivers, amp, info))
    except Exception:
        amphorae.destroy(db, drivers, amp)
        raise
    if not amphorae.update_row(db, amp.id, expect=amphorae.BUILDING, status=c.AMPHORA_READY):
        raise RuntimeError(f"spare amphora {amp.id} changed state while it was starting")
    LOG.info("spare amphora %s is ready", amp.id)
    return amp
