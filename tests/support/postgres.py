"""A private PostgreSQL server for the test run: own data dir, socket dir and port."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time

from tests.support.live_api import free_port


def _bin_dir() -> str:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not candidates:
        raise RuntimeError("PostgreSQL is not installed: run the test command (make test), which installs it")
    return candidates[-1]


class PostgresServer:
    """initdb + pg_ctl start as the `postgres` user; stop() removes everything."""

    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.port = free_port()
        self.root = tempfile.mkdtemp(prefix="ostia-pg-")
        self.data = os.path.join(self.root, "data")
        self.sockets = os.path.join(self.root, "run")
        self.user = "postgres"

    def _as_user(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        prefix: list[str] = []
        if os.geteuid() == 0:
            prefix = ["runuser", "-u", self.user, "--"]
        return subprocess.run([*prefix, *cmd], check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> PostgresServer:
        os.makedirs(self.sockets)
        if os.geteuid() == 0:
            entry = pwd.getpwnam(self.user)
            for path in (self.root, self.sockets):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        else:
            self.user = pwd.getpwuid(os.geteuid()).pw_name
        self._as_user(
            os.path.join(self.bin, "initdb"), "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync"
        )
        self.start_server()
        return self

    def start_server(self) -> None:
        """Start the server on its data directory (after stop_server: a restart)."""
        self._as_user(
            os.path.join(self.bin, "pg_ctl"),
            "-D",
            self.data,
            "-w",
            "-t",
            "60",
            "-l",
            os.path.join(self.root, "server.log"),
            "-o",
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
            f"-c fsync=off -c max_connections=200",
            "start",
        )

    def stop_server(self) -> None:
        """Stop the server as an operator would (fast shutdown: clients are disconnected),
        keeping its data for start_server."""
        self._as_user(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> str:
        deadline = time.monotonic() + 30
        while True:
            try:
                self._as_user(
                    os.path.join(self.bin, "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    "postgres",
                    name,
                )
                break
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._as_user(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "stop")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.root, ignore_errors=True)
