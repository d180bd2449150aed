"""Two health managers on one PostgreSQL share a fleet and agree on its failovers.

Two real `octavia-health-manager` processes, each on its own UDP port, one database.
Simulated amphorae (rows as a settled deployment has them) send each heartbeat to the next
port in turn, as an agent does over its `controller_ip_port_list`, so each manager hears
every amphora every other second. One amphora goes silent: it is failed over exactly once
(the load balancer's status lock admits one claim), and no other amphora is.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from bench.heartbeat_fleet import SimulatedAmphora, heartbeat, populate
from ostia.common import constants as c
from ostia.common import heartbeat_format
from ostia.db import migration, models
from ostia.db.session import Database, create_db_engine
from tests.support.health_stack import free_udp_port

BIN = Path(sys.executable).parent
KEY = "scale-out-key"
FLEET = 150
TIMEOUT = 3


def _write_conf(tmp_path: Path, name: str, url: str, port: int) -> Path:
    path = tmp_path / f"{name}.conf"
    path.write_text(
        f"[database]\nconnection = {url}\n"
        f"[health_manager]\nbind_ip = 127.0.0.1\nbind_port = {port}\n"
        f"heartbeat_key = {KEY}\nheartbeat_interval = 1\n"
        f"heartbeat_timeout = {TIMEOUT}\nhealth_check_interval = 1\n"
        "status_flush_interval = 0.1\nstats_write_interval = 0.5\n"
    )
    return path


class Fleet(threading.Thread):
    """Every amphora once a second, round-robin over the managers; `silent` stop at
    `silence_at` (monotonic)."""

    def __init__(
        self, fleet: list[SimulatedAmphora], ports: list[int], silent: set[str], silence_at: float
    ) -> None:
        super().__init__(daemon=True)
        self.fleet, self.ports, self.silent, self.silence_at = fleet, ports, silent, silence_at
        self.stop = threading.Event()
        self.sent_to = dict.fromkeys(ports, 0)

    def run(self) -> None:
        import socket

        seqs = dict.fromkeys((amp.amphora_id for amp in self.fleet), 0)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while not self.stop.is_set():
                started = time.monotonic()
                for amp in self.fleet:
                    if amp.amphora_id in self.silent and started >= self.silence_at:
                        continue
                    seqs[amp.amphora_id] += 1
                    seq = seqs[amp.amphora_id]
                    port = self.ports[seq % len(self.ports)]
                    sock.sendto(heartbeat_format.encode(heartbeat(amp, seq), KEY), ("127.0.0.1", port))
                    self.sent_to[port] += 1
                self.stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))


def _wait(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return bool(predicate())


@pytest.fixture
def database(postgres):  # type: ignore[no-untyped-def]
    url = postgres.create_database(f"scale_out_{uuid.uuid4().hex[:8]}")
    db = Database(create_db_engine(url))
    migration.upgrade(db.engine)
    yield url, db
    db.dispose()


def test_two_managers_split_the_fleet_and_fail_a_silent_amphora_over_once(database, tmp_path):
    url, db = database
    fleet = populate(db, FLEET)
    silent = fleet[7].amphora_id
    ports = [free_udp_port(), free_udp_port()]
    logs = [tmp_path / f"hm{index}.log" for index in range(2)]
    managers: list[subprocess.Popen[bytes]] = []
    sender = None
    try:
        for index, port in enumerate(ports):
            conf = _write_conf(tmp_path, f"hm{index}", url, port)
            with open(logs[index], "wb") as log:
                managers.append(
                    subprocess.Popen(
                        [str(BIN / "octavia-health-manager"), "--config-file", str(conf)],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        assert _wait(lambda: all("listening on" in log.read_text() for log in logs), 60), [
            log.read_text() for log in logs
        ]
        sender = Fleet(fleet, ports, {silent}, time.monotonic() + 2.0)
        sender.start()

        def amphora_status(amphora_id: str) -> str:
            with db.transaction() as session:
                return str(session.get(models.Amphora, amphora_id).status)

        # Silent from t=2 s; the detectors start judging one timeout after their start.
        assert _wait(lambda: amphora_status(silent) == c.PENDING_DELETE, 30), [
            log.read_text() for log in logs
        ]
        # Two more timeouts of heartbeats for everybody else: nothing else moves.
        time.sleep(2 * TIMEOUT)
        sender.stop.set()
        sender.join(5)
    finally:
        if sender is not None:
            sender.stop.set()
        for process in managers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in managers:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    texts = [log.read_text() for log in logs]
    requested = [
        line
        for text in texts
        for line in text.splitlines()
        if "failover of amphora" in line and "requested" in line
    ]
    assert len(requested) == 1 and silent in requested[0], texts
    with db.transaction() as session:
        statuses = {
            amp_id: status
            for amp_id, status in session.execute(select(models.Amphora.id, models.Amphora.status))
        }
        lb_of = {
            amp_id: lb_id
            for amp_id, lb_id in session.execute(select(models.Amphora.id, models.Amphora.load_balancer_id))
        }
        lbs = {
            lb_id: status
            for lb_id, status in session.execute(
                select(models.LoadBalancer.id, models.LoadBalancer.provisioning_status)
            )
        }
    assert statuses.pop(silent) == c.PENDING_DELETE
    assert lbs.pop(lb_of[silent]) == c.PENDING_UPDATE
    assert set(statuses.values()) == {c.AMPHORA_ALLOCATED}, "a live amphora was failed over"
    assert set(lbs.values()) == {c.ACTIVE}
    # Each manager processed about its half of what was sent, and neither refused any
    # heartbeat the other one's sequence numbers made look replayed.
    for port, text in zip(ports, texts, strict=True):
        stopped = re.search(r"health manager stopped; heartbeats: (.*)", text)
        assert stopped is not None, text
        counts = dict(part.split("=") for part in stopped.group(1).split(", "))
        assert int(counts.get("processed", 0)) >= 0.9 * sender.sent_to[port], (counts, port)
        assert not {"replayed", "seq_jump", "late"} & set(counts), counts


def test_managers_writing_the_same_health_rows_at_once_do_not_deadlock(database):
    from ostia.controller.health import store
    from ostia.controller.health.sequence import SequenceState

    _, db = database
    fleet = populate(db, 2000)
    ids = [amp.amphora_id for amp in fleet]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def manager(order: list[str]) -> None:
        # What one manager's flush writes: every amphora it heard, in the order heard.
        start.wait()
        for round_ in range(8):
            seen = {amp: SequenceState(round_ + 1, time.time()) for amp in order}
            try:
                with db.transaction() as session:
                    store.record_alive(session, seen)
            except Exception as err:  # a deadlock: PostgreSQL aborts one of the two
                errors.append(err)

    threads = [threading.Thread(target=manager, args=(order,)) for order in (ids, ids[::-1])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
