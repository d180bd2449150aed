"""Member changes reach a real haproxy through its runtime API, without a reload; the file
written is the same, so a restart serves the same servers; other changes still reload. A
removed member haproxy cannot delete yet (a connection left) stays in maintenance, unreported,
until a background retry deletes it; adding it back, reloading or restarting all work."""

from __future__ import annotations

import collections
import contextlib
import http.client
import http.server
import os
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from ostia.amphora.haproxy_limits import descriptor_cap
from ostia.amphora.haproxy_process import MasterStatus, parse_show_proc
from ostia.amphora.haproxy_socket import send_command
from ostia.common import exceptions, heartbeat_format
from tests.integration.agent_fixtures import (  # noqa: F401 (fixtures)
    HEARTBEAT_KEY,
    Backend,
    HeartbeatListener,
    HttpLoadBalancer,
    LocalAgent,
    agent,
    agent_ca,
    backends,
    get,
    heartbeat_listener,
)


@pytest.fixture
def lb(agent: LocalAgent):  # noqa: F811
    balancer = HttpLoadBalancer.new()
    yield balancer
    agent.driver.delete_listeners(agent.amp, balancer.lb_id)


def _config(
    agent: LocalAgent,  # noqa: F811
    lb: HttpLoadBalancer,
    members: list[tuple[Backend, int, bool]],
    extra: str = "",
) -> str:
    """The LB with `members` as (backend, weight, enabled) server lines."""
    text = lb.config(agent.base_path, {}, extra_frontend=extra)
    for backend, weight, enabled in members:
        text += f"    server {backend.member_id} 127.0.0.1:{backend.port} weight {weight}"
        text += "\n" if enabled else " disabled\n"
    return text


def _push(agent: LocalAgent, lb: HttpLoadBalancer, config: str) -> None:  # noqa: F811
    """What the worker does: upload, then ask for a reload."""
    agent.driver.upload_haproxy_config(agent.amp, lb.lb_id, config)
    agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)


def _processes(agent: LocalAgent, lb: HttpLoadBalancer) -> MasterStatus:  # noqa: F811
    status = parse_show_proc(send_command(os.path.join(agent.base_path, lb.lb_id, "cli"), "show proc"))
    assert status is not None
    return status


def _answers(lb: HttpLoadBalancer, count: int) -> collections.Counter[str]:
    results = [get(lb.url) for _ in range(count)]
    assert {status for status, _ in results} == {200}, results
    return collections.Counter(body for _, body in results)


def _servers(agent: LocalAgent, lb: HttpLoadBalancer) -> set[tuple[object, ...]]:  # noqa: F811
    """(name, address, port, in maintenance, weight) of every server haproxy runs."""
    text = send_command(agent.stats_socket(lb.lb_id), "show servers state")
    rows: set[tuple[object, ...]] = set()
    for line in text.splitlines()[2:]:
        fields = line.split()
        if len(fields) > 18:
            # Admin state bits: 1 maintenance set on the CLI, 4 set by the configuration
            # (`disabled`); either is the MAINT a user sees.
            rows.add((fields[3], fields[4], fields[18], int(fields[6]) & 5 != 0, fields[7]))
    return rows


def test_member_add_weight_disable_and_remove_change_traffic_without_a_reload(agent, lb):  # noqa: F811
    with backends("one", "two") as (one, two):
        _push(agent, lb, _config(agent, lb, [(one, 1, True)]))
        assert _answers(lb, 2) == {"one": 2}
        before = _processes(agent, lb)

        _push(agent, lb, _config(agent, lb, [(one, 1, True), (two, 1, True)]))
        added = _answers(lb, 4)
        _push(agent, lb, _config(agent, lb, [(one, 1, True), (two, 3, True)]))
        weighted = _answers(lb, 40)
        _push(agent, lb, _config(agent, lb, [(one, 1, True), (two, 3, False)]))
        disabled = _answers(lb, 4)
        _push(agent, lb, _config(agent, lb, [(one, 1, True), (two, 3, True)]))
        enabled = _answers(lb, 40)
        _push(agent, lb, _config(agent, lb, [(one, 1, True)]))
        removed = _answers(lb, 4)
        after = _processes(agent, lb)

    assert added == {"one": 2, "two": 2}
    # Weights 1:3 over 40 requests: 10 and 30, within the slack of a cycle begun mid-way.
    assert abs(weighted["one"] - 10) <= 2 and weighted["one"] + weighted["two"] == 40
    assert disabled == {"one": 4}
    assert abs(enabled["one"] - 10) <= 2 and enabled["one"] + enabled["two"] == 40
    assert removed == {"one": 4}
    assert (after.master_pid, after.workers, after.reloads) == (
        before.master_pid,
        before.workers,
        before.reloads,
    )
    assert after.old_workers == ()


