"""How fast the worker turns API calls into traffic, with real local amphorae.

    .venv/bin/python -m bench.bench_worker              # 10 rounds (~1 min)
    .venv/bin/python -m bench.bench_worker --rounds 30
    .venv/bin/python -m bench.bench_worker --quick      # one round (a test runs it)
    .venv/bin/python -m bench.bench_worker --trace      # + when each step of the member add ends

The control plane runs as `ostia up` runs it: API, in-process worker (wake-ups are calls),
SQLite, local amphorae (an amphora-agent process each) and the REST driver over mutual TLS.
Each round measures, from the moment the POST is sent:

* `LB (empty) -> ACTIVE`: a load balancer without listeners (an amphora boots);
* `LB (full graph) -> ACTIVE` and `-> traffic`: listener, pool and two members in one call,
  until the API says ACTIVE / until a request to the VIP is answered by a member;
* `member -> ACTIVE` and `-> traffic`: a third member added, until ACTIVE / until the new
  member answers a request through the VIP;
* `delete (cascade) -> DELETED`.

The backends and the client that probes the VIP run in a process of their own
(bench/outside_client.py), as they would on a real deployment: in the control plane's
process they would wait for its interpreter lock while the worker settles statuses. The
API is asked for ACTIVE once the traffic has been seen, every 5 ms.

Prints median and p95 of each and a Markdown table for docs/performance.md. With --trace,
also a table of when each step of the member add ended (bench/worker_trace.py: the API's
commit and wake-up, the worker's lease, snapshot, render, agent calls and settle, timed in
this process; the new member's first answer as its backend stamps it; the probe's answer). Everything
started (amphorae, backends, temporary directories) is removed on exit, pass or fail.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable

import httpx

from bench.outside_client import OutsideClient, outside_client
from bench.worker_trace import StepTrace
from ostia.common import constants as c
from tests.support.backends import free_port
from tests.support.objects import check
from tests.support.worker_stack import WorkerStack, worker_stack

POLL = 0.005
ANSWERED = "client: POST answered"
SEEN = "outside client: the new member answers through the VIP"
SERVED = "new member's backend: first answer sent"


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(POLL)


def lb_status(http: httpx.Client, lb_id: str) -> str:
    response = http.get(f"/v2/lbaas/loadbalancers/{lb_id}")
    if response.status_code == 404:
        return c.DELETED
    status = str(check(response, 200)["loadbalancer"]["provisioning_status"])
    if status == c.ERROR:
        raise RuntimeError(f"load balancer {lb_id} went to ERROR")
    return status


def one_round(
    stack: WorkerStack, http: httpx.Client, outside: OutsideClient, trace: StepTrace | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """The round's timings, and the member add's step trace (empty without `trace`)."""
    timings: dict[str, float] = {}
    a, b, extra = outside.backends

    vip = stack.allocate_vip()
    started = time.monotonic()
    empty = check(
        http.post(
            "/v2/lbaas/loadbalancers",
            json={"loadbalancer": {"vip_subnet_id": "private-subnet", "vip_address": vip}},
        ),
        201,
    )["loadbalancer"]
    wait_for(lambda: lb_status(http, empty["id"]) == c.ACTIVE)
    timings["LB (empty) -> ACTIVE"] = time.monotonic() - started

    vip = stack.allocate_vip()
    port = free_port(vip)
    body = {
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
                        "members": [{"address": m.address, "protocol_port": m.port} for m in (a, b)],
                    },
                }
            ],
        }
    }
    outside.watch(vip, port)
    started = time.monotonic()
    lb = check(http.post("/v2/lbaas/loadbalancers", json=body), 201)["loadbalancer"]
    timings["LB (full graph) -> traffic"] = outside.seen() - started
    wait_for(lambda: lb_status(http, lb["id"]) == c.ACTIVE)
    timings["LB (full graph) -> ACTIVE"] = time.monotonic() - started

    pool_id = lb["pools"][0]["id"]
    outside.watch(vip, port, extra.name)
    started = time.monotonic()
    if trace is not None:
        trace.start(started)
    check(
        http.post(
            f"/v2/lbaas/pools/{pool_id}/members",
            json={"member": {"address": extra.address, "protocol_port": extra.port}},
        ),
        201,
    )
    if trace is not None:
        trace.mark(ANSWERED)
    seen = outside.seen()
    timings["member -> traffic"] = seen - started
    wait_for(lambda: lb_status(http, lb["id"]) == c.ACTIVE)
    timings["member -> ACTIVE"] = time.monotonic() - started
    steps: dict[str, float] = {}
    if trace is not None:
        trace.mark(SEEN, seen)
        if outside.served is not None:
            trace.mark(SERVED, outside.served)
        steps = trace.stop()

    started = time.monotonic()
    for lb_id in (empty["id"], lb["id"]):
        check(http.delete(f"/v2/lbaas/loadbalancers/{lb_id}", params={"cascade": "true"}), 204)
    wait_for(lambda: all(lb_status(http, i) == c.DELETED for i in (empty["id"], lb["id"])))
    timings["delete 2 LBs (cascade) -> DELETED"] = time.monotonic() - started
    return timings, steps


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def print_trace(traces: dict[str, list[float]]) -> None:
    print()
    print("| member add: step | ends at, median | range |")
    print("|---|---|---|")
    for name, values in sorted(traces.items(), key=lambda item: statistics.median(item[1])):
        low, high = min(values) * 1000, max(values) * 1000
        print(f"| {name} | {statistics.median(values) * 1000:.1f} ms | {low:.0f}-{high:.0f} ms |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="one round, to see that it works")
    parser.add_argument("--trace", action="store_true", help="also time each step of the member add")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = 1
    logging.basicConfig(level=logging.WARNING)
    results: dict[str, list[float]] = {}
    traces: dict[str, list[float]] = {}
    trace = StepTrace.install() if args.trace else None
    with worker_stack() as stack, stack.api.client() as http, outside_client("a", "b", "new") as outside:
        for index in range(args.rounds):
            timings, steps = one_round(stack, http, outside, trace)
            for name, seconds in timings.items():
                results.setdefault(name, []).append(seconds)
            for name, seconds in steps.items():
                traces.setdefault(name, []).append(seconds)
            print(
                f"round {index + 1}: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in timings.items()),
                flush=True,
            )
    print()
    print(f"| measure ({args.rounds} rounds) | median | p95 |")
    print("|---|---|---|")
    for name, values in results.items():
        print(f"| {name} | {statistics.median(values) * 1000:.0f} ms | {p95(values) * 1000:.0f} ms |")
    if traces:
        print_trace(traces)
    # For bench/run_all (issue 16 goal: a member serves within 50 ms, median).
    print(
        f"ratio: member -> traffic, median ms = "
        f"{statistics.median(results['member -> traffic']) * 1000:.0f} (goal <= 50)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
