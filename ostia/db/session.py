"""Engines and sessions: SQLite in WAL mode with a busy timeout, PostgreSQL/MySQL pooled."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from oslo_config import cfg
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool


def create_db_engine(url: str, busy_timeout_ms: int = 30000, pool_size: int = 10,
                     max_overflow: int = 20, pool_timeout: int = 10) -> Engine:
    """Create an engine for `url`; SQLite gets WAL, a busy timeout and foreign keys."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        in_memory = parsed.database in (None, "", ":memory:")
        kwargs: dict = {"connect_args": {"check_same_thread": False,
                                         "timeout": busy_timeout_ms / 1000}}
        if in_memory:
            kwargs["poolclass"] = StaticPool
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine, busy_timeout_ms, in_memory)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                         pool_timeout=pool_timeout, pool_pre_ping=True)


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
        # Writers queue on the database lock at BEGIN instead of failing on upgrade
        # from a read lock ("database is locked") halfway through a transaction.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def engine_from_config(conf: cfg.ConfigOpts) -> Engine:
    db = conf.database
    return create_db_engine(db.connection, busy_timeout_ms=db.sqlite_busy_timeout,
                            pool_size=db.max_pool_size, max_overflow=db.max_overflow,
                            pool_timeout=db.pool_timeout)


class Database:
    """One engine and its session factory; pass it to whatever needs the database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessionmaker = sessionmaker(bind=engine, expire_on_commit=False)

    @classmethod
    def from_config(cls, conf: cfg.ConfigOpts) -> Database:
        return cls(engine_from_config(conf))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on any error."""
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def dispose(self) -> None:
        self.engine.dispose()
