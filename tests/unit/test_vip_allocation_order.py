"""VIP allocation hands out the lowest free address, or the first free one from where the
last search stopped, in every kind of subnet."""

from __future__ import annotations

import ipaddress

import pytest

from ostia.drivers.network.base import AddressUnavailable, NetworkDriver, Subnet


class _Driver(NetworkDriver):
    def list_subnets(self) -> list[Subnet]:
        return []

    def list_networks(self) -> list:  # type: ignore[type-arg]
        return []


def _subnet(cidr: str, gateway: str | None) -> Subnet:
    net = ipaddress.ip_network(cidr)
    return Subnet(id="s", name="s", network_id="n", cidr=cidr, gateway_ip=gateway, ip_version=net.version)


@pytest.mark.parametrize(
    "cidr", ["127.2.0.0/16", "192.0.2.0/29", "192.0.2.0/31", "192.0.2.7/32", "fd00::/125"]
)
def test_each_create_gets_the_next_free_address_in_order(cidr):
    network = ipaddress.ip_network(cidr)
    expected = [str(a) for a in network.hosts()][:40]
    subnet, taken = _subnet(cidr, None), []
    for address in expected:
        got = _Driver().allocate_vip(subnet, None, taken).ip_address
        assert got == address
        taken.append(got)


def test_gateway_and_taken_addresses_are_skipped_and_a_full_subnet_is_refused():
    subnet = _subnet("192.0.2.0/29", "192.0.2.1")
    taken = ["192.0.2.2", "192.0.2.4"]
    assert _Driver().allocate_vip(subnet, None, taken).ip_address == "192.0.2.3"
    with pytest.raises(AddressUnavailable, match="No free address"):
        _Driver().allocate_vip(subnet, None, [*taken, "192.0.2.3", "192.0.2.5", "192.0.2.6"])


@pytest.mark.parametrize(
    ("cidr", "start", "taken", "expected"),
    [
        ("192.0.2.0/29", "192.0.2.4", [], "192.0.2.4"),
        ("192.0.2.0/29", "192.0.2.4", ["192.0.2.4", "192.0.2.5"], "192.0.2.6"),
        # Past the last address the search wraps around to the first free one.
        ("192.0.2.0/29", "192.0.2.6", ["192.0.2.6"], "192.0.2.1"),
        ("192.0.2.0/29", "192.0.2.7", ["192.0.2.1"], "192.0.2.2"),
        ("192.0.2.0/29", "198.51.100.9", [], "192.0.2.1"),
        ("fd00::/125", "fd00::6", ["fd00::6", "fd00::7"], "fd00::1"),
    ],
)
def test_a_start_address_begins_the_search_there_and_wraps_around(cidr, start, taken, expected):
    got = _Driver().allocate_vip(_subnet(cidr, None), None, taken, start).ip_address
    assert got == expected


def test_a_full_subnet_is_refused_from_any_start():
    subnet = _subnet("192.0.2.0/30", None)
    with pytest.raises(AddressUnavailable, match="No free address"):
        _Driver().allocate_vip(subnet, None, ["192.0.2.1", "192.0.2.2"], "192.0.2.2")
