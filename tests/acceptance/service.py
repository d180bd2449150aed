"""`ostia up` as a real process for the acceptance suite, and the way back down.

`running_ostia()` starts `ostia up` on a free port with a fresh short state directory and
an extra config file that gives it, so that concurrent runs on one machine never collide:
a private health-manager port, a random management range for amphora agents, and random
loopback CIDRs for the two VIP subnets (still named `private-subnet` and `public-subnet`,
so the operator guide's commands run word for word). On exit it stops the process group
and runs `ostia down --purge --state-dir` so that no amphora outlives the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.support.amphora import random_mgmt_cidr, short_tempdir
from tests.support.live_api import free_port

BIN = Path(sys.executable).parent
START_TIMEOUT = 60.0
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class OstiaService:
    url: str
    state_dir: Path
    private_cidr: str
    public_cidr: str
    process: subprocess.Popen[str]

    def get(self, path: str, **params: Any) -> Any:
        """GET on the API; the decoded body of a 200."""
        response = httpx.get(self.url + path, params=params, timeout=10)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    def log(self) -> str:
        path = self.state_dir / "ostia.log"
        return path.read_text(errors="replace") if path.exists() else ""


def wait_until(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2) -> T:
    """The first truthy value of `probe()`; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            value = probe()
        except (httpx.HTTPError, OSError, AssertionError) as err:
            value, last = None, err
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout} s (last error: {last!r})")


def random_vip_cidrs() -> tuple[str, str]:
    """Two /24s in 127.128.0.0/10 (amphora management ranges in tests use 127.64/10)."""
    second, third = random.randint(128, 191), random.randint(0, 254)
    return f"127.{second}.{third}.0/24", f"127.{second}.{third + 1}.0/24"


def _extra_config(path: Path, private_cidr: str, public_cidr: str) -> None:
    health_port = free_port()
    path.write_text(
        "[health_manager]\n"
        f"bind_port = {health_port}\n"
        f"controller_ip_port_list = 127.0.0.1:{health_port}\n"
        "heartbeat_interval = 1\n"
        "[local_network]\n"
        f"subnets = private-subnet:{private_cidr},public-subnet:{public_cidr}\n"
        "[local_compute]\n"
        f"mgmt_cidr = {random_mgmt_cidr()}\n",
        encoding="utf-8",
    )


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@contextlib.contextmanager
def running_ostia() -> Iterator[OstiaService]:
    with short_tempdir("ostia-acc-") as root:
        state = Path(root) / "state"
        extra = Path(root) / "extra.conf"
        private_cidr, public_cidr = random_vip_cidrs()
        _extra_config(extra, private_cidr, public_cidr)
        port = free_port()
        state.mkdir()
        with open(state / "ostia.log", "w") as log:
            process = subprocess.Popen(
                [
                    str(BIN / "ostia"),
                    "up",
                    "--port",
                    str(port),
                    "--state-dir",
                    str(state),
                    "--config-file",
                    str(extra),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        service = OstiaService(f"http://127.0.0.1:{port}", state, private_cidr, public_cidr, process)
        try:

            def answers() -> bool:
                if process.poll() is not None:
                    raise RuntimeError(f"ostia up exited:\n{service.log()}")
                return httpx.get(service.url + "/", timeout=1).status_code == 200

            wait_until(answers, START_TIMEOUT, "ostia up answering")
            yield service
        finally:
            _stop(process)
            subprocess.run(
                [str(BIN / "ostia"), "down", "--purge", "--state-dir", str(state)],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
