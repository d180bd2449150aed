# ruff: noqa: F811 - the fixtures `db` and `running` are imported, then used as arguments
"""Replay protection over real UDP: signed datagrams to a running health manager.

A captured heartbeat is validly signed forever. These tests replay such datagrams and
check what an operator would see: member statuses that do not flip, and a dead amphora
that is failed over although its old heartbeats keep arriving.
"""

from __future__ import annotations

import time

from ostia.common import heartbeat_format
from ostia.db import models
from tests.integration.agent_fixtures import (  # noqa: F401 (fixtures)
    HEARTBEAT_KEY,
    agent_ca,
    local_agent,
)
from tests.integration.test_health_manager import (  # noqa: F401 (fixtures)
    BOTH_DATABASES,
    KEY,
    _graph,
    _message,
    _status,
    _wait,
    db,
    running,
)

BOOT_A, BOOT_B = "a1" * 16, "b2" * 16


def _beat(graph, amp, seq, boot_id=None, members=("UP", "UP")) -> bytes:
    message = _message(graph, amp, seq, members=members)
    if boot_id is not None:
        message[heartbeat_format.BOOT_ID_FIELD] = boot_id
    return heartbeat_format.encode(message, KEY)


def _processed(service) -> int:
    return service.metrics.snapshot().get("processed", 0)


def _last_update(db, amp):
    with db.transaction() as session:
        row = session.get(models.AmphoraHealth, amp)
        return None if row is None else row.last_update


def test_old_boot_replayed_after_restarts_neither_keeps_a_dead_amphora_alive_nor_flips_members(db, running):
    graph = _graph(db)
    amp, member = graph["amphorae"][0], graph["members"][1]
    first, sender = running()
    captured = [_beat(graph, amp, seq, BOOT_A) for seq in range(4)]  # member UP
    for datagram in captured:
        sender.send(datagram)
        time.sleep(0.05)
    assert _wait(lambda: _processed(first) == 4)
    # The agent restarts (new boot, counting from 0) and reports the member down.
    down = _beat(graph, amp, 0, BOOT_B, members=("UP", "DOWN"))
    sender.send(down)
    assert _wait(lambda: _status(db, models.Member, member) == "ERROR")
    first.stop()

    # A new manager learns the amphora's boots from the database; then the amphora dies,
    # and only its captured datagrams arrive.
    second, sender = running(heartbeat_timeout=2)
    heard = _last_update(db, amp)
    deadline = time.monotonic() + 8
    while not running.failovers and time.monotonic() < deadline:
        for datagram in (*captured, down):
            sender.send(datagram)
        time.sleep(0.2)
    assert running.failovers == [amp], "replays kept a dead amphora alive"
    counts = second.metrics.snapshot()
    assert counts.get("old_boot", 0) >= 4 and counts.get("replayed", 0) >= 1, counts
    assert counts.get("processed", 0) == 0, counts
    assert _status(db, models.Member, member) == "ERROR"
    assert _last_update(db, amp) == heard


def test_huge_seq_is_refused_and_genuine_heartbeats_keep_being_accepted(db, running):
    graph = _graph(db)
    amp, member = graph["amphorae"][0], graph["members"][1]
    service, sender = running()
    sender.send(_beat(graph, amp, 1, BOOT_A))
    assert _wait(lambda: _processed(service) == 1)
    sender.send(_beat(graph, amp, 2**31 - 1, BOOT_A, members=("DOWN", "DOWN")))
    assert _wait(lambda: service.metrics.snapshot().get("seq_jump", 0) == 1)
    for seq in (2, 3):
        sender.send(_beat(graph, amp, seq, BOOT_A, members=("UP", "DOWN")))
        time.sleep(0.1)
    assert _wait(lambda: _processed(service) == 3), service.metrics.snapshot()
    assert _wait(lambda: _status(db, models.Member, member) == "ERROR")
    assert _status(db, models.Member, graph["members"][0]) == "ONLINE"
    assert service.metrics.snapshot().get("replayed", 0) == 0


@BOTH_DATABASES
def test_new_boot_id_with_a_sequence_reset_is_accepted_also_after_a_manager_restart(db, running):
    graph = _graph(db)
    amp, member = graph["amphorae"][0], graph["members"][1]
    first, sender = running()
    sender.send(_beat(graph, amp, 700, BOOT_A))
    assert _wait(lambda: _processed(first) == 1)
    first.stop()
    second, sender = running()
    sender.send(_beat(graph, amp, 0, BOOT_B, members=("UP", "DOWN")))
    assert _wait(lambda: _status(db, models.Member, member) == "ERROR")
    assert _processed(second) == 1
    with db.transaction() as session:
        row = session.get(models.AmphoraHealth, amp)
        assert (row.last_seq, row.boot_id, row.previous_boot_ids) == (0, BOOT_B, BOOT_A)


def test_upstream_heartbeats_without_boot_id_keep_todays_rules(db, running):
    graph = _graph(db)
    amp, member = graph["amphorae"][0], graph["members"][1]
    service, sender = running()
    for seq in (1, 2):
        sender.send(_beat(graph, amp, seq))
        time.sleep(0.1)
    assert _wait(lambda: _processed(service) == 2)
    sender.send(_beat(graph, amp, 2, members=("DOWN", "DOWN")))  # a replay
    sender.send(_beat(graph, amp, 0, members=("UP", "DOWN")))  # its agent restarted
    assert _wait(lambda: _status(db, models.Member, member) == "ERROR")
    assert _processed(service) == 3
    assert service.metrics.snapshot()["replayed"] == 1
    assert _status(db, models.Member, graph["members"][0]) == "ONLINE"
    with db.transaction() as session:
        assert session.get(models.AmphoraHealth, amp).boot_id is None


def _health_row(db, amp):
    with db.transaction() as session:
        row = session.get(models.AmphoraHealth, amp)
        return None if row is None else (row.boot_id, row.last_seq, row.previous_boot_ids)


def test_a_real_agent_restarted_is_heard_with_a_new_boot(db, running, agent_ca):
    assert HEARTBEAT_KEY == KEY  # the agent signs with the key the manager checks
    service, sender = running(heartbeat_interval=1)
    with local_agent(agent_ca, sender.port) as agent:
        with db.transaction() as session:  # a spare: heard without a load balancer
            session.add(models.Amphora(id=agent.amphora_id, status="READY"))
        assert _wait(lambda: (_health_row(db, agent.amphora_id) or (None, 0))[1] >= 2, timeout=10), (
            _health_row(db, agent.amphora_id)
        )
        first_boot = _health_row(db, agent.amphora_id)[0]
        assert first_boot and len(first_boot) == 32
        agent.kill()
        agent.start()
        assert _wait(lambda: _health_row(db, agent.amphora_id)[0] not in (None, first_boot), timeout=10), (
            _health_row(db, agent.amphora_id)
        )
        boot, seq, previous = _health_row(db, agent.amphora_id)
        assert seq < 5 and previous == first_boot
        counts = service.metrics.snapshot()
        assert not any(counts.get(kind) for kind in ("replayed", "old_boot", "seq_jump")), counts
