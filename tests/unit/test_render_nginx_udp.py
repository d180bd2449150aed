"""The UDP listener renderer: which nginx stream directives each part of the graph becomes,
and what the agent reads back from the same text."""

from __future__ import annotations

import pytest

from ostia.amphora import udp_config
from ostia.common import config, constants
from ostia.controller.worker.haproxy.escape import UnsafeValue
from ostia.controller.worker.render_nginx_udp import (
    render_udp_listener_config,
    udp_listeners,
)
from tests.support import lb_graph


def conf(**haproxy):  # type: ignore[no-untyped-def]
    c = config.new_config()
    for key, value in haproxy.items():
        c.set_override(key, value, group="haproxy_amphora")
    return c


def udp_graph(algorithm: str = constants.ROUND_ROBIN):  # type: ignore[no-untyped-def]
    lb = lb_graph.load_balancer("127.0.100.7")
    listener = lb_graph.listener(lb, 53, protocol=constants.UDP, timeout_client_data=2000)
    pool = lb_graph.pool(lb, listener, algorithm=algorithm, protocol=constants.UDP)
    a = lb_graph.member(pool, "127.0.0.1", 5301, weight=3)
    b = lb_graph.member(pool, "127.0.0.2", 5302)
    return lb, listener, pool, a, b


def server_line(text: str, member) -> str:  # type: ignore[no-untyped-def]
    return next(line.strip() for line in text.splitlines() if f"#ostia:member {member.id}" in line)


def test_round_robin_pool_of_two_members_behind_the_vip() -> None:
    lb, listener, pool, a, b = udp_graph()
    text = render_udp_listener_config(lb, listener, conf())
    assert "    listen 127.0.100.7:53 udp;" in text.splitlines()
    assert "    proxy_timeout 2000ms;" in text.splitlines()
    assert "    proxy_responses 1;" in text.splitlines()
    assert "hash" not in text and "least_conn" not in text
    assert server_line(text, a) == (f"server 127.0.0.1:5301 weight=3 max_fails=0; #ostia:member {a.id}")
    spec = udp_config.parse(text)
    assert (spec.listener_id, spec.pool_id, spec.check) == (listener.id, pool.id, None)
    assert [m.member_id for m in spec.members] == [a.id, b.id]


@pytest.mark.parametrize(
    "algorithm, line",
    [
        (constants.SOURCE_IP, "hash $remote_addr consistent;"),
        (constants.LEAST_CONNECTIONS, "least_conn;"),
        (constants.SOURCE_IP_PORT, "hash $remote_addr$remote_port consistent;"),
    ],
)
def test_algorithms(algorithm: str, line: str) -> None:
    lb, listener, *_ = udp_graph(algorithm)
    assert f"    {line}" in render_udp_listener_config(lb, listener, conf()).splitlines()


def test_source_ip_persistence_hashes_the_client_address() -> None:
    lb, listener, pool, *_ = udp_graph()
    pool.session_persistence = lb_graph.models.SessionPersistence(
        type=constants.SOURCE_IP, persistence_timeout=60
    )
    text = render_udp_listener_config(lb, listener, conf())
    assert "    hash $remote_addr consistent;" in text.splitlines()
    assert "persistence_timeout and persistence_granularity are not applied" in text


def test_monitor_gives_passive_limits_and_the_agents_check() -> None:
    lb, listener, pool, a, b = udp_graph()
    lb_graph.health_monitor(pool, constants.HM_UDP_CONNECT, delay=4, timeout=2, fall=3, rise=2)
    b.monitor_address, b.monitor_port = "127.0.0.9", 9999
    text = render_udp_listener_config(lb, listener, conf())
    assert server_line(text, a).startswith("server 127.0.0.1:5301 weight=3 max_fails=3 fail_timeout=4s;")
    spec = udp_config.parse(text)
    assert spec.check == udp_config.HealthCheck("UDP-CONNECT", 4.0, 2.0, 2, 3)
    assert [m.check_address for m in spec.members] == [("127.0.0.1", 5301), ("127.0.0.9", 9999)]
    pool.health_monitor.enabled = False
    assert udp_config.parse(render_udp_listener_config(lb, listener, conf())).check is None


