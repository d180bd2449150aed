"""Control plane alone: POST LB -> ACTIVE with the amphora provider and noop drivers.

    .venv/bin/python -m bench.bench_control_plane [--count 30] [--quick]

The API (uvicorn on a free port) and an in-process worker woken by a call, as `ostia up`
runs them, on SQLite, with the `amphora` provider and the noop compute and amphora drivers
(tests/support/worker_fakes.py): what is timed is the API, the database, the wake-up and
the reconciler's steps, with no amphora process or haproxy behind them. Each sample is one
POST followed by GETs every 2 ms until the load balancer is ACTIVE; "empty" is a bare load
balancer, "graph" a single-call create of an LB with an HTTP listener, a pool and two
members. Upstream Octavia with noop compute, network and amphora drivers took 360-500 ms
(median) on this kind of machine (shared reference notes); the goal is a median <= 100 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from typing import Any

import httpx

from ostia.common import constants as c
from ostia.controller.worker.service import WorkerService
from tests.support.live_api import LiveAPI
from tests.support.objects import check
from tests.support.worker_fakes import worker_env

UPSTREAM_MEDIAN_MS = 360.0  # the low end of upstream's 360-500 ms


def graph_body() -> dict[str, Any]:
    pool = {
        "name": "pool",
        "protocol": "HTTP",
        "lb_algorithm": "ROUND_ROBIN",
        "members": [
            {"address": "192.0.2.10", "protocol_port": 80},
            {"address": "192.0.2.11", "protocol_port": 80},
        ],
    }
    return {
        "vip_subnet_id": "private-subnet",
        "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": pool}],
    }


def post_to_active(http: httpx.Client, body: dict[str, Any], timeout: float = 30) -> float:
    started = time.perf_counter()
    lb = check(http.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body}), 201)["loadbalancer"]
    deadline = time.monotonic() + timeout
    while True:
        status = check(http.get(f"/v2/lbaas/loadbalancers/{lb['id']}"), 200)["loadbalancer"][
            "provisioning_status"
        ]
        if status == c.ACTIVE:
            return (time.perf_counter() - started) * 1000
        if status == c.ERROR or time.monotonic() > deadline:
            raise RuntimeError(f"load balancer {lb['id']} is {status}")
        time.sleep(0.002)


def summary(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return (
        f"| {name} | {len(samples)} | {statistics.median(samples):.0f} | {p95:.0f} | "
        f"{min(samples):.0f} | {max(samples):.0f} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=30, help="samples of each kind")
    parser.add_argument("--quick", action="store_true", help="3 samples of each kind")
    args = parser.parse_args(argv)
    count = 3 if args.quick else args.count
    with (
        tempfile.TemporaryDirectory(prefix="ostia-bench-cp-") as tmp,
        worker_env(
            f"sqlite:///{tmp}/octavia.db", {"api_settings": {"default_provider_driver": "amphora"}}
        ) as env,
    ):
        worker = WorkerService(env.conf, env.db, drivers=env.drivers, rpc=False)
        worker.start()
        api = LiveAPI(env.conf, env.db, wake=worker.wake).start()
        try:
            with httpx.Client(base_url=api.url, timeout=30) as http:
                post_to_active(http, {"vip_subnet_id": "private-subnet"})  # warm-up
                empty = [post_to_active(http, {"vip_subnet_id": "private-subnet"}) for _ in range(count)]
                graph = [post_to_active(http, graph_body()) for _ in range(count)]
        finally:
            api.stop()
            worker.stop()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print("| POST -> ACTIVE, control plane alone (ms) | samples | median | p95 | min | max |")
    print("|---|---|---|---|---|---|")
    print(summary("LB (empty)", empty))
    print(summary("LB + listener + pool + 2 members (one call)", graph))
    print(
        f"ratio: control plane POST->ACTIVE, empty LB, vs upstream's {UPSTREAM_MEDIAN_MS:.0f} "
        f"ms median = {UPSTREAM_MEDIAN_MS / statistics.median(empty):.1f} "
        f"(goal median <= 100 ms)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
