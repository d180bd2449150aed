"""`ostia netns cleanup` (root) removes namespaces, the processes in them, links and
nftables tables. The test confines it to names of its own with the hidden --prefix.
`ostia down --purge` after `ostia up --netns` removes what the drivers made for that
deployment alone."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid

import httpx

from ostia.common import iproute
from ostia.drivers.compute.netns_driver import stop_namespace_processes
from ostia.drivers.network import netns_firewall
from tests.support.amphora import short_tempdir
from tests.support.netns_stack import require_namespaces


def _command() -> str:
    return os.path.join(os.path.dirname(sys.executable), "ostia")


def _ostia(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_command(), *args], capture_output=True, text=True, timeout=60)


def test_cleanup_removes_namespaces_processes_links_and_rules() -> None:
    require_namespaces()
    prefix = f"ost-c{uuid.uuid4().hex[:4]}"
    bridge, namespace, veth = f"{prefix}br", f"{prefix}-amp", f"{prefix}v"
    sleeper = None
    try:
        iproute.ensure_bridge(bridge, "198.19.251.1/24")
        netns_firewall.apply(bridge, 5555, [9443])
        iproute.add_netns(namespace)
        iproute.add_veth(veth, "eth0", namespace, bridge)
        sleeper = subprocess.Popen(["ip", "netns", "exec", namespace, "sleep", "300"])
        result = _ostia("netns", "cleanup", "--prefix", prefix)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("removed 1 namespaces"), result.stdout
        assert "2 nftables tables" in result.stdout
        assert sleeper.wait(5) == -9 or sleeper.returncode != 0
        assert not iproute.netns_exists(namespace)
        assert iproute.list_links(prefix) == []
        assert [t for t in netns_firewall.list_tables() if t[1] == netns_firewall.table_name(bridge)] == []
    finally:
        if sleeper is not None and sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()
        iproute.delete_netns(namespace)
        iproute.delete_link(veth)
        iproute.delete_link(bridge)
        netns_firewall.remove(bridge)


def test_cleanup_refuses_a_prefix_outside_ours() -> None:
    require_namespaces()
    result = _ostia("netns", "cleanup", "--prefix", "eth")
    assert result.returncode == 2 and "must start with ost-" in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_active(api: str, lb_id: str, proc: subprocess.Popen[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"ostia up exited with {proc.returncode}"
        status = httpx.get(f"{api}/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"][
            "provisioning_status"
        ]
        if status in ("ACTIVE", "ERROR"):
            break
        time.sleep(0.2)
    assert status == "ACTIVE", status


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as handle:
                line = handle.read().replace(b"\0", b" ").decode(errors="replace")
                if text in line:
                    found.append(f"{pid}: {line}")
    return found


def test_down_purge_after_up_netns_removes_what_the_drivers_made_for_it_alone() -> None:
    """`ostia up --netns` with an octavia.conf naming the local drivers, one load balancer
    on a namespace amphora, then `ostia down --purge`: its namespaces, veths, bridges,
    nftables tables and processes are gone; another deployment's stay."""
    require_namespaces()
    tag = uuid.uuid4().hex[:6]
    mgmt_bridge = f"ost-tm{tag}"
    tenant_bridge = "ost-t" + hashlib.sha1(f"{mgmt_bridge}:tenant-a-subnet".encode()).hexdigest()[:9]
    # Another deployment on this host: an amphora namespace on a bridge of its own.
    other_bridge, other_ns = f"ost-to{tag}", f"ost-amp-{uuid.uuid4().hex[:10]}"
    port = _free_port()
    api = f"http://127.0.0.1:{port}"
    proc = None
    compute_ids: list[str] = []
    with short_tempdir("ostpg-") as root:
        state = os.path.join(root, "s")
        extra = os.path.join(root, "extra.conf")
        with open(extra, "w") as handle:
            handle.write(
                f"[netns_compute]\nmgmt_bridge = {mgmt_bridge}\n"
                f"mgmt_cidr = 198.19.{random.randint(0, 255)}.0/24\n\n"
                "[netns_network]\nsubnets = tenant-a-subnet:198.18.64.0/24\n\n"
                f"[health_manager]\nbind_port = {_free_port()}\nheartbeat_interval = 1\n"
            )
        try:
            iproute.ensure_bridge(other_bridge, "198.19.250.1/24")
            netns_firewall.apply(other_bridge, 5555, [9443])
            iproute.add_netns(other_ns)
            iproute.add_veth(f"ost-mo{tag}", "eth0", other_ns, other_bridge)

            proc = subprocess.Popen(
                [
                    _command(),
                    "up",
                    "--netns",
                    "--port",
                    str(port),
                    "--state-dir",
                    state,
                    "--config-file",
                    extra,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else proc.returncode
                with contextlib.suppress(httpx.HTTPError):
                    httpx.get(f"{api}/", timeout=1)
                    break
                assert time.monotonic() < deadline, "ostia up did not answer"
                time.sleep(0.1)
            # octavia.conf keeps naming the local drivers: only --netns chose these.
            with open(os.path.join(state, "octavia.conf")) as handle:
                assert "compute_driver = compute_local_driver" in handle.read()
            created = httpx.post(
                f"{api}/v2/lbaas/loadbalancers",
                json={
                    "loadbalancer": {
                        "vip_subnet_id": "tenant-a-subnet",
                        "listeners": [{"protocol": "HTTP", "protocol_port": 80}],
                    }
                },
            )
            assert created.status_code == 201, created.text
            _wait_active(api, created.json()["loadbalancer"]["id"], proc)
            compute_ids = os.listdir(os.path.join(state, "nsamp"))
            compute_ids = [name for name in compute_ids if not name.startswith(".")]
            assert len(compute_ids) == 1
            assert iproute.link_exists(tenant_bridge) and iproute.link_exists(mgmt_bridge)

            down = _ostia("down", "--purge", "--state-dir", state)
            assert down.returncode == 0, down.stderr
            proc.wait(timeout=15)
            assert "removed namespace amphora" in down.stdout, down.stdout

            left = [ns for cid in compute_ids for ns in (f"ost-amp-{cid}", f"ost-vip-{cid}")]
            assert [ns for ns in left if iproute.netns_exists(ns)] == []
            assert [cid for cid in compute_ids if iproute.link_exists(f"ost-m{cid}")] == []
            assert not iproute.link_exists(tenant_bridge)
            assert not iproute.link_exists(mgmt_bridge)
            tables = [t for _, t in netns_firewall.list_tables()]
            assert netns_firewall.table_name(mgmt_bridge) not in tables
            assert _processes_mentioning(state) == []
            assert not os.path.exists(os.path.join(state, "netns-mode"))
            # The other deployment is untouched.
            assert iproute.netns_exists(other_ns)
            assert iproute.bridge_ports(other_bridge) == [f"ost-mo{tag}"]
            assert netns_firewall.table_name(other_bridge) in tables
        finally:
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            for cid in compute_ids:
                namespaces = [f"ost-amp-{cid}", f"ost-vip-{cid}"]
                stop_namespace_processes(namespaces)
                for namespace in namespaces:
                    iproute.delete_netns(namespace)
                iproute.delete_link(f"ost-m{cid}")
            for bridge in (tenant_bridge, mgmt_bridge, other_bridge):
                iproute.delete_link(bridge)
            for bridge in (mgmt_bridge, other_bridge):
                netns_firewall.remove(bridge)
            iproute.delete_netns(other_ns)
            iproute.delete_link(f"ost-mo{tag}")
