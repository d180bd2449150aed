"""Noop network driver: any UUID is a subnet or network (API-only use)."""

from __future__ import annotations

import uuid

from oslo_config import cfg

from ostia.drivers.network.base import (
    Network,
    NetworkDriver,
    NetworkNotFound,
    Subnet,
    SubnetNotFound,
)

NOOP_CIDR = "198.51.100.0/24"


class NoopNetworkDriver(NetworkDriver):
    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf

    def list_subnets(self) -> list[Subnet]:
        return []

    def list_networks(self) -> list[Network]:
        return []

    def get_subnet(self, ident: str) -> Subnet:
        try:
            uuid.UUID(ident)
        except ValueError:
            raise SubnetNotFound(ident) from None
        return Subnet(
            id=ident,
            name="",
            network_id=str(uuid.uuid5(uuid.NAMESPACE_OID, ident)),
            cidr=NOOP_CIDR,
            gateway_ip="198.51.100.1",
            ip_version=4,
        )

    def get_network(self, ident: str) -> Network:
        try:
            uuid.UUID(ident)
        except ValueError:
            raise NetworkNotFound(ident) from None
        subnet_id = str(uuid.uuid5(uuid.NAMESPACE_URL, ident))
        return Network(id=ident, name="", subnet_ids=(subnet_id,))
