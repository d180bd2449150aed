"""Network driver interface: subnets and networks VIPs live on, and VIP addresses."""

from __future__ import annotations

import abc
import dataclasses
import ipaddress
from collections.abc import Container, Iterator
from itertools import chain
from typing import Any


@dataclasses.dataclass(frozen=True)
class Subnet:
    id: str
    name: str
    network_id: str
    cidr: str
    gateway_ip: str | None
    ip_version: int
    project_id: str = ""

    def contains(self, address: str) -> bool:
        try:
            return ipaddress.ip_address(address) in ipaddress.ip_network(self.cidr)
        except ValueError:
            return False


@dataclasses.dataclass(frozen=True)
class Network:
    id: str
    name: str
    subnet_ids: tuple[str, ...]
    project_id: str = ""


@dataclasses.dataclass(frozen=True)
class VipAllocation:
    ip_address: str
    subnet_id: str
    network_id: str
    port_id: str | None = None


class NetworkNotFound(LookupError):
    pass


class SubnetNotFound(LookupError):
    pass


class AddressUnavailable(ValueError):
    """The requested VIP address is outside the subnet or already taken."""


@dataclasses.dataclass(frozen=True)
class AmphoraPort:
    """A port of a subnet plugged into an amphora (a hot-plugged NIC of a VM)."""

    port_id: str
    subnet_id: str
    mac_address: str
    ip_address: str
    # Name of the interface as it appears in the amphora before the agent configures it.
    interface: str


class NetworkDriver(abc.ABC):
    """Subnets, VIP addresses and amphora ports. Capabilities a driver may lack are declared
    here, off by default; the worker reads them, it never probes a driver for methods."""

    # Ports are real interfaces on a shared layer 2 network, so a VIP can move between
    # amphorae (ACTIVE_STANDBY) and amphorae reach members through them.
    plugs_amphora_ports: bool = False

    def plug_amphora_port(self, namespace: str, subnet: Subnet, amphora_id: str) -> AmphoraPort:
        """Plug a new port of `subnet` into the amphora whose ports arrive in `namespace`;
        an existing port of that amphora on that subnet is returned as it is."""
        raise NotImplementedError(f"{type(self).__name__} does not plug amphora ports")

    def deallocate_vip(self, lb: Any) -> None:
        """Release what the driver holds for the load balancer's VIP (nothing by default:
        addresses are free again once the load balancer row is gone)."""
        return None

    @abc.abstractmethod
    def list_subnets(self) -> list[Subnet]: ...

    @abc.abstractmethod
    def list_networks(self) -> list[Network]: ...

    def get_subnet(self, ident: str) -> Subnet:
        """A subnet by id or by name."""
        for subnet in self.list_subnets():
            if ident in (subnet.id, subnet.name):
                return subnet
        raise SubnetNotFound(ident)

    def get_network(self, ident: str) -> Network:
        """A network by id or by name."""
        for network in self.list_networks():
            if ident in (network.id, network.name):
                return network
        raise NetworkNotFound(ident)

    def allocate_vip(
        self, subnet: Subnet, requested: str | None, in_use: Container[str], start: str | None = None
    ) -> VipAllocation:
        """Pick a free address of `subnet` (or check `requested`), never one in `in_use`.

        The first free address from `start` on, wrapping around past the subnet's last
        address; the lowest free one without `start`. `in_use` is only asked about single
        addresses, so it may look each one up where it is stored."""
        network = ipaddress.ip_network(subnet.cidr)

        def taken(address: str) -> bool:
            return address == subnet.gateway_ip or address in in_use

        if requested is not None:
            if not subnet.contains(requested):
                raise AddressUnavailable(
                    f"The VIP address {requested} is not in subnet {subnet.id} ({subnet.cidr})."
                )
            if taken(requested):
                raise AddressUnavailable(f"The VIP IP address is already in use: {requested}")
            return VipAllocation(requested, subnet.id, subnet.network_id)
        for address in _host_strings(network, start):
            if not taken(address):
                return VipAllocation(address, subnet.id, subnet.network_id)
        raise AddressUnavailable(f"No free address left in subnet {subnet.id} ({subnet.cidr}).")


def _host_bounds(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, int]:
    """The first and last usable address of `network` as integers, as `hosts()` counts
    them: IPv4 without network and broadcast address (except /31 and /32), IPv6 without
    the subnet-router anycast address (except /127 and /128)."""
    first, last = int(network.network_address), int(network.broadcast_address)
    if network.prefixlen >= network.max_prefixlen - 1:
        return first, last
    return first + 1, (last - 1 if network.version == 4 else last)


def _host_strings(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network, start: str | None = None
) -> Iterator[str]:
    """The usable addresses of `network` in order from `start` (from the first without it,
    or when `start` is outside them), wrapping around to the first, as strings.

    Formatting IPv4 addresses from integers instead of building an `IPv4Address` for each
    keeps a walk past thousands of taken addresses well under a millisecond.
    """
    first, last = _host_bounds(network)
    begin = first
    if start is not None:
        try:
            value = int(ipaddress.ip_address(start))
        except ValueError:
            value = first
        if first <= value <= last:
            begin = value
    for value in chain(range(begin, last + 1), range(first, begin)):
        if network.version == 4:
            yield f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"
        else:
            yield str(ipaddress.IPv6Address(value))


def next_address(address: str) -> str:
    """The address after `address` (where the next search of its subnet starts); the
    same address at the top of the address space, where a search wraps around anyway."""
    parsed = ipaddress.ip_address(address)
    try:
        return str(parsed + 1)
    except ipaddress.AddressValueError:
        return address
