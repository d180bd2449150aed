"""Fixtures shared by every test layer."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.support.live_api import LiveAPI, migrated_sqlite, running_api
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


@pytest.fixture
def api(tmp_path) -> Iterator[LiveAPI]:  # type: ignore[no-untyped-def]
    """A live API on SQLite with the noop provider as default."""
    with running_api(migrated_sqlite(f"{tmp_path}/octavia.db")) as live:
        yield live


@pytest.fixture
def client(api: LiveAPI):  # type: ignore[no-untyped-def]
    with api.client() as http:
        yield http
