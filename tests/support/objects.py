"""Short ways to create API objects in tests (noop provider: ACTIVE at once)."""

from __future__ import annotations

from typing import Any

import httpx


def check(response: httpx.Response, code: int) -> Any:
    assert response.status_code == code, (response.status_code, response.text)
    return response.json() if response.content else None


def create_lb(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"vip_subnet_id": "private-subnet", **fields}
    return check(client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body}), 201)["loadbalancer"]


def create_listener(
    client: httpx.Client, lb_id: str, protocol: str = "HTTP", port: int = 80, **fields: Any
) -> dict[str, Any]:
    body = {"loadbalancer_id": lb_id, "protocol": protocol, "protocol_port": port, **fields}
    return check(client.post("/v2/lbaas/listeners", json={"listener": body}), 201)["listener"]


def show(client: httpx.Client, path: str, key: str) -> dict[str, Any]:
    return check(client.get(path), 200)[key]


def fault(response: httpx.Response, code: int) -> str:
    """Assert an Octavia fault body with `code`; return its faultstring."""
    assert response.status_code == code, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"faultcode", "faultstring", "debuginfo"}, body
    assert body["faultcode"] == ("Client" if code < 500 else "Server")
    return str(body["faultstring"])


def create_pool(
    client: httpx.Client, protocol: str = "HTTP", lb_algorithm: str = "ROUND_ROBIN", **fields: Any
) -> dict[str, Any]:
    """A pool on `loadbalancer_id=` or `listener_id=` (one of them in `fields`)."""
    body = {"protocol": protocol, "lb_algorithm": lb_algorithm, **fields}
    return check(client.post("/v2/lbaas/pools", json={"pool": body}), 201)["pool"]


def create_member(
    client: httpx.Client, pool_id: str, address: str = "192.0.2.10", port: int = 80, **fields: Any
) -> dict[str, Any]:
    body = {"address": address, "protocol_port": port, **fields}
    return check(client.post(f"/v2/lbaas/pools/{pool_id}/members", json={"member": body}), 201)["member"]


def create_healthmonitor(
    client: httpx.Client, pool_id: str, type: str = "HTTP", **fields: Any
) -> dict[str, Any]:
    body = {"pool_id": pool_id, "type": type, "delay": 5, "timeout": 3, "max_retries": 3, **fields}
    return check(client.post("/v2/lbaas/healthmonitors", json={"healthmonitor": body}), 201)["healthmonitor"]


def create_l7policy(
    client: httpx.Client, listener_id: str, action: str = "REJECT", **fields: Any
) -> dict[str, Any]:
    body = {"listener_id": listener_id, "action": action, **fields}
    return check(client.post("/v2/lbaas/l7policies", json={"l7policy": body}), 201)["l7policy"]


def create_l7rule(
    client: httpx.Client,
    policy_id: str,
    rule_type: str = "PATH",
    compare_type: str = "STARTS_WITH",
    value: str = "/api",
    **fields: Any,
) -> dict[str, Any]:
    body = {"type": rule_type, "compare_type": compare_type, "value": value, **fields}
    return check(client.post(f"/v2/lbaas/l7policies/{policy_id}/rules", json={"rule": body}), 201)["rule"]


def insert_pool(api: Any, lb_id: str, protocol: str = "HTTP", **fields: Any) -> str:
    """An ACTIVE pool row on `lb_id`, written straight to the database."""
    from ostia.db import models

    with api.db.transaction() as session:
        lb = session.get(models.LoadBalancer, lb_id)
        pool = models.Pool(
            project_id=lb.project_id,
            load_balancer_id=lb_id,
            protocol=protocol,
            lb_algorithm="ROUND_ROBIN",
            provisioning_status="ACTIVE",
            operating_status="ONLINE",
            **fields,
        )
        session.add(pool)
        session.flush()
        return str(pool.id)


def insert_amphora(api: Any, lb_id: str | None = None, **fields: Any) -> str:
    """An amphora row (default ALLOCATED, STANDALONE), written straight to the database."""
    from ostia.db import models

    values = {
        "status": "ALLOCATED",
        "role": "STANDALONE",
        "load_balancer_id": lb_id,
        "compute_id": "compute-1",
        "lb_network_ip": "127.1.0.5",
        **fields,
    }
    with api.db.transaction() as session:
        amphora = models.Amphora(**values)
        session.add(amphora)
        session.flush()
        return str(amphora.id)


def update_row(api: Any, model: Any, ident: str, **values: Any) -> None:
    """Set columns of one row straight in the database (a state the API would not write)."""
    from sqlalchemy import update

    with api.db.transaction() as session:
        session.execute(update(model).where(model.id == ident).values(**values))


def settle(api: Any, lb_id: str) -> None:
    """Finish a load balancer's pending work as a provider would."""
    api.app.state.services.providers.settle(lb_id)


def create_held_lb(api: Any, client: httpx.Client, **fields: Any) -> dict[str, Any]:
    """An ACTIVE load balancer on the amphora provider: with no worker running, its later
    changes stay PENDING_* where a test can see them (until `settle`)."""
    lb = create_lb(client, provider="amphora", **fields)
    settle(api, lb["id"])
    return lb


def statuses(client: httpx.Client, *paths: str) -> list[str]:
    """provisioning_status of each object path (e.g. `loadbalancers/<id>`)."""
    result = []
    for path in paths:
        body = check(client.get(f"/v2/lbaas/{path}"), 200)
        result.append(next(iter(body.values()))["provisioning_status"])
    return result
