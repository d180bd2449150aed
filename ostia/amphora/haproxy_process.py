"""Start, reload and stop one haproxy master-worker process per load balancer.

Liveness always goes through the master CLI socket, never `kill -0`: a killed master stays a
zombie until its parent reaps it (1-2 s when the parent is init on this kind of host), and a
zombie answers `kill -0`. The agent starts haproxy in a new session, so killing or restarting
the agent leaves the data plane serving; a new agent finds it again through the same socket.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import signal
import subprocess
import time

from ostia.amphora import bind_check, haproxy_limits, haproxy_peers_state, haproxy_runtime, program_process
from ostia.amphora.haproxy_lingering import LingeringServers
from ostia.amphora.haproxy_socket import HaproxySocketError, send_command
from ostia.amphora.paths import AgentPaths
from ostia.amphora.program_error import ProgramError

# The supervisor and keepalived read haproxy's liveness through this module.
from ostia.amphora.program_process import process_alive
from ostia.common.detached_process import start_detached
from ostia.common.process_env import amphora_environment

LOG = logging.getLogger(__name__)

CHECK_TIMEOUT = 30.0


class HaproxyError(ProgramError):
    """haproxy did not do what was asked; `details` holds its own words."""


class HaproxyConfigError(HaproxyError):
    """The configuration cannot run: `haproxy -c` refused it, or haproxy could not start
    it here (a port already bound on the VIP is the usual case). Not the amphora's fault,
    and retrying the same configuration cannot help."""


@dataclasses.dataclass(frozen=True)
class MasterStatus:
    master_pid: int
    reloads: int
    failed_reloads: int
    workers: tuple[int, ...]
    old_workers: tuple[int, ...]


def parse_show_proc(text: str) -> MasterStatus | None:
    """Parse the master CLI's `show proc`; None if there is no master line."""
    master: tuple[int, int, int] | None = None
    workers: list[int] = []
    old_workers: list[int] = []
    section = "master"
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            lowered = stripped.lower()
            if "old workers" in lowered:
                section = "old"
            elif "workers" in lowered:
                section = "workers"
            elif "programs" in lowered:
                section = "programs"
            continue
        fields = stripped.split()
        if len(fields) < 3 or not fields[0].isdigit():
            continue
        pid = int(fields[0])
        if fields[1] == "master":
            failed = 0
            if "[failed:" in stripped:
                failed = int(stripped.split("[failed:", 1)[1].split("]", 1)[0].strip() or 0)
            master = (pid, int(fields[2]) if fields[2].isdigit() else 0, failed)
        elif fields[1] == "worker":
            (old_workers if section == "old" else workers).append(pid)
    if master is None:
        return None
    return MasterStatus(master[0], master[1], master[2], tuple(workers), tuple(old_workers))


