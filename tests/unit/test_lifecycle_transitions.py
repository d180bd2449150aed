"""The load balancer's transitions into PENDING_* (`ostia.db.lifecycle`), the one copy the
API, the worker and the health manager use, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ostia.common import constants as c
from ostia.controller.worker import failover
from ostia.db import lifecycle, models
from tests.support.worker_fakes import WorkerEnv, worker_env


@pytest.fixture
def env(db_url: str) -> Iterator[WorkerEnv]:
    with worker_env(db_url) as environment:
        yield environment


def _serving_lb(env: WorkerEnv) -> tuple[str, str]:
    lb_id = env.store_lb(members=0)
    env.reconciler().reconcile(lb_id)
    (amp,) = env.amphorae(lb_id)
    assert amp.status == c.AMPHORA_ALLOCATED
    return lb_id, amp.id


def test_only_one_of_two_writers_takes_an_active_load_balancer(env: WorkerEnv):
    lb_id, _amp = _serving_lb(env)
    with env.db.transaction() as session:
        assert lifecycle.begin_update(session, lb_id)
        assert not lifecycle.begin_child_change(session, lb_id)
        assert not lifecycle.request_failover(session, lb_id)
    assert env.lb(lb_id).provisioning_status == c.PENDING_UPDATE


def test_a_load_balancer_in_error_takes_repairs_deletes_and_failovers_but_no_new_child(env: WorkerEnv):
    lb_id, _amp = _serving_lb(env)
    for begin, allowed in (
        (lambda s: lifecycle.begin_child_change(s, lb_id), False),
        (lambda s: lifecycle.begin_update(s, lb_id), False),
        (lambda s: lifecycle.begin_child_change(s, lb_id, repair=True), True),
        (lambda s: lifecycle.begin_delete(s, lb_id), True),
        (lambda s: lifecycle.request_failover(s, lb_id), True),
    ):
        env.update(
            models.LoadBalancer,
            lb_id,
            provisioning_status=c.ERROR,
            reconcile_attempts=3,
            last_error="refused",
        )
        with env.db.transaction() as session:
            assert begin(session) is allowed
        lb = env.lb(lb_id)
        if allowed:
            # A fresh start for the worker: attempts and the last error are cleared.
            assert lb.provisioning_status in (c.PENDING_UPDATE, c.PENDING_DELETE)
            assert (lb.reconcile_attempts, lb.last_error) == (0, None)
        else:
            assert (lb.provisioning_status, lb.last_error) == (c.ERROR, "refused")


def test_a_refused_failover_marks_no_amphora(env: WorkerEnv):
    lb_id, amp_id = _serving_lb(env)
    env.set_status(lb_id, c.PENDING_UPDATE)
    assert not env.request_failover(lb_id)
    with env.db.transaction() as session:
        assert not lifecycle.request_failover(session, lb_id, amp_id)
    assert [a.status for a in env.amphorae(lb_id)] == [c.AMPHORA_ALLOCATED]


def test_the_health_managers_failover_goes_through_the_same_transition(env: WorkerEnv):
    lb_id, amp_id = _serving_lb(env)
    env.set_status(lb_id, c.PENDING_UPDATE)
    assert not failover.failover_amphora(env.db, env.drivers, amp_id, wake=lambda _id: None)
    env.set_status(lb_id, c.ERROR)
    woken: list[str] = []
    assert failover.failover_amphora(env.db, env.drivers, amp_id, wake=woken.append)
    assert woken == [lb_id]
    assert env.lb(lb_id).provisioning_status == c.PENDING_UPDATE
    assert [a.status for a in env.amphorae(lb_id)] == [c.PENDING_DELETE]
