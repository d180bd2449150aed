"""Member changes reach a real haproxy through its runtime API, without a reload; the file
written is the same, so a restart serves the same servers; other changes still reload."""

from __future__ import annotations

import collections
import os

import pytest

from ostia.amphora.haproxy_limits import descriptor_cap
from ostia.amphora.haproxy_process import MasterStatus, parse_show_proc
from ostia.amphora.haproxy_socket import send_command
from ostia.common import exceptions
from tests.integration.agent_fixtures import (  # noqa: F401 (fixtures)
    Backend,
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


def _config(
    agent: LocalAgent,  # noqa: F811
    lb: HttpLoadBalancer,
    members: list[tuple[Backend, int, bool]],
    extra: str = "",
) -> str:
    """The LB with `members` as (backend, weight, enabled) server lines."""
    text = lb.config(agent.base_path, {}, extra_frontend=extra)
    for backend, weight, enabled in members:
        text += f"    server {backend.member_id} 127.0.0.1:{backend.port} weight {weight}"
        text += "\n" if enabled else " disabled\n"
    return text


def _push(agent: LocalAgent, lb: HttpLoadBalancer, config: str) -> None:  # noqa: F811
    """What the worker does: upload, then ask for a reload."""
    agent.driver.upload_haproxy_config(agent.amp, lb.lb_id, config)
    agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)


def _processes(agent: LocalAgent, lb: HttpLoadBalancer) -> MasterStatus:  # noqa: F811
    status = parse_show_proc(send_command(os.path.join(agent.base_path, lb.lb_id, "cli"), "show proc"))
    assert status is not None
    return status


def _answers(lb: HttpLoadBalancer, count: int) -> collections.Counter[str]:
    results = [get(lb.url) for _ in range(count)]
    assert {status for status, _ in results} == {200}, results
    return collections.Counter(body for _, body in results)


def _servers(agent: LocalAgent, lb: HttpLoadBalancer) -> set[tuple[object, ...]]:  # noqa: F811
    """(name, address, port, in maintenance, weight) of every server haproxy runs."""
    text = send_command(agent.stats_socket(lb.lb_id), "show servers state")
    rows: set[tuple[object, ...]] = set()
    for line in text.splitlines()[2:]:
        fields = line.split()
        if len(fields) > 18:
            # Admin state bits: 1 maintenance set on the CLI, 4 set by the configuration
            # (`disabled`); either is the MAINT a user sees.
            rows.add((fields[3], fields[4], fields[18], int(fields[6]) & 5 != 0, fields[7]))
    return rows


def test_member_add_weight_disable_and_remove_change_traffic_without_a_reload(agent, lb):  # noqa: F811
    with backends("one", "two") as (one, two):
        _push(agent, lb, _config(agent, lb, [(one, 1, True)]))
        assert _answers(lb, 2) == {"one": 2}
        before = _processes(agent, lb)

        _push(agent, lb, _config(agent, lb, [(one, 1, True), (two, 1, True)]))
        added = _answers(lb, 4)
        _push(agent, lb, _config(agent, lb, [(one, 1, True), (two, 3, True)]))
        weighted = _answers(lb, 40)
        _push(agent, lb, _config(agent, lb, [(one, 1, True), (two, 3, False)]))
        disabled = _answers(lb, 4)
        _push(agent, lb, _config(agent, lb, [(one, 1, True), (two, 3, True)]))
        enabled = _answers(lb, 40)
        _push(agent, lb, _config(agent, lb, [(one, 1, True)]))
        removed = _answers(lb, 4)
        after = _processes(agent, lb)

    assert added == {"one": 2, "two": 2}
    # Weights 1:3 over 40 requests: 10 and 30, within the slack of a cycle begun mid-way.
    assert abs(weighted["one"] - 10) <= 2 and weighted["one"] + weighted["two"] == 40
    assert disabled == {"one": 4}
    assert abs(enabled["one"] - 10) <= 2 and enabled["one"] + enabled["two"] == 40
    assert removed == {"one": 4}
    assert (after.master_pid, after.workers, after.reloads) == (
        before.master_pid,
        before.workers,
        before.reloads,
    )
    assert after.old_workers == ()


