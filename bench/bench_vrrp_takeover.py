"""VRRP takeover gap of an ACTIVE_STANDBY load balancer on namespace amphorae (root).

    .venv/bin/python -m bench.bench_vrrp_takeover [--runs 10] [--advert 0.1]

The stack of tests/support/netns_stack.py (API, worker, health manager, namespace drivers),
a client and two members in namespaces on a tenant bridge, one ACTIVE_STANDBY load
balancer. Each run kills -9 everything the amphora holding the VIP runs, measures with a
request every 20 ms from the client namespace the longest interruption (takeover, and any
second one while the health manager has the dead amphora rebuilt), and waits until the pair
is whole again. Also prints the memory of each amphora. Everything is removed on exit.
"""

from __future__ import annotations

import argparse
import statistics
import time

from ostia.common import constants as c
from tests.support.health_stack import wait_until
from tests.support.netns_stack import (
    RequestLoop,
    amphora_memory_kib,
    kill_amphora,
    netns_health_manager,
    netns_worker_stack,
    serving_pair,
    vip_holders,
)

SUBNET = "tenant-a-subnet"
VIP = "198.18.64.10"


def _holder(stack) -> str | None:  # type: ignore[no-untyped-def]
    holders = vip_holders(stack, VIP)
    return holders[0].compute_id if holders else None


def _replaced(stack, dead: str) -> bool:  # type: ignore[no-untyped-def]
    ids = {i.compute_id for i in stack.amphorae.compute.list_instances()}
    return len(ids) == 2 and dead not in ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--advert", type=float, default=0.1, help="vrrp_advert_int (s)")
    args = parser.parse_args(argv)
    overrides = {
        "keepalived_vrrp": {"vrrp_advert_int": args.advert, "vrrp_check_interval": 1},
        "controller_worker": {"loadbalancer_topology": c.TOPOLOGY_ACTIVE_STANDBY},
    }
    gaps: list[float] = []
    with netns_worker_stack(overrides) as stack, netns_health_manager(stack), stack.api.client() as http:
        client, lb, seconds_to_active = serving_pair(stack, http, SUBNET, VIP)
        print(f"ACTIVE_STANDBY load balancer ACTIVE in {seconds_to_active:.2f} s")
        for instance in stack.amphorae.compute.list_instances():
            print(
                f"amphora {instance.compute_id}: "
                f"{amphora_memory_kib(instance.compute_id) / 1024:.1f} MiB (PSS)"
            )
        for run in range(1, args.runs + 1):
            holder = wait_until(lambda: _holder(stack), 20, "a VIP holder")
            time.sleep(1.0)
            with RequestLoop(client.namespace, VIP, 80, duration=90) as loop:
                time.sleep(0.5)
                killed_at = time.monotonic()
                kill_amphora(holder)
                wait_until(lambda dead=holder: _replaced(stack, dead), 60, "the dead amphora replaced")
                stack.wait_lb(http, lb["id"], timeout=60)
                rebuilt = time.monotonic() - killed_at
                time.sleep(1.0)
            gaps.append(loop.longest_gap(killed_at))
            print(f"run {run}: gap {gaps[-1]:.3f} s, pair whole again after {rebuilt:.1f} s", flush=True)
    print(
        f"vrrp_advert_int {args.advert} s; {len(gaps)} runs: median "
        f"{statistics.median(gaps):.3f} s, worst {max(gaps):.3f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
