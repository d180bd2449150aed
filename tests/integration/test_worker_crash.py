"""Crash safety: `octavia-worker` killed with SIGKILL at seeded-random moments.

Each round kills the worker process during a create (full graph in one call), a member
add and a cascade delete, starts a fresh worker, and checks that the load balancer gets
where it was going within one lease expiry plus a sweep (plus a bounded margin for an
amphora to boot), serves traffic, and that no amphora instance or process is left without
a live amphora row (nor a live row without its instance).

The seed is printed; rerun one with OSTIA_CRASH_SEED=<seed>.
"""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from ostia.common import constants as c
from ostia.db import models
from tests.support.backends import fetch, free_port, http_backends
from tests.support.objects import check
from tests.support.worker_stack import WorkerStack, worker_stack

LEASE_SECONDS = 3
SWEEP_INTERVAL = 0.3
# Lease expiry + one sweep, plus room for a replacement amphora to boot on a busy machine.
RECOVERY_BOUND = LEASE_SECONDS + SWEEP_INTERVAL + 12.0
ROUNDS = 2


class WorkerProcess:
    """`octavia-worker` as a child process with its log in a file."""

    def __init__(self, config_file: str, log_path: str) -> None:
        self.log_path = log_path
        command = os.path.join(os.path.dirname(sys.executable), "octavia-worker")
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [command, "--config-file", config_file],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._wait_started()

    def _wait_started(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"octavia-worker exited: {self.log()}")
            if "started with" in self.log():
                return
            time.sleep(0.05)
        raise AssertionError(f"octavia-worker did not start: {self.log()}")

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as a crash."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def lb_status(stack: WorkerStack, lb_id: str) -> str:
    with stack.db.transaction() as session:
        lb = session.get(models.LoadBalancer, lb_id)
        assert lb is not None
        return lb.provisioning_status


def wait_settled(stack: WorkerStack, lb_id: str, want: str, since: float) -> float:
    """Seconds from `since` until the LB is `want`; fails past the recovery bound."""
    while True:
        current = lb_status(stack, lb_id)
        if current == want:
            return time.monotonic() - since
        assert current != c.ERROR, f"{lb_id} went to ERROR: {stack.last_error(lb_id)}"
        if time.monotonic() - since > RECOVERY_BOUND:
            raise AssertionError(
                f"{lb_id} still {current} {RECOVERY_BOUND} s after the "
                f"restart; last error: {stack.last_error(lb_id)}"
            )
        time.sleep(0.05)


def agent_processes(stack: WorkerStack) -> list[int]:
    """Processes (agents, haproxy) whose command line lives under the stack's amphorae."""
    root = stack.drivers.compute.amphora_dir  # type: ignore[attr-defined]
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat") as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if root in cmdline and state != "Z":
            found.append(int(entry))
    return found


def assert_no_orphans(stack: WorkerStack, expected_live: dict[str, int]) -> None:
    """Live amphora rows and running instances match one to one, per load balancer."""
    with stack.db.transaction() as session:
        rows = [r for r in session.query(models.Amphora) if r.status != c.DELETED]
        by_lb = collections.Counter(r.load_balancer_id for r in rows)
        row_ids = {r.id for r in rows}
    instances = stack.drivers.compute.list_instances()
    assert dict(by_lb) == expected_live, f"live amphora rows {dict(by_lb)}"
    assert {i.amphora_id for i in instances} == row_ids, (instances, row_ids)
    assert all(i.status == "ACTIVE" for i in instances), instances
    if not instances:
        deadline = time.monotonic() + 5
        while agent_processes(stack) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert agent_processes(stack) == []


def graph_body(vip: str, port: int, backends: list[Any]) -> dict[str, Any]:
    return {
        "loadbalancer": {
            "vip_subnet_id": "private-subnet",
            "vip_address": vip,
            "listeners": [
                {
                    "protocol": "HTTP",
                    "protocol_port": port,
                    "default_pool": {
                        "name": "pool",
                        "protocol": "HTTP",
                        "lb_algorithm": "ROUND_ROBIN",
                        "members": [{"address": b.address, "protocol_port": b.port} for b in backends[:2]],
                    },
                }
            ],
        }
    }


@pytest.mark.slow
def test_killed_workers_never_strand_or_leak_amphorae(tmp_path) -> None:  # type: ignore[no-untyped-def]
    seed = int(os.environ.get("OSTIA_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    print(f"crash seed {seed} (OSTIA_CRASH_SEED={seed} to repeat)")
    reconciler = {"lease_seconds": LEASE_SECONDS, "sweep_interval": SWEEP_INTERVAL}
    with (
        worker_stack(in_process_worker=False) as stack,
        stack.api.client() as http,
        http_backends("a", "b", "c") as backends,
    ):
        config = stack.config_file({"reconciler": reconciler})
        log_path = str(tmp_path / "worker.log")
        worker = WorkerProcess(config, log_path)
        recoveries: list[tuple[str, float, float]] = []
        try:
            for _ in range(ROUNDS):
                vip = stack.allocate_vip()
                port = free_port(vip)

                # 1. create, killed somewhere between the POST and a little after ACTIVE
                lb = check(http.post("/v2/lbaas/loadbalancers", json=graph_body(vip, port, backends)), 201)[
                    "loadbalancer"
                ]
                delay = rng.uniform(0.0, 1.5)
                worker = crash_and_restart(worker, delay, config, log_path)
                took = wait_settled(stack, lb["id"], c.ACTIVE, time.monotonic())
                recoveries.append(("create", delay, took))
                assert set(serve(vip, port)) == {"a", "b"}
                assert_no_orphans(stack, {lb["id"]: 1})

                # 2. member add
                pool_id = lb["pools"][0]["id"]
                check(
                    http.post(
                        f"/v2/lbaas/pools/{pool_id}/members",
                        json={"member": {"address": backends[2].address, "protocol_port": backends[2].port}},
                    ),
                    201,
                )
                delay = rng.uniform(0.0, 0.6)
                worker = crash_and_restart(worker, delay, config, log_path)
                took = wait_settled(stack, lb["id"], c.ACTIVE, time.monotonic())
                recoveries.append(("member", delay, took))
                assert set(serve(vip, port)) == {"a", "b", "c"}
                assert_no_orphans(stack, {lb["id"]: 1})

                # 3. cascade delete
                check(http.delete(f"/v2/lbaas/loadbalancers/{lb['id']}", params={"cascade": "true"}), 204)
                delay = rng.uniform(0.0, 0.6)
                worker = crash_and_restart(worker, delay, config, log_path)
                took = wait_settled(stack, lb["id"], c.DELETED, time.monotonic())
                recoveries.append(("delete", delay, took))
                assert_no_orphans(stack, {})
        except BaseException:
            print(worker.log()[-6000:])
            raise
        finally:
            worker.stop()
        if os.environ.get("OSTIA_CRASH_LOG"):
            print(worker.log())
        for what, delay, took in recoveries:
            print(f"{what:7s} killed after {delay:.2f} s, settled {took:.2f} s after restart")


def crash_and_restart(worker: WorkerProcess, delay: float, config: str, log_path: str) -> WorkerProcess:
    time.sleep(delay)
    worker.kill()
    return WorkerProcess(config, log_path)


def serve(vip: str, port: int, count: int = 6) -> collections.Counter[str]:
    return collections.Counter(fetch(vip, port)[1] for _ in range(count))
