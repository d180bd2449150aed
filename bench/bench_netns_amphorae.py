"""Namespace amphorae on one host: build time, memory per amphora, delete time (root).

    .venv/bin/python -m bench.bench_netns_amphorae [--count 20]

Builds `--count` amphorae one after the other with compute_netns_driver and the real
agent (two namespaces, the lb-mgmt veth, the agent answering over mutual TLS), then reads
the proportional set size of everything each one runs (and, noisily, the host's used
memory), then
deletes them all. The per-amphora figure bounds how many fit in this host's memory (an
amphora serving a load balancer adds haproxy's ~6 MB, and keepalived's ~2 MB for
ACTIVE_STANDBY). Everything is removed on exit.
"""

from __future__ import annotations

import argparse
import statistics
import time

from tests.support.amphora import short_tempdir
from tests.support.netns_stack import NetnsAmphoraStack, amphora_memory_kib, require_namespaces


def _used_kib() -> int:
    values = {}
    with open("/proc/meminfo") as handle:
        for line in handle:
            key, value = line.split(":", 1)
            values[key] = int(value.split()[0])
    return values["MemTotal"] - values["MemAvailable"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args(argv)
    require_namespaces()
    with short_tempdir("ostns-") as state:
        stack = NetnsAmphoraStack(state)
        try:
            before = _used_kib()
            builds = []
            amps = []
            for _ in range(args.count):
                started = time.monotonic()
                amps.append(stack.build_amphora())
                builds.append(time.monotonic() - started)
            time.sleep(2)
            used = _used_kib() - before
            pss = [amphora_memory_kib(a.instance.compute_id) for a in amps]
            started = time.monotonic()
            for amp in amps:
                stack.compute.delete(amp.instance.compute_id)
            deleted = time.monotonic() - started
        finally:
            stack.close()
    with open("/proc/meminfo") as handle:
        total = int(handle.readline().split()[1])
    per = statistics.median(pss)
    print(
        f"{args.count} namespace amphorae: build + agent answering median "
        f"{statistics.median(builds):.2f} s (max {max(builds):.2f} s); PSS per amphora "
        f"median {per / 1024:.1f} MiB (host MemAvailable moved by {used / 1024:.0f} MiB, "
        f"noisy on a shared machine); delete {deleted / args.count:.2f} s each; 80 % of "
        f"this host's {total / 1024 / 1024:.0f} GiB holds about {int(total * 0.8 / per)} "
        "idle amphorae by PSS"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
