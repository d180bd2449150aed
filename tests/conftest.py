"""Fixtures shared by every test layer."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from ostia.db.session import Database, create_db_engine
from tests.support.live_api import LiveAPI, migrated_sqlite, running_api, test_config
from tests.support.postgres import PostgresServer

_db_names = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One private PostgreSQL server for the whole run (started on first use)."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """A fresh empty database on each backend: database tests run on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/octavia.db"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"ostia_test_{next(_db_names)}")


@pytest.fixture(scope="session")
def _shared_api(tmp_path_factory) -> Iterator[LiveAPI]:  # type: ignore[no-untyped-def]
    """One uvicorn server for the run; each test gets its own config and database."""
    url = migrated_sqlite(f"{tmp_path_factory.mktemp('api')}/first.db")
    with running_api(url) as live:
        yield live


@pytest.fixture
def api(_shared_api: LiveAPI, tmp_path) -> Iterator[LiveAPI]:  # type: ignore[no-untyped-def]
    """A live API on a fresh SQLite database with the noop provider as default."""
    url = migrated_sqlite(f"{tmp_path}/octavia.db")
    db = Database(create_db_engine(url))
    try:
        yield _shared_api.reset(test_config(url), db)
    finally:
        db.dispose()


@pytest.fixture
def client(api: LiveAPI):  # type: ignore[no-untyped-def]
    with api.client() as http:
        yield http
