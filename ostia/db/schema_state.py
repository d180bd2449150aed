"""What the configured database holds, judged before anything connects to it for real.

SQLite creates a missing file on the first connection and takes an existing empty file
for an empty database, so a truncated `octavia.db`, a restore that went wrong or a wrong
path would otherwise look like a fresh install and get an empty schema silently. Only a
database file that does not exist (or a server database without any table) is fresh;
anything else without Ostia's schema needs the operator to say "initialise it".
"""

from __future__ import annotations

import dataclasses
import enum
import os

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from ostia.db import migration

VERSION_TABLE = "alembic_version"
LISTED_TABLES = 5


class SchemaState(enum.Enum):
    FRESH = "fresh"  # no SQLite file, in memory, or a server database without tables
    EMPTY_FILE = "empty"  # an SQLite file that exists but holds no table (0 bytes, say)
    FOREIGN = "foreign"  # tables, but not Ostia's (no revision), or not SQLite at all
    OUTDATED = "outdated"  # Ostia's schema at an older revision
    CURRENT = "current"  # Ostia's schema at the head revision
    UNKNOWN = "unknown"  # a revision this Ostia does not know (a newer Ostia wrote it)


@dataclasses.dataclass(frozen=True)
class DatabaseReport:
    state: SchemaState
    where: str  # the file, or the URL without its password
    revision: str | None = None
    detail: str = ""  # what an operator reads after `where`


def missing_sqlite_file(url: str) -> bool:
    """True for an SQLite file URL whose file does not exist (a connection would create it)."""
    parsed = make_url(url)
    path = parsed.database or ""
    return (
        parsed.get_backend_name() == "sqlite"
        and path not in ("", ":memory:")
        and not path.startswith("file:")
        and not os.path.exists(path)
    )


def inspect_database(url: str) -> DatabaseReport:
    """Judge the database of `url` without creating or changing anything.

    Raises the driver's error when a server database cannot be reached.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if path in ("", ":memory:"):
            return DatabaseReport(SchemaState.FRESH, "in-memory SQLite database")
        if missing_sqlite_file(url):
            return DatabaseReport(SchemaState.FRESH, path, detail="does not exist")
        where, empty_detail = path, ""
        if not path.startswith("file:"):  # (a URI filename: judged by its content only)
            empty_detail = f"exists but is empty ({os.path.getsize(path)} bytes)"
    else:
        where = parsed.render_as_string(hide_password=True)
        empty_detail = ""
    # A plain engine: Ostia's own would switch an SQLite file to WAL, which writes to it.
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            try:
                tables = inspect(connection).get_table_names()
            except Exception as err:  # noqa: BLE001 - e.g. "file is not a database"
                if parsed.get_backend_name() != "sqlite":
                    raise
                return DatabaseReport(
                    SchemaState.FOREIGN, where, detail=f"is not an SQLite database ({err.__cause__ or err})"
                )
            # Read directly: alembic's MigrationContext logs two INFO lines per look.
            revision = (
                connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
                if VERSION_TABLE in tables
                else None
            )
    finally:
        engine.dispose()
    if not tables:
        if empty_detail:
            return DatabaseReport(SchemaState.EMPTY_FILE, where, detail=empty_detail)
        return DatabaseReport(SchemaState.FRESH, where, detail="has no tables")
    if revision is None:
        shown = ", ".join(sorted(tables)[:LISTED_TABLES])
        more = f" and {len(tables) - LISTED_TABLES} more" if len(tables) > LISTED_TABLES else ""
        return DatabaseReport(
            SchemaState.FOREIGN, where, detail=f"holds tables ({shown}{more}) but no Ostia schema"
        )
    return _by_revision(where, revision)


def _by_revision(where: str, revision: str) -> DatabaseReport:
    script = ScriptDirectory.from_config(migration.alembic_config("sqlite://"))
    head = script.get_current_head()
    if revision == head:
        return DatabaseReport(SchemaState.CURRENT, where, revision, f"is at revision {head}")
    try:
        known = script.get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        return DatabaseReport(
            SchemaState.UNKNOWN,
            where,
            revision,
            f"is at revision {revision}, which this Ostia does not know (its newest is {head})",
        )
    return DatabaseReport(
        SchemaState.OUTDATED, where, revision, f"is at revision {revision}, this Ostia needs {head}"
    )
