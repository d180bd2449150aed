"""L7 policies and rules as haproxy frontend ACLs and routing rules.

haproxy runs `http-request` rules before `redirect` rules before `use_backend` rules, whatever
their order in the file. Octavia's reference driver documents the same precedence, so it is
kept: REJECT policies first, then REDIRECT_TO_URL / REDIRECT_PREFIX, then REDIRECT_TO_POOL,
each group in position order, the first match winning. A policy applies when all its enabled
rules match; a policy without enabled rules is not rendered (it could never be told apart
from "match everything").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ostia.common import constants, limits
from ostia.controller.worker.haproxy.escape import (
    UnsafeValue,
    check_text,
    fetch_arg,
    ident,
    matching,
    quote,
)
from ostia.db import models

_MATCH = {
    "REGEX": "reg",
    "STARTS_WITH": "beg",
    "ENDS_WITH": "end",
    "CONTAINS": "sub",
    "EQUAL_TO": "str",
}
_GONE = (constants.PENDING_DELETE, constants.DELETED)


@dataclass
class FrontendRules:
    """What the L7 policies of one listener add to its frontend (words after each keyword)."""

    acls: list[str] = field(default_factory=list)
    denies: list[str] = field(default_factory=list)  # after `http-request deny`
    redirects: list[str] = field(default_factory=list)  # after `redirect`
    use_backends: list[str] = field(default_factory=list)  # after `use_backend`


def live(obj: object) -> bool:
    """Enabled and not on its way out: the objects a configuration renders."""
    # An unset flag (an object not flushed yet) counts as the column default, enabled.
    return getattr(obj, "enabled", True) is not False and (
        getattr(obj, "provisioning_status", None) not in _GONE
    )


def active_policies(listener: models.Listener) -> list[models.L7Policy]:
    """The listener's policies that take part in routing, in position order."""
    policies = [p for p in listener.l7policies if live(p) and any(live(r) for r in p.rules)]
    return sorted(policies, key=lambda p: p.position or 0)


def frontend_rules(
    listener: models.Listener, backend_for: Callable[[models.Pool], str | None]
) -> FrontendRules:
    """ACLs and rules for the listener's policies; `backend_for` names a pool's backend
    (None when the pool is not rendered, which drops the policy)."""
    out = FrontendRules()
    for policy in active_policies(listener):
        action = policy.action
        if action == "REDIRECT_TO_POOL":
            pool = policy.redirect_pool
            backend = backend_for(pool) if pool is not None else None
            if backend is None:
                continue
            out.use_backends.append(f"{backend} if {_condition(policy, out.acls)}")
        elif action == "REJECT":
            out.denies.append(f"if {_condition(policy, out.acls)}")
        elif action in ("REDIRECT_TO_URL", "REDIRECT_PREFIX"):
            kind, target = (
                ("location", policy.redirect_url)
                if action == "REDIRECT_TO_URL"
                else ("prefix", policy.redirect_prefix)
            )
            if not target:
                raise UnsafeValue(f"l7policy.redirect_{kind}", target, "missing")
            code = policy.redirect_http_code or 302
            if code not in constants.REDIRECT_HTTP_CODES:
                raise UnsafeValue("l7policy.redirect_http_code", code, "not a redirect code")
            out.redirects.append(
                f"code {code} {kind} {quote(target, f'l7policy.redirect_{kind}')} "
                f"if {_condition(policy, out.acls)}"
            )
        else:
            raise UnsafeValue("l7policy.action", action, "unknown action")
    return out


def _condition(policy: models.L7Policy, acls: list[str]) -> str:
    terms = []
    for rule in policy.rules:
        if not live(rule):
            continue
        name = ident(rule.id, "l7rule.id")
        criterion, invert = rule_criterion(rule)
        acls.append(f"{name} {criterion}")
        terms.append(("!" if invert else "") + name)
    return " ".join(terms)


def rule_criterion(rule: models.L7Rule) -> tuple[str, bool]:
    """The words after `acl <name>` for one rule, and whether the condition negates it."""
    value = check_text(rule.value, "l7rule.value")
    invert = bool(rule.invert)
    rtype = rule.type
    if rtype == "SSL_CONN_HAS_CERT":
        # The API only takes "true"; anything else asks for the opposite.
        return "ssl_c_used", invert != (value.lower() != "true")
    if rtype == "SSL_VERIFY_RESULT":
        number = matching(value, "l7rule.value", limits.VERIFY_RESULT, "a verify result number")
        return f"ssl_c_verify -m int -- {number}", invert
    match = _MATCH.get(rule.compare_type)
    if match is None:
        raise UnsafeValue("l7rule.compare_type", rule.compare_type, "unknown compare type")
    flags = ""
    if rtype == "HOST_NAME":
        fetch = "req.hdr(host),host_only"
        flags = "-i "
    elif rtype == "PATH":
        fetch = "path"
    elif rtype == "FILE_TYPE":
        # The extension: what follows the last dot of the path.
        fetch = "path,field(-1,.)"
        if match == "str":
            value = value.removeprefix(".")
    elif rtype == "HEADER":
        fetch = f"req.fhdr({fetch_arg(_key(rule), 'l7rule.key')})"
    elif rtype == "COOKIE":
        fetch = f"req.cook({fetch_arg(_key(rule), 'l7rule.key')})"
    elif rtype == "SSL_DN_FIELD":
        dn_field = matching(_key(rule), "l7rule.key", limits.DN_FIELD, "a DN field name")
        fetch = f"ssl_c_s_dn({dn_field})"
    else:
        raise UnsafeValue("l7rule.type", rtype, "unknown rule type")
    # `--` ends the flags, so a value such as "-f /etc/passwd" stays a pattern.
    return f"{quote(fetch, 'l7rule.key')} {flags}-m {match} -- {quote(value, 'l7rule.value')}", invert


def _key(rule: models.L7Rule) -> str:
    key = check_text(rule.key, "l7rule.key")
    if not key:
        raise UnsafeValue("l7rule.key", key, "empty")
    return key
