"""Short ways to create API objects in tests (noop provider: ACTIVE at once)."""

from __future__ import annotations

from typing import Any

import httpx


def check(response: httpx.Response, code: int) -> Any:
    assert response.status_code == code, (response.status_code, response.text)
    return response.json() if response.content else None


def create_lb(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"vip_subnet_id": "private-subnet", **fields}
    return check(client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body}),
                 201)["loadbalancer"]


def create_listener(client: httpx.Client, lb_id: str, protocol: str = "HTTP",
                    port: int = 80, **fields: Any) -> dict[str, Any]:
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
