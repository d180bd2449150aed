"""The worker's log: each object's transition out of PENDING_*, under the request's id."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from ostia.common import constants as c
from ostia.common.request_id import RequestIdFilter
from ostia.db import models
from tests.support.worker_fakes import WorkerEnv, worker_env

REQUEST = "req-0b3c1e2a-5d6f-4a7b-8c9d-0e1f2a3b4c5d"


@pytest.fixture
def env(tmp_path) -> Iterator[WorkerEnv]:
    with worker_env(f"sqlite:///{tmp_path}/octavia.db") as environment:
        yield environment


@pytest.fixture
def worker_log(caplog):
    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.INFO, logger="ostia.controller.worker")
    return caplog


def _lines(caplog) -> list[tuple[str, str, str]]:
    return [
        (r.levelname, r.request_id, r.getMessage())
        for r in caplog.records
        if r.name.startswith("ostia.controller.worker")
    ]


def test_each_object_going_active_is_logged_under_the_request_id(env: WorkerEnv, worker_log):
    lb_id = env.store_lb(members=2)
    env.update(models.LoadBalancer, lb_id, request_id=REQUEST)
    env.reconciler().reconcile(lb_id)
    lines = _lines(worker_log)
    assert lines and {ident for _level, ident, _text in lines} == {REQUEST}
    lb = env.lb(lb_id)
    member_ids = [m.id for p in lb.pools for m in p.members]
    texts = [text for _level, _ident, text in lines]
    for member_id in member_ids:
        assert f"member {member_id}: PENDING_CREATE -> ACTIVE" in texts
    assert f"listener {lb.listeners[0].id}: PENDING_CREATE -> ACTIVE" in texts
    assert f"load balancer {lb_id}: PENDING_CREATE -> ACTIVE" in texts


def test_going_to_error_is_logged_with_the_reason(env: WorkerEnv, worker_log):
    lb_id = env.store_lb(members=1)
    env.update(models.LoadBalancer, lb_id, request_id=REQUEST)
    env.compute.fail_builds = 100
    reconciler = env.reconciler()
    for _ in range(3):  # max_attempts = 3
        env.update(models.LoadBalancer, lb_id, lease_expires=None)
        reconciler.reconcile(lb_id)
    assert env.lb(lb_id).provisioning_status == c.ERROR
    errors = [(ident, text) for level, ident, text in _lines(worker_log) if level == "ERROR"]
    lb_line = [
        text for ident, text in errors if text.startswith(f"load balancer {lb_id}: PENDING_CREATE -> ERROR")
    ]
    assert lb_line and "compute build failed" in lb_line[0]
    assert all(ident == REQUEST for ident, _text in errors)


def test_the_request_id_is_unbound_after_the_attempt(env: WorkerEnv, worker_log):
    from ostia.common import request_id

    lb_id = env.store_lb(members=0)
    env.update(models.LoadBalancer, lb_id, request_id=REQUEST)
    env.reconciler().reconcile(lb_id)
    assert request_id.current() is None


def test_a_failover_nobody_asked_for_over_http_gets_its_own_request_id(env: WorkerEnv, worker_log):
    from ostia.controller.worker import failover

    lb_id = env.store_lb(members=0)
    env.update(models.LoadBalancer, lb_id, request_id=REQUEST)
    env.reconciler().reconcile(lb_id)
    (amp,) = [a for a in env.amphorae(lb_id) if a.status != c.DELETED]
    worker_log.clear()
    assert failover.failover_amphora(env.db, env.drivers, amp.id, wake=lambda _id: None)
    fresh = env.lb(lb_id).request_id
    assert fresh and fresh != REQUEST and fresh.startswith("req-")
    requested = [r for r in worker_log.records if "failover of amphora" in r.getMessage()]
    assert [r.request_id for r in requested] == [fresh]
    env.reconciler().reconcile(lb_id)
    assert {r.request_id for r in worker_log.records if "PENDING_UPDATE -> ACTIVE" in r.getMessage()} == {
        fresh
    }
