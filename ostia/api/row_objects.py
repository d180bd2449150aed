"""A list page as plain objects read with Core, each relationship loaded once per page.

Loading a page of 1,000 load balancers as ORM objects spent three quarters of the list's
CPU time inside SQLAlchemy's ORM (identity map, instance state, `set_committed_value` for
every relationship of every object) for objects that are only read and serialized. Here
each row of a page becomes a `RowObject` whose attributes are the model's columns, under
the model's attribute names, so a resource's `serialize` reads it as it reads an ORM
object.

A relationship `serialize` reads (and a tagged model's `tags`) is not declared anywhere:
the first time any object of a page reads it, it is loaded for every object of the page
at once, in one query (the ORM's selectin loader takes one per 500 objects). An object in
ERROR that looks up its load balancer through two relationships costs two queries for the
page, not two per object. The objects loaded for a relationship form a page of their own,
so their relationships load the same way.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Select,
    String,
    Text,
    TypeDecorator,
    any_,
    bindparam,
    cast,
    func,
    inspect,
    literal_column,
    null,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapper, RelationshipProperty

from ostia.db import models

# Keys per IN list where each key is a bound parameter (see _KEYS): far below any
# database's limit whatever the page length (limit=infinite).
CHUNK = 500
_PARENT = "ostia_parent_key"


class RowObject(SimpleNamespace):
    """One row's columns as attributes; relationships arrive on first read (see module).

    Its page sits in a slot, not among the attributes: the collector stops tracking a
    dict that holds only plain values (strings, numbers, times, the empty tuple an empty
    relationship is), and each list of 1,000 load balancers otherwise handed it ~15,000
    containers to walk, several times over while 16 lists were in flight."""

    __slots__ = ("_page",)

    def __getattr__(self, name: str) -> Any:
        # Called only for an attribute not loaded yet.
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            page = _page_of(self)
        except AttributeError:
            raise AttributeError(name) from None
        page.load(name)
        return self.__dict__[name]


_page_of = RowObject.__dict__["_page"].__get__
# What an empty relationship reads as: one object for all, immutable, never tracked.
EMPTY: tuple[()] = ()


def _new(page: Page) -> RowObject:
    obj = RowObject()
    obj._page = page
    return obj


def release(objects: Sequence[Any]) -> None:
    """`Page.release` for the page `objects` were read into (nothing for other objects)."""
    if objects and isinstance(objects[0], RowObject):
        _page_of(objects[0]).release()


def columns_of(model: type[models.Base], only: Sequence[str] = ()) -> list[tuple[str, ColumnElement[Any]]]:
    """(attribute name, column) of `model`'s columns: all, or `only` these plus the key
    and the columns the model's relationships join on (so that they can still load)."""
    mapper: Mapper[Any] = inspect(model)
    wanted = set(only)
    if wanted:
        needed = list(mapper.primary_key)
        for relation in mapper.relationships:
            needed += [local for local, _ in relation.local_remote_pairs if local.table is mapper.local_table]
        wanted.update(mapper.get_property_by_column(column).key for column in needed)
    return [
        (attribute.key, attribute.columns[0])
        for attribute in mapper.column_attrs
        if not wanted or attribute.key in wanted
    ]


class StoredJson(TypeDecorator[Any]):
    """A JSON column as a page reads it: the value SQLAlchemy's JSON type gives, but a
    stored null (the text 'null', what JSON stores for None) without a parse. The VIP's
    `sg_ids` is that for nearly every load balancer, and a parse each cost ~1.5 us, 1.5 ms
    of a 1,000-item list. PostgreSQL's driver hands over decoded values: they pass."""

    impl = Text
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None or value == "null":
            return None
        # SQLite gives a number stored as JSON as a number (the column's affinity).
        return json.loads(value) if isinstance(value, str) else value


def _readable(value: Any, column_type: Any) -> Any:
    """`value` (of a column of `column_type`) read as a page reads it (see StoredJson)."""
    return type_coerce(value, StoredJson()) if isinstance(column_type, JSON) else value


def labelled(columns: Iterable[tuple[str, ColumnElement[Any]]]) -> list[Any]:
    """Select list items named by attribute (a column may be named otherwise in SQL)."""
    return [_readable(column, column.type).label(key) for key, column in columns]


