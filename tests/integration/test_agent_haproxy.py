"""The agent runs one real haproxy per load balancer: upload, serve, reload, survive, delete."""

from __future__ import annotations

import http.client
import os
import signal
import stat
import threading
import time

import pytest

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


def test_uploaded_config_serves_and_requests_alternate_between_members(agent, lb):  # noqa: F811
    with backends("one", "two") as (one, two):
        config = lb.config(agent.base_path, {one.member_id: one.port, two.member_id: two.port})
        etag = agent.driver.upload_haproxy_config(agent.amp, lb.lb_id, config)
        agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)

        answers = [get(lb.url) for _ in range(4)]

    assert {status for status, _ in answers} == {200}
    names = [body for _, body in answers]
    assert names[0] != names[1] and names[0::2] == [names[0]] * 2 and set(names) == {"one", "two"}
    import hashlib

    assert etag == hashlib.md5(config.encode()).hexdigest()
    assert agent.driver.get_haproxy_config(agent.amp, lb.lb_id) == config
    path = os.path.join(agent.base_path, lb.lb_id, "haproxy.cfg")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_invalid_upload_is_refused_with_haproxy_output_and_old_config_keeps_serving(agent, lb):  # noqa: F811
    with backends("one") as (one,):
        good = lb.config(agent.base_path, {one.member_id: one.port})
        agent.driver.upload_haproxy_config(agent.amp, lb.lb_id, good)
        agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)

        with pytest.raises(exceptions.AgentInvalidRequest) as refused:
            agent.driver.upload_haproxy_config(agent.amp, lb.lb_id, good + "    no-such-keyword here\n")
        agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)

        assert get(lb.url) == (200, "one")
    assert refused.value.message == "Invalid request"
    assert "no-such-keyword" in str(refused.value.details)
    assert agent.driver.get_haproxy_config(agent.amp, lb.lb_id) == good


def test_reload_applies_a_new_config_with_the_same_master(agent, lb):  # noqa: F811
    with backends("one", "two") as (one, two):
        agent.driver.upload_haproxy_config(
            agent.amp, lb.lb_id, lb.config(agent.base_path, {one.member_id: one.port})
        )
        agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)
        master_before = _master_pid(agent, lb.lb_id)

        agent.driver.upload_haproxy_config(
            agent.amp, lb.lb_id, lb.config(agent.base_path, {two.member_id: two.port})
        )
        agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)

        assert [get(lb.url)[1] for _ in range(3)] == ["two"] * 3
    assert _master_pid(agent, lb.lb_id) == master_before


def test_reloads_under_traffic_fail_no_request(agent, lb):  # noqa: F811
    with backends("one", "two") as (one, two):
        # The header makes each change a reload (members alone change at runtime).
        configs = [
            lb.config(agent.base_path, {one.member_id: one.port}),
            lb.config(
                agent.base_path,
                {one.member_id: one.port, two.member_id: two.port},
                extra_frontend="http-response set-header X-Config two",
            ),
        ]
        agent.driver.upload_haproxy_config(agent.amp, lb.lb_id, configs[0])
        agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)
        stop = threading.Event()
        results: dict[str, list] = {"ok": [], "errors": []}

        def keep_alive_client() -> None:
            conn = http.client.HTTPConnection(lb.vip, lb.port, timeout=5)
            while not stop.is_set():
                try:
                    conn.request("GET", "/")
                    response = conn.getresponse()
                    response.read()
                    results["ok" if response.status == 200 else "errors"].append(response.status)
                    if response.getheader("connection", "").lower() == "close":
                        conn.close()
                except (OSError, http.client.HTTPException) as exc:
                    results["errors"].append(repr(exc))
                    conn.close()
                stop.wait(0.002)
            conn.close()

        def new_connection_client() -> None:
            while not stop.is_set():
                try:
                    status, _ = get(lb.url)
                    results["ok" if status == 200 else "errors"].append(status)
                except (OSError, http.client.HTTPException) as exc:
                    results["errors"].append(repr(exc))
                stop.wait(0.002)

        clients = [threading.Thread(target=keep_alive_client), threading.Thread(target=new_connection_client)]
        for client in clients:
            client.start()
        try:
            for index in range(1, 6):
                agent.driver.upload_haproxy_config(agent.amp, lb.lb_id, configs[index % 2])
                agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)
        finally:
            stop.set()
            for client in clients:
                client.join(timeout=10)

    assert results["errors"] == []
    assert len(results["ok"]) > 40


def test_stop_then_start_through_the_action_route(agent, lb):  # noqa: F811
    with backends("one") as (one,):
        agent.driver.upload_haproxy_config(
            agent.amp, lb.lb_id, lb.config(agent.base_path, {one.member_id: one.port})
        )
        agent.driver.loadbalancer_action(agent.amp, lb.lb_id, "start")
        assert get(lb.url) == (200, "one")

        agent.driver.loadbalancer_action(agent.amp, lb.lb_id, "stop")
        assert agent.haproxy_processes(lb.lb_id) == []
        with pytest.raises(OSError):
            get(lb.url, timeout=1)
        assert [
            entry["status"]
            for entry in agent.driver.list_listeners(agent.amp)
            if entry["uuid"] == lb.listener_id
        ] == ["STOPPED"]

        agent.driver.loadbalancer_action(agent.amp, lb.lb_id, "START")
        assert get(lb.url) == (200, "one")


