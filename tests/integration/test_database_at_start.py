"""An existing database without Ostia's schema is not a fresh install (real processes).

A 0-byte `octavia.db` (a truncated file, a failed restore) or a file of another program
must stop `ostia up` and every service in one line, untouched, until the operator asks
for the schema explicitly: `ostia up --init-db` or `octavia-db-manage upgrade head`.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ostia.db import migration
from ostia.db.session import create_db_engine
from tests.support.health_stack import free_udp_port
from tests.support.live_api import free_port

BIN = Path(sys.executable).parent
SERVICES = ["octavia-api", "octavia-worker", "octavia-health-manager", "octavia-housekeeping"]


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / cmd[0]), *cmd[1:]], capture_output=True, text=True, timeout=60)


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def _tables(path: Path) -> list[str]:
    with sqlite3.connect(path) as connection:
        return sorted(
            row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        )


def _foreign_file(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        connection.execute("INSERT INTO invoices (total) VALUES (12.5)")


def _service_conf(tmp_path: Path, db: Path) -> Path:
    path = tmp_path / "octavia.conf"
    path.write_text(
        f"[database]\nconnection = sqlite:///{db}\n"
        f"[api_settings]\nbind_port = {free_port()}\nauth_strategy = noauth\n"
        f"[health_manager]\nbind_port = {free_udp_port()}\nheartbeat_key = k\n"
    )
    return path


def _ostia_up(tmp_path: Path, state: Path, port: int, *extra: str, **popen: object) -> list[str]:
    conf = tmp_path / "extra.conf"
    udp = free_udp_port()
    conf.write_text(f"[health_manager]\nbind_port = {udp}\ncontroller_ip_port_list = 127.0.0.1:{udp}\n")
    return [
        str(BIN / "ostia"),
        "up",
        "--port",
        str(port),
        "--state-dir",
        str(state),
        "--config-file",
        str(conf),
        *extra,
    ]


# ---- ostia up --------------------------------------------------------------------------


def test_ostia_up_refuses_a_zero_byte_database_file_and_leaves_it_alone(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "octavia.db").touch()
    result = subprocess.run(
        _ostia_up(tmp_path, state, free_port()), capture_output=True, text=True, timeout=60
    )
    line = _one_error_line(result)
    assert "octavia.db exists but is empty (0 bytes)" in line and "--init-db" in line, line
    assert (state / "octavia.db").stat().st_size == 0
    assert not (state / "ostia.pid").exists()


def test_ostia_up_refuses_a_database_file_of_another_program(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    _foreign_file(state / "octavia.db")
    result = subprocess.run(
        _ostia_up(tmp_path, state, free_port()), capture_output=True, text=True, timeout=60
    )
    line = _one_error_line(result)
    assert "holds tables (invoices) but no Ostia schema" in line and "--init-db" in line
    assert _tables(state / "octavia.db") == ["invoices"]


def test_ostia_up_init_db_creates_the_schema_in_an_empty_file_and_serves(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "octavia.db").touch()
    port = free_port()
    proc = subprocess.Popen(
        _ostia_up(tmp_path, state, port, "--init-db"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/v2/lbaas/loadbalancers", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "ostia up --init-db did not serve"
                time.sleep(0.1)
        assert answer.status_code == 200 and answer.json()["loadbalancers"] == []
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    engine = create_db_engine(f"sqlite:///{state / 'octavia.db'}")
    try:
        assert migration.current_revision(engine) == migration.head_revision()
    finally:
        engine.dispose()


# ---- the four services and octavia-db-manage --------------------------------------------


@pytest.mark.parametrize("command", SERVICES)
def test_service_refuses_a_zero_byte_database_in_one_line(tmp_path, command):
    db = tmp_path / "o.db"
    db.touch()
    line = _one_error_line(_run(command, "--config-file", str(_service_conf(tmp_path, db))))
    assert f"{db} exists but is empty (0 bytes)" in line, line
    assert "octavia-db-manage upgrade head" in line
    assert db.stat().st_size == 0


def test_service_refuses_a_foreign_outdated_or_missing_database(tmp_path):
    foreign = tmp_path / "foreign.db"
    _foreign_file(foreign)
    line = _one_error_line(_run("octavia-worker", "--config-file", str(_service_conf(tmp_path, foreign))))
    assert "holds tables (invoices) but no Ostia schema" in line
    assert _tables(foreign) == ["invoices"]

    old = tmp_path / "old.db"
    engine = create_db_engine(f"sqlite:///{old}")
    migration.upgrade(engine, "0002")
    engine.dispose()
    line = _one_error_line(_run("octavia-housekeeping", "--config-file", str(_service_conf(tmp_path, old))))
    assert f"is at revision 0002, this Ostia needs {migration.head_revision()}" in line
    assert "upgrade it with `octavia-db-manage upgrade head`" in line

    missing = tmp_path / "missing.db"
    line = _one_error_line(_run("octavia-api", "--config-file", str(_service_conf(tmp_path, missing))))
    assert "does not exist" in line and "octavia-db-manage upgrade head" in line
    assert not missing.exists()


def test_db_manage_upgrade_is_the_explicit_initialisation_for_services(tmp_path):
    db = tmp_path / "o.db"
    db.touch()
    conf = _service_conf(tmp_path, db)
    current = _run("octavia-db-manage", "--config-file", str(conf), "current")
    assert current.returncode == 0 and "(empty)" in current.stdout
    upgraded = _run("octavia-db-manage", "--config-file", str(conf), "upgrade", "head")
    assert upgraded.returncode == 0, upgraded.stderr
    proc = subprocess.Popen(
        [str(BIN / "octavia-housekeeping"), "--config-file", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        time.sleep(3)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)


def test_db_manage_current_does_not_create_a_missing_file(tmp_path):
    missing = tmp_path / "missing.db"
    current = _run("octavia-db-manage", "--config-file", str(_service_conf(tmp_path, missing)), "current")
    assert current.returncode == 0 and "(empty)" in current.stdout
    assert not missing.exists()
