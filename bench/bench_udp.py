"""UDP listeners on local amphorae: creation, request/response cost, dead member.

    .venv/bin/python -m bench.bench_udp [--count 5] [--requests 2000]

API + worker on SQLite with real local amphorae (tests/support/worker_stack.py) and two
UDP answer servers in this process (tests/support/udp_backends.py). Prints, for `--count`
single-call creates (UDP listener, pool with a UDP-CONNECT monitor, two members): POST until
ACTIVE and until the VIP answers; then the round-trip time of `--requests` sequential
requests (a fresh source port each, as a DNS resolver sends them) to a member directly and
through the VIP; then how long after a member's port closes until ten requests in a row
reach the live one. Everything started is removed on exit.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import time

from tests.support.health_stack import wait_until
from tests.support.objects import create_lb
from tests.support.udp_backends import ask, free_udp_port, udp_backends, udp_pool
from tests.support.worker_stack import worker_stack

OVERRIDES = {"api_settings": {"udp_connect_min_interval_health_monitor": -1}}


def rtts(host: str, port: int, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(1)
            started = time.perf_counter()
            sock.sendto(b"q", (host, port))
            sock.recv(2048)
            samples.append(time.perf_counter() - started)
    return sorted(samples)


def describe(label: str, samples: list[float]) -> str:
    return (
        f"{label}: median {statistics.median(samples) * 1e6:.0f} us, "
        f"p99 {samples[int(len(samples) * 0.99)] * 1e6:.0f} us, "
        f"{len(samples) / sum(samples):.0f} requests/s one at a time"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with (
        worker_stack(overrides=OVERRIDES) as stack,
        stack.api.client() as http,
        udp_backends("a", "b") as (a, b),
    ):
        created: list[tuple[float, float]] = []
        vip = port = ""
        for _ in range(args.count):
            vip = stack.allocate_vip()
            port = free_udp_port(vip)
            pool = udp_pool((x.address, x.port) for x in (a, b))
            started = time.monotonic()
            lb = create_lb(
                http,
                vip_subnet_id="private-subnet",
                vip_address=vip,
                listeners=[{"protocol": "UDP", "protocol_port": port, "default_pool": pool}],
            )
            stack.wait_lb(http, lb["id"])
            active = time.monotonic() - started
            wait_until(
                lambda: ask(vip, port, timeout=0.2) is not None,  # noqa: B023
                10,
                "the VIP answering",
                interval=0.005,
            )
            created.append((active, time.monotonic() - started))
        print(
            f"UDP LB POST -> ACTIVE median {statistics.median(c[0] for c in created):.2f} s, "
            f"-> VIP answers median {statistics.median(c[1] for c in created):.2f} s "
            f"({args.count} creates)"
        )
        print(describe("direct to a member", rtts(a.address, a.port, args.requests)))
        print(describe("through the VIP (nginx)", rtts(vip, int(port), args.requests)))
        b.stop()
        killed = time.monotonic()
        streak = 0
        while streak < 10:
            streak = streak + 1 if ask(vip, int(port)) == "a" else 0
        print(
            f"dead member out of rotation {time.monotonic() - killed:.3f} s after its "
            "port closed (ten requests in a row to the live one)"
        )


if __name__ == "__main__":
    main()
