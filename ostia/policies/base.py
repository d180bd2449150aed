"""The building blocks every API rule refers to: who is admin, owner, reader, member.

Defaults follow Keystone's default roles (admin, member, reader, service). Octavia's older
role names (load-balancer_observer, _global_observer, _member, _quota_admin, _admin) stay
honoured through deprecated rules, which oslo.policy OR's in while
`[oslo_policy] enforce_new_defaults` is False (Ostia's default).
"""

from __future__ import annotations

from oslo_policy import policy

PROJECT_SCOPE = ["project"]
_LEGACY_REASON = (
    "Octavia's load-balancer_* roles are superseded by Keystone's default roles "
    "(admin, member, reader); they keep working while enforce_new_defaults is False."
)
_LEGACY_SINCE = "W"

RULE_ADMIN = "rule:load-balancer:admin"
RULE_READ = "rule:load-balancer:read"
RULE_READ_GLOBAL = "rule:load-balancer:read-global"
RULE_WRITE = "rule:load-balancer:write"
RULE_READ_QUOTA = "rule:load-balancer:read-quota"
RULE_READ_QUOTA_GLOBAL = "rule:load-balancer:read-quota-global"
RULE_WRITE_QUOTA = "rule:load-balancer:write-quota"
RULE_SERVICE = "rule:service"


def _legacy(name: str, check_str: str) -> policy.DeprecatedRule:
    return policy.DeprecatedRule(
        name=name, check_str=check_str, deprecated_reason=_LEGACY_REASON, deprecated_since=_LEGACY_SINCE
    )


def _rule(name: str, check_str: str, description: str, legacy: str | None = None) -> policy.RuleDefault:
    return policy.RuleDefault(
        name=name,
        check_str=check_str,
        description=description,
        scope_types=PROJECT_SCOPE,
        deprecated_rule=_legacy(name, legacy) if legacy is not None else None,
    )


def _any_of(*rules: str) -> str:
    return " or ".join(f"rule:{r}" for r in rules)


RULES = [
    _rule(
        "context_is_admin",
        "role:admin",
        "Who is an administrator.",
        legacy="role:admin or role:load-balancer_admin",
    ),
    _rule("load-balancer:owner", "project_id:%(project_id)s", "The caller's project owns the object."),
    _rule("project-member", "role:member and project_id:%(project_id)s", "A member of the owning project."),
    _rule("project-reader", "role:reader and project_id:%(project_id)s", "A reader of the owning project."),
    _rule("service", "role:service", "Another OpenStack service."),
    # is_admin:True is the caller's context_is_admin verdict, computed once per request.
    _rule(
        "load-balancer:admin",
        "is_admin:True or role:admin",
        "Administrator of every load-balancer API, across projects.",
        legacy="is_admin:True or role:admin or role:load-balancer_admin",
    ),
    _rule(
        "load-balancer:global_observer",
        "role:admin",
        "Reads load-balancer objects of every project.",
        legacy="role:load-balancer_global_observer",
    ),
    _rule(
        "load-balancer:member_and_owner",
        "rule:project-member",
        "Reads and writes the objects of their own project.",
        legacy="role:load-balancer_member and rule:load-balancer:owner",
    ),
    _rule(
        "load-balancer:observer_and_owner",
        "rule:project-reader",
        "Reads the objects of their own project.",
        legacy="role:load-balancer_observer and rule:load-balancer:owner",
    ),
    _rule(
        "load-balancer:quota-admin",
        "role:admin",
        "Manages quotas of every project.",
        legacy="role:load-balancer_quota_admin",
    ),
    _rule(
        "load-balancer:read",
        _any_of(
            "load-balancer:observer_and_owner",
            "load-balancer:global_observer",
            "load-balancer:member_and_owner",
            "load-balancer:admin",
        ),
        "Read access to an object.",
    ),
    _rule(
        "load-balancer:read-global",
        _any_of("load-balancer:global_observer", "load-balancer:admin"),
        "Read access to the objects of every project.",
    ),
    _rule(
        "load-balancer:write",
        _any_of("load-balancer:member_and_owner", "load-balancer:admin"),
        "Write access to an object.",
    ),
    _rule(
        "load-balancer:read-quota",
        _any_of(
            "load-balancer:observer_and_owner",
            "load-balancer:global_observer",
            "load-balancer:member_and_owner",
            "load-balancer:quota-admin",
            "load-balancer:admin",
        ),
        "Read access to a project's quota.",
    ),
    _rule(
        "load-balancer:read-quota-global",
        _any_of("load-balancer:global_observer", "load-balancer:quota-admin", "load-balancer:admin"),
        "Read access to every project's quota.",
    ),
    _rule(
        "load-balancer:write-quota",
        _any_of("load-balancer:quota-admin", "load-balancer:admin"),
        "Write access to quotas.",
    ),
]


def list_rules() -> list[policy.RuleDefault]:
    return list(RULES)


PREFIX = "os_load-balancer_api:"
LBAAS = "/v2/lbaas"
OCTAVIA = "/v2/octavia"


def api_rule(
    obj: str, action: str, check_str: str, description: str, *operations: tuple[str, str]
) -> policy.DocumentedRuleDefault:
    """`os_load-balancer_api:<obj>:<action>` guarding the (method, path) `operations`.

    The API enforces each rule on exactly the routes listed here, so this is also the
    route-to-policy table (paths keep upstream's `/v2/lbaas` and `/v2/octavia` prefixes).
    """
    return policy.DocumentedRuleDefault(
        name=f"{PREFIX}{obj}:{action}",
        check_str=check_str,
        description=description,
        operations=[{"method": method, "path": path} for method, path in operations],
        scope_types=PROJECT_SCOPE,
    )
