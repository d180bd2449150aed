"""The worker service around the reconciler: queue, threads, sweep, leftovers."""

from __future__ import annotations

import contextlib
import datetime
import threading
import time
from collections.abc import Iterator

from ostia.common import constants as c
from ostia.controller.worker.service import WorkerService
from ostia.controller.worker.work_queue import DestroyAmphora, ReconcileLoadBalancer, WorkQueue
from ostia.db import models
from ostia.db.failover_marks import mark_for_failover
from tests.support.worker_fakes import WorkerEnv, worker_env


def test_queue_hands_out_each_id_once_until_done() -> None:
    queue = WorkQueue()
    queue.put("lb-1")
    queue.put("lb-1")
    queue.put("lb-2")
    assert queue.get(0.1) == "lb-1"
    assert queue.get(0.1) == "lb-2"
    assert queue.get(0.05) is None
    queue.put("lb-1")  # while in flight: remembered, not handed out twice
    assert queue.get(0.05) is None
    queue.done("lb-1")
    assert queue.get(0.1) == "lb-1"


def test_queue_delays_and_an_earlier_request_wins() -> None:
    queue = WorkQueue()
    queue.put("lb-1", delay=10)
    assert queue.get(0.05) is None
    queue.put("lb-1", delay=0)
    assert queue.get(0.1) == "lb-1"
    queue.done("lb-1", retry_in=0.05)
    started = time.monotonic()
    assert queue.get(1) == "lb-1"
    assert time.monotonic() - started >= 0.04


def test_queue_keeps_a_load_balancer_and_an_amphora_of_the_same_id_apart() -> None:
    queue: WorkQueue[ReconcileLoadBalancer | DestroyAmphora] = WorkQueue()
    queue.put(ReconcileLoadBalancer("x"))
    queue.put(DestroyAmphora("x"))
    queue.put(ReconcileLoadBalancer("x"))
    assert queue.get(0.1) == ReconcileLoadBalancer("x")
    assert queue.get(0.1) == DestroyAmphora("x")
    assert queue.get(0.05) is None


def test_queue_close_releases_waiting_threads() -> None:
    queue = WorkQueue()
    got: list[str | None] = []
    thread = threading.Thread(target=lambda: got.append(queue.get(10)))
    thread.start()
    queue.close()
    thread.join(2)
    assert got == [None]


@contextlib.contextmanager
def running(env: WorkerEnv) -> Iterator[WorkerService]:
    worker = WorkerService(env.conf, env.db, drivers=env.drivers, rpc=False)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def wait_until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def status(env: WorkerEnv, lb_id: str) -> str:
    return env.lb(lb_id).provisioning_status


def test_a_wake_up_gets_the_lb_active(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A long sweep interval: only the wake-up can do it in time.
    with worker_env(f"sqlite:///{tmp_path}/o.db", {"reconciler": {"sweep_interval": 60}}) as env:
        with running(env) as worker:
            lb_id = env.store_lb()
            worker.wake(lb_id)
            wait_until(lambda: status(env, lb_id) == c.ACTIVE, timeout=5)


def test_the_sweep_finds_work_whose_wake_up_was_lost(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with worker_env(f"sqlite:///{tmp_path}/o.db") as env, running(env):
        lb_ids = [env.store_lb(vip=f"127.0.100.{30 + i}") for i in range(3)]
        wait_until(lambda: all(status(env, i) == c.ACTIVE for i in lb_ids))


def test_an_lb_held_by_a_dead_worker_is_taken_over_when_its_lease_expires(tmp_path) -> None:  # type: ignore[no-untyped-def]
    overrides = {"reconciler": {"lease_seconds": 1, "sweep_interval": 0.1}}
    with worker_env(f"sqlite:///{tmp_path}/o.db", overrides) as env:
        lb_id = env.store_lb()
        expires = models.utcnow() + datetime.timedelta(seconds=2)
        env.update(models.LoadBalancer, lb_id, lease_owner="dead-worker", lease_expires=expires)
        with running(env):
            time.sleep(0.3)
            if models.utcnow() < expires:
                assert status(env, lb_id) == c.PENDING_CREATE  # still held
            wait_until(lambda: status(env, lb_id) == c.ACTIVE, timeout=6)
            with env.db.transaction() as session:
                lb = session.get(models.LoadBalancer, lb_id)
                assert lb.updated_at is None or lb.updated_at >= expires


def test_a_failing_lb_retries_and_ends_in_error_without_blocking_others(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with worker_env(f"sqlite:///{tmp_path}/o.db") as env, running(env):
        env.compute.fail_builds = 3  # max_attempts = 3 in tests
        failing = env.store_lb()
        wait_until(lambda: status(env, failing) == c.ERROR)
        fine = env.store_lb(vip="127.0.100.40")
        wait_until(lambda: status(env, fine) == c.ACTIVE)
        assert env.compute.calls["build"] == 4
        assert "compute build failed" in env.lb(failing).last_error


def test_an_amphora_deleted_by_hand_is_cleaned_up_by_the_sweep(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with worker_env(f"sqlite:///{tmp_path}/o.db") as env:
        lb_id = env.store_lb()
        env.reconciler().reconcile(lb_id)
        (amp,) = env.amphorae(lb_id)
        # The amphora API's delete: an ERROR amphora goes PENDING_DELETE, the LB stays.
        env.update(models.Amphora, amp.id, status=c.PENDING_DELETE)
        with running(env):
            wait_until(lambda: env.amphorae(lb_id)[0].status == c.DELETED)
        assert env.compute.list_instances() == []
        assert status(env, lb_id) == c.ACTIVE


def test_failover_marks_written_by_the_api_are_replaced_by_the_worker(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with worker_env(f"sqlite:///{tmp_path}/o.db") as env:
        lb_id = env.store_lb()
        env.reconciler().reconcile(lb_id)
        (old,) = env.amphorae(lb_id)
        with env.db.transaction() as session:  # what PUT .../failover stores
            lb = session.get(models.LoadBalancer, lb_id)
            lb.provisioning_status = c.PENDING_UPDATE
            assert mark_for_failover(session, lb_id) == 1
        with running(env):  # no wake-up: the sweep finds it
            wait_until(lambda: status(env, lb_id) == c.ACTIVE)
        statuses = {a.id: a.status for a in env.amphorae(lb_id)}
        assert statuses.pop(old.id) == c.DELETED
        assert list(statuses.values()) == [c.AMPHORA_ALLOCATED]
