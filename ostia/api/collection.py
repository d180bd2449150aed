"""The one collection layer every resource lists through.

A resource describes itself once with a `Collection` (its model, its envelope keys, how
API attribute names map to columns, how a row becomes a response dict). `list_page`
then does filtering, tag filters, sorting, keyset pagination with a marker in both
directions, `*_links` and field selection, exactly alike for every resource.
"""

from __future__ import annotations

import dataclasses
import datetime
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from oslo_config import cfg
from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from starlette.datastructures import QueryParams

from ostia.common import config as config_mod
from ostia.common import constants
from ostia.common import exceptions as exc
from ostia.db import models

RESERVED_PARAMS = frozenset({
    "limit", "marker", "page_reverse", "sort", "sort_key", "sort_dir", "fields",
    "tags", "tags-any", "not-tags", "not-tags-any",
})
# Filters accepted by every list but not stored as columns.
IGNORED_PARAMS = frozenset({"tenant_id"})


@dataclasses.dataclass(frozen=True)
class Collection:
    """How one resource is listed and shown."""

    model: type[models.Base]
    singular: str
    plural: str
    display_name: str
    serialize: Callable[[Any], dict[str, Any]]
    # API attribute -> column; every key is filterable and sortable.
    columns: Mapping[str, Any]
    links_key: str = ""
    tagged: bool = True
    # Extra WHERE clauses every query of this collection carries (e.g. hide DELETED).
    base_filter: Callable[[], ColumnElement[bool]] | None = None
    default_sort: Sequence[str] = ("created_at", "id")
    # Loader options (selectinload of what `serialize` reads) so a page costs a few
    # queries, not a few per row.
    load_options: Callable[[], Sequence[Any]] | None = None
    # API attribute naming a row in markers and tag filters, for models with neither
    # `id` nor `name` as their key (quotas: `project_id`).
    key: str = ""

    @property
    def envelope_links(self) -> str:
        return self.links_key or f"{self.plural}_links"

    @property
    def primary_key(self) -> InstrumentedAttribute:
        if self.key:
            return self.columns[self.key]
        return self.columns.get("id") or self.columns["name"]


# API attribute -> model attribute shared by the load-balancing resources.
STANDARD_COLUMNS = {
    "id": "id", "name": "name", "description": "description", "admin_state_up": "enabled",
    "project_id": "project_id", "provisioning_status": "provisioning_status",
    "operating_status": "operating_status", "created_at": "created_at",
    "updated_at": "updated_at",
}


def standard_columns(model: type[models.Base]) -> dict[str, Any]:
    """The filterable/sortable columns every resource with these attributes has."""
    return {api: getattr(model, attr) for api, attr in STANDARD_COLUMNS.items()
            if hasattr(model, attr)}


@dataclasses.dataclass
class Page:
    items: list[dict[str, Any]]
    links: list[dict[str, str]]


def list_page(
    session: Session,
    collection: Collection,
    params: QueryParams,
    url: str,
    conf: cfg.ConfigOpts,
    scope: Sequence[ColumnElement[bool]] = (),
) -> dict[str, Any]:
    """Answer a list call: `{"<plural>": [...], "<plural>_links": [...]}`."""
    settings = conf.api_settings
    query = select(collection.model)
    if collection.load_options is not None:
        query = query.options(*collection.load_options())
    provisioning_status = getattr(collection.model, "provisioning_status", None)
    if provisioning_status is not None:
        # Octavia treats DELETED objects as gone: never listed, 404 when asked for.
        query = query.where(provisioning_status != constants.DELETED)
    if collection.base_filter is not None:
        query = query.where(collection.base_filter())
    for clause in scope:
        query = query.where(clause)
    if settings.allow_filtering:
        query = _apply_filters(query, collection, params)
    elif set(params) - RESERVED_PARAMS:
        raise exc.BadRequest("Filtering is disabled in this deployment.")
    if collection.tagged:
        query = _apply_tag_filters(query, collection, params)

    sort_keys = _sort_keys(collection, params) if settings.allow_sorting else []
    sort_keys = _with_default_sort(collection, sort_keys)
    limit = _limit(params, conf) if settings.allow_pagination else None
    marker_id = params.get("marker") if settings.allow_pagination else None
    page_reverse = params.get("page_reverse") == "True"

    effective = [(key, (not asc) if page_reverse else asc) for key, asc in sort_keys]
    if marker_id:
        marker = session.get(collection.model, marker_id)
        if marker is None:
            raise exc.BadRequest(f"Supplied pagination marker '{marker_id}' is not valid.")
        query = query.where(_after_marker(collection, effective, marker))
    for key, asc in effective:
        column = collection.columns[key]
        query = query.order_by(column.asc() if asc else column.desc())
    if limit is not None:
        query = query.limit(limit)
    rows = list(session.scalars(query).unique())
    if page_reverse:
        rows.reverse()

    fields = requested_fields(params, conf)
    items = [select_fields(collection.serialize(row), fields) for row in rows]
    links = _links(url, params, rows, limit, marker_id, collection)
    return {collection.plural: items, collection.envelope_links: links}


