"""The amphora provider: hands every change to a controller worker to run on amphorae."""

from __future__ import annotations

from ostia.common import constants as c
from ostia.drivers.provider.base import ProviderDriver


class AmphoraProviderDriver(ProviderDriver):
    supported_lb_algorithms = frozenset(
        {c.ROUND_ROBIN, c.LEAST_CONNECTIONS, c.SOURCE_IP}
    )
    flavor_capabilities = (
        ("loadbalancer_topology", "The load balancer topology. One of: SINGLE - One amphora "
                                  "per load balancer. ACTIVE_STANDBY - Two amphora per load "
                                  "balancer."),
        ("compute_flavor", "The compute driver flavor ID."),
        ("amp_image_tag", "The amphora image tag."),
        ("sriov_vip", "When true, the VIP port will be created using an SR-IOV VF port."),
        ("allow_member_sriov", "When true, users can request SR-IOV member ports."),
    )
    availability_zone_capabilities = (
        ("compute_zone", "The compute availability zone."),
        ("management_network", "The management network ID for the amphora."),
        ("valid_vip_networks", "List of network IDs that are allowed for VIP use. This "
                               "overrides/replaces the list of allowed networks configured "
                               "in `octavia.conf`."),
        ("volume_zone", "The volume availability zone."),
    )

    def load_balancer_changed(self, lb_id: str) -> None:
        self.hooks.wake(lb_id)
