"""The health manager: heartbeat receiver, batched status writer and stale detector.

Everything runs on one asyncio loop in the service's thread; database work (flushes and
stale scans) runs in a small thread pool so that receiving never waits on the database.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from oslo_config import cfg

from ostia.controller.health.actions import HealthActions
from ostia.controller.health.metrics import HealthMetrics
from ostia.controller.health.reader import HeartbeatReader
from ostia.controller.health.receiver import HeartbeatProcessor
from ostia.controller.health.stale import StaleAmphoraDetector
from ostia.controller.service import Service, ServiceStartError, require_heartbeat_key
from ostia.controller.worker.drivers import WorkerDrivers
from ostia.db.session import Database

LOG = logging.getLogger(__name__)
METRICS_LOG_INTERVAL = 60.0
# Freeze what is alive into the collector's permanent generation (`freeze_long_lived`)
# once the graph cache holds this many more load balancers than at the last freeze (a
# start, a fleet that grew): the libraries and the graphs are what full collections
# traversed. Not on reloads of cached graphs: they replace as many as they add.
GC_FREEZE_AFTER_GROWTH = 1000


def freeze_long_lived() -> None:
    """Collect what is not frozen yet, then exempt what survives from later collections.

    Full collections traversed every object of the process, the graph cache of every
    load balancer heard and the libraries: 7-12 us of the 45-70 us of CPU per heartbeat
    (10,000 amphorae, gc callbacks). Frozen, those objects are skipped; they are still
    freed by reference counting when the cache replaces them (graphs hold no cycles).

    Never `gc.unfreeze()` here: collecting a frozen process again traverses all of it, a
    pause of 0.14-0.37 s with 10,000 graphs that stalled the receive loop once a minute
    (the tail of the lag). So only what was alive at a freeze and later became cyclic
    garbage stays until the service stops; freezes happen at a start and when the
    fleet grows, not with time, so that is bounded. What the graph cache reloads after a
    freeze stays young: the full collections it causes traverse it alone.
    """
    gc.collect()
    gc.freeze()


class HealthManagerService(Service):
    """Heartbeats in; statuses, failovers and orphan clean-up out.

    By default a stale amphora is failed over through the worker's `failover_amphora`
    (the request is stored in the database) and the worker is woken with `wake`: the
    worker's own in `ostia up`, an oslo.messaging cast when `transport_url` is set, and
    otherwise nothing (the worker's sweep finds the request). `drivers` (loaded from the
    configuration when not given) delete the instances of orphan amphorae.
    """

    name = "octavia-health-manager"

    def __init__(
        self,
        conf: cfg.ConfigOpts,
        db: Database,
        request_failover: Callable[[str], bool] | None = None,
        on_orphan: Callable[[str, str | None], None] | None = None,
        *,
        drivers: WorkerDrivers | None = None,
        wake: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        self.conf = conf
        self.db = db
        self.metrics = HealthMetrics()
        self.actions = HealthActions(conf, db, drivers, wake)
        self.processor = HeartbeatProcessor(conf, db, self.metrics, on_orphan or self.actions.delete_orphan)
        self.detector = StaleAmphoraDetector(
            conf, db, request_failover or self.actions.failover, self.processor.heard_since
        )
        self.bound_address: tuple[str, int] | None = None
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def run(self) -> None:
        asyncio.run(self._main())

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        super().stop(timeout)
        if self._sock is not None:  # bound, but the loop never took it over
            self._sock.close()
            self._sock = None

    def start(self) -> None:
        """Bind the heartbeat port, then run; ServiceStartError if the port is taken."""
        require_heartbeat_key(self.conf)
        self._sock = self._socket()
        self.bound_address = self._sock.getsockname()[:2]
        super().start()

    def _socket(self) -> socket.socket:
        hm = self.conf.health_manager
        family = socket.AF_INET6 if ":" in hm.bind_ip else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        # Deliberately no SO_REUSEADDR/SO_REUSEPORT: a second health manager on this port
        # would take a share of the heartbeats, and each would fail over healthy amphorae
        # whose heartbeats the other one received.
        try:
            if hm.sock_rlimit > 0:
                _set_receive_buffer(sock, hm.sock_rlimit)
            sock.bind((hm.bind_ip, hm.bind_port))
        except OSError as err:
            sock.close()
            hint = " (is another health manager running?)" if err.errno == errno.EADDRINUSE else ""
            raise ServiceStartError(
                f"cannot receive heartbeats on {hm.bind_ip}:{hm.bind_port}/udp: {err.strerror or err}{hint}"
            ) from err
        sock.setblocking(False)
        return sock

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="health-db")
        try:
            await loop.run_in_executor(pool, self.processor.load_last_seqs)
        except Exception:  # only replay protection is weaker until amphorae report
            LOG.exception("could not read the amphorae's last heartbeat sequence numbers")
        sock, self._sock = self._sock or self._socket(), None
        reader = HeartbeatReader(self.processor, sock)
        reader.start(loop)
        self.bound_address = sock.getsockname()[:2]
        LOG.info("health manager listening on %s:%d/udp", *self.bound_address)
        tasks = [
            asyncio.create_task(self._flush_loop(pool)),
            asyncio.create_task(self._stale_loop(pool)),
            asyncio.create_task(self._metrics_loop()),
        ]
        try:
            # A thread of the default executor waits for the stop (no wake-ups at rest).
            await loop.run_in_executor(None, self.stopping.wait)
        finally:
            reader.stop()
            sock.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            pool.shutdown(wait=True)
            try:  # what was accepted before the stop is written, not dropped
                self.processor.flush()
            except Exception:
                LOG.exception("could not write the last heartbeats at stop")
            gc.unfreeze()  # the process may go on without this service: collect as usual
            self.processor.close()
            self.actions.close()
            # What this manager heard, for the operator of several managers sharing the
            # fleet (each should have processed about its share).
            LOG.info(
                "health manager stopped; heartbeats: %s",
                ", ".join(f"{k}={v}" for k, v in sorted(self.metrics.snapshot().items())) or "none",
            )

    def flush_interval(self) -> float:
        return float(self.conf.health_manager.status_flush_interval)

    async def _flush_loop(self, pool: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        graphs = self.processor.graphs
        size_frozen = 0
        while True:
            started = loop.time()
            try:
                await loop.run_in_executor(pool, self.processor.flush)
                if len(graphs) - size_frozen >= GC_FREEZE_AFTER_GROWTH:
                    size_frozen = len(graphs)
                    await loop.run_in_executor(pool, freeze_long_lived)
            except Exception:
                LOG.exception("could not write heartbeat results; retrying next flush")
            # One flush per interval, start to start: under load a heartbeat waits for the
            # flush in progress and the next one, not for an extra interval besides.
            await asyncio.sleep(max(0.0, self.flush_interval() - (loop.time() - started)))

    async def _stale_loop(self, pool: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        hm = self.conf.health_manager
        # Give amphorae a full timeout to report after a (re)start before judging them,
        # so a health manager that was down does not fail over everything it missed.
        started = time.monotonic()
        while time.monotonic() - started < hm.heartbeat_timeout:
            await asyncio.sleep(min(1.0, hm.heartbeat_timeout))
        while True:
            try:
                await loop.run_in_executor(pool, self.detector.check)
            except Exception:
                LOG.exception("stale amphora scan failed; retrying next interval")
            await asyncio.sleep(hm.health_check_interval)

    async def _metrics_loop(self) -> None:
        while True:
            await asyncio.sleep(METRICS_LOG_INTERVAL)
            snapshot = self.metrics.snapshot()
            if snapshot:
                LOG.info("heartbeats: %s", ", ".join(f"{k}={v}" for k, v in sorted(snapshot.items())))


def _set_receive_buffer(sock: socket.socket, size: int) -> None:
    """SO_RCVBUF as `sock_rlimit` asks; as root beyond net.core.rmem_max (SO_RCVBUFFORCE),
    which otherwise silently caps it."""
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    try:
        if force is None:
            raise PermissionError
        sock.setsockopt(socket.SOL_SOCKET, force, size)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    LOG.info(
        "heartbeat socket receive buffer: %d bytes", sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    )
