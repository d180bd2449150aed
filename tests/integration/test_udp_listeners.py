"""UDP listeners end to end: API + worker + a real local amphora running nginx's stream
module, DNS-like request/response through the VIP to UDP answer servers."""

from __future__ import annotations

import collections
import socket
import time

from ostia.amphora.haproxy_process import process_alive
from ostia.drivers.compute import local_processes as procs
from tests.support.health_stack import (
    create_lb,
    health_manager,
    lb_stats,
    status_tree,
    wait_until,
)
from tests.support.objects import check
from tests.support.udp_backends import FAST_UDP_MONITOR, ask, free_udp_port, udp_backends, udp_pool
from tests.support.worker_stack import WorkerStack, worker_stack

OVERRIDES = {"api_settings": {"udp_connect_min_interval_health_monitor": -1}}


def post(http, path: str, key: str, body: dict) -> dict:  # type: ignore[no-untyped-def]
    return check(http.post(f"/v2/lbaas/{path}", json={key: body}), 201)[key]


def answers(vip: str, port: int, count: int = 6) -> collections.Counter[str | None]:
    return collections.Counter(ask(vip, port) for _ in range(count))


def nginx_pids(stack: WorkerStack, listener_id: str) -> list[int]:
    """nginx processes (master and workers) of one UDP listener on the stack's amphorae."""
    found = []
    for instance in stack.amphorae.compute.list_instances():
        root = stack.amphorae.compute.instance_files(instance.compute_id).root
        for pid in procs.processes_in(root):
            line = " ".join(procs.command_line(pid))
            if "nginx" in line and (listener_id in line or "worker process" in line):
                found.append(pid)
    return found