def test_restart_from_the_written_file_runs_the_same_servers(agent, lb):  # noqa: F811
    with backends("one", "two", "three") as (one, two, three):
        _push(agent, lb, _config(agent, lb, [(one, 1, True), (two, 1, True)]))
        reloads = _processes(agent, lb).reloads
        _push(agent, lb, _config(agent, lb, [(two, 5, False), (three, 2, True)]))
        assert _processes(agent, lb).reloads == reloads
        runtime = _servers(agent, lb)

        agent.driver.loadbalancer_action(agent.amp, lb.lb_id, "stop")
        agent.driver.loadbalancer_action(agent.amp, lb.lb_id, "start")
        restarted = _servers(agent, lb)
        answers = _answers(lb, 3)
        # A member disabled by the file it started from comes back at runtime too.
        reloads = _processes(agent, lb).reloads
        _push(agent, lb, _config(agent, lb, [(two, 5, True), (three, 2, True)]))
        enabled = _answers(lb, 35)
        reloads_after = _processes(agent, lb).reloads

    assert {row[0] for row in runtime} == {two.member_id, three.member_id}
    assert restarted == runtime
    assert answers == {"three": 3}
    assert abs(enabled["three"] - 10) <= 2 and enabled["two"] + enabled["three"] == 35
    assert reloads_after == reloads


def test_a_change_beyond_server_lines_still_reloads(agent, lb):  # noqa: F811
    with backends("one", "two") as (one, two):
        _push(agent, lb, _config(agent, lb, [(one, 1, True)]))
        before = _processes(agent, lb)
        _push(
            agent,
            lb,
            _config(
                agent, lb, [(one, 1, True), (two, 1, True)], extra="http-response set-header X-Changed yes"
            ),
        )
        answers = _answers(lb, 4)
        after = _processes(agent, lb)

    assert answers == {"one": 2, "two": 2}
    assert after.master_pid == before.master_pid
    assert after.reloads == before.reloads + 1
    assert after.workers != before.workers


def test_a_server_line_haproxy_refuses_is_undone_refused_and_the_old_config_serves(agent, lb):  # noqa: F811
    with backends("one", "two", "three") as (one, two, three):
        good = _config(agent, lb, [(one, 1, True)])
        _push(agent, lb, good)
        before = _processes(agent, lb)
        bad = _config(agent, lb, [(one, 1, True), (two, 1, True), (three, 1, True)])
        bad = bad.replace(
            f"127.0.0.1:{three.port} weight 1",
            f"127.0.0.1:{three.port} weight 1 ssl ca-file /nonexistent/ca.pem",
        )

        # The upload skips `haproxy -c` (members only); the reload finds the refusal.
        agent.driver.upload_haproxy_config(agent.amp, lb.lb_id, bad)
        with pytest.raises(exceptions.AgentInvalidRequest) as refused:
            agent.driver.reload_loadbalancer(agent.amp, lb.lb_id)
        answers = _answers(lb, 4)
        servers = _servers(agent, lb)
        after = _processes(agent, lb)

    assert "ca.pem" in str(refused.value)
    assert answers == {"one": 4}
    # `two`, added before `three` was refused, was taken out again.
    assert {row[0] for row in servers} == {one.member_id}
    assert agent.driver.get_haproxy_config(agent.amp, lb.lb_id) == good
    assert (after.master_pid, after.reloads) == (before.master_pid, before.reloads)


def _info(agent: LocalAgent, lb: HttpLoadBalancer) -> dict[str, str]:  # noqa: F811
    text = send_command(agent.stats_socket(lb.lb_id), "show info")
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


def test_haproxy_connection_limit_is_capped_to_its_descriptors(agent, lb):  # noqa: F811
    with backends("one") as (one,):
        config = _config(agent, lb, [(one, 1, True)]).replace("maxconn 1000", "maxconn 50000")
        _push(agent, lb, config)
        info = _info(agent, lb)
        answers = _answers(lb, 2)
        with open(f"/proc/{_processes(agent, lb).master_pid}/limits") as handle:
            hard_limit = int(next(line for line in handle if line.startswith("Max open files")).split()[4])

    assert answers == {"one": 2}
    if hard_limit < 2 * 50000:
        # The descriptor table is sized to what the process may open, not to 50000.
        assert int(info["Maxconn"]) == descriptor_cap(hard_limit)
        assert int(info["Maxsock"]) <= hard_limit
    else:
        assert int(info["Maxconn"]) == 50000


