"""Purging rows that have been DELETED for longer than the configured expiry ages."""

from __future__ import annotations

import datetime
import logging
from typing import Any

from oslo_config import cfg
from sqlalchemy import delete, or_, select, update

from ostia.common import constants as c
from ostia.db import models
from ostia.db.session import Database

LOG = logging.getLogger(__name__)


def purge_amphorae(db: Database, conf: cfg.ConfigOpts, now: datetime.datetime) -> int:
    """Delete DELETED amphorae older than `amphora_expiry_age`.

    An amphora still heartbeating recently is kept (a zombie the health manager must
    deal with), as upstream does.
    """
    cutoff = now - datetime.timedelta(seconds=conf.house_keeping.amphora_expiry_age)
    amp, health = models.Amphora, models.AmphoraHealth
    with db.transaction() as session:
        ids = list(
            session.scalars(
                select(amp.id)
                .outerjoin(health, health.amphora_id == amp.id)
                .where(
                    amp.status == c.DELETED,
                    or_(amp.updated_at < cutoff, (amp.updated_at.is_(None)) & (amp.created_at < cutoff)),
                    or_(health.amphora_id.is_(None), health.last_update < cutoff),
                )
            )
        )
        if ids:
            # Listener statistics rows stay: the totals the stats API reports are sums over
            # every amphora that ever served the listener (they go with the listener).
            session.execute(delete(health).where(health.amphora_id.in_(ids)))
            session.execute(delete(amp).where(amp.id.in_(ids)))
    return len(ids)


def zero_dead_connections(db: Database) -> int:
    """A DELETED amphora has no connections left: stop counting its last report."""
    stats, amp = models.ListenerStatistics, models.Amphora
    with db.transaction() as session:
        result: Any = session.execute(
            update(stats)
            .where(
                stats.active_connections != 0,
                stats.amphora_id.in_(select(amp.id).where(amp.status == c.DELETED)),
            )
            .values(active_connections=0)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)


def purge_load_balancers(db: Database, conf: cfg.ConfigOpts, now: datetime.datetime) -> int:
    """Delete DELETED load balancers older than `load_balancer_expiry_age`, children too."""
    cutoff = now - datetime.timedelta(seconds=conf.house_keeping.load_balancer_expiry_age)
    lb = models.LoadBalancer
    with db.transaction() as session:
        rows = list(
            session.scalars(
                select(lb).where(
                    lb.provisioning_status == c.DELETED,
                    or_(lb.updated_at < cutoff, (lb.updated_at.is_(None)) & (lb.created_at < cutoff)),
                )
            )
        )
        for row in rows:
            # Amphora rows outlive their LB until their own expiry; detach them first.
            session.execute(
                update(models.Amphora)
                .where(models.Amphora.load_balancer_id == row.id)
                .values(load_balancer_id=None)
            )
            session.execute(delete(models.VrrpGroup).where(models.VrrpGroup.load_balancer_id == row.id))
            session.delete(row)
    return len(rows)


def run_cleanup(db: Database, conf: cfg.ConfigOpts, now: datetime.datetime | None = None) -> tuple[int, int]:
    now = now or models.utcnow()
    zero_dead_connections(db)
    amphorae = purge_amphorae(db, conf, now)
    load_balancers = purge_load_balancers(db, conf, now)
    if amphorae or load_balancers:
        LOG.info("housekeeping purged %d amphorae and %d load balancers", amphorae, load_balancers)
    return amphorae, load_balancers