class HaproxyController:
    def __init__(
        self,
        paths: AgentPaths,
        haproxy_cmd: str = "/usr/sbin/haproxy",
        start_timeout: float = 10.0,
        stop_timeout: float = 10.0,
        namespace: str = "",
        local_peer: str = "",
        lingering: LingeringServers | None = None,
    ) -> None:
        self.paths = paths
        # Removed servers haproxy keeps for a while (idle connections), see haproxy_lingering.
        self.lingering = lingering or LingeringServers(paths)
        self.haproxy_cmd = haproxy_cmd
        # `-L <name>`: which line of a `peers` section is this amphora (it listens there and
        # replicates stick tables to the others; a reload hands the tables over through it).
        # Without a matching line haproxy drops the section, and persistence is not shared.
        self.peer_arguments = ["-L", local_peer] if local_peer else []
        # haproxy reads variables (`"$NAME"`, `env()`): it gets a fixed minimal set, never
        # the agent's own environment.
        self.env = amphora_environment()
        # A namespace amphora runs haproxy in its VIP namespace; the master re-executes
        # itself on reload from inside it, so only the first start needs `ip netns exec`.
        self.launcher = ["ip", "netns", "exec", namespace] if namespace else []
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        # (mtime_ns, size) of each configuration that passed `haproxy -c` at upload, so that
        # the reload right after an upload does not check the same file again.
        self._checked: dict[str, tuple[int, int]] = {}
        self._version: str | None = None

    # -- queries -----------------------------------------------------------------------

    def check_config(self, config_path: str) -> tuple[bool, str]:
        """Run `haproxy -c`; (passed, its output)."""
        try:
            result = subprocess.run(
                [self.haproxy_cmd, "-c", *self.peer_arguments, "-f", config_path],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=CHECK_TIMEOUT,
                cwd=os.path.dirname(config_path),
                env=self.env,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, str(exc)
        output = (result.stdout + result.stderr).decode(errors="replace").strip()
        return result.returncode == 0, output

    def mark_checked(self, lb_id: str) -> None:
        """The configuration now in place passed `haproxy -c`."""
        stat = os.stat(self.paths.config(lb_id))
        self._checked[lb_id] = (stat.st_mtime_ns, stat.st_size)

    def forget(self, lb_id: str) -> None:
        self._checked.pop(lb_id, None)
        self._children.pop(lb_id, None)

    def _still_checked(self, lb_id: str) -> bool:
        try:
            stat = os.stat(self.paths.config(lb_id))
        except FileNotFoundError:
            return False
        return self._checked.get(lb_id) == (stat.st_mtime_ns, stat.st_size)

    def version(self) -> str:
        """haproxy's version string, e.g. "2.6.12-1+deb12u4"."""
        if self._version is None:
            try:
                out = subprocess.run(
                    [self.haproxy_cmd, "-v"], capture_output=True, timeout=10, env=self.env
                ).stdout.decode(errors="replace")
            except (OSError, subprocess.TimeoutExpired):
                out = ""
            words = out.split()
            self._version = words[2] if len(words) > 2 and words[1] == "version" else ""
        return self._version

    def master_status(self, lb_id: str, wait: float = 2.0) -> MasterStatus | None:
        """The master's `show proc`, or None if no haproxy runs for this load balancer.

        While the pid file names a live master whose socket refuses (it is re-executing
        during a reload), keep asking for up to `wait` seconds.
        """
        deadline = time.monotonic() + wait
        while True:
            try:
                status = parse_show_proc(send_command(self.paths.master_socket(lb_id), "show proc"))
                if status is not None:
                    return status
            except HaproxySocketError:
                pass
            pid = self._pid_from_file(lb_id)
            if pid is None or not process_alive(pid, self.paths.config(lb_id)):
                return None
            if time.monotonic() > deadline:
                LOG.warning("haproxy master %s of %s does not answer on its socket", pid, lb_id)
                return None
            time.sleep(0.02)

    def save_server_state(self, lb_id: str) -> None:
        """Write `show servers state` to `servers-state`, so that a configuration with
        `server-state-file` starts its new worker with the members' current health."""
        try:
            state = send_command(self.paths.stats_socket(lb_id), "show servers state")
        except HaproxySocketError:
            return
        if state.startswith("1\n") or state.startswith("#"):
            path = self.paths.servers_state(lb_id)
            with open(path + ".tmp", "w") as handle:
                handle.write(state)
            os.replace(path + ".tmp", path)

    def is_running(self, lb_id: str) -> bool:
        return self.master_status(lb_id) is not None

    def running(self) -> list[str]:
        return [lb_id for lb_id in self.paths.lb_ids() if self.is_running(lb_id)]

    # -- actions -----------------------------------------------------------------------

    def start(self, lb_id: str) -> None:
        """Start haproxy for `lb_id` unless it already runs; return once a worker serves."""
        self._clear_stopped(lb_id)
        if self.is_running(lb_id):
            return
        config = self.paths.config(lb_id)
        if not os.path.isfile(config):
            raise HaproxyError("No configuration", f"{config} does not exist")
        argv = [
            *self.launcher,
            self.haproxy_cmd,
            "-W",
            "-f",
            config,
            "-S",
            self.paths.master_socket(lb_id),
            "-p",
            self.paths.pid_file(lb_id),
            *self.peer_arguments,
            *haproxy_limits.maxconn_arguments(self._read_text(config) or ""),
        ]
        log_path = self.paths.log_file(lb_id)
        self._trim_log(log_path)
        offset = program_process.log_size(log_path)
        proc = start_detached(
            argv,
            log_path,
            self.paths.lb_dir(lb_id),
            self.env,
            reaper_name=f"reap-haproxy-{lb_id[:8]}",
        )
        self._children[lb_id] = proc
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            code = proc.poll()
            if code not in (None, 0):
                raise HaproxyConfigError(
                    "haproxy failed to start", program_process.log_since(log_path, offset)
                )
            try:
                status = parse_show_proc(
                    send_command(self.paths.master_socket(lb_id), "show proc", timeout=1.0)
                )
            except HaproxySocketError:
                status = None
            if status is not None and status.workers:
                LOG.info("haproxy for %s started (master %s)", lb_id, status.master_pid)
                return
            time.sleep(0.01)
        program_process.signal_quietly(proc.pid, signal.SIGKILL)
        raise HaproxyError("haproxy did not start in time", program_process.log_since(log_path, offset))

    def reload(self, lb_id: str) -> None:
        """Check the configuration, then reload through the master CLI (start if stopped).

        A configuration that fails the check raises HaproxyConfigError and the running
        workers keep serving the previous one.
        """
        before = self.master_status(lb_id)
        if before is None:
            self.start(lb_id)
            return
        # Members-only changes need neither the check nor a reload; haproxy checks each
        # server line as it takes it, and a refusal falls through to both.
        if self._applied_at_runtime(lb_id):
            return
        if not self._still_checked(lb_id):
            passed, output = self.check_config(self.paths.config(lb_id))
            if not passed:
                raise HaproxyConfigError("Invalid configuration", output)
        conflicts = bind_check.taken(
            self._read_text(self.paths.config(lb_id)) or "",
            self._read_text(self.paths.running_config(lb_id)),
            self.launcher,
        )
        if conflicts:
            raise HaproxyConfigError(
                "Reload refused; the previous configuration keeps serving", bind_check.describe(conflicts)
            )
        self._let_tables_move(lb_id)
        self.save_server_state(lb_id)
        log_path = self.paths.log_file(lb_id)
        offset = program_process.log_size(log_path)
        deadline = time.monotonic() + self.start_timeout
        sent = False
        while time.monotonic() < deadline:
            if not sent:
                try:
                    send_command(self.paths.master_socket(lb_id), "reload", timeout=2.0)
                    sent = True
                except HaproxySocketError:
                    # Refused while the master re-executes; a reset after sending is fine too.
                    pass
            status = self.master_status(lb_id, wait=1.0)
            if status is not None and status.reloads > before.reloads:
                sent = True
                if status.failed_reloads:
                    # The master counts failures since its last good load, so a failure
                    # before this reload that this one cured reads 0 here.
                    raise HaproxyConfigError(
                        "Reload failed; the previous configuration keeps serving",
                        program_process.log_since(log_path, offset),
                    )
                if status.workers:
                    LOG.info("haproxy for %s reloaded", lb_id)
                    self.lingering.forget(lb_id)
                    return
            time.sleep(0.01)
        raise HaproxyError("haproxy did not reload in time", program_process.log_since(log_path, offset))

    def _let_tables_move(self, lb_id: str) -> None:
        """With peers, wait until the running worker can hand its stick tables to the next
        one (see haproxy_peers_state): a reload soon after a start would drop them."""
        running = self._read_text(self.paths.running_config(lb_id)) or ""
        if not self.peer_arguments or not re.search(r"^peers\s", running, re.MULTILINE):
            return
        waited = haproxy_peers_state.wait_until_tables_can_move(self.paths.stats_socket(lb_id))
        if waited > 0.5:
            LOG.info("haproxy for %s: waited %.1f s for its peers to resync before reloading", lb_id, waited)

    def changes_only_members(self, lb_id: str, config: bytes) -> bool:
        """True if `config` differs from the one haproxy runs only in what the runtime API
        applies (see haproxy_runtime), and haproxy runs."""
        running = self._read_text(self.paths.running_config(lb_id))
        if running is None:
            return False
        wanted = config.decode(errors="replace").strip()
        return haproxy_runtime.plan(running, wanted) is not None and self.is_running(lb_id)

    def _applied_at_runtime(self, lb_id: str) -> bool:
        """Apply a members-only change through the stats socket (see haproxy_runtime);
        True if haproxy now runs the configuration in place without a reload."""
        running = self._read_text(self.paths.running_config(lb_id))
        wanted = self._read_text(self.paths.config(lb_id))
        if running is None or wanted is None:
            return False
        commands = haproxy_runtime.plan(running, wanted, self.lingering.servers(lb_id))
        if commands is None:
            return False
        try:
            left = haproxy_runtime.apply(self.paths.stats_socket(lb_id), commands)
        except haproxy_runtime.RuntimeRefused as exc:
            LOG.info("haproxy of %s refused a runtime change (%s); reloading", lb_id, exc)
            return False
        self.lingering.settle(lb_id, left, wanted)
        LOG.info(
            "haproxy for %s updated without a reload (%d commands%s)",
            lb_id,
            len(commands),
            f"; {len(left)} removed server(s) in maintenance until haproxy lets them go" if left else "",
        )
        return True

    def stop(self, lb_id: str) -> None:
        """Stop the master and its workers and wait until none of them runs.

        Leaves a `stopped` marker so that the supervisor does not start it again.
        """
        if os.path.isdir(self.paths.lb_dir(lb_id)):
            with open(self.paths.stopped_marker(lb_id), "w"):
                pass
        status = self.master_status(lb_id, wait=1.0)
        pids: list[int] = []
        if status is not None:
            pids = [status.master_pid, *status.workers, *status.old_workers]
        else:
            pid = self._pid_from_file(lb_id)
            if pid is not None and process_alive(pid, self.paths.config(lb_id)):
                pids = [pid]
        if not pids:
            return
        # The master stops its workers; SIGKILL goes to each one left.
        program_process.stop_processes(pids, self.stop_timeout, terminate=pids[:1])
        program_process.reap(self._children.pop(lb_id, None))
        LOG.info("haproxy for %s stopped", lb_id)

    def stopped_on_purpose(self, lb_id: str) -> bool:
        return os.path.exists(self.paths.stopped_marker(lb_id))

    # -- helpers -----------------------------------------------------------------------

    def _clear_stopped(self, lb_id: str) -> None:
        try:
            os.unlink(self.paths.stopped_marker(lb_id))
        except FileNotFoundError:
            pass

    @staticmethod
    def _trim_log(path: str, limit: int = 1 << 20) -> None:
        """Start the log afresh once it passes `limit` bytes (a running master keeps
        appending to its open file either way)."""
        try:
            if os.path.getsize(path) > limit:
                os.replace(path, path + ".1")
        except FileNotFoundError:
            pass

    def _pid_from_file(self, lb_id: str) -> int | None:
        text = self._read_text(self.paths.pid_file(lb_id))
        return int(text) if text and text.isdigit() else None

    @staticmethod
    def _read_text(path: str) -> str | None:
        try:
            with open(path) as handle:
                return handle.read().strip()
        except OSError:
            return None
