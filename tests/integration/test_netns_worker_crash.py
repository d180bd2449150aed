"""A worker killed with SIGKILL while it builds namespace amphorae (root): a fresh worker
adopts or rebuilds what the dead one left, the load balancer serves, and a cascade delete
(also cut short by a kill) leaves no namespace, veth or process behind."""

from __future__ import annotations

import os
import random
import time

from ostia.common import constants as c
from ostia.common import iproute
from tests.integration.test_worker_crash import (
    WorkerProcess,
    assert_no_orphans,
    crash_and_restart,
    wait_settled,
)
from tests.support.netns_stack import http_lb_body, leftovers, netns_worker_stack
from tests.support.objects import check, create_lb

SUBNET = "tenant-a-subnet"
RECONCILER = {"lease_seconds": 3, "sweep_interval": 0.3}


def _our_namespaces(stack) -> list[str]:  # type: ignore[no-untyped-def]
    """Amphora namespaces whose instance directory is this run's."""
    root = stack.netns.netns_compute.amphora_dir
    ids = set(os.listdir(root)) if os.path.isdir(root) else set()
    return [ns for ns in iproute.list_netns("ost-") if ns.split("-")[-1] in ids]


def test_worker_killed_mid_build_and_mid_delete_leaves_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    seed = int(os.environ.get("OSTIA_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    print(f"crash seed {seed}")
    # Amphora namespaces of anything else on this host (none, in a test run).
    before = set(iproute.list_netns("ost-amp-")) | set(iproute.list_netns("ost-vip-"))
    with netns_worker_stack(in_process_worker=False) as stack, stack.api.client() as http:
        client = stack.host("client", SUBNET, "198.18.64.100")
        stack.backend("b1", SUBNET, "198.18.64.101")
        stack.backend("b2", SUBNET, "198.18.64.102")
        config = stack.netns_config_file({"reconciler": RECONCILER})
        log_path = str(tmp_path / "worker.log")
        worker = WorkerProcess(config, log_path)
        try:
            lb = create_lb(http, **http_lb_body(SUBNET, "198.18.64.10", ["198.18.64.101", "198.18.64.102"]))
            delay = rng.uniform(0.1, 1.2)
            worker = crash_and_restart(worker, delay, config, log_path)
            took = wait_settled(stack, lb["id"], c.ACTIVE, time.monotonic())
            print(f"create killed after {delay:.2f} s, settled {took:.2f} s after restart")
            assert {client.get("198.18.64.10", 80)[1] for _ in range(4)} == {"b1", "b2"}
            assert_no_orphans(stack, {lb["id"]: 1})
            assert len(_our_namespaces(stack)) == 2  # the amphora and its VIP namespace
            compute_ids = [i.compute_id for i in stack.drivers.compute.list_instances()]

            check(http.delete(f"/v2/lbaas/loadbalancers/{lb['id']}", params={"cascade": "true"}), 204)
            worker = crash_and_restart(worker, rng.uniform(0.0, 0.5), config, log_path)
            wait_settled(stack, lb["id"], c.DELETED, time.monotonic())
            assert_no_orphans(stack, {})
            assert _our_namespaces(stack) == []
            # Not even an amphora whose build the kill cut short before it was recorded.
            after = set(iproute.list_netns("ost-amp-")) | set(iproute.list_netns("ost-vip-"))
            assert after == before
            assert (
                leftovers(
                    stack.netns.tag, compute_ids, stack.netns.mgmt_bridge, stack.netns.netns_network.bridges()
                )
                == []
            )
        except BaseException:
            print(worker.log()[-6000:])
            raise
        finally:
            worker.stop()
