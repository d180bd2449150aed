"""API throughput: Ostia's octavia-api against upstream Octavia's API, same wrk mix, same run.

    .venv/bin/python -m bench.bench_api [--duration 5] [--db sqlite|postgresql|both]
    .venv/bin/python -m bench.bench_api --quick      # Ostia only, 1 s per call, lists 200

Upstream Octavia (pinned below) is installed from PyPI into its own virtual environment under
~/.cache/ostia/ the first time (nothing of it is committed), and serves its WSGI app with
gunicorn, 1 process x 4 threads; Ostia's `octavia-api` is one process. Both use the noop
provider and no authentication, on SQLite or on a private PostgreSQL. Upstream's schema comes
from its models, as its own functional tests make it: its migrations stop on SQLite (an ALTER
of constraints) and on PostgreSQL (they drop a MySQL-named constraint "PRIMARY").

Each server gets the same seed: one load balancer created through its API, then rows cloned
from it in its database until it holds `--seed` load balancers (the list call reads 1,000 of
them). Then, call by call, upstream and Ostia run one after the other with the same wrk
script at concurrency 1 and 16: GET one LB, list with limit=1000 (runs six times longer),
POST LB, PUT LB (name change), DELETE LB. Before every PUT and DELETE run every LB is set
ACTIVE in the database: upstream's noop provider leaves each written LB in PENDING_* (a
second write would be 409), so PUT and DELETE go to a fresh id per request. Errors are
socket errors plus non-2xx answers. `cpu ms/req` is the server's own CPU time (all its
processes, until it is idle again after the run) over the requests it answered, those left
in flight when wrk stopped included: unlike req/s and latency it depends little on what
else loads the machine.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import fcntl
import ipaddress
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import sqlalchemy as sa

from tests.support.live_api import free_port

UPSTREAM_VERSION = "19.0.0"
# gunicorn serves upstream's WSGI app; fixtures and oslotest let upstream's test base seed
# its lookup tables (bench/upstream_octavia_schema.py); psycopg2 for the PostgreSQL run.
UPSTREAM_PINS = (
    f"octavia=={UPSTREAM_VERSION}",
    "gunicorn==27.0.1",
    "fixtures==4.3.2",
    "oslotest==6.1.1",
    "psycopg2-binary==2.9.13",
)
UPSTREAM_VENV = Path.home() / ".cache" / "ostia" / f"upstream-octavia-{UPSTREAM_VERSION}"
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
CONCURRENCY = (1, 16)
CALLS = ("GET one LB", "list LBs", "POST LB", "PUT LB", "DELETE LB")
SEED_VIP_BASE = ipaddress.IPv4Address("10.128.0.0")  # room for 8 million seeds
LIST_DURATION_FACTOR = 6  # list runs last this many times `--duration`
# Upstream Octavia 19 measured on this machine when the issue was written (gunicorn 1x4,
# noop, SQLite): used for a ratio when upstream cannot run here.
RECORDED_UPSTREAM = {("GET one LB", 1): 58.0, ("GET one LB", 16): 57.0, ("POST LB", 16): 26.0}


# ---- servers ------------------------------------------------------------------------------


class Server:
    name = "server"

    def __init__(self, workdir: Path, db_url: str) -> None:
        self.workdir = workdir
        self.db_url = db_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def post_body(self) -> str:
        raise NotImplementedError

    def start(self) -> None:
        log = open(self.workdir / f"{self.name}.out", "wb")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir, start_new_session=True
        )
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited {self.proc.returncode}; see {self.workdir / (self.name + '.out')}"
                )
            try:
                if httpx.get(f"{self.url}/v2/lbaas/loadbalancers?limit=1", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not answer in 120 s")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and its child processes (gunicorn's worker)."""
        assert self.proc is not None
        total = 0.0
        try:
            root = psutil.Process(self.proc.pid)
            for proc in (root, *root.children(recursive=True)):
                times = proc.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
        return total


