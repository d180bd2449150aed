"""The health manager over real UDP with a real database (no amphorae needed)."""

from __future__ import annotations

import datetime
import json
import os
import random
import socket
import time
import types
import uuid
import zlib

import pytest
from sqlalchemy import func, select

from ostia.common import heartbeat_format
from ostia.controller.health.service import HealthManagerService
from ostia.controller.worker.failover import failover_amphora
from ostia.db import migration, models
from ostia.db.session import Database, create_db_engine
from tests.support.live_api import migrated_sqlite, test_config

KEY = "test-heartbeat-key"
# Failovers of amphorae with a load balancer never reach the drivers.
NO_DRIVERS = None


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def db(request, tmp_path):
    """SQLite; tests marked with BOTH_DATABASES run on PostgreSQL too."""
    if getattr(request, "param", "sqlite") == "sqlite":
        url = migrated_sqlite(f"{tmp_path}/hm.db")
    else:
        url = request.getfixturevalue("postgres").create_database(f"hm_{uuid.uuid4().hex}")
    database = Database(create_db_engine(url))
    migration.upgrade(database.engine)
    yield database
    database.dispose()


BOTH_DATABASES = pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)


def _conf(db, **health):
    options = {
        "heartbeat_key": KEY,
        "bind_port": _free_udp_port(),
        "heartbeat_interval": 1,
        "heartbeat_timeout": 3,
        "health_check_interval": 1,
        "status_flush_interval": 0.05,
        "stats_write_interval": 0.05,
        **health,
    }
    return test_config(str(db.engine.url), {"health_manager": options})


def _graph(db, amphorae=1):
    """An ACTIVE LB with listener l, pool p (two members) and `amphorae` amphorae."""
    with db.transaction() as session:
        lb = models.LoadBalancer(provisioning_status="ACTIVE", operating_status="OFFLINE", project_id="p")
        session.add(lb)
        session.flush()
        pool = models.Pool(
            protocol="HTTP",
            lb_algorithm="ROUND_ROBIN",
            load_balancer_id=lb.id,
            provisioning_status="ACTIVE",
            operating_status="OFFLINE",
        )
        session.add(pool)
        session.flush()
        listener = models.Listener(
            protocol="HTTP",
            protocol_port=80,
            load_balancer_id=lb.id,
            default_pool_id=pool.id,
            provisioning_status="ACTIVE",
            operating_status="OFFLINE",
        )
        members = [
            models.Member(
                pool_id=pool.id,
                ip_address="127.0.0.1",
                protocol_port=p,
                provisioning_status="ACTIVE",
                operating_status="OFFLINE",
            )
            for p in (8001, 8002)
        ]
        amps = [
            models.Amphora(status="ALLOCATED", load_balancer_id=lb.id, role="STANDALONE")
            for _ in range(amphorae)
        ]
        session.add_all([listener, *members, *amps])
        session.flush()
        return {
            "lb": lb.id,
            "listener": listener.id,
            "pool": pool.id,
            "members": [m.id for m in members],
            "amphorae": [a.id for a in amps],
        }


def _message(graph, amphora_id, seq, members=("UP", "UP"), rx=100):
    return {
        "id": amphora_id,
        "seq": seq,
        "ver": 3,
        "listeners": {
            graph["listener"]: {
                "status": "OPEN",
                "stats": {"rx": rx, "tx": 2 * rx, "conns": 1, "totconns": 1, "ereq": 0},
            }
        },
        "pools": {
            f"{graph['pool']}:{graph['listener']}": {
                "status": "UP",
                "members": dict(zip(graph["members"], members, strict=True)),
            }
        },
    }


class Sender:
    def __init__(self, port):
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(self, payload, key=KEY):
        raw = payload if isinstance(payload, bytes) else heartbeat_format.encode(payload, key)
        self.sock.sendto(raw, ("127.0.0.1", self.port))


@pytest.fixture
def running(db):
    """Starts health managers whose failovers go through the worker's entry point.

    `running.failovers` lists the amphorae whose failover was recorded, `running.woken`
    the load balancers a worker was woken for.
    """
    services = []

    def request_failover(amphora_id):
        recorded = failover_amphora(db, NO_DRIVERS, amphora_id, woken.append)
        if recorded:
            failovers.append(amphora_id)
        return recorded

    def start(**health):
        service = HealthManagerService(_conf(db, **health), db, request_failover=request_failover)
        service.start()
        deadline = time.monotonic() + 5
        while service.bound_address is None and time.monotonic() < deadline:
            time.sleep(0.01)
        services.append(service)
        return service, Sender(service.bound_address[1])

    failovers: list[str] = []
    woken: list[str] = []
    start.failovers = failovers  # type: ignore[attr-defined]
    start.woken = woken  # type: ignore[attr-defined]
    yield start
    for service in services:
        service.stop()


