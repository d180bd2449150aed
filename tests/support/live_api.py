"""A real API server on a free loopback port, in a thread, for tests that speak HTTP."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import uvicorn
from oslo_config import cfg

from ostia.api.app import create_app
from ostia.common import config as config_mod
from ostia.db import migration
from ostia.db.session import Database, create_db_engine


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def test_config(db_url: str, overrides: dict[str, dict[str, Any]] | None = None) -> cfg.ConfigOpts:
    """A configuration for API tests: noauth, noop provider by default, given database."""
    conf = config_mod.new_config()
    conf([], project="octavia", default_config_files=[])
    conf.set_override("connection", db_url, "database")
    conf.set_override("auth_strategy", "noauth", "api_settings")
    conf.set_override("default_provider_driver", "noop_driver", "api_settings")
    conf.set_override("cert_manager", "noop_cert_manager", "certificates")
    for group, values in (overrides or {}).items():
        for key, value in values.items():
            conf.set_override(key, value, None if group == "DEFAULT" else group)
    return conf


test_config.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


class LiveAPI:
    """uvicorn serving the app for `conf` on 127.0.0.1:<free port>."""

    def __init__(self, conf: cfg.ConfigOpts, db: Database, wake: Callable[[str], None] | None = None) -> None:
        self.conf = conf
        self.db = db
        self.app = create_app(conf, db, wake=wake)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(
                self.app, host="127.0.0.1", port=self.port, log_level="warning", timeout_graceful_shutdown=1
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveAPI:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test API server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)

    def reset(self, conf: cfg.ConfigOpts, db: Database, wake: Callable[[str], None] | None = None) -> LiveAPI:
        """Serve another configuration and database from the same running server."""
        from ostia.api.services import Services

        self.conf = conf
        self.db = db
        self.app.state.services = Services.build(conf, db, wake)
        return self

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


_TEMPLATE: dict[str, str] = {}


def migrated_sqlite(path: str) -> str:
    """A SQLite database at `path` at the head revision (copied from a template: fast)."""
    if "path" not in _TEMPLATE:
        directory = tempfile.mkdtemp(prefix="ostia-template-")
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        template = os.path.join(directory, "template.db")
        engine = create_db_engine(f"sqlite:///{template}")
        migration.upgrade(engine)
        engine.dispose()
        _TEMPLATE["path"] = template
    shutil.copyfile(_TEMPLATE["path"], path)
    return f"sqlite:///{path}"


# Overrides giving the private network a second subnet (and an IPv6 one), so that a load
# balancer can have additional VIPs.
ADDITIONAL_VIP_SUBNETS = {
    "local_network": {
        "subnets": ["private-subnet:127.2.0.0/16", "public-subnet:127.3.0.0/16", "private:fd00:db8::/64"]
    }
}


@contextlib.contextmanager
def running_api(
    db_url: str, overrides: dict[str, dict[str, Any]] | None = None, wake: Callable[[str], None] | None = None
) -> Iterator[LiveAPI]:
    """A started LiveAPI on `db_url` (migrated here unless it is a migrated SQLite file)."""
    conf = test_config(db_url, overrides)
    db = Database(create_db_engine(db_url))
    if migration.current_revision(db.engine) is None:
        migration.upgrade(db.engine)
    api = LiveAPI(conf, db, wake).start()
    try:
        yield api
    finally:
        api.stop()
        db.dispose()
