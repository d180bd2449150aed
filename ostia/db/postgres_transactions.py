"""PostgreSQL transactions in as few round trips as the work needs (psycopg2).

Left to itself, psycopg2 sends BEGIN as a message of its own before a transaction's first
statement, and the pool's pre-ping sent a SELECT 1 at every checkout: a GET of one load
balancer was four round trips to the server (ping, BEGIN, query, COMMIT), a PUT six, each
one a wake-up of a backend that competes with the API for the same cores. Here:

- A transaction's BEGIN travels with its first statement, in one message
  ("BEGIN;<statement>": psycopg2 fills parameters in on the client and uses the simple
  query protocol, which runs both and answers with the last one's result). Underneath, the
  connection is in psycopg2's autocommit mode; `TransactionConnection` keeps the DB-API's
  promise (a transaction begins with the first statement and lasts until commit() or
  rollback()) from the server's transaction status, which libpq tracks without asking.
- A reader (`Database.read_only()`) sends no BEGIN at all: each of its statements is a
  transaction of its own. At READ COMMITTED, PostgreSQL's default and Ostia's, every
  statement of a transaction takes its own snapshot anyway, so a reader sees what it saw
  before. A reader refuses INSERT, UPDATE, DELETE and DDL, which would commit at once (on
  SQLite `query_only` refuses them).
- No pre-ping. A pooled connection that the server closed (a restart, a terminated
  backend) shows itself when the first statement of a transaction fails with a disconnect
  error. Nothing had been sent in that transaction yet, so the statement is sent once more
  on a new connection and the caller never sees the restart, as with the pre-ping; the
  other pooled connections opened before the failure are replaced at their next checkout.
  A reader's statements are retried the same way. Not retried: a transaction whose first
  statement is a multi-row INSERT, which SQLAlchemy sends in batches on a cursor it keeps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import psycopg2
import psycopg2.errors
from psycopg2 import extensions
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.engine.interfaces import DBAPICursor, ExecuteStyle

LOG = logging.getLogger(__name__)

_IDLE = extensions.TRANSACTION_STATUS_IDLE
# psycopg2's own flag, kept on: psycopg2 then sends no BEGIN and its commit() sends nothing.
_DRIVER_AUTOCOMMIT = extensions.connection.autocommit
_LEVEL_NAMES = {
    extensions.ISOLATION_LEVEL_READ_UNCOMMITTED: "READ UNCOMMITTED",
    extensions.ISOLATION_LEVEL_READ_COMMITTED: "READ COMMITTED",
    extensions.ISOLATION_LEVEL_REPEATABLE_READ: "REPEATABLE READ",
    extensions.ISOLATION_LEVEL_SERIALIZABLE: "SERIALIZABLE",
}


class TransactionCursor(extensions.cursor):
    """A cursor that sends in front of a statement what its connection holds back: the
    BEGIN of a transaction's first statement, or statements sent later (`send_later`)."""

    # The last statement opened its connection's transaction: if the connection turns
    # out dead, that transaction held nothing else and can be sent again.
    began = False

    def execute(self, query: Any, vars: Any = None) -> None:  # noqa: A002 (DB-API's name)
        prefix, self.began = self.connection.take_prefix()
        if prefix is not None:
            if isinstance(query, str):
                # psycopg2 reads % as a placeholder mark when there are parameters.
                query = f"{prefix if vars is None else prefix.replace('%', '%%')};{query}"
            else:
                super().execute(prefix)
        super().execute(query, vars)

    def executemany(self, query: Any, vars_list: Any) -> None:
        prefix, self.began = self.connection.take_prefix()
        if prefix is not None:
            super().execute(prefix)
        super().executemany(query, vars_list)

    def execute_alone(self, query: Any, vars: Any = None) -> None:  # noqa: A002
        """Run `query` as a transaction of its own (a reader's statement): no BEGIN."""
        self.began = False
        super().execute(query, vars)


