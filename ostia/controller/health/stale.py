"""Stale amphora detection with storm protection, safe with several health managers.

An amphora whose last heartbeat is older than `heartbeat_timeout` is failed over through
the worker's failover entry point, which records the request in the database under the
load balancer's status lock, so of several health managers exactly one wins; the health
row is then marked `busy` so that it is not picked again. When more than `failover_threshold`
amphorae are stale at once the fault is most likely the health manager or its network,
not the amphorae: nothing is failed over, they are marked FAILOVER_STOPPED and an error
is logged every cycle until the count drops.
"""

from __future__ import annotations

import datetime
import logging
import random
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
    """`request_failover(amphora_id)` records a failover (True) or refuses it for now.

    The worker's `failover_amphora` is that call: it moves the load balancer from
    ACTIVE/ERROR to PENDING_UPDATE and marks the amphora in one transaction, so of several
    health managers that find the same stale amphora only the first succeeds, and an
    amphora of a load balancer that is being changed is tried again next round.
    """

    def __init__(
        self,
        conf: cfg.ConfigOpts,
        db: Database,
        request_failover: Callable[[str], bool],
        heard_since: Callable[[str, float], bool] | None = None,
    ) -> None:
        self.conf = conf
        self.db = db
        self.request_failover = request_failover
        # `heard_since(amphora_id, epoch)`: this manager accepted a heartbeat of the
        # amphora at or after `epoch` that the database may not show yet.
        self.heard_since = heard_since

    def _stale_query(self, cutoff: datetime.datetime) -> Any:
        health, amp = models.AmphoraHealth, models.Amphora
        return (
            select(health.amphora_id)
            .join(amp, amp.id == health.amphora_id)
            .where(health.busy.is_(False), health.last_update < cutoff, amp.status.in_(ELIGIBLE))
        )

    def check(self, now: datetime.datetime | None = None) -> list[str]:
        """One detection round; returns the amphorae whose failover was recorded."""
        hm = self.conf.health_manager
        cutoff = (now or models.utcnow()) - datetime.timedelta(seconds=hm.heartbeat_timeout)
        with self.db.transaction() as session:
            stale = list(session.scalars(self._stale_query(cutoff)))
            if self.heard_since is not None:
                # Heard, but not written yet: a manager that falls behind (a burst, its
                # first round after a start, with every graph to load) would otherwise
                # fail over the amphorae whose heartbeats wait in its own queue.
                since = cutoff.replace(tzinfo=datetime.UTC).timestamp()
                stale = [amp for amp in stale if not self.heard_since(amp, since)]
            threshold = hm.failover_threshold
            if threshold is not None and len(stale) > threshold:
                session.execute(
                    update(models.Amphora)
                    .where(models.Amphora.id.in_(stale), models.Amphora.status == c.AMPHORA_ALLOCATED)
                    .values(status=c.FAILOVER_STOPPED)
                )
                LOG.error(
                    "%d amphorae are stale at once, more than failover_threshold = %d: "
                    "not failing over any (the health manager or its network is the "
                    "likely fault)",
                    len(stale),
                    threshold,
                )
                return []
        # Random order, as upstream: a stale amphora that cannot be failed over now (its
        # load balancer is busy) must not keep the others waiting behind it.
        random.shuffle(stale)
        requested = []
        for amphora_id in stale[: hm.failover_threads]:
            LOG.warning(
                "amphora %s missed heartbeats for %d s: failing it over", amphora_id, hm.heartbeat_timeout
            )
            try:
                recorded = self.request_failover(amphora_id)
            except Exception:
                LOG.exception("could not request failover of amphora %s", amphora_id)
                continue
            if recorded:
                self._mark_busy(amphora_id)
                requested.append(amphora_id)
        return requested

    def _mark_busy(self, amphora_id: str) -> None:
        """The amphora is being replaced: not stale any more, and its connections are gone."""
        with self.db.transaction() as session:
            session.execute(
                update(models.AmphoraHealth)
                .where(models.AmphoraHealth.amphora_id == amphora_id)
                .values(busy=True)
            )
            session.execute(
                update(models.ListenerStatistics)
                .where(models.ListenerStatistics.amphora_id == amphora_id)
                .values(active_connections=0)
            )

    def stale_count(self) -> int:
        hm = self.conf.health_manager
        cutoff = models.utcnow() - datetime.timedelta(seconds=hm.heartbeat_timeout)
        with self.db.transaction() as session:
            return int(
                session.scalar(select(func.count()).select_from(self._stale_query(cutoff).subquery())) or 0
            )
