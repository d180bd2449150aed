"""Load balancer creation time with and without a spare amphora pool.

    .venv/bin/python -m bench.bench_lb_create [--count 20]
    .venv/bin/python -m bench.bench_lb_create --quick    # one create each way (a test runs it)

API + worker on SQLite with real local amphorae (tests/support/worker_stack.py). Each
sample is one single-call create of the full stack (an HTTP listener, its pool and two
members) from POST until the VIP answers and until the API says ACTIVE. First `--count`
creates with no pool (the worker builds the amphora), then `--count` with
`spare_amphora_pool_size = 2` and a housekeeper refilling it; before each of those the pool
is allowed to fill, as it would be between creates on a real deployment. The backends and
the client that probes the VIP run in a process of their own (bench/outside_client.py).
Everything started is removed on exit.
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx

from bench.bench_worker import lb_status, wait_for
from bench.outside_client import Backend, OutsideClient, outside_client
from ostia.common import constants as c
from ostia.controller.housekeeping.service import HousekeepingService
from ostia.controller.worker.spares import ready_spares
from tests.support.backends import free_port
from tests.support.health_stack import serving_lb_body, wait_until
from tests.support.objects import check
from tests.support.worker_stack import WorkerStack, worker_stack


def create_once(
    stack: WorkerStack, http: httpx.Client, outside: OutsideClient, members: list[Backend]
) -> tuple[float, float]:
    """(POST -> VIP answers, POST -> ACTIVE) in seconds."""
    vip = stack.allocate_vip()
    port = free_port(vip)
    outside.watch(vip, port)
    started = time.monotonic()
    lb = check(
        http.post("/v2/lbaas/loadbalancers", json={"loadbalancer": serving_lb_body(vip, port, members)}),
        201,
    )["loadbalancer"]
    serving = outside.seen() - started
    wait_for(lambda: lb_status(http, lb["id"]) == c.ACTIVE)
    return serving, time.monotonic() - started


def _ms(values: list[float]) -> str:
    median, low, high = (round(v * 1000) for v in (statistics.median(values), min(values), max(values)))
    return f"median {median} ms (min {low}, max {high})"


def _summary(label: str, samples: list[tuple[float, float]]) -> str:
    serving = _ms([s for s, _ in samples])
    active = _ms([a for _, a in samples])
    return f"{label} ({len(samples)} creates): POST -> VIP answers {serving}; POST -> ACTIVE {active}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="one create each way, to see that it works")
    args = parser.parse_args(argv)
    if args.quick:
        args.count = 1
    with worker_stack() as stack, stack.api.client() as http, outside_client("a", "b") as outside:
        members = outside.backends
        without = [create_once(stack, http, outside, members) for _ in range(args.count)]
        print(_summary("no spares", without), flush=True)
        stack.conf.set_override("spare_amphora_pool_size", 2, "house_keeping")
        stack.conf.set_override("spare_check_interval", 1, "house_keeping")
        housekeeper = HousekeepingService(stack.conf, stack.db, stack.drivers)
        housekeeper.start()
        try:
            with_spares = []
            for _ in range(args.count):
                wait_until(lambda: len(ready_spares(stack.db)) >= 2, 60, "a full pool")
                with_spares.append(create_once(stack, http, outside, members))
            print(_summary("spare pool of 2", with_spares), flush=True)
        finally:
            housekeeper.stop(timeout=30)
    ratio = statistics.median(a for _, a in without) / statistics.median(a for _, a in with_spares)
    print(f"spares make POST -> ACTIVE {ratio:.1f}x faster (median)")
    # For bench/run_all (issue 16 goal: the full stack serves within 250 ms with spares).
    print(
        "ratio: full stack with a spare pool -> traffic, median ms = "
        f"{statistics.median(s for s, _ in with_spares) * 1000:.0f} (goal <= 250)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