# -- a removed member haproxy does not let go of yet ----------------------------------------
#
# haproxy 2.6 refuses `del server` while the server has a connection, an idle one in its
# reuse pool included, and closes pooled connections only at `pool-purge-delay` rounds. The
# tests below hold a request on the member being removed (so that the refusal is certain),
# then let it end, which leaves its connection idle in the pool. The backend here purges
# every 500 ms instead of the default 5 s, so that the background deletion comes in about a
# second rather than in 10-15 s; the mechanism is the same.

PURGE = "    default-server pool-purge-delay 500ms\n"


class _QuietHTTPServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # haproxy closes pooled connections when it purges or deletes a server


class HeldBackend:
    """An HTTP server answering its name; `GET /hold` waits for `release()` first. Counts
    the requests it receives."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.member_id = str(uuid.uuid4())
        self.requests = 0
        self.holding = threading.Event()
        self._release = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                owner.requests += 1
                if self.path == "/hold":
                    owner.holding.set()
                    owner._release.wait(30)
                body = owner.name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = _QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def release(self) -> None:
        self._release.set()

    def stop(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def held_backends(*names: str) -> Iterator[list[HeldBackend]]:
    started: list[HeldBackend] = []
    try:
        for name in names:
            started.append(HeldBackend(name))
        yield started
    finally:
        for backend in started:
            backend.stop()


class HeldRequest:
    """`GET /hold` on a keep-alive connection through the VIP, answered once released; the
    connection stays open afterwards, as a browser's would."""

    def __init__(self, lb: HttpLoadBalancer, backend: HeldBackend) -> None:
        self.connection = http.client.HTTPConnection(lb.vip, lb.port, timeout=30)
        self.answer: tuple[int, str] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert backend.holding.wait(10), "the held request did not reach its member"

    def _run(self) -> None:
        try:
            self.connection.request("GET", "/hold")
            response = self.connection.getresponse()
            self.answer = (response.status, response.read().decode())
        except (OSError, http.client.HTTPException):
            self.answer = None  # a restart of haproxy cuts it

    def finish(self) -> tuple[int, str] | None:
        self._thread.join(30)
        return self.answer

    def again(self) -> str:
        """One more request on the same client connection; the member that answered."""
        self.connection.request("GET", "/")
        return self.connection.getresponse().read().decode()

    def close(self) -> None:
        self.connection.close()


def _held_config(agent: LocalAgent, lb: HttpLoadBalancer, members: list[HeldBackend], extra: str = "") -> str:  # noqa: F811
    text = lb.config(agent.base_path, {}, extra_frontend=extra) + PURGE
    for backend in members:
        text += f"    server {backend.member_id} 127.0.0.1:{backend.port} weight 1\n"
    return text


def _connections(agent: LocalAgent, lb: HttpLoadBalancer, member_id: str) -> dict[str, int]:  # noqa: F811
    """`show servers conn` of one server: used_cur, idle_cur, ... by name."""
    text = send_command(agent.stats_socket(lb.lb_id), f"show servers conn {lb.pool_id}:{lb.listener_id}")
    lines = text.splitlines()
    header = lines[0].lstrip("# ").split()
    for line in lines[1:]:
        fields = line.split()
        if fields and fields[0].endswith(f"/{member_id}"):
            return {
                name: int(value)
                for name, value in zip(header, fields, strict=False)
                if value.lstrip("-").isdigit()
            }
    return {}


def _member_reports(listener: HeartbeatListener, lb: HttpLoadBalancer, count: int) -> list[set[str]]:  # noqa: F811
    """The member ids of `lb`'s pool in the next `count` heartbeats, after those waiting."""
    listener.drain()
    reports = []
    for _ in range(count):
        message = heartbeat_format.decode(listener.receive(5), HEARTBEAT_KEY)
        pool = message["pools"].get(f"{lb.pool_id}:{lb.listener_id}", {})
        reports.append(set(pool.get("members", {})))
    return reports


def _same_worker(before: MasterStatus, after: MasterStatus) -> bool:
    """No reload and no restart between the two."""
    return (after.master_pid, after.workers, after.reloads) == (
        before.master_pid,
        before.workers,
        before.reloads,
    )


def _wait_gone(agent: LocalAgent, lb: HttpLoadBalancer, member_id: str, timeout: float) -> float:  # noqa: F811
    start = time.monotonic()
    while member_id in {row[0] for row in _servers(agent, lb)}:
        assert time.monotonic() - start < timeout, f"{member_id} still in haproxy after {timeout} s"
        time.sleep(0.05)
    return time.monotonic() - start