class OstiaServer(Server):
    name = "ostia"

    def __init__(self, workdir: Path, db_url: str) -> None:
        super().__init__(workdir, db_url)
        self.conf = workdir / "ostia.conf"
        self.conf.write_text(
            f"[DEFAULT]\nlog_file = {workdir / 'ostia-api.log'}\n"
            f"[database]\nconnection = {db_url}\n"
            f"[api_settings]\nbind_host = 127.0.0.1\nbind_port = {self.port}\n"
            "auth_strategy = noauth\ndefault_provider_driver = noop_driver\n"
            "[certificates]\ncert_manager = noop_cert_manager\n"
        )
        subprocess.run(
            [str(BIN / "octavia-db-manage"), "--config-file", str(self.conf), "upgrade", "head"],
            check=True,
            capture_output=True,
            timeout=300,
        )

    def command(self) -> list[str]:
        return [str(BIN / "octavia-api"), "--config-file", str(self.conf)]

    def post_body(self) -> str:
        return '{"loadbalancer": {"name": "bench", "vip_subnet_id": "private-subnet"}}'


class UpstreamServer(Server):
    name = "upstream"

    def __init__(self, workdir: Path, db_url: str, venv: Path) -> None:
        super().__init__(workdir, db_url)
        self.venv = venv
        conf = workdir / "octavia.conf"
        # SQLite under SQLAlchemy 2 has no pool timeout: upstream's tests blank it the same way.
        pool = "pool_timeout =\n" if db_url.startswith("sqlite") else ""
        conf.write_text(
            f"[DEFAULT]\ndebug = False\nlog_file = {workdir / 'octavia-api.log'}\n"
            "[api_settings]\nauth_strategy = noauth\n"
            "enabled_provider_drivers = noop_driver:The no-op driver.\n"
            "default_provider_driver = noop_driver\n"
            f"[database]\nconnection = {db_url}\n{pool}"
            "[controller_worker]\nnetwork_driver = network_noop_driver\n"
            "compute_driver = compute_noop_driver\namphora_driver = amphora_noop_driver\n"
        )
        (workdir / "upstream_wsgi.py").write_text(
            "from octavia.api import app\n"
            f"application = app.setup_app(argv=['octavia-api', '--config-file', '{conf}'])\n"
        )
        subprocess.run(
            [str(venv / "bin" / "python"), str(HERE / "upstream_octavia_schema.py"), db_url],
            check=True,
            capture_output=True,
            timeout=600,
        )

    def command(self) -> list[str]:
        return [
            str(self.venv / "bin" / "gunicorn"),
            "--chdir",
            str(self.workdir),
            "-w",
            "1",
            "--threads",
            "4",
            "-b",
            f"127.0.0.1:{self.port}",
            "upstream_wsgi:application",
        ]

    def post_body(self) -> str:
        # Upstream's noauth needs a project; its noop network driver accepts any subnet UUID.
        return (
            '{"loadbalancer": {"name": "bench", "project_id": "bench", '
            '"vip_subnet_id": "b3d5e1f2-1111-4c2a-9a7e-0e4d2c1b3a55"}}'
        )


def ensure_upstream() -> Path:
    """Upstream Octavia's virtual environment, installed from PyPI on first use."""
    marker = UPSTREAM_VENV / ".ostia-installed"
    UPSTREAM_VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{UPSTREAM_VENV}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and marker.read_text() == " ".join(UPSTREAM_PINS):
            return UPSTREAM_VENV
        base_python = getattr(sys, "_base_executable", sys.executable)
        print(f"installing upstream Octavia {UPSTREAM_VERSION} into {UPSTREAM_VENV} ...", flush=True)
        subprocess.run([base_python, "-m", "venv", str(UPSTREAM_VENV)], check=True)
        subprocess.run([str(UPSTREAM_VENV / "bin" / "pip"), "install", "-q", *UPSTREAM_PINS], check=True)
        marker.write_text(" ".join(UPSTREAM_PINS))
    return UPSTREAM_VENV


# ---- seeding ------------------------------------------------------------------------------


