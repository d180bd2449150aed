"""What every resource handler does alike: reading bodies, owners, project scope, output."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any, TypeVar

from fastapi import Request
from sqlalchemy import ColumnElement

from ostia.api import types
from ostia.api.collection import requested_fields, select_fields
from ostia.api.services import Call
from ostia.common import exceptions as exc

T = TypeVar("T")


async def json_body(request: Request, root: str) -> Any:
    """The object under `root` in the request's JSON body."""
    return types.unwrap(types.decode_json(await request.body()), root)


def timestamp(value: datetime.datetime | None) -> str | None:
    return value.replace(microsecond=0).isoformat() if value is not None else None


def project_for_create(call: Call, requested: str | None) -> str:
    """The project a new object belongs to: body, else caller's, else the default."""
    project = requested or call.context.project_id or call.conf.ostia.default_project_id
    if (
        requested
        and call.context.project_id
        and requested != call.context.project_id
        and not call.context.is_admin
    ):
        raise exc.PolicyForbidden()
    return project


def visible(call: Call, project_id: str | None) -> bool:
    return call.context.sees_all_projects or project_id == call.context.project_id


def check_visible(call: Call, obj: Any, display: str, project_id: str | None = None) -> None:
    """Objects of another project look missing (404), as they do upstream."""
    owner = project_id if project_id is not None else getattr(obj, "project_id", None)
    if not visible(call, owner):
        raise exc.NotFound(display, obj.id)


def project_scope(call: Call, column: Any) -> Sequence[ColumnElement[bool]]:
    """WHERE clauses that keep a list call inside the caller's project."""
    if call.context.sees_all_projects:
        return ()
    return (column == call.context.project_id,)


def with_fields(call: Call, item: dict[str, Any]) -> dict[str, Any]:
    """Apply `fields=` of the current request to one response object."""
    return select_fields(item, requested_fields(call.request.query_params, call.conf))


def ids(objects: Sequence[Any]) -> list[dict[str, str]]:
    return [{"id": obj.id} for obj in objects]


def require_admin(call: Call) -> None:
    """Operator-only calls (amphorae, profiles, flavor writes): 403 for anyone else."""
    if not call.context.is_admin:
        raise exc.PolicyForbidden()
