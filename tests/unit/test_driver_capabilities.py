"""Driver capabilities are declared on the base classes (off by default), never probed."""

from __future__ import annotations

import pathlib
import re
from collections.abc import Iterator

import pytest

from ostia.common import constants as c
from ostia.controller.worker.reconciler import Outcome
from ostia.drivers.compute.base import ComputeDriver
from ostia.drivers.compute.local_driver import LocalComputeDriver
from ostia.drivers.compute.noop_driver import NoopComputeDriver
from ostia.drivers.network.base import NetworkDriver
from ostia.drivers.network.local_driver import LocalNetworkDriver
from ostia.drivers.network.noop_driver import NoopNetworkDriver
from tests.support.worker_fakes import WorkerEnv, worker_env

WORKER = pathlib.Path(__file__).resolve().parents[2] / "ostia" / "controller" / "worker"


@pytest.fixture
def env(db_url: str) -> Iterator[WorkerEnv]:
    with worker_env(db_url) as environment:
        yield environment


def test_capabilities_default_to_not_supported() -> None:
    assert ComputeDriver.supports_active_standby is False
    assert NetworkDriver.plugs_amphora_ports is False
    for compute in (NoopComputeDriver, LocalComputeDriver):
        assert compute.supports_active_standby is False
    for network in (NoopNetworkDriver, LocalNetworkDriver):
        assert network.plugs_amphora_ports is False


def test_the_worker_never_probes_drivers_with_getattr() -> None:
    offenders = []
    for path in WORKER.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"getattr\([^,]*drivers", line):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert offenders == []


def test_active_standby_names_the_missing_network_capability(env: WorkerEnv) -> None:
    # A compute driver that could run keepalived is not enough: the VIP must be able to move.
    env.compute.supports_active_standby = True  # type: ignore[misc]
    lb_id = env.store_lb(topology=c.TOPOLOGY_ACTIVE_STANDBY)
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.FAILED
    lb = env.lb(lb_id)
    assert lb.provisioning_status == c.ERROR
    assert "plugs_amphora_ports" in lb.last_error
    assert "network_netns_driver" in lb.last_error
    assert env.compute.calls["build"] == 0


def test_active_standby_names_the_missing_compute_capability(env: WorkerEnv) -> None:
    lb_id = env.store_lb(topology=c.TOPOLOGY_ACTIVE_STANDBY)
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.FAILED
    last_error = env.lb(lb_id).last_error
    assert "supports_active_standby" in last_error and "compute_netns_driver" in last_error
