"""What `ostia status` shows: services, load balancers and amphorae with their health."""

from __future__ import annotations

import dataclasses
import datetime

from oslo_config import cfg
from sqlalchemy import select

from ostia.common import constants as c
from ostia.db import models
from ostia.db.session import Database
from ostia.drivers.loader import load_driver


@dataclasses.dataclass
class LoadBalancerRow:
    id: str
    name: str
    vip: str
    provisioning_status: str
    operating_status: str
    listeners: int
    amphorae: int
    # The worker's last error (why it is in ERROR, or why an attempt is being retried).
    last_error: str = ""


@dataclasses.dataclass
class AmphoraRow:
    id: str
    load_balancer_id: str
    role: str
    status: str
    lb_network_ip: str
    # Seconds since the last heartbeat; None if none was ever received.
    heartbeat_age: float | None
    # What the compute driver sees: ACTIVE, SHUTOFF, ERROR, or "missing".
    instance: str


@dataclasses.dataclass
class StatusReport:
    load_balancers: list[LoadBalancerRow]
    amphorae: list[AmphoraRow]


def gather(conf: cfg.ConfigOpts, db: Database) -> StatusReport:
    now = models.utcnow()
    with db.transaction() as session:
        lbs = list(
            session.scalars(
                select(models.LoadBalancer)
                .where(models.LoadBalancer.provisioning_status != c.DELETED)
                .order_by(models.LoadBalancer.created_at)
            )
        )
        amps = list(
            session.scalars(
                select(models.Amphora)
                .where(models.Amphora.status != c.DELETED)
                .order_by(models.Amphora.created_at)
            )
        )
        health = {h.amphora_id: h.last_update for h in session.scalars(select(models.AmphoraHealth))}
        lb_rows = [
            LoadBalancerRow(
                id=lb.id,
                name=lb.name or "",
                vip=lb.vip.ip_address or "" if lb.vip else "",
                provisioning_status=lb.provisioning_status,
                operating_status=lb.operating_status,
                listeners=sum(1 for li in lb.listeners if li.provisioning_status != c.DELETED),
                amphorae=sum(1 for a in amps if a.load_balancer_id == lb.id),
                last_error=lb.last_error or "",
            )
            for lb in lbs
        ]
        amp_rows = [
            AmphoraRow(
                id=a.id,
                load_balancer_id=a.load_balancer_id or "",
                role=a.role or "",
                status=a.status,
                lb_network_ip=a.lb_network_ip or "",
                heartbeat_age=_age(now, health.get(a.id)),
                instance="",
            )
            for a in amps
        ]
        compute_ids = {a.id: a.compute_id for a in amps}
    compute = load_driver("octavia.compute.drivers", conf.controller_worker.compute_driver, conf)
    for row in amp_rows:
        compute_id = compute_ids.get(row.id)
        instance = compute.get(compute_id) if compute_id else None
        row.instance = instance.status if instance is not None else "missing"
    return StatusReport(load_balancers=lb_rows, amphorae=amp_rows)


def _age(now: datetime.datetime, last: datetime.datetime | None) -> float | None:
    return None if last is None else max(0.0, (now - last).total_seconds())


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain text table, columns as wide as their widest cell."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip()
        for row in [headers, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
