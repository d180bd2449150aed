"""What the health manager does about what it finds: failovers and orphan instances.

A failover goes through the worker's entry point (`failover_amphora`), which stores the
request in the database; waking a worker afterwards only makes it start sooner (a lost
wake-up is covered by the worker's sweep). An amphora that heartbeats but serves no load
balancer (its row DELETED, or no load balancer and not a spare) is an orphan: its compute
instance is deleted through the compute driver, as upstream does, off the flush thread and
at most once a minute per instance.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from oslo_config import cfg

from ostia.controller.worker.drivers import WorkerDrivers
from ostia.controller.worker.failover import failover_amphora
from ostia.db.session import Database

LOG = logging.getLogger(__name__)
ORPHAN_RETRY_SECONDS = 60.0


class HealthActions:
    def __init__(
        self,
        conf: cfg.ConfigOpts,
        db: Database,
        drivers: WorkerDrivers | None,
        wake: Callable[[str], None] | None,
    ) -> None:
        self.conf = conf
        self.db = db
        self._drivers = drivers
        self._wake = wake
        self._caster: object | None = None
        self._lock = threading.Lock()
        self._orphan_pool: ThreadPoolExecutor | None = None
        self._orphans_deleted: dict[str, float] = {}

    @property
    def drivers(self) -> WorkerDrivers:
        with self._lock:
            if self._drivers is None:
                self._drivers = WorkerDrivers.from_config(self.conf)
            return self._drivers

    # -- failover ---------------------------------------------------------------------

    def failover(self, amphora_id: str) -> bool:
        """Record a failover of `amphora_id` and wake a worker; False if not possible now."""
        return failover_amphora(self.db, self.drivers, amphora_id, self._wake_worker)

    def _wake_worker(self, lb_id: str) -> None:
        try:
            wake = self._wake or self._cast_wake()
            if wake is None:
                LOG.info(
                    "no worker connection: a worker's sweep will pick up the failover of load balancer %s",
                    lb_id,
                )
                return
            wake(lb_id)
        except Exception:  # the request is stored; only the wake-up is lost
            LOG.warning(
                "could not wake a worker for load balancer %s; its sweep will find the failover",
                lb_id,
                exc_info=True,
            )

    def _cast_wake(self) -> Callable[[str], None] | None:
        if not self.conf.transport_url:
            return None
        with self._lock:
            if self._caster is None:
                from ostia.common.messaging import WakeCaster

                self._caster = WakeCaster(self.conf)
            caster = self._caster
        assert callable(caster)
        return caster

    # -- orphans ----------------------------------------------------------------------

    def delete_orphan(self, amphora_id: str, compute_id: str | None) -> None:
        """Delete the instance of an amphora that heartbeats without a purpose."""
        if not compute_id:
            LOG.warning("orphan amphora %s has no compute id: delete it by hand", amphora_id)
            return
        now = time.monotonic()
        with self._lock:
            if now - self._orphans_deleted.get(compute_id, -ORPHAN_RETRY_SECONDS) < ORPHAN_RETRY_SECONDS:
                return
            self._orphans_deleted[compute_id] = now
            if self._orphan_pool is None:
                self._orphan_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="health-orphans")
            pool = self._orphan_pool
        pool.submit(self._delete_instance, amphora_id, compute_id)

    def _delete_instance(self, amphora_id: str, compute_id: str) -> None:
        try:
            self.drivers.compute.delete(compute_id)
            LOG.warning("deleted instance %s of orphan amphora %s", compute_id, amphora_id)
        except Exception:
            LOG.exception("could not delete instance %s of orphan amphora %s", compute_id, amphora_id)

    def close(self) -> None:
        with self._lock:
            pool, self._orphan_pool = self._orphan_pool, None
            caster, self._caster = self._caster, None
        if pool is not None:
            pool.shutdown(wait=True)
        if caster is not None:
            caster.close()  # type: ignore[attr-defined]
