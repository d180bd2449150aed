"""The local compute driver's own promises: files, addresses, restarts, stray processes."""

from __future__ import annotations

import configparser
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from oslo_config import cfg

from ostia.drivers.compute import local_processes as procs
from ostia.drivers.compute.base import AmphoraSpec, ComputeBuildError
from ostia.drivers.compute.local_driver import LocalComputeDriver
from tests.support.amphora import amphora_test_config, local_compute, short_tempdir

SLEEPING_AGENT = [sys.executable, "-c", "import time; time.sleep(120)"]
# Starts a detached "haproxy" in a new session with its cwd in base_path, then sleeps: the
# shape of the real agent's children, which no process group ties to the agent.
FORKING_AGENT = [
    sys.executable,
    "-c",
    """
import configparser, subprocess, sys, time
conf = configparser.ConfigParser(interpolation=None)
conf.read(sys.argv[2])
subprocess.Popen(["sleep", "120"], cwd=conf["haproxy_amphora"]["base_path"],
                 start_new_session=True)
time.sleep(120)
""",
]

SPEC = AmphoraSpec(
    amphora_id="5b2f6d0e-2a39-4e5f-8c0b-8f1d2f9b6c11",
    server_pem=b"-----BEGIN CERTIFICATE-----\nserver\n",
    client_ca_pem=b"-----BEGIN CERTIFICATE-----\nclient ca\n",
    agent_settings={
        "health_manager": {"controller_ip_port_list": "127.0.0.1:5555", "heartbeat_key": "k"},
        "haproxy_amphora": {"base_path": "/var/lib/octavia", "bind_port": "1"},
    },
)


@pytest.fixture
def conf() -> Iterator[cfg.ConfigOpts]:
    with short_tempdir() as state_dir:
        yield amphora_test_config(state_dir, {"haproxy_amphora": {"bind_port": 19443}})


@pytest.fixture
def driver(conf: cfg.ConfigOpts) -> Iterator[LocalComputeDriver]:
    with local_compute(conf, agent_command=SLEEPING_AGENT) as local:
        yield local


