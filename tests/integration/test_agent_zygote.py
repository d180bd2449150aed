"""`[local_compute] share_agent_memory`: agents forked from one pre-loaded process are whole
agents (mutual TLS, haproxy, heartbeats), share their modules' memory, and die cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator

import pytest

from tests.support import lb_graph
from tests.support.amphora_stack import LocalAmphoraStack, local_amphora_stack
from tests.support.backends import fetch, free_port, http_backends


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if text.encode() in handle.read():
                        found.append(int(entry))
    return found


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as handle:
        return dict(line.rstrip("\n").split(":\t", 1) for line in handle if ":\t" in line)


def _rollup(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/smaps_rollup") as handle:
        return {
            line.split()[0].rstrip(":"): int(line.split()[1]) for line in handle if line.split()[-1] == "kB"
        }


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}"):
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def stack() -> Iterator[LocalAmphoraStack]:
    with local_amphora_stack(overrides={"local_compute": {"share_agent_memory": True}}) as built:
        try:
            yield built
        finally:
            built.close()
            # The zygote outlives the controller on purpose; this test owns this one.
            for pid in _processes_mentioning(built.compute.amphora_dir):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def test_forked_agents_serve_share_memory_and_leave_no_zombie(stack: LocalAmphoraStack):
    # The zygote of the first build serves the second one too.
    with http_backends("a", "b") as (a, b):
        amps = [stack.build_amphora(), stack.build_amphora()]
        vip = stack.allocate_vip()
        stack.plug_vip(amps[0], vip)
        lb = lb_graph.load_balancer(vip)
        listener = lb_graph.listener(lb, free_port(vip))
        pool = lb_graph.pool(lb, listener)
        lb_graph.member(pool, a.address, a.port)
        lb_graph.member(pool, b.address, b.port)
        stack.push(amps[0], lb)
        answers = {fetch(vip, listener.protocol_port)[1] for _ in range(4)}
        heartbeat = stack.heartbeats.wait_for(lambda _: True, timeout=10, amphora_id=amps[1].id)

        pids = [amp.agent_pid() for amp in amps]
        # Forked agents keep the zygote's command line; their pids tell them apart.
        zygote = [
            pid
            for pid in _processes_mentioning(os.path.join(stack.compute.amphora_dir, "agent-zygote.sock"))
            if pid not in pids
        ]
        parents = {int(_status(pid)["PPid"]) for pid in pids if pid}
        working_dirs = [os.readlink(f"/proc/{pid}/cwd") for pid in pids if pid]
        memory = _rollup(pids[0] or 0)

        os.kill(pids[1] or 0, signal.SIGKILL)
        reaped = _gone(pids[1] or 0, timeout=5)
        stack.compute.delete(amps[1].instance.compute_id)
        zygote_kept = os.path.exists(f"/proc/{zygote[0]}")
        stack.compute.delete(amps[0].instance.compute_id)
        zygote_stopped = _gone(zygote[0], timeout=5)

    assert answers == {"a", "b"}
    assert heartbeat["id"] == amps[1].id
    assert len(zygote) == 1 and parents == set(zygote)
    assert working_dirs == [amp.files.root for amp in amps]
    # Most of an agent is its modules: several MiB of it stays shared with the zygote.
    assert memory["Shared_Clean"] + memory["Shared_Dirty"] > 8 * 1024, memory
    # The zygote reaps a dead agent at once: no zombie left in /proc.
    assert reaped
    # It serves while an amphora is left and stops with the last one.
    assert zygote_kept and zygote_stopped
