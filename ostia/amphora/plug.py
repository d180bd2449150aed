"""plug/vip and plug/network: payload checks as upstream makes them, and where they go.

A local amphora has no interface to configure: 127.x addresses bind without `ip addr`, so
`LocalPlugger` only records what it was asked (under `<base_path>/plug/`). A namespace
amphora will implement NetworkPlugger with real interfaces.
"""

from __future__ import annotations

import abc
import dataclasses
import ipaddress
import json
import os
from typing import Any

from ostia.common import addresses


class PlugError(Exception):
    """A refused payload: `status` and the JSON `body` to answer with."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


def _bad_request(description: str) -> PlugError:
    # Upstream raises a werkzeug BadRequest here, hence the {"error", "http_code"} shape.
    return PlugError(400, {"error": f"400 Bad Request: {description}", "http_code": 400})


@dataclasses.dataclass(frozen=True)
class VipPlug:
    vip: str
    subnet_cidr: str
    gateway: str | None
    mac_address: str
    vrrp_ip: str | None
    mtu: int | None
    host_routes: list[dict[str, Any]]
    additional_vips: list[dict[str, Any]]
    is_sriov: bool


@dataclasses.dataclass(frozen=True)
class NetworkPlug:
    mac_address: str
    fixed_ips: list[dict[str, Any]]
    mtu: int | None
    vip_net_info: dict[str, Any] | None
    is_sriov: bool


# The same strict parsing as the controller's: a zone id or a blank never reaches a
# command line or a file of the amphora (InvalidAddress is a ValueError).
def _ip(value: Any) -> str:
    return addresses.canonical_address(value)


def _network(value: Any) -> str:
    return addresses.canonical_cidr(value)


def _routes(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("host_routes must be a list")
    for route in value:
        if not isinstance(route, dict):
            raise ValueError("a host route must be an object")
        _network(route.get("destination"))
        _ip(route.get("nexthop"))
    return value


def _mtu(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 68:
        raise ValueError(f"invalid mtu {value!r}")
    return value


def parse_vip_plug(vip: str, body: Any) -> VipPlug:
    try:
        vip = _ip(vip)
    except ValueError as exc:
        raise PlugError(400, {"message": "Invalid VIP", "details": str(exc)}) from exc
    if not isinstance(body, dict) or not {"subnet_cidr", "gateway", "mac_address"} <= set(body):
        raise _bad_request("Invalid subnet information")
    try:
        subnet = _network(body["subnet_cidr"])
        gateway = _ip(body["gateway"]) if body.get("gateway") else None
        routes = _routes(body.get("host_routes"))
        additional = body.get("additional_vips") or []
        if not isinstance(additional, list):
            raise ValueError("additional_vips must be a list")
        for extra in additional:
            if not isinstance(extra, dict):
                raise ValueError("an additional VIP must be an object")
            _ip(extra.get("ip_address"))
            _network(extra.get("subnet_cidr"))
            _routes(extra.get("host_routes"))
        mtu = _mtu(body.get("mtu"))
    except (ValueError, TypeError) as exc:
        raise _bad_request(f"Invalid subnet information: {exc}") from exc
    vrrp_ip = body.get("vrrp_ip")
    if vrrp_ip:
        try:
            vrrp_ip = _ip(vrrp_ip)
        except ValueError as exc:
            raise PlugError(400, {"message": "Invalid VRRP Address", "details": str(exc)}) from exc
    return VipPlug(
        vip=vip,
        subnet_cidr=subnet,
        gateway=gateway,
        mac_address=str(body["mac_address"]),
        vrrp_ip=vrrp_ip or None,
        mtu=mtu,
        host_routes=routes,
        additional_vips=additional,
        is_sriov=bool(body.get("is_sriov", False)),
    )


def parse_network_plug(body: Any) -> NetworkPlug:
    if not isinstance(body, dict) or "mac_address" not in body:
        raise _bad_request("Invalid port information")
    try:
        fixed_ips = body.get("fixed_ips") or []
        if not isinstance(fixed_ips, list):
            raise ValueError("fixed_ips must be a list")
        for fixed in fixed_ips:
            if not isinstance(fixed, dict):
                raise ValueError("a fixed IP must be an object")
            _ip(fixed.get("ip_address"))
            if fixed.get("subnet_cidr") is not None:
                _network(fixed["subnet_cidr"])
            _routes(fixed.get("host_routes"))
        mtu = _mtu(body.get("mtu"))
        vip_net_info = body.get("vip_net_info")
        if vip_net_info is not None:
            parse_vip_plug(str(vip_net_info.get("vip")), vip_net_info)
    except (ValueError, TypeError, AttributeError, PlugError) as exc:
        raise PlugError(400, {"message": "Invalid network port", "details": str(exc)}) from exc
    return NetworkPlug(
        mac_address=str(body["mac_address"]),
        fixed_ips=fixed_ips,
        mtu=mtu,
        vip_net_info=vip_net_info,
        is_sriov=bool(body.get("is_sriov", False)),
    )


class NetworkPlugger(abc.ABC):
    def interface_of(self, address: str) -> str | None:
        """The interface holding `address` (`GET /1.0/interface/{ip}`); loopback addresses
        are on `lo`."""
        try:
            return "lo" if ipaddress.ip_address(address).is_loopback else None
        except ValueError:
            return None

    @abc.abstractmethod
    def plug_vip(self, plug: VipPlug) -> str:
        """Bring the VIP(s) up; return the interface name."""

    @abc.abstractmethod
    def plug_network(self, plug: NetworkPlug) -> tuple[str, bool]:
        """Bring a member network port up; return (interface, whether it already existed)."""


class LocalPlugger(NetworkPlugger):
    """Loopback amphora: nothing to configure, the request is recorded."""

    interface = "lo"

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def _record(self, name: str, data: dict[str, Any]) -> bool:
        os.makedirs(self.directory, exist_ok=True)
        path = os.path.join(self.directory, name)
        existed = os.path.exists(path)
        with open(path + ".tmp", "w") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
        os.replace(path + ".tmp", path)
        return existed

    def plug_vip(self, plug: VipPlug) -> str:
        self._record(f"vip-{plug.vip}.json", dataclasses.asdict(plug))
        return self.interface

    def plug_network(self, plug: NetworkPlug) -> tuple[str, bool]:
        safe_mac = "".join(ch if ch.isalnum() else "-" for ch in plug.mac_address)
        existed = self._record(f"network-{safe_mac}.json", dataclasses.asdict(plug))
        return self.interface, existed
