"""keepalived (VRRP) on a namespace amphora: `PUT /1.0/vrrp/upload` and `/1.0/vrrp/{action}`.

keepalived runs in the VIP namespace, in the foreground (`-n -l`: no syslog on this kind
of host), as the agent's child in a session of its own, so that it outlives an agent
restart. Its pid files are per amphora (keepalived's defaults are global, and a second
instance elsewhere would refuse to start), and are removed before each start: a SIGKILLed
keepalived stays a zombie for a second or two and its pid file would stop the next start.

The check script the controller's configuration names (`<base_path>/vrrp/check_script.sh`)
fails when any haproxy of this amphora stops answering on its stats socket.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import threading
import time

from ostia.amphora.haproxy_process import process_alive
from ostia.amphora.paths import AgentPaths
from ostia.amphora.vrrp import VrrpBackend, VrrpError

LOG = logging.getLogger(__name__)

CONFIG_NAME = "octavia-keepalived.conf"
CHECK_SCRIPT = "check_script.sh"
START_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0


def check_script(base_path: str) -> str:
    """Exit 0 while every haproxy of the amphora answers `show info` on its stats socket."""
    return f"""#!/bin/sh
# Written by the amphora agent: keepalived's vrrp_script check_script.
# haproxy's stats sockets are <lb uuid>.sock; other sockets there are not haproxy's.
for sock in {base_path}/????????-????-????-????-????????????.sock; do
    [ -S "$sock" ] || continue
    echo "show info" | socat -t 0.5 -T 0.5 - "UNIX-CONNECT:$sock" 2>/dev/null \\
        | grep -q '^Pid:' || exit 1
done
exit 0
"""


class KeepalivedVrrp(VrrpBackend):
    def __init__(
        self, paths: AgentPaths, namespace: str, keepalived_cmd: str = "/usr/sbin/keepalived"
    ) -> None:
        self.paths = paths
        self.namespace = namespace
        self.keepalived_cmd = keepalived_cmd
        self.directory = paths.vrrp_dir()
        self.config = os.path.join(self.directory, CONFIG_NAME)
        self.pid_file = os.path.join(self.directory, "keepalived.pid")
        self.vrrp_pid_file = os.path.join(self.directory, "vrrp.pid")
        self.log_file = os.path.join(self.directory, "keepalived.log")
        self.stopped_marker = os.path.join(self.directory, "stopped")
        self._loaded_md5: str | None = None
        self._lock = threading.Lock()

    # -- VrrpBackend -------------------------------------------------------------------

    def upload_config(self, config: bytes) -> None:
        os.makedirs(self.directory, mode=0o755, exist_ok=True)
        script = os.path.join(self.directory, CHECK_SCRIPT)
        _write(script, check_script(self.paths.base_path).encode(), 0o755)
        staged = self.config + ".new"
        _write(staged, config, 0o644)
        # Checked where it will run: keepalived refuses interfaces it cannot see.
        check = subprocess.run(
            ["ip", "netns", "exec", self.namespace, self.keepalived_cmd, "-t", "-f", staged],
            capture_output=True,
            text=True,
        )
        if check.returncode != 0:
            os.replace(staged, self.config + ".new-failed")
            raise VrrpError("Invalid keepalived configuration", (check.stdout + check.stderr).strip())
        os.replace(staged, self.config)

    def action(self, action: str) -> str:
        with self._lock:
            if action == "stop":
                self._stop()
                with open(self.stopped_marker, "w"):
                    pass
                return "keepalived stopped"
            if not os.path.isfile(self.config):
                raise VrrpError(
                    f"Failed to {action} octavia-keepalived service",
                    "no keepalived configuration was uploaded",
                )
            if os.path.exists(self.stopped_marker):
                os.unlink(self.stopped_marker)
            pid = self.running_pid()
            if pid is None:
                self._start()
                return "keepalived started"
            if self._loaded_md5 != _md5(self.config):
                # SIGHUP: keepalived re-reads its configuration and keeps the state of
                # instances that still exist (the VIP stays where it is).
                os.kill(pid, signal.SIGHUP)
                self._loaded_md5 = _md5(self.config)
            return "keepalived reloaded"

    def suppresses_heartbeat(self) -> bool:
        """Configured, not stopped on purpose, yet not running: the controller must see this
        amphora as failed (upstream's rule), so no heartbeat goes out."""
        return (
            os.path.isfile(self.config)
            and not os.path.exists(self.stopped_marker)
            and self._loaded_md5 is not None
            and self.running_pid() is None
        )

    # -- process -------------------------------------------------------------------------

    def running_pid(self) -> int | None:
        try:
            with open(self.pid_file) as handle:
                text = handle.read().strip()
        except OSError:
            return None
        if text.isdigit() and process_alive(int(text), "keepalived"):
            return int(text)
        return None

    def _start(self) -> None:
        for stale in (self.pid_file, self.vrrp_pid_file):
            if os.path.exists(stale):
                os.unlink(stale)
        argv = [
            "ip",
            "netns",
            "exec",
            self.namespace,
            self.keepalived_cmd,
            "-n",
            "-l",
            "-D",
            "-P",
            "-f",
            self.config,
            "-p",
            self.pid_file,
            "-r",
            self.vrrp_pid_file,
        ]
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                cwd=self.directory,
            )
        threading.Thread(target=proc.wait, name="reap-keepalived", daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise VrrpError(
                    "Failed to start octavia-keepalived service",
                    f"keepalived exited with {proc.returncode}; see {self.log_file}",
                )
            if self.running_pid() is not None and os.path.exists(self.vrrp_pid_file):
                self._loaded_md5 = _md5(self.config)
                LOG.info("keepalived started (pid %s) in %s", proc.pid, self.namespace)
                return
            time.sleep(0.02)
        raise VrrpError("Failed to start octavia-keepalived service", "timed out")

    def _stop(self) -> None:
        pid = self.running_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and process_alive(pid):
            time.sleep(0.02)
        if process_alive(pid):
            os.kill(pid, signal.SIGKILL)
        self._loaded_md5 = None


def _md5(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.md5(handle.read()).hexdigest()
    except OSError:
        return None


def _write(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path + ".tmp", mode)
    os.replace(path + ".tmp", path)
