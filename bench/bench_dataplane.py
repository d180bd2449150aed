"""The data plane: wrk through an Ostia load balancer against haproxy tuned by hand.

    .venv/bin/python -m bench.bench_dataplane                # full matrix (~2 min)
    .venv/bin/python -m bench.bench_dataplane --quick        # a few 1 s runs (the test's)

Three targets, the same wrk runs against each, alternated round after round so that a
neighbour's load hits all three alike:

* `ostia`: a load balancer made through the API (`ostia up`'s stack: API, in-process
  worker, SQLite, a local amphora = an agent process and the haproxy it renders and runs),
  one HTTP listener, one pool, the backends as members;
* `tuned`: haproxy 2.6 with a configuration written by hand for this machine (threads,
  keep-alive both sides, `http-reuse always`, no logging), same backends;
* `direct`: wrk straight to the first backend.

The backends are nginx on loopback answering a fixed 200 with a short body (one worker
process each, no access log), so that they are not what is measured. wrk runs keep-alive
and with `Connection: close`, at 1 and 64 connections. Printed: req/s, latency p50 and p99
per target, and Ostia's ratio to the tuned haproxy. Everything started here is stopped on
exit, pass or fail.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import glob
import logging
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator

import httpx

from tests.support.backends import free_port
from tests.support.objects import check

BODY = "ok\n"
LOOPBACK = "127.0.0.1"


@dataclasses.dataclass(frozen=True)
class Target:
    host: str
    port: int
    pid: int  # the serving process (its children are counted too)


@dataclasses.dataclass(frozen=True)
class Scenario:
    keep_alive: bool
    connections: int

    @property
    def name(self) -> str:
        return f"{'keep-alive' if self.keep_alive else 'close'} c={self.connections}"


@dataclasses.dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0
    # CPU time the proxy (or backend, for `direct`) spent per request: on a machine shared
    # with other work, req/s follows the neighbours' load, this much less.
    cpu_us_per_request: float = float("nan")


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and its descendants (haproxy's master and worker,
    nginx's master and worker)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as handle:
                    pending.extend(int(child) for child in handle.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


# ---- processes -----------------------------------------------------------------------------


@contextlib.contextmanager
def nginx_backends(count: int, root: str) -> Iterator[list[Target]]:
    """`count` nginx servers on loopback, each one worker answering 200 `BODY`."""
    processes: list[subprocess.Popen[bytes]] = []
    addresses = []
    try:
        for index in range(count):
            port = free_port(LOOPBACK)
            prefix = os.path.join(root, f"nginx-{index}")
            os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
            config = os.path.join(prefix, "nginx.conf")
            with open(config, "w", encoding="utf-8") as handle:
                handle.write(f"""
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen {LOOPBACK}:{port} backlog=4096;
        location / {{ default_type text/plain; return 200 "{BODY.strip()}\\n"; }}
    }}
}}
""")
            processes.append(
                subprocess.Popen(
                    ["nginx", "-p", prefix, "-c", config, "-g", "daemon off;"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
            _wait_http(LOOPBACK, port, processes[-1])
            addresses.append(Target(LOOPBACK, port, processes[-1].pid))
        yield addresses
    finally:
        for process in processes:
            _stop(process)


def tuned_haproxy_config(port: int, backends: list[Target], threads: int, reuse: str = "always") -> str:
    """haproxy as an operator would tune it for this machine, by hand.

    `http-reuse always` lets a client's first request go out on an idle connection that
    another client opened: it is what makes `Connection: close` clients cheap, and it is
    only safe when the operator knows the backends tie no state to a connection.
    """
    servers = "\n".join(
        f"    server be{index} {backend.host}:{backend.port}" for index, backend in enumerate(backends)
    )
    return f"""global
    nbthread {threads}
    maxconn 20000
    no strict-limits
    tune.bufsize 16384

defaults
    mode http
    no log
    option http-keep-alive
    timeout connect 5s
    timeout client 50s
    timeout server 50s
    timeout http-keep-alive 60s

frontend fe
    bind {LOOPBACK}:{port} backlog 4096
    default_backend be

