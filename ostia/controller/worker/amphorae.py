"""Amphora rows and instances: build, adopt, find and destroy, crash-safely.

The row always comes first: a row in PENDING_CREATE is committed before the compute driver
is asked to build, and the compute id is recorded (BOOTING) as soon as the build returns.
Whatever point a worker dies at, the next reconcile finds a row that names the amphora,
so no instance is ever left untracked: a PENDING_CREATE row whose instance exists is
adopted, one whose instance is missing or dead is built again, and a deleted load balancer
takes every instance named by its rows with it.

Amphora statuses used here: PENDING_CREATE (row written, build not confirmed), BOOTING
(instance started), ALLOCATED (configured, serving), READY (a spare), PENDING_DELETE (to
be replaced: failover requested or instance found dead), DELETED, ERROR.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from oslo_config import cfg
from sqlalchemy import or_, select, update

from ostia.common import constants as c
from ostia.controller.worker.agent_config import agent_settings
from ostia.controller.worker.drivers import WorkerDrivers
from ostia.controller.worker.graph import AmphoraState
from ostia.db import models
from ostia.db.session import Database
from ostia.drivers.compute.base import AmphoraSpec, ComputeInstance

LOG = logging.getLogger(__name__)

INSTANCE_ACTIVE = "ACTIVE"
# Rows whose instance may exist but is not yet known to be configured.
BUILDING = (c.PENDING_CREATE, c.AMPHORA_BOOTING)
# Rows that serve (or will serve) their load balancer.
SERVING = (c.PENDING_CREATE, c.AMPHORA_BOOTING, c.AMPHORA_ALLOCATED)


def insert_row(db: Database, lb_id: str | None, role: str | None) -> AmphoraState:
    """A PENDING_CREATE row, committed before anything is built for it."""
    with db.transaction() as session:
        row = models.Amphora(status=c.PENDING_CREATE, load_balancer_id=lb_id, role=role)
        session.add(row)
        session.flush()
        return AmphoraState.of(row)


def update_row(db: Database, amphora_id: str, expect: tuple[str, ...] | None = None, **values: Any) -> bool:
    """Write `values` into the row, if its status is still one of `expect` (when given)."""
    with db.transaction() as session:
        statement = update(models.Amphora).where(models.Amphora.id == amphora_id)
        if expect is not None:
            statement = statement.where(models.Amphora.status.in_(expect))
        result: Any = session.execute(
            statement.values(**values, updated_at=models.utcnow()).execution_options(
                synchronize_session=False
            )
        )
        return bool(result.rowcount)


def _client_ca(conf: cfg.ConfigOpts) -> bytes:
    with open(conf.controller_worker.client_ca, "rb") as handle:
        return handle.read()


def build_instance(
    conf: cfg.ConfigOpts, db: Database, drivers: WorkerDrivers, amp: AmphoraState, topology: str
) -> AmphoraState:
    """Start the instance of a PENDING_CREATE row and record it (BOOTING)."""
    drivers.memo.forget(amp.id)  # a new instance: its agent has answered nobody yet
    cert = drivers.cert_generator.generate_amphora_cert(amp.id)
    spec = AmphoraSpec(
        amphora_id=amp.id,
        server_pem=cert.pem,
        client_ca_pem=_client_ca(conf),
        agent_settings=agent_settings(conf, topology),
    )
    instance = drivers.compute.build(spec)
    expiration = cert.expiration.replace(tzinfo=None)
    if not update_row(
        db,
        amp.id,
        expect=BUILDING,
        status=c.AMPHORA_BOOTING,
        compute_id=instance.compute_id,
        lb_network_ip=instance.lb_network_ip,
        cert_expiration=expiration,
    ):
        # The row moved on under us (a failover or a delete marked it): do not leak.
        drivers.compute.delete(instance.compute_id)
        raise RuntimeError(f"amphora {amp.id} changed state while it was being built")
    LOG.info("amphora %s built as %s at %s", amp.id, instance.compute_id, instance.lb_network_ip)
    return _with(
        amp, status=c.AMPHORA_BOOTING, compute_id=instance.compute_id, lb_network_ip=instance.lb_network_ip
    )


def find_instance(drivers: WorkerDrivers, amp: AmphoraState) -> ComputeInstance | None:
    """The instance of a row: by compute id, else (build cut short) by amphora id."""
    if amp.compute_id:
        instance = drivers.compute.get(amp.compute_id)
        if instance is not None:
            return instance
    if amp.status in BUILDING or not amp.compute_id:
        for instance in drivers.compute.list_instances():
            if instance.amphora_id == amp.id:
                return instance
    return None


def ensure_instance(
    conf: cfg.ConfigOpts,
    db: Database,
    drivers: WorkerDrivers,
    amp: AmphoraState,
    topology: str,
    *,
    inserted_now: bool = False,
) -> AmphoraState:
    """A running instance for a PENDING_CREATE or BOOTING row: adopt it or (re)build it.

    `inserted_now` says the row was written by this attempt, so no instance can exist yet.
    """
    instance = None if inserted_now else find_instance(drivers, amp)
    if instance is not None and instance.status == INSTANCE_ACTIVE:
        if instance.compute_id != amp.compute_id or amp.status != c.AMPHORA_BOOTING:
            update_row(
                db,
                amp.id,
                expect=BUILDING,
                status=c.AMPHORA_BOOTING,
                compute_id=instance.compute_id,
                lb_network_ip=instance.lb_network_ip,
            )
            LOG.info("adopted instance %s of amphora %s", instance.compute_id, amp.id)
            amp = _with(
                amp,
                status=c.AMPHORA_BOOTING,
                compute_id=instance.compute_id,
                lb_network_ip=instance.lb_network_ip,
            )
        return amp
    if instance is not None:
        LOG.info(
            "instance %s of amphora %s is %s: building it again", instance.compute_id, amp.id, instance.status
        )
        drivers.compute.delete(instance.compute_id)
    if amp.status != c.PENDING_CREATE or amp.compute_id:
        update_row(db, amp.id, expect=BUILDING, status=c.PENDING_CREATE, compute_id=None)
        amp = _with(amp, status=c.PENDING_CREATE, compute_id=None)
    return build_instance(conf, db, drivers, amp, topology)


def instance_alive(drivers: WorkerDrivers, amp: AmphoraState) -> bool:
    """True if the row's instance exists and runs (its agent process is up)."""
    instance = drivers.compute.get(amp.compute_id) if amp.compute_id else None
    return instance is not None and instance.status == INSTANCE_ACTIVE


