"""Health manager + worker + real local amphorae over real UDP heartbeats.

Intervals are the test ones (tests/support/health_stack.py): heartbeats every second,
stale after 3 s, checked every second.
"""

from __future__ import annotations

import time

from sqlalchemy import select

from ostia.common import constants as c
from ostia.controller.worker import amphorae
from ostia.db import models
from tests.support.backends import fetch, free_port, http_backends
from tests.support.health_stack import (
    TEST_HEALTH,
    RequestLoop,
    create_lb,
    health_manager,
    kill_amphora,
    lb_stats,
    restartable_backends,
    serving_lb_body,
    status_tree,
    wait_until,
)
from tests.support.objects import check
from tests.support.worker_stack import worker_stack

TIMEOUT = TEST_HEALTH["heartbeat_timeout"]
INTERVAL = 1  # the stack's heartbeat_interval


def _online(http, lb_id):  # type: ignore[no-untyped-def]
    return status_tree(http, lb_id)["operating_status"] == c.ONLINE


def test_killed_amphora_is_rebuilt_on_the_same_vip_and_statistics_carry_over() -> None:
    with (
        worker_stack() as stack,
        health_manager(stack),
        stack.api.client() as http,
        http_backends("a", "b") as backends,
    ):
        vip = stack.allocate_vip()
        port = free_port(vip)
        lb = create_lb(stack, http, serving_lb_body(vip, port, backends))
        wait_until(lambda: _online(http, lb["id"]), 10, "LB ONLINE from heartbeats")
        for _ in range(10):
            assert fetch(vip, port)[0] == 200
        wait_until(
            lambda: lb_stats(http, lb["id"])["total_connections"] == 10,
            10,
            "10 connections in the statistics",
        )
        (old,) = stack.amphorae.compute.list_instances()

        killed_at = time.monotonic()
        kill_amphora(stack, old.compute_id)
        with RequestLoop(vip, port) as loop:
            back_at = wait_until(lambda: loop.serving_since(killed_at), 30, "the VIP serving again")
            time.sleep(0.3)
        outage = back_at - killed_at

        (new,) = stack.amphorae.compute.list_instances()
        assert new.amphora_id != old.amphora_id and new.compute_id != old.compute_id
        assert stack.wait_lb(http, lb["id"])["vip_address"] == vip
        with stack.db.transaction() as session:
            assert session.get(models.Amphora, old.amphora_id).status == c.DELETED
        # Bytes and connections of the dead amphora stay in the totals; the new one adds.
        served = 10 + loop.successes()
        wait_until(
            lambda: lb_stats(http, lb["id"])["total_connections"] == served,
            10,
            f"{served} connections in the statistics after the failover",
        )
        wait_until(lambda: _online(http, lb["id"]), 10, "LB ONLINE after the failover")
        # Detection needs heartbeat_timeout; the rest is the rebuild.
        assert TIMEOUT <= outage < TIMEOUT + 15, outage
        print(f"failover outage {outage:.2f} s (heartbeat_timeout {TIMEOUT} s)")


def test_health_manager_down_longer_than_the_timeout_fails_nothing_over() -> None:
    with (
        worker_stack() as stack,
        health_manager(stack) as hm,
        stack.api.client() as http,
        http_backends("a") as backends,
    ):
        lbs = []
        for _ in range(2):
            vip = stack.allocate_vip()
            lbs.append(create_lb(stack, http, serving_lb_body(vip, free_port(vip), backends)))
        for lb in lbs:
            wait_until(lambda lb=lb: _online(http, lb["id"]), 10, "LB ONLINE")
        before = sorted(i.compute_id for i in stack.amphorae.compute.list_instances())

        hm.stop()
        time.sleep(TIMEOUT + 2)
        restarted = hm.start()
        # The new manager judges nobody before a full timeout: amphorae report first.
        time.sleep(TIMEOUT + 2.5)

        after = sorted(i.compute_id for i in stack.amphorae.compute.list_instances())
        assert after == before
        assert restarted.metrics.snapshot().get("processed", 0) >= 2 * (TIMEOUT + 1)
        with stack.db.transaction() as session:
            rows = session.execute(
                select(models.Amphora.status, models.AmphoraHealth).join(
                    models.AmphoraHealth, models.AmphoraHealth.amphora_id == models.Amphora.id
                )
            ).all()
            assert {status for status, _ in rows} == {c.AMPHORA_ALLOCATED}
            fresh = models.utcnow().timestamp() - 2 * INTERVAL - 1
            assert all(health.last_update.timestamp() > fresh and not health.busy for _, health in rows)
        for lb in lbs:
            assert stack.wait_lb(http, lb["id"])["provisioning_status"] == c.ACTIVE


