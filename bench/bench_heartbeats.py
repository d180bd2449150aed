"""Heartbeats one health manager processes per second, on SQLite and on PostgreSQL.

    .venv/bin/python -m bench.bench_heartbeats                 # the full matrix (~3 min)
    .venv/bin/python -m bench.bench_heartbeats --db sqlite --amphorae 1000 --mode capacity

For each database and fleet size: bulk-insert the fleet (bench/heartbeat_fleet.py), start the
real HealthManagerService (asyncio UDP receiver, batched flushes, stale detector) in this
process pinned to one CPU, and send valid signed heartbeats from a child process pinned to
the other CPU. Two modes:

* `steady`: every amphora once per `--interval` seconds (the deployment's real load), for
  longer than the heartbeat timeout, so the stale detector runs meanwhile; reports lag and
  any failover it requested (all would be spurious: every amphora is alive).
* `capacity`: an offered rate above what one core can take; reports what was processed per
  second and per CPU-second, and what was dropped and why.

Prints one line per run and a Markdown table for docs/performance.md. Everything started
here (PostgreSQL, temporary directories, the sender) is removed on exit, pass or fail.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import multiprocessing
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

from oslo_config import cfg
from sqlalchemy import event, func, select

from bench.heartbeat_fleet import SendPlan, populate, sender_process
from ostia.common import config as config_mod
from ostia.controller.health.service import HealthManagerService
from ostia.db import migration, models
from ostia.db.session import Database, create_db_engine

KEY = "bench-heartbeat-key"
HM_CPU, SENDER_CPU = 0, 1


@dataclasses.dataclass(frozen=True)
class RunPlan:
    """One measurement: the database, the fleet and the load it is sent."""

    database: str  # "sqlite" or "postgresql"
    amphorae: int
    mode: str  # "steady" or "capacity"
    rate: float  # heartbeats offered per second
    window: float  # seconds measured once the first round is processed
    interval: int  # the simulated amphorae's heartbeat_interval
    flapping: float  # fraction of heartbeats that flip a member's state
    timeout: int  # heartbeat_timeout


@dataclasses.dataclass
class RunResult:
    database: str
    amphorae: int
    mode: str
    offered: float
    seconds: float
    sent: int = 0
    received: int = 0
    processed: int = 0
    per_second: float = 0.0
    per_cpu_second: float = 0.0
    lag_p50_ms: float = 0.0
    lag_p99_ms: float = 0.0
    lag_max_ms: float = 0.0
    flush_p50_ms: float = 0.0
    socket_lost: int = 0
    dropped: dict[str, int] = dataclasses.field(default_factory=dict)
    statements: dict[str, int] = dataclasses.field(default_factory=dict)
    status_writes: int = 0
    failovers: int = 0
    cold_seconds: float = 0.0
    window_received: int = 0
    # PostgreSQL's CPU per processed heartbeat (server and backends), 0 on SQLite.
    db_cpu_us: float = 0.0
    # The managers' own CPU (from /proc) per datagram they received in the window: what
    # the neighbours' load changes least.
    hm_cpu_us: float = 0.0
    # Lag p99 over the first and the last third of the window's flushes: a lag that grows
    # shows as a last third above the first.
    lag_p99_first_ms: float = 0.0
    lag_p99_last_ms: float = 0.0
    # One manager in this process: the garbage collector's pauses in the window (full
    # collections, the longest pause) and the longest the receive loop did not read the
    # socket. A stall is lag the flush lags do not show: datagrams wait in the socket,
    # and their arrival time is taken when they are read.
    gc_full: int = 0
    gc_max_ms: float = 0.0
    gc_ms_per_s: float = 0.0
    recv_stall_ms: float = 0.0

    @classmethod
    def of(cls, plan: RunPlan, mode: str | None = None) -> RunResult:
        return cls(plan.database, plan.amphorae, mode or plan.mode, plan.rate, plan.window)

    def set_lags(self, lags: list[float]) -> None:
        """Lag p50, p99 and max (ms) from flush lags in seconds."""
        self.lag_p50_ms = 1000 * _percentile(lags, 0.5)
        self.lag_p99_ms = 1000 * _percentile(lags, 0.99)
        self.lag_max_ms = 1000 * max(lags, default=0.0)

    def line(self) -> str:
        drops = ", ".join(f"{k}={v}" for k, v in sorted(self.dropped.items()) if v) or "none"
        writes = ", ".join(f"{k}={v}" for k, v in sorted(self.statements.items()))
        return (
            f"{self.database:10} {self.amphorae:6} amphorae {self.mode:8} offered "
            f"{self.offered:7.0f}/s: first round {self.cold_seconds:.1f} s; in "
            f"{self.seconds:.0f} s received {self.window_received / self.seconds:7.0f}/s, "
            f"processed {self.per_second:7.0f}/s "
            f"({self.per_cpu_second:7.0f} per CPU-s, {self.hm_cpu_us:.1f} us manager CPU per "
            f"datagram), lag p50 {self.lag_p50_ms:.0f} ms "
            f"p99 {self.lag_p99_ms:.0f} ms max {self.lag_max_ms:.0f} ms (p99 first third "
            f"{self.lag_p99_first_ms:.0f} ms, last third {self.lag_p99_last_ms:.0f} ms), flush p50 "
            f"{self.flush_p50_ms:.0f} ms, sent {self.sent} received {self.received} "
            f"socket-lost {self.socket_lost}, drops: {drops}; statements: {writes}; "
            f"status writes {self.status_writes}; failovers {self.failovers}; "
            f"database CPU {self.db_cpu_us:.0f} us per heartbeat; collector: {self.gc_full} full "
            f"collections, longest pause {self.gc_max_ms:.0f} ms, {self.gc_ms_per_s:.1f} ms/s; "
            f"longest receive stall {self.recv_stall_ms:.0f} ms"
        )


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(db_url: str, interval: int, timeout: int) -> cfg.ConfigOpts:
    conf = config_mod.new_config()
    conf([], project="octavia", default_config_files=[])
    conf.set_override("connection", db_url, "database")
    for name, value in {
        "heartbeat_key": KEY,
        "bind_port": _free_udp_port(),
        "heartbeat_interval": interval,
        "heartbeat_timeout": timeout,
        "health_check_interval": 3,
        "sock_rlimit": 16 << 20,
    }.items():
        conf.set_override(name, value, "health_manager")
    return conf


@contextlib.contextmanager
def database(kind: str) -> Iterator[Iterator[Database]]:
    """Yields a factory of fresh, migrated databases of `kind`; removes them all after."""
    root = tempfile.mkdtemp(prefix="ostia-bench-")
    server = None
    try:
        if kind == "postgresql":
            from tests.support.postgres import PostgresServer

            server = PostgresServer().start()
            if os.nice(0) < 0:  # the server runs in its own session: give it the same
                for pid in _server_pids(server.data):
                    _renice(os.nice(0), pid)

        def fresh() -> Iterator[Database]:
            for index in range(1000):
                url = (
                    server.create_database(f"bench_{index}")
                    if server is not None
                    else f"sqlite:///{root}/bench_{index}.db"
                )
                engine = create_db_engine(url)
                migration.upgrade(engine)
                db = Database(engine)
                try:
                    yield db
                finally:
                    db.dispose()

        yield fresh()
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


class PauseMeter:
    """The collector's pauses (gc.callbacks) and the receive loop's longest gap between
    two reads of the socket, while `enabled`."""

    def __init__(self) -> None:
        self.enabled = False
        self.full = 0
        self.longest = 0.0
        self.total = 0.0
        self.stall = 0.0
        self._started = 0.0
        self._last_read = 0.0

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        if not self.enabled:
            return
        pause = time.perf_counter() - self._started
        self.total += pause
        self.longest = max(self.longest, pause)
        self.full += info.get("generation") == 2

    def on_read(self) -> None:
        now = time.perf_counter()
        if self.enabled and self._last_read:
            self.stall = max(self.stall, now - self._last_read)
        self._last_read = now

    @contextlib.contextmanager
    def attached(self) -> Iterator[None]:
        """The service's reader timed at each wake-up (readers made meanwhile)."""
        from ostia.controller.health import service as service_mod

        meter, plain = self, service_mod.HeartbeatReader

        class TimedReader(plain):  # type: ignore[misc,valid-type]
            def drain(self) -> int:
                meter.on_read()
                return int(super().drain())

        service_mod.HeartbeatReader = TimedReader  # type: ignore[misc]
        try:
            yield
        finally:
            service_mod.HeartbeatReader = plain  # type: ignore[misc]