def seed(server: Server, count: int) -> list[str]:
    """`count` load balancers: one created through the API, the rest cloned from its rows."""
    answer = httpx.post(
        f"{server.url}/v2/lbaas/loadbalancers",
        content=server.post_body(),
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    answer.raise_for_status()
    template = answer.json()["loadbalancer"]["id"]
    engine = sa.create_engine(server.db_url)
    meta = sa.MetaData()
    lbs = sa.Table("load_balancer", meta, autoload_with=engine)
    vips = sa.Table("vip", meta, autoload_with=engine)
    ids = [str(uuid.uuid4()) for _ in range(count - 1)]
    with engine.begin() as conn:
        lb_row = dict(conn.execute(sa.select(lbs).where(lbs.c.id == template)).mappings().one())
        vip_row = dict(
            conn.execute(sa.select(vips).where(vips.c.load_balancer_id == template)).mappings().one()
        )
        lb_rows, vip_rows = [], []
        for index, ident in enumerate(ids):
            lb_rows.append({**lb_row, "id": ident, "name": f"seed-{index}"})
            # Distinct, valid addresses outside the subnet POSTs allocate from, so no POST
            # collides with a seed. (127.2.{200 + index // 256} ran past .255 from 14,000
            # seeds on, and upstream answered every list with 400 for the invalid VIP.)
            address = str(SEED_VIP_BASE + index)
            vip_rows.append(
                {
                    **vip_row,
                    "load_balancer_id": ident,
                    "ip_address": address,
                    **({"port_id": str(uuid.uuid4())} if "port_id" in vip_row else {}),
                }
            )
        for start in range(0, len(ids), 500):
            conn.execute(lbs.insert(), lb_rows[start : start + 500])
            conn.execute(vips.insert(), vip_rows[start : start + 500])
    engine.dispose()
    return [template, *ids]


def set_all_active(db_url: str) -> None:
    """Every live LB back to ACTIVE, so that the next write to it is accepted."""
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE load_balancer SET provisioning_status = 'ACTIVE' "
                "WHERE provisioning_status LIKE 'PENDING_%'"
            )
        )
    engine.dispose()


# ---- wrk ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    requests: int = 0
    rate: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    cpu_ms: float = 0.0


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _latency_ms(text: str, label: str) -> float:
    match = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")


def parse_wrk(text: str) -> Result:
    result = Result()
    if match := re.search(r"(\d+) requests in", text):
        result.requests = int(match.group(1))
    if match := re.search(r"Requests/sec:\s+([\d.]+)", text):
        result.rate = float(match.group(1))
    result.p50_ms = _latency_ms(text, "50%")
    result.p99_ms = _latency_ms(text, "99%")
    if match := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), "
        r"timeout (\d+)",
        text,
    ):
        result.errors += sum(int(g) for g in match.groups())
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", text):
        result.errors += int(match.group(1))
    return result


def run_wrk(
    server: Server,
    path: str,
    connections: int,
    duration: float,
    script: str | None = None,
    env: dict[str, str] | None = None,
    timeout: int = 5,
) -> Result:
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        "--timeout",
        f"{timeout}s",
    ]
    if script:
        cmd += ["-s", str(HERE / "wrk" / script)]
    cpu_before = server.cpu_seconds()
    out = subprocess.run(
        [*cmd, server.url + path],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=duration + 60,
    )
    wait_until_idle(server)
    cpu = server.cpu_seconds() - cpu_before
    result = parse_wrk(out.stdout)
    if out.returncode != 0 or "requests in" not in out.stdout:
        raise RuntimeError(f"wrk failed against {server.name}: {out.stdout}{out.stderr}")
    # wrk stops with one request in flight per connection; the server still answers them
    # (wait_until_idle), so they count among the requests its CPU time paid for.
    result.cpu_ms = cpu * 1000 / (result.requests + connections)
    return result


def wait_until_idle(server: Server, timeout: float = 300) -> None:
    """Let the server finish what wrk left in flight when it stopped (sixteen 1,000-item
    lists take a while), so that the next run does not pay for this one's tail."""
    deadline = time.monotonic() + timeout
    before = server.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = server.cpu_seconds()
        if now - before < 0.02:
            return
        before = now
    print(f"warning: {server.name} still busy {timeout:.0f} s after the run", flush=True)