def page_columns(
    model: type[models.Base],
    joined: Iterable[Any],
    hints: Mapping[str, Sequence[str]] | None = None,
    only: Sequence[str] = (),
) -> list[Any]:
    """The select list of a page of `model`: its columns (`only` these, with the key and
    join columns, if given) and, for each table in `joined` (outer-joined by the page
    query, at most one row per object) that a relationship leads to, that table's columns
    (those `hints` names for the relationship, if any) as "<relationship>.<attribute>",
    read into the relationship's object in the same row instead of one more query."""
    items = labelled(columns_of(model, only))
    for relation in inspect(model).relationships:
        if not relation.uselist and relation.mapper.class_ in joined:
            columns = columns_of(relation.mapper.class_, (hints or {}).get(relation.key, ()))
            items += labelled((f"{relation.key}.{key}", column) for key, column in columns)
    return items


class Page:
    """Objects of one model read together: what loads a relationship for all of them.

    `hints` maps a relationship path below the listed model ("listeners",
    "l7policies.listener") to the only columns its objects need: a load balancer's answer
    names its listeners by id, and reading their certificates and policies would be waste.
    """

    def __init__(
        self,
        connection: Connection,
        model: type[models.Base],
        hints: Mapping[str, Sequence[str]] | None = None,
        path: str = "",
    ) -> None:
        self.connection = connection
        self.model = model
        self.mapper: Mapper[Any] = inspect(model)
        self.hints = hints or {}
        self.path = path
        self.objects: list[RowObject] = []
        self._keys: dict[str, list[dict[str, Any]]] = {}
        self._joined: tuple[str, ...] = ()  # relationships read in the page's own rows
        self._family = [self]  # this page and those its relationships were read into

    def _related(self, model: type[models.Base], path: str) -> Page:
        """The page of the objects a relationship leads to (at `path` below the listed model)."""
        page = Page(self.connection, model, self.hints, path)
        page._family = self._family
        self._family.append(page)
        return page

    def release(self) -> None:
        """Drop the pages' hold on their objects, once no relationship is left to load.
        A page and its objects refer to each other, so without this only the collector
        frees them, after walking them (for a 1,000-item list, 2,000 objects or more);
        with it, they go when the answer no longer needs them."""
        for page in self._family:
            page.objects = []
            page._keys = {}

    def read(self, query: Select[Any], parameters: Mapping[str, Any] | None = None) -> list[RowObject]:
        """Run `query` (its columns labelled by attribute name, the model's own before
        any joined relationship's, as `page_columns` lists them) into objects of this page."""
        result = self.connection.execute(query, parameters)
        keys = list(result.keys())
        rows = result.all()
        own = [key for key in keys if "." not in key]
        objects = []
        for row in rows:
            obj = _new(self)
            obj.__dict__.update(zip(own, row, strict=False))  # to the last own column
            objects.append(obj)
        if len(own) < len(keys):
            self._with_joined(objects, keys, rows)
        self.objects = objects
        return objects

    def _with_joined(self, objects: list[RowObject], keys: list[str], rows: Sequence[Any]) -> None:
        """Give `objects` the one-to-one relationships whose columns their rows carry too
        (see `page_columns`): None where the outer join found no row."""
        groups: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            if "." in key:
                groups.setdefault(key.split(".", 1)[0], []).append(i)
        self._joined = tuple(groups)
        for name, positions in groups.items():
            relation = self.mapper.relationships[name]
            start, stop = positions[0], positions[-1] + 1
            names = [keys[i].split(".", 1)[1] for i in positions]
            # The joined table's key: NULL only where there is no row.
            remote_key = relation.mapper.get_property_by_column(relation.local_remote_pairs[0][1]).key
            present = start + names.index(remote_key)
            page = self._related(relation.mapper.class_, f"{self.path}{name}.")
            children = page.objects
            for obj, row in zip(objects, rows, strict=True):
                if row[present] is None:
                    obj.__dict__[name] = None
                    continue
                child = _new(page)
                child.__dict__.update(zip(names, row[start:stop], strict=True))
                obj.__dict__[name] = child
                children.append(child)

    def load(self, name: str) -> None:
        batch = _batch(self.model, self.path, tuple(self.hints.items()), self._joined)
        if batch is not None and name in batch.names:
            self._load_batch(batch)
            return
        if name == "tags" and issubclass(self.model, models.TaggedMixin):
            self._load_tags()
            return
        relation = self.mapper.relationships.get(name)
        if relation is None:
            raise AttributeError(f"{self.model.__name__} has no attribute {name!r}")
        self._load_relationship(name, relation)

    def _bound(self, attribute: str) -> list[dict[str, Any]]:
        """The parameters binding the page's distinct values of `attribute` as _KEYS,
        worked out once per page: a load balancer's tags, additional VIPs, listeners and
        pools are all loaded by the page's ids (serializing 1,000 ids cost ~0.25 ms)."""
        found = self._keys.get(attribute)
        if found is None:
            values = _distinct(obj.__dict__[attribute] for obj in self.objects)
            found = self._keys[attribute] = list(_bound_keys(values, self.connection.dialect.name))
        return found

    def _load_tags(self) -> None:
        found: dict[str, list[str]] = {}
        query = _tags_query(self.connection.dialect.name)
        for keys in self._bound("id"):
            for resource_id, value in self.connection.execute(query, keys):
                found.setdefault(resource_id, []).append(value)
        get = found.get
        for obj in self.objects:
            # What TaggedMixin.tags answers: the tags sorted.
            tags = get(obj.__dict__["id"])
            obj.__dict__["tags"] = sorted(tags) if tags else EMPTY

    def _load_batch(self, batch: _Batch) -> None:
        """Tags and the relationships of `batch`, for every object, from one query."""
        found: list[dict[Any, list[Any]]] = [{} for _ in batch.names]
        pages = [
            self._related(relation.mapper.class_, f"{self.path}{name}.") if relation is not None else None
            for name, relation in zip(batch.names, batch.relations, strict=True)
        ]
        slices = batch.slices
        query = batch.query(self.connection.dialect.name)
        for keys in self._bound(batch.key):
            for row in self.connection.execute(query, keys):
                kind = row[0]
                start, stop = slices[kind]
                page = pages[kind]
                if page is None:  # a tag
                    found[kind].setdefault(row[1], []).append(row[start])
                    continue
                child = _new(page)
                child.__dict__.update(zip(batch.keys[kind], row[start:stop], strict=True))
                page.objects.append(child)
                found[kind].setdefault(row[1], []).append(child)
        # What no object of the page has (often every one of them), set in one update each.
        nothing = {
            name: EMPTY if relation is None or relation.uselist else None
            for name, relation, by_parent in zip(batch.names, batch.relations, found, strict=True)
            if not by_parent
        }
        for obj in self.objects:
            obj.__dict__.update(nothing)
        for name, relation, by_parent in zip(batch.names, batch.relations, found, strict=True):
            if not by_parent:
                continue
            get = by_parent.get
            for obj in self.objects:
                values = get(obj.__dict__[batch.key])
                if relation is None:
                    obj.__dict__[name] = sorted(values) if values else EMPTY  # as TaggedMixin.tags
                elif relation.uselist:
                    obj.__dict__[name] = values or EMPTY
                else:
                    obj.__dict__[name] = values[0] if values else None

    def _load_relationship(self, name: str, relation: RelationshipProperty[Any]) -> None:
        pairs = relation.local_remote_pairs
        if relation.secondary is not None or len(pairs) != 1:
            raise NotImplementedError(f"{self.model.__name__}.{name}: only single-column joins load here")
        local, remote = pairs[0]
        local_key = self.mapper.get_property_by_column(local).key
        path = f"{self.path}{name}"
        target = self._related(relation.mapper.class_, f"{path}.")
        query = _related_query(relation, tuple(self.hints.get(path, ())), self.connection.dialect.name)
        children: list[RowObject] = []
        for keys in self._bound(local_key):
            children.extend(target.read(query, keys))
        target.objects = children
        by_parent: dict[Any, list[RowObject]] = {}
        for child in children:
            by_parent.setdefault(child.__dict__.pop(_PARENT), []).append(child)
        get = by_parent.get
        for obj in self.objects:
            found = get(obj.__dict__[local_key])
            if relation.uselist:
                obj.__dict__[name] = list(found) if found else EMPTY
            else:
                obj.__dict__[name] = found[0] if found else None


