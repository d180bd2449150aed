"""Nothing of the controller's environment is readable inside an amphora.

A real local amphora (agent, haproxy master and worker) is started from this test process
with a marker variable in its environment; /proc/<pid>/environ of every process of the
amphora must not hold it, before and after a reload, and must hold only the listed names.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from ostia.drivers.compute import local_processes as procs
from tests.integration.agent_fixtures import (  # noqa: F401 (fixtures)
    CertificateAuthority,
    HttpLoadBalancer,
    agent_ca,
    get,
    local_agent,
)
from tests.integration.agent_fixtures import backends as fixture_backends
from tests.support import lb_graph
from tests.support.amphora_stack import LocalAmphora, LocalAmphoraStack, local_amphora_stack
from tests.support.backends import HttpBackend, fetch, free_port, http_backends

MARKER = "OSTIA_CONTROLLER_SECRET"
# What an amphora process may see: the explicit set (ostia.common.process_env) and the
# variables haproxy's master sets for its workers.
ALLOWED = {"PATH", "LANG", "LC_ALL", "PYTHONUNBUFFERED", "PYTHONPATH"}
HAPROXY_OWN_PREFIX = "HAPROXY_"


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    value = f"leak-{uuid.uuid4().hex}"
    monkeypatch.setenv(MARKER, value)
    return value


@pytest.fixture
def backends() -> Iterator[list[HttpBackend]]:
    with http_backends("alpha") as started:
        yield started


def environ(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as handle:
        raw = handle.read()
    return dict(entry.decode(errors="replace").partition("=")[::2] for entry in raw.split(b"\0") if entry)


def comm(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as handle:
        return handle.read().strip()


def amphora_processes(amp: LocalAmphora) -> dict[int, str]:
    return {pid: comm(pid) for pid in procs.processes_in(amp.files.root)}


def assert_clean(pid: int, secret: str) -> None:
    env = environ(pid)
    assert MARKER not in env, (pid, comm(pid))
    assert not [name for name, value in env.items() if secret in value], (pid, env)
    extra = {n for n in env if n not in ALLOWED and not n.startswith(HAPROXY_OWN_PREFIX)}
    assert not extra, (pid, comm(pid), extra)
    assert env["PATH"] and env["LC_ALL"] == "C.UTF-8"


def test_agent_and_haproxy_start_with_an_explicit_environment_only(
    secret: str,
    backends: list[HttpBackend],
) -> None:
    assert os.environ[MARKER] == secret  # the controller (this process) has it
    with local_amphora_stack() as stack:
        amp = stack.build_amphora()
        vip = stack.allocate_vip()
        stack.plug_vip(amp, vip)
        lb = lb_graph.load_balancer(vip)
        listener = lb_graph.listener(lb, free_port(vip))
        pool = lb_graph.pool(lb, listener)
        lb_graph.member(pool, backends[0].address, backends[0].port)
        stack.push(amp, lb)
        assert fetch(vip, listener.protocol_port) == (200, "alpha")

        first = amphora_processes(amp)
        agent = amp.agent_pid()
        assert agent in first
        haproxies = [pid for pid, name in first.items() if name == "haproxy"]
        assert len(haproxies) >= 2, first  # master and at least one worker
        for pid in first:
            assert_clean(pid, secret)

        # A reload re-executes the master and starts new workers: still nothing inherited.
        _push_again(stack, amp, lb)
        assert fetch(vip, listener.protocol_port) == (200, "alpha")
        after = amphora_processes(amp)
        assert set(after) - set(first), "the reload started no new worker"
        for pid in after:
            assert_clean(pid, secret)


def _push_again(stack: LocalAmphoraStack, amp: LocalAmphora, lb: object) -> None:
    lb.listeners[0].timeout_client_data = 40000  # type: ignore[attr-defined]
    stack.push(amp, lb)  # type: ignore[arg-type]


def test_haproxy_does_not_inherit_the_agents_environment(
    secret: str,
    agent_ca: CertificateAuthority,  # noqa: F811
) -> None:
    """An agent that itself holds the marker (started straight from this process) still
    starts haproxy with the explicit set: not in /proc, and not through `env()` either."""
    with local_agent(agent_ca) as agent, fixture_backends("one") as (one,):
        assert agent.process is not None and MARKER in environ(agent.process.pid)
        lb = HttpLoadBalancer.new()
        ask = (
            f"http-request return status 200 content-type text/plain "
            f'lf-string "env=%[env({MARKER})]" if {{ path /env }}'
        )
        config = lb.config(agent.base_path, {one.member_id: one.port}, extra_frontend=ask)
        try:
            agent.driver.upload_haproxy_config(agent.amp, lb.lb_id, config)
            agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)
            assert get(lb.url + "env") == (200, "env=")
            assert get(lb.url)[0] == 200
            pids = agent.haproxy_processes(lb.lb_id)
            assert len(pids) >= 2, pids
            for pid in pids:
                assert_clean(pid, secret)
        finally:
            agent.driver.delete_listeners(agent.amp, lb.lb_id)
