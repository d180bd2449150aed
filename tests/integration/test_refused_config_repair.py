"""A configuration the data plane refuses: ERROR with the reason in the API, and the tenant
repairs it by updating or deleting the offending child.

Real API, in-process worker and a real local amphora (tests/support/worker_stack.py). The
API refuses every bad value it can judge (tests/functional/test_dataplane_values.py), so
the refused values here are written into the database directly, as an older API, an
operator or a value that went stale after the check could have left them: one the
renderer refuses, one only `haproxy -c` refuses.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import update

from ostia.common import constants as c
from ostia.controller.status_report import gather
from ostia.db import models
from tests.support.backends import fetch, free_port, http_backends
from tests.support.objects import check
from tests.support.worker_stack import WorkerStack, worker_stack


def _post(http: httpx.Client, path: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    return check(http.post(f"/v2/lbaas/{path}", json={key: body}), 201)[key]


def _get(http: httpx.Client, path: str, key: str) -> dict[str, Any]:
    return check(http.get(f"/v2/lbaas/{path}"), 200)[key]


def _serving_lb(stack: WorkerStack, http: httpx.Client, backend: Any) -> tuple[dict, dict, int]:
    vip = stack.allocate_vip()
    port = free_port(vip)
    lb = _post(http, "loadbalancers", "loadbalancer", {"vip_subnet_id": "private-subnet", "vip_address": vip})
    stack.wait_lb(http, lb["id"])
    listener = _post(
        http,
        "listeners",
        "listener",
        {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": port},
    )
    stack.wait_lb(http, lb["id"])
    pool = _post(
        http,
        "pools",
        "pool",
        {"listener_id": listener["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"},
    )
    stack.wait_lb(http, lb["id"])
    _post(
        http,
        f"pools/{pool['id']}/members",
        "member",
        {"address": backend.address, "protocol_port": backend.port},
    )
    stack.wait_lb(http, lb["id"])
    assert fetch(vip, port)[0] == 200
    return lb, listener, port


def _rework(stack: WorkerStack, lb_id: str, model: Any, object_id: str, **values: Any) -> None:
    """Store `values` on an object and make the worker apply the LB again."""
    with stack.db.transaction() as session:
        session.execute(
            update(model).where(model.id == object_id).values(provisioning_status=c.PENDING_UPDATE, **values)
        )
        session.execute(
            update(models.LoadBalancer)
            .where(models.LoadBalancer.id == lb_id)
            .values(provisioning_status=c.PENDING_UPDATE)
        )
    assert stack.worker is not None
    stack.worker.wake(lb_id)


def test_a_value_the_renderer_refuses_is_shown_and_fixed_by_updating_the_listener() -> None:
    with worker_stack() as stack, stack.api.client() as http, http_backends("a") as (a,):
        lb, listener, port = _serving_lb(stack, http, a)
        vip = lb["vip_address"]
        _rework(stack, lb["id"], models.Listener, listener["id"], timeout_client_data=-5)

        failed = stack.wait_lb(http, lb["id"], status=c.ERROR)
        reason = failed["provisioning_status_reason"]
        assert "timeout_client_data" in reason and "-5" in reason, failed
        shown = _get(http, f"listeners/{listener['id']}", "listener")
        assert shown["provisioning_status"] == c.ERROR
        assert shown["provisioning_status_reason"] == reason
        # The amphora kept its last good configuration.
        assert fetch(vip, port)[0] == 200
        # `ostia status` gives the operator the same reason (unabridged).
        (row,) = [r for r in gather(stack.conf, stack.db).load_balancers if r.id == lb["id"]]
        assert row.provisioning_status == c.ERROR and "timeout_client_data" in row.last_error

        # The tenant fixes the listener while the load balancer is in ERROR.
        fixed = check(
            http.put(
                f"/v2/lbaas/listeners/{listener['id']}", json={"listener": {"timeout_client_data": 30000}}
            ),
            200,
        )
        assert fixed["listener"]["provisioning_status"] == c.PENDING_UPDATE
        settled = stack.wait_lb(http, lb["id"])
        assert settled["provisioning_status_reason"] is None
        shown = _get(http, f"listeners/{listener['id']}", "listener")
        assert (
            shown["provisioning_status"],
            shown["provisioning_status_reason"],
            shown["timeout_client_data"],
        ) == (c.ACTIVE, None, 30000)
        assert fetch(vip, port)[0] == 200


def test_a_regex_haproxy_refuses_is_shown_and_fixed_by_deleting_the_rule() -> None:
    with worker_stack() as stack, stack.api.client() as http, http_backends("a") as (a,):
        lb, listener, port = _serving_lb(stack, http, a)
        vip = lb["vip_address"]
        policy = _post(http, "l7policies", "l7policy", {"listener_id": listener["id"], "action": "REJECT"})
        stack.wait_lb(http, lb["id"])
        rule = _post(
            http,
            f"l7policies/{policy['id']}/rules",
            "rule",
            {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/blocked"},
        )
        stack.wait_lb(http, lb["id"])
        assert fetch(vip, port, "/blocked/x")[0] == 403
        # Python's `re` takes this; haproxy's PCRE2 (no capture groups in ACLs) does not.
        _rework(stack, lb["id"], models.L7Rule, rule["id"], compare_type="REGEX", value=r"(a)\1")

        failed = stack.wait_lb(http, lb["id"], status=c.ERROR)
        reason = failed["provisioning_status_reason"]
        assert "AgentInvalidRequest" in reason and "subpattern" in reason, reason
        # The operator's view keeps the amphora's file paths; the tenant's does not.
        full = stack.last_error(lb["id"]) or ""
        assert "/haproxy.cfg" in full and "/haproxy.cfg" not in reason, (full, reason)
        rule_path = f"l7policies/{policy['id']}/rules/{rule['id']}"
        shown = _get(http, rule_path, "rule")
        assert (shown["provisioning_status"], shown["provisioning_status_reason"]) == (c.ERROR, reason)
        # Unchanged objects keep saying nothing.
        assert _get(http, f"l7policies/{policy['id']}", "l7policy")["provisioning_status_reason"] is None
        assert fetch(vip, port, "/blocked/x")[0] == 403

        # A new object still waits for an ACTIVE load balancer, as upstream.
        refused = http.post(
            "/v2/lbaas/listeners",
            json={
                "listener": {"loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": free_port(vip)}
            },
        )
        assert refused.status_code == 409, refused.text
        check(http.delete(f"/v2/lbaas/{rule_path}"), 204)
        stack.wait_lb(http, lb["id"])
        check(http.get(f"/v2/lbaas/{rule_path}"), 404)
        # The policy lost its only rule: it no longer matches anything.
        assert fetch(vip, port, "/blocked/x")[0] == 200
        assert stack.last_error(lb["id"]) is None