backend be
    balance roundrobin
    http-reuse {reuse}
{servers}
"""


@contextlib.contextmanager
def tuned_haproxy(root: str, backends: list[Target], threads: int, reuse: str = "always") -> Iterator[Target]:
    port = free_port(LOOPBACK)
    path = os.path.join(root, "tuned-haproxy.cfg")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(tuned_haproxy_config(port, backends, threads, reuse))
    subprocess.run(["haproxy", "-c", "-q", "-f", path], check=True)
    # Its own session, as the amphora's haproxy has (the agent starts it so): with Linux's
    # autogroup scheduling on a busy machine, a proxy in the client's session answers
    # several times faster than one in a session of its own, which would measure the
    # scheduler instead of the configuration.
    process = subprocess.Popen(
        ["haproxy", "-db", "-f", path],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _wait_http(LOOPBACK, port, process)
        yield Target(LOOPBACK, port, process.pid)
    finally:
        _stop(process)


@contextlib.contextmanager
def ostia_load_balancer(backends: list[Target], http_reuse: str = "safe") -> Iterator[tuple[Target, str]]:
    """A load balancer made through Ostia's API on a local amphora, and its haproxy
    configuration as the amphora runs it."""
    from tests.support.worker_stack import worker_stack

    overrides = {"haproxy_amphora": {"http_reuse": http_reuse}}
    with worker_stack(overrides=overrides) as stack, stack.api.client() as http:
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
                            "name": "bench",
                            "protocol": "HTTP",
                            "lb_algorithm": "ROUND_ROBIN",
                            "members": [
                                {"address": backend.host, "protocol_port": backend.port}
                                for backend in backends
                            ],
                        },
                    }
                ],
            }
        }
        lb = check(http.post("/v2/lbaas/loadbalancers", json=body), 201)["loadbalancer"]
        stack.wait_lb(http, lb["id"], timeout=120)
        _wait_http(vip, port)
        configs = [
            path
            for path in glob.glob(os.path.join(stack.amphorae.state_dir, "**", "*.cfg"), recursive=True)
            if lb["id"] in path
        ]
        if not configs:
            raise RuntimeError(f"no haproxy configuration of {lb['id']} under {stack.amphorae.state_dir}")
        path = max(configs, key=os.path.getmtime)
        with open(path, encoding="utf-8") as handle:
            config = handle.read()
        # The master: the one started with this configuration whose parent is not haproxy.
        found = subprocess.run(
            ["pgrep", "-o", "-f", f"haproxy -W -f {path}"], capture_output=True, text=True
        ).stdout.split()
        if not found:
            raise RuntimeError(f"no haproxy runs {path}")
        yield Target(vip, port, int(found[0])), config


def _wait_http(
    host: str, port: int, process: subprocess.Popen[bytes] | None = None, timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"{process.args!r} exited: {stderr}")
        try:
            if httpx.get(f"http://{host}:{port}/", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing answers on {host}:{port}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


# ---- wrk -----------------------------------------------------------------------------------


def run_wrk(
    host: str, port: int, scenario: Scenario, seconds: float, server_pid: int | None = None
) -> WrkResult:
    threads = min(2, scenario.connections)
    command = [
        "wrk",
        "--latency",
        f"-t{threads}",
        f"-c{scenario.connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
    ]
    if not scenario.keep_alive:
        command += ["-H", "Connection: close"]
    command.append(f"http://{host}:{port}/")
    cpu_before = tree_cpu_seconds(server_pid) if server_pid else 0.0
    output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=seconds + 30).stdout
    result = parse_wrk(output)
    if server_pid and result.requests:
        cpu = tree_cpu_seconds(server_pid) - cpu_before
        result.cpu_us_per_request = 1e6 * cpu / result.requests
    return result


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(output: str) -> WrkResult:
    """req/s, p50, p99 and errors (socket errors + non-2xx) from `wrk --latency`."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rate is None:
        raise ValueError(f"no Requests/sec in wrk's output:\n{output}")

    def percentile(label: str) -> float:
        found = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        return float(found.group(1)) * _UNITS_MS[found.group(2)] if found else float("nan")

    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors += int(non_2xx.group(1)) if non_2xx else 0
    done = re.search(r"(\d+) requests in", output)
    return WrkResult(
        float(rate.group(1)), percentile("50"), percentile("99"), errors, int(done.group(1)) if done else 0
    )


