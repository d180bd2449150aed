"""Stale amphora detection with storm protection, safe with several health managers.

An amphora whose last heartbeat is older than `heartbeat_timeout` is failed over, one
claim at a time: the `busy` flag of its health row is set with a conditional UPDATE, so
of several health managers exactly one wins. When more than `failover_threshold`
amphorae are stale at once the fault is most likely the health manager or its network,
not the amphorae: nothing is failed over, they are marked FAILOVER_STOPPED and an error
is logged every cycle until the count drops.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from typing import Any

from oslo_config import cfg
from sqlalchemy import func, select, update

from ostia.common import constants as c
from ostia.db import models
from ostia.db.session import Database

LOG = logging.getLogger(__name__)
ELIGIBLE = (c.AMPHORA_ALLOCATED, c.FAILOVER_STOPPED)


class StaleAmphoraDetector:
    def __init__(self, conf: cfg.ConfigOpts, db: Database,
                 request_failover: Callable[[str], None]) -> None:
        self.conf = conf
        self.db = db
        self.request_failover = request_failover

    def _stale_query(self, cutoff: datetime.datetime) -> Any:
        health, amp = models.AmphoraHealth, models.Amphora
        return (select(health.amphora_id)
                .join(amp, amp.id == health.amphora_id)
                .where(health.busy.is_(False), health.last_update < cutoff,
                       amp.status.in_(ELIGIBLE)))

    def check(self, now: datetime.datetime | None = None) -> list[str]:
        """One detection round; returns the amphorae whose failover was requested."""
        hm = self.conf.health_manager
        cutoff = (now or models.utcnow()) - datetime.timedelta(seconds=hm.heartbeat_timeout)
        with self.db.transaction() as session:
            stale = list(session.scalars(self._stale_query(cutoff)))
            threshold = hm.failover_threshold
            if threshold is not None and len(stale) > threshold:
                session.execute(update(models.Amphora)
                                .where(models.Amphora.id.in_(stale),
                                       models.Amphora.status == c.AMPHORA_ALLOCATED)
                                .values(status=c.FAILOVER_STOPPED))
                LOG.error("%d amphorae are stale at once, more than failover_threshold = %d: "
                          "not failing over any (the health manager or its network is the "
                          "likely fault)", len(stale), threshold)
                return []
        requested = []
        for amphora_id in stale[: hm.failover_threads]:
            if self._claim_and_lock(amphora_id):
                requested.append(amphora_id)
        for amphora_id in requested:
            LOG.warning("amphora %s missed heartbeats for %d s: failing it over",
                        amphora_id, hm.heartbeat_timeout)
            try:
                self.request_failover(amphora_id)
            except Exception:
                LOG.exception("could not request failover of amphora %s", amphora_id)
                self._release(amphora_id)
        return requested

    def _claim_and_lock(self, amphora_id: str) -> bool:
        """Mark the health row busy and the LB PENDING_UPDATE, or neither."""
        with self.db.transaction() as session:
            claimed: Any = session.execute(
                update(models.AmphoraHealth)
                .where(models.AmphoraHealth.amphora_id == amphora_id,
                       models.AmphoraHealth.busy.is_(False))
                .values(busy=True))
            if not claimed.rowcount:
                return False  # another health manager took it
            amphora = session.get(models.Amphora, amphora_id)
            if amphora is None or amphora.load_balancer_id is None:
                return True
            locked: Any = session.execute(
                update(models.LoadBalancer)
                .where(models.LoadBalancer.id == amphora.load_balancer_id,
                       models.LoadBalancer.provisioning_status.in_((c.ACTIVE, c.ERROR)))
                .values(provisioning_status=c.PENDING_UPDATE, updated_at=models.utcnow()))
            if not locked.rowcount:
                # The LB is being changed; the worker handles it; try again next round.
                session.rollback()
                return False
            return True

    def _release(self, amphora_id: str) -> None:
        with self.db.transaction() as session:
            session.execute(update(models.AmphoraHealth)
                            .where(models.AmphoraHealth.amphora_id == amphora_id)
                            .values(busy=False))

    def stale_count(self) -> int:
        hm = self.conf.health_manager
        cutoff = models.utcnow() - datetime.timedelta(seconds=hm.heartbeat_timeout)
        with self.db.transaction() as session:
            return int(session.scalar(select(func.count()).select_from(
                self._stale_query(cutoff).subquery())) or 0)
