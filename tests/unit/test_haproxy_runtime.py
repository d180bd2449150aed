"""Which configuration changes the agent applies through haproxy's runtime API, on
configurations rendered by the real renderer."""

from __future__ import annotations

from ostia.amphora.haproxy_runtime import Server, parse, plan, server_names
from ostia.amphora.haproxy_stats import BackendStats, LoadBalancerStats, only_configured
from ostia.common import constants
from ostia.db import models
from tests.unit.test_render_haproxy_fixtures import (
    make_hm,
    make_lb,
    make_listener,
    make_member,
    make_pool,
    render,
)


def _lb(**pool_kw: object) -> tuple[models.LoadBalancer, models.Pool]:
    lb = make_lb()
    listener = make_listener(lb, port=8080)
    pool = make_pool(lb, listener=listener, **pool_kw)  # type: ignore[arg-type]
    make_member(pool, port=9001)
    make_member(pool, port=9002)
    return lb, pool


def _commands(before: str, after: str) -> list[str] | None:
    commands = plan(before, after)
    return None if commands is None else [command.text for command in commands]


def test_added_member_is_added_then_enabled_with_the_rendered_words():
    lb, pool = _lb()
    before = render(lb)
    new = make_member(pool, port=9003, weight=5)
    backend = f"{pool.id}:{lb.listeners[0].id}"

    assert _commands(before, render(lb)) == [
        f"add server {backend}/{new.id} 127.0.0.1:9003 weight 5",
        f"enable server {backend}/{new.id}",
    ]


def test_added_member_with_a_health_monitor_gets_its_checks_enabled():
    lb, pool = _lb()
    make_hm(pool, delay=2)
    before = render(lb)
    new = make_member(pool, port=9003)
    commands = _commands(before, render(lb))

    assert commands is not None and len(commands) == 3
    assert commands[0].startswith(f"add server {pool.id}:{lb.listeners[0].id}/{new.id} ")
    assert " check " in commands[0] + " "
    assert commands[1:] == [
        f"enable health {pool.id}:{lb.listeners[0].id}/{new.id}",
        f"enable server {pool.id}:{lb.listeners[0].id}/{new.id}",
    ]


def test_removed_member_is_disabled_then_deleted():
    lb, pool = _lb()
    before = render(lb)
    gone = pool.members.pop()
    target = f"{pool.id}:{lb.listeners[0].id}/{gone.id}"

    assert _commands(before, render(lb)) == [f"disable server {target}", f"del server {target}"]


def test_weight_and_admin_state_are_set_in_place():
    lb, pool = _lb()
    before = render(lb)
    first, second = pool.members
    first.weight = 7
    second.enabled = False
    backend = f"{pool.id}:{lb.listeners[0].id}"

    assert _commands(before, render(lb)) == [
        f"set server {backend}/{first.id} weight 7",
        f"set server {backend}/{second.id} state maint",
    ]
    assert _commands(render(lb), before) == [
        f"set server {backend}/{first.id} weight 1",
        f"set server {backend}/{second.id} state ready",
    ]


def test_a_disabled_new_member_is_added_in_maintenance():
    lb, pool = _lb()
    before = render(lb)
    new = make_member(pool, port=9003, enabled=False)

    assert _commands(before, render(lb)) == [
        f"add server {pool.id}:{lb.listeners[0].id}/{new.id} 127.0.0.1:9003 weight 1 disabled"
    ]


def test_same_configuration_needs_no_command():
    lb, _ = _lb()
    assert _commands(render(lb), render(lb)) == []


def test_changes_outside_server_lines_need_a_reload():
    lb, pool = _lb()
    before = render(lb)
    lb.listeners[0].timeout_client_data = 12345
    assert _commands(before, render(lb)) is None

    lb, pool = _lb()
    before = render(lb)
    make_hm(pool)
    assert _commands(before, render(lb)) is None

    lb, pool = _lb()
    before = render(lb)
    make_listener(lb, port=8081, default_pool=pool)
    assert _commands(before, render(lb)) is None


def test_member_changes_the_runtime_api_cannot_express_need_a_reload():
    lb, pool = _lb()
    before = render(lb)
    pool.members[0].backup = True
    assert _commands(before, render(lb)) is None

    lb, pool = _lb()
    make_hm(pool)
    before = render(lb)
    pool.members[0].monitor_port = 9999
    assert _commands(before, render(lb)) is None


