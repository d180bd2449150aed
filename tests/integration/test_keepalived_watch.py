"""The agent's keepalived watch on its own (root, a real keepalived in a namespace of the
test's): after an agent restart the new agent watches the keepalived it finds running (a
pidfd, not its child), and a keepalived that died while no agent ran is cleaned up at the
agent's start. Either way the VIP keepalived placed leaves the namespace and heartbeats
are withheld. The end-to-end case (the agent's own child, a BACKUP taking over) is in
test_netns_active_standby.py."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from ostia.amphora.keepalived import KeepalivedVrrp
from ostia.amphora.paths import AgentPaths
from ostia.common import config as config_mod
from ostia.common import iproute
from ostia.controller.worker.render_keepalived import VrrpPeerView, render_keepalived_config
from ostia.drivers.compute.netns_driver import stop_namespace_processes
from tests.support.amphora import short_tempdir
from tests.support.health_stack import wait_until
from tests.support.netns_stack import require_namespaces

VIP = "198.18.70.10"
# No peer answers: keepalived becomes MASTER after three adverts and places the VIP.
OWN, PEER = "198.18.70.250", "198.18.70.251"
ADVERT_INT = 0.1
# The agent waits 4 advert intervals + 0.25 s for a peer to take over, then removes it.
RELEASE_BOUND = 2.0


@contextlib.contextmanager
def _vip_namespace() -> Iterator[str]:
    """A namespace with eth1 up (a veth whose peer stays inside) carrying OWN."""
    namespace = f"ost-test-{uuid.uuid4().hex[:6]}-ka"
    iproute.add_netns(namespace)
    try:
        iproute.ip("link", "add", "eth1", "type", "veth", "peer", "name", "eth9", netns=namespace)
        iproute.ip("addr", "add", f"{OWN}/24", "dev", "eth1", netns=namespace)
        for name in ("eth1", "eth9"):
            iproute.ip("link", "set", name, "up", netns=namespace)
        yield namespace
    finally:
        stop_namespace_processes([namespace])
        iproute.delete_netns(namespace)


def _keepalived(base_path: str, namespace: str) -> KeepalivedVrrp:
    """What an agent makes at its start (a new object: a new agent)."""
    return KeepalivedVrrp(AgentPaths(base_path, os.path.join(base_path, "certs")), namespace)


def _start_in_a_first_agent(base_path: str, namespace: str) -> None:
    """keepalived started by another process, which then exits as a stopped agent does:
    keepalived (in a session of its own) runs on, nobody's child here."""
    code = (
        "import sys\n"
        "from ostia.amphora.keepalived import KeepalivedVrrp\n"
        "from ostia.amphora.paths import AgentPaths\n"
        "base, namespace = sys.argv[1:]\n"
        "print(KeepalivedVrrp(AgentPaths(base, base + '/certs'), namespace).action('start'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, base_path, namespace],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    assert result.stdout.strip() == "keepalived started", result.stderr


def _configuration(base_path: str) -> bytes:
    conf = config_mod.new_config()
    conf([], project="octavia", default_config_files=[])
    conf.set_override("vrrp_advert_int", ADVERT_INT, "keepalived_vrrp")
    conf.set_override("vrrp_check_interval", 1, "keepalived_vrrp")
    me = VrrpPeerView(
        amphora_id="a1",
        role="MASTER",
        vrrp_ip=OWN,
        interface="eth1",
        check_script=os.path.join(base_path, "vrrp", "check_script.sh"),
    )
    return render_keepalived_config(conf, str(uuid.uuid4()), [VIP], "198.18.70.0/24", me, [PEER]).encode()


def _holds_vip(namespace: str) -> bool:
    return any(
        info.get("local") == VIP
        for link in iproute.ip_json("addr", "show", netns=namespace)
        for info in link.get("addr_info", [])
    )


def _kill_9(namespace: str) -> None:
    # Stop every process first: keepalived's VRRP child gets SIGTERM when its parent dies
    # (a parent-death signal) and would remove the VIP itself if the parent went first.
    pids = iproute.netns_pids(namespace)
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


@pytest.mark.parametrize("when", ["after the agent restarted", "while no agent ran"])
def test_a_killed_keepalived_leaves_no_vip_behind(when: str) -> None:
    require_namespaces()
    with short_tempdir("ostka-") as root, _vip_namespace() as namespace:
        base_path = os.path.join(root, "lb")
        os.makedirs(base_path, mode=0o755)
        os.chmod(root, 0o755)  # keepalived runs its check script only from safe directories
        _keepalived(base_path, namespace).upload_config(_configuration(base_path))
        _start_in_a_first_agent(base_path, namespace)
        wait_until(lambda: _holds_vip(namespace), 10, "keepalived placing the VIP")
        if when == "while no agent ran":
            _kill_9(namespace)
            wait_until(lambda: not iproute.netns_pids(namespace), 5, "keepalived gone")
            assert _holds_vip(namespace)  # the trap: a killed keepalived leaves its VIP
        agent = _keepalived(base_path, namespace)
        agent.supervise()
        if when == "after the agent restarted":
            assert _holds_vip(namespace) and not agent.suppresses_heartbeat()
            killed_at = time.monotonic()
            _kill_9(namespace)
            wait_until(lambda: not _holds_vip(namespace), RELEASE_BOUND, "the VIP removed", interval=0.01)
            print(f"VIP removed {time.monotonic() - killed_at:.3f} s after kill -9 of keepalived")
        assert not _holds_vip(namespace)
        # Still the namespace's own address: only keepalived's VIP went.
        assert any(
            info.get("local") == OWN
            for link in iproute.ip_json("addr", "show", netns=namespace)
            for info in link.get("addr_info", [])
        )
        # As upstream: configured, not stopped, not running -> no heartbeat.
        assert agent.suppresses_heartbeat()
