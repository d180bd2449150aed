"""Local network driver: named loopback subnets (no root, nothing leaves the host).

127.0.0.0/8 is a local route on `lo`, so any 127.x address can be bound without adding
it to an interface; each configured `name:CIDR` in `[local_network] subnets` becomes a
subnet with a stable id (a UUID derived from its name) on a network of the same stem.
"""

from __future__ import annotations

import ipaddress
import uuid

from oslo_config import cfg

from ostia.drivers.network.base import Network, NetworkDriver, Subnet

_NAMESPACE = uuid.UUID("6f1b3c1e-2d53-4f5e-9a55-0b7f6f0c0a11")


def stable_id(kind: str, name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{name}"))


def network_name(subnet_name: str) -> str:
    return subnet_name[: -len("-subnet")] if subnet_name.endswith("-subnet") else subnet_name


class LocalNetworkDriver(NetworkDriver):
    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self._subnets: list[Subnet] = []
        for entry in conf.local_network.subnets:
            name, _, cidr = entry.partition(":")
            net = ipaddress.ip_network(cidr.strip(), strict=False)
            gateway = str(next(net.hosts()))
            net_name = network_name(name.strip())
            self._subnets.append(
                Subnet(
                    id=stable_id("subnet", name.strip()),
                    name=name.strip(),
                    network_id=stable_id("network", net_name),
                    cidr=str(net),
                    gateway_ip=gateway,
                    ip_version=net.version,
                )
            )

    def list_subnets(self) -> list[Subnet]:
        return list(self._subnets)

    def list_networks(self) -> list[Network]:
        networks: dict[str, list[Subnet]] = {}
        for subnet in self._subnets:
            networks.setdefault(subnet.network_id, []).append(subnet)
        return [
            Network(id=net_id, name=network_name(subnets[0].name), subnet_ids=tuple(s.id for s in subnets))
            for net_id, subnets in networks.items()
        ]
