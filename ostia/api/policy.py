"""Central authorization: every v2 route maps to one Octavia policy, checked before its handler.

The route table is derived from the rule definitions themselves (`ostia.policies`: each
rule lists the method and path it guards), so a resource module needs no policy code.
Object ownership stays with the handlers: this layer only decides whether the caller may
make the call at all, and whether across projects (`sees_all_projects`) or only inside
their own project, where the handlers hide other projects' objects as 404.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi import Request
from oslo_config import cfg
from oslo_policy import policy

from ostia.api import safe_json
from ostia.api.context import RequestContext
from ostia.common import exceptions as exc
from ostia.policies import list_rules
from ostia.policies.base import PREFIX

LOG = logging.getLogger(__name__)

# A project id no real project has (Keystone ids are hex): a rule that passes for it passes
# for any project, which is what "may act across projects" means whatever the rule says.
ANY_OTHER_PROJECT = "ostia:any-other-project"

# Verdicts are kept this long (policy file edits apply within it) and this many at most.
DECISION_TTL = 2.0
DECISION_LIMIT = 10000

_PREFIXES = re.compile(r"^/v2(\.0)?/(lbaas|octavia)")
_PARAM = re.compile(r"\{[^}]*\}")


@dataclasses.dataclass(frozen=True)
class RoutePolicy:
    """The policies one route needs: `obj` and one or more actions, all of them required."""

    obj: str
    actions: tuple[str, ...]
    # Body fields with a rule of their own ("post:vip_sg_ids"): (action, field) pairs.
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def is_list(self) -> bool:
        return self.actions == ("get_all",)

    def names(self, actions: Iterable[str] | None = None) -> list[str]:
        chosen = self.actions if actions is None else actions
        return [f"{PREFIX}{self.obj}:{action}" for action in chosen]


def route_key(method: str, path: str) -> tuple[str, str]:
    """(method, path) of a route with API prefixes dropped and parameters reduced to `{}`."""
    method = "GET" if method.upper() == "HEAD" else method.upper()
    return method, _PARAM.sub("{}", _PREFIXES.sub("", path)) or "/"


def route_table(rules: Iterable[policy.RuleDefault]) -> dict[tuple[str, str], RoutePolicy]:
    """Route -> policy, from the operations each documented rule declares.

    `get_all-global` rules share their route with `get_all` (they are the list fallback);
    field rules such as `post:vip_sg_ids` join their route's policy, checked when the body
    sets that field.
    """
    table: dict[tuple[str, str], RoutePolicy] = {}
    documented = [r for r in rules if isinstance(r, policy.DocumentedRuleDefault)]
    field_rules = []
    for rule in documented:
        obj, action = rule.name.removeprefix(PREFIX).split(":", 1)
        if ":" in action:
            field_rules.append(rule)
            continue
        if action.endswith("-global"):
            continue
        for operation in rule.operations:
            key = route_key(operation["method"], operation["path"])
            if key in table:
                raise ValueError(f"two policies claim {key}: {table[key]} and {rule.name}")
            table[key] = RoutePolicy(obj, (action,))
    for rule in field_rules:
        action, field = rule.name.removeprefix(PREFIX).split(":", 1)[1].split(":", 1)
        for operation in rule.operations:
            key = route_key(operation["method"], operation["path"])
            route = table[key]
            table[key] = dataclasses.replace(route, fields=(*route.fields, (action, field)))
    # The batch member update creates, updates and deletes members in one call.
    table[("PUT", "/pools/{}/members")] = RoutePolicy("member", ("post", "put", "delete"))
    return table


class Decisions:
    """Recent policy verdicts.

    oslo.policy spends about a millisecond per check (it inspects each check's signature
    every time) and a caller makes the same few checks call after call. A verdict depends
    only on the rule, the target project and the credentials, so it is kept briefly.
    """

    def __init__(
        self,
        ttl: float = DECISION_TTL,
        limit: int = DECISION_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.limit = limit
        self.clock = clock
        self._verdicts: dict[tuple[Any, ...], tuple[bool, float]] = {}

    def get(self, key: tuple[Any, ...], decide: Callable[[], bool]) -> bool:
        now = self.clock()
        found = self._verdicts.get(key)
        if found is not None and found[1] > now:
            return found[0]
        verdict = decide()
        if len(self._verdicts) >= self.limit:
            self._verdicts.clear()  # rare: a flood of distinct callers
        self._verdicts[key] = (verdict, now + self.ttl)
        return verdict


class Authorizer:
    """oslo.policy with Octavia's rules and `[oslo_policy] policy_file` overrides."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.enforcer = policy.Enforcer(conf)
        rules = list_rules()
        self.enforcer.register_defaults(rules)
        # Legacy load-balancer_* roles are honoured on purpose (enforce_new_defaults=False);
        # a Python warning per deprecated rule on every policy reload says nothing new.
        self.enforcer.suppress_deprecation_warnings = True
        self.routes = route_table(rules)
        self.decisions = Decisions()
        if not conf.oslo_policy.enforce_new_defaults:
            LOG.info(
                "policy: legacy load-balancer_* roles are honoured "
                "([oslo_policy] enforce_new_defaults = False)"
            )

    @staticmethod
    def credentials(context: RequestContext) -> dict[str, Any]:
        """What oslo.policy checks about the caller (never the token)."""
        return {
            "user_id": context.user_id,
            "project_id": context.project_id,
            "roles": list(context.roles),
            "is_admin": context.is_admin,
            "system_scope": context.system_scope,
            "domain_id": context.domain_id,
        }

    def allows(self, name: str, project_id: str | None, context: RequestContext) -> bool:
        creds = self.credentials(context)
        return self.decisions.get(
            (name, project_id, *_frozen(creds)),
            lambda: bool(self.enforcer.authorize(name, {"project_id": project_id}, creds)),
        )

    def allows_all(self, names: Iterable[str], project_id: str | None, context: RequestContext) -> bool:
        return all(self.allows(name, project_id, context) for name in names)

    def is_admin(self, context: RequestContext) -> bool:
        """The `context_is_admin` verdict for an authenticated caller."""
        creds = self.credentials(dataclasses.replace(context, is_admin=False))
        return self.decisions.get(
            ("context_is_admin", *_frozen(creds)),
            lambda: bool(self.enforcer.enforce("context_is_admin", {}, creds)),
        )

    def route(self, method: str, path: str) -> RoutePolicy | None:
        return self.routes.get(route_key(method, path))

    def authorize(
        self,
        method: str,
        path: str,
        path_params: Mapping[str, Any],
        query: Mapping[str, str],
        context: RequestContext,
        body_fields: Iterable[str] = (),
    ) -> RequestContext:
        """The caller's context for this call, or PolicyForbidden.

        `body_fields` are the fields the request body sets (for field rules). The returned
        context says whether the call may reach every project (`sees_all_projects`, and
        `is_admin` for handlers that check it) or only the caller's own.
        """
        route = self.routes.get(route_key(method, path))
        if route is None:
            # Fail closed: a route nobody wrote a policy for is refused, loudly.
            LOG.error("policy: no rule maps %s %s; refusing the call", method, path)
            raise exc.PolicyForbidden()
        actions = route.actions
        if route.obj == "member" and "delete" in actions and _true(query.get("additive_only")):
            actions = ("post", "put")
        names = route.names(actions)
        present = set(body_fields)
        names += route.names(
            f"{action}:{field}" for action, field in route.fields if action in actions and field in present
        )
        if route.is_list:
            return self._authorize_list(route, query.get("project_id"), context)
        if self.allows_all(names, ANY_OTHER_PROJECT, context):
            return _across_projects(context)
        target = path_params.get("project_id") or context.project_id
        if target is not None and self.allows_all(names, target, context):
            return dataclasses.replace(context, sees_all_projects=False)
        raise exc.PolicyForbidden()

    def _authorize_list(
        self, route: RoutePolicy, requested: str | None, context: RequestContext
    ) -> RequestContext:
        # Upstream's order: the global list rule first, then the caller's own project.
        global_name = route.names(["get_all-global"])[0]
        if global_name in self.enforcer.registered_rules:
            across = self.allows(global_name, requested or ANY_OTHER_PROJECT, context)
        else:
            across = self.allows_all(route.names(), ANY_OTHER_PROJECT, context)
        if across:
            return _across_projects(context)
        project = requested or context.project_id
        if project is None or not self.allows_all(route.names(), project, context):
            raise exc.PolicyForbidden()
        return dataclasses.replace(context, sees_all_projects=False)


