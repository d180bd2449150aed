"""L7 policies: ordered content-switching decisions of an HTTP listener.

What is special here: the action decides which redirect attribute is required and which
are cleared (also when a PUT switches the action), the redirect pool must live on the same
load balancer and speak a protocol the listener can forward to, and positions are kept
contiguous per listener (`lifecycle.place_l7policy`).
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session

from ostia.api import error_reason, quota, status, types
from ostia.api.collection import Collection, list_page, standard_columns
from ostia.api.resource import (
    check_visible,
    live_ids,
    project_for_create,
    project_scope,
    read_visible,
    with_fields,
)
from ostia.api.routes import add_routes, crud
from ostia.api.services import Call
from ostia.api.v2 import l7rules, listeners
from ostia.api.v2.standard_fields import standard_fields
from ostia.common import constants as c
from ostia.common import exceptions as exc
from ostia.common import limits
from ostia.db import lifecycle, models

DISPLAY = "L7 Policy"
router = APIRouter()

REJECT = "REJECT"
TO_URL = "REDIRECT_TO_URL"
TO_POOL = "REDIRECT_TO_POOL"
PREFIX = "REDIRECT_PREFIX"
# The attribute each action redirects to.
TARGET: dict[str, str | None] = {
    REJECT: None,
    TO_URL: "redirect_url",
    TO_POOL: "redirect_pool_id",
    PREFIX: "redirect_prefix",
}
ACTION_OF = {field: action for action, field in TARGET.items() if field}
REDIRECT_FIELDS = tuple(ACTION_OF)
DEFAULT_REDIRECT_CODE = 302
# RFC 3986 characters only: no space, quote, backslash or angle bracket can reach the
# `redirect location` line of the configuration.
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


def _action(value: str) -> str:
    if value not in c.L7_ACTIONS:
        raise ValueError(f"Value should be one of: {', '.join(c.L7_ACTIONS)}")
    return value


def _redirect_code(value: int) -> int:
    if value not in c.REDIRECT_HTTP_CODES:
        raise ValueError(f"Value should be one of: {', '.join(str(v) for v in c.REDIRECT_HTTP_CODES)}")
    return value


def _url(value: str) -> str:
    """An absolute http(s) URL with a host, as upstream's URLType accepts."""
    try:
        if not _URL_CHARS.fullmatch(value):
            raise ValueError(value)
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(value)
    except ValueError:
        raise ValueError("Value must be a valid URL string") from None
    return value


Action = types.Annotated[str, types.AfterValidator(_action)]
RedirectCode = types.Annotated[types.Int, types.AfterValidator(_redirect_code)]
Url = types.Annotated[str, types.Field(max_length=c.NAME_LENGTH), types.AfterValidator(_url)]
Position = types.Annotated[
    types.Int, types.Field(ge=limits.L7POLICY_POSITION.low, le=limits.L7POLICY_POSITION.high)
]


class L7PolicyFields(types.Schema):
    """A policy as nested in a single-call create (no listener_id, no project)."""

    name: types.Name = None
    description: types.Name = None
    admin_state_up: bool = True
    action: Action
    redirect_url: Url | None = None
    redirect_prefix: Url | None = None
    redirect_http_code: RedirectCode | None = None
    position: Position = limits.L7POLICY_POSITION.high
    rules: list[l7rules.L7RuleFields] | None = None
    tags: types.Tags | None = None


class L7PolicyCreate(L7PolicyFields):
    listener_id: types.UUID
    redirect_pool_id: types.UUID | None = None
    project_id: types.ProjectId | None = None
    tenant_id: types.ProjectId | None = None


class L7PolicyUpdate(types.Schema):
    name: types.Name = None
    description: types.Name = None
    admin_state_up: bool | None = None
    action: Action | None = None
    redirect_pool_id: types.UUID | None = None
    redirect_url: Url | None = None
    redirect_prefix: Url | None = None
    redirect_http_code: RedirectCode | None = None
    position: Position | None = None
    tags: types.Tags | None = None


def serialize(policy: models.L7Policy) -> dict[str, Any]:
    reason = error_reason.of_child(policy, lambda: policy.listener.load_balancer if policy.listener else None)
    return {
        **standard_fields(policy, reason),
        "name": policy.name,
        "description": policy.description,
        "action": policy.action,
        "listener_id": policy.listener_id,
        "redirect_pool_id": policy.redirect_pool_id,
        "redirect_url": policy.redirect_url,
        "redirect_prefix": policy.redirect_prefix,
        "redirect_http_code": policy.redirect_http_code,
        "position": policy.position,
        "rules": live_ids(policy.rules),
    }


