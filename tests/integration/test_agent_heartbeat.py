"""Heartbeats from a real agent: format, key, member health from haproxy, config refresh."""

from __future__ import annotations

import time

import pytest

from ostia.common import heartbeat_format
from tests.integration.agent_fixtures import (  # noqa: F401 (fixtures)
    HEARTBEAT_KEY,
    HeartbeatListener,
    HttpLoadBalancer,
    LocalAgent,
    agent,
    agent_ca,
    backends,
    get,
    heartbeat_listener,
)


def next_heartbeat(
    listener: HeartbeatListener,
    key: str = HEARTBEAT_KEY,  # noqa: F811
    until=lambda message: True,
    timeout: float = 8.0,
) -> dict:  # type: ignore[no-untyped-def]
    """The first heartbeat (decoded with `key`) for which `until` holds."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("no matching heartbeat arrived")
        message = heartbeat_format.decode(listener.receive(remaining), key)
        if until(message):
            return message


def test_heartbeat_is_signed_with_the_key_and_names_the_amphora(agent, heartbeat_listener):  # noqa: F811
    heartbeat_listener.drain()
    datagram = heartbeat_listener.receive(timeout=5)

    message = heartbeat_format.decode(datagram, HEARTBEAT_KEY)
    assert message["id"] == agent.amphora_id and message["ver"] == 3
    assert isinstance(message["seq"], int)
    assert set(message) >= {"listeners", "pools"}
    with pytest.raises(heartbeat_format.BadSignature):
        heartbeat_format.decode(datagram, "wrong-key")
    second = heartbeat_format.decode(heartbeat_listener.receive(timeout=5), HEARTBEAT_KEY)
    assert second["seq"] > message["seq"]


def test_listener_pool_and_member_status_and_deltas(agent, heartbeat_listener):  # noqa: F811
    lb = HttpLoadBalancer.new()
    with backends("one", "two") as (one, two):
        config = lb.config(
            agent.base_path, {one.member_id: one.port, two.member_id: two.port}, health_check=True
        )
        agent.driver.upload_haproxy_config(agent.amp, lb.lb_id, config)
        agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)
        pool_key = f"{lb.pool_id}:{lb.listener_id}"
        healthy = next_heartbeat(
            heartbeat_listener,
            until=lambda m: (
                m["pools"].get(pool_key, {}).get("members", {}).get(two.member_id) == "UP"
                and m["pools"][pool_key]["members"].get(one.member_id) == "UP"
            ),
        )
        for _ in range(4):
            assert get(lb.url)[0] == 200
        counted = next_heartbeat(
            heartbeat_listener,
            until=lambda m: m["listeners"].get(lb.listener_id, {}).get("stats", {}).get("totconns", 0) > 0,
        )

        two.stop()
        down = next_heartbeat(
            heartbeat_listener,
            until=lambda m: (
                m["pools"].get(pool_key, {}).get("members", {}).get(two.member_id, "UP").startswith("DOWN")
            ),
        )
        agent.driver.delete_listeners(agent.amp, lb.lb_id)

    assert healthy["listeners"][lb.listener_id]["status"] == "OPEN"
    assert healthy["pools"][pool_key]["status"] == "UP"
    stats = counted["listeners"][lb.listener_id]["stats"]
    assert set(stats) == {"rx", "tx", "conns", "totconns", "ereq"}
    assert stats["totconns"] == 4 and stats["rx"] > 0 and stats["tx"] > 0
    assert down["pools"][pool_key]["members"][one.member_id] == "UP"
    assert down["pools"][pool_key]["status"] == "UP"
    # deltas: the four requests were counted once, not again in later heartbeats
    assert down["listeners"][lb.listener_id]["stats"]["totconns"] == 0


def test_new_agent_config_changes_key_and_destination(agent, heartbeat_listener):  # noqa: F811
    other = HeartbeatListener()
    try:
        agent.driver.update_agent_config(
            agent.amp,
            agent.config_text(heartbeat_key="rotated-key", destinations=[f"127.0.0.1:{other.port}"]),
        )
        message = next_heartbeat(other, key="rotated-key")
        assert message["id"] == agent.amphora_id
        with open(agent.config_path) as handle:
            assert "rotated-key" in handle.read()
    finally:
        agent.driver.update_agent_config(agent.amp, agent.config_text())
        other.close()
    heartbeat_listener.drain()
    next_heartbeat(heartbeat_listener, key=HEARTBEAT_KEY)


def test_heartbeats_alternate_between_destinations(agent):  # noqa: F811
    first, second = HeartbeatListener(), HeartbeatListener()
    try:
        agent.driver.update_agent_config(
            agent.amp, agent.config_text(destinations=[f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}"])
        )
        a = next_heartbeat(first)
        b = next_heartbeat(second)
        c = next_heartbeat(first)
        assert a["seq"] < b["seq"] < c["seq"]
        assert c["seq"] - a["seq"] == 2
    finally:
        agent.driver.update_agent_config(agent.amp, agent.config_text())
        first.close()
        second.close()
