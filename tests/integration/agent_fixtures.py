"""A real amphora agent for tests: certificates, configuration, process, backends, cleanup.

    with certificate_authority() as ca, local_agent(ca) as agent:
        agent.driver.get_info(agent.amp)

`local_agent` starts `python -m ostia.cmd.agent --config-file ...` on a random 127.x address
and port with a server certificate from LocalCertGenerator, and removes on exit every
process (the agent and any haproxy whose command line points into its directory) and the
directory itself, pass or fail. Test modules import the pytest fixtures at the bottom.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from oslo_config import cfg

from ostia.common.config import new_config
from ostia.drivers.amphora.base import AmphoraRef
from ostia.drivers.amphora.rest_driver import HaproxyRestAmphoraDriver
from ostia.drivers.certs.authority import CertificateFiles, create_certificates
from ostia.drivers.certs.local_generator import LocalCertGenerator

HEARTBEAT_KEY = "test-heartbeat-key"


# -- certificates ---------------------------------------------------------------------------


@dataclasses.dataclass
class CertificateAuthority:
    files: CertificateFiles

    def controller_conf(self, **haproxy_amphora: object) -> cfg.ConfigOpts:
        """Controller configuration pointing at these certificates (fast retries)."""
        conf = new_config()
        conf([], project="octavia", default_config_files=[])
        for (section, option), value in self.files.options().items():
            conf.set_override(option, value, group=section)
        conf.set_override("connection_max_retries", 3, group="haproxy_amphora")
        conf.set_override("connection_retry_interval", 0, group="haproxy_amphora")
        conf.set_override("rest_request_conn_timeout", 2, group="haproxy_amphora")
        conf.set_override("rest_request_read_timeout", 15, group="haproxy_amphora")
        for option, value in haproxy_amphora.items():
            conf.set_override(option, value, group="haproxy_amphora")
        return conf

    def server_pem(self, amphora_id: str) -> bytes:
        return LocalCertGenerator(self.controller_conf()).generate_amphora_cert(amphora_id).pem


def short_tempdir(prefix: str) -> str:
    """Under /tmp: haproxy's unix socket paths must stay under 108 bytes."""
    return tempfile.mkdtemp(prefix=prefix, dir="/tmp")


@contextlib.contextmanager
def certificate_authority() -> Iterator[CertificateAuthority]:
    directory = short_tempdir("ostia-ca-")
    try:
        yield CertificateAuthority(create_certificates(directory, "test-passphrase"))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# -- addresses ------------------------------------------------------------------------------