def test_udp_listener_balances_takes_out_dead_and_admin_down_members_and_stops() -> None:
    with (
        worker_stack(overrides=OVERRIDES) as stack,
        stack.api.client() as http,
        udp_backends("a", "b") as (a, b),
    ):
        vip = stack.allocate_vip()
        lb = post(
            http, "loadbalancers", "loadbalancer", {"vip_subnet_id": "private-subnet", "vip_address": vip}
        )
        stack.wait_lb(http, lb["id"])
        port = free_udp_port(vip)
        listener = post(
            http,
            "listeners",
            "listener",
            {"loadbalancer_id": lb["id"], "protocol": "UDP", "protocol_port": port},
        )
        stack.wait_lb(http, lb["id"])
        pool = post(
            http,
            "pools",
            "pool",
            {"listener_id": listener["id"], "protocol": "UDP", "lb_algorithm": "ROUND_ROBIN"},
        )
        stack.wait_lb(http, lb["id"])
        members = {}
        for backend in (a, b):
            members[backend.name] = post(
                http,
                f"pools/{pool['id']}/members",
                "member",
                {"address": backend.address, "protocol_port": backend.port},
            )
            stack.wait_lb(http, lb["id"])
        post(
            http,
            "healthmonitors",
            "healthmonitor",
            {"pool_id": pool["id"], **FAST_UDP_MONITOR},
        )
        stack.wait_lb(http, lb["id"])

        # Round robin, one request per source port.
        assert answers(vip, port) == {"a": 3, "b": 3}
        # SOURCE_IP: every request of this client to one member.
        check(http.put(f"/v2/lbaas/pools/{pool['id']}", json={"pool": {"lb_algorithm": "SOURCE_IP"}}), 200)
        stack.wait_lb(http, lb["id"])
        assert len(answers(vip, port)) == 1
        check(http.put(f"/v2/lbaas/pools/{pool['id']}", json={"pool": {"lb_algorithm": "ROUND_ROBIN"}}), 200)
        stack.wait_lb(http, lb["id"])
        # A disabled listener is not served; enabled again, it is.
        check(
            http.put(f"/v2/lbaas/listeners/{listener['id']}", json={"listener": {"admin_state_up": False}}),
            200,
        )
        stack.wait_lb(http, lb["id"])
        assert ask(vip, port, timeout=0.5) is None
        check(
            http.put(f"/v2/lbaas/listeners/{listener['id']}", json={"listener": {"admin_state_up": True}}),
            200,
        )
        stack.wait_lb(http, lb["id"])
        assert answers(vip, port) == {"a": 3, "b": 3}
        (amphora,) = stack.amphorae.compute.list_instances()
        healthy = {"status": "UP", "members": {members["a"]["id"]: "UP", members["b"]["id"]: "UP"}}
        beat = stack.amphorae.heartbeats.wait_for(
            lambda m: m["pools"].get(pool["id"]) == healthy, timeout=10, amphora_id=amphora.amphora_id
        )
        assert beat["listeners"][listener["id"]]["status"] == "OPEN"
        # Statistics: sessions and bytes counted from nginx's per-session log.
        stack.amphorae.heartbeats.wait_for(lambda m: True, timeout=5, amphora_id=amphora.amphora_id)
        assert answers(vip, port) == {"a": 3, "b": 3}
        totals = collections.Counter[str]()
        deadline = time.monotonic() + 10
        while totals["totconns"] < 6 and time.monotonic() < deadline:
            stats = stack.amphorae.heartbeats.wait_for(
                lambda m: listener["id"] in m["listeners"], timeout=5, amphora_id=amphora.amphora_id
            )["listeners"][listener["id"]]["stats"]
            totals.update({k: v for k, v in stats.items() if k != "conns"})
        assert totals["totconns"] >= 6 and totals["rx"] >= 6 * 12 and totals["tx"] > totals["rx"]

        # An admin-down member gets no traffic and is reported MAINT.
        check(
            http.put(
                f"/v2/lbaas/pools/{pool['id']}/members/{members['b']['id']}",
                json={"member": {"admin_state_up": False}},
            ),
            200,
        )
        stack.wait_lb(http, lb["id"])
        before = b.received
        assert answers(vip, port) == {"a": 6}
        assert b.received == before
        stack.amphorae.heartbeats.wait_for(
            lambda m: m["pools"].get(pool["id"], {}).get("members", {}).get(members["b"]["id"]) == "MAINT",
            timeout=10,
            amphora_id=amphora.amphora_id,
        )
        check(
            http.put(
                f"/v2/lbaas/pools/{pool['id']}/members/{members['b']['id']}",
                json={"member": {"admin_state_up": True}},
            ),
            200,
        )
        stack.wait_lb(http, lb["id"])
        assert answers(vip, port) == {"a": 3, "b": 3}

        # A member that dies is taken out within a bounded time, and reported DOWN.
        b.stop()
        killed = time.monotonic()
        streak = 0
        while streak < 10:
            assert time.monotonic() - killed < 5, "the dead member is still chosen"
            streak = streak + 1 if ask(vip, port) == "a" else 0
        taken_out = time.monotonic() - killed
        stack.amphorae.heartbeats.wait_for(
            lambda m: m["pools"].get(pool["id"], {}).get("members", {}).get(members["b"]["id"]) == "DOWN",
            timeout=10,
            amphora_id=amphora.amphora_id,
        )
        time.sleep(1.5)  # past nginx's fail_timeout: the active check keeps it out
        assert answers(vip, port, 10) == {"a": 10}
        print(f"dead UDP member out of rotation after {taken_out:.2f} s")

        # Deleting the listener stops its nginx: no process left, nothing answers.
        running = nginx_pids(stack, listener["id"])
        assert running
        check(http.delete(f"/v2/lbaas/listeners/{listener['id']}"), 204)
        stack.wait_lb(http, lb["id"])
        assert not any(process_alive(pid) for pid in running)
        assert nginx_pids(stack, listener["id"]) == []
        assert ask(vip, port, timeout=0.5) is None

        check(http.delete(f"/v2/lbaas/loadbalancers/{lb['id']}", params={"cascade": "true"}), 204)
        stack.wait_lb(http, lb["id"], "DELETED")


