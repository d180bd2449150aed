"""What every command does first: read config files, set up logging, fail in one line."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from oslo_config import cfg

from ostia.common import config as config_mod
from ostia.common import request_id

DEFAULT_CONFIG_FILE = "/etc/octavia/octavia.conf"
# Every line names the request it serves ("-" for none): grep an id to follow one call
# from the API's access line through the worker's reconcile.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one readable line to standard error and exit."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def config_file_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "--config-file",
        action="append",
        dest="config_files",
        metavar="PATH",
        help=f"octavia.conf to read (repeatable; default {DEFAULT_CONFIG_FILE})",
    )
    return parser


def load(config_files: Sequence[str] | None, prog: str, check_drivers: bool = True) -> cfg.ConfigOpts:
    """Load and validate configuration, or exit with one line naming the bad option."""
    files = list(config_files or [DEFAULT_CONFIG_FILE])
    for path in files:
        try:
            with open(path, encoding="utf-8"):
                pass
        except OSError as err:
            fail(f"cannot read config file {path}: {err.strerror}")
    try:
        conf = config_mod.load_config(files, prog=prog)
        if check_drivers:
            config_mod.check_drivers(conf)
    except config_mod.ConfigError as err:
        fail(str(err))
    setup_logging(conf)
    return conf


def setup_logging(conf: cfg.ConfigOpts) -> None:
    level = logging.DEBUG if conf.debug else logging.INFO
    handlers: list[logging.Handler] = []
    if conf.log_file:
        handlers.append(logging.FileHandler(conf.log_file))
    else:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.addFilter(request_id.RequestIdFilter())
    logging.basicConfig(level=level, format=LOG_FORMAT, handlers=handlers, force=True)
    # alembic announces each of its plugins at INFO when first imported.
    for noisy in ("uvicorn.access", "stevedore", "httpx", "urllib3", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def require_schema(conf: cfg.ConfigOpts) -> None:
    """Stop in one line unless the database holds Ostia's schema at the head revision.

    Services never create or upgrade the schema: that is `octavia-db-manage upgrade head`,
    run once by the operator (and `ostia up` for its own database).
    """
    from ostia.db.schema_state import SchemaState, inspect_database

    try:
        report = inspect_database(conf.database.connection)
    except Exception as err:  # noqa: BLE001 - one line for an operator, not a traceback
        fail(f"cannot read the database: {type(err).__name__}: {err}")
    if report.state is SchemaState.CURRENT:
        return
    if report.state is SchemaState.UNKNOWN:  # a newer Ostia upgraded it: let it run
        logging.getLogger(__name__).warning("database %s %s", report.where, report.detail)
        return
    action = "upgrade it" if report.state is SchemaState.OUTDATED else "create Ostia's schema in it"
    detail = report.detail or "has no Ostia schema"
    fail(
        f"database {report.where} {detail}: {action} with `octavia-db-manage "
        f"upgrade head` (services never do that themselves)"
    )


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = threading.Event()

    def _handler(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
    while not stop.wait(0.5):
        pass


def run_service(prog: str, description: str, factory: Callable[..., Any], argv: Sequence[str] | None) -> int:
    """Run one controller service in the foreground until SIGINT/SIGTERM."""
    from ostia.db.session import Database

    parser = config_file_parser(prog, description)
    args = parser.parse_args(argv)
    conf = load(args.config_files, prog)
    require_schema(conf)
    from ostia.controller.service import ServiceStartError

    try:
        service = factory(conf, Database.from_config(conf))
        service.start()
    except (ServiceStartError, config_mod.ConfigError) as err:
        fail(str(err))
    wait_for_signal()
    service.stop()
    return 0
