"""A UDP listener on a real agent: it outlives a killed agent, the next agent adopts it
(statistics included), and a dead nginx is started again."""

from __future__ import annotations

import os
import signal
import socket
import uuid

from ostia.amphora.haproxy_process import process_alive
from ostia.common import heartbeat_format
from tests.integration.agent_fixtures import (  # noqa: F401 (fixtures)
    HEARTBEAT_KEY,
    agent,
    agent_ca,
    free_port,
    heartbeat_listener,
    processes_under,
)
from tests.support.health_stack import wait_until
from tests.support.udp_backends import ask, udp_backends


def stream_config(listener_id: str, port: int, member_port: int) -> bytes:
    return (
        f"#ostia:listener {listener_id}\n#ostia:pool p-{listener_id}\n"
        "upstream pool_1 {\n"
        f"    server 127.0.0.1:{member_port} weight=1 max_fails=0; #ostia:member m1\n"
        "}\n"
        f"server {{ listen 127.0.0.1:{port} udp; proxy_responses 1; "
        "proxy_pass pool_1; }\n"
    ).encode()


def workers_of(master: int) -> list[int]:
    """The worker processes of an nginx master."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[-1].split()
            except OSError:
                continue
            if fields[1] == str(master).encode():
                found.append(int(entry))
    return found


def master_pid(local_agent, listener_id: str) -> int:  # type: ignore[no-untyped-def]
    """The pid file's pid; 0 while there is none (nginx being started)."""
    path = os.path.join(local_agent.base_path, "udp", listener_id, "nginx.pid")
    try:
        with open(path) as handle:
            return int(handle.read())
    except (FileNotFoundError, ValueError):
        return 0


def test_udp_listener_outlives_the_agent_and_a_dead_nginx_comes_back(agent, heartbeat_listener):  # noqa: F811
    listener_id = str(uuid.uuid4())
    port = free_port("127.0.0.1", socket.SOCK_DGRAM)
    with udp_backends("m1") as (member,):
        agent.driver.upload_udp_listener_config(
            agent.amp, listener_id, stream_config(listener_id, port, member.port)
        )
        agent.driver.loadbalancer_action(agent.amp, listener_id, "reload")
        try:
            assert ask("127.0.0.1", port) == "m1"
            first = master_pid(agent, listener_id)

            agent.kill()
            assert ask("127.0.0.1", port) == "m1"  # the data plane does not need the agent
            agent.start()
            assert master_pid(agent, listener_id) == first
            assert {"status": "ACTIVE", "uuid": listener_id, "type": "UDP"} in agent.driver.list_listeners(
                agent.amp
            )
            for _ in range(3):
                assert ask("127.0.0.1", port) == "m1"
            # The new agent receives the running nginx's session log (same port as before).
            # The session served while no agent listened is lost, and so is the first one
            # after: nginx's log socket reports the refusal of the one before (ICMP).
            totals = {"totconns": 0}

            def counted() -> bool:
                beat = heartbeat_format.decode(heartbeat_listener.receive(5), HEARTBEAT_KEY)
                entry = beat["listeners"].get(listener_id)
                if entry is not None:
                    totals["totconns"] += entry["stats"]["totconns"]
                return totals["totconns"] >= 2

            wait_until(counted, 15, "sessions counted by the restarted agent")

            # A killed master leaves its worker serving; the agent replaces both.
            workers = workers_of(first)
            assert workers
            os.kill(first, signal.SIGKILL)
            wait_until(
                lambda: master_pid(agent, listener_id) not in (first, 0),
                10,
                "nginx started again by the agent",
            )
            assert not any(process_alive(pid) for pid in [first, *workers])
            assert ask("127.0.0.1", port) == "m1"
        finally:
            agent.driver.delete_listeners(agent.amp, listener_id)
        assert processes_under(os.path.join(agent.base_path, "udp", listener_id)) == []
