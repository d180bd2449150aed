"""`[netns_compute] mgmt_cidr`, IPv4 or IPv6: the host's address on the lb-mgmt bridge and
the heartbeat destination written for it; values no amphora could use stop the service."""

from __future__ import annotations

import pytest

from ostia.amphora.heartbeat_sender import parse_destination
from ostia.common import config as config_mod
from ostia.common.addresses import IPNetwork, format_host_port
from ostia.drivers.compute.netns_driver import mgmt_addresses, mgmt_host_address, mgmt_network


def _network(cidr: str | None = None) -> IPNetwork:
    conf = config_mod.new_config()
    if cidr is not None:
        conf.set_override("mgmt_cidr", cidr, "netns_compute")
    return mgmt_network(conf)


def test_the_default_stays_ipv4() -> None:
    network = _network()
    assert network.version == 4
    assert mgmt_host_address(network) == "198.18.0.1"


@pytest.mark.parametrize("cidr", ["fd00:ab::/64", "FD00:AB:0:0::/64", "fd00:ab::7/64"])
def test_an_ipv6_subnet_in_any_spelling_gives_canonical_addresses(cidr: str) -> None:
    network = _network(cidr)
    assert str(network) == "fd00:ab::/64"
    addresses = mgmt_addresses(network)
    assert [next(addresses) for _ in range(3)] == ["fd00:ab::1", "fd00:ab::2", "fd00:ab::3"]


@pytest.mark.parametrize(
    "cidr",
    [
        "fe80::/64",  # link-local: every address would need a zone
        "ff05::/64",
        "::1/128",
        "127.0.0.0/8",
        "198.18.0.0/31",
        "fd00:ab::/127",
        "fd00:ab::%ost-mgmt/64",
        "fd00:ab::/064",
        "fd00:ab::/129",
        "lb-mgmt",
        "",
    ],
)
def test_a_subnet_no_amphora_can_use_stops_the_service(cidr: str) -> None:
    with pytest.raises(config_mod.ConfigError, match=r"\[netns_compute\] mgmt_cidr"):
        _network(cidr)


@pytest.mark.parametrize(
    ("address", "written"),
    [("fd00:ab::1", "[fd00:ab::1]:5555"), ("198.18.0.1", "198.18.0.1:5555")],
)
def test_heartbeat_destinations_put_ipv6_in_brackets(address: str, written: str) -> None:
    assert format_host_port(address, 5555) == written
    assert parse_destination(written) == (address, 5555)
