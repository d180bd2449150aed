"""The amphora provider: hands every change to a controller worker to run on amphorae."""

from __future__ import annotations

from typing import Any

from ostia.common import constants as c
from ostia.common import exceptions as exc
from ostia.drivers.provider.base import ProviderDriver

# Value type of every metadata key (upstream checks the same with a JSON schema).
_FLAVOR_TYPES: dict[str, type] = {
    "loadbalancer_topology": str,
    "compute_flavor": str,
    "amp_image_tag": str,
    "sriov_vip": bool,
    "allow_member_sriov": bool,
}
_ZONE_TYPES: dict[str, type] = {
    "compute_zone": str,
    "management_network": str,
    "valid_vip_networks": list,
    "volume_zone": str,
}


class AmphoraProviderDriver(ProviderDriver):
    supported_lb_algorithms = frozenset({c.ROUND_ROBIN, c.LEAST_CONNECTIONS, c.SOURCE_IP})
    # Upstream's amphorae serve SCTP with keepalived/LVS (the kernel's IP_VS); these serve
    # UDP with nginx's stream module, which has no SCTP.
    supported_protocols = frozenset(p for p in c.LISTENER_PROTOCOLS + c.POOL_PROTOCOLS if p != c.SCTP)
    unsupported_protocol_reason = (
        " Its amphorae serve TCP-family listeners with haproxy and UDP listeners with nginx; "
        "neither balances SCTP."
    )
    flavor_capabilities = (
        (
            "loadbalancer_topology",
            "The load balancer topology. One of: SINGLE - One amphora "
            "per load balancer. ACTIVE_STANDBY - Two amphora per load "
            "balancer.",
        ),
        ("compute_flavor", "The compute driver flavor ID."),
        ("amp_image_tag", "The amphora image tag."),
        ("sriov_vip", "When true, the VIP port will be created using an SR-IOV VF port."),
        ("allow_member_sriov", "When true, users can request SR-IOV member ports."),
    )
    availability_zone_capabilities = (
        ("compute_zone", "The compute availability zone."),
        ("management_network", "The management network ID for the amphora."),
        (
            "valid_vip_networks",
            "List of network IDs that are allowed for VIP use. This "
            "overrides/replaces the list of allowed networks configured "
            "in `octavia.conf`.",
        ),
        ("volume_zone", "The volume availability zone."),
    )

    def load_balancer_changed(self, lb_id: str) -> None:
        self.hooks.wake(lb_id)

    def validate_flavor(self, metadata: dict[str, Any]) -> None:
        super().validate_flavor(metadata)
        self._check_types(metadata, _FLAVOR_TYPES)
        topology = metadata.get("loadbalancer_topology")
        if topology is not None and topology not in (c.TOPOLOGY_SINGLE, c.TOPOLOGY_ACTIVE_STANDBY):
            raise exc.ProviderUnsupported(
                self.name,
                f"loadbalancer_topology '{topology}' is not one of "
                f"['{c.TOPOLOGY_SINGLE}', '{c.TOPOLOGY_ACTIVE_STANDBY}']",
            )

    def validate_availability_zone(self, metadata: dict[str, Any]) -> None:
        super().validate_availability_zone(metadata)
        self._check_types(metadata, _ZONE_TYPES)
        networks = metadata.get("valid_vip_networks") or []
        if not all(isinstance(n, str) for n in networks):
            raise exc.ProviderUnsupported(self.name, "valid_vip_networks must be a list of network IDs")

    def _check_types(self, metadata: dict[str, Any], expected: dict[str, type]) -> None:
        for key, value in metadata.items():
            wanted = expected.get(key)
            # JSON values are plain str/bool/list; an exact check keeps True from passing
            # as a number and 1 from passing as a bool.
            if wanted is not None and type(value) is not wanted:
                raise exc.ProviderUnsupported(self.name, f"{key} {value!r} is of the wrong type")