# The parents' keys a relationship is loaded for go to the database in one parameter where
# it takes a list in one: a JSON array that SQLite's json_each reads, a PostgreSQL array.
# An expanding IN renders and binds one parameter per key, which cost twice the query
# (1,000 keys on SQLite: 0.79 -> 0.37 ms); other databases get it, 500 keys at a time.
_KEYS = "ostia_keys"


def _among_keys(column: Any, dialect: str) -> ColumnElement[bool]:
    """`column` is one of the keys bound as _KEYS."""
    if dialect == "sqlite":
        keys = func.json_each(bindparam(_KEYS, type_=String)).table_valued("value")
        return column.in_(select(keys.c.value))
    if dialect == "postgresql":
        return column == any_(bindparam(_KEYS, type_=postgresql.ARRAY(column.type)))
    return column.in_(bindparam(_KEYS, expanding=True))  # type: ignore[no-any-return]


def _bound_keys(keys: list[Any], dialect: str) -> Iterable[dict[str, Any]]:
    """Parameters for the queries that together cover `keys`."""
    if not keys:
        return
    if dialect == "sqlite":
        yield {_KEYS: json.dumps(keys)}
    elif dialect == "postgresql":
        yield {_KEYS: keys}
    else:
        for start in range(0, len(keys), CHUNK):
            yield {_KEYS: keys[start : start + CHUNK]}