def test_http_monitor_request_reaches_the_agent_encoded() -> None:
    lb, listener, pool, a, b = udp_graph()
    lb_graph.health_monitor(
        pool,
        constants.HTTP,
        delay=5,
        timeout=2,
        fall=2,
        rise=1,
        http_method="HEAD",
        url_path="/health check",
        expected_codes="200, 204",
        domain_name="dns.example",
    )
    text = render_udp_listener_config(lb, listener, conf())
    check = udp_config.parse(text).check
    assert check is not None and check.http == udp_config.HttpRequest(
        "HEAD", "/health%20check", frozenset({200, 204}), "dns.example"
    )
    pool.health_monitor.expected_codes = "200-202"
    check = udp_config.parse(render_udp_listener_config(lb, listener, conf())).check
    assert check is not None and check.http is not None
    assert check.http.codes == frozenset({200, 201, 202})
    pool.health_monitor.url_path = "/a\nb"
    with pytest.raises(UnsafeValue):
        render_udp_listener_config(lb, listener, conf())


def test_admin_down_drained_and_backup_members() -> None:
    lb, listener, pool, a, b = udp_graph()
    a.enabled = False
    b.weight = 0
    backup = lb_graph.member(pool, "127.0.0.3", 5303, backup=True)
    text = render_udp_listener_config(lb, listener, conf())
    assert server_line(text, a).endswith(f"down; #ostia:member {a.id} admin-down")
    assert server_line(text, b) == (
        f"server 127.0.0.2:5302 weight=1 max_fails=0 down; #ostia:member {b.id} drain"
    )
    assert " backup;" in server_line(text, backup)
    pool.enabled = False
    spec = udp_config.parse(render_udp_listener_config(lb, listener, conf()))
    assert all(m.admin_down for m in spec.members)


def test_no_pool_or_no_member_drops_datagrams_and_nginx_accepts_the_upstream() -> None:
    lb, listener, pool, a, b = udp_graph()
    pool.members.clear()
    assert "server 127.0.0.1:9 down; # no members" in render_udp_listener_config(lb, listener, conf())
    listener.default_pool = None
    text = render_udp_listener_config(lb, listener, conf())
    assert "proxy_pass no_pool;" in text and udp_config.parse(text).pool_id is None


def test_allowed_cidrs_ipv6_and_unlimited_responses() -> None:
    lb, listener, pool, a, b = udp_graph()
    lb.vip.ip_address = "fd00::0:7"
    a.ip_address = "FD00:0::1"
    listener.allowed_cidrs = ["10.0.0.0/8", "fd00::/64"]
    text = render_udp_listener_config(lb, listener, conf(udp_proxy_responses=0))
    lines = text.splitlines()
    assert "    listen [fd00::7]:53 udp;" in lines
    assert server_line(text, a).startswith("server [fd00::1]:5301 ")
    assert lines.index("    allow 10.0.0.0/8;") < lines.index("    deny all;")
    assert "proxy_responses" not in text
    listener.timeout_client_data = 0
    assert "proxy_timeout" not in render_udp_listener_config(lb, listener, conf())


def test_only_enabled_udp_listeners_are_served() -> None:
    lb, listener, *_ = udp_graph()
    tcp = lb_graph.listener(lb, 80, protocol=constants.TCP)
    off = lb_graph.listener(lb, 54, protocol=constants.UDP, enabled=False)
    assert udp_listeners(lb) == [listener]
    assert tcp not in udp_listeners(lb) and off not in udp_listeners(lb)
    lb.enabled = False
    assert udp_listeners(lb) == []


@pytest.mark.parametrize(
    "field, value",
    [
        ("ip_address", "127.0.0.1;\n}\nserver { listen 1.2.3.4:1 udp"),
        ("ip_address", "fe80::1%eth0"),
        ("id", "x y"),
        ("protocol_port", 70000),
        ("weight", 257),
        ("monitor_address", "127.0.0.1 down"),
    ],
)
def test_hostile_member_values_are_refused(field: str, value: object) -> None:
    lb, listener, pool, a, b = udp_graph()
    lb_graph.health_monitor(pool, constants.HM_UDP_CONNECT)
    setattr(a, field, value)
    with pytest.raises(UnsafeValue):
        render_udp_listener_config(lb, listener, conf())


def test_hostile_listener_values_are_refused() -> None:
    for field, value in (
        ("allowed_cidrs", ["10.0.0.0/8; allow all"]),
        ("timeout_client_data", "1s"),
        ("id", "a\nb"),
    ):
        lb, listener, *_ = udp_graph()
        setattr(listener, field, value)
        with pytest.raises(UnsafeValue):
            render_udp_listener_config(lb, listener, conf())


def test_effective_stream_marks_checked_down_members_only() -> None:
    lb, listener, pool, a, b = udp_graph()
    text = render_udp_listener_config(lb, listener, conf())
    changed = udp_config.effective_stream(text, {b.id})
    assert server_line(changed, b).startswith("server 127.0.0.2:5302 weight=1 max_fails=0 down;")
    assert server_line(changed, a) == server_line(text, a)
    assert udp_config.effective_stream(text, set()) == text
