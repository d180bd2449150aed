"""Operating status derivation from one heartbeat (no database)."""

from __future__ import annotations

from ostia.controller.health.status import (
    ListenerView,
    LoadBalancerView,
    MemberView,
    PoolView,
    derive,
)


def _lb(member_statuses=("OFFLINE", "OFFLINE"), listener_enabled=True, provisioning="ACTIVE"):
    members = [MemberView(f"m{i}", s) for i, s in enumerate(member_statuses)]
    return LoadBalancerView(
        id="lb",
        enabled=True,
        provisioning_status=provisioning,
        operating_status="OFFLINE",
        listeners=[ListenerView("l1", listener_enabled, "OFFLINE", ["p1"])],
        pools=[PoolView("p1", "OFFLINE", members)],
    )


def _message(members, listener_status="OPEN", pool_status="UP"):
    return {
        "id": "a",
        "seq": 1,
        "ver": 3,
        "listeners": {"l1": {"status": listener_status, "stats": {}}},
        "pools": {"p1:l1": {"status": pool_status, "members": members}},
    }


def test_all_up_makes_everything_online():
    changes = derive(_lb(), _message({"m0": "UP", "m1": "UP"}))
    assert changes.load_balancer == {"lb": "ONLINE"}
    assert changes.listener == {"l1": "ONLINE"}
    assert changes.pool == {"p1": "ONLINE"}
    assert changes.member == {"m0": "ONLINE", "m1": "ONLINE"}


def test_a_down_member_degrades_pool_and_load_balancer():
    changes = derive(_lb(), _message({"m0": "UP", "m1": "DOWN"}))
    assert changes.member == {"m0": "ONLINE", "m1": "ERROR"}
    assert changes.pool == {"p1": "DEGRADED"}
    assert changes.load_balancer == {"lb": "DEGRADED"}


def test_a_down_pool_is_error_and_so_is_the_load_balancer():
    changes = derive(_lb(), _message({"m0": "DOWN", "m1": "DOWN"}, pool_status="DOWN"))
    assert changes.pool == {"p1": "ERROR"} and changes.load_balancer == {"lb": "ERROR"}


def test_member_states_map_as_upstream():
    changes = derive(_lb(("ONLINE", "ONLINE")), _message({"m0": "DRAIN", "m1": "MAINT"}))
    assert changes.member == {"m0": "DRAINING", "m1": "OFFLINE"}
    no_check = derive(_lb(), _message({"m0": "no check", "m1": "UP 1/3"}))
    assert no_check.member == {"m0": "NO_MONITOR", "m1": "ONLINE"}


def test_full_listener_degrades_and_missing_listener_is_error():
    full = derive(_lb(), _message({}, listener_status="FULL"))
    assert full.listener == {"l1": "DEGRADED"}
    missing = derive(_lb(), {"id": "a", "seq": 1, "listeners": {}, "pools": {}})
    assert missing.listener == {"l1": "ERROR"}


def test_pool_absent_from_message_goes_offline_but_no_monitor_members_stay():
    lb = _lb(("NO_MONITOR", "ONLINE"))
    lb.pools[0].operating_status = "ONLINE"
    changes = derive(lb, {"id": "a", "seq": 1, "listeners": {"l1": {"status": "OPEN"}}, "pools": {}})
    assert changes.pool == {"p1": "OFFLINE"}
    assert changes.member == {"m1": "OFFLINE"}


def test_unchanged_values_are_not_rewritten():
    lb = _lb(("ONLINE", "ONLINE"))
    lb.operating_status = "ONLINE"
    lb.listeners[0].operating_status = "ONLINE"
    lb.pools[0].operating_status = "ONLINE"
    assert len(derive(lb, _message({"m0": "UP", "m1": "UP"}))) == 0


def test_restarting_member_keeps_its_status():
    assert derive(_lb(("ONLINE", "ONLINE")), _message({"m0": "RESTARTING", "m1": "UP"})).member == {}


def _two_listeners(provisioning="ACTIVE", enabled=True):
    lb = _lb(("ONLINE", "ONLINE"), provisioning=provisioning)
    lb.enabled = enabled
    lb.operating_status = "ONLINE"
    lb.listeners[0].operating_status = "ONLINE"
    lb.listeners.append(ListenerView("l2", True, "ONLINE", []))
    lb.pools[0].operating_status = "ONLINE"
    return lb


def test_a_listener_missing_from_the_heartbeat_is_error_and_degrades_the_lb():
    # l2's port could not be bound (or haproxy refused it): only l1 is reported.
    changes = derive(_two_listeners(), _message({"m0": "UP", "m1": "UP"}))
    assert changes.listener == {"l2": "ERROR"}
    assert changes.load_balancer == {"lb": "DEGRADED"}
    # The same while the load balancer is in ERROR because of that listener.
    assert derive(_two_listeners("ERROR"), _message({"m0": "UP", "m1": "UP"})).listener == {"l2": "ERROR"}


def test_a_missing_listener_is_only_offline_while_changing_or_disabled():
    pending = derive(_two_listeners("PENDING_UPDATE"), _message({"m0": "UP", "m1": "UP"}))
    assert pending.listener == {"l2": "OFFLINE"} and pending.load_balancer == {}
    disabled = derive(_two_listeners(enabled=False), {"listeners": {}, "pools": {}})
    assert disabled.listener == {"l1": "OFFLINE", "l2": "OFFLINE"}
    assert disabled.load_balancer == {"lb": "OFFLINE"}
