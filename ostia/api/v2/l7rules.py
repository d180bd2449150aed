"""L7 rules: the match conditions of an L7 policy (`/l7policies/{id}/rules`).

Keys and values end up inside haproxy ACLs. Beyond upstream's character classes every
value is refused if it holds anything a configuration reader could take for the end of a
line, and quoted header values must be well-formed quoted strings, so nothing a tenant
sends can add a word or a line to the rendered configuration.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ostia.api import error_reason, quota, status, types
from ostia.api.collection import Collection, list_page, standard_columns
from ostia.api.resource import (
    check_visible,
    project_for_create,
    project_scope,
    read_live,
    with_fields,
)
from ostia.api.routes import add_routes, crud
from ostia.api.services import Call
from ostia.api.v2.standard_fields import standard_fields
from ostia.common import constants as c
from ostia.common import exceptions as exc
from ostia.common import limits, pcre2
from ostia.db import lifecycle, models

DISPLAY = "L7 Rule"
POLICY_DISPLAY = "L7 Policy"
router = APIRouter()

# C0/C1 control characters, DEL and the Unicode line separators: what the haproxy
# renderer refuses, refused here already so that a stored rule always renders.
_LINE_BREAKING = limits.CONTROL_CHARS
# RFC 7230 token: header and cookie names.
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]+")
# RFC 7230 field value without spaces (visible ASCII), or a quoted-string whose inner
# quotes and backslashes are escaped: a bare `"` inside would end the quoting early.
_HEADER_VALUE = re.compile(r"[\x21-\x7e]+")
_QUOTED_HEADER_VALUE = re.compile(r'"(?:[ \x21\x23-\x5b\x5d-\x7e]|\\[ \x21-\x7e])*"')
# RFC 6265 cookie-octet: no space, `"`, `,`, `;` or `\`.
_COOKIE_VALUE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+")
_ORDERED_COMPARES = ("STARTS_WITH", "ENDS_WITH", "CONTAINS", "EQUAL_TO")


def _one_of(allowed: tuple[str, ...]) -> Any:
    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"Value should be one of: {', '.join(allowed)}")
        return value

    return types.AfterValidator(check)


def _no_line_breaks(value: str) -> str:
    if _LINE_BREAKING.search(value):
        raise ValueError("Control characters (such as newlines) are not allowed")
    return value


RuleType = types.Annotated[str, _one_of(c.L7_RULE_TYPES)]
CompareType = types.Annotated[str, _one_of(c.L7_COMPARE_TYPES)]
RuleText = types.Annotated[str, types.Field(max_length=c.NAME_LENGTH), types.AfterValidator(_no_line_breaks)]


class L7RuleFields(types.Schema):
    """A rule as nested in an L7 policy create (upstream's L7RuleSingleCreate)."""

    type: RuleType
    compare_type: CompareType
    key: RuleText | None = None
    value: RuleText
    invert: bool = False
    admin_state_up: bool = True
    tags: types.Tags | None = None


class L7RuleCreate(L7RuleFields):
    project_id: types.ProjectId | None = None
    tenant_id: types.ProjectId | None = None


class L7RuleUpdate(types.Schema):
    type: RuleType | None = None
    compare_type: CompareType | None = None
    key: RuleText | None = None
    value: RuleText | None = None
    invert: bool | None = None
    admin_state_up: bool | None = None
    tags: types.Tags | None = None


def _load_balancer_of_rule(rule: models.L7Rule) -> models.LoadBalancer | None:
    policy = rule.l7policy
    return policy.listener.load_balancer if policy and policy.listener else None


def serialize(rule: models.L7Rule) -> dict[str, Any]:
    reason = error_reason.of_child(rule, lambda: _load_balancer_of_rule(rule))
    return {
        **standard_fields(rule, reason),
        "type": rule.type,
        "compare_type": rule.compare_type,
        "key": rule.key,
        "value": rule.value,
        "invert": rule.invert,
    }


R = models.L7Rule
COLLECTION = Collection(
    model=R,
    singular="rule",
    plural="rules",
    display_name=DISPLAY,
    serialize=serialize,
    columns={
        **standard_columns(R),
        "type": R.type,
        "compare_type": R.compare_type,
        "key": R.key,
        "value": R.value,
        "invert": R.invert,
    },
)


# ---- validation of a whole rule (create, and update after merging) -------------------


class InvalidRule(exc.BadRequest):
    def __init__(self, reason: str) -> None:
        super().__init__(f"Error parsing L7Rule: {reason}")


def _check_regex(value: str) -> None:
    """The regex as haproxy will compile it (PCRE2), not as Python's `re` would."""
    try:
        pcre2.check_regex(value)
    except pcre2.InvalidRegex as err:
        raise InvalidRule(f"Unable to parse regular expression: {err}") from None


def _check_key(key: str | None) -> None:
    if not key:
        raise InvalidRule("Invalid L7 Rule: L7 rule type requires a key")
    if not _TOKEN.fullmatch(key):
        raise InvalidRule("Invalid characters in key")


def _check_header_like(rule_type: str, compare_type: str, value: str, what: str) -> None:
    if compare_type == "REGEX":
        _check_regex(value)
    elif compare_type not in _ORDERED_COMPARES:
        raise InvalidRule("Invalid L7 Rule: invalid comparison type for rule type")
    elif rule_type == "COOKIE":
        if not _COOKIE_VALUE.fullmatch(value):
            raise InvalidRule(f"Invalid characters in {what}")
    elif not _header_value_ok(value):
        raise InvalidRule(f"Invalid characters in {what}")


def _header_value_ok(value: str) -> bool:
    # A value that opens a quote must be one well-formed quoted-string: half-quoted text
    # reads differently to haproxy, to the backend and to whoever wrote the rule.
    if value.startswith('"'):
        return bool(_QUOTED_HEADER_VALUE.fullmatch(value))
    return bool(_HEADER_VALUE.fullmatch(value))


def _check_ssl_rule(rule_type: str, compare_type: str, key: str | None, value: str) -> None:
    if rule_type == "SSL_DN_FIELD":
        if compare_type == "REGEX":
            _check_regex(value)
        if not key:
            raise InvalidRule(f"L7rule type {rule_type} needs to specify a key and a value.")
        if not limits.DN_FIELD.fullmatch(key):
            raise InvalidRule("Invalid L7rule distinguished name field.")
        return
    if key:
        raise InvalidRule(f'L7rule type {rule_type} does not use the "key" field.')
    if rule_type == "SSL_CONN_HAS_CERT" and value.lower() != "true":
        raise InvalidRule(f"L7rule value {value} is not a boolean True string.")
    if rule_type == "SSL_VERIFY_RESULT" and not limits.VERIFY_RESULT.fullmatch(value):
        raise InvalidRule(f"L7rule type {rule_type} needs a int value, which is >= 0")
    if compare_type != "EQUAL_TO":
        raise InvalidRule(f"L7rule type {rule_type} only supports the EQUAL_TO compare type.")


def validate_rule(rule_type: str, compare_type: str, key: str | None, value: str) -> None:
    """Upstream's per-type rules for key, compare type and value (400 when broken)."""
    if not value:
        raise InvalidRule("Invalid L7 Rule: L7 rule type requires a value")
    if rule_type in ("HEADER", "COOKIE"):
        _check_key(key)
        _check_header_like(
            rule_type, compare_type, value, "header value" if rule_type == "HEADER" else "cookie value"
        )
    elif rule_type in ("HOST_NAME", "PATH"):
        _check_header_like(rule_type, compare_type, value, "comparison value")
    elif rule_type == "FILE_TYPE":
        if compare_type not in ("REGEX", "EQUAL_TO"):
            raise InvalidRule("Invalid L7 Rule: invalid comparison type for rule type")
        _check_header_like(rule_type, compare_type, value, "comparison value")
    else:
        _check_ssl_rule(rule_type, compare_type, key, value)


# ---- lookups -------------------------------------------------------------------------


def get_policy(session: Session, call: Call, policy_id: str) -> models.L7Policy:
    policy = status.get_live(session, models.L7Policy, policy_id, POLICY_DISPLAY)
    check_visible(call, policy, POLICY_DISPLAY)
    return policy


def get_rule(session: Session, call: Call, policy_id: str, rule_id: str) -> models.L7Rule:
    """The rule `rule_id` of policy `policy_id`; a rule of another policy is missing."""
    get_policy(session, call, policy_id)
    rule = status.get_live(session, R, rule_id, DISPLAY)
    if rule.l7policy_id != policy_id:
        raise exc.NotFound(DISPLAY, rule_id)
    check_visible(call, rule, DISPLAY)
    return rule


def _lock_policy_tree(
    session: Session, policy: models.L7Policy, *, repair: bool = False
) -> models.LoadBalancer:
    """Rule changes: the policy must be ACTIVE (or ERROR for an update or delete:
    `repair`), then LB, listener and policy go pending."""
    status.require_active(policy, POLICY_DISPLAY, repair=repair)
    listener = policy.listener
    status.lock_for_child_change(session, listener.load_balancer_id, repair=repair)
    lifecycle.mark_pending_update(listener, policy)
    return listener.load_balancer


# ---- handlers ------------------------------------------------------------------------


def build(session: Session, policy: models.L7Policy, body: L7RuleFields, project_id: str) -> models.L7Rule:
    """Validate and add a new rule to `policy` (also used for rules nested in a policy
    create and in a single-call load balancer create). Quota and the 50-rule limit are
    the caller's to check."""
    validate_rule(body.type, body.compare_type, body.key, body.value)
    rule = R(
        project_id=project_id,
        type=body.type,
        compare_type=body.compare_type,
        key=body.key,
        value=body.value,
        invert=body.invert,
        enabled=body.admin_state_up,
        provisioning_status=c.PENDING_CREATE,
        operating_status=c.OFFLINE,
    )
    rule.tags = body.tags or []
    policy.rules.append(rule)
    session.add(rule)
    return rule


def check_rule_limit(session: Session, policy: models.L7Policy, adding: int = 1) -> None:
    """409 when the policy would hold more than 50 rules."""
    count = (
        session.scalar(
            select(func.count())
            .select_from(R)
            .where(R.l7policy_id == policy.id, R.provisioning_status != c.DELETED)
        )
        or 0
    )
    if count + adding > c.MAX_L7_RULES_PER_POLICY:
        raise exc.Conflict(f"Too many rules on L7 policy {policy.id}")


def create(call: Call, policy_id: str, raw: Any) -> dict[str, Any]:
    body = types.parse(L7RuleCreate, raw)
    validate_rule(body.type, body.compare_type, body.key, body.value)
    with call.db.transaction() as session:
        policy = get_policy(session, call, policy_id)
        project_id = project_for_create(call, body.project_id or body.tenant_id or policy.project_id)
        quota.check(session, call.conf, project_id, "l7rule")
        check_rule_limit(session, policy)
        lb = _lock_policy_tree(session, policy)
        rule = build(session, policy, body, project_id)
        session.flush()
        result = serialize(rule)
        lb_id, provider = lb.id, lb.provider
        call.services.providers.stored(session, lb_id, provider)
    call.services.providers.notify(lb_id, provider)
    return {"rule": result}


def list_all(call: Call, policy_id: str) -> dict[str, Any]:
    with call.db.transaction() as session:
        get_policy(session, call, policy_id)
        scope = [R.l7policy_id == policy_id, *project_scope(call, R.project_id)]
        return list_page(session, COLLECTION, call.request.query_params, call.url, call.conf, scope)


def show(call: Call, policy_id: str, rule_id: str) -> dict[str, Any]:
    with call.db.reading() as connection:
        policy = read_live(connection, models.L7Policy, policy_id, POLICY_DISPLAY)
        check_visible(call, policy, POLICY_DISPLAY)
        rule = read_live(connection, R, rule_id, DISPLAY)
        if rule.l7policy_id != policy_id:  # a rule of another policy is missing
            raise exc.NotFound(DISPLAY, rule_id)
        check_visible(call, rule, DISPLAY)
        return {"rule": with_fields(call, serialize(rule))}


def _merged(rule: models.L7Rule, sent: dict[str, Any]) -> dict[str, Any]:
    """The rule's attributes after the update; null resets invert, is refused for the
    attributes every rule must have."""
    for key in ("type", "compare_type", "value"):
        if key in sent and sent[key] is None:
            raise exc.InvalidInput(key, None, "Mandatory field missing.")
    merged = {"type": rule.type, "compare_type": rule.compare_type, "key": rule.key, "value": rule.value}
    merged.update({k: v for k, v in sent.items() if k in merged})
    return merged


def update(call: Call, policy_id: str, rule_id: str, raw: Any) -> dict[str, Any]:
    body = types.parse(L7RuleUpdate, raw)
    sent = body.sent()
    with call.db.transaction() as session:
        rule = get_rule(session, call, policy_id, rule_id)
        merged = _merged(rule, sent)
        validate_rule(merged["type"], merged["compare_type"], merged["key"], merged["value"])
        lb = _lock_policy_tree(session, rule.l7policy, repair=True)
        for key, value in merged.items():
            setattr(rule, key, value)
        if "invert" in sent:
            rule.invert = bool(sent["invert"])
        if sent.get("admin_state_up") is not None:
            rule.enabled = sent["admin_state_up"]
        if "tags" in sent:
            rule.tags = sent["tags"] or []
        rule.provisioning_status = c.PENDING_UPDATE
        session.flush()
        result = serialize(rule)
        lb_id, provider = lb.id, lb.provider
        call.services.providers.stored(session, lb_id, provider)
    call.services.providers.notify(lb_id, provider)
    return {"rule": result}


def delete(call: Call, policy_id: str, rule_id: str) -> None:
    with call.db.transaction() as session:
        rule = get_rule(session, call, policy_id, rule_id)
        lb = _lock_policy_tree(session, rule.l7policy, repair=True)
        rule.provisioning_status = c.PENDING_DELETE
        lb_id, provider = lb.id, lb.provider
        call.services.providers.stored(session, lb_id, provider)
    call.services.providers.notify(lb_id, provider)


add_routes(
    router,
    crud(
        "/l7policies/{policy_id}/rules",
        "/l7policies/{policy_id}/rules/{rule_id}",
        "rule",
        create=create,
        list_all=list_all,
        show=show,
        update=update,
        delete=delete,
    ),
)
