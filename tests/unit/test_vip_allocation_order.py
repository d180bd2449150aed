"""VIP allocation hands out the lowest free address, in every kind of subnet."""

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
