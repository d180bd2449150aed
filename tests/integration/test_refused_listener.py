"""A listener the data plane cannot run is the listener's failure, not the amphora's.

Real API, worker, health manager and local amphorae (tests/support/health_stack.py:
heartbeats every second, stale after 3 s). A listener whose port is taken on the VIP, or
whose configuration haproxy refuses, goes to ERROR with the reason; the amphora keeps
heartbeating and is never failed over; the other listener keeps serving throughout; and
deleting the bad listener brings the load balancer back to ACTIVE.
"""

from __future__ import annotations

import contextlib
import datetime
import socket
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

import httpx
from sqlalchemy import update

from ostia.common import constants as c
from ostia.db import models
from tests.support.backends import fetch, free_port, http_backends
from tests.support.health_stack import (
    TEST_HEALTH,
    HealthManagerHandle,
    RequestLoop,
    create_lb,
    health_manager,
    kill_amphora,
    serving_lb_body,
    status_tree,
    wait_until,
)
from tests.support.objects import check
from tests.support.worker_stack import WorkerStack, worker_stack

TIMEOUT = TEST_HEALTH["heartbeat_timeout"]


@contextlib.contextmanager
def port_taken(address: str) -> Iterator[int]:
    """A listening socket on `address` that haproxy cannot share; yields its port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((address, 0))
        holder.listen(1)
        yield int(holder.getsockname()[1])


class ServingLB(NamedTuple):
    """A load balancer on one local amphora, serving HTTP on `good_port`, with a health
    manager watching it."""

    stack: WorkerStack
    health: HealthManagerHandle
    http: httpx.Client
    lb: dict[str, Any]
    vip: str
    good_port: int


@contextlib.contextmanager
def serving_lb() -> Iterator[ServingLB]:
    with (
        worker_stack() as stack,
        health_manager(stack) as health,
        stack.api.client() as http,
        http_backends("a") as backends,
    ):
        vip = stack.allocate_vip()
        good_port = free_port(vip)
        lb = create_lb(stack, http, serving_lb_body(vip, good_port, backends))
        yield ServingLB(stack, health, http, lb, vip, good_port)


def _create_listener(http: httpx.Client, lb_id: str, protocol: str, port: int) -> dict[str, Any]:
    body = {"listener": {"loadbalancer_id": lb_id, "protocol": protocol, "protocol_port": port}}
    return check(http.post("/v2/lbaas/listeners", json=body), 201)["listener"]


def _listener(http: httpx.Client, listener_id: str) -> dict[str, Any]:
    return check(http.get(f"/v2/lbaas/listeners/{listener_id}"), 200)["listener"]


def _load_balancer(http: httpx.Client, lb_id: str) -> dict[str, Any]:
    return check(http.get(f"/v2/lbaas/loadbalancers/{lb_id}"), 200)["loadbalancer"]


def _wait_online(http: httpx.Client, lb_id: str, what: str) -> None:
    wait_until(lambda: status_tree(http, lb_id)["operating_status"] == c.ONLINE, 10, what)


def _instances(stack: WorkerStack) -> list[tuple[str, str]]:
    return sorted((i.amphora_id, i.compute_id) for i in stack.amphorae.compute.list_instances())


def _amphora_rows(stack: WorkerStack, lb_id: str) -> list[tuple[str, str]]:
    with stack.db.transaction() as session:
        return sorted(
            (row.id, row.status)
            for row in session.query(models.Amphora)
            .filter(models.Amphora.load_balancer_id == lb_id)
            .filter(models.Amphora.status != c.DELETED)
        )


def _bad_listener_lifecycle(serving: ServingLB, bad_listener: dict[str, Any], expect_in_reason: str) -> None:
    """Everything the user notices once `bad_listener` was created: see the module doc."""
    stack, http, lb, good_port = serving.stack, serving.http, serving.lb, serving.good_port
    vip = lb["vip_address"]
    amphorae_before = _instances(stack)
    rows_before = _amphora_rows(stack, lb["id"])
    with RequestLoop(vip, good_port, period=0.05) as loop:
        failed = stack.wait_lb(http, lb["id"], status=c.ERROR)
        assert failed["provisioning_status"] == c.ERROR
        listener = _listener(http, bad_listener["id"])
        assert listener["provisioning_status"] == c.ERROR
        # The reason, where the tenant reads it (provisioning_status_reason, issue 12 #2).
        assert expect_in_reason in (listener.get("provisioning_status_reason") or ""), (
            listener,
            stack.last_error(lb["id"]),
        )
        assert expect_in_reason in (failed.get("provisioning_status_reason") or "")
        # Several heartbeat timeouts: the amphora heartbeats, so it is alive.
        wait_until(
            lambda: (
                status_tree(http, lb["id"])
                and _listener(http, bad_listener["id"])["operating_status"] in (c.ERROR, c.OFFLINE)
            ),
            3 * TIMEOUT,
            "the bad listener's operating status ERROR/OFFLINE",
        )
        time.sleep(3 * TIMEOUT)
        assert _instances(stack) == amphorae_before
        assert _amphora_rows(stack, lb["id"]) == rows_before
        assert {status for _, status in rows_before} == {c.AMPHORA_ALLOCATED}
        assert _listener(http, bad_listener["id"])["operating_status"] == c.ERROR
        good = [
            entry for entry in status_tree(http, lb["id"])["listeners"] if entry["id"] != bad_listener["id"]
        ]
        assert [entry["operating_status"] for entry in good] == [c.ONLINE]
    # Not one request to the good listener failed while the bad one was tried and refused.
    assert loop.results and all(ok for _, ok in loop.results), [at for at, ok in loop.results if not ok][:5]

    check(http.delete(f"/v2/lbaas/listeners/{bad_listener['id']}"), 204)
    stack.wait_lb(http, lb["id"])
    assert check(http.get(f"/v2/lbaas/listeners/{bad_listener['id']}"), 404)
    assert fetch(vip, good_port)[0] == 200
    assert _instances(stack) == amphorae_before
    _wait_online(http, lb["id"], "the load balancer ONLINE again")


def test_listener_on_a_port_taken_on_the_vip_fails_alone_and_nothing_fails_over() -> None:
    with serving_lb() as serving:
        _wait_online(serving.http, serving.lb["id"], "LB ONLINE from heartbeats")
        with port_taken(serving.vip) as taken:
            bad = _create_listener(serving.http, serving.lb["id"], "TCP", taken)
            _bad_listener_lifecycle(serving, bad, "cannot bind")
        assert serving.health.service is not None
        assert serving.health.service.metrics.snapshot().get("processed", 0) > 3 * TIMEOUT


def _lease(stack: WorkerStack, lb_id: str, owner: str | None) -> None:
    """Hold (owner) or free (None) the load balancer's lease: no worker touches it while held."""
    expires = models.utcnow() + datetime.timedelta(seconds=60) if owner else None
    with stack.db.transaction() as session:
        session.execute(
            update(models.LoadBalancer)
            .where(models.LoadBalancer.id == lb_id)
            .values(lease_owner=owner, lease_expires=expires)
        )


