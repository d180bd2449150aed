"""Bulk upserts and keyed updates: one statement per batch, whatever its size.

SQLite runs in-process, so an executemany of one cached statement is as fast as it gets.
PostgreSQL costs a round trip per statement and psycopg2's executemany sends one statement
per row, so there the rows travel as arrays in a single statement
(`INSERT ... SELECT * FROM unnest(...)`, `UPDATE ... FROM unnest(...)`) whose text is the
same for any number of rows. Other databases get a plain executemany.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, bindparam, func, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

_STATEMENTS: dict[tuple[Any, ...], Any] = {}


def _cached(key: tuple[Any, ...], build: Any) -> Any:
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _STATEMENTS[key] = build()
    return statement


def _pg_array(table: Table, column: str, param: str | None = None) -> str:
    """`CAST(:param AS <column type>[])` (`:param::type` would not parse as a bind)."""
    column_type = table.c[column].type.compile(dialect=postgresql.dialect())
    return f"CAST(:{param or column} AS {column_type}[])"


def upsert(
    session: Session,
    table: Any,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    replace: Sequence[str],
    add: Sequence[str] = (),
    newest: Sequence[str] = (),
) -> None:
    """Insert `rows`; on a key conflict replace the `replace` columns, add the `add` ones
    and keep the greater of the stored and the new value of the `newest` ones.

    Every row must have the same columns.
    """
    if not rows:
        return
    # In key order: several health managers write the same rows (every amphora
    # heartbeats to each in turn), and two batches that lock shared rows in different
    # orders deadlock on PostgreSQL (seen with two managers at 10,000 heartbeats/s).
    rows = sorted(rows, key=lambda row: tuple(row[name] for name in keys))
    columns = tuple(rows[0])
    dialect = session.get_bind().dialect.name
    shape = (dialect, table.name, columns, tuple(keys), tuple(replace), tuple(add), tuple(newest))
    connection = session.connection()
    if dialect == "postgresql":
        statement = _cached(shape, lambda: _pg_upsert(table, columns, keys, replace, add, newest))
        connection.execute(statement, {name: [row[name] for row in rows] for name in columns})
        return
    if dialect != "sqlite":
        raise NotImplementedError(f"bulk upsert on {dialect}")
    sql, order, processors = _cached(
        shape, lambda: _sqlite_upsert(session, table, columns, keys, replace, add, newest)
    )
    # Straight to the driver with tuples: SQLAlchemy's per-row parameter handling costs
    # more than SQLite's own work for these small rows.
    connection.exec_driver_sql(
        sql,
        [
            tuple(
                row[name] if process is None else process(row[name])
                for name, process in zip(order, processors, strict=True)
            )
            for row in rows
        ],
    )


def _sqlite_upsert(
    session: Session,
    table: Any,
    columns: Sequence[str],
    keys: Sequence[str],
    replace: Sequence[str],
    add: Sequence[str],
    newest: Sequence[str] = (),
) -> tuple[str, list[str], list[Any]]:
    """The upsert's SQL for the driver, its parameter order and each one's converter."""
    dialect = session.get_bind().dialect
    insert = sqlite.insert(table).values({name: bindparam(name) for name in columns})
    values: dict[str, Any] = {name: insert.excluded[name] for name in replace}
    values.update({name: table.c[name] + insert.excluded[name] for name in add})
    # SQLite's max() of several arguments is the scalar one.
    values.update({name: func.max(table.c[name], insert.excluded[name]) for name in newest})
    compiled = insert.on_conflict_do_update(index_elements=list(keys), set_=values).compile(dialect=dialect)
    order = list(compiled.positiontup or [])
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in order]
    return str(compiled), order, processors


def _pg_upsert(
    table: Table,
    columns: Sequence[str],
    keys: Sequence[str],
    replace: Sequence[str],
    add: Sequence[str],
    newest: Sequence[str] = (),
) -> Any:
    name = table.name
    assignments = [f"{col} = excluded.{col}" for col in replace]
    assignments += [f"{col} = {name}.{col} + excluded.{col}" for col in add]
    assignments += [f"{col} = GREATEST({name}.{col}, excluded.{col})" for col in newest]
    return text(
        f"INSERT INTO {name} ({', '.join(columns)}) "
        f"SELECT * FROM unnest({', '.join(_pg_array(table, col) for col in columns)}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(assignments)}"
    )


def set_by_id(
    session: Session, table: Any, column: str, values: dict[str, Any], now: datetime.datetime
) -> None:
    """`column = values[id]` for each id, and `updated_at = now` (as an ORM update would)."""
    if not values:
        return
    values = dict(sorted(values.items()))  # in id order, as `upsert` (deadlocks)
    dialect = session.get_bind().dialect.name
    connection = session.connection()
    key = ("set", dialect, table.name, column)
    if dialect == "postgresql":
        statement = _cached(
            key,
            lambda: text(
                f"UPDATE {table.name} SET {column} = v.value, updated_at = :now "
                f"FROM unnest({_pg_array(table, 'id', 'ids')}, "
                f"{_pg_array(table, column, 'new_values')}) "
                f"AS v(id, value) WHERE {table.name}.id = v.id"
            ),
        )
        connection.execute(statement, {"ids": list(values), "new_values": list(values.values()), "now": now})
        return
    statement = _cached(
        key,
        lambda: (
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values({column: bindparam("new_value"), "updated_at": bindparam("row_now")})
        ),
    )
    connection.execute(
        statement, [{"row_id": ident, "new_value": value, "row_now": now} for ident, value in values.items()]
    )
