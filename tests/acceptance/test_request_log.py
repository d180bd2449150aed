"""One request followed through `ostia up`'s log by its id: API access line, worker lines."""

from __future__ import annotations

import httpx

from tests.acceptance.service import OstiaService, wait_until


def test_grepping_a_request_id_shows_the_call_and_the_work_it_caused(ostia: OstiaService):
    response = httpx.post(
        ostia.url + "/v2/lbaas/loadbalancers",
        json={"loadbalancer": {"name": "logged", "vip_subnet_id": "private-subnet"}},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    ident = response.headers["x-openstack-request-id"]
    lb_id = response.json()["loadbalancer"]["id"]
    try:
        settled = f"load balancer {lb_id}: PENDING_CREATE -> ACTIVE"
        lines = wait_until(
            lambda: (
                [li for li in ostia.log().splitlines() if f"[{ident}]" in li]
                if settled in ostia.log()
                else None
            ),
            60,
            "the load balancer's ACTIVE line",
        )
        assert any(
            "ostia.api.access" in li and "POST /v2/lbaas/loadbalancers status=201" in li for li in lines
        ), lines
        assert any(settled in li for li in lines), lines
        # The worker's own lines (amphora built, configuration pushed) carry the id too.
        assert any("ostia.controller.worker" in li and "reconciling" in li for li in lines), lines
    finally:
        httpx.delete(f"{ostia.url}/v2/lbaas/loadbalancers/{lb_id}?cascade=true", timeout=10)
