"""How many load balancers one host holds: time per LB, memory per amphora, idle CPU.

    .venv/bin/python -m bench.bench_scale --quick       # 3 LBs (the test runs this)
    .venv/bin/python -m bench.bench_scale -n 200        # 100 one after another, 100 10 at a time
    .venv/bin/python -m bench.bench_scale -n 200 --idle-window 30
    .venv/bin/python -m bench.bench_scale -n 100 --private-agents   # no shared agent memory
    .venv/bin/python -m bench.bench_scale -n 100 --heartbeat-interval 2  # `ostia up`'s own

Runs the all-in-one service as a user does (`ostia up`: API, worker, health manager and
housekeeping in one process, SQLite, local amphorae) in a state directory of its own, with
two HTTP backends in this process. Amphorae heartbeat every 10 s, upstream Octavia's
default (`ostia up` itself uses 2 s, which costs the controller five times the CPU at rest),
with upstream's 60 s timeout. It creates N load balancers
(an HTTP listener, a pool, two members each, in one call): the first half one after another,
the rest 10 at a time. Then, with everything at rest and every amphora heartbeating:

* time per LB (POST -> ACTIVE and a request through the VIP answered by a member);
* proportional set size (PSS, /proc/PID/smaps_rollup) per amphora: agent + haproxy master +
  haproxy worker(s), and the whole host's use (every amphora + the controller, and how much
  MemAvailable fell);
* CPU of the controller process and of all agents together (and their haproxy) over an
  idle window, in % of one core;
* that every VIP serves.

Creation stops early, and the figures are those of the load balancers made so far, when
the host's MemAvailable falls under `--min-available-mib` (2 GiB): the machine is shared.

Everything is deleted at the end (cascade delete through the API, then the service stopped
and its state directory removed), pass or fail. Prints a Markdown table for
docs/performance.md. The machine's load average is printed too: figures from a shared
machine are only comparable with the same load.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.backends import HttpBackend, fetch, http_backends
from tests.support.live_api import free_port

BIN = Path(sys.executable).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
POLL = 0.02


# -- processes ----------------------------------------------------------------------------


def pss_kib(pid: int) -> int:
    """Proportional set size of one process in KiB (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def uss_kib(pid: int) -> int:
    """Memory only this process holds (private clean + dirty), in KiB."""
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return total


def zygotes(state: Path) -> list[int]:
    """The agent zygote of the state directory, if agents share their memory.

    Its socket may sit in a short directory elsewhere; it runs in amphora_dir, and the
    agents it forked (same command line) each run in their own amphora's directory.
    """
    amphora_dir = str(state / "amphorae")
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if (
                    b"ostia.cmd.agent_zygote" in Path(f"/proc/{entry}/cmdline").read_bytes()
                    and os.readlink(f"/proc/{entry}/cwd") == amphora_dir
                ):
                    found.append(int(entry))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children_of(pids: set[int]) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) in pids and fields[0] not in ("Z", "X"):
            found.append(int(entry))
    return found


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


@dataclass
class Amphora:
    root: Path
    agent: int | None
    masters: list[int] = field(default_factory=list)
    workers: list[int] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [pid for pid in (self.agent, *self.masters, *self.workers) if pid]


def amphorae(state: Path) -> list[Amphora]:
    """Every local amphora of the state directory with its agent and haproxy processes."""
    found = []
    for root in sorted((state / "amphorae").glob("*/")):
        agent = read_pid(root / "agent.pid")
        if agent is None or not os.path.exists(f"/proc/{agent}"):
            continue  # a build that failed, or an amphora being deleted
        amp = Amphora(root, agent)
        for pid_file in (root / "lb").glob("*/*.pid"):
            pid = read_pid(pid_file)
            if pid:
                amp.masters.append(pid)
        found.append(amp)
    masters = {pid for amp in found for pid in amp.masters}
    workers = children_of(masters) if masters else []
    parent = {}
    for pid in workers:
        with contextlib.suppress(OSError):
            parent[pid] = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    for amp in found:
        amp.workers = [pid for pid in workers if parent.get(pid) in amp.masters]
    return found


def mem_available_kib() -> int:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


# -- the service --------------------------------------------------------------------------


@dataclass
class Service:
    state: Path
    url: str
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        # `ostia up` writes its own pid (the process under any wrapper).
        return read_pid(self.state / "ostia.pid") or self.process.pid


