"""UDP listeners on the amphora: one nginx (stream module) per listener, driven through the
same agent API paths as upstream's keepalived/LVS listeners, with the health monitor run by
the agent.

Files, under `[haproxy_amphora] base_path`:

    <base_path>/udp/<listener_id>/udp_listener.conf   the uploaded stream block (GET returns it)
    <base_path>/udp/<listener_id>/stream.conf         what nginx runs: the upload, with the
                                                      members the check found down marked `down`
    <base_path>/udp/<listener_id>/nginx.conf          written by the agent: module, pid file,
                                                      error log, access log, include stream.conf
    <base_path>/udp/<listener_id>/nginx.pid, error.log
    <base_path>/udp/<listener_id>/stopped             present after a `stop` action
    <base_path>/udp/stats-port                        where the agent receives the access log
                                                      of every nginx (statistics, udp_stats)

A background thread restarts an nginx that died without a `stop` (upstream: systemd), and
runs each listener's health check every `interval` seconds; a member that changes state
rewrites stream.conf and reloads nginx, so a down member gets no new sessions. It and the
statistics receiver run only on an amphora that has a UDP listener: most amphorae have
none, and a thousand idle agents waking five times a second would spend a core's share. nginx's own
passive check (`max_fails`/`fail_timeout`, rendered by the controller) takes a member that
refuses datagrams out before the next round.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import hashlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ostia.amphora import udp_config
from ostia.amphora.nginx_process import NginxConfigError, NginxController, NginxError
from ostia.amphora.paths import is_object_id
from ostia.amphora.udp_probes import MemberHealth, probe
from ostia.amphora.udp_stats import UdpStatsReceiver

LOG = logging.getLogger(__name__)

ACTIONS = ("start", "stop", "reload")
CLONE_NEWNET = 0x40000000
RETRY_AFTER = 5.0  # seconds before starting again an nginx that failed to start
CHECK_THREADS = 8


@dataclasses.dataclass
class _CheckState:
    next_round: float = 0.0
    members: dict[str, MemberHealth] = dataclasses.field(default_factory=dict)


class UdpPaths:
    def __init__(self, base_path: str) -> None:
        self.root = os.path.join(base_path, "udp")
        self.stats_port = os.path.join(self.root, "stats-port")

    def dir(self, listener_id: str) -> str:
        return os.path.join(self.root, listener_id)

    def uploaded(self, listener_id: str) -> str:
        return os.path.join(self.dir(listener_id), "udp_listener.conf")

    def stream(self, listener_id: str) -> str:
        return os.path.join(self.dir(listener_id), "stream.conf")

    def main(self, listener_id: str) -> str:
        return os.path.join(self.dir(listener_id), "nginx.conf")

    def pid(self, listener_id: str) -> str:
        return os.path.join(self.dir(listener_id), "nginx.pid")

    def error_log(self, listener_id: str) -> str:
        return os.path.join(self.dir(listener_id), "error.log")

    def stopped(self, listener_id: str) -> str:
        return os.path.join(self.dir(listener_id), "stopped")


class UdpListeners:
    def __init__(
        self,
        base_path: str,
        nginx: NginxController,
        lock_for: Callable[[str], threading.Lock],
        namespace: str = "",
        interval: float = 0.2,
    ) -> None:
        self.paths = UdpPaths(os.path.abspath(base_path))
        self.nginx = nginx
        self.lock_for = lock_for
        self.namespace = namespace
        self.interval = interval
        self.stats = UdpStatsReceiver(self.paths.stats_port)
        self._checks: dict[str, _CheckState] = {}
        self._failed_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_guard = threading.Lock()
        self._started = False

    # -- files ---------------------------------------------------------------------------

    def ids(self) -> list[str]:
        """UDP listeners configured on this amphora, sorted."""
        try:
            names = os.listdir(self.paths.root)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if is_object_id(n) and os.path.isfile(self.paths.uploaded(n)))

    def exists(self, listener_id: str) -> bool:
        return os.path.isfile(self.paths.uploaded(listener_id))

    def read(self, listener_id: str) -> bytes | None:
        try:
            with open(self.paths.uploaded(listener_id), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def spec(self, listener_id: str) -> udp_config.UdpListenerSpec | None:
        text = self.read(listener_id)
        if text is None:
            return None
        try:
            return udp_config.parse(text.decode(errors="replace"))
        except udp_config.UdpConfigError:
            return None

    def install(self, listener_id: str, body: bytes) -> str:
        """Check `body` with `nginx -t` and make it the listener's configuration; its md5.

        Raises NginxConfigError (the previous configuration stays) when refused.
        """
        try:
            text = body.decode()
            spec = udp_config.parse(text)
        except (UnicodeDecodeError, udp_config.UdpConfigError) as exc:
            raise NginxConfigError("Invalid request", str(exc)) from None
        directory = self.paths.dir(listener_id)
        os.makedirs(directory, mode=0o755, exist_ok=True)
        if self._started:
            self._receive_stats()  # nginx.conf names its port
        down = self._down_members(listener_id, spec)
        staged_stream = self.paths.stream(listener_id) + ".new"
        staged_main = self.paths.main(listener_id) + ".new"
        _write(self.paths.uploaded(listener_id) + ".new", body)
        _write(staged_stream, udp_config.effective_stream(text, down).encode())
        _write(staged_main, self._main(listener_id, staged_stream).encode())
        passed, output = self.nginx.check(directory, staged_main, self.paths.error_log(listener_id))
        if not passed:
            os.replace(
                self.paths.uploaded(listener_id) + ".new", self.paths.uploaded(listener_id) + ".new-failed"
            )
            for path in (staged_stream, staged_main):
                os.unlink(path)
            raise NginxConfigError("Invalid request", output)
        os.replace(staged_stream, self.paths.stream(listener_id))
        os.unlink(staged_main)
        _write(self.paths.main(listener_id), self._main(listener_id, self.paths.stream(listener_id)).encode())
        os.replace(self.paths.uploaded(listener_id) + ".new", self.paths.uploaded(listener_id))
        if spec.check is None:
            self._checks.pop(listener_id, None)
        self._supervise_in_background()
        return hashlib.md5(body).hexdigest()

    def _main(self, listener_id: str, stream_path: str) -> str:
        return udp_config.main_config(
            stream_path=stream_path,
            pid_path=self.paths.pid(listener_id),
            error_log=self.paths.error_log(listener_id),
            listener_id=listener_id,
            stats_port=self.stats.port,
            stream_module=self.nginx.stream_module(),
        )

    def remove(self, listener_id: str) -> None:
        """Stop nginx and delete the listener's files."""
        self.nginx.stop(listener_id, self.paths.pid(listener_id), self.paths.main(listener_id))
        self._checks.pop(listener_id, None)
        shutil.rmtree(self.paths.dir(listener_id), ignore_errors=True)
        self.stats.take(listener_id)

    # -- processes -------------------------------------------------------------------------

    def is_running(self, listener_id: str) -> bool:
        return self.nginx.master_pid(self.paths.pid(listener_id), self.paths.main(listener_id)) is not None

    def action(self, listener_id: str, action: str) -> None:
        """start, stop or reload the listener's nginx (reload starts a stopped one)."""
        args = (
            listener_id,
            self.paths.dir(listener_id),
            self.paths.main(listener_id),
            self.paths.pid(listener_id),
            self.paths.error_log(listener_id),
        )
        if action == "stop":
            with open(self.paths.stopped(listener_id), "w"):
                pass
            self.nginx.stop(listener_id, self.paths.pid(listener_id), self.paths.main(listener_id))
            return
        try:
            os.unlink(self.paths.stopped(listener_id))
        except FileNotFoundError:
            pass
        if action == "start":
            self.nginx.start(*args)
        else:
            self.nginx.reload(*args)

    def _stopped_on_purpose(self, listener_id: str) -> bool:
        return os.path.exists(self.paths.stopped(listener_id))

    # -- health ----------------------------------------------------------------------------

    def _down_members(self, listener_id: str, spec: udp_config.UdpListenerSpec) -> set[str]:
        state = self._checks.get(listener_id)
        if state is None or spec.check is None:
            return set()
        return {m.member_id for m in spec.members if not state.members.get(m.member_id, MemberHealth()).up}

    def check_round(self, listener_id: str, now: float | None = None) -> bool:
        """Run the listener's health check if due; True if a member changed state (and
        nginx was told)."""
        spec = self.spec(listener_id)
        if spec is None or spec.check is None:
            self._checks.pop(listener_id, None)
            return False
        now = time.monotonic() if now is None else now
        state = self._checks.setdefault(listener_id, _CheckState())
        if now < state.next_round:
            return False
        check = spec.check
        state.next_round = now + check.interval
        targets = {
            m.member_id: m.check_address
            for m in spec.members
            if m.check_address is not None and not m.admin_down
        }
        results = probe(check.type, targets.values(), check.timeout, check.http)
        changed = False
        for member_id, target in targets.items():
            health = state.members.setdefault(member_id, MemberHealth())
            if health.record(results.get(target, False), check.rise, check.fall):
                LOG.warning(
                    "UDP listener %s: member %s is %s", listener_id, member_id, "UP" if health.up else "DOWN"
                )
                changed = True
        for gone in set(state.members) - set(targets):
            del state.members[gone]
        if changed:
            self._apply_health(listener_id)
        return changed

    def _apply_health(self, listener_id: str) -> None:
        with self.lock_for(listener_id):
            spec = self.spec(listener_id)
            text = self.read(listener_id)
            if spec is None or text is None:
                return
            down = self._down_members(listener_id, spec)
            _write(
                self.paths.stream(listener_id),
                udp_config.effective_stream(text.decode(errors="replace"), down).encode(),
            )
            if self.is_running(listener_id):
                try:
                    self.action(listener_id, "reload")
                except NginxError as exc:
                    LOG.error("UDP listener %s: reload after a health change failed: %s", listener_id, exc)

    def member_statuses(self, listener_id: str, spec: udp_config.UdpListenerSpec) -> dict[str, str]:
        """Heartbeat status of each member, in haproxy's words."""
        state = self._checks.get(listener_id)
        statuses = {}
        for member in spec.members:
            if member.admin_down:
                statuses[member.member_id] = "MAINT"
            elif spec.check is None:
                statuses[member.member_id] = "no check"
            else:
                health = state.members.get(member.member_id) if state else None
                up = health.up if health is not None else True
                statuses[member.member_id] = ("DRAIN" if member.drain else "UP") if up else "DOWN"
        return statuses

    # -- heartbeat -------------------------------------------------------------------------

    def add_to_heartbeat(self, message: dict[str, Any]) -> None:
        """Add every running UDP listener, its pool and members to a heartbeat message."""
        listeners = message.setdefault("listeners", {})
        pools = message.setdefault("pools", {})
        for listener_id in self.ids():
            spec = self.spec(listener_id)
            counters = self.stats.take(listener_id)
            if spec is None or not self.is_running(listener_id):
                continue
            listeners[listener_id] = {
                "status": "OPEN",
                "stats": {
                    "rx": counters.rx,
                    "tx": counters.tx,
                    "conns": 0,
                    "totconns": counters.sessions,
                    "ereq": counters.errors,
                },
            }
            if spec.pool_id is None:
                continue
            members = self.member_statuses(listener_id, spec)
            serving = any(s in ("UP", "no check", "DRAIN") for s in members.values())
            pools[spec.pool_id] = {"status": "UP" if serving else "DOWN", "members": members}

    # -- background ------------------------------------------------------------------------

    def start(self) -> None:
        """At the agent's start: supervise the listeners there are (none: nothing runs
        until the first one is installed)."""
        os.makedirs(self.paths.root, mode=0o755, exist_ok=True)
        self._started = True
        ids = self.ids()
        if not ids:
            return
        self._receive_stats()
        for listener_id in ids:
            self._refresh_main(listener_id)
        self._supervise_in_background()

    def stop(self) -> None:
        self._stop.set()
        with self._thread_guard:
            thread = self._thread
        if thread is not None:
            thread.join(timeout=5)
        self.stats.stop()

    def _receive_stats(self) -> None:
        if not self.stats.started:
            self.stats.start(self._enter_namespace)

    def _supervise_in_background(self) -> None:
        """Run the supervision thread unless it runs (only once the agent has started)."""
        with self._thread_guard:
            if not self._started or self._stop.is_set():
                return
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="udp-listeners", daemon=True)
                self._thread.start()

    def _none_left(self) -> bool:
        """True (and the thread may end) when no UDP listener is left; under the guard,
        so that an install that comes at the same time starts a new thread."""
        with self._thread_guard:
            if self.ids():
                return False
            self._thread = None
            return True

    def _enter_namespace(self) -> None:
        if self.namespace:
            # Members (and nginx's loopback) are in the VIP namespace; namespaces are per
            # thread, so only the calling thread moves.
            enter_network_namespace(self.namespace)

    def _refresh_main(self, listener_id: str) -> None:
        """Point an existing listener's nginx at this run's statistics port."""
        path = self.paths.main(listener_id)
        wanted = self._main(listener_id, self.paths.stream(listener_id))
        with contextlib.suppress(OSError), open(path) as handle:
            if handle.read() == wanted:
                return
        with self.lock_for(listener_id):
            _write(path, wanted.encode())
            if self.is_running(listener_id):
                try:
                    self.action(listener_id, "reload")
                except NginxError as exc:
                    LOG.error("UDP listener %s: reload failed: %s", listener_id, exc)

    def _run(self) -> None:
        self._enter_namespace()
        # A check round waits up to the monitor's timeout (silence means up): rounds of
        # different listeners run side by side so that none delays another.
        pool = ThreadPoolExecutor(
            max_workers=CHECK_THREADS, thread_name_prefix="udp-check", initializer=self._enter_namespace
        )
        checking: dict[str, Future[bool]] = {}
        try:
            while not self._stop.wait(self.interval):
                ids = self.ids()
                if not ids and self._none_left():
                    return
                for gone in set(checking) - set(ids):
                    del checking[gone]
                for listener_id in ids:
                    try:
                        self.supervise(listener_id)
                    except Exception:  # one listener's failure must not stop the others
                        LOG.exception("UDP listener %s: supervision failed", listener_id)
                    running = checking.get(listener_id)
                    if running is None or running.done():
                        checking[listener_id] = pool.submit(self._checked_round, listener_id)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _checked_round(self, listener_id: str) -> bool:
        try:
            return self.check_round(listener_id)
        except Exception:
            LOG.exception("UDP listener %s: health check failed", listener_id)
            return False

    def supervise(self, listener_id: str) -> None:
        """Start the listener's nginx again if it died without a `stop`."""
        if self._stopped_on_purpose(listener_id) or self.is_running(listener_id):
            return
        failed_at = self._failed_at.get(listener_id)
        if failed_at is not None and time.monotonic() - failed_at < RETRY_AFTER:
            return
        with self.lock_for(listener_id):
            if (
                not self.exists(listener_id)
                or self._stopped_on_purpose(listener_id)
                or self.is_running(listener_id)
            ):
                return
            LOG.warning("nginx of UDP listener %s is not running; starting it", listener_id)
            try:
                self.action(listener_id, "start")
            except NginxError as exc:
                self._failed_at[listener_id] = time.monotonic()
                LOG.error("cannot start nginx of UDP listener %s: %s", listener_id, exc)
                return
        self._failed_at.pop(listener_id, None)


def enter_network_namespace(name: str) -> None:
    """Move the calling thread into network namespace `name` (`ip netns` naming)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(os.path.join("/run/netns", name), os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name} failed")
    finally:
        os.close(fd)


def _write(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
