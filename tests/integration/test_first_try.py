"""What a new operator trips over on a first try of `ostia up`, each as a real process.

Every `ostia` here runs with a private HOME and XDG_RUNTIME_DIR, so "the running
instance" and "the default state directory" are this test's own, whatever else runs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.backends import fetch
from tests.support.live_api import free_port

BIN = Path(sys.executable).parent
START_TIMEOUT = 60.0


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    runtime_dir = tmp_path / "run"
    home.mkdir()
    runtime_dir.mkdir(mode=0o700)
    clean = {k: v for k, v in os.environ.items() if k not in ("OSTIA_HOME", "XDG_RUNTIME_DIR")}
    return {**clean, "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime_dir)}


def _extra(tmp_path: Path, body: str = "") -> Path:
    port = free_port()
    extra = tmp_path / f"extra-{port}.conf"
    extra.write_text(
        f"[health_manager]\nbind_port = {port}\ncontroller_ip_port_list = 127.0.0.1:{port}\n{body}"
    )
    return extra


def _ostia(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "ostia"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


class Up:
    """A running `ostia up` whose standard output a test reads line by line."""

    def __init__(self, env: dict[str, str], port: int, *args: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [str(BIN / "ostia"), "up", "--port", str(port), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def wait_up(self) -> list[str]:
        """Lines up to "Ostia is up"; the API must answer at once when that is printed."""
        lines: list[str] = []
        deadline = time.monotonic() + START_TIMEOUT
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError("ostia up exited:\n" + "".join(lines))
            lines.append(line)
            if line.startswith("Ostia is up"):
                assert httpx.get(self.url + "/", timeout=2).status_code == 200
                return lines
        raise AssertionError("no 'Ostia is up' within the timeout:\n" + "".join(lines))

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def up_processes() -> Iterator[list[Up]]:
    started: list[Up] = []
    yield started
    for up in started:
        up.stop()


def test_a_taken_api_port_stops_ostia_up_in_one_line_before_saying_up(tmp_path, env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        state = tmp_path / "state"
        result = _ostia(
            env, "up", "--port", str(port), "--state-dir", str(state), "--config-file", str(_extra(tmp_path))
        )
    line = _one_error_line(result)
    assert f"127.0.0.1:{port}" in line and "already in use" in line
    assert "Ostia is up" not in result.stdout
    assert not (state / "ostia.pid").exists()


def test_an_empty_heartbeat_key_is_refused_in_one_line(tmp_path, env):
    result = _ostia(
        env,
        "up",
        "--port",
        str(free_port()),
        "--state-dir",
        str(tmp_path / "state"),
        "--config-file",
        str(_extra(tmp_path, "heartbeat_key =\n")),
    )
    assert "heartbeat_key is empty" in _one_error_line(result)
    assert "Ostia is up" not in result.stdout


def test_octavia_api_on_a_taken_port_is_one_line(tmp_path, env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        conf = tmp_path / "octavia.conf"
        conf.write_text(
            f"[api_settings]\nbind_port = {port}\n\n[database]\nconnection = sqlite:///{tmp_path}/o.db\n"
        )
        subprocess.run(
            [str(BIN / "octavia-db-manage"), "--config-file", str(conf), "upgrade", "head"],
            check=True,
            capture_output=True,
            env=env,
            timeout=60,
        )
        result = subprocess.run(
            [str(BIN / "octavia-api"), "--config-file", str(conf)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    assert "already in use" in _one_error_line(result)


def test_a_failed_store_prints_no_reference(tmp_path, env):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    conf = tmp_path / "octavia.conf"
    conf.write_text(
        f"[certificates]\ncert_manager = local_cert_manager\nstorage_path = {blocker}/containers\n"
    )
    from tests.functional.test_certificate_refs import _self_signed

    cert, key = _self_signed("www.example.com")
    (tmp_path / "c.pem").write_bytes(cert)
    (tmp_path / "k.pem").write_bytes(key)
    result = _ostia(
        env,
        "certs",
        "store",
        "--config-file",
        str(conf),
        "--cert",
        str(tmp_path / "c.pem"),
        "--key",
        str(tmp_path / "k.pem"),
    )
    assert "not stored" in _one_error_line(result)
    assert result.stdout == ""


def test_a_first_day_with_a_deep_home_certs_status_and_purge(tmp_path, env, up_processes):
    """Default state directory of a user whose home is deep (the sockets must still fit);
    certs, status and down find the running instance without --state-dir."""
    home = tmp_path / "home" / "a-rather-long-user-name-for-sockets"
    env = {**env, "HOME": str(home)}
    state = home / ".local" / "share" / "ostia"
    port = free_port()
    up = Up(env, port, "--config-file", str(_extra(tmp_path)))
    up_processes.append(up)
    up.wait_up()
    assert (state / "octavia.conf").exists()
    base = up.url + "/v2/lbaas"

    from tests.functional.test_certificate_refs import _self_signed

    cert, key = _self_signed("www.example.com")
    (tmp_path / "c.pem").write_bytes(cert)
    (tmp_path / "k.pem").write_bytes(key)
    stored = _ostia(
        env, "certs", "store", "--cert", str(tmp_path / "c.pem"), "--key", str(tmp_path / "k.pem")
    )
    assert stored.returncode == 0, stored.stderr
    ref = stored.stdout.strip()
    assert (state / "tls-containers" / f"{ref}.crt").exists()
    listed = _ostia(env, "certs", "list")
    assert listed.returncode == 0 and ref in listed.stdout and "www.example.com" in listed.stdout

    lb = httpx.post(
        f"{base}/loadbalancers",
        json={
            "loadbalancer": {
                "name": "first",
                "vip_subnet_id": "private-subnet",
                "listeners": [
                    {
                        "name": "web",
                        "protocol": "HTTP",
                        "protocol_port": 80,
                        "default_pool": {
                            "name": "p",
                            "protocol": "HTTP",
                            "lb_algorithm": "ROUND_ROBIN",
                            "members": [{"address": "127.0.0.1", "protocol_port": 9}],
                        },
                    },
                    {
                        "name": "tls",
                        "protocol": "TERMINATED_HTTPS",
                        "protocol_port": 443,
                        "default_tls_container_ref": ref,
                    },
                ],
            }
        },
        timeout=10,
    ).json()["loadbalancer"]
    deadline = time.monotonic() + 60
    while (shown := httpx.get(f"{base}/loadbalancers/{lb['id']}", timeout=10).json()["loadbalancer"])[
        "provisioning_status"
    ] != "ACTIVE":
        assert shown["provisioning_status"] != "ERROR", _ostia(env, "status").stdout
        assert time.monotonic() < deadline
        time.sleep(0.2)
    # haproxy runs with its sockets under the deep directory: the VIP answers.
    assert fetch(lb["vip_address"], 80, "/", timeout=5)[0] == 503

    in_use = _ostia(env, "certs", "delete", ref)
    assert in_use.returncode == 2 and "in use by listener" in in_use.stderr
    spare = _ostia(
        env, "certs", "store", "--cert", str(tmp_path / "c.pem"), "--key", str(tmp_path / "k.pem")
    ).stdout.strip()
    deleted = _ostia(env, "certs", "delete", spare)
    assert deleted.returncode == 0 and deleted.stdout == f"deleted {spare}\n"
    assert not list((state / "tls-containers").glob(f"{spare}.*"))
    unknown = _ostia(env, "certs", "delete", spare)
    assert unknown.returncode == 2 and "no stored certificate" in unknown.stderr
    report = _ostia(env, "status")
    assert report.returncode == 0, report.stderr
    assert str(state) in report.stdout
    tree = report.stdout.split("listeners, pools and members", 1)[1]
    assert "  listener" in tree and "HTTP :80" in tree and "TERMINATED_HTTPS :443" in tree
    assert "  pool" in tree and "    member" in tree and "127.0.0.1:9" in tree
    piped = subprocess.run(
        f"{BIN / 'ostia'} status | head -1", shell=True, env=env, capture_output=True, text=True, timeout=60
    )
    assert piped.stdout.count("\n") == 1 and piped.stderr == ""

    down = _ostia(env, "down", "--purge")
    assert down.returncode == 0, down.stderr
    assert "stopped ostia" in down.stdout and "removed 1 amphora" in down.stdout
    assert "removed the database" in down.stdout
    assert not (state / "octavia.db").exists() and (state / "octavia.conf").exists()
    up.process.wait(timeout=15)

    again = Up(env, port, "--config-file", str(_extra(tmp_path)))
    up_processes.append(again)
    again.wait_up()
    assert httpx.get(f"{base}/loadbalancers", timeout=10).json()["loadbalancers"] == []
    assert _ostia(env, "certs", "list").stdout.startswith(f"stored in {state / 'tls-containers'} (0)")