def _frozen(creds: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(creds.items()))


def _across_projects(context: RequestContext) -> RequestContext:
    return dataclasses.replace(context, sees_all_projects=True, is_admin=True)


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on", "y", "t")


async def authorize_route(
    authorizer: Authorizer,
    request: Request,
    template: str,
    path_params: Mapping[str, Any],
    context: RequestContext,
) -> RequestContext:
    """The caller's context for a v2 call on the route `template` (its path with `{name}`
    parameters), narrowed by the route's policy, or PolicyForbidden."""
    policy_route = authorizer.route(request.method, template)
    fields = await _body_fields(request, policy_route.obj) if policy_route and policy_route.fields else ()
    return authorizer.authorize(request.method, template, path_params, request.query_params, context, fields)


async def _body_fields(request: Request, root: str) -> list[str]:
    """The fields set under `root` in the JSON body (Starlette keeps the body for the
    handler); a malformed body has none here and gets its 400 from the handler."""
    try:
        body = safe_json.loads(await request.body() or b"null")
    except safe_json.UnsafeJSON:
        return []
    inner = body.get(root) if isinstance(body, dict) else None
    return [key for key, value in inner.items() if value is not None] if isinstance(inner, dict) else []


def tool_enforcer() -> policy.Enforcer:
    """Entry point `oslo.policy.enforcer` (octavia): the enforcer `oslopolicy-policy-generator`
    and `oslopolicy-list-redundant` inspect, reading the tool's own `--config-file`."""
    enforcer = policy.Enforcer(cfg.CONF)
    enforcer.register_defaults(list_rules())
    return enforcer