def test_listener_whose_configuration_haproxy_refuses_fails_alone() -> None:
    with serving_lb() as serving:
        stack, lb = serving.stack, serving.lb
        _wait_online(serving.http, lb["id"], "LB ONLINE from heartbeats")
        # A regex that Python's `re` accepts and haproxy's PCRE2 refuses (`\u`). The API
        # checks regexes with PCRE2 since issue 12, so the rule is written into the
        # database, as an older API could have left it, while the test holds the lease.
        _lease(stack, lb["id"], "test-holds-the-lease")
        bad = _create_listener(serving.http, lb["id"], "HTTP", free_port(serving.vip))
        with stack.db.transaction() as session:
            policy = models.L7Policy(
                listener_id=bad["id"],
                action="REJECT",
                position=1,
                enabled=True,
                provisioning_status=c.PENDING_CREATE,
                operating_status=c.OFFLINE,
            )
            session.add(policy)
            session.flush()
            session.add(
                models.L7Rule(
                    l7policy_id=policy.id,
                    type="PATH",
                    compare_type="REGEX",
                    value="^/\\u0041",
                    invert=False,
                    enabled=True,
                    provisioning_status=c.PENDING_CREATE,
                    operating_status=c.OFFLINE,
                )
            )
        _lease(stack, lb["id"], None)
        assert stack.worker is not None
        stack.worker.wake(lb["id"])
        _bad_listener_lifecycle(serving, bad, "PCRE2")


