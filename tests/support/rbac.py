"""Octavia's RBAC expectations as data: which role may make which call.

The same table drives the RBAC tests with a real Keystone (tokens) and with
`auth_strategy = testing` (role headers), so both check one statement of the rules.
Every caller acts from project A unless said otherwise; objects live in project A.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx

from tests.support import objects as o

ADMIN = "admin"
MEMBER = "member"
READER = "reader"
LB_OBSERVER = "load-balancer_observer"
LB_MEMBER = "load-balancer_member"
LB_GLOBAL_OBSERVER = "load-balancer_global_observer"
LB_QUOTA_ADMIN = "load-balancer_quota_admin"
LB_ADMIN = "load-balancer_admin"
SERVICE = "service"
NO_LB_ROLE = "other"  # a project role that grants nothing here

ROLES = (
    ADMIN,
    MEMBER,
    READER,
    LB_OBSERVER,
    LB_MEMBER,
    LB_GLOBAL_OBSERVER,
    LB_QUOTA_ADMIN,
    LB_ADMIN,
    SERVICE,
    NO_LB_ROLE,
)
# Keystone's bootstrap makes admin imply member and member imply reader.
IMPLIED = {ADMIN: (ADMIN, MEMBER, READER), MEMBER: (MEMBER, READER)}

ADMINS = frozenset({ADMIN, LB_ADMIN})
READ = frozenset({ADMIN, MEMBER, READER, LB_OBSERVER, LB_MEMBER, LB_GLOBAL_OBSERVER, LB_ADMIN})
READ_GLOBAL = frozenset({ADMIN, LB_GLOBAL_OBSERVER, LB_ADMIN})
WRITE = frozenset({ADMIN, MEMBER, LB_MEMBER, LB_ADMIN})
READ_QUOTA = READ | {LB_QUOTA_ADMIN}
READ_QUOTA_GLOBAL = frozenset({ADMIN, LB_GLOBAL_OBSERVER, LB_QUOTA_ADMIN, LB_ADMIN})
WRITE_QUOTA = frozenset({ADMIN, LB_QUOTA_ADMIN, LB_ADMIN})

POLICY_DENIED = "Policy does not allow this request to be performed."


def with_implied(role: str) -> tuple[str, ...]:
    return IMPLIED.get(role, (role,))


@dataclasses.dataclass(frozen=True)
class Probe:
    """One call and the roles allowed to make it (everyone else gets 403)."""

    resource: str
    method: str
    path: str
    allowed: frozenset[str]
    body: dict[str, Any] | None = None


@dataclasses.dataclass
class World:
    """Objects of project A that the probes act on (created by an admin of A)."""

    project_a: str
    project_b: str
    ids: dict[str, str]

    def probes(self) -> list[Probe]:
        i = self.ids
        lbaas = "/v2/lbaas"
        lb, listener, pool = (
            f"{lbaas}/loadbalancers/{i['lb']}",
            f"{lbaas}/listeners/{i['listener']}",
            f"{lbaas}/pools/{i['pool']}",
        )
        member = f"{pool}/members/{i['member']}"
        l7policy = f"{lbaas}/l7policies/{i['l7policy']}"
        return [
            Probe("loadbalancer", "GET", lb, READ),
            Probe("loadbalancer", "GET", f"{lbaas}/loadbalancers?project_id={self.project_b}", READ_GLOBAL),
            Probe("loadbalancer", "PUT", lb, WRITE, {"loadbalancer": {"description": "rbac"}}),
            Probe("loadbalancer", "GET", f"{lb}/stats", READ),
            Probe("loadbalancer", "PUT", f"{lb}/failover", ADMINS),
            Probe("listener", "GET", listener, READ),
            Probe("listener", "PUT", listener, WRITE, {"listener": {"description": "rbac"}}),
            Probe("pool", "GET", f"{lbaas}/pools", READ),
            Probe("pool", "PUT", pool, WRITE, {"pool": {"description": "rbac"}}),
            # Other services may list the members of any pool.
            Probe("member", "GET", f"{pool}/members", READ | {SERVICE}),
            Probe("member", "PUT", member, WRITE, {"member": {"name": "rbac"}}),
            Probe("healthmonitor", "GET", f"{lbaas}/healthmonitors/{i['healthmonitor']}", READ),
            Probe(
                "healthmonitor",
                "PUT",
                f"{lbaas}/healthmonitors/{i['healthmonitor']}",
                WRITE,
                {"healthmonitor": {"name": "rbac"}},
            ),
            Probe("l7policy", "GET", l7policy, READ),
            Probe("l7policy", "PUT", l7policy, WRITE, {"l7policy": {"name": "rbac"}}),
            Probe("l7rule", "GET", f"{l7policy}/rules", READ),
            Probe("l7rule", "PUT", f"{l7policy}/rules/{i['l7rule']}", WRITE, {"rule": {"value": "/rbac"}}),
            Probe("quota", "GET", f"{lbaas}/quotas/{self.project_a}", READ_QUOTA),
            Probe("quota", "GET", f"{lbaas}/quotas/{self.project_b}", READ_QUOTA_GLOBAL),
            Probe(
                "quota",
                "PUT",
                f"{lbaas}/quotas/{self.project_a}",
                WRITE_QUOTA,
                {"quota": {"loadbalancer": 100}},
            ),
            Probe("amphora", "GET", "/v2/octavia/amphorae", ADMINS),
            Probe("provider", "GET", f"{lbaas}/providers", READ),
            Probe("provider-flavor", "GET", f"{lbaas}/providers/noop_driver/flavor_capabilities", ADMINS),
            Probe(
                "provider-availability-zone",
                "GET",
                f"{lbaas}/providers/noop_driver/availability_zone_capabilities",
                ADMINS,
            ),
            Probe("flavor", "GET", f"{lbaas}/flavors/{i['flavor']}", READ),
            Probe(
                "flavor", "PUT", f"{lbaas}/flavors/{i['flavor']}", ADMINS, {"flavor": {"description": "rbac"}}
            ),
            Probe("flavor-profile", "GET", f"{lbaas}/flavorprofiles/{i['flavorprofile']}", ADMINS),
            Probe(
                "flavor-profile",
                "PUT",
                f"{lbaas}/flavorprofiles/{i['flavorprofile']}",
                ADMINS,
                {"flavorprofile": {"name": "rbac"}},
            ),
            Probe("availability-zone", "GET", f"{lbaas}/availabilityzones/{i['az']}", READ),
            Probe(
                "availability-zone",
                "PUT",
                f"{lbaas}/availabilityzones/{i['az']}",
                ADMINS,
                {"availability_zone": {"description": "rbac"}},
            ),
            Probe(
                "availability-zone-profile",
                "GET",
                f"{lbaas}/availabilityzoneprofiles/{i['azprofile']}",
                ADMINS,
            ),
            Probe(
                "availability-zone-profile",
                "PUT",
                f"{lbaas}/availabilityzoneprofiles/{i['azprofile']}",
                ADMINS,
                {"availability_zone_profile": {"name": "rbac"}},
            ),
        ]


RESOURCES = (
    "loadbalancer",
    "listener",
    "pool",
    "member",
    "healthmonitor",
    "l7policy",
    "l7rule",
    "quota",
    "amphora",
    "provider",
    "provider-flavor",
    "provider-availability-zone",
    "flavor",
    "flavor-profile",
    "availability-zone",
    "availability-zone-profile",
)


def build_world(admin: httpx.Client, project_a: str, project_b: str) -> World:
    """Create the objects the probes need, as an admin of project A."""
    lb = o.create_lb(admin, name="rbac")
    listener = o.create_listener(admin, lb["id"])
    pool = o.create_pool(admin, listener_id=listener["id"])
    member = o.create_member(admin, pool["id"])
    monitor = o.create_healthmonitor(admin, pool["id"])
    l7policy = o.create_l7policy(admin, listener["id"])
    l7rule = o.create_l7rule(admin, l7policy["id"])
    profile = o.check(
        admin.post(
            "/v2/lbaas/flavorprofiles",
            json={"flavorprofile": {"name": "rbac", "provider_name": "noop_driver", "flavor_data": "{}"}},
        ),
        201,
    )
    flavor = o.check(
        admin.post(
            "/v2/lbaas/flavors",
            json={"flavor": {"name": "rbac", "flavor_profile_id": profile["flavorprofile"]["id"]}},
        ),
        201,
    )
    az_profile = o.check(
        admin.post(
            "/v2/lbaas/availabilityzoneprofiles",
            json={
                "availability_zone_profile": {
                    "name": "rbac",
                    "provider_name": "noop_driver",
                    "availability_zone_data": "{}",
                }
            },
        ),
        201,
    )
    o.check(
        admin.post(
            "/v2/lbaas/availabilityzones",
            json={
                "availability_zone": {
                    "name": "rbac-az",
                    "availability_zone_profile_id": az_profile["availability_zone_profile"]["id"],
                }
            },
        ),
        201,
    )
    return World(
        project_a,
        project_b,
        {
            "lb": lb["id"],
            "listener": listener["id"],
            "pool": pool["id"],
            "member": member["id"],
            "healthmonitor": monitor["id"],
            "l7policy": l7policy["id"],
            "l7rule": l7rule["id"],
            "flavorprofile": profile["flavorprofile"]["id"],
            "flavor": flavor["flavor"]["id"],
            "azprofile": az_profile["availability_zone_profile"]["id"],
            "az": "rbac-az",
        },
    )


def check_probe(client: httpx.Client, role: str, probe: Probe) -> str | None:
    """None when `role` got what the rules say for `probe`, else what went wrong."""
    response = client.request(probe.method, probe.path, json=probe.body)
    if role in probe.allowed:
        if response.status_code >= 300:
            return (
                f"{probe.method} {probe.path}: expected success, got "
                f"{response.status_code} {response.text[:200]}"
            )
        return None
    if response.status_code != 403 or response.json().get("faultstring") != POLICY_DENIED:
        return f"{probe.method} {probe.path}: expected 403, got {response.status_code} {response.text[:200]}"
    return None


def allowed_and_denied(role: str, probes: list[Probe]) -> tuple[int, int]:
    """How many of `probes` `role` may and may not make (each test checks both kinds)."""
    allowed = sum(1 for p in probes if role in p.allowed)
    return allowed, len(probes) - allowed
