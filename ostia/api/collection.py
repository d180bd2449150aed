"""The one collection layer every resource lists through.

A resource describes itself once with a `Collection` (its model, its envelope keys, how
API attribute names map to columns, how a row becomes a response dict). `list_page`
then does filtering, tag filters, sorting, keyset pagination with a marker in both
directions, `*_links` and field selection, exactly alike for every resource.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import re
import threading
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from oslo_config import cfg
from sqlalchemy import BigInteger, ColumnElement, Select, SmallInteger, and_, func, literal, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from starlette.datastructures import QueryParams

from ostia.api import row_objects
from ostia.common import addresses, constants
from ostia.common import config as config_mod
from ostia.common import exceptions as exc
from ostia.db import models

RESERVED_PARAMS = frozenset(
    {
        "limit",
        "marker",
        "page_reverse",
        "sort",
        "sort_key",
        "sort_dir",
        "fields",
        "tags",
        "tags-any",
        "not-tags",
        "not-tags-any",
    }
)
# Filters accepted by every list but not stored as columns.
IGNORED_PARAMS = frozenset({"tenant_id"})
# Values one list call may filter on (filters and tag filters together). Each becomes a
# bound SQL parameter: this keeps every query far below the databases' limits (SQLite
# allows 32766 parameters, older builds 999) and the work a single call can cause small.
MAX_FILTER_VALUES = 1000
_INTEGER = re.compile(r"[+-]?[0-9]+")
# Attributes stored in canonical address form: a filter value in another spelling of the
# same address matches (one that is no address is kept as given and matches nothing).
ADDRESS_FILTERS = frozenset(
    {"address", "monitor_address", "vip_address", "lb_network_ip", "vrrp_ip", "ha_ip"}
)


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
    # Relationship path -> the only columns `serialize` reads of the objects it leads
    # to (row_objects.Page); a relationship not named here loads whole rows.
    related_columns: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=dict)
    # API attribute naming a row in markers and tag filters, for models with neither
    # `id` nor `name` as their key (quotas: `project_id`).
    key: str = ""
    # The only columns of `model` that `serialize` reads (all when empty): a page reads
    # these, the key and the join columns, not the worker's bookkeeping.
    shown_columns: Sequence[str] = ()

    @functools.cached_property
    def page_columns(self) -> list[Any]:
        """What a page selects (row_objects.page_columns), worked out once."""
        return row_objects.page_columns(
            self.model, _foreign_tables(self), self.related_columns, self.shown_columns
        )

    @functools.cached_property
    def live_rows(self) -> Select:
        """Every page's query before its filters, order and limit, built once (statements
        are immutable): the page's columns over the joined tables, DELETED objects left
        out (Octavia treats them as gone: never listed, 404 when asked for)."""
        query = _joined(select(*self.page_columns).select_from(self.model), self)
        provisioning_status = getattr(self.model, "provisioning_status", None)
        if provisioning_status is not None:
            query = query.where(provisioning_status != constants.DELETED)
        return query

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
    "id": "id",
    "name": "name",
    "description": "description",
    "admin_state_up": "enabled",
    "project_id": "project_id",
    "provisioning_status": "provisioning_status",
    "operating_status": "operating_status",
    "created_at": "created_at",
    "updated_at": "updated_at",
}


def standard_columns(model: type[models.Base]) -> dict[str, Any]:
    """The filterable/sortable columns every resource with these attributes has."""
    return {api: getattr(model, attr) for api, attr in STANDARD_COLUMNS.items() if hasattr(model, attr)}


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
    query = collection.live_rows
    if collection.base_filter is not None:
        query = query.where(collection.base_filter())
    for clause in scope:
        query = query.where(clause)
    check_value_count(params, collection)
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
        values = _marker_values(session, collection, [k for k, _ in effective], marker_id, scope)
        query = query.where(_after_marker(collection, effective, values))
    for key, asc in effective:
        expression = _order_expression(collection, key)
        query = query.order_by(expression.asc() if asc else expression.desc())
    if limit is not None:
        query = query.limit(limit)
    rows = read_rows(session, collection, query)
    if page_reverse:
        rows.reverse()

    fields = requested_fields(params, conf)
    items = [select_fields(collection.serialize(row), fields) for row in rows]
    links = _links(url, params, rows, limit, marker_id, collection)
    row_objects.release(rows)
    return {collection.plural: items, collection.envelope_links: links}


# One page read at a time per process on SQLite. Python's sqlite3 lets go of the GIL
# around each row it steps, so with sixteen lists reading at once the GIL changed hands
# at nearly every row of every page: a 1,000-item list cost ~1.4 times its CPU at
# concurrency 1 (PostgreSQL's driver takes a whole result in one go: ~1.1 times). The
# rest of a list (its children, serializing) runs beside it. A read waits at most
# PAGE_READ_WAIT for its turn, then goes on: one stuck read must not stop every list.
_SQLITE_PAGE_READ = threading.Lock()
PAGE_READ_WAIT = 5.0


def read_rows(session: Session, collection: Collection, query: Select) -> list[Any]:
    """The objects of one page, in the query's order: plain objects read with Core,
    not ORM objects (row_objects says why), that `collection.serialize` turns into the
    same answer."""
    connection = session.connection()
    page = row_objects.Page(connection, collection.model, collection.related_columns)
    if connection.dialect.name != "sqlite":
        return page.read(query)
    locked = _SQLITE_PAGE_READ.acquire(timeout=PAGE_READ_WAIT)
    try:
        return page.read(query)
    finally:
        if locked:
            _SQLITE_PAGE_READ.release()


def requested_fields(params: QueryParams, conf: cfg.ConfigOpts) -> list[str]:
    if not conf.api_settings.allow_field_selection:
        return []
    fields: list[str] = []
    for value in params.getlist("fields"):
        fields.extend(f.strip() for f in value.split(",") if f.strip())
    return fields


def select_fields(item: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """Keep only `fields` of a response dict (all when none are asked for); names that
    are no attribute of the object are ignored."""
    if not fields:
        return item
    wanted = set(fields)  # thousands of names must not cost thousands per attribute
    return {key: value for key, value in item.items() if key in wanted}


def _joined(query: Select, collection: Collection) -> Select:
    """Outer-join the tables of attributes stored beside the model (a load balancer's
    VIP), so that filters, sorting and markers can name them like any other attribute.
    Each such table holds at most one row per object, so a join adds no rows."""
    for table in _foreign_tables(collection):
        query = query.outerjoin(table)
    return query


def _foreign_tables(collection: Collection) -> list[Any]:
    tables: list[Any] = []
    for column in collection.columns.values():
        owner = getattr(column, "class_", collection.model)
        if owner is not collection.model and owner not in tables:
            tables.append(owner)
    return tables


def check_value_count(params: QueryParams, collection: Collection) -> None:
    """At most MAX_FILTER_VALUES filter and tag values in one list call (400 beyond).

    A resource that filters on some parameters itself (amphorae by project) calls this
    before taking them out of `params`."""
    count = sum(
        len(params.getlist(key))
        for key in params.keys()
        if key not in RESERVED_PARAMS and key not in IGNORED_PARAMS
    )
    if collection.tagged:
        count += sum(len(_tag_values(params, name)) for name in TAG_FILTERS)
    if count > MAX_FILTER_VALUES:
        raise exc.BadRequest(
            f"Too many filter values ({count}); a list call takes at most {MAX_FILTER_VALUES}."
        )


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
            query = query.where(column.is_(None) if converted[0] is None else column == converted[0])
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
            return _integer_in_column(column, raw)
        if python_type is float:
            return float(raw)
        if python_type is datetime.datetime:
            return datetime.datetime.fromisoformat(raw.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        raise exc.BadRequest(f"Invalid value '{raw}' for filter '{key}'.") from None
    if key in ADDRESS_FILTERS:
        try:
            return addresses.canonical_address(raw)
        except addresses.InvalidAddress:
            return raw
    return raw


def _integer_in_column(column: Any, raw: str) -> int:
    """A decimal integer the column can hold: a value past the column's width (or past
    64 bits, which no database binds) can match no row and is refused like a typo."""
    text = raw.strip()
    if not _INTEGER.fullmatch(text) or len(text) > 21:
        raise ValueError(raw)
    value = int(text)
    column_type = getattr(column, "type", None)
    bits = 64 if isinstance(column_type, BigInteger) else 16 if isinstance(column_type, SmallInteger) else 32
    if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        raise ValueError(raw)
    return value


TAG_FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")


def _tag_values(params: QueryParams, name: str) -> list[str]:
    values: list[str] = []
    for raw in params.getlist(name):
        values.extend(v for v in raw.split(",") if v)
    return values


def _apply_tag_filters(query: Select, collection: Collection, params: QueryParams) -> Select:
    """Tag filters as one subquery each, whatever the number of tags: a clause per tag
    overflows SQLite's expression depth and makes PostgreSQL's planner crawl."""
    pk = collection.primary_key

    def with_any(tags: list[str]) -> Select:
        return select(models.Tag.resource_id).where(models.Tag.tag.in_(tags))

    def with_all(tags: list[str]) -> Select:
        # (resource_id, tag) is the table's key: count(*) counts distinct tags.
        return with_any(tags).group_by(models.Tag.resource_id).having(func.count() == len(tags))

    if tags := sorted(set(_tag_values(params, "tags"))):
        query = query.where(pk.in_(with_all(tags)))
    if tags := sorted(set(_tag_values(params, "tags-any"))):
        query = query.where(pk.in_(with_any(tags)))
    if tags := sorted(set(_tag_values(params, "not-tags"))):
        query = query.where(pk.not_in(with_all(tags)))
    if tags := sorted(set(_tag_values(params, "not-tags-any"))):
        query = query.where(pk.not_in(with_any(tags)))
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
    result: list[tuple[str, bool]] = []
    for key, direction in pairs:
        if key not in collection.columns:
            raise exc.BadRequest(f"Supplied sort key '{key}' is not valid.")
        if direction.lower() not in ("asc", "desc"):
            raise exc.BadRequest(f"Supplied sort direction '{direction}' is not valid.")
        # A key already sorted on orders nothing more; repeating it thousands of times
        # would only grow the marker condition quadratically.
        if all(key != seen for seen, _ in result):
            result.append((key, direction.lower() == "asc"))
    return result


def _with_default_sort(collection: Collection, keys: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
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
    text = raw.strip()
    if not _INTEGER.fullmatch(text):
        raise exc.BadRequest(f"Supplied pagination limit '{raw}' is not valid.")
    # Past 21 characters only the sign matters (and int() refuses 4,300 digits).
    value = int(text) if len(text) <= 21 else (-1 if text.startswith("-") else 2**63)
    if value < 1:
        return None
    if ceiling is None:
        # No page can be longer than this; databases refuse larger LIMITs (SQLite: 64 bits).
        return value if value < 2**31 else None
    return min(value, ceiling)


_STAND_INS: dict[type, Any] = {
    str: "",
    int: -(2**31),
    bool: False,
    float: float("-inf"),
    datetime.datetime: datetime.datetime(1, 1, 1),
}


def _stand_in(column: Any) -> Any:
    """The value NULL sorts as in `column` (the smallest of its type), None if unknown."""
    try:
        return _STAND_INS.get(column.type.python_type)
    except (NotImplementedError, AttributeError):
        return None


def _order_expression(collection: Collection, key: str) -> Any:
    """What rows are ordered by for `key`, in ORDER BY and in the marker condition alike.

    A column that may be NULL (or lives on an outer-joined table) sorts with NULL as its
    stand-in: SQLite puts NULLs first and PostgreSQL last, and a keyset condition must
    agree with the ORDER BY or pages skip and repeat rows.
    """
    column = collection.columns[key]
    joined = getattr(column, "class_", collection.model) is not collection.model
    if not joined and not getattr(getattr(column, "expression", None), "nullable", True):
        return column
    if key == "created_at" and not joined:
        return models.default_order(column)  # the expression the indexes of 0006 serve
    stand_in = _stand_in(column)
    return column if stand_in is None else func.coalesce(column, stand_in)


def _marker_values(
    session: Session,
    collection: Collection,
    keys: Sequence[str],
    marker_id: str,
    scope: Sequence[ColumnElement[bool]],
) -> dict[str, Any]:
    """The marker's value of each sort key, read with the list's joins (a key may live
    on a joined table) and inside the caller's scope: another project's object is no
    marker, or its position would leak through the pages around it."""
    query = _joined(select(*[collection.columns[k] for k in keys]).select_from(collection.model), collection)
    query = query.where(collection.primary_key == marker_id, *scope)
    row = session.execute(query.limit(1)).first()
    if row is None:
        raise exc.BadRequest(f"Supplied pagination marker '{marker_id}' is not valid.")
    return dict(zip(keys, row, strict=True))


def _after_marker(
    collection: Collection, keys: Sequence[tuple[str, bool]], marker: Mapping[str, Any]
) -> ColumnElement[bool]:
    """Keyset condition: rows strictly after `marker` in the order given by `keys`."""
    clauses: list[ColumnElement[bool]] = []
    equal_so_far: list[ColumnElement[bool]] = []
    for key, asc in keys:
        expr = _order_expression(collection, key)
        value = marker[key]
        if value is None:
            value = _stand_in(collection.columns[key])
        # A bound literal: SQLAlchemy refuses `>` against a bare True/False (boolean keys
        # such as admin_state_up order false before true on both databases).
        bound = literal(value, type_=expr.type)
        beyond = expr > bound if asc else expr < bound
        clauses.append(and_(*equal_so_far, beyond) if equal_so_far else beyond)
        equal_so_far.append(expr == bound)
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
    keep = [(k, v) for k, v in params.multi_items() if k not in ("marker", "page_reverse", "limit")]
    links = []
    pk = collection.primary_key.key
    if len(rows) >= limit:
        query = [("limit", str(limit)), *keep, ("marker", str(getattr(rows[-1], pk)))]
        links.append({"href": f"{url}?{urllib.parse.urlencode(query)}", "rel": "next"})
    if marker_id:
        query = [
            ("limit", str(limit)),
            *keep,
            ("marker", str(getattr(rows[0], pk))),
            ("page_reverse", "True"),
        ]
        links.append({"href": f"{url}?{urllib.parse.urlencode(query)}", "rel": "previous"})
    return links
