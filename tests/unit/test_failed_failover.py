"""A failover whose replacement fails leaves one amphora per role and a clear state.

The reconciler with noop drivers on SQLite and PostgreSQL (the `db_url` fixture). Before,
the replaced amphora stayed PENDING_DELETE and its replacement BOOTING, both running,
neither watched by the health manager nor released, until an operator noticed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ostia.common import constants as c
from ostia.common import exceptions
from ostia.controller.worker import failover
from ostia.controller.worker.reconciler import Outcome
from ostia.db import models
from tests.support.worker_fakes import WorkerEnv, worker_env


@pytest.fixture
def env(db_url: str) -> Iterator[WorkerEnv]:
    with worker_env(db_url) as environment:
        yield environment


def _serving_lb(env: WorkerEnv) -> tuple[str, models.Amphora]:
    lb_id = env.store_lb()
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.SETTLED
    (amp,) = env.amphorae(lb_id)
    with env.db.transaction() as session:
        session.add(models.AmphoraHealth(amphora_id=amp.id, last_update=models.utcnow(), busy=False))
    return lb_id, amp


def _refuse_configs_except_on(env: WorkerEnv, amphora_id: str) -> None:
    """Like an agent whose haproxy refuses the configuration: a 400, not retried."""
    upload = env.amphora.upload_haproxy_config

    def refusing(amp: Any, lb_id: str, config: Any, timeouts: Any = None) -> str:
        if amp.id != amphora_id:
            raise exceptions.AgentInvalidRequest("Invalid request", "cannot bind socket")
        return upload(amp, lb_id, config, timeouts)

    env.amphora.upload_haproxy_config = refusing  # type: ignore[method-assign]


def _failover(env: WorkerEnv, amp: models.Amphora) -> str:
    assert failover.failover_amphora(env.db, env.drivers, amp.id, lambda _: None)
    with env.db.transaction() as session:  # as the health manager marks it
        session.get(models.AmphoraHealth, amp.id).busy = True
    result = env.reconciler().reconcile(amp.load_balancer_id)
    assert result.outcome is Outcome.FAILED, result
    return result.error or ""


def _statuses(env: WorkerEnv, lb_id: str) -> dict[str, str]:
    return {a.id: a.status for a in env.amphorae(lb_id)}


def test_a_working_amphora_whose_replacement_is_refused_keeps_serving(env: WorkerEnv):
    lb_id, old = _serving_lb(env)
    _refuse_configs_except_on(env, old.id)
    assert "cannot bind socket" in _failover(env, old)
    statuses = _statuses(env, lb_id)
    assert statuses.pop(old.id) == c.AMPHORA_ALLOCATED
    assert list(statuses.values()) == [c.DELETED]
    assert [i.amphora_id for i in env.compute.list_instances()] == [old.id]
    with env.db.transaction() as session:
        health = session.get(models.AmphoraHealth, old.id)
        assert health.busy is False  # watched again by the health manager
        age = (models.utcnow() - health.last_update).total_seconds()
        assert age < 5
    assert env.lb(lb_id).provisioning_status == c.ERROR
    # The amphora left is the one the next change uses: nothing is built.
    env.amphora.upload_haproxy_config = type(env.amphora).upload_haproxy_config.__get__(env.amphora)  # type: ignore[method-assign]
    env.set_status(lb_id, c.PENDING_UPDATE)
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.SETTLED
    assert _statuses(env, lb_id)[old.id] == c.AMPHORA_ALLOCATED
    assert len(env.compute.list_instances()) == 1


def test_a_dead_amphora_whose_replacement_is_refused_hands_over_to_it(env: WorkerEnv):
    lb_id, old = _serving_lb(env)
    env.compute.kill(old.compute_id)
    _refuse_configs_except_on(env, old.id)
    _failover(env, old)
    statuses = _statuses(env, lb_id)
    assert statuses.pop(old.id) == c.DELETED
    ((new_id, new_status),) = statuses.items()
    assert new_status == c.AMPHORA_ALLOCATED
    assert [i.amphora_id for i in env.compute.list_instances()] == [new_id]
    with env.db.transaction() as session:  # the health manager judges it from now on
        assert session.get(models.AmphoraHealth, new_id).busy is False


def test_a_dead_amphora_that_cannot_be_replaced_leaves_no_half_built_row(env: WorkerEnv):
    lb_id, old = _serving_lb(env)
    env.compute.kill(old.compute_id)
    env.compute.fail_builds = 100
    assert failover.failover_amphora(env.db, env.drivers, old.id, lambda _: None)
    reconciler = env.reconciler()
    outcomes = []
    for _ in range(3):  # max_attempts = 3
        env.update(models.LoadBalancer, lb_id, lease_expires=None)
        outcomes.append(reconciler.reconcile(lb_id).outcome)
    assert outcomes[-1] is Outcome.FAILED
    # The dead amphora went first (steps.converge), no replacement could be built: no
    # row is left half-built, no instance runs, the load balancer says ERROR.
    assert set(_statuses(env, lb_id).values()) == {c.DELETED}
    assert env.compute.list_instances() == []
    assert env.lb(lb_id).provisioning_status == c.ERROR
    # An operator's failover of the ERROR load balancer replaces it once builds work.
    env.compute.fail_builds = 0
    assert env.request_failover(lb_id)
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.SETTLED
    assert sorted(_statuses(env, lb_id).values()).count(c.AMPHORA_ALLOCATED) == 1