def agent_conf(driver: LocalComputeDriver, compute_id: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(os.path.join(driver.amphora_dir, compute_id, "etc", "amphora-agent.conf"))
    return parser


def test_amphorae_live_under_state_dir_unless_amphora_dir_is_set(conf: cfg.ConfigOpts) -> None:
    assert LocalComputeDriver(conf).amphora_dir == os.path.join(conf.ostia.state_dir, "amphorae")
    conf.set_override("amphora_dir", "/tmp/elsewhere", "local_compute")
    assert LocalComputeDriver(conf).amphora_dir == "/tmp/elsewhere"


def test_agent_config_merges_controller_settings_with_what_only_the_driver_knows(
    driver: LocalComputeDriver,
) -> None:
    instance = driver.build(SPEC)
    root = os.path.join(driver.amphora_dir, instance.compute_id)
    parsed = agent_conf(driver, instance.compute_id)
    assert parsed["health_manager"]["controller_ip_port_list"] == "127.0.0.1:5555"
    assert dict(parsed["haproxy_amphora"]) == {
        "bind_host": instance.lb_network_ip,
        "bind_port": "19443",
        "base_path": f"{root}/lb",
        "base_cert_dir": f"{root}/lb-certs",
        "haproxy_cmd": "/usr/sbin/haproxy",
    }
    assert dict(parsed["amphora_agent"]) == {
        "agent_server_cert": f"{root}/etc/server.pem",
        "agent_server_ca": f"{root}/etc/client_ca.pem",
        "amphora_id": SPEC.amphora_id,
    }
    with open(f"{root}/etc/server.pem", "rb") as handle:
        assert handle.read() == SPEC.server_pem
    assert os.stat(f"{root}/etc/server.pem").st_mode & 0o077 == 0


def test_instance_paths_name_the_agents_base_path_and_cert_dir(
    driver: LocalComputeDriver,
) -> None:
    instance = driver.build(SPEC)
    parsed = agent_conf(driver, instance.compute_id)["haproxy_amphora"]
    assert driver.instance_paths(instance.compute_id) == (parsed["base_path"], parsed["base_cert_dir"])
    driver.delete(instance.compute_id)
    assert driver.instance_paths(instance.compute_id) is None
    assert driver.instance_paths("../etc") is None


def test_management_addresses_come_from_mgmt_cidr(driver: LocalComputeDriver, conf: cfg.ConfigOpts) -> None:
    instance = driver.build(SPEC)
    assert ipaddress.ip_address(instance.lb_network_ip) in ipaddress.ip_network(conf.local_compute.mgmt_cidr)


def test_an_address_whose_agent_port_is_taken_is_skipped(
    driver: LocalComputeDriver, conf: cfg.ConfigOpts
) -> None:
    first_host = str(next(ipaddress.ip_network(conf.local_compute.mgmt_cidr).hosts()))
    with socket.socket() as squatter:
        squatter.bind((first_host, 19443))
        squatter.listen()
        instance = driver.build(SPEC)
    assert instance.lb_network_ip != first_host


def test_instances_are_found_again_by_a_new_driver(driver: LocalComputeDriver, conf: cfg.ConfigOpts) -> None:
    built = driver.build(SPEC)
    restarted = LocalComputeDriver(conf)
    assert restarted.list_instances() == [built]
    assert restarted.get(built.compute_id) == built


def test_an_instance_outlives_the_process_that_built_it(
    driver: LocalComputeDriver, conf: cfg.ConfigOpts
) -> None:
    builder = f"""
import sys
from ostia.drivers.compute.base import AmphoraSpec
from ostia.drivers.compute.local_driver import LocalComputeDriver
from tests.support.amphora import amphora_test_config
conf = amphora_test_config({conf.ostia.state_dir!r})
conf.set_override("mgmt_cidr", {conf.local_compute.mgmt_cidr!r}, "local_compute")
driver = LocalComputeDriver(conf, agent_command={SLEEPING_AGENT!r})
print(driver.build(AmphoraSpec("amp-1", b"", b"")).compute_id)
"""
    result = subprocess.run(
        [sys.executable, "-c", builder],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    assert result.returncode == 0, result.stderr
    compute_id = result.stdout.strip()
    found = driver.get(compute_id)
    assert found is not None and found.status == "ACTIVE"
    with open(os.path.join(driver.amphora_dir, compute_id, "agent.pid")) as handle:
        assert os.getsid(int(handle.read())) != os.getsid(0)


def test_an_instance_whose_agent_died_is_shutoff(driver: LocalComputeDriver) -> None:
    instance = driver.build(SPEC)
    with open(os.path.join(driver.amphora_dir, instance.compute_id, "agent.pid")) as handle:
        os.kill(int(handle.read()), signal.SIGKILL)
    deadline = time.monotonic() + 5
    while driver.get(instance.compute_id).status == "ACTIVE":  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert driver.get(instance.compute_id).status == "SHUTOFF"  # type: ignore[union-attr]


def test_a_zombie_is_not_running() -> None:
    child = subprocess.Popen(["sleep", "60"])
    try:
        assert procs.is_running(child.pid)
        child.kill()
        deadline = time.monotonic() + 5
        while procs.process_state(child.pid) != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert not procs.is_running(child.pid)
    finally:
        child.wait()


def test_delete_stops_detached_processes_working_in_the_amphora(conf: cfg.ConfigOpts) -> None:
    with local_compute(conf, agent_command=FORKING_AGENT) as driver:
        instance = driver.build(SPEC)
        root = os.path.join(driver.amphora_dir, instance.compute_id)
        deadline = time.monotonic() + 5
        while len(procs.processes_in(root)) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        pids = procs.processes_in(root)
        driver.delete(instance.compute_id)
        assert not any(procs.is_running(pid) for pid in pids)
        assert procs.processes_in(root) == []
        assert not os.path.exists(root)


def test_a_failed_start_leaves_nothing_behind(conf: cfg.ConfigOpts) -> None:
    with local_compute(conf, agent_command=["/nonexistent/amphora-agent"]) as driver:
        with pytest.raises(ComputeBuildError):
            driver.build(SPEC)
        assert driver.list_instances() == []


def test_a_deep_amphora_dir_gets_socket_paths_that_fit(conf: cfg.ConfigOpts) -> None:
    with short_tempdir() as top:
        deep = os.path.join(top, "a-non-root-users-home", ".local", "share", "ostia", "amph")
        conf.set_override("amphora_dir", deep, "local_compute")
        with local_compute(conf, agent_command=FORKING_AGENT) as driver:
            instance = driver.build(SPEC)
            base_path = agent_conf(driver, instance.compute_id)["haproxy_amphora"]["base_path"]
            real = os.path.join(deep, instance.compute_id, "lb")
            assert os.path.islink(base_path) and os.path.realpath(base_path) == real
            assert driver.instance_paths(instance.compute_id)[0] == base_path
            # The longest socket haproxy binds there: the stats socket of an LB.
            stats = os.path.join(base_path, "00000000-0000-0000-0000-000000000000.sock")
            assert len(stats) <= 97
            with socket.socket(socket.AF_UNIX) as sock:
                sock.bind(stats)
            assert os.path.exists(os.path.join(real, os.path.basename(stats)))
            root = os.path.join(deep, instance.compute_id)
            deadline = time.monotonic() + 5
            while len(procs.processes_in(root)) < 2:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            driver.delete(instance.compute_id)
            assert procs.processes_in(root) == [] and not os.path.lexists(base_path)


def test_no_usable_place_for_sockets_is_refused_when_the_driver_starts(
    conf: cfg.ConfigOpts, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ostia.common.config import ConfigError
    from ostia.drivers.compute import socket_paths

    with short_tempdir() as top:
        not_a_dir = os.path.join(top, "file")
        open(not_a_dir, "w").close()
        monkeypatch.setattr(socket_paths, "default_short_root", lambda: not_a_dir)
        conf.set_override("amphora_dir", os.path.join(top, "x" * 60), "local_compute")
        with pytest.raises(ConfigError, match="unix sockets"):
            LocalComputeDriver(conf, agent_command=SLEEPING_AGENT)
        monkeypatch.setattr(socket_paths, "default_short_root", lambda: top + "/" + "y" * 60)
        with pytest.raises(ConfigError, match="too long for haproxy's unix sockets"):
            LocalComputeDriver(conf, agent_command=SLEEPING_AGENT)
