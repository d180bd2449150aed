"""Quota checks on create: the project's limit, else the configured default; -1 = none."""

from __future__ import annotations

from typing import Any

from oslo_config import cfg
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session

from ostia.common import constants as c
from ostia.common import exceptions as exc
from ostia.db import models

# quota column -> (model, display name in the error, default option)
RESOURCES: dict[str, tuple[Any, str, str]] = {
    "load_balancer": (models.LoadBalancer, "Load Balancer", "default_load_balancer_quota"),
    "listener": (models.Listener, "Listener", "default_listener_quota"),
    "pool": (models.Pool, "Pool", "default_pool_quota"),
    "health_monitor": (models.HealthMonitor, "Health Monitor", "default_health_monitor_quota"),
    "member": (models.Member, "Member", "default_member_quota"),
    "l7policy": (models.L7Policy, "L7 Policy", "default_l7policy_quota"),
    "l7rule": (models.L7Rule, "L7 Rule", "default_l7rule_quota"),
}


_QUOTAS = models.Quotas
_QUOTA_ROW = select(*(getattr(_QUOTAS, name) for name in RESOURCES)).where(
    _QUOTAS.project_id == bindparam("project_id")
)


def default_limits(conf: cfg.ConfigOpts) -> dict[str, int]:
    """The configured `[quotas] default_<resource>_quota` values by quota column."""
    return {name: getattr(conf.quotas, option) for name, (_model, _display, option) in RESOURCES.items()}


def effective_limits(session: Session, conf: cfg.ConfigOpts, project_id: str) -> dict[str, int]:
    """The project's own limits where it has them, the defaults elsewhere."""
    # A row, not an ORM object: this runs on every create.
    row = session.connection().execute(_QUOTA_ROW, {"project_id": project_id}).first()
    limits = default_limits(conf)
    for name in RESOURCES:
        value = getattr(row, name) if row is not None else None
        if value is not None:
            limits[name] = value
    return limits


def in_use(session: Session, resource: str, project_id: str) -> int:
    model = RESOURCES[resource][0]
    query = select(func.count()).select_from(model).where(model.project_id == project_id)
    if hasattr(model, "provisioning_status"):
        query = query.where(model.provisioning_status != c.DELETED)
    return int(session.scalar(query) or 0)


def _take_turns(session: Session, project_id: str, resource: str) -> None:
    """Concurrent creates of one resource in one project count and insert one after the
    other, so that together they cannot pass the limit. On SQLite the write lock already
    orders writers; on PostgreSQL a lock on the (project, resource) pair, held until the
    transaction ends, does (each count is a new statement, so it sees the creates that
    committed before it got the lock)."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(_ADVISORY_LOCK, {"key": f"ostia-quota:{project_id}:{resource}"})


_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(hashtext(:key))")


def check(session: Session, conf: cfg.ConfigOpts, project_id: str, resource: str, adding: int = 1) -> None:
    """Raise QuotaExceeded (403) if adding `adding` objects would pass the limit."""
    if adding <= 0:
        return
    limit = effective_limits(session, conf, project_id)[resource]
    if limit < 0:
        return
    _take_turns(session, project_id, resource)
    if in_use(session, resource, project_id) + adding > limit:
        raise exc.QuotaExceeded(RESOURCES[resource][1])