class StatementCounter:
    """Counts statements (and executemany rows) the engine sends, by leading verb."""

    def __init__(self, db: Database) -> None:
        self.counts: dict[str, int] = {}
        self.enabled = False
        event.listen(db.engine, "before_cursor_execute", self._seen)

    def _seen(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        if not self.enabled:
            return
        verb = statement.lstrip().split(None, 1)[0].upper()
        self.counts[verb] = self.counts.get(verb, 0) + 1


def process_cpu(pid: int | None = None, with_reaped_children: bool = False) -> float:
    """CPU seconds (user + system) of a process so far, from /proc/PID/stat; with the
    children it reaped when asked."""
    with open(f"/proc/{pid or os.getpid()}/stat") as handle:
        # The command name in parentheses may itself contain spaces.
        fields = handle.read().rsplit(")", 1)[1].split()
    # utime, stime, then the reaped children's cutime, cstime
    ticks = fields[11:15] if with_reaped_children else fields[11:13]
    return sum(int(value) for value in ticks) / os.sysconf("SC_CLK_TCK")


def lag_thirds(lags: list[float]) -> tuple[float, float]:
    """Lag p99 (ms) of the first and of the last third of a window's flushes."""
    third = max(1, len(lags) // 3)
    return 1000 * _percentile(lags[:third], 0.99), 1000 * _percentile(lags[-third:], 0.99)


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_once(db: Database, plan: RunPlan) -> RunResult:
    """Populate, start the health manager and the sender; measure over `window` seconds.

    The window opens once every amphora was processed once (its graph is cached): a
    health manager runs for days, its first round after a start is not its steady state.
    The first round's duration is reported apart (`cold_seconds`).
    """
    amphorae, rate, window = plan.amphorae, plan.rate, plan.window
    fleet = populate(db, amphorae)
    conf = _config(str(db.engine.url.render_as_string(hide_password=False)), plan.interval, plan.timeout)
    failovers: list[str] = []

    sending = threading.Event()  # failovers count while the fleet heartbeats

    def request_failover(amphora_id: str) -> bool:
        if sending.is_set():  # every one is spurious: all amphorae are alive
            failovers.append(amphora_id)
        return False

    service = HealthManagerService(conf, db, request_failover=request_failover)
    counter = StatementCounter(db)
    cold_budget = 4 * amphorae / rate + 60
    sending_plan = SendPlan(
        port=conf.health_manager.bind_port,
        key=KEY,
        rate=rate,
        duration=cold_budget + window,
        flapping=plan.flapping,
        cpu=SENDER_CPU,
    )
    context = multiprocessing.get_context("spawn")
    stop, results = context.Event(), context.Queue()
    ready, go = context.Event(), context.Event()
    sender = context.Process(target=sender_process, args=(fleet, sending_plan, stop, results, ready, go))
    result = RunResult.of(plan)
    pauses = PauseMeter()
    stack = contextlib.ExitStack()
    sender.start()
    try:
        if not ready.wait(120):
            raise RuntimeError("the heartbeat sender did not start")
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {HM_CPU})
        stack.enter_context(pauses.attached())
        service.start()
        deadline = time.monotonic() + 10
        while service.bound_address is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert service.bound_address is not None, "health manager did not start"
        started = time.monotonic()
        sending.set()
        go.set()
        while service.metrics.snapshot().get("processed", 0) < amphorae:
            if time.monotonic() - started > cold_budget:
                raise RuntimeError(
                    f"first round of {amphorae} heartbeats not processed in {cold_budget:.0f} s"
                )
            time.sleep(0.05)
        result.cold_seconds = time.monotonic() - started
        counter.enabled = True
        before = service.metrics.snapshot()
        cpu_before, wall_before = process_cpu(), time.monotonic()
        db_before = db_server_cpu(db)
        lags_before = len(service.metrics.lags)
        gc.callbacks.append(pauses.on_gc)
        pauses.enabled = True
        time.sleep(window)
        pauses.enabled = False
        gc.callbacks.remove(pauses.on_gc)
        cpu_after, wall_after = process_cpu(), time.monotonic()
        db_after = db_server_cpu(db)
        after = service.metrics.snapshot()
        lags_after = len(service.metrics.lags)
        counter.enabled = False
        sending.clear()  # the fleet falls silent now: what follows is no failover to count
        stop.set()
        sent = results.get(timeout=60)
        sender.join(10)
        # Let the receiver drain what is still queued, then count the totals.
        _wait_idle(service)
    finally:
        stop.set()
        go.set()
        if sender.is_alive():
            sender.terminate()
            sender.join(5)
        service.stop()
        stack.close()
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    final = service.metrics.snapshot()
    processed = after.get("processed", 0) - before.get("processed", 0)
    wall = wall_after - wall_before
    lags = list(service.metrics.lags)[lags_before:lags_after]
    flushes = list(service.metrics.flush_seconds)[lags_before:lags_after]
    result.sent = int(sent["sent"])
    result.received = final.get("received", 0)
    result.processed = final.get("processed", 0)
    result.per_second = processed / wall
    result.per_cpu_second = processed / max(cpu_after - cpu_before, 1e-9)
    result.set_lags(lags)
    result.lag_p99_first_ms, result.lag_p99_last_ms = lag_thirds(lags)
    result.flush_p50_ms = 1000 * _percentile(flushes, 0.5)
    result.socket_lost = result.sent - result.received
    result.dropped = {
        kind: after.get(kind, 0) - before.get(kind, 0)
        for kind in ("late", "unknown_amphora", "incomplete", "replayed", "bad_signature")
    }
    result.window_received = after.get("received", 0) - before.get("received", 0)
    result.hm_cpu_us = 1e6 * (cpu_after - cpu_before) / max(result.window_received, 1)
    result.statements = counter.counts
    result.status_writes = final.get("status_writes", 0)
    result.failovers = len(set(failovers))  # amphorae (the detector retries every round)
    result.db_cpu_us = 1e6 * (db_after - db_before) / max(processed, 1)
    result.gc_full, result.gc_max_ms = pauses.full, 1000 * pauses.longest
    result.gc_ms_per_s, result.recv_stall_ms = 1000 * pauses.total / wall, 1000 * pauses.stall
    with db.transaction() as session:
        stale = session.scalar(
            select(func.count()).select_from(models.Amphora).where(models.Amphora.status != "ALLOCATED")
        )
    if stale:
        result.dropped["amphorae_not_allocated"] = int(stale)
    return result


def run_scaled(db: Database, plan: RunPlan, managers: int) -> RunResult:
    """`run_once` with several health managers, each its own process, on one database."""
    from bench.heartbeat_managers import run_managers

    window = plan.window
    fleet = populate(db, plan.amphorae)
    url = str(db.engine.url.render_as_string(hide_password=False))
    outcome = run_managers(
        url,
        fleet,
        managers,
        plan.rate,
        window,
        plan.interval,
        plan.timeout,
        plan.flapping,
        KEY,
        lambda: db_server_cpu(db),
    )
    figures = outcome["managers"]
    result = RunResult.of(plan, f"{plan.mode} x{managers} HMs")
    processed = sum(f["processed"] for f in figures)
    lags = [lag for f in figures for lag in f["lags"]]
    result.cold_seconds = outcome["cold_seconds"]
    result.sent = int(outcome["sent"].get("sent", 0))
    result.received = sum(f["total_received"] for f in figures)
    result.window_received = sum(f["received"] for f in figures)
    result.processed = processed
    result.per_second = processed / window
    result.per_cpu_second = processed / max(sum(f["cpu"] for f in figures), 1e-9)
    result.set_lags(lags)
    # Each manager's thirds, the worse of them.
    thirds = [lag_thirds(f["lags"]) for f in figures]
    result.lag_p99_first_ms = max((t[0] for t in thirds), default=0.0)
    result.lag_p99_last_ms = max((t[1] for t in thirds), default=0.0)
    result.hm_cpu_us = 1e6 * sum(f["cpu"] for f in figures) / max(result.window_received, 1)
    result.socket_lost = result.sent - result.received
    for f in figures:
        for name, count in f["dropped"].items():
            result.dropped[name] = result.dropped.get(name, 0) + count
    result.failovers = len({amp for f in figures for amp in f["failovers"]})
    result.db_cpu_us = 1e6 * outcome["db_cpu"] / max(processed, 1)
    result.statements = {
        f"HM{index} processed/s": int(f["processed"] / window) for index, f in enumerate(figures)
    }
    return result


def db_server_cpu(db: Database) -> float:
    """CPU seconds PostgreSQL's processes used so far (postmaster, its live children and
    the children it reaped); 0.0 on SQLite, where the database is this process."""
    if db.engine.dialect.name != "postgresql":
        return 0.0
    with db.engine.connect() as conn:
        data_dir = conn.exec_driver_sql("SHOW data_directory").scalar()
    total = 0.0
    for index, pid in enumerate(_server_pids(str(data_dir))):
        with contextlib.suppress(OSError):
            # The postmaster (first) with the backends it reaped; the live ones apart.
            total += process_cpu(pid, with_reaped_children=index == 0)
    return total


def _wait_idle(service: HealthManagerService, quiet: float = 1.5, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        received = service.metrics.snapshot().get("received", 0)
        if received != last:
            last, since = received, time.monotonic()
        elif time.monotonic() - since > quiet and service.processor.pending_count() == 0:
            return
        time.sleep(0.1)


def table(results: list[RunResult]) -> str:
    lines = [
        "| database | amphorae | mode | offered/s | processed/s | per HM CPU-s | "
        "HM CPU us per datagram | DB CPU us per heartbeat | lag p50 / p99 / max (ms) | "
        "lag p99 first / last third (ms) | lost or dropped | spurious failovers |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|---|---|---:|",
    ]
    for r in results:
        lost = r.socket_lost + sum(r.dropped.values())
        lines.append(
            f"| {r.database} | {r.amphorae:,} | {r.mode} | {r.offered:,.0f} | "
            f"{r.per_second:,.0f} | {r.per_cpu_second:,.0f} | {r.hm_cpu_us:.1f} | {r.db_cpu_us:.0f} | "
            f"{r.lag_p50_ms:.0f} / {r.lag_p99_ms:.0f} / {r.lag_max_ms:.0f} | "
            f"{r.lag_p99_first_ms:.0f} / {r.lag_p99_last_ms:.0f} | {lost:,} | {r.failovers} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--amphorae", default="1000,10000")
    parser.add_argument("--mode", default="steady,capacity")
    parser.add_argument(
        "--interval", type=int, default=10, help="heartbeat interval of the simulated amphorae (steady mode)"
    )
    parser.add_argument(
        "--rate", type=float, default=8000.0, help="offered heartbeats per second in capacity mode"
    )
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="capacity measurement window (steady: two intervals)"
    )
    parser.add_argument("--timeout", type=int, default=0, help="heartbeat_timeout (default: two intervals)")
    parser.add_argument(
        "--managers",
        type=int,
        default=1,
        help="health managers, each its own process on its own port; the amphorae send round-robin to them",
    )
    parser.add_argument(
        "--flapping", type=float, default=0.01, help="fraction of heartbeats that flip a member's state"
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=-10,
        help="niceness for this run and what it starts (PostgreSQL, sender): "
        "on a machine shared with other work, measure the health "
        "manager rather than the competition (needs root; 0 = as is)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="SQLite, 300 amphorae: capacity 2,000/s for 2 s with one "
        "manager, then every second for 4 s with two (a test runs it)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        # Both runs of the quick mode, one after the other.
        common = [
            "--db",
            "sqlite",
            "--amphorae",
            "300",
            "--nice",
            "0",
            "--interval",
            "1",
            "--flapping",
            str(args.flapping),
        ]
        first = main([*common, "--mode", "capacity", "--rate", "2000", "--seconds", "2"])
        return first or main(
            [*common, "--mode", "steady", "--seconds", "4", "--timeout", "3", "--managers", "2"]
        )
    try:
        return _run(args)
    finally:
        # The autogroup is the whole session's (the shell that started us too): give back.
        _renice(0)


def _run(args: argparse.Namespace) -> int:
    niceness = _renice(args.nice)
    print(
        f"machine: {os.cpu_count()} CPUs, {_cpu_model()}, load average "
        f"{os.getloadavg()[0]:.1f}; python {sys.version.split()[0]}; health manager pinned "
        f"to CPU {HM_CPU}, sender to CPU {SENDER_CPU}; niceness {niceness}",
        flush=True,
    )
    results = []
    for kind in args.db.split(","):
        with database(kind) as fresh:
            for amphorae in (int(n) for n in args.amphorae.split(",")):
                for mode in args.mode.split(","):
                    if mode == "steady":
                        rate = amphorae / args.interval
                        seconds = max(2.0 * args.interval, args.seconds)
                    else:
                        rate, seconds = args.rate, args.seconds
                    plan = RunPlan(
                        kind,
                        amphorae,
                        mode,
                        rate,
                        seconds,
                        args.interval,
                        args.flapping,
                        args.timeout or 2 * args.interval,
                    )
                    if args.managers > 1:
                        result = run_scaled(next(fresh), plan, args.managers)
                    else:
                        result = run_once(next(fresh), plan)
                    print(result.line(), flush=True)
                    results.append(result)
    print()
    print(table(results))
    print()
    for r in results:  # the lines bench/run_all collects
        print(
            f"ratio: heartbeats {r.database} {r.amphorae} amphorae {r.mode} processed/"
            f"offered = {r.per_second / max(r.offered, 1e-9):.2f} (goal 1.00 with no "
            f"spurious failover: {r.failovers}; lag p99 {r.lag_p99_ms:.0f} ms)"
        )
    return 0


def _renice(wanted: int, pid: int | None = None) -> int:
    """Niceness `wanted` for this process (children inherit it) or for `pid`.

    Linux schedules sessions ("autogroups") fairly against each other whatever the nice
    value of a process inside them, so the autogroup is reniced too when it exists.
    Returns this process's niceness.
    """
    target = pid or os.getpid()
    with contextlib.suppress(OSError):
        with open(f"/proc/{target}/autogroup", "w") as handle:
            handle.write(str(wanted))
    try:
        if pid is None:
            return os.nice(wanted - os.nice(0))
        os.setpriority(os.PRIO_PROCESS, pid, wanted)
    except PermissionError:
        pass
    return os.nice(0)


def _server_pids(data_dir: str) -> list[int]:
    """The postmaster (from its pid file) and its current children."""
    with contextlib.suppress(OSError, ValueError), open(os.path.join(data_dir, "postmaster.pid")) as handle:
        postmaster = int(handle.readline())
        children = []
        with contextlib.suppress(OSError):
            with open(f"/proc/{postmaster}/task/{postmaster}/children") as kids:
                children = [int(pid) for pid in kids.read().split()]
        return [postmaster, *children]
    return []


def _cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


if __name__ == "__main__":
    raise SystemExit(main())