def _member_status(http, lb_id, name):  # type: ignore[no-untyped-def]
    pool = status_tree(http, lb_id)["listeners"][0]["pools"][0]
    members = {m["address"] + ":" + str(m["protocol_port"]): m["operating_status"] for m in pool["members"]}
    return pool["operating_status"], members[name]


def test_dead_backend_turns_its_member_error_and_back_online() -> None:
    monitor = {
        "type": "HTTP",
        "delay": 1,
        "timeout": 1,
        "max_retries": 1,
        "max_retries_down": 1,
        "url_path": "/",
    }
    with (
        worker_stack() as stack,
        health_manager(stack),
        stack.api.client() as http,
        restartable_backends("a", "b") as (a, b),
    ):
        vip = stack.allocate_vip()
        port = free_port(vip)
        lb = create_lb(stack, http, serving_lb_body(vip, port, [a, b], monitor))
        b_name = f"{b.address}:{b.port}"
        wait_until(
            lambda: _member_status(http, lb["id"], b_name) == (c.ONLINE, c.ONLINE), 10, "member b ONLINE"
        )

        # Statistics across a haproxy reload (a member change reloads it seamlessly).
        for _ in range(6):
            assert fetch(vip, port)[0] == 200
        wait_until(lambda: lb_stats(http, lb["id"])["total_connections"] == 6, 10, "6 conns")
        pool_id = check(http.get(f"/v2/lbaas/loadbalancers/{lb['id']}"), 200)["loadbalancer"]["pools"][0][
            "id"
        ]
        members = check(http.get(f"/v2/lbaas/pools/{pool_id}/members"), 200)["members"]
        check(
            http.put(f"/v2/lbaas/pools/{pool_id}/members/{members[0]['id']}", json={"member": {"weight": 2}}),
            200,
        )
        stack.wait_lb(http, lb["id"])
        for _ in range(4):
            assert fetch(vip, port)[0] == 200
        wait_until(lambda: lb_stats(http, lb["id"])["total_connections"] == 10, 10, "10 conns after a reload")

        # Down: within two heartbeats plus the monitor's fall time (+ flush and polling).
        fall = monitor["max_retries_down"] * monitor["delay"] + monitor["timeout"]
        bound = 2 * INTERVAL + fall + 1.5
        b.stop()
        stopped = time.monotonic()
        wait_until(
            lambda: _member_status(http, lb["id"], b_name) == (c.DEGRADED, c.ERROR),
            bound,
            "member ERROR and pool DEGRADED",
        )
        down_after = time.monotonic() - stopped
        assert status_tree(http, lb["id"])["operating_status"] == c.DEGRADED

        b.restart()
        restarted = time.monotonic()
        rise = monitor["max_retries"] * monitor["delay"]
        wait_until(
            lambda: _member_status(http, lb["id"], b_name) == (c.ONLINE, c.ONLINE),
            2 * INTERVAL + rise + 1.5,
            "member back ONLINE",
        )
        up_after = time.monotonic() - restarted
        assert status_tree(http, lb["id"])["operating_status"] == c.ONLINE
        print(f"member ERROR after {down_after:.2f} s, ONLINE again after {up_after:.2f} s")


def test_orphan_amphora_that_heartbeats_is_deleted_through_the_compute_driver() -> None:
    with worker_stack() as stack, health_manager(stack) as hm:
        row = amphorae.insert_row(stack.db, None, None)
        built = amphorae.ensure_instance(
            stack.conf, stack.db, stack.drivers, row, c.TOPOLOGY_SINGLE, inserted_now=True
        )
        # An amphora that serves nothing and is no spare: a leftover of a crashed flow.
        amphorae.update_row(stack.db, built.id, status=c.AMPHORA_ALLOCATED)
        compute = stack.amphorae.compute
        assert built.compute_id is not None
        wait_until(
            lambda: compute.get(built.compute_id) is None or compute.get(built.compute_id).status != "ACTIVE",
            15,
            "the orphan's instance deleted",
        )
        assert hm.service is not None
        assert hm.service.metrics.snapshot().get("no_load_balancer", 0) >= 1
