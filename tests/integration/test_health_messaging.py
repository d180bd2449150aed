"""A standalone health manager fails over through the worker over a real (private) RabbitMQ.

The failover request is stored by the worker's `failover_amphora`; the worker learns of it
from a `reconcile` cast (its sweep is set to a minute, so only the message can be in time).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator

import pytest

from ostia.common import constants as c
from ostia.controller.health.service import HealthManagerService
from ostia.db import models
from tests.integration.test_messaging import messaging_overrides, running_worker
from tests.support.rabbitmq import RabbitMQBroker
from tests.support.worker_fakes import worker_env


@pytest.fixture(scope="module")
def broker() -> Iterator[RabbitMQBroker]:
    with RabbitMQBroker() as running:
        yield running


def test_stale_amphora_is_replaced_by_a_worker_woken_over_messaging(broker: RabbitMQBroker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    overrides = messaging_overrides(broker)
    overrides["health_manager"] = {
        "heartbeat_timeout": 1,
        "health_check_interval": 1,
        "bind_ip": "127.0.0.1",
        "bind_port": 0,
    }
    with worker_env(f"sqlite:///{tmp_path}/octavia.db", overrides) as env, running_worker(env):
        lb_id = env.store_lb()
        env.reconciler().reconcile(lb_id)
        (old,) = env.amphorae(lb_id)
        assert env.lb(lb_id).provisioning_status == c.ACTIVE
        with env.db.transaction() as session:
            session.add(
                models.AmphoraHealth(
                    amphora_id=old.id,
                    busy=False,
                    last_update=models.utcnow() - datetime.timedelta(seconds=600),
                )
            )
        # As `octavia-health-manager` builds it: no wake-up given, transport_url set.
        manager = HealthManagerService(env.conf, env.db, drivers=env.drivers)
        manager.start()
        try:
            deadline = time.monotonic() + 20
            while True:
                amphorae = {a.id: a.status for a in env.amphorae(lb_id)}
                if (
                    amphorae.get(old.id) == c.DELETED
                    and len(amphorae) == 2
                    and env.lb(lb_id).provisioning_status == c.ACTIVE
                ):
                    break
                assert time.monotonic() < deadline, (amphorae, env.lb(lb_id).last_error)
                time.sleep(0.1)
        finally:
            manager.stop()
        (new,) = [a for a in env.amphorae(lb_id) if a.id != old.id]
        assert new.status == c.AMPHORA_ALLOCATED
