"""network_netns_driver: tenant subnets as Linux bridges, amphora ports as veth pairs (root).

Each configured `name:CIDR` of `[netns_network] subnets` is a subnet on its own bridge
(`ost-t<hash>`), so two subnets may use the same CIDR: nothing routes between them and each
amphora keeps its VIP interface in a namespace of its own. The host has no address on these
bridges (and no IPv6 link-local either): tenant traffic never reaches the host's stack.

A port is a veth pair: the host end (`ost-p<id>`) is a port of the subnet's bridge, the other
end appears in the amphora's namespace, as a hot-plugged NIC appears in a VM; the agent
moves it into its VIP namespace and configures it (`PUT /1.0/plug/vip`, `/1.0/plug/network`).
VIP addresses are taken from the bottom of a subnet, port addresses from the top. Port
records live under `<state_dir>/netns-ports/`; a record whose host end is gone (its amphora
was deleted) is dropped the next time a port is plugged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import ipaddress
import json
import os
import random
import uuid
from collections.abc import Collection, Container

from oslo_config import cfg

from ostia.common import iproute
from ostia.common.directory_lock import directory_lock
from ostia.drivers.network.base import (
    AddressUnavailable,
    AmphoraPort,
    Network,
    NetworkDriver,
    Subnet,
    VipAllocation,
)
from ostia.drivers.network.local_driver import network_name, stable_id

PORT_PREFIX = iproute.PREFIX + "p"
BRIDGE_PREFIX = iproute.PREFIX + "t"


@dataclasses.dataclass(frozen=True)
class PortRecord:
    port_id: str
    namespace: str
    amphora_id: str
    subnet_id: str
    mac_address: str
    ip_address: str
    host_interface: str
    interface: str

    def port(self) -> AmphoraPort:
        return AmphoraPort(
            port_id=self.port_id,
            subnet_id=self.subnet_id,
            mac_address=self.mac_address,
            ip_address=self.ip_address,
            interface=self.interface,
        )


def parse_subnets(entries: Collection[str]) -> list[Subnet]:
    subnets = []
    for entry in entries:
        name, _, cidr = entry.partition(":")
        name = name.strip()
        net = ipaddress.ip_network(cidr.strip(), strict=False)
        subnets.append(
            Subnet(
                id=stable_id("subnet", name),
                name=name,
                network_id=stable_id("network", network_name(name)),
                cidr=str(net),
                # No router on these networks: a gateway would be an address nobody answers.
                gateway_ip=None,
                ip_version=net.version,
            )
        )
    return subnets


def port_mac(port_id: str) -> str:
    digest = hashlib.sha256(port_id.encode()).digest()
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in digest[:3])


class NetnsNetworkDriver(NetworkDriver):
    plugs_amphora_ports = True

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf
        self.mgmt_bridge = conf.netns_compute.mgmt_bridge
        self._subnets = parse_subnets(conf.netns_network.subnets)
        self.port_dir = os.path.join(conf.ostia.state_dir, "netns-ports")

    # -- NetworkDriver ---------------------------------------------------------------------

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

    def allocate_vip(
        self, subnet: Subnet, requested: str | None, in_use: Container[str], start: str | None = None
    ) -> VipAllocation:
        ports = {record.ip_address for record in self._records() if record.subnet_id == subnet.id}
        taken = _TakenByEither(in_use, ports)
        if requested is not None:
            return super().allocate_vip(subnet, requested, taken, start)
        # VIPs from the bottom three quarters first, the search wrapping around there, so
        # that the ports' quarter stays free for ports; only a full bottom spills over.
        try:
            return super().allocate_vip(
                subnet, None, _TakenByEither(in_use, ports, _port_range_start(subnet)), start
            )
        except AddressUnavailable:
            return super().allocate_vip(subnet, None, taken, start)

    def plug_amphora_port(self, namespace: str, subnet: Subnet, amphora_id: str) -> AmphoraPort:
        with self._lock():
            records = self._live_records()
            for record in records:
                if record.namespace == namespace and record.subnet_id == subnet.id:
                    return record.port()
            taken = {r.ip_address for r in records if r.subnet_id == subnet.id}
            address = self._free_port_address(subnet, taken)
            port_id = uuid.uuid4().hex[:10]
            record = PortRecord(
                port_id=port_id,
                namespace=namespace,
                amphora_id=amphora_id,
                subnet_id=subnet.id,
                mac_address=port_mac(port_id),
                ip_address=address,
                host_interface=PORT_PREFIX + port_id,
                interface="p" + port_id,
            )
            bridge = self.ensure_subnet_bridge(subnet)
            iproute.add_veth(
                record.host_interface, record.interface, namespace, bridge, peer_mac=record.mac_address
            )
            self._write(record)
            return record.port()

    # -- namespace networks only ------------------------------------------------------------

    def bridge_name(self, subnet: Subnet) -> str:
        """The bridge of a subnet; distinct per lb-mgmt bridge, so that two deployments
        (an `ostia up --netns` and a test) never share a tenant bridge."""
        digest = hashlib.sha1(f"{self.mgmt_bridge}:{subnet.name}".encode()).hexdigest()
        return BRIDGE_PREFIX + digest[:9]

    def ensure_subnet_bridge(self, subnet: Subnet | str) -> str:
        """Create the subnet's bridge if needed; return its name."""
        if isinstance(subnet, str):
            subnet = self.get_subnet(subnet)
        name = self.bridge_name(subnet)
        iproute.ensure_bridge(name)
        return name

    def bridges(self) -> list[str]:
        return [self.bridge_name(subnet) for subnet in self._subnets]

    def ports_of(self, namespace: str) -> list[AmphoraPort]:
        return [r.port() for r in self._records() if r.namespace == namespace]

    def remove_ports(self) -> int:
        """Delete every port this driver recorded (host ends an amphora's deletion left)
        with its record; returns how many records there were."""
        with self._lock():
            records = self._records()
            for record in records:
                iproute.delete_link(record.host_interface)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.port_dir, f"{record.port_id}.json"))
        return len(records)

    def remove_bridges(self) -> None:
        """Delete the subnet bridges (they must have no ports left to be useful again)."""
        for name in self.bridges():
            iproute.delete_link(name)

    # -- records -----------------------------------------------------------------------------

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        return directory_lock(self.port_dir, ".lock")

    def _records(self) -> list[PortRecord]:
        try:
            names = sorted(os.listdir(self.port_dir))
        except FileNotFoundError:
            return []
        records = []
        for name in names:
            if not name.endswith(".json"):
                continue
            try:
                with open(os.path.join(self.port_dir, name)) as handle:
                    records.append(PortRecord(**json.load(handle)))
            except (OSError, ValueError, TypeError):
                continue
        return records

    def _live_records(self) -> list[PortRecord]:
        """Records whose host end still exists; the others are deleted."""
        live = []
        existing = {str(link.get("ifname")) for link in iproute.list_links(PORT_PREFIX)}
        for record in self._records():
            if record.host_interface in existing:
                live.append(record)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.port_dir, f"{record.port_id}.json"))
        return live

    def _write(self, record: PortRecord) -> None:
        path = os.path.join(self.port_dir, f"{record.port_id}.json")
        with open(path + ".tmp", "w") as handle:
            json.dump(dataclasses.asdict(record), handle)
        os.replace(path + ".tmp", path)

    @staticmethod
    def _free_port_address(subnet: Subnet, taken: set[str]) -> str:
        network = ipaddress.ip_network(subnet.cidr)
        last = int(network.broadcast_address) - (1 if network.version == 4 else 0)
        # The top quarter of the subnet holds amphora ports; VIPs come from the bottom. A
        # random free one, so that a replaced amphora's address (still in its peer's and
        # clients' neighbour caches with the old MAC) is seldom handed out again at once.
        first = _port_range_start(subnet)
        free = [
            str(ipaddress.ip_address(value))
            for value in range(first, last + 1)
            if str(ipaddress.ip_address(value)) not in taken
        ]
        if free:
            return random.choice(free)
        raise AddressUnavailable(f"no free port address left in subnet {subnet.name} ({subnet.cidr})")


def _port_range_start(subnet: Subnet) -> int:
    """The first address of the subnet's top quarter, where amphora ports come from."""
    network = ipaddress.ip_network(subnet.cidr)
    return int(network.network_address) + network.num_addresses * 3 // 4


class _TakenByEither:
    """Addresses held by load balancers (`in_use`, possibly looked up one at a time in the
    database) or by amphora ports (this driver's records), and with `reserved_from`, every
    address from that one on."""

    def __init__(self, in_use: Container[str], ports: set[str], reserved_from: int | None = None) -> None:
        self.in_use = in_use
        self.ports = ports
        self.reserved_from = reserved_from

    def __contains__(self, address: object) -> bool:
        if self.reserved_from is not None and int(ipaddress.ip_address(str(address))) >= self.reserved_from:
            return True
        return address in self.ports or address in self.in_use
