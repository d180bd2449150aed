"""The worker's graph snapshot (few queries, detached objects) holds everything the renderer
reads: the configuration rendered from it equals the one rendered from a plain ORM load
with every relationship loaded lazily in an open session."""

from __future__ import annotations

from typing import Any

import httpx

from ostia.controller.worker.graph import read_snapshot
from ostia.controller.worker.haproxy.render import render_haproxy_config
from ostia.db import models
from tests.support.live_api import LiveAPI
from tests.support.objects import (
    create_healthmonitor,
    create_l7policy,
    create_l7rule,
    create_lb,
    create_listener,
    create_member,
    create_pool,
)


def build_graph(client: httpx.Client) -> str:
    """Two listeners, pools shared by default and by L7 redirects, members, a monitor,
    session persistence, rules, tags: every relationship the snapshot loads."""
    lb = create_lb(client, vip_address="127.2.9.9", tags=["lb-tag"])
    web = create_listener(client, lb["id"], port=80, tags=["web"])
    api = create_listener(client, lb["id"], port=8080)
    main = create_pool(
        client,
        listener_id=web["id"],
        session_persistence={"type": "APP_COOKIE", "cookie_name": "sid"},
        tags=["pool-tag"],
    )
    other = create_pool(client, loadbalancer_id=lb["id"])
    create_pool(client, listener_id=api["id"], lb_algorithm="LEAST_CONNECTIONS")
    for index, pool in enumerate((main, other, main)):
        create_member(client, pool["id"], address=f"192.0.2.{10 + index}", port=8000 + index, tags=["m"])
    create_healthmonitor(client, main["id"], url_path="/health")
    to_other = create_l7policy(client, web["id"], action="REDIRECT_TO_POOL", redirect_pool_id=other["id"])
    create_l7rule(client, to_other["id"], value="/other")
    create_l7rule(client, to_other["id"], rule_type="HEADER", compare_type="EQUAL_TO", key="X-A", value="b")
    rejected = create_l7policy(client, api["id"], action="REJECT", position=1)
    create_l7rule(client, rejected["id"], value="/admin")
    return str(lb["id"])


def render(lb: models.LoadBalancer, api: LiveAPI) -> str:
    options: dict[str, Any] = {"amphora_id": "amp-1", "base_path": "/srv/amp", "cert_dir": "/srv/certs"}
    return render_haproxy_config(lb, api.conf, **options)


def test_the_snapshot_renders_what_a_full_load_renders(api: LiveAPI, client: httpx.Client) -> None:
    lb_id = build_graph(client)
    snapshot = read_snapshot(api.db, lb_id)
    assert snapshot is not None
    from_snapshot = render(snapshot.lb, api)
    with api.db.transaction() as session:
        lb = session.get(models.LoadBalancer, lb_id)
        assert lb is not None
        from_full_load = render(lb, api)
    assert from_snapshot == from_full_load
    # The graph really has what the comparison is about.
    assert "/other" in from_snapshot and "X-A" in from_snapshot and "/admin" in from_snapshot
    assert "sid" in from_snapshot and "/health" in from_snapshot and "192.0.2.12:8002" in from_snapshot
