"""An IPv6 lb-mgmt network for namespace amphorae (root): `[netns_compute] mgmt_cidr` a ULA.

The host's address on the bridge is the health manager's bind_ip, each amphora's agent
listens only on its IPv6 management address (mutual TLS, reached as https://[addr]:9443),
heartbeats go to [host]:port, and the nftables rules mean upstream's amp_secgroup_list for
IPv6 as for IPv4. The VIP and members stay on an IPv4 tenant network.
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
import socket
import time
import uuid

from ostia.cmd.netns import apply_netns_mode
from ostia.common import config as config_mod
from ostia.common import constants as c
from ostia.common import iproute
from ostia.db import models
from ostia.drivers.compute.netns_driver import NetnsComputeDriver, amp_namespace
from ostia.drivers.network import netns_firewall
from tests.support.health_stack import wait_until
from tests.support.netns_stack import (
    in_namespace,
    leftovers,
    netns_health_manager,
    netns_worker_stack,
    require_namespaces,
)
from tests.support.objects import check

SUBNET = "tenant-a-subnet"


def _connects(namespace: str, host: str, port: int, timeout: float = 0.5) -> bool:
    def attempt() -> bool:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True
        except OSError:
            return False

    return in_namespace(namespace, attempt)


def _eth0_address(namespace: str, address: str) -> dict:
    (link,) = iproute.ip_json("-6", "addr", "show", "dev", "eth0", netns=namespace)
    return next(info for info in link["addr_info"] if info.get("local") == address)


def _host_ipv6_addresses() -> list[str]:
    """Global IPv6 addresses of the host's own interfaces that are not ours."""
    found = []
    for link in iproute.ip_json("-6", "addr", "show", "scope", "global"):
        if not str(link.get("ifname", "")).startswith((iproute.PREFIX, "lo")):
            found += [str(info["local"]) for info in link.get("addr_info", []) if "local" in info]
    return found