def test_list_listeners_reports_each_frontend_with_its_mode(agent, lb):  # noqa: F811
    agent.driver.upload_haproxy_config(agent.amp, lb.lb_id, lb.config(agent.base_path, {}))
    agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)

    listeners = agent.driver.list_listeners(agent.amp)

    assert {"status": "ACTIVE", "uuid": lb.listener_id, "type": "HTTP"} in listeners
    details = agent.driver.get_details(agent.amp)
    assert lb.listener_id in details["listeners"] and details["haproxy_count"] >= 1


def test_delete_listeners_leaves_no_haproxy_process_and_no_files(agent, lb):  # noqa: F811
    agent.driver.upload_haproxy_config(agent.amp, lb.lb_id, lb.config(agent.base_path, {}))
    agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)
    agent.driver.upload_lb_certificate(agent.amp, lb.lb_id, "listener.pem", b"PEM")
    assert agent.haproxy_processes(lb.lb_id)

    agent.driver.delete_listeners(agent.amp, lb.lb_id)

    assert agent.haproxy_processes(lb.lb_id) == []
    assert not os.path.exists(os.path.join(agent.base_path, lb.lb_id))
    assert not os.path.exists(agent.stats_socket(lb.lb_id))
    assert not os.path.exists(os.path.join(agent.base_cert_dir, lb.lb_id))
    with pytest.raises(exceptions.AgentNotFound):
        agent.driver.get_haproxy_config(agent.amp, lb.lb_id)
    agent.driver.delete_listeners(agent.amp, lb.lb_id)  # unknown id: still fine


def test_haproxy_outlives_a_killed_agent_and_a_new_agent_takes_it_over(agent, lb):  # noqa: F811
    with backends("one", "two") as (one, two):
        agent.driver.upload_haproxy_config(
            agent.amp, lb.lb_id, lb.config(agent.base_path, {one.member_id: one.port})
        )
        agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)
        master = _master_pid(agent, lb.lb_id)

        agent.kill()
        assert get(lb.url) == (200, "one")
        agent.start()

        assert [
            entry["status"]
            for entry in agent.driver.list_listeners(agent.amp)
            if entry["uuid"] == lb.listener_id
        ] == ["ACTIVE"]
        agent.driver.upload_haproxy_config(
            agent.amp, lb.lb_id, lb.config(agent.base_path, {two.member_id: two.port})
        )
        agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)
        assert get(lb.url) == (200, "two")
    assert _master_pid(agent, lb.lb_id) == master


def test_a_crashed_haproxy_is_started_again_but_a_stopped_one_is_not(agent, lb):  # noqa: F811
    with backends("one") as (one,):
        agent.driver.upload_haproxy_config(
            agent.amp, lb.lb_id, lb.config(agent.base_path, {one.member_id: one.port})
        )
        agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)
        crashed = _master_pid(agent, lb.lb_id)

        os.kill(crashed, signal.SIGKILL)
        _wait_for_new_master(agent, lb, crashed)
        assert get(lb.url) == (200, "one")

        agent.driver.loadbalancer_action(agent.amp, lb.lb_id, "stop")
        time.sleep(1.5)  # longer than the supervisor's period
        assert agent.haproxy_processes(lb.lb_id) == []


def test_a_haproxy_of_the_previous_agent_that_crashes_is_started_again(agent, lb):  # noqa: F811
    # After a restart of the agent the master is not its child: the supervisor watches
    # it all the same (a pidfd), without looking every second.
    with backends("one") as (one,):
        agent.driver.upload_haproxy_config(
            agent.amp, lb.lb_id, lb.config(agent.base_path, {one.member_id: one.port})
        )
        agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)
        agent.kill()
        agent.start()
        inherited = _master_pid(agent, lb.lb_id)

        os.kill(inherited, signal.SIGKILL)
        _wait_for_new_master(agent, lb, inherited)
        assert get(lb.url) == (200, "one")


def _wait_for_new_master(agent: LocalAgent, lb: HttpLoadBalancer, crashed: int) -> None:  # noqa: F811
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if (
            os.path.exists(_pid_path(agent, lb.lb_id))
            and _master_pid(agent, lb.lb_id) != crashed
            and agent.haproxy_processes(lb.lb_id)
        ):
            return
        time.sleep(0.1)
    raise AssertionError(f"haproxy of {lb.lb_id} was not started again after {crashed} died")


def test_unknown_load_balancer_and_unknown_action_are_refused(agent):  # noqa: F811
    with pytest.raises(exceptions.AgentNotFound) as missing:
        agent.driver.get_haproxy_config(agent.amp, "0c6ba4a4-5c52-4b8e-a4b5-0b9dc24b0000")
    assert missing.value.message == "Loadbalancer Not Found"
    with pytest.raises(exceptions.AgentNotFound):
        agent.driver.loadbalancer_action(agent.amp, "0c6ba4a4-5c52-4b8e-a4b5-0b9dc24b0000", "reload")
    with pytest.raises(ValueError):
        agent.driver.loadbalancer_action(agent.amp, "x", "restart")


def _pid_path(agent: LocalAgent, lb_id: str) -> str:  # noqa: F811
    return os.path.join(agent.base_path, lb_id, f"{lb_id}.pid")


def _master_pid(agent: LocalAgent, lb_id: str) -> int:  # noqa: F811
    with open(_pid_path(agent, lb_id)) as handle:
        return int(handle.read().strip() or 0)
