"""Failover: replace one amphora, or all of a load balancer's, keeping the VIP.

A failover request is stored, not sent: the amphorae to replace are marked PENDING_DELETE
and the load balancer goes to PENDING_UPDATE, in one transaction. The reconciler then does
the work like any other (see steps.converge): it builds a new amphora for each role left
without a serving one, plugs the VIP, pushes the configuration, and only then deletes the
marked amphorae. Because the request lives in the database, a lost wake-up or a worker that
dies halfway only delays the failover: the sweep picks the PENDING_UPDATE load balancer up
and finds the marks.

The API and the health manager (`failover_amphora`) make the request with the same
transition, `ostia.db.lifecycle.request_failover`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import select, update

from ostia.common import constants as c
from ostia.common import request_id
from ostia.controller.worker import amphorae
from ostia.controller.worker.drivers import WorkerDrivers
from ostia.controller.worker.graph import AmphoraState
from ostia.db import lifecycle, models
from ostia.db.session import Database

LOG = logging.getLogger(__name__)
Amp = models.Amphora


def failover_amphora(
    db: Database, drivers: WorkerDrivers, amphora_id: str, wake: Callable[[str], None]
) -> bool:
    """Replace one amphora (the health manager's call); False if it cannot happen now.

    An amphora that serves no load balancer (a spare, a leftover) is deleted outright.
    """
    with request_id.bound(request_id.current() or request_id.new_request_id()):
        return _failover_amphora(db, drivers, amphora_id, wake)


def _failover_amphora(
    db: Database, drivers: WorkerDrivers, amphora_id: str, wake: Callable[[str], None]
) -> bool:
    with db.transaction() as session:
        row = session.get(Amp, amphora_id)
        if row is None or row.status == c.DELETED:
            return False
        lb_id = row.load_balancer_id
        orphan = AmphoraState.of(row) if lb_id is None else None
        if lb_id is not None:
            if not lifecycle.request_failover(session, lb_id, amphora_id):
                LOG.info("amphora %s: load balancer %s is busy; failover later", amphora_id, lb_id)
                return False
    if orphan is not None:
        amphorae.destroy(db, drivers, orphan)
        return True
    assert lb_id is not None
    LOG.info("failover of amphora %s of load balancer %s requested", amphora_id, lb_id)
    wake(lb_id)
    return True


def settle_failed_failover(db: Database, drivers: WorkerDrivers, lb_id: str) -> None:
    """After a reconcile of `lb_id` failed for good: one amphora per role, in a clear state.

    A failover builds the replacement before it deletes the amphora it replaces, so a
    replacement that cannot be made to serve would leave both behind (PENDING_DELETE and
    BOOTING), neither watched by the health manager nor ever released. Per role:

    - an amphora being replaced whose instance still runs goes back to ALLOCATED: it is
      what served until now (the failover was asked of a working amphora, or its agent
      recovered); the replacements are deleted and the health manager watches it again,
      from now, so it fails it over again only if it stays silent for a full timeout;
    - else a replacement whose instance runs becomes the role's ALLOCATED amphora (its
      configuration may have been refused, but it heartbeats and reports what it runs),
      and the replaced ones are deleted;
    - else nothing runs (a dead amphora is deleted before its replacement is built, see
      steps.converge): what is left of the role is deleted, and the load balancer's ERROR
      says why until an operator fails it over again.
    """
    with db.transaction() as session:
        rows = session.scalars(
            select(Amp).where(
                Amp.load_balancer_id == lb_id, Amp.status.in_((c.PENDING_DELETE, *amphorae.SERVING))
            )
        ).all()
        states = [AmphoraState.of(row) for row in rows]
    by_role: dict[str | None, list[AmphoraState]] = {}
    for amp in states:
        by_role.setdefault(amp.role, []).append(amp)
    for role, amps in by_role.items():
        replaced = [a for a in amps if a.status == c.PENDING_DELETE]
        building = [a for a in amps if a.status in amphorae.BUILDING]
        if not replaced and not building:
            continue  # settled already: one ALLOCATED amphora
        serving = [a for a in amps if a.status == c.AMPHORA_ALLOCATED]
        keep = (
            serving[0]
            if serving
            else next((a for a in replaced if amphorae.instance_alive(drivers, a)), None)
            or next((a for a in building if amphorae.instance_alive(drivers, a)), None)
        )
        for amp in (*replaced, *building):
            if amp != keep:
                amphorae.destroy(db, drivers, amp)
        if keep is None:
            LOG.error(
                "failover of load balancer %s failed and no amphora of role %s runs; "
                "a failover of the load balancer builds one",
                lb_id,
                role,
            )
        if keep is not None and keep.status != c.AMPHORA_ALLOCATED:
            _watch_again(db, keep.id)
            LOG.warning(
                "failover of load balancer %s failed: amphora %s (%s) keeps serving role %s",
                lb_id,
                keep.id,
                keep.status,
                role,
            )


def _watch_again(db: Database, amphora_id: str) -> None:
    """ALLOCATED, and the health manager's clock for it (re)started now: silent for a full
    heartbeat timeout from here, it is failed over again (a replacement that never
    heartbeated has no health row, and without one it would never be judged)."""
    now = models.utcnow()
    with db.transaction() as session:
        session.execute(
            update(Amp)
            .where(Amp.id == amphora_id)
            .values(status=c.AMPHORA_ALLOCATED, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        health = session.get(models.AmphoraHealth, amphora_id)
        if health is None:
            session.add(models.AmphoraHealth(amphora_id=amphora_id, last_update=now, busy=False))
        else:
            health.busy = False
            health.last_update = now