def free_port(host: str, kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def random_mgmt_ip() -> str:
    return f"127.{random.randint(64, 127)}.{random.randint(0, 255)}.{random.randint(2, 254)}"


def random_vip() -> str:
    return f"127.0.100.{random.randint(10, 250)}"


# -- processes ------------------------------------------------------------------------------


def processes_under(directory: str) -> list[int]:
    """Live (non-zombie) processes whose command line mentions `directory`."""
    found = []
    needle = directory.encode()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                cmdline = handle.read()
            with open(f"/proc/{name}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[-1].split()[0]
        except OSError:
            continue
        if needle in cmdline and state not in (b"Z", b"X") and int(name) != os.getpid():
            found.append(int(name))
    return found


def kill_processes_under(directory: str, timeout: float = 5.0) -> None:
    for pid in processes_under(directory):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while processes_under(directory) and time.monotonic() < deadline:
        time.sleep(0.02)


# -- the agent ------------------------------------------------------------------------------


class LocalAgent:
    def __init__(
        self, ca: CertificateAuthority, root: str, heartbeat_port: int | None, heartbeat_interval: int = 1
    ) -> None:
        self.ca = ca
        self.root = root
        self.amphora_id = str(uuid.uuid4())
        self.host = random_mgmt_ip()
        self.port = free_port(self.host)
        self.amp = AmphoraRef(self.amphora_id, self.host, self.port)
        self.base_path = os.path.join(root, "lb")
        self.base_cert_dir = os.path.join(root, "certs")
        self.server_pem_path = os.path.join(root, "server.pem")
        self.client_ca_path = os.path.join(root, "client_ca.pem")
        self.config_path = os.path.join(root, "amphora-agent.conf")
        self.log_path = os.path.join(root, "agent.log")
        self.heartbeat_port = heartbeat_port
        self.heartbeat_interval = heartbeat_interval
        self.process: subprocess.Popen[bytes] | None = None
        self.driver = HaproxyRestAmphoraDriver(ca.controller_conf())
        with open(self.server_pem_path, "wb") as handle:
            handle.write(ca.server_pem(self.amphora_id))
        shutil.copy(ca.files.client_ca_cert, self.client_ca_path)
        self.write_config()

    def config_text(
        self,
        heartbeat_key: str = HEARTBEAT_KEY,
        destinations: list[str] | None = None,
        heartbeat_interval: int | None = None,
    ) -> str:
        if destinations is None:
            destinations = [f"127.0.0.1:{self.heartbeat_port}"] if self.heartbeat_port else []
        return "\n".join(
            [
                "[DEFAULT]",
                "debug = true",
                "[haproxy_amphora]",
                f"base_path = {self.base_path}",
                f"base_cert_dir = {self.base_cert_dir}",
                f"bind_host = {self.host}",
                f"bind_port = {self.port}",
                "[health_manager]",
                f"controller_ip_port_list = {','.join(destinations)}",
                f"heartbeat_interval = {heartbeat_interval or self.heartbeat_interval}",
                f"heartbeat_key = {heartbeat_key}",
                "[amphora_agent]",
                f"agent_server_cert = {self.server_pem_path}",
                f"agent_server_ca = {self.client_ca_path}",
                f"amphora_id = {self.amphora_id}",
                "",
            ]
        )

    def write_config(self) -> None:
        with open(self.config_path, "w") as handle:
            handle.write(self.config_text())

    def start(self, timeout: float = 15.0) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ostia.cmd.agent", "--config-file", self.config_path],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self.driver.wait_for_agent(self.amp, timeout)
        except Exception:
            raise AssertionError(f"agent did not start:\n{self.log()}") from None

    def log(self) -> str:
        with open(self.log_path, errors="replace") as handle:
            return handle.read()[-5000:]

    def kill(self) -> None:
        """SIGKILL the agent only (its haproxy processes keep running)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None

    def cleanup(self) -> None:
        self.driver.close()
        with contextlib.suppress(Exception):
            self.kill()
        kill_processes_under(self.root)

    # haproxy helpers

    def stats_socket(self, lb_id: str) -> str:
        return os.path.join(self.base_path, f"{lb_id}.sock")

    def haproxy_processes(self, lb_id: str) -> list[int]:
        return processes_under(os.path.join(self.base_path, lb_id))


@contextlib.contextmanager
def local_agent(
    ca: CertificateAuthority, heartbeat_port: int | None = None, heartbeat_interval: int = 1
) -> Iterator[LocalAgent]:
    root = short_tempdir("ostia-amp-")
    agent = None
    try:
        agent = LocalAgent(ca, root, heartbeat_port, heartbeat_interval)
        agent.start()
        yield agent
    finally:
        if agent is not None:
            agent.cleanup()
        else:
            kill_processes_under(root)
        shutil.rmtree(root, ignore_errors=True)


# -- haproxy configurations written by hand ------------------------------------------------


@dataclasses.dataclass
class HttpLoadBalancer:
    lb_id: str
    listener_id: str
    pool_id: str
    vip: str
    port: int

    @classmethod
    def new(cls) -> HttpLoadBalancer:
        vip = random_vip()
        return cls(str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()), vip, free_port(vip))

    @property
    def url(self) -> str:
        return f"http://{self.vip}:{self.port}/"

    def config(
        self, base_path: str, members: dict[str, int], health_check: bool = False, extra_frontend: str = ""
    ) -> str:
        check = " check inter 200ms fall 1 rise 1" if health_check else ""
        lines = [
            f"# Configuration for loadbalancer {self.lb_id}",
            "global",
            f"    stats socket {base_path}/{self.lb_id}.sock mode 0666 level admin",
            "    hard-stop-after 10s",
            "    maxconn 1000",
            "defaults",
            "    mode http",
            "    retries 3",
            "    option redispatch",
            "    option idle-close-on-response",
            "    timeout connect 2s",
            "    timeout client 10s",
            "    timeout server 10s",
            f"frontend {self.listener_id}",
            f"    bind {self.vip}:{self.port}",
            f"    default_backend {self.pool_id}:{self.listener_id}",
        ]
        if extra_frontend:
            lines.append(f"    {extra_frontend}")
        lines += [
            f"backend {self.pool_id}:{self.listener_id}",
            "    balance roundrobin",
        ]
        if health_check:
            lines.append("    option httpchk GET /")
        lines += [f"    server {member_id} 127.0.0.1:{port}{check}" for member_id, port in members.items()]
        return "\n".join(lines) + "\n"


# -- backends -------------------------------------------------------------------------------


class _QuietHTTPServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # haproxy health checks and reloads reset connections; that is expected


class Backend:
    """A real HTTP server on 127.0.0.1 answering its name to every GET."""

    def __init__(self, name: str) -> None:
        self.name = name
        body = name.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = _QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.member_id = str(uuid.uuid4())
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.running = False
            self.server.shutdown()
            self.server.server_close()


@contextlib.contextmanager
def backends(*names: str) -> Iterator[list[Backend]]:
    started: list[Backend] = []
    try:
        for name in names:
            started.append(Backend(name))
        yield started
    finally:
        for backend in started:
            backend.stop()


def get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """One request on a fresh connection."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/", headers={"Connection": "close"})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


# -- heartbeats -----------------------------------------------------------------------------


class HeartbeatListener:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def receive(self, timeout: float = 5.0) -> bytes:
        self.sock.settimeout(timeout)
        data, _ = self.sock.recvfrom(65536)
        return data

    def drain(self) -> None:
        self.sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                self.sock.recvfrom(65536)
        self.sock.setblocking(True)

    def close(self) -> None:
        self.sock.close()


# -- pytest fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def agent_ca() -> Iterator[CertificateAuthority]:
    with certificate_authority() as ca:
        yield ca


@pytest.fixture(scope="module")
def heartbeat_listener() -> Iterator[HeartbeatListener]:
    listener = HeartbeatListener()
    try:
        yield listener
    finally:
        listener.close()


@pytest.fixture(scope="module")
def agent(agent_ca: CertificateAuthority, heartbeat_listener: HeartbeatListener) -> Iterator[LocalAgent]:
    """One agent per test module, sending heartbeats to `heartbeat_listener` every second."""
    with local_agent(agent_ca, heartbeat_listener.port) as running:
        yield running