def run_call(
    server: Server,
    call: str,
    connections: int,
    duration: float,
    ids: list[str],
    used: dict[str, int],
    scratch: Path,
    list_limit: int,
) -> Result:
    """One wrk run of `call`; PUT and DELETE take ids no earlier run has written to."""
    if call == "GET one LB":
        return run_wrk(server, f"/v2/lbaas/loadbalancers/{ids[0]}", connections, duration)
    if call == "list LBs":
        # Sixteen 1,000-item lists in flight take upstream tens of seconds to answer: a run
        # as short as the others would count none of them.
        return run_wrk(
            server,
            f"/v2/lbaas/loadbalancers?limit={list_limit}",
            connections,
            duration * LIST_DURATION_FACTOR,
            timeout=120,
        )
    if call == "POST LB":
        return run_wrk(
            server,
            "/v2/lbaas/loadbalancers",
            connections,
            duration,
            "post_lb.lua",
            {"BENCH_BODY": server.post_body()},
        )
    set_all_active(server.db_url)
    start = used.get(server.name, 1)  # ids[0] stays for the GET call
    id_file = scratch / f"{server.name}-ids.txt"
    id_file.write_text("\n".join(ids[start:]) + "\n")
    method = "PUT" if call == "PUT LB" else "DELETE"
    result = run_wrk(
        server,
        "/v2/lbaas/loadbalancers/",
        connections,
        duration,
        "api_ids.lua",
        {
            "BENCH_IDS": str(id_file),
            "BENCH_METHOD": method,
            "BENCH_BODY": '{"loadbalancer": {"name": "renamed"}}',
        },
    )
    # The request each connection had in flight when wrk stopped was served too: skip its id.
    used[server.name] = start + result.requests + connections
    if used[server.name] > len(ids):
        print(
            f"warning: {server.name} ran out of fresh ids (seed more with --seed): "
            "requests to reused ids count as errors",
            flush=True,
        )
    return result


