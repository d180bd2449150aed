"""A configuration haproxy cannot run is refused with 400 and the last one that ran stays.

Real agent and haproxy. The usual case is a port something else holds on the VIP: `haproxy
-c` passes, the bind fails. The agent finds it before reloading (a failed bind during a
reload would pause every listener of the load balancer for about a second), answers 400
with haproxy's wording, and keeps the configuration that ran in place, so the listeners
that worked keep serving now and after any restart of haproxy.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid

import pytest

from ostia.amphora import bind_check
from ostia.common import exceptions
from tests.integration.agent_fixtures import (  # noqa: F401 (fixtures)
    HttpLoadBalancer,
    LocalAgent,
    agent,
    agent_ca,
    backends,
    get,
    heartbeat_listener,
)


@pytest.fixture
def lb(agent: LocalAgent):  # noqa: F811
    balancer = HttpLoadBalancer.new()
    yield balancer
    agent.driver.delete_listeners(agent.amp, balancer.lb_id)


def _held_port(vip: str) -> socket.socket:
    holder = socket.socket()
    holder.bind((vip, 0))
    holder.listen(1)
    return holder


def _with_frontend(config: str, lb: HttpLoadBalancer, port: int) -> str:
    name = str(uuid.uuid4())
    return config + (
        f"frontend {name}\n    bind {lb.vip}:{port}\n    default_backend {lb.pool_id}:{lb.listener_id}\n"
    )


def test_reload_onto_a_taken_port_is_refused_and_the_running_listener_never_stops(agent, lb):  # noqa: F811
    with backends("one") as (one,), _held_port(lb.vip) as holder:
        good = lb.config(agent.base_path, {one.member_id: one.port})
        agent.driver.upload_haproxy_config(agent.amp, lb.lb_id, good)
        agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)
        taken = holder.getsockname()[1]
        bad = _with_frontend(good, lb, taken)

        failures: list[object] = []
        stop = threading.Event()

        def keep_asking() -> None:
            while not stop.is_set():
                try:
                    if get(lb.url)[0] != 200:
                        failures.append("status")
                except OSError as exc:
                    failures.append(exc)

        client = threading.Thread(target=keep_asking, daemon=True)
        client.start()
        try:
            agent.driver.upload_haproxy_config(agent.amp, lb.lb_id, bad)  # haproxy -c passes
            with pytest.raises(exceptions.AgentInvalidRequest) as refused:
                agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)
        finally:
            stop.set()
            client.join(5)
        assert failures == []
        assert get(lb.url) == (200, "one")
    assert f"cannot bind socket (Address already in use) for [{lb.vip}:{taken}]" in str(refused.value.details)
    # The configuration that runs is the one on disk; the refused one is kept aside.
    assert agent.driver.get_haproxy_config(agent.amp, lb.lb_id) == good
    with open(os.path.join(agent.base_path, lb.lb_id, "haproxy.cfg.new-failed")) as handle:
        assert handle.read() == bad
    # Once the port is free, the same configuration goes through.
    agent.driver.upload_haproxy_config(agent.amp, lb.lb_id, bad)
    agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)
    assert agent.driver.get_haproxy_config(agent.amp, lb.lb_id) == bad


def test_first_start_onto_a_taken_port_is_refused_and_leaves_nothing_running(agent, lb):  # noqa: F811
    with backends("one") as (one,), _held_port(lb.vip) as holder:
        lb.port = holder.getsockname()[1]
        config = lb.config(agent.base_path, {one.member_id: one.port})
        agent.driver.upload_haproxy_config(agent.amp, lb.lb_id, config)
        with pytest.raises(exceptions.AgentInvalidRequest) as refused:
            agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)
        assert "cannot bind socket" in str(refused.value.details)
        with pytest.raises(exceptions.AgentNotFound):
            agent.driver.get_haproxy_config(agent.amp, lb.lb_id)
        assert agent.haproxy_processes(lb.lb_id) == []


def test_binds_are_read_per_frontend_and_only_new_taken_ones_count() -> None:
    config = (
        "global\n    stats socket /x.sock\nfrontend a\n    bind 127.0.0.1:80\n"
        "    bind 2001:db8::1:443 ssl crt /x\nlisten b\n    bind [::1]:81 # note\n"
        "backend c\n    server s 127.0.0.1:80\nfrontend d\n    bind /run/x.sock\n"
    )
    assert [(b.frontend, str(b)) for b in bind_check.binds(config)] == [
        ("a", "127.0.0.1:80"),
        ("a", "[2001:db8::1]:443"),
        ("b", "[::1]:81"),
    ]
    with _held_port("127.0.0.1") as holder:
        port = holder.getsockname()[1]
        new = f"frontend a\n    bind 127.0.0.1:{port}\n"
        assert [b.port for b in bind_check.taken(new, None)] == [port]
        assert bind_check.taken(new, running=new) == []
        # Through a launcher (`ip netns exec <ns>` in namespace amphorae), in a process.
        assert [b.port for b in bind_check.taken(new, None, launcher=["env"])] == [port]
    assert bind_check.taken(new, None, launcher=["env"]) == []
