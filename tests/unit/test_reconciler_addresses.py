"""A stored address that is not plain (a row written before the API refused zone ids, or by
hand) stops the reconciler with the field named; it never reaches an amphora."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ostia.common import constants as c
from ostia.controller.worker.reconciler import Outcome
from ostia.db import models
from tests.support.worker_fakes import WorkerEnv, worker_env

INJECTED = "fe80::1%x ssl verify none sni env(HOME)"


@pytest.fixture
def env(db_url: str) -> Iterator[WorkerEnv]:
    with worker_env(db_url) as environment:
        yield environment


def test_a_stored_zone_id_fails_the_render_and_nothing_is_pushed(env: WorkerEnv):
    lb_id = env.store_lb(members=1)
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.SETTLED
    pool = env.lb(lb_id).pools[0]
    with env.db.transaction() as session:
        session.add(
            models.Member(
                project_id="p1",
                pool_id=pool.id,
                ip_address=INJECTED,
                protocol_port=9100,
                provisioning_status=c.PENDING_CREATE,
                operating_status=c.OFFLINE,
                enabled=True,
                weight=1,
            )
        )
    env.set_status(lb_id, c.PENDING_UPDATE)
    env.reset_counts()
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.FAILED
    assert not [
        call for call in env.amphora.calls_named("upload_haproxy_config") if "env(HOME)" in str(call.args)
    ]
    lb = env.lb(lb_id)
    assert "member.address" in (lb.last_error or ""), lb.last_error
    assert "not a plain IP address" in (lb.last_error or "")
