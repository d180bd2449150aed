"""Load balancer creation time with and without a spare amphora pool.

    .venv/bin/python -m bench.bench_lb_create [--count 5]

API + worker on SQLite with real local amphorae (tests/support/worker_stack.py). Each
sample is one single-call create (listener, pool, one member) from POST until the load
balancer is ACTIVE and until its VIP answers. First `--count` creates with no pool
(the worker builds the amphora), then `--count` with `spare_amphora_pool_size = 2` and a
housekeeper refilling it; before each of those the pool is allowed to fill, as it would
be between creates on a real deployment. Everything started is removed on exit.
"""

from __future__ import annotations

import argparse
import statistics
import time

from ostia.controller.housekeeping.service import HousekeepingService
from ostia.controller.worker.spares import ready_spares
from tests.support.backends import fetch, free_port, http_backends
from tests.support.health_stack import serving_lb_body, wait_until
from tests.support.objects import check
from tests.support.worker_stack import WorkerStack, worker_stack


def create_once(stack: WorkerStack, http: object, backends: list) -> tuple[float, float]:
    vip = stack.allocate_vip()
    port = free_port(vip)
    started = time.monotonic()
    lb = check(
        http.post(
            "/v2/lbaas/loadbalancers",  # type: ignore[attr-defined]
            json={"loadbalancer": serving_lb_body(vip, port, backends)},
        ),
        201,
    )["loadbalancer"]
    stack.wait_lb(http, lb["id"])  # type: ignore[arg-type]
    active = time.monotonic() - started

    def answers() -> bool:
        try:
            return fetch(vip, port, timeout=1)[0] == 200
        except OSError:
            return False

    wait_until(answers, 10, "the VIP answering", interval=0.005)
    return active, time.monotonic() - started


def _summary(label: str, samples: list[tuple[float, float]]) -> str:
    active = [a for a, _ in samples]
    serving = [s for _, s in samples]
    return (
        f"{label}: POST -> ACTIVE median {statistics.median(active):.2f} s "
        f"(min {min(active):.2f}, max {max(active):.2f}); POST -> VIP answers median "
        f"{statistics.median(serving):.2f} s (min {min(serving):.2f}, "
        f"max {max(serving):.2f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=5)
    args = parser.parse_args(argv)
    with worker_stack() as stack, stack.api.client() as http, http_backends("a") as backends:
        without = [create_once(stack, http, backends) for _ in range(args.count)]
        print(_summary("no spares", without), flush=True)
        stack.conf.set_override("spare_amphora_pool_size", 2, "house_keeping")
        stack.conf.set_override("spare_check_interval", 1, "house_keeping")
        housekeeper = HousekeepingService(stack.conf, stack.db, stack.drivers)
        housekeeper.start()
        try:
            with_spares = []
            for _ in range(args.count):
                wait_until(lambda: len(ready_spares(stack.db)) >= 2, 60, "a full pool")
                with_spares.append(create_once(stack, http, backends))
            print(_summary("spare pool of 2", with_spares), flush=True)
        finally:
            housekeeper.stop(timeout=30)
    ratio = statistics.median(a for a, _ in without) / statistics.median(a for a, _ in with_spares)
    print(f"spares make POST -> ACTIVE {ratio:.1f}x faster (median)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
