"""Engines and sessions: SQLite in WAL mode with a busy timeout, PostgreSQL/MySQL pooled.

On PostgreSQL (psycopg2) a transaction's BEGIN goes with its first statement, a reader's
statements run without a transaction, and a connection the server closed is replaced when
a transaction's first statement finds it dead instead of by a ping at every checkout
(ostia.db.postgres_transactions): a GET of one load balancer is one round trip.

On SQLite, readers and writers begin differently. A writer takes the write lock at BEGIN
(BEGIN IMMEDIATE) and, inside one process, queues on a Python lock first: SQLite's own busy
handler sleeps in growing steps (up to 100 ms) while it waits, so sixteen writers waiting on
each other through it answered in seconds at the 99th percentile, where a lock hands over at
once. A reader (`Database.read_only()`) begins a plain deferred transaction: in WAL mode it
reads its snapshot while a writer works, never waiting for the write lock; `query_only` makes
a write through it fail loudly instead of taking the lock halfway through.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from oslo_config import cfg
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

READ_ONLY_OPTION = "ostia_read_only"
# Execution options of a write whose result no one reads (no rows, no row count): on
# PostgreSQL it goes with the transaction's next statement or its COMMIT, one round trip
# fewer, and an error it raises is raised there (ostia.db.postgres_transactions); on
# SQLite it runs at once.
SEND_LATER_OPTION = "ostia_send_later"
SEND_LATER = {SEND_LATER_OPTION: True}
WRITE_LOCK_TIMEOUT = 30.0  # seconds, the default [database] sqlite_busy_timeout


def create_db_engine(
    url: str,
    busy_timeout_ms: int = 30000,
    pool_size: int = 10,
    max_overflow: int = 20,
    pool_timeout: int = 10,
) -> Engine:
    """Create an engine for `url`; SQLite gets WAL, a busy timeout and foreign keys."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        in_memory = parsed.database in (None, "", ":memory:")
        kwargs: dict = {"connect_args": {"check_same_thread": False, "timeout": busy_timeout_ms / 1000}}
        if in_memory:
            kwargs["poolclass"] = StaticPool
        else:
            # One connection per concurrent request thread, readers and writers alike.
            kwargs.update(pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout)
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine, busy_timeout_ms, in_memory)
        return engine
    pool = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout}
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() == "psycopg2":
        from ostia.db.postgres_transactions import create_postgres_engine  # psycopg2 only here

        return create_postgres_engine(url, READ_ONLY_OPTION, SEND_LATER_OPTION, **pool)
    return create_engine(url, **pool, pool_pre_ping=True)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int, in_memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not pysqlite, decide when transactions begin, so that
        # BEGIN IMMEDIATE below really takes the write lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        read_only = bool(conn.get_execution_options().get(READ_ONLY_OPTION))
        if conn.info.get("query_only") != read_only:
            conn.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")
            conn.info["query_only"] = read_only
        # Writers queue on the database lock at BEGIN instead of failing on upgrade
        # from a read lock ("database is locked") halfway through a transaction.
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def engine_from_config(conf: cfg.ConfigOpts) -> Engine:
    db = conf.database
    return create_db_engine(
        db.connection,
        busy_timeout_ms=db.sqlite_busy_timeout,
        pool_size=db.max_pool_size,
        max_overflow=db.max_overflow,
        pool_timeout=db.pool_timeout,
    )


class Database:
    """One engine and its session factory; pass it to whatever needs the database."""

    def __init__(self, engine: Engine, *, read_only: bool = False) -> None:
        self.engine = engine
        self.is_read_only = read_only
        self._bind = engine.execution_options(**{READ_ONLY_OPTION: True}) if read_only else engine
        self.sessionmaker = sessionmaker(bind=self._bind, expire_on_commit=False)
        self._reader: Database | None = self if read_only else None
        # Only for SQLite files: in-process writers hand the write lock over without
        # SQLite's sleeping busy handler (see the module docstring).
        self._write_lock: threading.RLock | None = (
            threading.RLock() if not read_only and engine.dialect.name == "sqlite" else None
        )

    @classmethod
    def from_config(cls, conf: cfg.ConfigOpts) -> Database:
        return cls(engine_from_config(conf))

    def read_only(self) -> Database:
        """The same database for readers: on SQLite a deferred BEGIN that never waits for
        the write lock, and a write through it is an error."""
        if self._reader is None:
            self._reader = Database(self.engine, read_only=True)
        return self._reader

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on any error."""
        # Past the timeout a writer goes on without the lock and SQLite's busy timeout
        # decides, as before the lock existed: a stuck writer still fails the others.
        locked = self._write_lock is not None and self._write_lock.acquire(timeout=WRITE_LOCK_TIMEOUT)
        try:
            session = self.sessionmaker()
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()
        finally:
            if locked:
                assert self._write_lock is not None
                self._write_lock.release()

    @contextlib.contextmanager
    def reading(self) -> Iterator[Connection]:
        """A Core connection in a read-only transaction, for answers built from rows rather
        than ORM objects: no Session to set up and tear down (about 50 µs of a GET)."""
        with self.read_only()._bind.connect() as connection, connection.begin():
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()
