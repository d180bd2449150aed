"""`ostia netns cleanup` (root) removes namespaces, the processes in them, links and
nftables tables. The test confines it to names of its own with the hidden --prefix."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from ostia.common import iproute
from ostia.drivers.network import netns_firewall
from tests.support.netns_stack import require_namespaces


def _ostia(*args: str) -> subprocess.CompletedProcess[str]:
    command = os.path.join(os.path.dirname(sys.executable), "ostia")
    return subprocess.run([command, *args], capture_output=True, text=True, timeout=60)


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