def test_cookie_persistence_members_need_a_reload():
    # `add server` does not take `cookie` in haproxy 2.6.
    lb, pool = _lb(persistence=constants.HTTP_COOKIE)
    before = render(lb)
    make_member(pool, port=9003)
    assert _commands(before, render(lb)) is None


def test_comment_only_changes_are_ignored_and_unknown_words_refused():
    config = (
        "global\n    maxconn 10\nbackend b\n    balance roundrobin\n    server s1 127.0.0.1:80 weight 2\n"
    )
    assert _commands(config, "# a note\n" + config) == []
    assert parse(config.replace("weight 2", "weight 2 cookie s1")) is None
    assert parse(config.replace("weight 2", "weight")) is None
    assert parse(config + "    server s1 127.0.0.1:81\n") is None


def test_server_lines_haproxy_would_refuse_are_left_to_the_check():
    config = "backend b\n    balance roundrobin\n    server s1 127.0.0.1:80 weight 2\n"
    assert parse(config) is not None
    assert parse(config.replace("weight 2", "weight 257")) is None
    assert parse(config.replace("weight 2", "weight -1")) is None
    assert parse(config.replace("127.0.0.1:80", "127.0.0.1:0")) is None
    assert parse(config.replace("127.0.0.1:80", "example.com:80")) is None
    assert parse(config.replace("127.0.0.1:80", "[2001:db8::1]:80")) is not None


def _lingering(before: str, target: str) -> dict[str, Server]:
    """`target` of `before`, as it lingers once removed."""
    parsed = parse(before)
    assert parsed is not None
    backend, _, name = target.partition("/")
    return {target: parsed.servers[backend][name]}


def test_a_lingering_member_added_back_is_put_back_in_service_not_added_twice():
    lb, pool = _lb()
    with_it = render(lb)
    gone = pool.members.pop()
    target = f"{pool.id}:{lb.listeners[0].id}/{gone.id}"
    without = render(lb)
    lingering = _lingering(with_it, target)

    back = plan(without, with_it, lingering)
    assert back is not None and [command.text for command in back] == [f"set server {target} state ready"]
    # Refused later in the same change, it goes back to maintenance.
    assert [undo.text for undo in back[0].undo] == [f"set server {target} state maint"]

    gone.weight = 9
    assert _commands_with(without, _render_with(lb, gone), lingering) == [
        f"set server {target} weight 9",
        f"set server {target} state ready",
    ]
    gone.enabled = False
    assert _commands_with(without, _render_with(lb, gone), lingering) == [f"set server {target} weight 9"]
    # Another address under the same name is a new server: only a reload can do that.
    gone.enabled, gone.protocol_port = True, 9100
    assert _commands_with(without, _render_with(lb, gone), lingering) is None


def _render_with(lb: models.LoadBalancer, member: models.Member) -> str:
    pool = lb.listeners[0].default_pool
    pool.members.append(member)
    try:
        return render(lb)
    finally:
        pool.members.remove(member)


def _commands_with(before: str, after: str, lingering: dict[str, Server]) -> list[str] | None:
    commands = plan(before, after, lingering)
    return None if commands is None else [command.text for command in commands]


def test_server_names_reads_any_server_line():
    config = (
        "global\n    maxconn 10\nfrontend f\n    bind :80\n    default_backend b\n"
        "backend b\n    balance roundrobin\n    server s1 127.0.0.1:80 cookie s1\n"
        "    server s2 example.com:80\nbackend empty\n    balance roundrobin\n"
    )
    assert server_names(config) == {"b": frozenset({"s1", "s2"}), "empty": frozenset()}


def test_stats_keep_only_the_servers_of_the_running_configuration():
    stats = LoadBalancerStats(
        123,
        [],
        [BackendStats("b", "UP", {"s1": "UP", "gone": "MAINT"}), BackendStats("other", "UP", {"x": "UP"})],
    )
    kept = only_configured(stats, {"b": frozenset({"s1"})})
    assert [(backend.name, backend.members) for backend in kept.backends] == [
        ("b", {"s1": "UP"}),
        ("other", {"x": "UP"}),
    ]
