"""API + worker + real local amphorae: an LB built, served, changed, failed over and deleted."""

from __future__ import annotations

import collections
import contextlib
import time

from ostia.common import constants as c
from tests.support.backends import fetch, free_port, http_backends
from tests.support.objects import check
from tests.support.worker_stack import WorkerStack, worker_stack


def post(stack: WorkerStack, http, path: str, key: str, body: dict) -> dict:  # type: ignore[no-untyped-def]
    return check(http.post(f"/v2/lbaas/{path}", json={key: body}), 201)[key]


def serving(vip: str, port: int, count: int = 6) -> collections.Counter[str]:
    return collections.Counter(fetch(vip, port)[1] for _ in range(count))


def test_lb_with_two_members_serves_alternately_and_deletes_without_leftovers() -> None:
    with (
        worker_stack() as stack,
        stack.api.client() as http,
        http_backends("a", "b", "c") as (a, b, backend_c),
    ):
        vip = stack.allocate_vip()
        started = time.monotonic()
        lb = post(
            stack,
            http,
            "loadbalancers",
            "loadbalancer",
            {"vip_subnet_id": "private-subnet", "vip_address": vip, "name": "e2e"},
        )
        stack.wait_lb(http, lb["id"])
        lb_seconds = time.monotonic() - started
        port = free_port(vip)
        listener = post(
            stack,
            http,
            "listeners",
            "listener",
            {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": port},
        )
        stack.wait_lb(http, lb["id"])
        pool = post(
            stack,
            http,
            "pools",
            "pool",
            {"listener_id": listener["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"},
        )
        stack.wait_lb(http, lb["id"])
        for backend in (a, b):
            post(
                stack,
                http,
                f"pools/{pool['id']}/members",
                "member",
                {"address": backend.address, "protocol_port": backend.port},
            )
            stack.wait_lb(http, lb["id"])
        assert serving(vip, port) == {"a": 3, "b": 3}

        # A change that renders the same configuration pushes nothing (md5 matches).
        uploads: list[str] = []
        upload = stack.drivers.amphora.upload_haproxy_config

        def counting_upload(*args, **kwargs):  # type: ignore[no-untyped-def]
            uploads.append(args[1])
            return upload(*args, **kwargs)

        stack.drivers.amphora.upload_haproxy_config = counting_upload  # type: ignore[method-assign]
        check(
            http.put(f"/v2/lbaas/loadbalancers/{lb['id']}", json={"loadbalancer": {"name": "renamed"}}), 200
        )
        stack.wait_lb(http, lb["id"])
        assert uploads == []

        (amphora,) = stack.amphorae.compute.list_instances()
        # A third member reaches the same amphora: no rebuild, traffic includes it.
        started = time.monotonic()
        post(
            stack,
            http,
            f"pools/{pool['id']}/members",
            "member",
            {"address": backend_c.address, "protocol_port": backend_c.port},
        )
        stack.wait_lb(http, lb["id"])
        member_seconds = time.monotonic() - started
        assert set(serving(vip, port)) == {"a", "b", "c"}
        assert uploads == [lb["id"]]
        assert [i.compute_id for i in stack.amphorae.compute.list_instances()] == [amphora.compute_id]

        # Failover: a new amphora takes over the same VIP, the old one is gone.
        check(http.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover"), 202)
        stack.wait_lb(http, lb["id"])
        (replacement,) = stack.amphorae.compute.list_instances()
        assert replacement.compute_id != amphora.compute_id
        assert replacement.amphora_id != amphora.amphora_id
        assert set(serving(vip, port)) == {"a", "b", "c"}

        check(http.delete(f"/v2/lbaas/loadbalancers/{lb['id']}", params={"cascade": "true"}), 204)
        stack.wait_lb(http, lb["id"], c.DELETED)
        assert stack.amphorae.compute.list_instances() == []
        with contextlib.suppress(OSError):
            status, _ = fetch(vip, port, timeout=1)
            raise AssertionError(f"the VIP still answers after delete ({status})")
        print(f"POST LB -> ACTIVE {lb_seconds:.2f} s, POST member -> ACTIVE {member_seconds:.2f} s")
