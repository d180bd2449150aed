"""SSH into a namespace amphora (root), the operator guide's troubleshooting step: with
`[controller_worker] amp_ssh_key_name` naming a public key file, `ssh -i KEY
root@<lb_network_ip>` from the controller host opens a shell inside the amphora."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from typing import Any

import pytest

from ostia.common import iproute
from ostia.drivers.network import netns_firewall
from tests.support.amphora import short_tempdir
from tests.support.netns_stack import NetnsAmphoraStack, leftovers, require_namespaces


def _ssh(key: str, address: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "ssh",
            "-i",
            key,
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "LogLevel=ERROR",
            f"root@{address}",
            command,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )


def _keypair(directory: str, name: str) -> str:
    path = os.path.join(directory, name)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path], check=True)
    return path


# The lb-mgmt subnet: the stack's random IPv4 one, or an IPv6 ULA of its own.
@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_ssh_with_the_configured_key_gets_a_shell_inside_the_amphora(family: str) -> None:
    require_namespaces()
    if shutil.which("ssh") is None or not os.path.exists("/usr/sbin/sshd"):
        pytest.skip("openssh-server is not installed")
    with short_tempdir("ostssh-") as keys, short_tempdir("ostns-") as state:
        key = _keypair(keys, "operator")
        other = _keypair(keys, "stranger")
        overrides: dict[str, dict[str, Any]] = {"controller_worker": {"amp_ssh_key_name": key + ".pub"}}
        if family == "ipv6":
            overrides["netns_compute"] = {"mgmt_cidr": f"fd00:ab:{random.randint(1, 0xFFFF):x}::/64"}
        stack = NetnsAmphoraStack(state, overrides=overrides)
        try:
            amp = stack.build_amphora()
            address = amp.instance.lb_network_ip
            assert (":" in address) == (family == "ipv6"), address
            deadline_output = ""
            for _ in range(50):
                result = _ssh(key, address, "ip -br addr show eth0; echo $USER")
                deadline_output = result.stdout + result.stderr
                if result.returncode == 0:
                    break
            assert result.returncode == 0, deadline_output
            assert address in result.stdout  # the amphora's own interface, not the host's
            assert _ssh(other, address, "true").returncode != 0
            # Only with a key configured does the firewall let port 22 through.
            table = netns_firewall.table_name(stack.mgmt_bridge)
            rules = iproute.run(["nft", "list", "table", "inet", table])
            assert "tcp dport { 22, 9443 } accept" in rules, rules
        finally:
            stack.close()
        assert (
            leftovers(stack.tag, [amp.instance.compute_id], stack.mgmt_bridge, stack.netns_network.bridges())
            == []
        )