def test_a_failover_whose_replacement_cannot_run_the_configuration_keeps_the_old_amphora() -> None:
    """The replacement cannot bind the taken port either: the working amphora stays, alone."""
    with serving_lb() as (stack, _, http, lb, vip, good_port):
        with port_taken(vip) as taken:
            bad = _create_listener(http, lb["id"], "TCP", taken)
            stack.wait_lb(http, lb["id"], status=c.ERROR)
            (old,) = _instances(stack)
            with RequestLoop(vip, good_port, period=0.05) as loop:
                check(http.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover"), 202)
                wait_until(
                    lambda: _load_balancer(http, lb["id"])["provisioning_status"] == c.ERROR,
                    30,
                    "the failover to fail",
                )
                # One amphora, the old one, ALLOCATED; the replacement is gone.
                assert _instances(stack) == [old]
                assert _amphora_rows(stack, lb["id"]) == [(old[0], c.AMPHORA_ALLOCATED)]
                reason = _load_balancer(http, lb["id"]).get("provisioning_status_reason") or ""
                assert "cannot bind socket" in reason, reason
                # And it stays so: alive, watched, not failed over again.
                time.sleep(2 * TIMEOUT)
                assert _instances(stack) == [old]
                assert _amphora_rows(stack, lb["id"]) == [(old[0], c.AMPHORA_ALLOCATED)]
            assert loop.results and all(ok for _, ok in loop.results)
        check(http.delete(f"/v2/lbaas/listeners/{bad['id']}"), 204)
        stack.wait_lb(http, lb["id"])
        assert fetch(vip, good_port)[0] == 200


def test_a_dead_amphora_is_replaced_by_one_that_serves_the_listeners_not_in_error() -> None:
    """A replacement has no earlier configuration to keep: it runs the others without the
    broken listener, rather than nothing at all."""
    with serving_lb() as (stack, _, http, lb, vip, good_port):
        with port_taken(vip) as taken:
            bad = _create_listener(http, lb["id"], "TCP", taken)
            stack.wait_lb(http, lb["id"], status=c.ERROR)
            ((old_amphora, old_compute),) = _instances(stack)
            kill_amphora(stack, old_compute)

            def replaced() -> bool:
                rows = _amphora_rows(stack, lb["id"])
                return (
                    len(rows) == 1
                    and rows[0][0] != old_amphora
                    and rows[0][1] == c.AMPHORA_ALLOCATED
                    and _load_balancer(http, lb["id"])["provisioning_status"] == c.ERROR
                )

            wait_until(replaced, 30, "one new ALLOCATED amphora and the LB in ERROR")
            assert fetch(vip, good_port)[0] == 200
            assert [i[0] for i in _instances(stack)] == [_amphora_rows(stack, lb["id"])[0][0]]
            assert _listener(http, bad["id"])["provisioning_status"] == c.ERROR
        check(http.delete(f"/v2/lbaas/listeners/{bad['id']}"), 204)
        stack.wait_lb(http, lb["id"])
        assert fetch(vip, good_port)[0] == 200