@functools.cache
def _tags_query(dialect: str) -> Select[str, str]:
    tag = models.Tag
    return select(tag.resource_id, tag.tag).where(_among_keys(tag.resource_id, dialect))


@functools.cache
def _related_query(relation: RelationshipProperty[Any], only: tuple[str, ...], dialect: str) -> Select[Any]:
    """The objects `relation` leads to from the parents whose keys are bound as _KEYS."""
    remote = relation.local_remote_pairs[0][1]
    query = select(remote.label(_PARENT), *labelled(columns_of(relation.mapper.class_, only))).where(
        _among_keys(remote, dialect)
    )
    return query.order_by(*relation.order_by) if relation.order_by else query


class _Batch:
    """What one query loads for a page of one model: its tags and the relationships the
    collection names in its hints that are read by the page's own key and need no order
    (a load balancer's tags, additional VIPs, listeners and pools), one UNION ALL branch
    each. Each branch fills its own columns and NULL the others'; a row carries which
    branch it is from and the parent's key. Loaded one query each, the four cost ~0.6 ms
    apiece, mostly the statement's execution around a query that finds nothing."""

    def __init__(self, model: type[models.Base], key: str, branches: list[tuple[str, Any, Any, list[Any]]]):
        self.model = model
        self.key = key
        self.names = [name for name, _, _, _ in branches]
        self.relations: list[RelationshipProperty[Any] | None] = [rel for _, rel, _, _ in branches]
        self._branches = branches
        self.keys: list[list[str]] = [[key for key, _ in columns] for _, _, _, columns in branches]
        self.slices: list[tuple[int, int]] = []
        start = 2  # after the branch number and the parent's key
        for columns in self.keys:
            self.slices.append((start, start + len(columns)))
            start += len(columns)

    @functools.cache  # noqa: B019 - batches live as long as the process (see _batch)
    def query(self, dialect: str) -> Any:
        selects = []
        for number, (_, _, remote, _) in enumerate(self._branches):
            items: list[Any] = [literal_column(str(number)).label("ostia_branch"), remote.label(_PARENT)]
            for other, (_, _, _, other_columns) in enumerate(self._branches):
                for key, column in other_columns:
                    value = column if other == number else cast(null(), column.type)
                    items.append(_readable(value, column.type).label(f"b{other}_{key}"))
            selects.append(select(*items).where(_among_keys(remote, dialect)))
        return union_all(*selects)


@functools.cache
def _batch(
    model: type[models.Base],
    path: str,
    hints: tuple[tuple[str, Sequence[str]], ...],
    joined: tuple[str, ...],
) -> _Batch | None:
    """The batch of a page of `model` at `path` whose rows carried the relationships
    `joined` (None when it would load one thing)."""
    mapper: Mapper[Any] = inspect(model)
    if len(mapper.primary_key) != 1:
        return None
    (primary,) = mapper.primary_key
    branches: list[tuple[str, Any, Any, list[Any]]] = []
    if issubclass(model, models.TaggedMixin):
        branches.append(("tags", None, models.Tag.resource_id, [("tag", models.Tag.tag)]))
    for hinted, only in hints:
        name = hinted[len(path) :] if hinted.startswith(path) else ""
        relation = mapper.relationships.get(name) if name and "." not in name and name not in joined else None
        if relation is None or relation.secondary is not None or relation.order_by:
            continue
        pairs = relation.local_remote_pairs
        if len(pairs) != 1 or pairs[0][0] is not primary:
            continue
        branches.append((name, relation, pairs[0][1], columns_of(relation.mapper.class_, only)))
    if len(branches) < 2:
        return None
    return _Batch(model, mapper.get_property_by_column(primary).key, branches)


def _distinct(values: Iterable[Any]) -> list[Any]:
    return [value for value in dict.fromkeys(values) if value is not None]
