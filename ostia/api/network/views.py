"""Neutron's body shapes for what the network driver has."""

from __future__ import annotations

import datetime
import ipaddress
from typing import Any

from ostia.drivers.network.base import Network, Subnet

# The networks exist from the moment the service started; Neutron's timestamp format.
_STARTED = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

SUBNET_FIELDS = (
    "id",
    "name",
    "tenant_id",
    "project_id",
    "network_id",
    "ip_version",
    "subnetpool_id",
    "enable_dhcp",
    "ipv6_ra_mode",
    "ipv6_address_mode",
    "gateway_ip",
    "cidr",
    "allocation_pools",
    "host_routes",
    "dns_nameservers",
    "description",
    "service_types",
    "tags",
    "created_at",
    "updated_at",
    "revision_number",
    "segment_id",
)

NETWORK_FIELDS = (
    "id",
    "name",
    "tenant_id",
    "project_id",
    "admin_state_up",
    "mtu",
    "status",
    "subnets",
    "shared",
    "availability_zone_hints",
    "availability_zones",
    "ipv4_address_scope",
    "ipv6_address_scope",
    "router:external",
    "description",
    "port_security_enabled",
    "qos_policy_id",
    "tags",
    "created_at",
    "updated_at",
    "revision_number",
    "is_default",
    "l2_adjacency",
)

PORT_FIELDS = (
    "id",
    "name",
    "tenant_id",
    "project_id",
    "network_id",
    "mac_address",
    "admin_state_up",
    "status",
    "device_id",
    "device_owner",
    "fixed_ips",
    "allowed_address_pairs",
    "security_groups",
    "qos_policy_id",
    "description",
    "tags",
    "created_at",
    "updated_at",
    "revision_number",
    "binding:vnic_type",
    "port_security_enabled",
)

SECURITY_GROUP_FIELDS = (
    "id",
    "name",
    "tenant_id",
    "project_id",
    "description",
    "security_group_rules",
    "stateful",
    "shared",
    "tags",
    "created_at",
    "updated_at",
    "revision_number",
)

QOS_POLICY_FIELDS = (
    "id",
    "name",
    "tenant_id",
    "project_id",
    "description",
    "shared",
    "is_default",
    "rules",
    "tags",
    "created_at",
    "updated_at",
    "revision_number",
)


def _common(project_id: str) -> dict[str, Any]:
    return {
        "tenant_id": project_id,
        "project_id": project_id,
        "description": "",
        "tags": [],
        "created_at": _STARTED,
        "updated_at": _STARTED,
        "revision_number": 0,
    }


def allocation_pools(subnet: Subnet) -> list[dict[str, str]]:
    """The addresses VIPs are taken from: the subnet's hosts, less the gateway."""
    network = ipaddress.ip_network(subnet.cidr, strict=False)
    if network.num_addresses <= 2:
        return [{"start": str(network[0]), "end": str(network[-1])}]
    # IPv4 keeps the network and broadcast addresses out; IPv6 only the subnet-router one.
    first = int(network[1])
    last = int(network[-2] if network.version == 4 else network[-1])
    gateway = int(ipaddress.ip_address(subnet.gateway_ip)) if subnet.gateway_ip else None
    ranges = [(first, last)]
    if gateway is not None and first <= gateway <= last:
        ranges = [(a, b) for a, b in ((first, gateway - 1), (gateway + 1, last)) if a <= b]
    make = type(network.network_address)  # an int alone would not say v4 or v6
    return [{"start": str(make(a)), "end": str(make(b))} for a, b in ranges]


def subnet_view(subnet: Subnet) -> dict[str, Any]:
    return {
        "id": subnet.id,
        "name": subnet.name,
        "network_id": subnet.network_id,
        "ip_version": subnet.ip_version,
        "subnetpool_id": None,
        # Loopback subnets have no DHCP server; addresses are handed out as VIPs only.
        "enable_dhcp": False,
        "ipv6_ra_mode": None,
        "ipv6_address_mode": None,
        "gateway_ip": subnet.gateway_ip,
        "cidr": subnet.cidr,
        "allocation_pools": allocation_pools(subnet),
        "host_routes": [],
        "dns_nameservers": [],
        "service_types": [],
        "segment_id": None,
        **_common(subnet.project_id),
    }


def network_view(network: Network) -> dict[str, Any]:
    return {
        "id": network.id,
        "name": network.name,
        "admin_state_up": True,
        "mtu": 1500,
        "status": "ACTIVE",
        "subnets": list(network.subnet_ids),
        # Every project may put VIPs on the driver's networks.
        "shared": True,
        "availability_zone_hints": [],
        "availability_zones": [],
        "ipv4_address_scope": None,
        "ipv6_address_scope": None,
        "router:external": False,
        "port_security_enabled": False,
        "qos_policy_id": None,
        "is_default": False,
        "l2_adjacency": True,
        **_common(network.project_id),
    }