def _wait(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _status(db, model, ident):
    with db.transaction() as session:
        return session.get(model, ident).operating_status


@BOTH_DATABASES
def test_heartbeats_set_operating_status_and_health(db, running):
    graph = _graph(db)
    service, sender = running()
    amp = graph["amphorae"][0]
    sender.send(_message(graph, amp, 1))
    assert _wait(lambda: _status(db, models.LoadBalancer, graph["lb"]) == "ONLINE")
    assert _status(db, models.Member, graph["members"][0]) == "ONLINE"
    assert _status(db, models.Pool, graph["pool"]) == "ONLINE"
    assert _status(db, models.Listener, graph["listener"]) == "ONLINE"
    with db.transaction() as session:
        assert session.get(models.AmphoraHealth, amp) is not None
    sender.send(_message(graph, amp, 2, members=("UP", "DOWN")))
    assert _wait(lambda: _status(db, models.Member, graph["members"][1]) == "ERROR")
    assert _status(db, models.Pool, graph["pool"]) == "DEGRADED"
    assert _status(db, models.LoadBalancer, graph["lb"]) == "DEGRADED"


@BOTH_DATABASES
def test_statistics_accumulate_deltas_per_amphora(db, running):
    graph = _graph(db, amphorae=2)
    _, sender = running()
    first, second = graph["amphorae"]
    for seq in range(1, 4):
        sender.send(_message(graph, first, seq, rx=10))
        time.sleep(0.1)
    sender.send(_message(graph, second, 1, rx=5))

    def total():
        with db.transaction() as session:
            return session.scalar(select(func.sum(models.ListenerStatistics.bytes_in)))

    assert _wait(lambda: total() == 35), total()


@BOTH_DATABASES
def test_statistics_are_summed_in_memory_and_written_once_per_interval(db, running):
    graph = _graph(db)
    amp = graph["amphorae"][0]
    service, sender = running(stats_write_interval=2.0)
    started = time.monotonic()
    for seq in range(1, 4):
        sender.send(_message(graph, amp, seq, rx=10))
        time.sleep(0.2)

    def row():
        with db.transaction() as session:
            found = session.get(models.ListenerStatistics, (graph["listener"], amp))
            return None if found is None else (found.bytes_in, found.bytes_out)

    # Statuses are written at once; the statistics wait for the interval...
    assert _wait(lambda: service.metrics.snapshot().get("processed", 0) == 3)
    assert _status(db, models.LoadBalancer, graph["lb"]) == "ONLINE"
    if time.monotonic() - started < 1.8:
        assert row() is None
    # ...and then arrive in one write, every delta counted.
    assert _wait(lambda: row() == (30, 60))


@BOTH_DATABASES
def test_a_late_heartbeat_keeps_its_amphora_alive_from_its_arrival_but_sets_no_status(db):
    from ostia.controller.health.receiver import HeartbeatProcessor

    graph = _graph(db)
    amp = graph["amphorae"][0]
    processor = HeartbeatProcessor(_conf(db), db)  # heartbeat_interval = 1 s
    arrived = time.time() - 2.5  # an overloaded manager gets to it 2.5 s after it came
    datagram = heartbeat_format.encode(_message(graph, amp, 1, members=("UP", "DOWN")), KEY)
    try:
        assert processor.accept(datagram, recv_time=arrived)
        processor.flush()
    finally:
        processor.close()
    assert processor.metrics.snapshot().get("late") == 1
    # Statuses from a heartbeat this old are not applied (as upstream)...
    assert _status(db, models.Member, graph["members"][1]) == "OFFLINE"
    # ...but the amphora was alive when it arrived: the stale detector counts from then.
    with db.transaction() as session:
        last = session.get(models.AmphoraHealth, amp).last_update
    heard = last.replace(tzinfo=datetime.UTC).timestamp()
    assert abs(heard - arrived) < 0.01, (heard, arrived)


@BOTH_DATABASES
def test_a_manager_behind_another_never_moves_last_update_back(db):
    from ostia.controller.health import store
    from ostia.controller.health.sequence import SequenceState

    amp = _graph(db)["amphorae"][0]
    now = time.time()
    # Manager A writes a heartbeat that arrived now; manager B, running 2 s behind, then
    # writes the one it received 2 s ago.
    for arrived, seq in ((now, 6), (now - 2.0, 5)):
        with db.transaction() as session:
            store.record_alive(session, {amp: SequenceState(seq, arrived)})
    with db.transaction() as session:
        last = session.get(models.AmphoraHealth, amp).last_update
    assert abs(last.replace(tzinfo=datetime.UTC).timestamp() - now) < 0.01


def test_a_heartbeat_not_written_yet_keeps_its_amphora_from_failover(db):
    from ostia.controller.health.receiver import HeartbeatProcessor
    from ostia.controller.health.stale import StaleAmphoraDetector

    graph = _graph(db, amphorae=2)
    heard, silent = graph["amphorae"]
    _age_health(db, graph["amphorae"], 600)
    conf = _conf(db)  # heartbeat_timeout = 3 s
    processor = HeartbeatProcessor(conf, db)
    requested: list[str] = []
    detector = StaleAmphoraDetector(
        conf, db, lambda amp: requested.append(amp) or True, processor.heard_since
    )
    try:
        # Accepted, still queued for the next flush (a manager behind its heartbeats).
        assert processor.accept(heartbeat_format.encode(_message(graph, heard, 1), KEY))
        assert detector.check() == [silent]
        # Once its last heartbeat is older than the timeout, it is stale like any other.
        later = models.utcnow() + datetime.timedelta(seconds=4)
        assert detector.check(now=later) == [heard]
    finally:
        processor.close()
    assert requested == [silent, heard]


def test_statistics_still_in_memory_are_written_when_the_manager_stops(db, running):
    graph = _graph(db)
    amp = graph["amphorae"][0]
    service, sender = running(stats_write_interval=600.0)
    sender.send(_message(graph, amp, 1, rx=70))
    assert _wait(lambda: service.metrics.snapshot().get("processed", 0) == 1)
    service.stop()
    with db.transaction() as session:
        assert session.get(models.ListenerStatistics, (graph["listener"], amp)).bytes_in == 70


def test_forged_replayed_and_garbage_datagrams_are_dropped_and_counted(db, running):
    graph = _graph(db)
    service, sender = running()
    amp = graph["amphorae"][0]
    sender.send(_message(graph, amp, 5))
    assert _wait(lambda: service.metrics.snapshot().get("processed", 0) == 1)
    sender.send(_message(graph, amp, 6, members=("DOWN", "DOWN")), key="wrong-key")
    sender.send(_message(graph, amp, 5, members=("DOWN", "DOWN")))  # replay of seq 5
    sender.send(b"\x00" * 10)
    compressed = zlib.compress(b"not json")
    sender.send(compressed + heartbeat_format.sign(compressed, KEY))
    sender.send(heartbeat_format.encode(_message(graph, amp, 7), KEY)[:-10])
    assert _wait(lambda: service.metrics.dropped() >= 5)
    counts = service.metrics.snapshot()
    assert counts["bad_signature"] >= 1 and counts["replayed"] == 1
    assert counts["bad_payload"] == 1 and counts["truncated"] >= 1
    time.sleep(0.3)
    assert _status(db, models.Member, graph["members"][0]) == "ONLINE"


def test_previous_key_is_accepted_during_rotation(db, running):
    graph = _graph(db)
    service, sender = running(heartbeat_key="new-key", previous_heartbeat_key=KEY)
    sender.send(_message(graph, graph["amphorae"][0], 1), key=KEY)
    assert _wait(lambda: _status(db, models.LoadBalancer, graph["lb"]) == "ONLINE")


def test_fuzzed_datagrams_never_crash_or_change_the_database(db, running):
    graph = _graph(db)
    service, sender = running()
    amp = graph["amphorae"][0]
    rng = random.Random(1234)
    valid = heartbeat_format.encode(_message(graph, amp, 1), KEY)
    sent = 0
    for _ in range(300):
        choice = rng.random()
        if choice < 0.4:
            raw = os.urandom(rng.randint(0, 2000))
        else:
            mutated = bytearray(valid)
            for _ in range(rng.randint(1, 8)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            raw = bytes(mutated)
        sender.send(raw)
        sent += 1
        if sent % 25 == 0:  # pace the burst so that loopback does not drop datagrams
            assert _wait(lambda n=sent: service.metrics.snapshot().get("received", 0) == n)
    assert service.metrics.dropped() == sent
    assert service.is_alive()
    assert _status(db, models.LoadBalancer, graph["lb"]) == "OFFLINE"
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(models.AmphoraHealth)) == 0


def _age_health(db, amphora_ids, seconds):
    old = models.utcnow() - datetime.timedelta(seconds=seconds)
    with db.transaction() as session:
        for amp in amphora_ids:
            session.merge(models.AmphoraHealth(amphora_id=amp, last_update=old, busy=False))


@BOTH_DATABASES
def test_stale_amphora_is_failed_over_once_even_with_two_health_managers(db, running):
    graph = _graph(db)
    _age_health(db, graph["amphorae"], 600)
    running(heartbeat_timeout=1)
    running(heartbeat_timeout=1)
    failovers = running.failovers
    assert _wait(lambda: len(failovers) >= 1, timeout=8)
    time.sleep(2.5)
    assert failovers == graph["amphorae"]
    assert running.woken == [graph["lb"]]
    with db.transaction() as session:
        assert session.get(models.LoadBalancer, graph["lb"]).provisioning_status == "PENDING_UPDATE"
        assert session.get(models.Amphora, graph["amphorae"][0]).status == "PENDING_DELETE"
        assert session.get(models.AmphoraHealth, graph["amphorae"][0]).busy is True


def test_storm_protection_stops_failovers_and_heartbeats_restore(db, running, caplog):
    graphs = [_graph(db) for _ in range(3)]
    amps = [g["amphorae"][0] for g in graphs]
    _age_health(db, amps, 600)
    service, sender = running(heartbeat_timeout=1, failover_threshold=2)
    assert _wait(lambda: _amp_statuses(db, amps) == {"FAILOVER_STOPPED"}, timeout=8)

    def storm_errors():
        return [
            r for r in caplog.records if r.levelname == "ERROR" and "failover_threshold" in r.getMessage()
        ]

    assert _wait(lambda: len(storm_errors()) >= 2, timeout=5)  # one per detection round
    assert running.failovers == []
    for graph in graphs:
        sender.send(_message(graph, graph["amphorae"][0], 1))
    assert _wait(lambda: _amp_statuses(db, amps) == {"ALLOCATED"})
    time.sleep(1.5)
    assert running.failovers == []


def _amp_statuses(db, amps):
    with db.transaction() as session:
        return {session.get(models.Amphora, a).status for a in amps}


class RecordingCompute:
    """A compute driver that only records what it was asked to delete."""

    def __init__(self):
        self.deleted: list[str] = []

    def delete(self, compute_id):
        self.deleted.append(compute_id)


def _start_with_compute(db, compute, **health):
    drivers = types.SimpleNamespace(compute=compute)
    service = HealthManagerService(
        _conf(db, **health),
        db,
        drivers=drivers,  # type: ignore[arg-type]
        wake=lambda lb_id: None,
    )
    service.start()
    assert _wait(lambda: service.bound_address is not None)
    return service, Sender(service.bound_address[1])


def _amphora(db, status, lb_id=None, compute_id="compute-1"):
    with db.transaction() as session:
        amp = models.Amphora(status=status, load_balancer_id=lb_id, compute_id=compute_id)
        session.add(amp)
        session.flush()
        return amp.id


@BOTH_DATABASES
def test_orphan_and_zombie_heartbeats_delete_the_instance_but_spares_live(db):
    compute = RecordingCompute()
    orphan = _amphora(db, "ALLOCATED", compute_id="orphan-vm")
    zombie = _amphora(db, "DELETED", compute_id="zombie-vm")
    spare = _amphora(db, "READY", compute_id="spare-vm")
    starting = _amphora(db, "BOOTING", compute_id="starting-vm")
    service, sender = _start_with_compute(db, compute)
    try:
        for seq in (1, 2):  # a second heartbeat must not delete twice
            for amp in (orphan, zombie, spare, starting):
                sender.send({"id": amp, "seq": seq, "ver": 3, "listeners": {}, "pools": {}})
            time.sleep(0.3)
        assert _wait(lambda: sorted(compute.deleted) == ["orphan-vm", "zombie-vm"])
        time.sleep(0.3)
        assert sorted(compute.deleted) == ["orphan-vm", "zombie-vm"]
        with db.transaction() as session:
            assert session.get(models.AmphoraHealth, spare) is not None
            assert session.get(models.AmphoraHealth, starting) is not None
            assert session.get(models.AmphoraHealth, orphan) is None
        assert service.metrics.snapshot()["no_load_balancer"] == 4
    finally:
        service.stop()


def test_busy_load_balancer_defers_the_failover_to_a_later_round(db, running):
    graph = _graph(db)
    with db.transaction() as session:
        session.get(models.LoadBalancer, graph["lb"]).provisioning_status = "PENDING_UPDATE"
    _age_health(db, graph["amphorae"], 600)
    running(heartbeat_timeout=1)
    time.sleep(2.5)  # a couple of rounds while the LB is busy
    assert running.failovers == []
    with db.transaction() as session:
        assert session.get(models.AmphoraHealth, graph["amphorae"][0]).busy is False
        session.get(models.LoadBalancer, graph["lb"]).provisioning_status = "ACTIVE"
    assert _wait(lambda: running.failovers == graph["amphorae"], timeout=5)


def test_failover_keeps_byte_counters_and_zeroes_the_dead_amphoras_connections(db, running):
    graph = _graph(db)
    amp = graph["amphorae"][0]
    service, sender = running(heartbeat_timeout=1)
    sender.send(_message(graph, amp, 1, rx=1000))

    def stats():
        with db.transaction() as session:
            row = session.get(models.ListenerStatistics, (graph["listener"], amp))
            return None if row is None else (row.bytes_in, row.active_connections)

    assert _wait(lambda: stats() == (1000, 1))
    assert _wait(lambda: running.failovers == [amp], timeout=8)
    # The dead amphora's connections are zeroed right after the request is recorded.
    assert _wait(lambda: stats() == (1000, 0))


def test_replays_are_refused_after_a_restart_but_a_restarted_agent_is_heard(db, running):
    graph = _graph(db)
    amp = graph["amphorae"][0]
    first, sender = running()
    sender.send(_message(graph, amp, 500))
    assert _wait(lambda: first.metrics.snapshot().get("processed", 0) == 1)
    first.stop()
    second, sender = running()  # a new manager knows seq 500 from the database
    sender.send(_message(graph, amp, 400))  # an old datagram, replayed
    sender.send(_message(graph, amp, 0, members=("UP", "DOWN")))  # the agent restarted
    assert _wait(lambda: second.metrics.snapshot().get("processed", 0) == 1)
    assert second.metrics.snapshot()["replayed"] == 1
    assert _wait(lambda: _status(db, models.Member, graph["members"][1]) == "ERROR")


@BOTH_DATABASES
def test_signed_but_malformed_heartbeats_neither_crash_nor_poison_a_batch(db, running):
    graph = _graph(db)
    amp = graph["amphorae"][0]
    service, sender = running()
    listener, pool = graph["listener"], f"{graph['pool']}:{graph['listener']}"
    weird = [
        {"id": 42, "seq": 1},
        {"id": "x" * 37, "seq": 1},
        {"id": amp, "seq": 2**40},
        {"id": amp, "seq": -1},
        {"id": amp, "seq": True},
        {"id": amp},
        [1, 2, 3],
        {"id": str(uuid.uuid4()), "seq": 1, "listeners": {}},  # nobody we know
        {"id": amp, "seq": 1, "ver": "3", "listeners": [listener], "pools": "UP"},
        {
            "id": amp,
            "seq": 2,
            "ver": 3,
            "listeners": {listener: {"status": ["OPEN"], "stats": {"rx": 10**30}}},
            "pools": {pool: {"status": None, "members": ["UP"]}, 7: {}},
        },
        {
            "id": amp,
            "seq": 3,
            "ver": 3,
            "listeners": {
                listener: {
                    "status": "OPEN",
                    "stats": {"rx": "1", "tx": -5, "conns": 1.5, "totconns": None, "ereq": 2**63},
                }
            },
            "pools": {pool: {"status": "UP", "members": {graph["members"][0]: {"a": 1}}}},
        },
    ]
    for message in weird:
        payload = zlib.compress(json.dumps(message).encode())
        sender.send(payload + heartbeat_format.sign(payload, KEY))
    time.sleep(0.5)
    sender.send(_message(graph, amp, 10, rx=7))
    assert _wait(lambda: _status(db, models.Member, graph["members"][1]) == "ONLINE")
    assert service.is_alive()
    counts = service.metrics.snapshot()
    assert "internal_error" not in counts and "stats_failed" not in counts, counts

    def bytes_in() -> int:
        with db.transaction() as session:
            stats = session.get(models.ListenerStatistics, (graph["listener"], amp))
            return -1 if stats is None else stats.bytes_in

    # Statistics have a writer thread of their own: they land shortly after the statuses.
    assert _wait(lambda: bytes_in() >= 7), bytes_in()
