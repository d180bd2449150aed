"""Namespace amphorae are isolated (root): overlapping tenant networks, the lb-mgmt
firewall (upstream's amp_secgroup_list), nothing routed to the host's real interfaces."""

from __future__ import annotations

import contextlib
import socket

from ostia.common import iproute
from ostia.drivers.compute.netns_driver import amp_namespace, vip_namespace
from ostia.drivers.network import netns_firewall
from tests.support.netns_stack import in_namespace, leftovers, netns_worker_stack
from tests.support.objects import check


def _body(subnet: str, vip: str, member: str) -> dict:
    pool = {
        "name": "pool",
        "protocol": "HTTP",
        "lb_algorithm": "ROUND_ROBIN",
        "members": [{"address": member, "protocol_port": 80}],
    }
    return {
        "vip_subnet_id": subnet,
        "vip_address": vip,
        "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": pool}],
    }


def _connects(namespace: str, host: str, port: int, timeout: float = 0.5) -> bool:
    def attempt() -> bool:
        with socket.socket() as sock:
            sock.settimeout(timeout)
            try:
                sock.connect((host, port))
                return True
            except OSError:
                return False

    return in_namespace(namespace, attempt)


def _host_addresses() -> list[str]:
    """IPv4 addresses of the host's own interfaces that are not ours (and not loopback)."""
    found = []
    for link in iproute.ip_json("addr", "show"):
        name = str(link.get("ifname", ""))
        if name == "lo" or name.startswith(iproute.PREFIX):
            continue
        found += [info["local"] for info in link.get("addr_info", []) if info.get("family") == "inet"]
    return found


def test_two_tenant_networks_with_the_same_cidr_serve_two_lbs_at_once() -> None:
    with netns_worker_stack() as stack, stack.api.client() as http:
        client_a = stack.host("ca", "tenant-a-subnet", "198.18.64.100")
        client_b = stack.host("cb", "tenant-b-subnet", "198.18.64.100")
        stack.backend("member-a", "tenant-a-subnet", "198.18.64.101")
        stack.backend("member-b", "tenant-b-subnet", "198.18.64.101")
        ids = []
        for subnet in ("tenant-a-subnet", "tenant-b-subnet"):
            lb = check(
                http.post(
                    "/v2/lbaas/loadbalancers",
                    json={"loadbalancer": _body(subnet, "198.18.64.10", "198.18.64.101")},
                ),
                201,
            )["loadbalancer"]
            ids.append(lb["id"])
        for lb_id in ids:
            stack.wait_lb(http, lb_id, timeout=60)
        # The same client address, the same VIP, the same member address: two networks.
        assert client_a.get("198.18.64.10", 80) == (200, "member-a")
        assert client_b.get("198.18.64.10", 80) == (200, "member-b")

        amps = stack.amphorae.compute.list_instances()
        assert len(amps) == 2
        first, second = amps
        mgmt_host = stack.netns.netns_compute.host_address

        # No default route, no route to the host's own addresses from any namespace.
        for instance in amps:
            for namespace in (amp_namespace(instance.compute_id), vip_namespace(instance.compute_id)):
                assert iproute.ip_json("route", "show", "default", netns=namespace) == []
        for address in _host_addresses():
            assert not _connects(client_a.namespace, address, 22, timeout=0.2)
        # The host has no address on a tenant bridge and routes nothing to one.
        for bridge in stack.netns.netns_network.bridges():
            assert iproute.ip_json("addr", "show", "dev", bridge)[0].get("addr_info") == []
        ours = {stack.netns.mgmt_bridge, *stack.netns.netns_network.bridges()}
        routes = [r for r in iproute.ip_json("route", "show") if r.get("dev") in ours]
        assert [(r["dev"], r["dst"]) for r in routes] == [
            (stack.netns.mgmt_bridge, stack.conf.netns_compute.mgmt_cidr)
        ]
        # Bridges hold only our own ports: no real interface is enslaved.
        for bridge in [stack.netns.mgmt_bridge, *stack.netns.netns_network.bridges()]:
            ports = iproute.bridge_ports(bridge)
            assert ports and all(p.startswith(iproute.PREFIX) for p in ports), ports
        ruleset = iproute.run(["nft", "list", "ruleset"])
        assert "nat" not in ruleset.split(netns_firewall.table_name(stack.netns.mgmt_bridge))[1]

        # amp_secgroup_list: the controller reaches agents on 9443, amphorae reach nothing
        # but the health manager's UDP port: not the host's other ports, not each other.
        port = stack.conf.haproxy_amphora.bind_port
        with socket.create_connection((second.lb_network_ip, port), timeout=2):
            pass
        listener = socket.socket()
        listener.bind((mgmt_host, 0))
        listener.listen()
        with contextlib.closing(listener):
            assert not _connects(amp_namespace(first.compute_id), mgmt_host, listener.getsockname()[1])
        assert not _connects(amp_namespace(first.compute_id), second.lb_network_ip, port)

        compute_ids = [a.compute_id for a in amps]
        for lb_id in ids:
            check(http.delete(f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true"), 204)
        for lb_id in ids:
            stack.wait_lb(http, lb_id, "DELETED")
        assert (
            leftovers(
                stack.netns.tag, compute_ids, stack.netns.mgmt_bridge, stack.netns.netns_network.bridges()
            )
            == []
        )
