"""keepalived (VRRP) on a namespace amphora: `PUT /1.0/vrrp/upload` and `/1.0/vrrp/{action}`.

keepalived runs in the VIP namespace, in the foreground (`-n -l`: no syslog on this kind
of host), as the agent's child in a session of its own, so that it outlives an agent
restart. Its pid files are per amphora (keepalived's defaults are global, and a second
instance elsewhere would refuse to start), and are removed before each start: a SIGKILLed
keepalived stays a zombie for a second or two and its pid file would stop the next start.

The check script the controller's configuration names (`<base_path>/vrrp/check_script.sh`)
fails when any haproxy of this amphora stops answering on its stats socket.

The agent watches the keepalived it started (or, after an agent restart, the one it found
running) and acts the moment it ends (the child's wait, or a pidfd: no polling). A
SIGKILLed keepalived cannot remove its VIPs, and the BACKUP, hearing no advert, takes them
over: two amphorae would answer ARP for the VIP on the tenant network. So when keepalived
dies without being asked to stop, the agent ends its VRRP child and, once the peer has had
time to take the VIPs over (four advert intervals and a margin: until then this amphora's
haproxy still serves them), removes every address of the configuration's
`virtual_ipaddress` blocks from the VIP namespace. It does not start keepalived again: as
upstream, an amphora whose keepalived is configured but not running sends no heartbeat,
and the health manager replaces it (the new one joins as BACKUP).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import signal
import subprocess
import threading
import time

from ostia.amphora.haproxy_process import process_alive
from ostia.amphora.paths import AgentPaths
from ostia.amphora.process_exit import wait_for_exit
from ostia.amphora.vrrp import VrrpBackend, VrrpError
from ostia.common import iproute
from ostia.common.pid_file import read_pid

LOG = logging.getLogger(__name__)

CONFIG_NAME = "octavia-keepalived.conf"
CHECK_SCRIPT = "check_script.sh"
START_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0
# How long the VRRP child of a dead keepalived may take to give its VIPs up by itself.
CHILD_GRACE = 1.0
# Beyond the peer's Master_Down_Interval before a dead keepalived's VIPs are removed.
TAKEOVER_MARGIN = 0.25


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
        # The keepalived being watched, and whether one died without being asked to stop.
        self._watched_pid: int | None = None
        self._died = False
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
            and (self._loaded_md5 is not None or self._died)
            and self.running_pid() is None
        )

    def supervise(self) -> None:
        """At the agent's start: watch a keepalived an earlier agent started, or clean up
        after one that died while no agent was watching (its pid file is still there)."""
        with self._lock:
            pid = self.running_pid()
            if pid is not None:
                self._watched_pid = pid
                self._watch(pid, None)
            elif os.path.exists(self.pid_file) and os.path.isfile(self.config):
                if not os.path.exists(self.stopped_marker):
                    LOG.error("keepalived died while the agent was down")
                    self._died = True
                self._end_vrrp_child()
                self.remove_vips()

    # -- process -------------------------------------------------------------------------

    def running_pid(self) -> int | None:
        pid = read_pid(self.pid_file)
        return pid if pid is not None and process_alive(pid, "keepalived") else None

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
        self._watch(proc.pid, proc)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise VrrpError(
                    "Failed to start octavia-keepalived service",
                    f"keepalived exited with {proc.returncode}; see {self.log_file}",
                )
            if self.running_pid() is not None and os.path.exists(self.vrrp_pid_file):
                self._loaded_md5 = _md5(self.config)
                self._watched_pid = proc.pid
                self._died = False
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

    # -- after keepalived ends -------------------------------------------------------------

    def _watch(self, pid: int, child: subprocess.Popen[bytes] | None) -> None:
        threading.Thread(
            target=self._wait_then_clean_up, args=(pid, child), name="keepalived-watch", daemon=True
        ).start()

    def _wait_then_clean_up(self, pid: int, child: subprocess.Popen[bytes] | None) -> None:
        if child is not None:
            child.wait()  # also reaps it
        else:
            wait_for_exit(pid)
        try:
            self._after_exit(pid)
        except Exception:  # the watcher thread must say why it failed
            LOG.exception("cleaning up after keepalived (pid %s) failed", pid)

    def _after_exit(self, pid: int) -> None:
        # Under the lock: a stop in progress finishes (and leaves its marker) first, and a
        # start that replaced this keepalived is seen below.
        with self._lock:
            if pid != self._watched_pid or self.running_pid() is not None:
                return
            self._watched_pid = None
            died = not os.path.exists(self.stopped_marker)
            if died:
                LOG.error(
                    "keepalived (pid %s) died; its VIPs go once the peer has taken them over, "
                    "and heartbeats are withheld so that the controller replaces this amphora",
                    pid,
                )
                self._died = True
            self._end_vrrp_child()
            takeover = self._takeover_time() if died else 0.0
        # Until the peer misses enough adverts to take the VIP over, the haproxy here still
        # serves it: removing it at once would leave nobody answering for that time.
        time.sleep(takeover)
        with self._lock:
            if self.running_pid() is None:
                self.remove_vips()

    def _takeover_time(self) -> float:
        """An upper bound of the peer's VRRP Master_Down_Interval (3 advert intervals plus
        a skew below one), and a margin for it to send its gratuitous ARPs."""
        try:
            with open(self.config) as handle:
                advert_int = advert_interval(handle.read())
        except OSError:
            return 0.0
        return 4 * advert_int + TAKEOVER_MARGIN

    def _end_vrrp_child(self) -> None:
        """The VRRP child of a dead keepalived gets SIGTERM from the kernel (keepalived asks
        for it) and gives its VIPs up; make sure it is gone all the same."""
        pid = read_pid(self.vrrp_pid_file)
        if pid is None or not process_alive(pid, "keepalived"):
            return
        os.kill(pid, signal.SIGTERM)
        if not wait_for_exit(pid, CHILD_GRACE) and process_alive(pid, "keepalived"):
            os.kill(pid, signal.SIGKILL)

    def remove_vips(self) -> list[str]:
        """Remove the configuration's VIPs from the VIP namespace; returns those removed."""
        try:
            with open(self.config) as handle:
                vips = set(configured_vips(handle.read()))
        except OSError:
            return []
        removed = []
        for link in iproute.ip_json("addr", "show", netns=self.namespace):
            for info in link.get("addr_info", []):
                address = str(info.get("local", ""))
                if address in vips:
                    iproute.ip(
                        "addr",
                        "del",
                        f"{address}/{info.get('prefixlen')}",
                        "dev",
                        str(link.get("ifname")),
                        netns=self.namespace,
                        check=False,
                    )
                    removed.append(address)
        if removed:
            LOG.warning("removed VIPs %s that keepalived left in %s", ", ".join(removed), self.namespace)
        return removed


_VIP_BLOCK = re.compile(r"^\s*virtual_ipaddress(?:_excluded)?\s*\{(.*?)\}", re.MULTILINE | re.DOTALL)


def configured_vips(config: str) -> list[str]:
    """Addresses of the `virtual_ipaddress` (and `_excluded`) blocks, without prefixes."""
    vips = []
    for block in _VIP_BLOCK.findall(config):
        for line in block.splitlines():
            words = re.split(r"[#!]", line, maxsplit=1)[0].split()
            if words:
                vips.append(words[0].split("/")[0])
    return vips


def advert_interval(config: str) -> float:
    """The `advert_int` of the configuration's VRRP instance (keepalived's default: 1 s)."""
    found = re.search(r"^\s*advert_int\s+([0-9.]+)", config, re.MULTILINE)
    try:
        return float(found.group(1)) if found else 1.0
    except ValueError:
        return 1.0


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