# ---- the run -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per wrk run")
    parser.add_argument(
        "--rounds", type=int, default=3, help="each scenario this many times per target, alternated"
    )
    parser.add_argument("--backends", type=int, default=1)
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="nbthread of the hand-tuned haproxy"
    )
    parser.add_argument(
        "--tuned-reuse",
        default="always",
        choices=("never", "safe", "aggressive", "always"),
        help="http-reuse of the hand-tuned haproxy",
    )
    parser.add_argument(
        "--ostia-reuse",
        default="safe",
        choices=("never", "safe", "aggressive", "always"),
        help="[haproxy_amphora] http_reuse of the Ostia load balancer",
    )
    parser.add_argument(
        "--quick", action="store_true", help="one 1 s round of keep-alive and close at 64 connections"
    )
    args = parser.parse_args(argv)
    scenarios = [Scenario(keep, conns) for keep in (True, False) for conns in (1, 64)]
    if args.quick:
        args.seconds, args.rounds = 1.0, 1
        scenarios = [Scenario(True, 64), Scenario(False, 64)]
    logging.basicConfig(level=logging.WARNING)
    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        f"{_version(['haproxy', '-v'])}; {_version(['nginx', '-v'])}; "
        f"{_version(['wrk', '--version'])}; {args.backends} backend(s); tuned: nbthread "
        f"{args.threads}, http-reuse {args.tuned_reuse}; Ostia: http_reuse {args.ostia_reuse}; "
        f"{args.rounds} x "
        f"{args.seconds:.0f} s per cell",
        flush=True,
    )
    root = tempfile.mkdtemp(prefix="ostia-dataplane-")
    results: dict[tuple[str, str], list[WrkResult]] = {}
    try:
        with (
            nginx_backends(args.backends, root) as backends,
            tuned_haproxy(root, backends, args.threads, args.tuned_reuse) as tuned,
            ostia_load_balancer(backends, args.ostia_reuse) as (ostia, config),
        ):
            print("Ostia's rendered configuration:\n" + config, flush=True)
            targets = {"ostia": ostia, "tuned": tuned, "direct": backends[0]}
            for round_index in range(args.rounds):
                for scenario in scenarios:
                    for target, where in targets.items():
                        result = run_wrk(where.host, where.port, scenario, args.seconds, where.pid)
                        results.setdefault((scenario.name, target), []).append(result)
                        print(
                            f"round {round_index + 1} {scenario.name:15} {target:6} "
                            f"{result.requests_per_second:9.0f} req/s  p50 "
                            f"{result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  "
                            f"{result.cpu_us_per_request:6.1f} CPU-us/req  "
                            f"errors {result.errors}",
                            flush=True,
                        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}\n")
    print(table(scenarios, results))
    print()
    for scenario in scenarios:  # the lines bench/run_all collects
        mine = _median(results[(scenario.name, "ostia")])
        theirs = _median(results[(scenario.name, "tuned")])
        print(
            f"ratio: dataplane {scenario.name} Ostia/tuned req/s = "
            f"{mine.requests_per_second / max(theirs.requests_per_second, 1e-9):.2f} "
            "(goal >= 0.95)"
        )
        print(
            f"ratio: dataplane {scenario.name} Ostia/tuned p99 = "
            f"{mine.p99_ms / max(theirs.p99_ms, 1e-9):.2f} (goal <= 1.10)"
        )
        print(
            f"ratio: dataplane {scenario.name} Ostia/tuned CPU per request = "
            f"{mine.cpu_us_per_request / max(theirs.cpu_us_per_request, 1e-9):.2f} "
            "(<= 1.05 is parity; steadier than req/s on a shared machine)"
        )
    return 0


def _median(results: list[WrkResult]) -> WrkResult:
    return WrkResult(
        statistics.median(r.requests_per_second for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
        sum(r.errors for r in results),
        sum(r.requests for r in results),
        statistics.median(r.cpu_us_per_request for r in results),
    )


def table(scenarios: list[Scenario], results: dict[tuple[str, str], list[WrkResult]]) -> str:
    """Medians per scenario and target; Ostia relative to the tuned haproxy."""
    lines = [
        "| scenario | Ostia req/s (p50 / p99 ms) | tuned haproxy req/s (p50 / p99 ms) | "
        "direct req/s (p50 / p99 ms) | Ostia / tuned req/s | Ostia / tuned p99 | "
        "CPU us per request Ostia / tuned |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for scenario in scenarios:
        cells = {target: _median(results[(scenario.name, target)]) for target in ("ostia", "tuned", "direct")}
        row = [
            f"{cells[t].requests_per_second:,.0f} ({cells[t].p50_ms:.2f} / "
            f"{cells[t].p99_ms:.2f})" + (f", {cells[t].errors} errors" if cells[t].errors else "")
            for t in ("ostia", "tuned", "direct")
        ]
        ostia, tuned = cells["ostia"], cells["tuned"]
        ratio = ostia.requests_per_second / max(tuned.requests_per_second, 1e-9)
        p99 = ostia.p99_ms / max(tuned.p99_ms, 1e-9)
        lines.append(
            f"| {scenario.name} | {' | '.join(row)} | {ratio:.2f}x | {p99:.2f}x | "
            f"{ostia.cpu_us_per_request:.1f} / {tuned.cpu_us_per_request:.1f} |"
        )
    return "\n".join(lines)


def _version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return f"{command[0]} ?"
    return (done.stdout or done.stderr).strip().splitlines()[0]


if __name__ == "__main__":
    raise SystemExit(main())