def logged_errors(server: Server, top: int = 3) -> list[tuple[int, str]]:
    """The commonest ERROR lines of the server's log (what its non-2xx answers were)."""
    counts: collections.Counter[str] = collections.Counter()
    for log in server.workdir.glob("*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if " ERROR " in line:
                message = line.split(" ERROR ", 1)[1]
                counts[re.sub(r"[0-9a-f-]{36}|req-[0-9a-f-]+|\d+", "#", message)[:160]] += 1
    return [(n, m) for m, n in counts.most_common(top)]


# ---- the run ------------------------------------------------------------------------------


@contextlib.contextmanager
def database_urls(kind: str, scratch: Path) -> Iterator[tuple[str, str]]:
    """(upstream's, Ostia's) database URLs of `kind`; a private PostgreSQL is removed after."""
    if kind == "sqlite":
        yield f"sqlite:///{scratch / 'upstream.db'}", f"sqlite:///{scratch / 'ostia.db'}"
        return
    from tests.support.postgres import PostgresServer

    server = PostgresServer().start()
    try:
        yield server.create_database("upstream"), server.create_database("ostia")
    finally:
        server.stop()


def _cell(result: Result | None) -> str:
    if result is None:
        return "- | - | - | - | -"
    return (
        f"{result.rate:.0f} | {result.p50_ms:.1f} | {result.p99_ms:.1f} | {result.errors} | "
        f"{result.cpu_ms:.2f}"
    )


def label(call: str, list_limit: int) -> str:
    return f"list {list_limit} LBs" if call == "list LBs" else call


def table(
    kind: str, results: dict[tuple[str, str, int], Result], with_upstream: bool, list_limit: int
) -> str:
    lines = [
        f"| call ({kind}) | conc. | upstream req/s | p50 ms | p99 ms | errors | cpu ms/req "
        "| Ostia req/s | p50 ms | p99 ms | errors | cpu ms/req | req/s ratio | cpu ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for call in CALLS:
        for conc in CONCURRENCY:
            ours = results.get(("ostia", call, conc))
            theirs = results.get(("upstream", call, conc))
            if ours is None and theirs is None:
                continue  # not measured in this run (--calls)
            ratio = cpu_ratio = "-"
            if ours and theirs and theirs.rate:
                ratio = f"{ours.rate / theirs.rate:.1f}x"
                cpu_ratio = f"{theirs.cpu_ms / ours.cpu_ms:.1f}x" if ours.cpu_ms else "-"
            elif ours and not with_upstream and (call, conc) in RECORDED_UPSTREAM:
                ratio = f"{ours.rate / RECORDED_UPSTREAM[(call, conc)]:.1f}x (recorded)"
            lines.append(
                f"| {label(call, list_limit)} | {conc} | {_cell(theirs)} | "
                f"{_cell(ours)} | {ratio} | "
                f"{cpu_ratio} |"
            )
    return "\n".join(lines)


def ratio_lines(kind: str, results: dict[tuple[str, str, int], Result], list_limit: int) -> list[str]:
    """`ratio:` lines that bench/run_all collects into its one table."""
    lines = []
    for call in CALLS:
        for conc in CONCURRENCY:
            ours = results.get(("ostia", call, conc))
            theirs = results.get(("upstream", call, conc))
            if ours and theirs and theirs.rate:
                lines.append(
                    f"ratio: API {label(call, list_limit)}, c{conc}, {kind} = "
                    f"{ours.rate / theirs.rate:.1f} (goal >= 10)"
                )
    return lines


def bench(
    kind: str, duration: float, seed_count: int, list_limit: int, upstream: Path | None, calls: list[str]
) -> str:
    with tempfile.TemporaryDirectory(prefix="ostia-bench-api-") as tmp:
        scratch = Path(tmp)
        with database_urls(kind, scratch) as (upstream_url, ostia_url):
            servers: list[Server] = []
            try:
                if upstream is not None:
                    (scratch / "upstream").mkdir()
                    servers.append(UpstreamServer(scratch / "upstream", upstream_url, upstream))
                (scratch / "ostia").mkdir()
                servers.append(OstiaServer(scratch / "ostia", ostia_url))
                ids = {}
                for server in servers:
                    server.start()
                    ids[server.name] = seed(server, seed_count)
                    run_wrk(server, f"/v2/lbaas/loadbalancers/{ids[server.name][0]}", 1, 1)
                results: dict[tuple[str, str, int], Result] = {}
                used: dict[str, int] = {}
                for call in calls:
                    for conc in CONCURRENCY:
                        for server in servers:  # alternate: the same minute for both
                            result = run_call(
                                server, call, conc, duration, ids[server.name], used, scratch, list_limit
                            )
                            results[(server.name, call, conc)] = result
                            print(
                                f"{kind} {server.name:8} {label(call, list_limit):14} "
                                f"c{conc:<3} "
                                f"{result.rate:8.1f} req/s  p50 {result.p50_ms:7.1f} ms  "
                                f"p99 {result.p99_ms:7.1f} ms  errors {result.errors}  "
                                f"cpu {result.cpu_ms:.2f} ms/req",
                                flush=True,
                            )
                for server in servers:
                    for count, message in logged_errors(server):
                        print(f"{kind} {server.name} logged {count}x: {message}", flush=True)
            finally:
                for server in servers:
                    server.stop()
    return "\n".join(
        [table(kind, results, upstream is not None, list_limit), "", *ratio_lines(kind, results, list_limit)]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="Ostia only, SQLite, 1 s per call: checks that the bench works"
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--no-upstream", action="store_true", help="measure Ostia alone")
    parser.add_argument(
        "--calls", nargs="+", choices=CALLS, default=list(CALLS), help="measure only these calls"
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="load balancers in each database before the calls"
    )
    args = parser.parse_args(argv)
    # A stop by SIGTERM (timeout, Ctrl-C from a wrapper) still stops both servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    duration = 1.0 if args.quick else args.duration
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    if args.quick:
        kinds = ["sqlite"]
    # The list call reads 1,000; PUT and DELETE take a fresh id per request, two runs each
    # of `duration`: room for about 1,000 writes a second (Ostia's SQLite writes reach ~800/s).
    seed_count = args.seed or max(6000 if not args.quick else 5000, int(4000 * duration))
    # Quick mode lists 200: sixteen 1,000-item lists in flight outlast a 1 s run on a busy host.
    list_limit = 200 if args.quick else 1000
    upstream = None if (args.quick or args.no_upstream) else ensure_upstream()
    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        f"upstream Octavia {UPSTREAM_VERSION if upstream else '(not run)'}; "
        f"{duration:g} s per run",
        flush=True,
    )
    tables = [bench(kind, duration, seed_count, list_limit, upstream, args.calls) for kind in kinds]
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}\n")
    print("\n\n".join(tables))
    return 0


if __name__ == "__main__":
    sys.exit(main())
