"""GET of one load balancer (read without ORM objects) answers what the ORM serializer does."""

from __future__ import annotations

import json

from ostia.api.v2 import loadbalancers
from ostia.common import constants as c
from ostia.db import models
from tests.support.objects import check, create_lb, create_listener


def _orm_answer(api, lb_id: str) -> dict:  # type: ignore[no-untyped-def]
    with api.db.transaction() as session:
        lb = session.get(models.LoadBalancer, lb_id)
        return json.loads(json.dumps(loadbalancers.serialize(lb)))


def test_show_matches_the_orm_serializer_field_for_field(api, client):
    lb = create_lb(
        client,
        name="view",
        description="d",
        tags=["z", "a"],
        vip_sg_ids=["7b1e5d52-6a48-4b5e-9f5c-0d6f4c1f2a11"],
    )
    kept = create_listener(client, lb["id"], port=80)
    gone = create_listener(client, lb["id"], port=81)
    check(
        client.post(
            "/v2/lbaas/pools",
            json={"pool": {"loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}},
        ),
        201,
    )
    with api.db.transaction() as session:
        session.get(models.Listener, gone["id"]).provisioning_status = c.DELETED
        stored = session.get(models.LoadBalancer, lb["id"])
        stored.provisioning_status = c.ERROR
        stored.last_error = "HaproxyRenderError: the tenant's own mistake"
        stored.additional_vips.append(
            models.AdditionalVip(subnet_id="s2", network_id="n2", ip_address="127.3.0.9")
        )

    shown = check(client.get(f"/v2/lbaas/loadbalancers/{lb['id']}"), 200)["loadbalancer"]
    assert shown == _orm_answer(api, lb["id"])
    assert [li["id"] for li in shown["listeners"]] == [kept["id"]]
    assert shown["tags"] == ["a", "z"] and len(shown["pools"]) == 1
    assert shown["additional_vips"] == [{"subnet_id": "s2", "ip_address": "127.3.0.9", "port_id": None}]
    assert shown["provisioning_status_reason"].startswith("HaproxyRenderError")
    assert shown["vip_sg_ids"] == ["7b1e5d52-6a48-4b5e-9f5c-0d6f4c1f2a11"]
    fields = check(client.get(f"/v2/lbaas/loadbalancers/{lb['id']}?fields=name&fields=tags"), 200)[
        "loadbalancer"
    ]
    assert fields == {"name": "view", "tags": ["a", "z"]}


def test_show_of_a_deleted_or_missing_load_balancer_is_404(api, client):
    lb = create_lb(client)
    with api.db.transaction() as session:
        session.get(models.LoadBalancer, lb["id"]).provisioning_status = c.DELETED
    for ident in (lb["id"], "0b6c1f0e-8d0e-4c1e-9d55-3f1e2b9c7a10"):
        assert client.get(f"/v2/lbaas/loadbalancers/{ident}").status_code == 404
