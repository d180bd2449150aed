"""Check, start, reload and stop one nginx (stream module) process per UDP listener.

nginx runs with `daemon off` as the agent's child in a session of its own (so it outlives
the agent, like haproxy), with every path given on its command line and in its own
nginx.conf: `nginx -p <dir>/ -c <dir>/nginx.conf -e <dir>/error.log`. It never reads the
system's /etc/nginx and needs no root. Liveness is the pid file's process, alive (not a
zombie) and started with this listener's nginx.conf.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time

from ostia.amphora import program_process
from ostia.amphora.program_error import ProgramError
from ostia.common.detached_process import start_detached
from ostia.common.process_env import amphora_environment

LOG = logging.getLogger(__name__)

CHECK_TIMEOUT = 30.0


class NginxError(ProgramError):
    """nginx did not do what was asked; `details` holds its own words."""


class NginxConfigError(NginxError):
    """nginx refused the configuration (`nginx -t`, or a port it could not bind)."""


def stream_module_path(nginx_cmd: str, env: dict[str, str]) -> str | None:
    """The stream module to load, when this nginx was built with it as a dynamic module."""
    try:
        result = subprocess.run(
            [nginx_cmd, "-V"], capture_output=True, timeout=10, env=env, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (result.stdout + result.stderr).decode(errors="replace")
    if "--with-stream=dynamic" not in text:
        return None
    modules = "/usr/lib/nginx/modules"
    for word in text.split():
        if word.startswith("--modules-path="):
            modules = word.split("=", 1)[1]
    return os.path.join(modules, "ngx_stream_module.so")


class NginxController:
    def __init__(
        self,
        nginx_cmd: str = "/usr/sbin/nginx",
        namespace: str = "",
        start_timeout: float = 10.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.nginx_cmd = nginx_cmd
        # nginx expands no variables from its environment, but a minimal one keeps the
        # controller's credentials out of every amphora process all the same.
        self.env = amphora_environment()
        self.launcher = ["ip", "netns", "exec", namespace] if namespace else []
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._module: str | None | bool = False

    def stream_module(self) -> str | None:
        if self._module is False:
            self._module = stream_module_path(self.nginx_cmd, self.env)
        return self._module  # type: ignore[return-value]

    def version(self) -> str:
        try:
            out = subprocess.run(
                [self.nginx_cmd, "-v"],
                capture_output=True,
                timeout=10,
                env=self.env,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        text = (out.stdout + out.stderr).decode(errors="replace").strip()
        return text.rpartition("/")[2] if "/" in text else ""

    def _argv(self, directory: str, config: str, error_log: str) -> list[str]:
        return [self.nginx_cmd, "-p", directory.rstrip("/") + "/", "-c", config, "-e", error_log]

    def check(self, directory: str, config: str, error_log: str) -> tuple[bool, str]:
        """`nginx -t` on `config`: (passed, nginx's words)."""
        try:
            # In the namespace nginx runs in: the check binds the listening addresses.
            result = subprocess.run(
                [*self.launcher, *self._argv(directory, config, error_log), "-t", "-q"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=CHECK_TIMEOUT,
                cwd=directory,
                env=self.env,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, str(exc)
        output = (result.stdout + result.stderr).decode(errors="replace").strip()
        return result.returncode == 0, output

    def master_pid(self, pid_file: str, config: str) -> int | None:
        """The running master's pid, or None."""
        try:
            with open(pid_file) as handle:
                text = handle.read().strip()
        except OSError:
            return None
        if not text.isdigit():
            return None
        pid = int(text)
        return pid if program_process.process_alive(pid, config) else None

    def start(self, key: str, directory: str, config: str, pid_file: str, error_log: str) -> None:
        """Start nginx unless it runs; return once it has bound its sockets."""
        if self.master_pid(pid_file, config) is not None:
            return
        # Workers of a master that was killed keep serving the old configuration on the
        # same port (UDP sockets may share it): they go first.
        program_process.stop_processes(processes_in(directory), self.stop_timeout)
        try:
            os.unlink(pid_file)
        except FileNotFoundError:
            pass
        offset = program_process.log_size(error_log)
        argv = [*self.launcher, *self._argv(directory, config, error_log), "-g", "daemon off;"]
        proc = start_detached(argv, error_log, directory, self.env, reaper_name=f"reap-nginx-{key[:8]}")
        self._children[key] = proc
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            code = proc.poll()
            if code is not None:
                raise NginxConfigError("nginx failed to start", program_process.log_since(error_log, offset))
            # nginx writes its pid file once the listening sockets are bound.
            if self.master_pid(pid_file, config) is not None:
                LOG.info("nginx for UDP listener %s started (master %s)", key, proc.pid)
                return
            time.sleep(0.01)
        program_process.signal_quietly(proc.pid, signal.SIGKILL)
        raise NginxError("nginx did not start in time", program_process.log_since(error_log, offset))

    def reload(self, key: str, directory: str, config: str, pid_file: str, error_log: str) -> None:
        """Load the configuration now in place (start nginx if it does not run)."""
        pid = self.master_pid(pid_file, config)
        if pid is None:
            self.start(key, directory, config, pid_file, error_log)
            return
        passed, output = self.check(directory, config, error_log)
        if not passed:
            raise NginxConfigError("Invalid configuration", output)
        # The master re-reads its configuration, starts new workers and lets the old ones
        # finish their sessions; the listening socket stays open throughout.
        old = set(_children_of(pid))
        offset = program_process.log_size(error_log)
        program_process.signal_quietly(pid, signal.SIGHUP)
        # Done when a new worker runs and no old one takes new datagrams any more: an old
        # worker renames itself "... is shutting down" as it closes its listening sockets.
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            new = set(_children_of(pid)) - old
            if new and all(_shutting_down(worker) for worker in old):
                LOG.info("nginx for UDP listener %s reloaded", key)
                return
            time.sleep(0.005)
        raise NginxConfigError(
            "Reload failed; the previous configuration keeps serving",
            program_process.log_since(error_log, offset),
        )

    def stop(self, key: str, pid_file: str, config: str) -> None:
        """Stop the master and its workers (and any worker a killed master left) and wait
        until none of them runs."""
        pid = self.master_pid(pid_file, config)
        child = self._children.pop(key, None)
        if pid is not None:
            # The master stops its workers; SIGKILL goes to each one left.
            program_process.stop_processes([pid, *_children_of(pid)], self.stop_timeout, terminate=[pid])
        program_process.stop_processes(processes_in(os.path.dirname(config)), self.stop_timeout)
        program_process.reap(child)
        LOG.info("nginx for UDP listener %s stopped", key)


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[-1].split()
        except OSError:
            continue
        if len(fields) > 1 and fields[1] == str(pid).encode():
            found.append(int(entry))
    return found


def processes_in(directory: str) -> list[int]:
    """nginx processes started in `directory` (the agent starts each nginx there; its
    workers keep that working directory, whatever their command line says)."""
    found = []
    own = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == own:
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command = handle.read()
        except OSError:
            continue
        if cwd == directory and command.startswith(b"nginx") and program_process.process_alive(int(entry)):
            found.append(int(entry))
    return found


def _shutting_down(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"shutting down" in handle.read() or not program_process.process_alive(pid)
    except OSError:
        return True
