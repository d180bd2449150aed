"""A heartbeat that lists fewer listeners than the load balancer has keeps its amphora alive.

Real health manager over real UDP on SQLite and PostgreSQL (fixtures and helpers of
test_health_manager). The listener the amphora does not report is the one that failed.
"""

from __future__ import annotations

import time

from ostia.db import models
from tests.integration import test_health_manager as hm
from tests.integration.test_health_manager import BOTH_DATABASES, _graph, _message, _status, _wait

# The fixtures of test_health_manager, under their names here.
db = hm.db
running = hm.running


def _add_listener(db, graph):  # type: ignore[no-untyped-def]
    with db.transaction() as session:
        listener = models.Listener(
            protocol="TCP",
            protocol_port=81,
            load_balancer_id=graph["lb"],
            provisioning_status="ACTIVE",
            operating_status="ONLINE",
        )
        session.add(listener)
        session.flush()
        return listener.id


@BOTH_DATABASES
def test_amphora_missing_a_listener_stays_alive_and_only_that_listener_is_error(db, running):
    graph = _graph(db)
    missing = _add_listener(db, graph)
    amp = graph["amphorae"][0]
    service, sender = running()  # heartbeat_timeout 3 s, checked every second
    started = time.monotonic()
    seq = 0
    # Twice the timeout of heartbeats that lack the second listener.
    while time.monotonic() - started < 6.5:
        seq += 1
        sender.send(_message(graph, amp, seq))
        time.sleep(0.5)
    assert _wait(lambda: _status(db, models.Listener, missing) == "ERROR")
    assert running.failovers == []
    with db.transaction() as session:
        row = session.get(models.Amphora, amp)
        health = session.get(models.AmphoraHealth, amp)
        assert row.status == "ALLOCATED"
        assert health.busy is False and health.last_seq == seq
        age = models.utcnow() - health.last_update
        assert age.total_seconds() < 2, age
        assert session.get(models.LoadBalancer, graph["lb"]).provisioning_status == "ACTIVE"
    assert _status(db, models.Listener, graph["listener"]) == "ONLINE"
    assert _status(db, models.LoadBalancer, graph["lb"]) == "DEGRADED"
    assert service.metrics.snapshot().get("processed", 0) >= seq - 1

    # The listener comes up (the port was freed and the tenant retried): all ONLINE.
    message = _message(graph, amp, seq + 1)
    message["listeners"][missing] = {"status": "OPEN", "stats": {}}
    sender.send(message)
    assert _wait(lambda: _status(db, models.Listener, missing) == "ONLINE")
    assert _wait(lambda: _status(db, models.LoadBalancer, graph["lb"]) == "ONLINE")
