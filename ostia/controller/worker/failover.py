"""Failover: replace one amphora, or all of a load balancer's, keeping the VIP.

A failover request is stored, not sent: the amphorae to replace are marked PENDING_DELETE
and the load balancer goes to PENDING_UPDATE, in one transaction. The reconciler then does
the work like any other (see steps.converge): it builds a new amphora for each role left
without a serving one, plugs the VIP, pushes the configuration, and only then deletes the
marked amphorae. Because the request lives in the database, a lost wake-up or a worker that
dies halfway only delays the failover: the sweep picks the PENDING_UPDATE load balancer up
and finds the marks.

The API marks the amphorae in the transaction that moves the load balancer to
PENDING_UPDATE (`ostia.db.failover_marks.mark_for_failover`); the health manager calls
`failover_amphora`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from ostia.common import constants as c
from ostia.common import request_id
from ostia.controller.worker import amphorae
from ostia.controller.worker.drivers import WorkerDrivers
from ostia.controller.worker.graph import AmphoraState
from ostia.db import models
from ostia.db.failover_marks import mark_for_failover
from ostia.db.session import Database

LOG = logging.getLogger(__name__)
Amp = models.Amphora
LB = models.LoadBalancer

FAILOVER_FROM = (c.ACTIVE, c.ERROR)


def _lock_lb(session: Session, lb_id: str) -> bool:
    """ACTIVE/ERROR -> PENDING_UPDATE, as the API's failover lock does."""
    result: Any = session.execute(
        update(LB).where(LB.id == lb_id, LB.provisioning_status.in_(FAILOVER_FROM))
        .values(provisioning_status=c.PENDING_UPDATE, updated_at=models.utcnow(),
                reconcile_attempts=0, last_error=None,
                # The worker's lines for this failover carry this id, not the last API
                # request's (a failover nobody asked for over HTTP gets one of its own).
                request_id=request_id.current())
        .execution_options(synchronize_session=False))
    return bool(result.rowcount)


def failover_load_balancer(db: Database, lb_id: str, wake: Callable[[str], None]) -> bool:
    """Replace every amphora of `lb_id`; False if the LB is busy (PENDING_*) or gone."""
    with request_id.bound(request_id.current() or request_id.new_request_id()):
        return _failover_load_balancer(db, lb_id, wake)


def _failover_load_balancer(db: Database, lb_id: str, wake: Callable[[str], None]) -> bool:
    with db.transaction() as session:
        if not _lock_lb(session, lb_id):
            return False
        count = mark_for_failover(session, lb_id)
    LOG.info("failover of load balancer %s requested (%d amphorae)", lb_id, count)
    wake(lb_id)
    return True


def failover_amphora(db: Database, drivers: WorkerDrivers, amphora_id: str,
                     wake: Callable[[str], None]) -> bool:
    """Replace one amphora (the health manager's call); False if it cannot happen now.

    An amphora that serves no load balancer (a spare, a leftover) is deleted outright.
    """
    with request_id.bound(request_id.current() or request_id.new_request_id()):
        return _failover_amphora(db, drivers, amphora_id, wake)


def _failover_amphora(db: Database, drivers: WorkerDrivers, amphora_id: str,
                      wake: Callable[[str], None]) -> bool:
    with db.transaction() as session:
        row = session.get(Amp, amphora_id)
        if row is None or row.status == c.DELETED:
            return False
        lb_id = row.load_balancer_id
        orphan = AmphoraState.of(row) if lb_id is None else None
        if lb_id is not None:
            if not _lock_lb(session, lb_id):
                LOG.info("amphora %s: load balancer %s is busy; failover later", amphora_id,
                         lb_id)
                return False
            mark_for_failover(session, lb_id, amphora_id)
    if orphan is not None:
        amphorae.destroy(db, drivers, orphan)
        return True
    assert lb_id is not None
    LOG.info("failover of amphora %s of load balancer %s requested", amphora_id, lb_id)
    wake(lb_id)
    return True
