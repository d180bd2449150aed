"""Quotas: per-project limits on every object type (enforced on create by `api.quota`).

A project without a record, or a limit left null, gets the `[quotas]` default; -1 means
unlimited. Responses carry upstream's deprecated misspelled names (`load_balancer`,
`health_monitor`) beside the current ones, and PUT accepts both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session

from ostia.api import quota, types
from ostia.api.collection import Collection, list_page
from ostia.api.resource import project_scope, require_admin
from ostia.api.routes import Route, add_routes
from ostia.api.services import Call
from ostia.common import constants as c
from ostia.common import exceptions as exc
from ostia.db import models

DISPLAY = "Quotas"
router = APIRouter()

# API attribute -> quota column, in upstream's response order.
API_FIELDS: dict[str, str] = {
    "loadbalancer": "load_balancer",
    "load_balancer": "load_balancer",
    "listener": "listener",
    "member": "member",
    "pool": "pool",
    "healthmonitor": "health_monitor",
    "health_monitor": "health_monitor",
    "l7policy": "l7policy",
    "l7rule": "l7rule",
}
# Deprecated spelling -> current spelling; the current one wins when both are sent.
ALIASES = {"load_balancer": "loadbalancer", "health_monitor": "healthmonitor"}
QuotaValue = types.Annotated[types.Int, types.Field(ge=c.MIN_QUOTA, le=c.MAX_QUOTA)]


class QuotaUpdate(types.Schema):
    loadbalancer: QuotaValue | None = None
    load_balancer: QuotaValue | None = None
    listener: QuotaValue | None = None
    member: QuotaValue | None = None
    pool: QuotaValue | None = None
    healthmonitor: QuotaValue | None = None
    health_monitor: QuotaValue | None = None
    l7policy: QuotaValue | None = None
    l7rule: QuotaValue | None = None


def as_api(limits: Mapping[str, int | None]) -> dict[str, int | None]:
    """Quota columns as API attributes, both spellings included."""
    return {name: limits[column] for name, column in API_FIELDS.items()}


def serialize(row: models.Quotas) -> dict[str, Any]:
    """A list entry: the project's stored values, null where it uses the default."""
    return {
        "project_id": row.project_id,
        **as_api({column: getattr(row, column) for column in quota.RESOURCES}),
    }


Q = models.Quotas
COLLECTION = Collection(
    model=Q,
    singular="quota",
    plural="quotas",
    display_name=DISPLAY,
    serialize=serialize,
    columns={
        "project_id": Q.project_id,
        "loadbalancer": Q.load_balancer,
        "listener": Q.listener,
        "member": Q.member,
        "pool": Q.pool,
        "healthmonitor": Q.health_monitor,
        "l7policy": Q.l7policy,
        "l7rule": Q.l7rule,
    },
    tagged=False,
    default_sort=("project_id",),
    key="project_id",
)


def _check_project_id(project_id: str) -> None:
    if not project_id or len(project_id) > 36 or any(ord(ch) < 0x20 for ch in project_id):
        raise exc.InvalidInput(
            "project_id", project_id, "Value should be a project ID of at most 36 characters."
        )


def _require_reader(call: Call, project_id: str) -> None:
    """A project reads its own quota; only an admin reads another's."""
    if not call.context.is_admin and call.context.project_id != project_id:
        raise exc.PolicyForbidden()


def _changes(body: QuotaUpdate) -> dict[str, int | None]:
    """Sent values by quota column (null: back to the default)."""
    sent = body.sent()
    changes: dict[str, int | None] = {}
    for name, value in sent.items():
        if name in ALIASES and ALIASES[name] in sent:
            continue
        changes[API_FIELDS[name]] = value
    return changes


def _effective(session: Session, call: Call, project_id: str) -> dict[str, Any]:
    return {"quota": as_api(quota.effective_limits(session, call.conf, project_id))}


# ---- handlers ------------------------------------------------------------------------


def list_all(call: Call) -> dict[str, Any]:
    with call.db.transaction() as session:
        return list_page(
            session,
            COLLECTION,
            call.request.query_params,
            call.url,
            call.conf,
            project_scope(call, Q.project_id),
        )


def show(call: Call, project_id: str) -> dict[str, Any]:
    _require_reader(call, project_id)
    with call.db.transaction() as session:
        return _effective(session, call, project_id)


def defaults(call: Call, project_id: str | None = None) -> dict[str, Any]:
    limits = as_api(quota.default_limits(call.conf))
    if project_id is None:
        return {"quota": limits}
    _require_reader(call, project_id)
    # As upstream: a project's default quota names the project (both spellings).
    return {"quota": {"project_id": project_id, "tenant_id": project_id, **limits}}


def update(call: Call, project_id: str, raw: Any) -> dict[str, Any]:
    require_admin(call)
    _check_project_id(project_id)
    body = types.parse(QuotaUpdate, raw)
    with call.db.transaction() as session:
        row = session.get(Q, project_id)
        if row is None:
            row = Q(project_id=project_id)
            session.add(row)
        for column, value in _changes(body).items():
            setattr(row, column, value)
        session.flush()
        return _effective(session, call, project_id)


def delete(call: Call, project_id: str) -> None:
    """Back to the defaults: the project's record goes away (404 if it had none)."""
    require_admin(call)
    with call.db.transaction() as session:
        row = session.get(Q, project_id)
        if row is None:
            raise exc.NotFound(DISPLAY, project_id)
        session.delete(row)


ONE = "/quotas/{project_id}"
add_routes(
    router,
    [
        Route("GET", "/quotas", list_all),
        Route("GET", "/quotas/defaults", defaults),
        Route("GET", ONE, show),
        Route("GET", ONE + "/default", defaults),
        Route("PUT", ONE, update, body_root="quota", status=202),
        Route("DELETE", ONE, delete, status=202, empty=True),
    ],
)
