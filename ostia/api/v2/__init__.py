"""The v2 resources. Each module exposes `router`; admin ones live under /v2/octavia."""

from __future__ import annotations

from fastapi import APIRouter

from ostia.api.v2 import (
    amphorae,
    availability_zone_profiles,
    availability_zones,
    flavorprofiles,
    flavors,
    healthmonitors,
    l7policies,
    l7rules,
    listeners,
    loadbalancers,
    members,
    pools,
    providers,
    quotas,
)

# (router, is_admin_prefix)
ROUTERS: list[tuple[APIRouter, bool]] = [
    (loadbalancers.router, False),
    (listeners.router, False),
    (pools.router, False),
    (members.router, False),
    (healthmonitors.router, False),
    (l7policies.router, False),
    (l7rules.router, False),
    (quotas.router, False),
    (flavors.router, False),
    (flavorprofiles.router, False),
    (availability_zones.router, False),
    (availability_zone_profiles.router, False),
    (providers.router, False),
    (amphorae.router, True),
]
