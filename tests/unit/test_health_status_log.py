"""The health manager logs operating status changes once each, never unchanged statuses."""

from __future__ import annotations

import logging

from ostia.controller.health.status import (
    ListenerView,
    LoadBalancerView,
    MemberView,
    PoolView,
    StatusChanges,
)
from ostia.controller.health.status_log import log_flush


def _view() -> LoadBalancerView:
    return LoadBalancerView(
        id="lb1",
        enabled=True,
        provisioning_status="ACTIVE",
        operating_status="ONLINE",
        listeners=[ListenerView(id="l1", enabled=True, operating_status="ONLINE", pool_ids=["p1"])],
        pools=[
            PoolView(
                id="p1",
                operating_status="ONLINE",
                members=[
                    MemberView(id="m1", operating_status="ONLINE"),
                    MemberView(id="m2", operating_status="ONLINE"),
                ],
            )
        ],
    )


def test_a_member_going_down_is_one_warning_naming_pool_and_load_balancer(caplog):
    caplog.set_level(logging.DEBUG, logger="ostia.controller.health")
    view = _view()
    changes = StatusChanges(member={"m2": "ERROR"}, pool={"p1": "DEGRADED"})
    # Both amphorae of a pair report the same change: still one line each.
    log_flush([("amp1", view, None, changes), ("amp2", view, None, changes)])
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines == [
        ("INFO", "pool p1 of load balancer lb1: operating status ONLINE -> DEGRADED"),
        ("WARNING", "member m2 of pool p1 of load balancer lb1: operating status ONLINE -> ERROR"),
    ]


def test_a_listener_change_is_logged_and_no_change_logs_nothing(caplog):
    caplog.set_level(logging.DEBUG, logger="ostia.controller.health")
    view = _view()
    log_flush([("amp1", view, None, StatusChanges())])
    assert caplog.records == []
    log_flush([("amp1", view, None, StatusChanges(listener={"l1": "OFFLINE"}))])
    assert [r.getMessage() for r in caplog.records] == [
        "listener l1 of load balancer lb1: operating status ONLINE -> OFFLINE"
    ]
