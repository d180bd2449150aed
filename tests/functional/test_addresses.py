"""Every address a tenant gives is exactly a plain address or CIDR, stored canonical.

A zone id (`fe80::1%<anything>`) is what `ipaddress` accepts but a configuration line must
never see; other spellings (upper case, uncompressed zeros) are the same address and are
stored once, so that duplicates are found whatever the spelling.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ostia.db.session import Database, create_db_engine
from tests.support.live_api import migrated_sqlite, test_config
from tests.support.objects import (
    check,
    create_lb,
    create_listener,
    create_member,
    create_pool,
    fault,
)

V6_SUBNET = "private"  # on the same network as private-subnet (network "private")
# Not plain addresses: zone ids (one carrying a whole haproxy directive), blanks, brackets,
# comments, IPv4 leading zeros (octal to some parsers), CIDRs where an address belongs.
BAD_ADDRESSES = [
    "fe80::1%eth0",
    "fe80::1%x ssl verify none sni env(OSTIA_SECRET)",
    "fe80::1%x#y",
    "fe80::1%25",
    "[2001:db8::1]",
    " 192.0.2.10",
    "192.0.2.10 ",
    "192.0.2.10\n",
    "192.0.2.10\u2028",
    "010.0.2.10",
    "192.0.2.10/32",
    "192.0.2.10 backup",
]
BAD_CIDRS = [
    "fe80::%eth0/64",
    "10.0.0.0/8 10.0.0.0/8",
    "10.0.0.0/08",
    "10.0.0.0/255.0.0.0",
    "10.0.0.0/8#",
    "10.0.0.0/",
    "010.0.0.0/8",
    "10.0.0.0/8\n",
]


@pytest.fixture
def api(_shared_api, tmp_path) -> Iterator:  # type: ignore[no-untyped-def]
    """The live API with an IPv6 VIP subnet beside the usual IPv4 ones."""
    url = migrated_sqlite(f"{tmp_path}/octavia.db")
    db = Database(create_db_engine(url))
    subnets = ["private-subnet:127.0.100.0/24", f"{V6_SUBNET}:fd00:db8::/64"]
    try:
        yield _shared_api.reset(test_config(url, {"local_network": {"subnets": subnets}}), db)
    finally:
        db.dispose()


@pytest.fixture
def pool(client):
    lb = create_lb(client)
    return create_pool(client, loadbalancer_id=lb["id"])


def _members(pool_id: str) -> str:
    return f"/v2/lbaas/pools/{pool_id}/members"


def _post_member(client, pool_id, **body):
    return client.post(_members(pool_id), json={"member": {"protocol_port": 80, **body}})


def _post_lb(client, **body):
    return client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body})


@pytest.mark.parametrize("bad", BAD_ADDRESSES)
def test_member_address_that_is_not_plain_is_refused(client, pool, bad):
    assert "field/attribute address" in fault(_post_member(client, pool["id"], address=bad), 400)
    monitor = _post_member(client, pool["id"], address="192.0.2.10", monitor_address=bad)
    assert "field/attribute monitor_address" in fault(monitor, 400)
    batch = client.put(_members(pool["id"]), json={"members": [{"address": bad, "protocol_port": 80}]})
    assert fault(batch, 400)
    assert check(client.get(_members(pool["id"])), 200)["members"] == []


def test_member_addresses_are_stored_canonical_and_duplicates_found_in_any_spelling(client, pool):
    member = create_member(
        client, pool["id"], address="2001:DB8::0:1", port=80, monitor_address="2001:0DB8:0000::0002"
    )
    assert (member["address"], member["monitor_address"]) == ("2001:db8::1", "2001:db8::2")
    shown = check(client.get(f"{_members(pool['id'])}/{member['id']}"), 200)["member"]
    assert (shown["address"], shown["monitor_address"]) == ("2001:db8::1", "2001:db8::2")
    duplicate = _post_member(client, pool["id"], address="2001:db8:0:0::1")
    assert "already using ip 2001:db8::1" in fault(duplicate, 409)
    mapped = create_member(client, pool["id"], address="::FFFF:C000:020A", port=81)
    assert mapped["address"] == "::ffff:192.0.2.10"


def test_monitor_address_update_is_checked_and_canonical(client, pool):
    member = create_member(client, pool["id"], address="192.0.2.10", port=80)
    url = f"{_members(pool['id'])}/{member['id']}"
    bad = client.put(url, json={"member": {"monitor_address": "fe80::1%x backup"}})
    assert "field/attribute monitor_address" in fault(bad, 400)
    updated = check(client.put(url, json={"member": {"monitor_address": "2001:DB8::A"}}), 200)["member"]
    assert updated["monitor_address"] == "2001:db8::a"


@pytest.mark.parametrize("bad", BAD_ADDRESSES)
def test_vip_address_that_is_not_plain_is_refused(client, bad):
    response = _post_lb(client, vip_subnet_id=V6_SUBNET, vip_address=bad)
    assert "field/attribute vip_address" in fault(response, 400)
    extra = _post_lb(
        client, vip_subnet_id="private-subnet", additional_vips=[{"subnet_id": V6_SUBNET, "ip_address": bad}]
    )
    assert "ip_address" in fault(extra, 400)
    assert check(client.get("/v2/lbaas/loadbalancers"), 200)["loadbalancers"] == []


def test_vip_addresses_are_stored_canonical_and_not_reused_in_another_spelling(client):
    lb = create_lb(client, vip_subnet_id=V6_SUBNET, vip_address="FD00:DB8:0::0:10")
    assert lb["vip_address"] == "fd00:db8::10"
    again = _post_lb(client, vip_subnet_id=V6_SUBNET, vip_address="fd00:db8::0:0:10")
    assert "already in use" in fault(again, 409)
    both = create_lb(
        client,
        vip_subnet_id="private-subnet",
        vip_address="127.0.100.50",
        additional_vips=[{"subnet_id": V6_SUBNET, "ip_address": "FD00:DB8::B"}],
    )
    assert [v["ip_address"] for v in both["additional_vips"]] == ["fd00:db8::b"]


@pytest.mark.parametrize("bad", BAD_CIDRS)
def test_allowed_cidrs_that_are_not_plain_are_refused(client, bad):
    lb = create_lb(client)
    response = client.post(
        "/v2/lbaas/listeners",
        json={
            "listener": {
                "loadbalancer_id": lb["id"],
                "protocol": "TCP",
                "protocol_port": 22,
                "allowed_cidrs": ["192.0.2.0/24", bad],
            }
        },
    )
    assert "allowed_cidrs" in fault(response, 400)
    assert check(client.get("/v2/lbaas/listeners"), 200)["listeners"] == []


def test_allowed_cidrs_are_stored_canonical(client):
    lb = create_lb(client, vip_subnet_id=V6_SUBNET)
    listener = create_listener(
        client, lb["id"], "TCP", 22, allowed_cidrs=["2001:DB8:0::1/32", "::FFFF:192.0.2.1/120"]
    )
    assert listener["allowed_cidrs"] == ["2001:db8::/32", "::ffff:192.0.2.0/120"]
    url = f"/v2/lbaas/listeners/{listener['id']}"
    bad = client.put(url, json={"listener": {"allowed_cidrs": ["fe80::%lo/64"]}})
    assert "allowed_cidrs" in fault(bad, 400)
    assert check(client.get(url), 200)["listener"]["allowed_cidrs"] == [
        "2001:db8::/32",
        "::ffff:192.0.2.0/120",
    ]


def test_filters_find_an_address_in_any_spelling(client, pool):
    member = create_member(client, pool["id"], address="2001:db8::1", port=80, monitor_address="192.0.2.5")
    for spelling in ("2001:DB8::0:1", "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"):
        found = check(client.get(_members(pool["id"]), params={"address": spelling}), 200)["members"]
        assert [m["id"] for m in found] == [member["id"]], spelling
    assert check(client.get(_members(pool["id"]), params={"address": "fe80::1%x"}), 200)["members"] == []
    lb = create_lb(client, vip_subnet_id=V6_SUBNET, vip_address="fd00:db8::20")
    found = check(client.get("/v2/lbaas/loadbalancers", params={"vip_address": "FD00:DB8::0:20"}), 200)[
        "loadbalancers"
    ]
    assert [item["id"] for item in found] == [lb["id"]]
