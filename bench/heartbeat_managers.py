"""Several health managers on one database, each its own process, for bench_heartbeats.

Each manager is the real HealthManagerService in a child process of its own (its own
interpreter, so they do not share a GIL) on its own UDP port, all on the same database.
The simulated amphorae send each heartbeat to the next port in turn, as an agent does over
its `controller_ip_port_list`, so every manager hears every amphora, every other time.
Failovers any of them asks for are counted (every one is spurious: all amphorae live).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench.heartbeat_fleet import SendPlan, SimulatedAmphora, sender_process

POLL = 0.05


def manager_process(
    url: str,
    port: int,
    interval: int,
    timeout: int,
    cpu: int | None,
    processed: Any,
    control: dict[str, Any],
    results: Any,
) -> None:
    """Child process: one health manager until `control["stop"]`; puts its figures."""
    from bench.bench_heartbeats import _config, process_cpu
    from ostia.controller.health.service import HealthManagerService
    from ostia.db.session import Database, create_db_engine

    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    conf = _config(url, interval, timeout)
    conf.set_override("bind_port", port, "health_manager")
    db = Database(create_db_engine(url))
    failovers: set[str] = set()

    def request_failover(amphora_id: str) -> bool:
        # Counted until the window ends: the fleet falls silent after it.
        if not control["end"].is_set():
            failovers.add(amphora_id)
        return False

    service = HealthManagerService(conf, db, request_failover=request_failover)
    service.start()
    while service.bound_address is None:
        time.sleep(0.01)
    results.put(("port", service.bound_address[1]))
    marks: dict[str, tuple[dict[str, int], float, int]] = {}
    try:
        while not control["stop"].is_set():
            processed.value = service.metrics.snapshot().get("processed", 0)
            for name in ("start", "end"):
                if name not in marks and control[name].is_set():
                    marks[name] = (service.metrics.snapshot(), process_cpu(), len(service.metrics.lags))
            time.sleep(POLL)
    finally:
        service.stop()
        db.dispose()
    (before, cpu_before, lags_before), (after, cpu_after, lags_after) = (
        marks.get("start", ({}, 0.0, 0)),
        marks.get("end", ({}, 0.0, 0)),
    )
    results.put(
        (
            "figures",
            {
                "processed": after.get("processed", 0) - before.get("processed", 0),
                "received": after.get("received", 0) - before.get("received", 0),
                "cpu": cpu_after - cpu_before,
                "lags": list(service.metrics.lags)[lags_before:lags_after],
                "dropped": {
                    kind: after.get(kind, 0) - before.get(kind, 0)
                    for kind in (
                        "late",
                        "unknown_amphora",
                        "incomplete",
                        "replayed",
                        "seq_jump",
                        "bad_signature",
                    )
                },
                "total_received": service.metrics.snapshot().get("received", 0),
                "failovers": sorted(failovers),
            },
        )
    )


def run_managers(
    url: str,
    fleet: Sequence[SimulatedAmphora],
    managers: int,
    rate: float,
    window: float,
    interval: int,
    timeout: int,
    flapping: float,
    key: str,
    db_cpu: Callable[[], float] = lambda: 0.0,
) -> dict[str, Any]:
    """Start `managers` managers and the sender; measure `window` seconds after every
    manager has heard every amphora once; returns the managers' figures and the sender's."""
    context = multiprocessing.get_context("spawn")
    control = {name: context.Event() for name in ("start", "end", "stop")}
    sender_stop, results = context.Event(), context.Queue()
    counters = [context.Value("q", 0) for _ in range(managers)]
    cpus = os.cpu_count() or 1
    from bench.bench_heartbeats import _free_udp_port

    ports = [_free_udp_port() for _ in range(managers)]
    children = [
        context.Process(
            target=manager_process,
            args=(
                url,
                ports[index],
                interval,
                timeout,
                index % cpus if cpus > 1 else None,
                counters[index],
                control,
                results,
            ),
        )
        for index in range(managers)
    ]
    cold_budget = 4 * len(fleet) / rate + 60
    plan = SendPlan(
        port=ports[0],
        extra_ports=tuple(ports[1:]),
        key=key,
        rate=rate,
        duration=cold_budget + window + 60,
        flapping=flapping,
    )
    ready, go = context.Event(), context.Event()
    sender = context.Process(target=sender_process, args=(fleet, plan, sender_stop, results, ready, go))
    figures: list[dict[str, Any]] = []
    sent: dict[str, float] = {}
    try:
        # The fleet first (it waits for `go`), so that it heartbeats as soon as the
        # managers listen: their stale detectors start one timeout after they do.
        sender.start()
        if not ready.wait(120):
            raise RuntimeError("the heartbeat sender did not start")
        for child in children:
            child.start()
        for _ in children:
            results.get(timeout=120)  # ("port", bound): listening
        started = time.monotonic()
        go.set()
        while min(counter.value for counter in counters) < len(fleet):
            if time.monotonic() - started > cold_budget:
                raise RuntimeError(f"first round not processed by every manager in {cold_budget:.0f} s")
            time.sleep(POLL)
        cold = time.monotonic() - started
        control["start"].set()
        db_before = db_cpu()
        time.sleep(window + 2 * POLL)
        control["end"].set()
        db_seconds = db_cpu() - db_before
        time.sleep(2 * POLL)
        sender_stop.set()
        time.sleep(3.0)  # let the managers drain what is queued before they stop
        control["stop"].set()
        for _ in range(managers + 1):
            item = results.get(timeout=120)
            if isinstance(item, dict):  # the sender's counts
                sent = item
            else:
                figures.append(item[1])
    finally:
        sender_stop.set()
        go.set()
        control["stop"].set()
        for process in [*children, sender]:
            if process.pid is None:  # never started
                continue
            process.join(15)
            if process.is_alive():
                process.terminate()
                process.join(5)
    return {"managers": figures, "sent": sent, "cold_seconds": cold, "db_cpu": db_seconds}
