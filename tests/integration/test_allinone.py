"""`make run` / `ostia up` / `ostia down` and the service commands, as real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.live_api import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _extra_config(tmp_path: Path) -> Path:
    port = free_port()
    extra = tmp_path / "extra.conf"
    extra.write_text(
        f"[health_manager]\nbind_port = {port}\n"
        f"controller_ip_port_list = 127.0.0.1:{port}\n"
        "heartbeat_interval = 1\n"
    )
    return extra


def _wait_for(url: str, proc: subprocess.Popen, timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode}")
        try:
            return httpx.get(url, timeout=1)
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def _pid_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1].startswith("Z")
    except FileNotFoundError:
        return True


def _stop_group(proc: subprocess.Popen, sig: int = signal.SIGTERM, pid_file: Path | None = None) -> float:
    """Signal the whole process group; seconds until the service process itself is gone."""
    service_pid = int(pid_file.read_text()) if pid_file and pid_file.exists() else proc.pid
    started = time.monotonic()
    os.killpg(proc.pid, sig)
    while not _pid_gone(service_pid) and time.monotonic() - started < 15:
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    proc.wait(timeout=15)
    return elapsed


@pytest.fixture
def state(tmp_path):
    return tmp_path / "state"


def test_run_command_starts_the_all_in_one_and_sigterm_stops_it_within_5_seconds(tmp_path, state):
    port = free_port()
    args = f"--port {port} --state-dir {state} --config-file {_extra_config(tmp_path)}"
    proc = subprocess.Popen(
        ["bash", "scripts/run.sh", *args.split()],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        root = _wait_for(f"http://127.0.0.1:{port}/", proc)
        assert root.json()["versions"][-1]["status"] == "CURRENT"
        assert (state / "octavia.conf").exists() and (state / "octavia.db").exists()
        assert (state / "certs" / "server_ca.cert.pem").exists()
        assert _stop_group(proc, pid_file=state / "ostia.pid") < 5
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    output = proc.stdout.read() if proc.stdout else ""
    assert f"http://127.0.0.1:{port}" in output
    assert "--vip-subnet-id private-subnet" in output
    assert not (state / "ostia.pid").exists()


def _ostia_up(tmp_path: Path, state: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(BIN / "ostia"),
            "up",
            "--port",
            str(port),
            "--state-dir",
            str(state),
            "--config-file",
            str(_extra_config(tmp_path)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_ostia_down_stops_it_and_state_survives_a_restart(tmp_path, state):
    port = free_port()
    proc = _ostia_up(tmp_path, state, port)
    try:
        _wait_for(f"http://127.0.0.1:{port}/", proc)
        created = httpx.post(
            f"http://127.0.0.1:{port}/v2/lbaas/loadbalancers",
            json={
                "loadbalancer": {"name": "kept", "vip_subnet_id": "private-subnet", "provider": "noop_driver"}
            },
        )
        assert created.status_code == 201
        down = subprocess.run(
            [str(BIN / "ostia"), "down", "--state-dir", str(state)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert down.returncode == 0 and "stopped ostia" in down.stdout
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    again = _ostia_up(tmp_path, state, port)
    try:
        _wait_for(f"http://127.0.0.1:{port}/", again)
        names = [
            lb["name"]
            for lb in httpx.get(f"http://127.0.0.1:{port}/v2/lbaas/loadbalancers").json()["loadbalancers"]
        ]
        assert names == ["kept"]
    finally:
        _stop_group(again)


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / cmd[0]), *cmd[1:]], capture_output=True, text=True, timeout=60)


def _write_conf(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "octavia.conf"
    path.write_text(f"[database]\nconnection = sqlite:///{tmp_path}/o.db\n{body}")
    return path


@pytest.mark.parametrize(
    "command", ["octavia-api", "octavia-worker", "octavia-health-manager", "octavia-housekeeping"]
)
def test_unknown_driver_stops_a_service_with_one_line(tmp_path, command):
    conf = _write_conf(tmp_path, "[controller_worker]\ncompute_driver = compute_nova_drivr\n")
    result = _run(command, "--config-file", str(conf))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "compute_driver" in result.stderr and "Traceback" not in result.stderr


def test_malformed_value_names_the_option(tmp_path):
    conf = _write_conf(tmp_path, "[api_settings]\nbind_port = ninety\n")
    result = _run("octavia-api", "--config-file", str(conf))
    assert result.returncode == 2 and "bind_port" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_file_is_one_line(tmp_path):
    result = _run("octavia-worker", "--config-file", str(tmp_path / "absent.conf"))
    assert result.returncode == 2 and "cannot read config file" in result.stderr


def test_db_manage_upgrade_current_history(tmp_path):
    conf = _write_conf(tmp_path, "")
    assert "(empty)" in _run("octavia-db-manage", "--config-file", str(conf), "current").stdout
    upgrade = _run("octavia-db-manage", "--config-file", str(conf), "upgrade", "head")
    assert upgrade.returncode == 0, upgrade.stderr
    assert "(head)" in _run("octavia-db-manage", "--config-file", str(conf), "current").stdout
    assert "initial schema" in _run("octavia-db-manage", "--config-file", str(conf), "history").stdout


def test_octavia_api_serves_from_its_config_file(tmp_path):
    port = free_port()
    conf = _write_conf(tmp_path, f"[api_settings]\nbind_port = {port}\nauth_strategy = noauth\n")
    assert _run("octavia-db-manage", "--config-file", str(conf), "upgrade", "head").returncode == 0
    proc = subprocess.Popen(
        [str(BIN / "octavia-api"), "--config-file", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        response = _wait_for(f"http://127.0.0.1:{port}/v2/lbaas/loadbalancers", proc)
        assert response.json() == {"loadbalancers": [], "loadbalancers_links": []}
    finally:
        _stop_group(proc)


def test_committed_sample_config_is_up_to_date():
    from ostia.common.sample_config import sample_config

    committed = (ROOT / "etc" / "octavia.conf").read_text()
    assert committed == sample_config(), "etc/octavia.conf is stale: run `make sample-config`"


def test_certs_create_writes_files_and_prints_config_lines(tmp_path):
    result = _run("ostia", "certs", "create", "--dir", str(tmp_path / "certs"))
    assert result.returncode == 0, result.stderr
    assert "ca_certificate" in result.stdout and "client_cert" in result.stdout
    assert (tmp_path / "certs" / "client.cert-and-key.pem").exists()


def test_status_shows_services_load_balancers_and_amphorae(tmp_path, state):
    missing = _run("ostia", "status", "--state-dir", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no Ostia deployment" in missing.stderr
    assert missing.stderr.count("\n") == 1
    port = free_port()
    proc = _ostia_up(tmp_path, state, port)
    try:
        _wait_for(f"http://127.0.0.1:{port}/", proc)
        created = httpx.post(
            f"http://127.0.0.1:{port}/v2/lbaas/loadbalancers",
            json={
                "loadbalancer": {
                    "name": "shown",
                    "vip_subnet_id": "private-subnet",
                    "provider": "noop_driver",
                }
            },
        ).json()["loadbalancer"]
        report = _run("ostia", "status", "--state-dir", str(state))
        assert report.returncode == 0, report.stderr
        assert "running (pid" in report.stdout and "API" in report.stdout
        assert "does not answer" not in report.stdout
        assert "load balancers (1)" in report.stdout
        line = next(li for li in report.stdout.splitlines() if created["id"] in li)
        assert "shown" in line and created["vip_address"] in line and "ACTIVE" in line
    finally:
        _stop_group(proc)
    stopped = _run("ostia", "status", "--state-dir", str(state))
    assert "not running" in stopped.stdout and "load balancers (1)" in stopped.stdout


def test_ostia_up_with_keystone_but_no_auth_url_stops_with_one_line(tmp_path, state):
    extra = tmp_path / "keystone.conf"
    extra.write_text("[api_settings]\nauth_strategy = keystone\n")
    result = subprocess.run(
        [
            str(BIN / "ostia"),
            "up",
            "--port",
            str(free_port()),
            "--state-dir",
            str(state),
            "--config-file",
            str(_extra_config(tmp_path)),
            "--config-file",
            str(extra),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr


def test_certs_store_puts_a_container_where_the_api_finds_it(tmp_path, state):
    from tests.functional.test_certificate_refs import _self_signed

    cert, key = _self_signed("www.example.com")
    (tmp_path / "c.pem").write_bytes(cert)
    (tmp_path / "k.pem").write_bytes(key)
    port = free_port()
    proc = _ostia_up(tmp_path, state, port)
    try:
        _wait_for(f"http://127.0.0.1:{port}/", proc)
        stored = _run(
            "ostia",
            "certs",
            "store",
            "--state-dir",
            str(state),
            "--cert",
            str(tmp_path / "c.pem"),
            "--key",
            str(tmp_path / "k.pem"),
        )
        assert stored.returncode == 0, stored.stderr
        ref = stored.stdout.strip()
        mismatched = _run(
            "ostia",
            "certs",
            "store",
            "--state-dir",
            str(state),
            "--cert",
            str(tmp_path / "c.pem"),
            "--key",
            str(tmp_path / "c.pem"),
        )
        assert mismatched.returncode == 2 and mismatched.stderr.startswith("error: not stored")
        base = f"http://127.0.0.1:{port}/v2/lbaas"
        lb = httpx.post(
            f"{base}/loadbalancers",
            json={"loadbalancer": {"vip_subnet_id": "private-subnet", "provider": "noop_driver"}},
        ).json()
        listener = httpx.post(
            f"{base}/listeners",
            json={
                "listener": {
                    "loadbalancer_id": lb["loadbalancer"]["id"],
                    "protocol": "TERMINATED_HTTPS",
                    "protocol_port": 443,
                    "default_tls_container_ref": ref,
                }
            },
        )
        assert listener.status_code == 201, listener.text
    finally:
        _stop_group(proc)