def test_a_member_removed_with_a_connection_lingers_unreported_and_is_deleted_later(
    agent,  # noqa: F811
    lb,
    heartbeat_listener,  # noqa: F811
):
    with held_backends("one", "two") as (one, two):
        _push(agent, lb, _held_config(agent, lb, [two]))
        before = _processes(agent, lb)
        held = HeldRequest(lb, two)
        try:
            # Replace `two` by `one` while a request on `two` is running.
            _push(agent, lb, _held_config(agent, lb, [one]))
            lingering = _servers(agent, lb)
            conns_in_flight = _connections(agent, lb, two.member_id)
            answers = _answers(lb, 6)
            reports = _member_reports(heartbeat_listener, lb, 2)
            still_there = two.member_id in {row[0] for row in _servers(agent, lb)}

            two.release()
            held_answer = held.finish()
            conns_after = _connections(agent, lb, two.member_id)
            same_client = [held.again() for _ in range(3)]
            waited = _wait_gone(agent, lb, two.member_id, timeout=15)
            after = _processes(agent, lb)
        finally:
            held.close()

    # The change was applied without a reload, and the removed member left in maintenance.
    assert _same_worker(before, after)
    assert {(row[0], row[3]) for row in lingering} == {(one.member_id, False), (two.member_id, True)}
    assert conns_in_flight["used_cur"] == 1
    # It takes no new request, and no heartbeat reports it while haproxy keeps it.
    assert answers == {"one": 6} and same_client == ["one"] * 3 and two.requests == 1
    assert still_there and reports == [{one.member_id}] * 2
    # The request running on it ended normally; its connection then idled in the reuse pool
    # (what `del server` refuses), and the pool purge let the background deletion through.
    assert held_answer == (200, "two")
    assert conns_after["used_cur"] == 0 and conns_after["idle_cur"] == 1
    assert waited < 15
    with open(agent.log_path, errors="replace") as handle:
        log = handle.read()
    assert "1 removed server(s) in maintenance until haproxy lets them go" in log
    assert f"lingering server {lb.pool_id}:{lb.listener_id}/{two.member_id} deleted after" in log


def test_a_lingering_member_added_back_serves_again_without_a_reload(agent, lb):  # noqa: F811
    with held_backends("one", "two") as (one, two):
        _push(agent, lb, _held_config(agent, lb, [two]))
        before = _processes(agent, lb)
        held = HeldRequest(lb, two)
        try:
            _push(agent, lb, _held_config(agent, lb, [one]))
            lingering = _servers(agent, lb)
            # The same member (same name, address and words) is added back.
            _push(agent, lb, _held_config(agent, lb, [one, two]))
            back = _servers(agent, lb)
            answers = _answers(lb, 4)
            two.release()
            assert held.finish() == (200, "two")
            # Past a few background retries it is still there, serving.
            time.sleep(1.5)
            later = _servers(agent, lb)
            answers_later = _answers(lb, 4)
            # Removed again, now without a connection left: deleted at once.
            _push(agent, lb, _held_config(agent, lb, [one]))
            removed = _servers(agent, lb)
            after = _processes(agent, lb)
        finally:
            held.close()

    assert {(row[0], row[3]) for row in lingering} == {(one.member_id, False), (two.member_id, True)}
    assert {(row[0], row[3]) for row in back} == {(one.member_id, False), (two.member_id, False)}
    assert answers == {"one": 2, "two": 2}
    assert later == back and answers_later == {"one": 2, "two": 2}
    assert {row[0] for row in removed} == {one.member_id}
    assert _same_worker(before, after)


@pytest.mark.parametrize("how", ["reload", "restart"])
def test_a_reload_or_restart_drops_a_lingering_member(agent, lb, how):  # noqa: F811
    with held_backends("one", "two") as (one, two):
        _push(agent, lb, _held_config(agent, lb, [two]))
        held = HeldRequest(lb, two)
        try:
            _push(agent, lb, _held_config(agent, lb, [one]))
            lingering = {row[0] for row in _servers(agent, lb)}
            if how == "reload":
                # A change beyond server lines reloads haproxy: the new worker starts from the file.
                _push(
                    agent, lb, _held_config(agent, lb, [one], extra="http-response set-header X-Changed yes")
                )
            else:
                agent.driver.loadbalancer_action(agent.amp, lb.lb_id, "stop")
                agent.driver.loadbalancer_action(agent.amp, lb.lb_id, "start")
            dropped = {row[0] for row in _servers(agent, lb)}
            answers = _answers(lb, 4)
            two.release()
            held.finish()
        finally:
            held.close()

    assert lingering == {one.member_id, two.member_id}
    assert dropped == {one.member_id}
    assert answers == {"one": 4}
