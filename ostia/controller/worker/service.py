"""The controller worker: wake-ups in, a few reconcile threads, a sweep, lease renewal.

Wake-ups arrive as in-process calls (`wake`, all-in-one) or as oslo.messaging casts
(`transport_url` set: an RPC server on `[oslo_messaging] topic`). Either way they only
queue a load balancer. `[task_flow] max_workers` threads take items from the queue and
reconcile them, never two threads on one load balancer (the lease guarantees the same across
processes). Every `[reconciler] sweep_interval` the worker queues each PENDING_* load
balancer whose lease is free or expired, so lost messages and dead workers only delay work.
"""

from __future__ import annotations

import logging
import threading
import time

from oslo_config import cfg

from ostia.controller.service import Service, require_heartbeat_key
from ostia.controller.worker import amphorae, leases
from ostia.controller.worker.drivers import WorkerDrivers
from ostia.controller.worker.reconciler import Outcome, Reconciler
from ostia.controller.worker.work_queue import (
    DestroyAmphora,
    ReconcileLoadBalancer,
    WorkItem,
    WorkQueue,
)
from ostia.db.session import Database

LOG = logging.getLogger(__name__)
SWEEP_BATCH = 200
RPC_START_WAIT = 10.0  # seconds start() waits for the broker before going on without it


class WorkerService(Service):
    name = "octavia-worker"
    rpc_start_wait = RPC_START_WAIT

    def __init__(
        self,
        conf: cfg.ConfigOpts,
        db: Database,
        drivers: WorkerDrivers | None = None,
        rpc: bool | None = None,
    ) -> None:
        """`rpc`: serve the oslo.messaging topic (default: when transport_url is set)."""
        super().__init__()
        self.conf = conf
        self.db = db
        self.drivers = drivers or WorkerDrivers.from_config(conf)
        self.reconciler = Reconciler(conf, db, self.drivers)
        self.queue: WorkQueue[WorkItem] = WorkQueue()
        self.use_rpc = bool(conf.transport_url) if rpc is None else rpc
        self._threads: list[threading.Thread] = []
        self._rpc_server: object | None = None
        self._rpc_ready = threading.Event()
        self.settled = 0  # attempts that settled, for tests and logs

    @property
    def owner(self) -> str:
        return self.reconciler.owner

    def wake(self, lb_id: str) -> None:
        """Reconcile `lb_id` soon (the API's in-process wake-up, and the RPC endpoint's)."""
        LOG.debug("wake-up for load balancer %s", lb_id)
        self.queue.put(ReconcileLoadBalancer(lb_id))

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        require_heartbeat_key(self.conf)
        for index in range(max(1, self.conf.task_flow.max_workers)):
            thread = threading.Thread(target=self._reconcile_loop, name=f"reconcile-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if self.use_rpc:
            # Connecting waits for the broker as long as it takes; the sweep must not.
            threading.Thread(target=self._serve_rpc, name="rpc-server", daemon=True).start()
            if not self._rpc_ready.wait(self.rpc_start_wait):
                LOG.warning(
                    "message broker not reachable yet; wake-ups wait for it, the sweep works meanwhile"
                )
        super().start()
        LOG.info("worker %s started with %d reconcile threads", self.owner, len(self._threads))

    def _serve_rpc(self) -> None:
        from ostia.common.messaging import WakeServer

        try:
            server = WakeServer(self.conf, self.wake, server=self.conf.host)
            self._rpc_server = server
            server.start()
        except Exception:  # noqa: BLE001 - e.g. a bad transport_url; the sweep still works
            LOG.exception("cannot serve the worker topic; relying on the sweep")
            return
        self._rpc_ready.set()
        LOG.info("worker %s listens on topic %s", self.owner, self.conf.oslo_messaging.topic)

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.queue.close()
        deadline = time.monotonic() + timeout
        if self._rpc_server is not None:
            self._rpc_server.stop()  # type: ignore[attr-defined]
            self._rpc_server = None
        super().stop(max(deadline - time.monotonic(), 0.1))
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.1))
        self._threads.clear()

    def run(self) -> None:
        """Sweep for stranded work and renew held leases until stopped."""
        options = self.conf.reconciler
        tick = max(min(options.sweep_interval, options.lease_seconds / 6.0, 1.0), 0.05)
        next_sweep = 0.0
        while not self.stopping.is_set():
            self._renew_leases()
            now = time.monotonic()
            if now >= next_sweep:
                self.sweep()
                next_sweep = now + options.sweep_interval
            if self.wait(min(tick, max(next_sweep - time.monotonic(), 0.01))):
                break

    def sweep(self) -> int:
        """Queue every PENDING_* load balancer whose lease is free or expired."""
        try:
            ids = leases.claimable(self.db, SWEEP_BATCH)
        except Exception:  # noqa: BLE001 - the database may be briefly away; sweep again
            LOG.exception("sweep failed")
            return 0
        for lb_id in ids:
            self.queue.put(ReconcileLoadBalancer(lb_id))
        try:
            leftovers = amphorae.released(self.db)
        except Exception:  # noqa: BLE001
            LOG.exception("sweep for released amphorae failed")
            leftovers = []
        for amphora_id in leftovers:
            self.queue.put(DestroyAmphora(amphora_id))
        if ids or leftovers:
            LOG.debug("sweep queued %d load balancers, %d amphorae", len(ids), len(leftovers))
        return len(ids) + len(leftovers)

    def _renew_leases(self) -> None:
        for lease in self.reconciler.held_leases():
            if not lease.renew_if_due():
                LOG.warning("lease on load balancer %s lost", lease.lb_id)

    def _reconcile_loop(self) -> None:
        while not self.stopping.is_set():
            item = self.queue.get(timeout=0.5)
            if item is None:
                continue
            retry_in: float | None = None
            try:
                if isinstance(item, DestroyAmphora):
                    amphorae.destroy_released(self.db, self.drivers, item.amphora_id)
                    continue
                result = self.reconciler.reconcile(item.lb_id)
                if result.outcome is Outcome.RETRY:
                    retry_in = result.retry_in
                elif result.outcome in (Outcome.SETTLED, Outcome.FAILED):
                    self.settled += 1
            except Exception:  # noqa: BLE001 - e.g. the database is away; the sweep retries
                LOG.exception("%s failed unexpectedly", item)
            finally:
                self.queue.done(item, retry_in)
