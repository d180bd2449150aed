"""Wake-ups over a real (private) RabbitMQ: the API casts, workers' RPC servers reconcile.

If RabbitMQ cannot start, these tests fail (they never skip) with the broker's log.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ostia.cmd.api import _wake_over_messaging
from ostia.common import constants as c
from ostia.common.messaging import WakeCaster, WakeServer
from ostia.controller.worker.service import WorkerService
from ostia.db import models
from tests.support.live_api import running_api
from tests.support.objects import create_lb
from tests.support.postgres import PostgresServer
from tests.support.rabbitmq import RabbitMQBroker
from tests.support.worker_fakes import WorkerEnv, worker_env


@pytest.fixture(scope="module")
def broker() -> Iterator[RabbitMQBroker]:
    with RabbitMQBroker() as running:
        yield running


def messaging_overrides(broker: RabbitMQBroker, sweep: float = 60.0) -> dict[str, dict[str, Any]]:
    # A long sweep interval: only the message can wake the worker in time.
    return {"DEFAULT": {"transport_url": broker.url}, "reconciler": {"sweep_interval": sweep}}


API_OVERRIDES = {"api_settings": {"default_provider_driver": "amphora"}}


@contextlib.contextmanager
def running_worker(env: WorkerEnv) -> Iterator[WorkerService]:
    worker = WorkerService(env.conf, env.db, drivers=env.drivers, rpc=True)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def wait_for_status(env: WorkerEnv, lb_ids: list[str], status: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with env.db.transaction() as session:
            current = {lb_id: session.get(models.LoadBalancer, lb_id).provisioning_status for lb_id in lb_ids}
        if all(value == status for value in current.values()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not all {status} after {timeout} s: {current}")
        time.sleep(0.05)


def test_a_cast_reaches_the_rpc_server(broker: RabbitMQBroker, tmp_path):  # type: ignore[no-untyped-def]
    with worker_env(f"sqlite:///{tmp_path}/octavia.db", messaging_overrides(broker)) as env:
        received: list[str] = []
        server = WakeServer(env.conf, received.append, server="test-host")
        server.start()
        caster = WakeCaster(env.conf)
        try:
            started = time.monotonic()
            caster("lb-1")
            while not received and time.monotonic() - started < 10:
                time.sleep(0.01)
            assert received == ["lb-1"]
        finally:
            caster.close()
            server.stop()


def test_api_casts_and_the_worker_reconciles_to_active(broker: RabbitMQBroker, tmp_path):  # type: ignore[no-untyped-def]
    db_url = f"sqlite:///{tmp_path}/octavia.db"
    with worker_env(db_url, messaging_overrides(broker)) as env, running_worker(env):
        wake = _wake_over_messaging(env.conf)  # what octavia-api wires in
        assert isinstance(wake, WakeCaster)
        try:
            with running_api(db_url, API_OVERRIDES, wake=wake) as api, api.client() as http:
                lb = create_lb(http)
                assert lb["provisioning_status"] == c.PENDING_CREATE
                wait_for_status(env, [lb["id"]], c.ACTIVE, timeout=10)
                amps = env.amphorae(lb["id"])
                assert [a.status for a in amps] == [c.AMPHORA_ALLOCATED]
        finally:
            wake.close()


class OverlapRecorder:
    """Records which worker works on which LB when, to prove no two overlap on one LB."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: dict[str, str] = {}
        self.overlaps: list[tuple[str, str, str]] = []
        self.by_worker: collections.Counter[str] = collections.Counter()

    def wrap(self, env: WorkerEnv, name: str) -> None:
        original = env.amphora.plug_vip

        def plug_vip(amp, vip, net_info, timeouts=None):  # type: ignore[no-untyped-def]
            lb_id = vip  # one VIP per LB in this test
            with self.lock:
                if lb_id in self.active:
                    self.overlaps.append((lb_id, self.active[lb_id], name))
                self.active[lb_id] = name
                self.by_worker[name] += 1
            try:
                time.sleep(0.05)  # widen the window a broken lease would let through
                return original(amp, vip, net_info, timeouts)
            finally:
                with self.lock:
                    self.active.pop(lb_id, None)

        env.amphora.plug_vip = plug_vip  # type: ignore[method-assign]


def test_two_workers_on_postgresql_share_the_work_but_never_an_lb(
    broker: RabbitMQBroker, postgres: PostgresServer
) -> None:
    db_url = postgres.create_database("ostia_two_workers")
    overrides = messaging_overrides(broker, sweep=0.3)
    recorder = OverlapRecorder()
    with worker_env(db_url, overrides) as env_a, worker_env(db_url, overrides) as env_b:
        recorder.wrap(env_a, "a")
        recorder.wrap(env_b, "b")
        wake = WakeCaster(env_a.conf)
        try:
            with (
                running_worker(env_a) as worker_a,
                running_worker(env_b) as worker_b,
                running_api(db_url, API_OVERRIDES, wake=wake) as api,
                api.client() as http,
            ):
                lb_ids = [create_lb(http, vip_address=f"127.2.0.{20 + i}")["id"] for i in range(12)]
                for lb_id in lb_ids:  # duplicate wake-ups: both workers go for the same LB
                    wake(lb_id)
                wait_for_status(env_a, lb_ids, c.ACTIVE, timeout=60)
                assert worker_a.owner != worker_b.owner
        finally:
            wake.close()
        print("work per worker", dict(recorder.by_worker))
        assert recorder.overlaps == []
        assert recorder.by_worker["a"] > 0 and recorder.by_worker["b"] > 0, recorder.by_worker
        # Each LB was configured exactly once and has exactly one amphora.
        assert sum(recorder.by_worker.values()) == len(lb_ids)
        for lb_id in lb_ids:
            assert [a.status for a in env_a.amphorae(lb_id)] == [c.AMPHORA_ALLOCATED]
