"""A private RabbitMQ broker for tests: own node name, ports, epmd, data and log directories.

Nothing is shared with a system broker: the node is `ostia-test-<random>@localhost`,
listens on 127.0.0.1 at a free port, and talks to its own `epmd` on a free port that this
module starts in the foreground (so it is our child and is reaped on stop). The broker runs
in its own process group; `stop()` sends SIGTERM to the group, waits, then SIGKILLs it and
removes every file. `rabbitmqctl` is not used: it would start a second epmd on the default
port behind our back.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from tests.support.live_api import free_port

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
START_TIMEOUT = 90.0


def _epmd_binary() -> str:
    path = shutil.which("epmd")
    if path:
        return path
    for root in sorted(os.listdir("/usr/lib/erlang")) if os.path.isdir("/usr/lib/erlang") else []:
        candidate = os.path.join("/usr/lib/erlang", root, "bin", "epmd")
        if os.path.exists(candidate):
            return candidate
    raise BrokerStartError("epmd (Erlang) is not installed; install rabbitmq-server")


class BrokerStartError(RuntimeError):
    """The private broker could not start; the message says why and where its log is."""


class RabbitMQBroker:
    """One private broker; use as a context manager or call start()/stop()."""

    def __init__(self) -> None:
        self.root = tempfile.mkdtemp(prefix="ostia-rabbitmq-")
        self.node = f"ostia-test-{secrets.token_hex(4)}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.user = "guest"
        self.password = "guest"
        self._epmd: subprocess.Popen[bytes] | None = None
        self._server: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"rabbit://{self.user}:{self.password}@127.0.0.1:{self.port}/"

    @property
    def log_path(self) -> str:
        return os.path.join(self.root, "server.out")

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            {
                "HOME": self.root,  # the Erlang cookie goes here, not into root's home
                "RABBITMQ_NODENAME": self.node,
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "RABBITMQ_NODE_PORT": str(self.port),
                "RABBITMQ_DIST_PORT": str(self.dist_port),
                "RABBITMQ_MNESIA_BASE": os.path.join(self.root, "mnesia"),
                "RABBITMQ_LOG_BASE": os.path.join(self.root, "log"),
                "RABBITMQ_CONFIG_FILE": os.path.join(self.root, "rabbitmq.conf"),
                "RABBITMQ_ADVANCED_CONFIG_FILE": os.path.join(self.root, "advanced.config"),
                "RABBITMQ_CONF_ENV_FILE": os.path.join(self.root, "rabbitmq-env.conf"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(self.root, "enabled_plugins"),
                "RABBITMQ_PID_FILE": os.path.join(self.root, "rabbitmq.pid"),
                "ERL_EPMD_PORT": str(self.epmd_port),
            }
        )
        return env

    def _write_files(self) -> None:
        with open(os.path.join(self.root, "rabbitmq.conf"), "w", encoding="utf-8") as handle:
            handle.write(
                f"listeners.tcp.default = {self.port}\n"
                "log.console = true\nlog.file = false\n"
                # Tests fill queues fast on a small disk: never block publishers.
                "disk_free_limit.absolute = 1MB\n"
            )
        with open(os.path.join(self.root, "advanced.config"), "w", encoding="utf-8") as handle:
            handle.write("[].\n")
        with open(os.path.join(self.root, "rabbitmq-env.conf"), "w", encoding="utf-8") as handle:
            handle.write("# private test broker: no settings from /etc/rabbitmq\n")
        with open(os.path.join(self.root, "enabled_plugins"), "w", encoding="utf-8") as handle:
            handle.write("[].\n")  # no management plugin

    def start(self) -> RabbitMQBroker:
        if not os.path.exists(RABBITMQ_SERVER):
            raise BrokerStartError(
                f"RabbitMQ is not installed ({RABBITMQ_SERVER} missing): apt-get install rabbitmq-server"
            )
        self._write_files()
        env = self._environment()
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed by the child's exit
        try:
            self._epmd = subprocess.Popen(
                [_epmd_binary(), "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self._server = subprocess.Popen(
                [RABBITMQ_SERVER],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        """Ready = the AMQP port answers with a protocol header exchange."""
        deadline = time.monotonic() + START_TIMEOUT
        assert self._server is not None
        while time.monotonic() < deadline:
            if self._server.poll() is not None:
                raise BrokerStartError(
                    f"RabbitMQ exited with code {self._server.returncode} while starting; "
                    f"log:\n{self._tail()}"
                )
            if self._amqp_answers():
                return
            time.sleep(0.2)
        raise BrokerStartError(
            f"RabbitMQ did not accept AMQP connections on 127.0.0.1:{self.port} within "
            f"{START_TIMEOUT:.0f} s; log:\n{self._tail()}"
        )

    def _amqp_answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"AMQP\x00\x00\x09\x01")
                sock.settimeout(2)
                data = sock.recv(8)
                # A ready broker answers with connection.start (frame type 1).
                return bool(data) and data[0] == 1
        except OSError:
            return False

    def _tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        # Beam starts helpers (inet_gethost, the disk monitor) in sessions of their own:
        # note them first, and kill any that outlive the broker.
        helpers = _descendants(self._server.pid) if self._server is not None else set()
        for proc in (self._server, self._epmd):
            if proc is None:
                continue
            _stop_group(proc)
        for pid in helpers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._server = None
        self._epmd = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> RabbitMQBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _descendants(root: int) -> set[int]:
    """Every live process below `root`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name may hold spaces; fields after its closing parenthesis do not.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _stop_group(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM the process group, wait, then SIGKILL whatever is left of it."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        pgid = proc.pid
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; make sure no member of its group outlives it.
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        break
    try:
        proc.wait(1)
    except subprocess.TimeoutExpired:
        pass
