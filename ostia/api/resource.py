"""What every resource handler does alike: reading bodies, owners, project scope, output."""

from __future__ import annotations

import datetime
import functools
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from fastapi import Request
from sqlalchemy import ColumnElement, Connection, Select, bindparam, inspect, select

from ostia.api import row_objects, types
from ostia.api.collection import Collection, requested_fields, select_fields
from ostia.api.services import Call
from ostia.common import constants as c
from ostia.common import exceptions as exc
from ostia.db import models

T = TypeVar("T")


async def json_body(request: Request, root: str) -> Any:
    """The object under `root` in the request's JSON body."""
    return types.unwrap(types.decode_json(await request.body()), root)


def read_live(
    connection: Connection,
    model: type[models.Base],
    ident: str,
    display: str,
    related_columns: Mapping[str, Sequence[str]] | None = None,
) -> Any:
    """`status.get_live` for a GET: the object as a row object whose relationships load on
    first read, one query each (ostia.api.row_objects), not as an ORM object (identity
    map, instance state, loaders: most of a GET's time for an object only read).
    `related_columns` as in `Collection`."""
    found = row_objects.Page(connection, model, related_columns).read(_one_object(model), {"ident": ident})
    if not found or getattr(found[0], "provisioning_status", None) == c.DELETED:
        raise exc.NotFound(display, ident)
    return found[0]


def read_visible(call: Call, connection: Connection, collection: Collection, ident: str) -> Any:
    """The live object `ident` of `collection` if the caller may see it, else 404."""
    obj = read_live(connection, collection.model, ident, collection.display_name, collection.related_columns)
    check_visible(call, obj, collection.display_name)
    return obj


@functools.cache
def _one_object(model: type[models.Base]) -> Select[Any]:
    # Built once per model: building and compiling a statement costs more than running it.
    (key,) = inspect(model).primary_key
    return select(*row_objects.page_columns(model, ())).where(key == bindparam("ident"))


def timestamp(value: datetime.datetime | None) -> str | None:
    # To the second, as upstream answers: one call, where replace() and isoformat() were
    # two (half the time of a 1,000-item list's timestamps).
    return value.isoformat(timespec="seconds") if value is not None else None


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


def live_ids(objects: Sequence[Any]) -> list[dict[str, str]]:
    """Children by id, DELETED ones left out (Octavia treats them as gone): one pass, as
    it runs for every child list of every object of a page."""
    return [{"id": obj.id} for obj in objects if obj.provisioning_status != c.DELETED]


def require_admin(call: Call) -> None:
    """Operator-only calls (amphorae, profiles, flavor writes): 403 for anyone else."""
    if not call.context.is_admin:
        raise exc.PolicyForbidden()