class TransactionConnection(extensions.connection):
    """A psycopg2 connection that opens transactions with their first statement and can
    hold statements back to send with the next one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _DRIVER_AUTOCOMMIT.__set__(self, True)
        self.cursor_factory = TransactionCursor
        # What opens a transaction; None in true autocommit (isolation level AUTOCOMMIT).
        self._begin: str | None = "BEGIN"
        self._later: list[str] = []

    def take_prefix(self) -> tuple[str | None, bool]:
        """What the next statement must carry in front of it (None: nothing), and whether
        that opens the transaction (BEGIN)."""
        if self._later:
            later, self._later = self._later, []
            return ";".join(later), False
        if self._begin is None or self.get_transaction_status() != _IDLE:
            return None, False
        return self._begin, True

    def send_later(self, statement: str) -> bool:
        """Hold `statement` (its parameters filled in) back, to send it with the
        transaction's next statement or with its COMMIT: one round trip fewer. An error
        it raises is raised there. False when no transaction is open: send it now."""
        if self._begin is None or self.get_transaction_status() == _IDLE:
            return False
        self._later.append(statement)
        return True

    def commit(self) -> None:
        if self.get_transaction_status() != _IDLE:
            prefix, _ = self.take_prefix()
            self._send("COMMIT" if prefix is None else f"{prefix};COMMIT")

    def rollback(self) -> None:
        self._later = []
        if self.get_transaction_status() != _IDLE:
            self._send("ROLLBACK")

    def _send(self, statement: str) -> None:
        with extensions.cursor(self) as cursor:
            cursor.execute(statement)

    # psycopg2's autocommit and isolation level, as SQLAlchemy sets them (execution option
    # isolation_level) and as psycopg2.extras reads them: about what this class emulates.
    @property  # type: ignore[override]
    def autocommit(self) -> bool:
        return self._begin is None

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        self._begin = None if value else "BEGIN"

    def set_isolation_level(self, level: int | None) -> None:
        if level == extensions.ISOLATION_LEVEL_AUTOCOMMIT:
            self._begin = None
        elif level is None:
            self._begin = "BEGIN"
        else:
            self._begin = f"BEGIN ISOLATION LEVEL {_LEVEL_NAMES[level]}"


def create_postgres_engine(
    url: str, read_only_option: str, send_later_option: str, **pool_options: Any
) -> Engine:
    """An engine on `url` whose connections are `TransactionConnection`s, with no pre-ping:
    a disconnect on a transaction's first statement is retried on a new connection.
    Statements run with the execution option `read_only_option` run without a transaction
    and may only read; those with `send_later_option` go with the transaction's next
    statement or its COMMIT."""
    engine = create_engine(url, connect_args={"connection_factory": TransactionConnection}, **pool_options)
    dialect = engine.dialect

    def run(context: DefaultExecutionContext, cursor: DBAPICursor, send: Callable[[Any, bool], None]) -> bool:
        read_only = bool(context.execution_options.get(read_only_option))
        if read_only and (context.isinsert or context.isupdate or context.isdelete or context.isddl):
            raise psycopg2.errors.ReadOnlySqlTransaction("cannot write through a read-only connection")
        try:
            send(cursor, read_only)
        except psycopg2.Error as error:
            retry = (read_only or getattr(cursor, "began", False)) and context.execute_style is not (
                ExecuteStyle.INSERTMANYVALUES
            )
            if not retry or not dialect.is_disconnect(error, cursor.connection, cursor):
                raise
            send(_reconnect(context, error), read_only)
        return True

    @event.listens_for(engine, "do_execute")
    def _execute(cursor, statement, parameters, context):  # type: ignore[no-untyped-def]
        if context.execution_options.get(send_later_option) and _held_back(cursor, statement, parameters):
            return True

        def send(cur: Any, read_only: bool) -> None:
            (cur.execute_alone if read_only else cur.execute)(statement, parameters)

        return run(context, cursor, send)

    @event.listens_for(engine, "do_execute_no_params")
    def _execute_no_params(cursor, statement, context):  # type: ignore[no-untyped-def]
        if context.execution_options.get(send_later_option) and _held_back(cursor, statement, None):
            return True

        def send(cur: Any, read_only: bool) -> None:
            (cur.execute_alone if read_only else cur.execute)(statement)

        return run(context, cursor, send)

    @event.listens_for(engine, "do_executemany")
    def _executemany(cursor, statement, parameters, context):  # type: ignore[no-untyped-def]
        return run(
            context,
            cursor,
            lambda cur, _read_only: dialect.do_executemany(cur, statement, parameters, context),
        )

    return engine


def _held_back(cursor: Any, statement: str, parameters: Any) -> bool:
    """Hold a statement back (`TransactionConnection.send_later`), its parameters filled
    in; False, and nothing done, when no transaction is open."""
    connection = cursor.connection
    text = cursor.mogrify(statement, parameters).decode(extensions.encodings[connection.encoding])
    return bool(connection.send_later(text))


def fetch_all(connection: Connection, statement: str, parameters: dict[str, Any]) -> list[tuple[Any, ...]]:
    """`statement`'s rows as psycopg2's tuples, through a cursor of the driver (no result
    processing: what a hot path reading thousands of rows wants), sent as SQLAlchemy sends
    a statement here: with BEGIN when it opens the transaction, and then once more on a new
    connection if it finds the old one dead."""
    cursor = connection.connection.cursor()
    try:
        try:
            cursor.execute(statement, parameters)
        except psycopg2.Error as error:
            if not getattr(cursor, "began", False) or not connection.dialect.is_disconnect(
                error, cursor.connection, cursor
            ):
                raise
            cursor.close()
            cursor = _replace_dbapi_connection(connection, error).cursor()
            cursor.execute(statement, parameters)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _reconnect(context: DefaultExecutionContext, error: BaseException) -> Any:
    """A cursor for the statement of `context` on a new connection."""
    _replace_dbapi_connection(context.root_connection, error)
    context.cursor = context.create_cursor()
    return context.cursor


def _replace_dbapi_connection(connection: Connection, error: BaseException) -> Any:
    """Put a new DB-API connection under `connection`'s pooled one, in place (as
    SQLAlchemy's own pre-ping does on a failed ping: the Connection and its transaction
    object stay the caller's), and mark every older pooled connection for replacement at
    its next checkout; return the new DB-API connection."""
    LOG.warning("Database connection lost (%s); sending the statement again on a new connection", error)
    pooled = connection.connection
    record = pooled._connection_record  # type: ignore[attr-defined]
    record.invalidate(error)
    connection.engine.pool._invalidate(pooled, error, _checkin=False)
    pooled.dbapi_connection = record.get_connection()  # type: ignore[misc]
    return pooled.dbapi_connection
