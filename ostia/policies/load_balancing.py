"""Rules of the load-balancing tree: load balancers, listeners, pools, members, health
monitors, L7 policies and rules. Reads need `read`, writes `write`, lists of every project
`read-global` (the `get_all-global` rules)."""

from __future__ import annotations

from oslo_policy import policy

from ostia.policies.base import (
    LBAAS,
    RULE_ADMIN,
    RULE_READ,
    RULE_READ_GLOBAL,
    RULE_SERVICE,
    RULE_WRITE,
    api_rule,
)


def _crud(
    obj: str, display: str, collection: str, item: str, list_rule: str = RULE_READ, global_list: bool = True
) -> list[policy.RuleDefault]:
    """The five usual rules (plus get_all-global) of a resource at `collection`/`item`."""
    rules: list[policy.RuleDefault] = [
        api_rule(obj, "get_all", list_rule, f"List {display}s", ("GET", collection)),
        api_rule(obj, "post", RULE_WRITE, f"Create a {display}", ("POST", collection)),
        api_rule(obj, "get_one", RULE_READ, f"Show {display} details", ("GET", item)),
        api_rule(obj, "put", RULE_WRITE, f"Update a {display}", ("PUT", item)),
        api_rule(obj, "delete", RULE_WRITE, f"Remove a {display}", ("DELETE", item)),
    ]
    if global_list:
        rules.insert(
            1,
            api_rule(
                obj,
                "get_all-global",
                RULE_READ_GLOBAL,
                f"List {display}s of every project",
                ("GET", collection),
            ),
        )
    return rules


_LB = f"{LBAAS}/loadbalancers/{{loadbalancer_id}}"
_LISTENER = f"{LBAAS}/listeners/{{listener_id}}"
_POOL = f"{LBAAS}/pools/{{pool_id}}"
_L7POLICY = f"{LBAAS}/l7policies/{{l7policy_id}}"

RULES = [
    *_crud("loadbalancer", "Load Balancer", f"{LBAAS}/loadbalancers", _LB),
    api_rule(
        "loadbalancer", "get_stats", RULE_READ, "Show Load Balancer statistics", ("GET", f"{_LB}/stats")
    ),
    api_rule(
        "loadbalancer",
        "get_status",
        RULE_READ,
        "Show Load Balancer status tree",
        ("GET", f"{_LB}/status"),
        ("GET", f"{_LB}/statuses"),
    ),
    api_rule(
        "loadbalancer", "put_failover", RULE_ADMIN, "Fail over a Load Balancer", ("PUT", f"{_LB}/failover")
    ),
    # Field-level rules: they guard a body field, not a route of their own.
    api_rule(
        "loadbalancer",
        "post:vip_sg_ids",
        RULE_WRITE,
        "Create a Load Balancer with VIP security groups",
        ("POST", f"{LBAAS}/loadbalancers"),
    ),
    api_rule(
        "loadbalancer",
        "put:vip_sg_ids",
        RULE_WRITE,
        "Update the VIP security groups of a Load Balancer",
        ("PUT", _LB),
    ),
    *_crud("listener", "Listener", f"{LBAAS}/listeners", _LISTENER),
    api_rule("listener", "get_stats", RULE_READ, "Show Listener statistics", ("GET", f"{_LISTENER}/stats")),
    *_crud("pool", "Pool", f"{LBAAS}/pools", _POOL),
    # Other services (for example a health checker) may list the members of any pool.
    *_crud(
        "member",
        "Member",
        f"{_POOL}/members",
        f"{_POOL}/members/{{member_id}}",
        list_rule=f"{RULE_READ} or {RULE_SERVICE}",
        global_list=False,
    ),
    *_crud(
        "healthmonitor",
        "Health Monitor",
        f"{LBAAS}/healthmonitors",
        f"{LBAAS}/healthmonitors/{{healthmonitor_id}}",
    ),
    *_crud("l7policy", "L7 Policy", f"{LBAAS}/l7policies", _L7POLICY),
    *_crud("l7rule", "L7 Rule", f"{_L7POLICY}/rules", f"{_L7POLICY}/rules/{{l7rule_id}}", global_list=False),
]


def list_rules() -> list[policy.RuleDefault]:
    return list(RULES)