P = models.L7Policy
COLLECTION = Collection(
    model=P,
    singular="l7policy",
    plural="l7policies",
    display_name=DISPLAY,
    serialize=serialize,
    columns={
        **standard_columns(P),
        "action": P.action,
        "listener_id": P.listener_id,
        "redirect_pool_id": P.redirect_pool_id,
        "redirect_url": P.redirect_url,
        "redirect_prefix": P.redirect_prefix,
        "redirect_http_code": P.redirect_http_code,
        "position": P.position,
    },
)


def get_policy(session: Session, call: Call, policy_id: str) -> models.L7Policy:
    policy = status.get_live(session, P, policy_id, DISPLAY)
    check_visible(call, policy, DISPLAY)
    return policy


# ---- action and redirect target --------------------------------------------------------


class InvalidPolicyArgs(exc.BadRequest):
    def __init__(self, reason: str) -> None:
        super().__init__(f"Invalid L7 Policy arguments: {reason}")


def resolve_action(sent: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """The final action, redirect target and redirect code.

    `sent` holds what the caller sent, `current` the stored values (None on create). A
    redirect attribute sent without an action switches to its action; the attributes of
    other actions are cleared; the target of the final action is required.
    """
    given = {f for f in REDIRECT_FIELDS if sent.get(f) is not None}
    if "redirect_pool_id" in given and given & {"redirect_url", "redirect_prefix"}:
        raise InvalidPolicyArgs(
            "Cannot specify redirect_pool_id and redirect_url or redirect_prefix at the same time"
        )
    action = sent.get("action")
    if action is None:
        if len(given) > 1:
            raise InvalidPolicyArgs("Cannot specify redirect_url and redirect_prefix at the same time")
        action = ACTION_OF[given.pop()] if given else (current or {}).get("action", REJECT)
    target = TARGET[str(action)]
    stray = sorted(given - {target})
    if stray:
        raise InvalidPolicyArgs(f"{stray[0]} cannot be used with action {action}")
    result: dict[str, Any] = dict.fromkeys(REDIRECT_FIELDS)
    result.update(action=action, redirect_http_code=None)
    if target is None:
        return result
    value = sent[target] if target in sent else (current or {}).get(target)
    if value is None:
        raise InvalidPolicyArgs(
            "redirect_pool_id or redirect_pool must not be None"
            if action == TO_POOL
            else f"{target} must not be None"
        )
    result[target] = value
    if action in (TO_URL, PREFIX):
        result["redirect_http_code"] = _redirect_code_for(sent, current)
    return result


def _redirect_code_for(sent: dict[str, Any], current: dict[str, Any] | None) -> int:
    """The sent code, else the stored one of a URL/prefix redirect, else 302."""
    if sent.get("redirect_http_code") is not None:
        return int(sent["redirect_http_code"])
    if (
        current
        and current.get("action") in (TO_URL, PREFIX)
        and current.get("redirect_http_code")
        and "redirect_http_code" not in sent
    ):
        return int(current["redirect_http_code"])
    return DEFAULT_REDIRECT_CODE


def check_redirect_pool(session: Session, listener: models.Listener, pool_id: str) -> None:
    """The pool exists on the listener's load balancer and the listener can forward to it."""
    pool = session.get(models.Pool, pool_id)
    if (
        pool is None
        or pool.load_balancer_id != listener.load_balancer_id
        or pool.provisioning_status in (c.DELETED, c.PENDING_DELETE)
    ):
        raise exc.NotFound("Pool", pool_id)
    listeners.check_pool_protocol(listener.protocol, pool.protocol)


def _check_listener_accepts_policies(listener: models.Listener) -> None:
    if listener.protocol == c.PROMETHEUS:
        raise exc.ValidationFailure("Protocol PROMETHEUS listeners cannot have child objects.")
    if listener.protocol in (c.UDP, c.SCTP):
        raise exc.ValidationFailure(f"{listener.protocol} protocol listener does not support L7 policies.")


# ---- handlers ------------------------------------------------------------------------


def build(
    call: Call,
    session: Session,
    listener: models.Listener,
    body: L7PolicyFields,
    project_id: str,
    redirect_pool: models.Pool | None = None,
) -> models.L7Policy:
    """Validate and add a new policy (with its inline rules) to `listener`.

    Also used by single-call create, which passes the `redirect_pool` object it created
    instead of a `redirect_pool_id`. Quota and the load balancer lock are the caller's.
    """
    _check_listener_accepts_policies(listener)
    request = {key: getattr(body, key, None) for key in ("action", "redirect_http_code", *REDIRECT_FIELDS)}
    if redirect_pool is not None:
        if redirect_pool.id is None:
            session.flush()  # the graph's new pool needs its id before we point at it
        request["redirect_pool_id"] = redirect_pool.id
    final = resolve_action(request, None)
    if final["redirect_pool_id"]:
        check_redirect_pool(session, listener, final["redirect_pool_id"])
    policy = P(
        id=models.new_id(),
        project_id=project_id,
        name=body.name,
        description=body.description,
        enabled=body.admin_state_up,
        provisioning_status=c.PENDING_CREATE,
        operating_status=c.OFFLINE,
        **final,
    )
    rules = body.rules or []
    if len(rules) > c.MAX_L7_RULES_PER_POLICY:
        raise exc.Conflict(f"Too many rules on L7 policy {policy.id}")
    policy.tags = body.tags or []
    lifecycle.place_l7policy(listener, policy, body.position)
    session.add(policy)
    for rule in rules:
        l7rules.build(session, policy, rule, project_id)
    return policy


def create(call: Call, raw: Any) -> dict[str, Any]:
    body = types.parse(L7PolicyCreate, raw)
    with call.db.transaction() as session:
        listener = status.get_live(session, models.Listener, body.listener_id, "Listener")
        check_visible(call, listener, "Listener")
        project_id = project_for_create(call, body.project_id or body.tenant_id or listener.project_id)
        quota.check(session, call.conf, project_id, "l7policy")
        quota.check(session, call.conf, project_id, "l7rule", adding=len(body.rules or []))
        status.lock_for_child_change(session, listener.load_balancer_id)
        lifecycle.mark_pending_update(listener)
        policy = build(call, session, listener, body, project_id)
        session.flush()
        result = serialize(policy)
        lb = listener.load_balancer
        lb_id, provider = lb.id, lb.provider
        call.services.providers.stored(session, lb_id, provider)
    call.services.providers.notify(lb_id, provider)
    return {"l7policy": result}


def list_all(call: Call) -> dict[str, Any]:
    with call.db.transaction() as session:
        return list_page(
            session,
            COLLECTION,
            call.request.query_params,
            call.url,
            call.conf,
            project_scope(call, P.project_id),
        )


def show(call: Call, policy_id: str) -> dict[str, Any]:
    with call.db.reading() as connection:
        return {
            "l7policy": with_fields(call, serialize(read_visible(call, connection, COLLECTION, policy_id)))
        }


def _changes_action(sent: dict[str, Any]) -> bool:
    return any(key in sent for key in ("action", "redirect_http_code", *REDIRECT_FIELDS))


def update(call: Call, policy_id: str, raw: Any) -> dict[str, Any]:
    body = types.parse(L7PolicyUpdate, raw)
    sent = body.sent()
    if not sent:
        raise InvalidPolicyArgs("Invalid update options")
    with call.db.transaction() as session:
        policy = get_policy(session, call, policy_id)
        listener = policy.listener
        final: dict[str, Any] = {}
        if _changes_action(sent):
            final = resolve_action(sent, serialize(policy))
            pool_id = final["redirect_pool_id"]
            if pool_id and pool_id != policy.redirect_pool_id:
                check_redirect_pool(session, listener, pool_id)
        status.lock_for_child_change(session, listener.load_balancer_id, repair=True)
        lifecycle.mark_pending_update(listener)
        _apply(policy, sent, final)
        if "position" in sent:
            lifecycle.place_l7policy(listener, policy, sent["position"] or limits.L7POLICY_POSITION.high)
        policy.provisioning_status = c.PENDING_UPDATE
        session.flush()
        result = serialize(policy)
        lb = listener.load_balancer
        lb_id, provider = lb.id, lb.provider
        call.services.providers.stored(session, lb_id, provider)
    call.services.providers.notify(lb_id, provider)
    return {"l7policy": result}


def _apply(policy: models.L7Policy, sent: dict[str, Any], final: dict[str, Any]) -> None:
    for key in ("name", "description"):
        if key in sent:
            setattr(policy, key, sent[key])
    if sent.get("admin_state_up") is not None:
        policy.enabled = sent["admin_state_up"]
    if "tags" in sent:
        policy.tags = sent["tags"] or []
    for key, value in final.items():
        setattr(policy, key, value)


def delete(call: Call, policy_id: str) -> None:
    with call.db.transaction() as session:
        policy = get_policy(session, call, policy_id)
        listener = policy.listener
        status.lock_for_child_change(session, listener.load_balancer_id, repair=True)
        lifecycle.mark_pending_update(listener)
        policy.provisioning_status = c.PENDING_DELETE
        # The remaining policies close the gap at once, as upstream's list does.
        lifecycle.renumber_l7policies(listener)
        lb = listener.load_balancer
        lb_id, provider = lb.id, lb.provider
        call.services.providers.stored(session, lb_id, provider)
    call.services.providers.notify(lb_id, provider)


add_routes(
    router,
    crud(
        "/l7policies",
        "/l7policies/{policy_id}",
        "l7policy",
        create=create,
        list_all=list_all,
        show=show,
        update=update,
        delete=delete,
    ),
)