def test_lb_on_namespace_amphorae_with_an_ipv6_lb_mgmt_network() -> None:
    # A random ULA /64 of our own (not fd00::/64, which the host's eth0 may use).
    cidr = f"fd00:ab:{random.randint(1, 0xFFFF):x}::/64"
    network = ipaddress.ip_network(cidr)
    overrides = {"netns_compute": {"mgmt_cidr": cidr}}
    with (
        netns_worker_stack(overrides) as stack,
        netns_health_manager(stack),
        stack.api.client() as http,
    ):
        mgmt_bridge = stack.netns.mgmt_bridge
        host_address = stack.netns.netns_compute.host_address
        assert host_address == str(network[1])
        assert stack.conf.health_manager.controller_ip_port_list == [
            f"[{host_address}]:{stack.conf.health_manager.bind_port}"
        ]
        client = stack.host("client", SUBNET, "198.18.64.100")
        stack.backend("b1", SUBNET, "198.18.64.101")
        pool = {
            "name": "pool",
            "protocol": "HTTP",
            "lb_algorithm": "ROUND_ROBIN",
            "members": [{"address": "198.18.64.101", "protocol_port": 80}],
        }
        body = {
            "vip_subnet_id": SUBNET,
            "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": pool}],
        }
        started = time.monotonic()
        lb = check(http.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body}), 201)["loadbalancer"]
        lb = stack.wait_lb(http, lb["id"], timeout=60)
        print(f"LB creation on namespace amphorae, IPv6 lb-mgmt: {time.monotonic() - started:.2f} s")
        # Traffic through the IPv4 VIP, from a client namespace to a member namespace.
        assert client.get(lb["vip_address"], 80) == (200, "b1")

        # The amphora's management address is IPv6, in canonical form, in both APIs.
        (amp,) = check(http.get("/v2/octavia/amphorae", params={"loadbalancer_id": lb["id"]}), 200)[
            "amphorae"
        ]
        lb_network_ip = amp["lb_network_ip"]
        assert ipaddress.ip_address(lb_network_ip) in network
        assert lb_network_ip == str(ipaddress.ip_address(lb_network_ip))
        exploded = ipaddress.ip_address(lb_network_ip).exploded.upper()
        found = check(http.get("/v2/octavia/amphorae", params={"lb_network_ip": exploded}), 200)
        assert [a["id"] for a in found["amphorae"]] == [amp["id"]]
        servers = check(http.get("/v2/servers/detail"), 200)["servers"]
        (server,) = [s for s in servers if s["id"] == amp["compute_id"]]
        assert server["addresses"] == {
            "lb-mgmt-net": [{"version": 6, "addr": lb_network_ip, "OS-EXT-IPS:type": "fixed"}]
        }

        # Heartbeats from [lb_network_ip] reach the health manager on [host]:port.
        wait_until(
            lambda: (
                check(http.get(f"/v2/lbaas/loadbalancers/{lb['id']}"), 200)["loadbalancer"][
                    "operating_status"
                ]
                == c.ONLINE
            ),
            20,
            "the LB ONLINE from heartbeats over the IPv6 lb-mgmt bridge",
        )
        with stack.db.transaction() as session:
            assert session.get(models.AmphoraHealth, amp["id"]) is not None

        namespace = amp_namespace(amp["compute_id"])
        info = _eth0_address(namespace, lb_network_ip)
        assert not info.get("tentative") and info.get("prefixlen") == 64
        assert iproute.ip_json("-6", "route", "show", "default", netns=namespace) == []
        for address in _host_ipv6_addresses():
            assert not _connects(namespace, address, 22, timeout=0.2)
        # The agent listens on its management address only, not on every address.
        listening = iproute.run(["ip", "netns", "exec", namespace, "ss", "-Htln"])
        agent_port = stack.conf.haproxy_amphora.bind_port
        assert f"[{lb_network_ip}]:{agent_port}" in listening, listening
        assert f"*:{agent_port}" not in listening and f"[::]:{agent_port}" not in listening

        # amp_secgroup_list for IPv6: the host answers its own TCP listener on the bridge
        # address, the amphora gets nothing through to it (only the heartbeat port).
        listener = socket.socket(socket.AF_INET6)
        listener.bind((host_address, 0))
        listener.listen()
        with contextlib.closing(listener):
            port = listener.getsockname()[1]
            with socket.create_connection((host_address, port), timeout=2):
                pass
            assert not _connects(namespace, host_address, port)
        with socket.create_connection((lb_network_ip, agent_port), timeout=2):
            pass

        check(http.delete(f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true"), 204)
        stack.wait_lb(http, lb["id"], c.DELETED)
        assert stack.amphorae.compute.list_instances() == []
        tenant_bridges = stack.netns.netns_network.bridges()
        assert leftovers(stack.netns.tag, [amp["compute_id"]], mgmt_bridge, tenant_bridges) == []
    for bridge in [mgmt_bridge, *tenant_bridges]:
        assert not iproute.link_exists(bridge)
    table = netns_firewall.table_name(mgmt_bridge)
    assert [t for t in netns_firewall.list_tables() if t[1] == table] == []


def test_ostia_up_netns_points_the_health_manager_at_the_ipv6_bridge_address() -> None:
    """What `ostia up --netns` does before any service starts, with an IPv6 mgmt_cidr."""
    require_namespaces()
    conf = config_mod.new_config()
    bridge = f"ost-tm{uuid.uuid4().hex[:6]}"
    conf.set_override("mgmt_bridge", bridge, "netns_compute")
    conf.set_override("mgmt_cidr", f"fd00:ab:{random.randint(1, 0xFFFF):x}::/64", "netns_compute")
    host = str(ipaddress.ip_network(conf.netns_compute.mgmt_cidr)[1])
    try:
        apply_netns_mode(conf)
        assert conf.health_manager.bind_ip == host
        assert conf.health_manager.controller_ip_port_list == [f"[{host}]:{conf.health_manager.bind_port}"]
        (link,) = iproute.ip_json("-6", "addr", "show", "dev", bridge)
        (info,) = [i for i in link["addr_info"] if i.get("scope") == "global"]
        # Bindable at once, although no amphora (no carrier) is on the bridge yet.
        assert info["local"] == host and not info.get("tentative")
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as receiver:
            receiver.bind((host, 0))
    finally:
        NetnsComputeDriver(conf).remove_mgmt_network()
    assert not iproute.link_exists(bridge)
    assert [t for t in netns_firewall.list_tables() if t[1] == netns_firewall.table_name(bridge)] == []
