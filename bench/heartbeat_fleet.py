"""A simulated fleet for the heartbeat benchmark: bulk-inserted graphs and a UDP sender.

Each simulated amphora serves its own ACTIVE load balancer with one HTTP listener, one pool
and two members (what a typical small LB looks like), all ONLINE, with a fresh
amphora_health row, as a settled deployment would be when a health manager starts.
The sender runs in its own process so that signing and compressing do not share the
health manager's interpreter; it sends valid heartbeats at a fixed rate, amphorae in
round-robin, each with its own increasing `seq` and statistics deltas.
"""

from __future__ import annotations

import dataclasses
import os
import random
import socket
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import insert

from ostia.common import constants as c
from ostia.common import heartbeat_format
from ostia.db import models
from ostia.db.session import Database

CHUNK = 2000


@dataclasses.dataclass(frozen=True)
class SimulatedAmphora:
    amphora_id: str
    listener_id: str
    pool_id: str
    member_ids: tuple[str, str]


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def populate(db: Database, count: int) -> list[SimulatedAmphora]:
    """Insert `count` amphorae with their load balancer graphs (executemany, in chunks)."""
    now = models.utcnow()
    status = {
        "provisioning_status": c.ACTIVE,
        "operating_status": c.ONLINE,
        "created_at": now,
        "updated_at": now,
        "project_id": "bench",
    }
    fleet: list[SimulatedAmphora] = []
    tables: dict[str, list[dict[str, Any]]] = {
        name: [] for name in ("lb", "pool", "listener", "member", "amp", "health")
    }
    for index in range(count):
        ids = [str(uuid.uuid4()) for _ in range(6)]
        lb_id, pool_id, listener_id, amp_id = ids[:4]
        members = (ids[4], ids[5])
        fleet.append(SimulatedAmphora(amp_id, listener_id, pool_id, members))
        tables["lb"].append(
            {"id": lb_id, "enabled": True, "topology": c.TOPOLOGY_SINGLE, "reconcile_attempts": 0, **status}
        )
        tables["pool"].append(
            {
                "id": pool_id,
                "load_balancer_id": lb_id,
                "protocol": c.HTTP,
                "lb_algorithm": c.ROUND_ROBIN,
                "enabled": True,
                "tls_enabled": False,
                **status,
            }
        )
        tables["listener"].append(
            {
                "id": listener_id,
                "load_balancer_id": lb_id,
                "protocol": c.HTTP,
                "protocol_port": 80,
                "default_pool_id": pool_id,
                "enabled": True,
                "client_authentication": "NONE",
                "hsts_include_subdomains": False,
                "hsts_preload": False,
                **status,
            }
        )
        for port, member_id in enumerate(members, start=8001):
            tables["member"].append(
                {
                    "id": member_id,
                    "pool_id": pool_id,
                    "ip_address": f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}",
                    "protocol_port": port,
                    "weight": 1,
                    "backup": False,
                    "enabled": True,
                    "vnic_type": "normal",
                    **status,
                }
            )
        tables["amp"].append(
            {
                "id": amp_id,
                "status": c.AMPHORA_ALLOCATED,
                "load_balancer_id": lb_id,
                "role": c.ROLE_STANDALONE,
                "compute_id": f"bench-{index}",
                "cert_busy": False,
                "lb_network_ip": "127.1.0.1",
                "created_at": now,
                "updated_at": now,
            }
        )
        tables["health"].append({"amphora_id": amp_id, "last_update": now, "busy": False})
    order = (
        ("lb", models.LoadBalancer),
        ("pool", models.Pool),
        ("listener", models.Listener),
        ("member", models.Member),
        ("amp", models.Amphora),
        ("health", models.AmphoraHealth),
    )
    with db.transaction() as session:
        for name, model in order:
            for chunk in _chunks(tables[name]):
                session.execute(insert(model), chunk)
    return fleet


def heartbeat(amp: SimulatedAmphora, seq: int, down_member: bool = False) -> dict[str, Any]:
    """The message an agent sends for this amphora (version 3: statistics as deltas)."""
    members = {amp.member_ids[0]: "UP", amp.member_ids[1]: "DOWN" if down_member else "UP"}
    return {
        "id": amp.amphora_id,
        "seq": seq,
        "ver": heartbeat_format.VERSION,
        "listeners": {
            amp.listener_id: {
                "status": "OPEN",
                "stats": {"rx": 1200, "tx": 5400, "conns": 3, "totconns": 2, "ereq": 0},
            }
        },
        "pools": {f"{amp.pool_id}:{amp.listener_id}": {"status": "UP", "members": members}},
    }


@dataclasses.dataclass(frozen=True)
class SendPlan:
    port: int
    key: str
    rate: float  # datagrams per second
    duration: float  # seconds
    flapping: float = 0.0  # fraction of heartbeats whose second member flips state
    cpu: int | None = None  # pin the sender to this CPU
    # More health managers: each amphora sends its successive heartbeats round-robin over
    # `port` and these, as an agent does over its `controller_ip_port_list`.
    extra_ports: tuple[int, ...] = ()


def send_heartbeats(fleet: Sequence[SimulatedAmphora], plan: SendPlan, stop: Any = None) -> dict[str, float]:
    """Send round-robin heartbeats at `plan.rate` for `plan.duration` (or until `stop`, a
    multiprocessing Event, is set); returns counts.

    Runs in a child process. Paced in 5 ms slices so the rate is even over time, as
    thousands of independent amphorae would be.
    """
    if plan.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {plan.cpu})
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    targets = [("127.0.0.1", port) for port in (plan.port, *plan.extra_ports)]
    rng = random.Random(7)
    seqs = [0] * len(fleet)
    down = [False] * len(fleet)
    sent = errors = 0
    index = 0
    start = time.monotonic()
    while True:
        elapsed = time.monotonic() - start
        if elapsed >= plan.duration or (stop is not None and stop.is_set()):
            break
        due = int(elapsed * plan.rate) - sent
        if due <= 0:
            time.sleep(0.005)
            continue
        for _ in range(min(due, 2000)):
            amp = fleet[index]
            seqs[index] += 1
            if plan.flapping and rng.random() < plan.flapping:
                down[index] = not down[index]
            datagram = heartbeat_format.encode(heartbeat(amp, seqs[index], down[index]), plan.key)
            try:
                sock.sendto(datagram, targets[seqs[index] % len(targets)])
            except OSError:
                errors += 1
            sent += 1
            index = (index + 1) % len(fleet)
    sock.close()
    return {"sent": sent, "send_errors": errors, "seconds": time.monotonic() - start}


def sender_process(
    fleet: Sequence[SimulatedAmphora],
    plan: SendPlan,
    stop: Any,
    results: Any,
    ready: Any = None,
    go: Any = None,
) -> None:
    """Process target: `send_heartbeats`, its counts put on the `results` queue.

    With `ready` and `go` (multiprocessing Events): sets `ready` once started and waits for
    `go`, so that the fleet heartbeats from the moment the managers listen, as a fleet
    that was running would; a process start takes seconds on a busy machine, long enough
    for a manager's stale detector to begin.
    """
    if ready is not None:
        ready.set()
    if go is not None:
        go.wait()
    results.put(send_heartbeats(fleet, plan, stop))