def test_udp_operating_status_and_statistics_come_from_heartbeats() -> None:
    with (
        worker_stack(overrides=OVERRIDES) as stack,
        health_manager(stack),
        stack.api.client() as http,
        udp_backends("a", "b") as (a, b),
    ):
        vip = stack.allocate_vip()
        port = free_udp_port(vip)
        pool = udp_pool((x.address, x.port) for x in (a, b))
        lb = create_lb(
            stack,
            http,
            {
                "vip_subnet_id": "private-subnet",
                "vip_address": vip,
                "listeners": [{"protocol": "UDP", "protocol_port": port, "default_pool": pool}],
            },
        )

        def tree() -> dict:  # type: ignore[type-arg]
            return status_tree(http, lb["id"])

        def statuses() -> tuple[str, str, str, list[str]]:
            root = tree()
            (listener,) = root["listeners"]
            (served,) = listener["pools"]
            return (
                root["operating_status"],
                listener["operating_status"],
                served["operating_status"],
                sorted(m["operating_status"] for m in served["members"]),
            )

        wait_until(
            lambda: statuses() == ("ONLINE", "ONLINE", "ONLINE", ["ONLINE", "ONLINE"]),
            15,
            "everything ONLINE from UDP heartbeats",
        )
        assert answers(vip, port, 8) == {"a": 4, "b": 4}
        wait_until(
            lambda: lb_stats(http, lb["id"])["total_connections"] >= 8, 10, "8 UDP sessions in the statistics"
        )
        assert lb_stats(http, lb["id"])["bytes_in"] >= 8 * 12

        b.stop()
        wait_until(
            lambda: statuses() == ("DEGRADED", "ONLINE", "DEGRADED", ["ERROR", "ONLINE"]),
            15,
            "the dead member ERROR, its pool and the LB DEGRADED",
        )
        check(http.delete(f"/v2/lbaas/loadbalancers/{lb['id']}", params={"cascade": "true"}), 204)
        stack.wait_lb(http, lb["id"], "DELETED")
        assert stack.amphorae.compute.list_instances() == []


def test_a_udp_listener_whose_port_is_taken_goes_to_error_and_the_other_serves() -> None:
    with (
        worker_stack(overrides=OVERRIDES) as stack,
        stack.api.client() as http,
        udp_backends("a") as (a,),
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken,
    ):
        vip = stack.allocate_vip()
        good_port = free_udp_port(vip)
        pool = {
            "name": "p",
            "protocol": "UDP",
            "lb_algorithm": "ROUND_ROBIN",
            "members": [{"address": a.address, "protocol_port": a.port}],
        }
        lb = create_lb(
            stack,
            http,
            {
                "vip_subnet_id": "private-subnet",
                "vip_address": vip,
                "listeners": [{"protocol": "UDP", "protocol_port": good_port, "default_pool": pool}],
            },
        )
        assert ask(vip, good_port) == "a"
        taken.bind((vip, 0))  # no SO_REUSEADDR: nginx cannot share this port
        bad = post(
            http,
            "listeners",
            "listener",
            {"loadbalancer_id": lb["id"], "protocol": "UDP", "protocol_port": taken.getsockname()[1]},
        )
        stack.wait_lb(http, lb["id"], "ERROR")
        shown = check(http.get(f"/v2/lbaas/listeners/{bad['id']}"), 200)["listener"]
        assert shown["provisioning_status"] == "ERROR"
        assert "Address already in use" in shown["provisioning_status_reason"]
        assert "/tmp/" not in shown["provisioning_status_reason"]
        assert ask(vip, good_port) == "a"
        check(http.delete(f"/v2/lbaas/listeners/{bad['id']}"), 204)
        stack.wait_lb(http, lb["id"])
        assert ask(vip, good_port) == "a"