def destroy(db: Database, drivers: WorkerDrivers, amp: AmphoraState) -> None:
    """Delete the row's instance (and any stray one of the same amphora), row -> DELETED."""
    seen: set[str] = set()
    if amp.compute_id:
        drivers.compute.delete(amp.compute_id)
        seen.add(amp.compute_id)
    if amp.status in BUILDING or not amp.compute_id:
        # A build may have been cut short before its compute id was stored.
        for instance in drivers.compute.list_instances():
            if instance.amphora_id == amp.id and instance.compute_id not in seen:
                drivers.compute.delete(instance.compute_id)
    update_row(db, amp.id, status=c.DELETED)
    drivers.memo.forget(amp.id)
    LOG.info("amphora %s deleted", amp.id)


def _with(amp: AmphoraState, **values: Any) -> AmphoraState:
    return dataclasses.replace(amp, **values)


def _released_query(amphora_id: str | None = None) -> Any:
    amp = models.Amphora
    lb = models.LoadBalancer
    query = (
        select(amp.id)
        .outerjoin(lb, lb.id == amp.load_balancer_id)
        .where(
            amp.status == c.PENDING_DELETE,
            or_(amp.load_balancer_id.is_(None), lb.provisioning_status.in_((c.ACTIVE, c.DELETED))),
        )
    )
    return query if amphora_id is None else query.where(amp.id == amphora_id)


def released(db: Database, limit: int = 50) -> list[str]:
    """PENDING_DELETE amphorae that no reconcile will handle: deleted by hand (amphora
    DELETE API), left by a deleted load balancer, or spares; safe to destroy any time.

    Amphorae of an LB in PENDING_* belong to its reconcile, and those of an ERROR LB may
    still be the only ones serving it (a failover that failed): both are left alone.
    """
    with db.transaction() as session:
        return list(session.scalars(_released_query().limit(limit)))


def destroy_released(db: Database, drivers: WorkerDrivers, amphora_id: str) -> bool:
    """Destroy one released amphora if it is still released; True if destroyed."""
    with db.transaction() as session:
        if session.scalar(_released_query(amphora_id)) is None:
            return False
        row = session.get(models.Amphora, amphora_id)
        assert row is not None
        state = AmphoraState.of(row)
    destroy(db, drivers, state)
    return True
