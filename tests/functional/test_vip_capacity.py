"""The default loopback subnets hold thousands of VIPs, not the 253 of a /24."""

from __future__ import annotations

import ipaddress
import re
import uuid

from sqlalchemy import event

from ostia.common import constants as c
from ostia.db import models
from tests.support.objects import check, create_lb


def _store_lbs_with_vips(api, subnet_id: str, addresses: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Load balancers already holding `addresses`, as if created one by one before."""
    with api.db.transaction() as session:
        for address in addresses:
            lb = models.LoadBalancer(
                id=str(uuid.uuid4()),
                project_id="p",
                provider="noop_driver",
                provisioning_status=c.ACTIVE,
                operating_status=c.ONLINE,
            )
            lb.vip = models.Vip(ip_address=address, subnet_id=subnet_id)
            session.add(lb)


def test_private_subnet_gives_a_vip_past_the_254th_load_balancer(api, client):
    subnet = check(client.get("/v2.0/subnets", params={"name": "private-subnet"}), 200)["subnets"][0]
    network = ipaddress.ip_network(subnet["cidr"])
    assert network.num_addresses >= 4096
    hosts = network.hosts()
    next(hosts)  # the gateway
    taken = [str(next(hosts)) for _ in range(300)]
    _store_lbs_with_vips(api, subnet["id"], taken)

    lb = create_lb(client, name="the-301st")
    assert lb["vip_address"] not in taken
    assert ipaddress.ip_address(lb["vip_address"]) in network
    # The first /24 is full: an address beyond it is handed out and can be asked for.
    assert ipaddress.ip_address(lb["vip_address"]) >= network.network_address + 256
    chosen = str(network.network_address + 4000)
    assert create_lb(client, vip_address=chosen)["vip_address"] == chosen


def test_default_subnets_stay_clear_of_the_management_range_and_the_api_address(client):
    subnets = check(client.get("/v2.0/subnets"), 200)["subnets"]
    management = ipaddress.ip_network("127.1.0.0/16")
    cidrs = [ipaddress.ip_network(s["cidr"]) for s in subnets]
    assert {s["name"] for s in subnets} == {"private-subnet", "public-subnet"}
    for cidr in cidrs:
        assert cidr.prefixlen <= 16 and not cidr.overlaps(management)
        assert ipaddress.ip_address("127.0.0.1") not in cidr
    assert not cidrs[0].overlaps(cidrs[1])


def test_a_create_looks_up_a_few_addresses_not_every_vip_of_the_subnet(api, client):
    subnet = check(client.get("/v2.0/subnets", params={"name": "private-subnet"}), 200)["subnets"][0]
    network = ipaddress.ip_network(subnet["cidr"])
    _store_lbs_with_vips(api, subnet["id"], [str(network.network_address + n) for n in range(2, 1002)])
    first = create_lb(client)  # the subnet's first create since: it reads them all once
    assert first["vip_address"] == str(network.network_address + 1002)
    vip_queries: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if re.search(r"FROM vip\b(?!_)", statement):
            vip_queries.append(" ".join(statement.split()))

    event.listen(api.db.engine, "before_cursor_execute", note)
    try:
        second = create_lb(client)
    finally:
        event.remove(api.db.engine, "before_cursor_execute", note)
    assert second["vip_address"] == str(network.network_address + 1003)
    # One lookup of the address it hands out, none of the whole subnet.
    assert len(vip_queries) == 1 and "vip.ip_address = " in vip_queries[0], vip_queries
