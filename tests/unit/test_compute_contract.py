"""What every compute driver does, checked on each one (local drivers with a stand-in agent)."""

from __future__ import annotations

import os
import random
import sys
import threading
import uuid
from collections.abc import Iterator

import pytest

from ostia.drivers.compute.base import AmphoraSpec, ComputeDriver
from ostia.drivers.compute.noop_driver import NoopComputeDriver
from ostia.drivers.loader import load_driver
from tests.support.amphora import amphora_test_config, local_compute, short_tempdir

# Stands in for amphora-agent: lives until signalled, like the real one, without its start-up.
SLEEPING_AGENT = [sys.executable, "-c", "import time; time.sleep(120)"]

DRIVERS = ["compute_noop_driver", "compute_local_driver", "compute_netns_driver"]


def spec(amphora_id: str = "5b2f6d0e-2a39-4e5f-8c0b-8f1d2f9b6c11") -> AmphoraSpec:
    return AmphoraSpec(amphora_id=amphora_id, server_pem=b"server pem\n", client_ca_pem=b"client ca\n")


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> Iterator[ComputeDriver]:
    with short_tempdir() as state_dir:
        conf = amphora_test_config(state_dir)
        if request.param == "compute_noop_driver":
            yield NoopComputeDriver(conf)
        elif request.param == "compute_netns_driver":
            yield from _netns_driver(state_dir)
        else:
            with local_compute(conf, agent_command=SLEEPING_AGENT) as local:
                yield local


def _netns_driver(state_dir: str) -> Iterator[ComputeDriver]:
    """The namespace driver on a bridge of its own (root only); everything removed after."""
    from ostia.drivers.compute.netns_driver import NetnsComputeDriver
    from tests.support.netns_stack import require_namespaces

    require_namespaces()
    conf = amphora_test_config(
        state_dir,
        {
            "netns_compute": {
                "mgmt_bridge": f"ost-tm{uuid.uuid4().hex[:6]}",
                "mgmt_cidr": f"198.19.{random.randint(0, 255)}.0/24",
                "amphora_dir": os.path.join(state_dir, "na"),
            }
        },
    )
    netns = NetnsComputeDriver(conf, agent_command=SLEEPING_AGENT)
    try:
        yield netns
    finally:
        for instance in netns.list_instances():
            netns.delete(instance.compute_id)
        netns.remove_mgmt_network()


@pytest.mark.parametrize("name", DRIVERS)
def test_driver_loads_by_its_entry_point_name(name: str) -> None:
    with short_tempdir() as state_dir:
        driver = load_driver("octavia.compute.drivers", name, amphora_test_config(state_dir))
    assert isinstance(driver, ComputeDriver)


def test_build_returns_an_active_instance_of_the_amphora(driver: ComputeDriver) -> None:
    instance = driver.build(spec())
    assert instance.amphora_id == spec().amphora_id
    assert instance.compute_id
    assert instance.lb_network_ip
    assert instance.status == "ACTIVE"


def test_get_finds_the_built_instance(driver: ComputeDriver) -> None:
    built = driver.build(spec())
    assert driver.get(built.compute_id) == built


def test_get_of_an_unknown_instance_is_none(driver: ComputeDriver) -> None:
    assert driver.get("0123456789ab") is None
    assert driver.get("../../etc") is None


def test_instances_get_distinct_ids_and_addresses(driver: ComputeDriver) -> None:
    first = driver.build(spec("amp-1"))
    second = driver.build(spec("amp-2"))
    assert first.compute_id != second.compute_id
    assert first.lb_network_ip != second.lb_network_ip


def test_concurrent_builds_never_share_an_address(driver: ComputeDriver) -> None:
    results = []

    def build(n: int) -> None:
        results.append(driver.build(spec(f"amp-{n}")))

    threads = [threading.Thread(target=build, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({instance.lb_network_ip for instance in results}) == 6


def test_list_instances_lists_every_instance(driver: ComputeDriver) -> None:
    built = {driver.build(spec(f"amp-{n}")).compute_id for n in range(3)}
    assert {instance.compute_id for instance in driver.list_instances()} == built


def test_delete_removes_the_instance_and_is_idempotent(driver: ComputeDriver) -> None:
    kept = driver.build(spec("kept"))
    gone = driver.build(spec("gone"))
    driver.delete(gone.compute_id)
    assert driver.get(gone.compute_id) is None
    assert [i.compute_id for i in driver.list_instances()] == [kept.compute_id]
    driver.delete(gone.compute_id)
    driver.delete("0123456789ab")


def test_an_address_is_free_again_once_its_instance_is_deleted(driver: ComputeDriver) -> None:
    first = driver.build(spec("first"))
    driver.delete(first.compute_id)
    second = driver.build(spec("second"))
    assert second.compute_id != first.compute_id
