"""A fresh database on each backend for fixtures that run their module on both."""

from __future__ import annotations

import itertools

import pytest

from tests.support.live_api import migrated_sqlite

# Parameters of a fixture that runs its module's tests once on each database.
BOTH_DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
_names = itertools.count()


def fresh_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, name: str
) -> str:
    """The URL of an empty database for a fixture parametrized with BOTH_DATABASES: a
    migrated SQLite file, or a database on the run's private PostgreSQL server."""
    if request.param == "sqlite":
        return migrated_sqlite(str(tmp_path_factory.mktemp(name) / "octavia.db"))
    return str(request.getfixturevalue("postgres").create_database(f"{name}_{next(_names)}"))
