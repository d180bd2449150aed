"""Load balancer creates racing through the API, on SQLite and on PostgreSQL: each gets an
address of its own, and of those asking for the same address exactly one gets it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.support.live_api import LiveAPI, running_api

THREADS = 16


def _create_all(api: LiveAPI, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    def create(body: dict[str, Any]) -> httpx.Response:
        with api.client() as http:
            return http.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body})

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(create, bodies))


def test_concurrent_creates_get_distinct_addresses(db_url):
    with running_api(db_url) as api:
        answers = _create_all(api, [{"name": f"lb{i}", "vip_subnet_id": "private-subnet"} for i in range(48)])
        refused = [a.text for a in answers if a.status_code != 201]
        assert refused == []
        addresses = [a.json()["loadbalancer"]["vip_address"] for a in answers]
        assert len(set(addresses)) == 48
        with api.client() as http:
            listed = http.get("/v2/lbaas/loadbalancers").json()["loadbalancers"]
        assert sorted(lb["vip_address"] for lb in listed) == sorted(addresses)
        assert {lb["provisioning_status"] for lb in listed} == {"ACTIVE"}


def test_of_concurrent_creates_asking_for_one_address_exactly_one_gets_it(db_url):
    with running_api(db_url) as api:
        wanted = {"vip_subnet_id": "private-subnet", "vip_address": "127.2.9.9"}
        answers = _create_all(api, [dict(wanted, name=f"lb{i}") for i in range(THREADS)])
        codes = sorted(a.status_code for a in answers)
        assert codes == [201] + [409] * (THREADS - 1), [a.text for a in answers]
        refused = next(a for a in answers if a.status_code == 409).json()
        assert refused["faultstring"] == "The VIP IP address is already in use: 127.2.9.9"


def test_concurrent_creates_stop_at_the_project_quota(db_url):
    with running_api(db_url) as api:
        with api.client() as http:
            quota = {"quota": {"load_balancer": 5}}
            assert http.put("/v2/lbaas/quotas/racing", json=quota).status_code == 202
        body = {"vip_subnet_id": "private-subnet", "project_id": "racing"}
        answers = _create_all(api, [dict(body, name=f"lb{i}") for i in range(THREADS)])
        codes = sorted(a.status_code for a in answers)
        assert codes == [201] * 5 + [403] * (THREADS - 5), [a.text for a in answers]
