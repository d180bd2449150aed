"""The heartbeat port belongs to one health manager: a second one refuses to start.

Two real processes: with a shared port each would receive a part of the heartbeats and
fail over the amphorae whose heartbeats went to the other one.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.support.health_stack import free_udp_port
from tests.support.live_api import free_port

BIN = Path(sys.executable).parent


def _conf(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "octavia.conf"
    path.write_text(
        f"[database]\nconnection = sqlite:///{tmp_path}/o.db\n"
        f"[health_manager]\nbind_ip = 127.0.0.1\nbind_port = {port}\n"
        "heartbeat_key = k\n"
    )
    migrated = subprocess.run(
        [str(BIN / "octavia-db-manage"), "--config-file", str(path), "upgrade", "head"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert migrated.returncode == 0, migrated.stderr
    return path


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as err:
            return err.errno == errno.EADDRINUSE
    return False


def _wait_bound(proc: subprocess.Popen, port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"first health manager exited with {proc.returncode}"
        if _port_taken(port):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing bound UDP port {port} within {timeout} s")


def _one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def test_second_health_manager_on_the_same_port_fails_to_start_in_one_line(tmp_path):
    port = free_udp_port()
    conf = _conf(tmp_path, port)
    command = [str(BIN / "octavia-health-manager"), "--config-file", str(conf)]
    first = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        _wait_bound(first, port)
        second = subprocess.run(command, capture_output=True, text=True, timeout=30)
        assert second.returncode != 0, second.stderr
        line = _one_error_line(second.stderr)
        assert f"127.0.0.1:{port}/udp" in line and "in use" in line, line
        assert second.stderr.strip() == line, second.stderr  # nothing else either
        assert first.poll() is None, "the first health manager must keep running"
        assert _port_taken(port)
    finally:
        os.killpg(first.pid, signal.SIGTERM)
        try:
            first.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()


def test_ostia_up_stops_in_one_line_when_the_heartbeat_port_is_taken(tmp_path):
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    extra = tmp_path / "extra.conf"
    extra.write_text(f"[health_manager]\nbind_port = {port}\ncontroller_ip_port_list = 127.0.0.1:{port}\n")
    state = tmp_path / "state"
    api_port = free_port()
    try:
        result = subprocess.run(
            [
                str(BIN / "ostia"),
                "up",
                "--port",
                str(api_port),
                "--state-dir",
                str(state),
                "--config-file",
                str(extra),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            start_new_session=True,
        )
    finally:
        holder.close()
    assert result.returncode != 0, result.stderr
    line = _one_error_line(result.stderr)
    assert f"127.0.0.1:{port}/udp" in line and "in use" in line, line
    assert not (state / "ostia.pid").exists()
    # Nothing was left serving: the API port is free again.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", api_port))
