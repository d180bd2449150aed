"""The whole control plane on real local amphorae: API + worker + SQLite, for e2e tests.

    with worker_stack() as stack, stack.api.client() as http, http_backends("a", "b") as bes:
        lb = stack.create_lb(http)                          # waits for ACTIVE
        ...

Builds on `local_amphora_stack` (CAs, LocalComputeDriver with a private management /24,
REST amphora driver, heartbeat listener) and adds a migrated SQLite database, an API on a
free port whose wake-ups go to an in-process WorkerService (or to nothing, when the worker
runs as a separate process: `in_process_worker=False`), and helpers that wait for ACTIVE.
`config_file()` writes the same configuration as an octavia.conf for `octavia-worker`.
On exit the worker and API stop and every amphora is deleted, pass or fail.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx

from ostia.common import constants as c
from ostia.controller.worker.drivers import WorkerDrivers
from ostia.controller.worker.service import WorkerService
from ostia.db.session import Database, create_db_engine
from ostia.drivers.loader import load_driver
from tests.support.amphora_stack import LocalAmphoraStack, local_amphora_stack
from tests.support.live_api import LiveAPI, migrated_sqlite
from tests.support.objects import check

FAST_RECONCILER = {
    "lease_seconds": 6,
    "sweep_interval": 0.5,
    "max_attempts": 5,
    "retry_initial_delay": 0.2,
    "retry_max_delay": 2.0,
}


class WorkerStack:
    def __init__(
        self,
        amphorae: LocalAmphoraStack,
        in_process_worker: bool = True,
        cert_manager: str = "noop_cert_manager",
    ) -> None:
        self.amphorae = amphorae
        self.conf = amphorae.conf
        state = amphorae.state_dir
        self.db_path = os.path.join(state, "octavia.db")
        self.db_url = migrated_sqlite(self.db_path)
        self.overrides: dict[str, dict[str, Any]] = {
            "database": {"connection": self.db_url},
            "api_settings": {"auth_strategy": "noauth", "default_provider_driver": "amphora"},
            "reconciler": dict(FAST_RECONCILER),
            "health_manager": {
                "controller_ip_port_list": [amphorae.heartbeats.address],
                "heartbeat_key": amphorae.heartbeat_key,
                "heartbeat_interval": amphorae.heartbeat_interval,
            },
            "certificates": {
                "cert_manager": cert_manager,
                "storage_path": os.path.join(state, "tls-containers"),
            },
            "task_flow": {"max_workers": 4},
        }
        for group, values in self.overrides.items():
            for key, value in values.items():
                self.conf.set_override(key, value, group)
        self.db = Database(create_db_engine(self.db_url))
        self.drivers = WorkerDrivers(
            compute=amphorae.compute,
            network=amphorae.network,
            amphora=amphorae.agents,
            cert_generator=amphorae.cert_generator,
            cert_manager=load_driver("octavia.cert_manager", cert_manager, self.conf),
        )
        self.worker: WorkerService | None = None
        if in_process_worker:
            self.worker = WorkerService(self.conf, self.db, drivers=self.drivers, rpc=False)
        self.api = LiveAPI(self.conf, self.db, wake=self.worker.wake if self.worker is not None else None)

    def start(self) -> WorkerStack:
        if self.worker is not None:
            self.worker.start()
        self.api.start()
        return self

    def stop(self) -> None:
        self.api.stop()
        if self.worker is not None:
            self.worker.stop()
        self.db.dispose()

    # -- octavia.conf for a worker process -------------------------------------------------

    def config_file(self, extra: dict[str, dict[str, Any]] | None = None) -> str:
        """The stack's configuration as an octavia.conf (for `octavia-worker`)."""
        sections: dict[str, dict[str, Any]] = {}
        for (section, option), value in self.amphorae.certs.options().items():
            sections.setdefault(section, {})[option] = value
        for section, values in self.overrides.items():
            sections.setdefault(section, {}).update(values)
        local = {
            "ostia": {"state_dir": self.amphorae.state_dir},
            "local_compute": {"mgmt_cidr": self.conf.local_compute.mgmt_cidr},
            "haproxy_amphora": {
                **{option: getattr(self.conf.haproxy_amphora, option) for option in AGENT_RETRIES},
                "rest_request_read_timeout": self.conf.haproxy_amphora.rest_request_read_timeout,
            },
            "controller_worker": {
                "compute_driver": "compute_local_driver",
                "network_driver": "network_local_driver",
                "amphora_driver": "amphora_haproxy_rest_driver",
            },
        }
        for section, values in local.items():
            sections.setdefault(section, {}).update(values)
        for section, values in (extra or {}).items():
            sections.setdefault(section, {}).update(values)
        lines: list[str] = []
        for section, values in sections.items():
            lines.append(f"[{section}]")
            for option, value in values.items():
                if isinstance(value, list | tuple):
                    value = ",".join(str(v) for v in value)
                lines.append(f"{option} = {value}")
            lines.append("")
        path = os.path.join(self.amphorae.state_dir, "octavia.conf")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines))
        return path

    # -- API helpers --------------------------------------------------------------------------

    def wait_lb(
        self, http: httpx.Client, lb_id: str, status: str = c.ACTIVE, timeout: float = 30.0
    ) -> dict[str, Any]:
        """Poll the LB until `status` (DELETED: until it answers 404 or says DELETED)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            response = http.get(f"/v2/lbaas/loadbalancers/{lb_id}")
            if response.status_code == 404 and status == c.DELETED:
                return {"id": lb_id, "provisioning_status": c.DELETED}
            last = check(response, 200)["loadbalancer"]
            if last["provisioning_status"] == status:
                return last
            if last["provisioning_status"] == c.ERROR and status != c.ERROR:
                raise AssertionError(f"load balancer {lb_id} went to ERROR: {self.last_error(lb_id)}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"load balancer {lb_id} not {status} after {timeout} s: "
                    f"{last}; last error: {self.last_error(lb_id)}"
                )
            time.sleep(0.02)

    def last_error(self, lb_id: str) -> str | None:
        from ostia.db import models

        with self.db.transaction() as session:
            lb = session.get(models.LoadBalancer, lb_id)
            return lb.last_error if lb is not None else None

    def allocate_vip(self) -> str:
        return self.amphorae.allocate_vip()


# An agent takes about a second to answer on a busy 2-core machine: give booting amphorae
# 20 s (upstream waits up to ten minutes for a VM) while failing within seconds otherwise.
AGENT_RETRIES = {
    "connection_max_retries": 100,
    "connection_retry_interval": 0.2,
    "active_connection_max_retries": 10,
    "active_connection_retry_interval": 0.3,
}


@contextlib.contextmanager
def worker_stack(
    in_process_worker: bool = True,
    overrides: dict[str, dict[str, Any]] | None = None,
    cert_manager: str = "noop_cert_manager",
) -> Iterator[WorkerStack]:
    options: dict[str, dict[str, Any]] = {"haproxy_amphora": dict(AGENT_RETRIES)}
    for section, values in (overrides or {}).items():
        options.setdefault(section, {}).update(values)
    with local_amphora_stack(overrides=options) as amphorae:
        stack = WorkerStack(amphorae, in_process_worker, cert_manager)
        try:
            yield stack.start()
        finally:
            stack.stop()