def processes_under(top: Path) -> list[int]:
    """Live processes whose command line or working directory is under `top`."""
    found = []
    needle = str(top).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            cwd = os.readlink(f"/proc/{entry}/cwd").encode()
        except OSError:
            continue
        if needle in cmdline or cwd.startswith(needle):
            found.append(int(entry))
    return found


@contextlib.contextmanager
def all_in_one(private_agents: bool = False, heartbeat_interval: float = 10.0) -> Iterator[Service]:
    top = Path(tempfile.mkdtemp(prefix="ostia-scale-", dir="/tmp"))
    state = top / "state"
    api_port, hm_port = free_port(), free_port()
    extra = top / "extra.conf"
    extra.write_text(
        f"[health_manager]\nbind_port = {hm_port}\n"
        f"controller_ip_port_list = 127.0.0.1:{hm_port}\n"
        f"heartbeat_interval = {heartbeat_interval:g}\n"
        # Upstream's ratio (10 s / 60 s): a failover only for an amphora really gone.
        f"heartbeat_timeout = {max(8.0, heartbeat_interval * 6):g}\n"
        + ("[local_compute]\nshare_agent_memory = false\n" if private_agents else "")
    )
    log = open(top / "ostia.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [
            str(BIN / "ostia"),
            "up",
            "--port",
            str(api_port),
            "--state-dir",
            str(state),
            "--config-file",
            str(extra),
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    service = Service(state, f"http://127.0.0.1:{api_port}", process)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"ostia up exited: {(top / 'ostia.log').read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(service.url + "/", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("ostia up did not answer in 120 s")
            time.sleep(0.2)
        yield service
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        # Amphorae (and the agent zygote) outlive the service on purpose, like VMs: remove
        # what is left.
        leftovers = [pid for amp in amphorae(state) for pid in amp.pids]
        for pid in leftovers + processes_under(top):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(top, ignore_errors=True)


# -- load balancers -----------------------------------------------------------------------


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(POLL)


def lb_status(http: httpx.Client, lb_id: str) -> str:
    response = http.get(f"/v2/lbaas/loadbalancers/{lb_id}")
    if response.status_code == 404:
        return "DELETED"
    response.raise_for_status()
    status = str(response.json()["loadbalancer"]["provisioning_status"])
    if status == "ERROR":
        raise RuntimeError(f"load balancer {lb_id} went to ERROR: {response.text[:500]}")
    return status


def serves(vip: str, port: int) -> bool:
    try:
        return fetch(vip, port, timeout=2)[0] == 200
    except OSError:
        return False


@dataclass
class CreatedLB:
    id: str
    vip: str
    seconds: float


def create_lb(url: str, port: int, members: list[HttpBackend], index: int, timeout: float) -> CreatedLB:
    body = {
        "loadbalancer": {
            "name": f"scale-{index}",
            "vip_subnet_id": "private-subnet",
            "listeners": [
                {
                    "protocol": "HTTP",
                    "protocol_port": port,
                    "default_pool": {
                        "name": f"scale-{index}",
                        "protocol": "HTTP",
                        "lb_algorithm": "ROUND_ROBIN",
                        "members": [{"address": m.address, "protocol_port": m.port} for m in members],
                    },
                }
            ],
        }
    }
    with httpx.Client(base_url=url, timeout=60) as http:
        started = time.monotonic()
        response = http.post("/v2/lbaas/loadbalancers", json=body)
        if response.status_code != 201:
            raise RuntimeError(f"POST load balancer: {response.status_code} {response.text}")
        lb = response.json()["loadbalancer"]
        wait_for(lambda: lb_status(http, lb["id"]) == "ACTIVE", timeout, f"LB {index} ACTIVE")
        wait_for(lambda: serves(lb["vip_address"], port), timeout, f"LB {index} serving")
        return CreatedLB(lb["id"], lb["vip_address"], time.monotonic() - started)


def delete_all(url: str, lbs: list[CreatedLB], timeout: float) -> None:
    with httpx.Client(base_url=url, timeout=60) as http:
        for lb in lbs:
            http.delete(f"/v2/lbaas/loadbalancers/{lb.id}", params={"cascade": "true"})
        for lb in lbs:
            wait_for(
                lambda lb=lb: lb_status(http, lb.id) == "DELETED",  # type: ignore[misc]
                timeout,
                f"LB {lb.id} deleted",
            )


# -- the run ------------------------------------------------------------------------------


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


def room_left(min_available_kib: int) -> bool:
    """True while the host keeps more than the floor of memory available."""
    return mem_available_kib() > min_available_kib


def run(
    count: int,
    batch: int,
    idle_window: float,
    port: int,
    timeout: float,
    private_agents: bool = False,
    ratios: list[str] | None = None,
    heartbeat_interval: float = 10.0,
    min_available_mib: int = 2048,
) -> dict[str, str]:
    """Create, measure, delete; the table's rows (and bench/run_all's ratio lines added to
    `ratios`)."""
    if ratios is None:
        ratios = []
    load_before = os.getloadavg()
    available_before = mem_available_kib()
    results: dict[str, str] = {}
    floor = min_available_mib * 1024
    stopped = ""
    with (
        all_in_one(private_agents, heartbeat_interval) as service,
        http_backends("m1", "m2") as members,
    ):
        lbs: list[CreatedLB] = []
        one_by_one = max(1, count // 2)
        started = time.monotonic()
        for index in range(one_by_one):
            if not room_left(floor):
                stopped = f"stopped at {len(lbs)}: MemAvailable under {min_available_mib} MiB"
                break
            lbs.append(create_lb(service.url, port, members, index, timeout))
        one_by_one = len(lbs)
        sequential_wall = time.monotonic() - started
        rest = list(range(one_by_one, count)) if not stopped else []
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=batch) as pool:
            for offset in range(0, len(rest), batch):
                if not room_left(floor + batch * 32 * 1024):  # room for this batch too
                    stopped = f"stopped at {len(lbs)}: MemAvailable under {min_available_mib} MiB"
                    break
                chunk = rest[offset : offset + batch]
                lbs += pool.map(lambda i: create_lb(service.url, port, members, i, timeout), chunk)
        concurrent_wall = time.monotonic() - started
        made = len(lbs)
        if not made:
            raise RuntimeError(f"no load balancer made: {stopped}")

        # At rest: let the last reconciles and first heartbeats settle, then measure.
        time.sleep(min(5.0, idle_window))
        amps = amphorae(service.state)
        agents = [amp.agent for amp in amps if amp.agent]
        haproxies = [pid for amp in amps for pid in (*amp.masters, *amp.workers)]
        groups = ([service.pid], agents, haproxies)
        cpu_before = [{pid: cpu_seconds(pid) for pid in group} for group in groups]
        window_start = time.monotonic()
        time.sleep(idle_window)
        window = time.monotonic() - window_start
        cpu_after = [{pid: cpu_seconds(pid) for pid in group} for group in groups]
        # Only processes that lived through the whole window (a failover may replace some).
        cpu_used = [
            sum(after[pid] - before[pid] for pid in before if before[pid] and after.get(pid))
            for before, after in zip(cpu_before, cpu_after, strict=True)
        ]
        replaced = sum(1 for pid in agents if not cpu_after[1].get(pid))
        per_amp = [sum(pss_kib(pid) for pid in amp.pids) for amp in amps]
        agent_pss = [pss_kib(amp.agent) for amp in amps if amp.agent]
        master_pss = [pss_kib(pid) for amp in amps for pid in amp.masters]
        worker_pss = [pss_kib(pid) for amp in amps for pid in amp.workers]
        agent_uss = [uss_kib(amp.agent) for amp in amps if amp.agent]
        # Forked agents keep the zygote's command line: leave them out.
        zygote_pss = sum(pss_kib(pid) for pid in zygotes(service.state) if pid not in agents)
        controller_pss = pss_kib(service.pid)
        available_loaded = mem_available_kib()
        not_serving = [lb.vip for lb in lbs if not serves(lb.vip, port)]

        seq = [lb.seconds for lb in lbs[:one_by_one]]
        conc = [lb.seconds for lb in lbs[one_by_one:]]
        results["load balancers (amphorae)"] = f"{made} ({len(amps)})" + (
            f" of {count} asked; {stopped}" if stopped else ""
        )
        results["heartbeat interval"] = f"{heartbeat_interval:g} s"
        results["one after another: POST -> serving, median / max"] = (
            f"{statistics.median(seq) * 1000:.0f} ms / {max(seq) * 1000:.0f} ms"
            f" ({one_by_one} LBs, {sequential_wall / one_by_one * 1000:.0f} ms each)"
        )
        if conc:
            results[f"{batch} at a time: POST -> serving, median / max"] = (
                f"{statistics.median(conc) * 1000:.0f} ms / {max(conc) * 1000:.0f} ms"
                f" ({len(conc)} LBs, {concurrent_wall / len(conc) * 1000:.0f} ms of wall"
                " time each)"
            )
        results["MemAvailable before / at rest"] = f"{mib(available_before)} / {mib(available_loaded)}"
        results["PSS per amphora, median (agent + haproxy master + workers)"] = (
            f"{mib(statistics.median(per_amp))} ({mib(statistics.median(agent_pss))} + "
            f"{mib(statistics.median(master_pss))} + {mib(statistics.median(worker_pss))})"
        )
        results["agent's own memory (USS), median"] = mib(statistics.median(agent_uss))
        results["PSS of all amphorae + agent zygote + controller"] = (
            f"{mib(sum(per_amp) + zygote_pss + controller_pss)} (zygote {mib(zygote_pss)}, "
            f"controller {mib(controller_pss)})"
        )
        results["MemAvailable fell by"] = mib(available_before - available_loaded)
        results[f"controller CPU at rest ({window:.0f} s window)"] = (
            f"{cpu_used[0] / window * 100:.1f} % of one core"
        )
        results["agents' CPU at rest, together"] = f"{cpu_used[1] / window * 100:.1f} % of one core" + (
            f" ({replaced} agents gone during the window)" if replaced else ""
        )
        results["haproxy CPU at rest, together"] = f"{cpu_used[2] / window * 100:.1f} % of one core"
        results["VIPs serving"] = f"{made - len(not_serving)} / {made}"
        ratios.append(f"ratio: PSS per amphora, MiB = {statistics.median(per_amp) / 1024:.1f} (goal <= 20)")
        ratios.append(
            f"ratio: controller CPU at rest, % of a core with {len(amps)} amphorae = "
            f"{cpu_used[0] / window * 100:.1f} (goal < 5 with 1000)"
        )
        per_agent = cpu_used[1] / window * 100 / max(1, len(agents) - replaced)
        ratios.append(
            f"ratio: agents' CPU at rest, % of a core per 1000 (from {len(agents)}) = "
            f"{per_agent * 1000:.0f} (goal < 10)"
        )

        started = time.monotonic()
        delete_all(service.url, lbs, timeout)
        results["delete all (cascade) -> DELETED"] = f"{time.monotonic() - started:.1f} s"
        if not_serving:
            raise RuntimeError(f"VIPs not serving: {not_serving[:10]}")
    load_after = os.getloadavg()
    results["load average before / after (2 cores, shared)"] = f"{load_before[0]:.1f} / {load_after[0]:.1f}"
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--count", type=int, default=20, help="load balancers")
    parser.add_argument("--batch", type=int, default=10, help="created at a time (2nd half)")
    parser.add_argument("--idle-window", type=float, default=20.0, help="seconds at rest")
    parser.add_argument("--port", type=int, default=28080, help="listener port on every VIP")
    parser.add_argument("--timeout", type=float, default=120.0, help="per LB")
    parser.add_argument(
        "--private-agents",
        action="store_true",
        help="[local_compute] share_agent_memory = false: every agent a "
        "Python process started on its own (default: forked from one "
        "pre-loaded process)",
    )
    parser.add_argument(
        "--heartbeat-interval",
        type=float,
        default=10.0,
        help="seconds between an amphora's heartbeats (upstream's default 10; `ostia up` uses 2)",
    )
    parser.add_argument(
        "--min-available-mib",
        type=int,
        default=2048,
        help="stop creating load balancers when the host's MemAvailable falls under this",
    )
    parser.add_argument("--quick", action="store_true", help="3 LBs, 3 s idle window")
    args = parser.parse_args(argv)
    if args.quick:
        args.count, args.idle_window = 3, 3.0
    ratios: list[str] = []
    results = run(
        args.count,
        args.batch,
        args.idle_window,
        args.port,
        args.timeout,
        args.private_agents,
        ratios,
        args.heartbeat_interval,
        args.min_available_mib,
    )
    private = ", private agents" if args.private_agents else ""
    print(f"| measure (bench_scale, N={args.count}{private}) | value |")
    print("|---|---|")
    for name, value in results.items():
        print(f"| {name} | {value} |")
    print("\n".join(ratios))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
