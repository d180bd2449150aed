"""Rules of the operator-facing resources: quotas, amphorae, providers, flavors,
availability zones and their profiles. Profiles, amphorae and provider capabilities are
admin-only; flavors and zones are readable by every project."""

from __future__ import annotations

from oslo_policy import policy

from ostia.policies.base import (
    LBAAS,
    OCTAVIA,
    RULE_ADMIN,
    RULE_READ,
    RULE_READ_QUOTA,
    RULE_READ_QUOTA_GLOBAL,
    RULE_WRITE_QUOTA,
    api_rule,
)


def _catalog(obj: str, display: str, collection: str, item: str, read: str) -> list[policy.RuleDefault]:
    """Rules of an operator-managed catalog: `read` to look, admin to change."""
    return [
        api_rule(obj, "get_all", read, f"List {display}s", ("GET", collection)),
        api_rule(obj, "post", RULE_ADMIN, f"Create a {display}", ("POST", collection)),
        api_rule(obj, "get_one", read, f"Show {display} details", ("GET", item)),
        api_rule(obj, "put", RULE_ADMIN, f"Update a {display}", ("PUT", item)),
        api_rule(obj, "delete", RULE_ADMIN, f"Remove a {display}", ("DELETE", item)),
    ]


_QUOTA = f"{LBAAS}/quotas/{{project_id}}"
_AMPHORA = f"{OCTAVIA}/amphorae/{{amphora_id}}"
_PROVIDER = f"{LBAAS}/providers/{{provider}}"

RULES = [
    api_rule("quota", "get_all", RULE_READ_QUOTA, "List Quotas", ("GET", f"{LBAAS}/quotas")),
    api_rule(
        "quota",
        "get_all-global",
        RULE_READ_QUOTA_GLOBAL,
        "List Quotas of every project",
        ("GET", f"{LBAAS}/quotas"),
    ),
    api_rule("quota", "get_one", RULE_READ_QUOTA, "Show a project's Quotas", ("GET", _QUOTA)),
    api_rule("quota", "put", RULE_WRITE_QUOTA, "Update a project's Quotas", ("PUT", _QUOTA)),
    api_rule(
        "quota", "delete", RULE_WRITE_QUOTA, "Reset a project's Quotas to the defaults", ("DELETE", _QUOTA)
    ),
    api_rule(
        "quota",
        "get_defaults",
        RULE_READ_QUOTA,
        "Show the default Quotas",
        ("GET", f"{_QUOTA}/default"),
        ("GET", f"{LBAAS}/quotas/defaults"),
    ),
    api_rule("amphora", "get_all", RULE_ADMIN, "List Amphorae", ("GET", f"{OCTAVIA}/amphorae")),
    api_rule("amphora", "get_one", RULE_ADMIN, "Show Amphora details", ("GET", _AMPHORA)),
    api_rule("amphora", "delete", RULE_ADMIN, "Delete an Amphora", ("DELETE", _AMPHORA)),
    api_rule(
        "amphora",
        "put_config",
        RULE_ADMIN,
        "Update Amphora Agent Configuration",
        ("PUT", f"{_AMPHORA}/config"),
    ),
    api_rule("amphora", "put_failover", RULE_ADMIN, "Fail over an Amphora", ("PUT", f"{_AMPHORA}/failover")),
    api_rule("amphora", "get_stats", RULE_ADMIN, "Show Amphora statistics", ("GET", f"{_AMPHORA}/stats")),
    api_rule("provider", "get_all", RULE_READ, "List enabled providers", ("GET", f"{LBAAS}/providers")),
    api_rule(
        "provider-flavor",
        "get_all",
        RULE_ADMIN,
        "List a provider's flavor capabilities",
        ("GET", f"{_PROVIDER}/flavor_capabilities"),
    ),
    api_rule(
        "provider-availability-zone",
        "get_all",
        RULE_ADMIN,
        "List a provider's availability zone capabilities",
        ("GET", f"{_PROVIDER}/availability_zone_capabilities"),
    ),
    *_catalog("flavor", "Flavor", f"{LBAAS}/flavors", f"{LBAAS}/flavors/{{flavor_id}}", RULE_READ),
    *_catalog(
        "flavor-profile",
        "Flavor Profile",
        f"{LBAAS}/flavorprofiles",
        f"{LBAAS}/flavorprofiles/{{flavor_profile_id}}",
        RULE_ADMIN,
    ),
    *_catalog(
        "availability-zone",
        "Availability Zone",
        f"{LBAAS}/availabilityzones",
        f"{LBAAS}/availabilityzones/{{availability_zone_name}}",
        RULE_READ,
    ),
    *_catalog(
        "availability-zone-profile",
        "Availability Zone Profile",
        f"{LBAAS}/availabilityzoneprofiles",
        f"{LBAAS}/availabilityzoneprofiles/{{availability_zone_profile_id}}",
        RULE_ADMIN,
    ),
]


def list_rules() -> list[policy.RuleDefault]:
    return list(RULES)