def test_restart_from_the_written_file_runs_the_same_servers(agent, lb):  # noqa: F811
    with backends("one", "two", "three") as (one, two, three):
        _push(agent, lb, _config(agent, lb, [(one, 1, True), (two, 1, True)]))
        reloads = _processes(agent, lb).reloads
        _push(agent, lb, _config(agent, lb, [(two, 5, False), (three, 2, True)]))
        assert _processes(agent, lb).reloads == reloads
        runtime = _servers(agent, lb)

        agent.driver.loadbalancer_action(agent.amp, lb.lb_id, "stop")
        agent.driver.loadbalancer_action(agent.amp, lb.lb_id, "start")
        restarted = _servers(agent, lb)
        answers = _answers(lb, 3)
        # A member disabled by the file it started from comes back at runtime too.
        reloads = _processes(agent, lb).reloads
        _push(agent, lb, _config(agent, lb, [(two, 5, True), (three, 2, True)]))
        enabled = _answers(lb, 35)
        reloads_after = _processes(agent, lb).reloads

    assert {row[0] for row in runtime} == {two.member_id, three.member_id}
    assert restarted == runtime
    assert answers == {"three": 3}
    assert abs(enabled["three"] - 10) <= 2 and enabled["two"] + enabled["three"] == 35
    assert reloads_after == reloads


def test_a_change_beyond_server_lines_still_reloads(agent, lb):  # noqa: F811
    with backends("one", "two") as (one, two):
        _push(agent, lb, _config(agent, lb, [(one, 1, True)]))
        before = _processes(agent, lb)
        _push(
            agent,
            lb,
            _config(
                agent, lb, [(one, 1, True), (two, 1, True)], extra="http-response set-header X-Changed yes"
            ),
        )
        answers = _answers(lb, 4)
        after = _processes(agent, lb)

    assert answers == {"one": 2, "two": 2}
    assert after.master_pid == before.master_pid
    assert after.reloads == before.reloads + 1
    assert after.workers != before.workers


def test_a_server_line_haproxy_refuses_is_undone_refused_and_the_old_config_serves(agent, lb):  # noqa: F811
    with backends("one", "two", "three") as (one, two, three):
        good = _config(agent, lb, [(one, 1, True)])
        _push(agent, lb, good)
        before = _processes(agent, lb)
        bad = _config(agent, lb, [(one, 1, True), (two, 1, True), (three, 1, True)])
        bad = bad.replace(
            f"127.0.0.1:{three.port} weight 1",
            f"127.0.0.1:{three.port} weight 1 ssl ca-file /nonexistent/ca.pem",
        )

        # The upload skips `haproxy -c` (members only); the reload finds the refusal.
        agent.driver.upload_haproxy_config(agent.amp, lb.lb_id, bad)
        with pytest.raises(exceptions.AgentInvalidRequest) as refused:
            agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)
        answers = _answers(lb, 4)
        servers = _servers(agent, lb)
        after = _processes(agent, lb)

    assert "ca.pem" in str(refused.value)
    assert answers == {"one": 4}
    # `two`, added before `three` was refused, was taken out again.
    assert {row[0] for row in servers} == {one.member_id}
    assert agent.driver.get_haproxy_config(agent.amp, lb.lb_id) == good
    assert (after.master_pid, after.reloads) == (before.master_pid, before.reloads)


def _info(agent: LocalAgent, lb: HttpLoadBalancer) -> dict[str, str]:  # noqa: F811
    text = send_command(agent.stats_socket(lb.lb_id), "show info")
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


def test_haproxy_connection_limit_is_capped_to_its_descriptors(agent, lb):  # noqa: F811
    with backends("one") as (one,):
        config = _config(agent, lb, [(one, 1, True)]).replace("maxconn 1000", "maxconn 50000")
        _push(agent, lb, config)
        info = _info(agent, lb)
        answers = _answers(lb, 2)
        with open(f"/proc/{_processes(agent, lb).master_pid}/limits") as handle:
            hard_limit = int(next(line for line in handle if line.startswith("Max open files")).split()[4])

    assert answers == {"one": 2}
    if hard_limit < 2 * 50000:
        # The descriptor table is sized to what the process may open, not to 50000.
        assert int(info["Maxconn"]) == descriptor_cap(hard_limit)
        assert int(info["Maxsock"]) <= hard_limit
    else:
        assert int(info["Maxconn"]) == 50000
