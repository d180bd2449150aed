"""Failover outage of a SINGLE load balancer whose amphora dies, median over N runs.

    .venv/bin/python -m bench.bench_failover [--runs 10] [--timeout 3]

One API + worker + health manager on SQLite with real local amphorae (the stack of
tests/support/health_stack.py), one load balancer with two HTTP backends. Each run kills
the serving amphora's agent and haproxy with SIGKILL and measures, with a request every
20 ms against the VIP, the time from the kill until the VIP serves again for good; then
waits for the load balancer to be ACTIVE and ONLINE before the next run. Heartbeats every
second, stale after `--timeout` seconds, checked every second: the outage is that
timeout (detection) plus the rebuild. Everything started is removed on exit.
"""

from __future__ import annotations

import argparse
import statistics
import time

from tests.support.backends import free_port, http_backends
from tests.support.health_stack import (
    RequestLoop,
    create_lb,
    health_manager,
    kill_amphora,
    serving_lb_body,
    status_tree,
    wait_until,
)
from tests.support.worker_stack import worker_stack


def _wait_serving(loop: RequestLoop, since: float) -> float:
    return float(wait_until(lambda: loop.serving_since(since), 60, "the VIP serving again"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--timeout", type=int, default=3, help="heartbeat_timeout (s)")
    args = parser.parse_args(argv)
    outages: list[float] = []
    with (
        worker_stack() as stack,
        health_manager(stack, heartbeat_timeout=args.timeout),
        stack.api.client() as http,
        http_backends("a", "b") as backends,
    ):
        vip = stack.allocate_vip()
        port = free_port(vip)
        lb = create_lb(stack, http, serving_lb_body(vip, port, backends))
        for run in range(1, args.runs + 1):
            wait_until(lambda: status_tree(http, lb["id"])["operating_status"] == "ONLINE", 30, "LB ONLINE")
            (instance,) = stack.amphorae.compute.list_instances()
            killed_at = time.monotonic()
            kill_amphora(stack, instance.compute_id)
            with RequestLoop(vip, port) as loop:
                back_at = _wait_serving(loop, killed_at)
            outages.append(back_at - killed_at)
            stack.wait_lb(http, lb["id"])
            print(f"run {run}: outage {outages[-1]:.2f} s", flush=True)
    print(
        f"heartbeat interval 1 s, heartbeat_timeout {args.timeout} s, "
        f"health_check_interval 1 s; {len(outages)} runs: median "
        f"{statistics.median(outages):.2f} s, min {min(outages):.2f} s, "
        f"max {max(outages):.2f} s; median minus timeout "
        f"{statistics.median(outages) - args.timeout:.2f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