def requested_fields(params: QueryParams, conf: cfg.ConfigOpts) -> list[str]:
    if not conf.api_settings.allow_field_selection:
        return []
    fields: list[str] = []
    for value in params.getlist("fields"):
        fields.extend(f.strip() for f in value.split(",") if f.strip())
    return fields


def select_fields(item: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """Keep only `fields` of a response dict (all when none are asked for)."""
    if not fields:
        return item
    return {key: value for key, value in item.items() if key in fields}


def _apply_filters(query: Select, collection: Collection, params: QueryParams) -> Select:
    for key in params.keys():
        if key in RESERVED_PARAMS or key in IGNORED_PARAMS:
            continue
        column = collection.columns.get(key)
        if column is None:
            raise exc.BadRequest(
                f"One or more arguments are either duplicate or invalid: unknown filter '{key}'"
            )
        values = params.getlist(key)
        converted = [_convert(column, key, v) for v in values]
        if len(converted) == 1:
            query = query.where(column.is_(None) if converted[0] is None
                                else column == converted[0])
        else:
            query = query.where(column.in_(converted))
    return query


def _convert(column: Any, key: str, raw: str) -> Any:
    """Turn a query-string value into the column's Python type."""
    try:
        python_type = column.type.python_type
    except (NotImplementedError, AttributeError):
        return raw
    try:
        if python_type is bool:
            lowered = raw.strip().lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError(raw)
        if python_type is int:
            return int(raw)
        if python_type is float:
            return float(raw)
        if python_type is datetime.datetime:
            return datetime.datetime.fromisoformat(raw.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        raise exc.BadRequest(f"Invalid value '{raw}' for filter '{key}'.") from None
    return raw


def _tag_values(params: QueryParams, name: str) -> list[str]:
    values: list[str] = []
    for raw in params.getlist(name):
        values.extend(v for v in raw.split(",") if v)
    return values


def _apply_tag_filters(query: Select, collection: Collection, params: QueryParams) -> Select:
    pk = collection.primary_key

    def has(tag: str) -> ColumnElement[bool]:
        return pk.in_(select(models.Tag.resource_id).where(models.Tag.tag == tag))

    if tags := _tag_values(params, "tags"):
        query = query.where(and_(*[has(t) for t in tags]))
    if tags := _tag_values(params, "tags-any"):
        query = query.where(or_(*[has(t) for t in tags]))
    if tags := _tag_values(params, "not-tags"):
        query = query.where(~and_(*[has(t) for t in tags]))
    if tags := _tag_values(params, "not-tags-any"):
        query = query.where(~or_(*[has(t) for t in tags]))
    return query


def _sort_keys(collection: Collection, params: QueryParams) -> list[tuple[str, bool]]:
    """Sort keys with ascending flags, from `sort=k:dir,...` or `sort_key`/`sort_dir`."""
    pairs: list[tuple[str, str]] = []
    if params.get("sort"):
        for part in params["sort"].split(","):
            if not part.strip():
                continue
            pieces = part.strip().split(":")
            if len(pieces) > 2:
                raise exc.BadRequest(f"Supplied sort key '{part}' is not valid.")
            pairs.append((pieces[0], pieces[1] if len(pieces) == 2 else "asc"))
    elif params.get("sort_key"):
        keys = [k for raw in params.getlist("sort_key") for k in raw.split(",") if k]
        dirs = [d for raw in params.getlist("sort_dir") for d in raw.split(",") if d]
        dirs += ["asc"] * (len(keys) - len(dirs))
        pairs = list(zip(keys, dirs, strict=False))
    elif params.get("sort_dir"):
        direction = params["sort_dir"]
        pairs = [(k, direction) for k in collection.default_sort]
    result = []
    for key, direction in pairs:
        if key not in collection.columns:
            raise exc.BadRequest(f"Supplied sort key '{key}' is not valid.")
        if direction.lower() not in ("asc", "desc"):
            raise exc.BadRequest(f"Supplied sort direction '{direction}' is not valid.")
        result.append((key, direction.lower() == "asc"))
    return result


def _with_default_sort(
    collection: Collection, keys: list[tuple[str, bool]]
) -> list[tuple[str, bool]]:
    """Append the implicit keys so that every ordering is total (needed for markers)."""
    present = {k for k, _ in keys}
    direction = keys[-1][1] if keys else True
    for key in collection.default_sort:
        if key in collection.columns and key not in present:
            keys.append((key, direction))
    return keys


def _limit(params: QueryParams, conf: cfg.ConfigOpts) -> int | None:
    ceiling = config_mod.pagination_max_limit(conf)
    raw = params.get("limit")
    if raw is None:
        return ceiling
    if raw.strip().lower() == "infinite":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise exc.BadRequest(f"Supplied pagination limit '{raw}' is not valid.") from None
    if value < 1:
        return None
    return value if ceiling is None else min(value, ceiling)


def _sortable(column: Any, value: Any) -> tuple[Any, Any]:
    """Column and marker value with NULL mapped to a sortable stand-in of the same type."""
    try:
        python_type = column.type.python_type
    except (NotImplementedError, AttributeError):
        return column, value
    stand_in: Any = {str: "", int: -(2**31), bool: False, float: float("-inf")}.get(python_type)
    if stand_in is None:
        return column, value
    return func.coalesce(column, stand_in), stand_in if value is None else value


def _after_marker(
    collection: Collection, keys: Sequence[tuple[str, bool]], marker: Any
) -> ColumnElement[bool]:
    """Keyset condition: rows strictly after `marker` in the order given by `keys`."""
    clauses: list[ColumnElement[bool]] = []
    equal_so_far: list[ColumnElement[bool]] = []
    for key, asc in keys:
        column = collection.columns[key]
        value = getattr(marker, column.key)
        expr, value = _sortable(column, value)
        beyond = expr > value if asc else expr < value
        clauses.append(and_(*equal_so_far, beyond) if equal_so_far else beyond)
        equal_so_far.append(expr == value)
    return or_(*clauses)


def _links(
    url: str,
    params: QueryParams,
    rows: Sequence[Any],
    limit: int | None,
    marker_id: str | None,
    collection: Collection,
) -> list[dict[str, str]]:
    if not rows or limit is None:
        return []
    keep = [(k, v) for k, v in params.multi_items()
            if k not in ("marker", "page_reverse", "limit")]
    links = []
    pk = collection.primary_key.key
    if len(rows) >= limit:
        query = [("limit", str(limit)), *keep, ("marker", str(getattr(rows[-1], pk)))]
        links.append({"href": f"{url}?{urllib.parse.urlencode(query)}", "rel": "next"})
    if marker_id:
        query = [("limit", str(limit)), *keep, ("marker", str(getattr(rows[0], pk))),
                 ("page_reverse", "True")]
        links.append({"href": f"{url}?{urllib.parse.urlencode(query)}", "rel": "previous"})
    return links
