"""Create upstream Octavia's schema on SQLite (run with upstream's own Python).

Upstream's `octavia-db-manage upgrade head` stops on SQLite (its migrations ALTER
constraints), so, as upstream's own functional tests do, the tables come from its models'
metadata and the lookup tables from its test base's seeding. Nothing of upstream is copied:
this imports the installed package.

    <upstream venv>/bin/python bench/upstream_octavia_schema.py sqlite:////path/octavia.db
"""

from __future__ import annotations

import sys

import sqlalchemy
from octavia.db import (
    base_models,
    models,  # noqa: F401  (registers every table on the metadata)
)
from octavia.tests.functional.db.base import OctaviaDBTestBase
from sqlalchemy import orm


class _Seeder:
    _seed_lookup_table = OctaviaDBTestBase._seed_lookup_table
    _seed_lookup_tables = OctaviaDBTestBase._seed_lookup_tables


def main(url: str) -> None:
    engine = sqlalchemy.create_engine(url)
    base_models.BASE.metadata.create_all(engine)
    with orm.Session(engine) as session, session.begin():
        _Seeder()._seed_lookup_tables(session)
    engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1])
