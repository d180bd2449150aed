"""octavia-db-manage: `upgrade [head]`, `current`, `history`."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ostia.cmd import runtime
from ostia.db import migration
from ostia.db.schema_state import missing_sqlite_file
from ostia.db.session import engine_from_config


def main(argv: Sequence[str] | None = None) -> int:
    parser = runtime.config_file_parser("octavia-db-manage", "Manage Ostia's database schema.")
    commands = parser.add_subparsers(dest="command", required=True)
    upgrade = commands.add_parser("upgrade", help="upgrade the schema")
    upgrade.add_argument("revision", nargs="?", default="head")
    commands.add_parser("current", help="show the current revision")
    commands.add_parser("history", help="list revisions")
    args = parser.parse_args(argv)
    conf = runtime.load(args.config_files, "octavia-db-manage", check_drivers=False)
    if args.command == "history":
        print("\n".join(migration.history()))
        return 0
    if args.command == "current" and missing_sqlite_file(conf.database.connection):
        # Connecting would create an empty file, which `ostia up` then refuses.
        print("(empty)")
        return 0
    engine = engine_from_config(conf)
    try:
        if args.command == "upgrade":
            migration.upgrade(engine, args.revision)
            print(f"database at revision {migration.current_revision(engine)}")
        else:
            current = migration.current_revision(engine)
            head = migration.head_revision()
            print(f"{current or '(empty)'}{' (head)' if current == head else ''}")
    except Exception as err:  # noqa: BLE001 - one line for an operator, not a traceback
        runtime.fail(f"database {args.command} failed: {type(err).__name__}: {err}")
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
