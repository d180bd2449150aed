"""compute_local_driver: an amphora is an `amphora-agent` process on this host (no root).

Each amphora gets a working directory `<amphora_dir>/<compute_id>/` (layout in
local_instance.py) and a management address from `[local_compute] mgmt_cidr`; 127.x
addresses bind without being added to an interface. The agent is started detached (new
session, output to a file), so it and the haproxy processes it starts outlive the
controller; `list_instances` finds them again from the directories.

compute_id is a 12-character hex id distinct from the amphora id (socket paths under the
directory must stay short); instance.json maps one to the other.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ipaddress
import logging
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence

from oslo_config import cfg

from ostia.common.config import ConfigError
from ostia.common.process_env import agent_environment
from ostia.drivers.compute import local_processes as procs
from ostia.drivers.compute.base import (
    AmphoraSpec,
    ComputeBuildError,
    ComputeDeleteError,
    ComputeDriver,
    ComputeInstance,
)
from ostia.drivers.compute.local_instance import (
    InstanceFiles,
    InstanceRecord,
    merge_settings,
    read_pid,
    read_record,
    render_agent_config,
    write_record,
)
from ostia.drivers.compute.local_zygote import AgentZygote
from ostia.drivers.compute.socket_paths import SocketPathError, SocketPaths

LOG = logging.getLogger(__name__)

ACTIVE = "ACTIVE"
SHUTOFF = "SHUTOFF"
ERROR = "ERROR"

_COMPUTE_ID = re.compile(r"[0-9a-f]{12}")
# Deleting an amphora is pulling a VM's plug: the agent gets a moment to exit on SIGTERM,
# not the time a graceful HTTP shutdown takes while the controller holds connections open.
AGENT_STOP_TIMEOUT = 1.0
HAPROXY_STOP_TIMEOUT = 5.0
# What an amphora image gives haproxy (upstream's unit sets a high LimitNOFILE): haproxy needs
# about 2 x maxconn descriptors and refuses to start when it cannot raise its limit that far.
AMPHORA_NOFILE = 1 << 20


def default_agent_command() -> list[str]:
    """The `amphora-agent` console script of the running interpreter's environment."""
    beside = os.path.join(os.path.dirname(sys.executable), "amphora-agent")
    if os.access(beside, os.X_OK):
        return [beside]
    found = shutil.which("amphora-agent")
    if found:
        return [found]
    return [sys.executable, "-m", "ostia.cmd.agent"]


class LocalComputeDriver(ComputeDriver):
    def __init__(self, conf: cfg.ConfigOpts, agent_command: Sequence[str] | None = None) -> None:
        """`agent_command` replaces `amphora-agent` (tests); `--config-file PATH` is appended."""
        self.conf = conf
        self.amphora_dir = os.path.abspath(
            conf.local_compute.amphora_dir or os.path.join(conf.ostia.state_dir, "amphorae")
        )
        self.mgmt_network = ipaddress.ip_network(conf.local_compute.mgmt_cidr, strict=False)
        self.agent_command = list(agent_command or default_agent_command())
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        # Refused here, at service start, rather than when the first LB is built.
        self.sockets = SocketPaths(self.amphora_dir)
        try:
            self.sockets.check()
        except SocketPathError as err:
            raise ConfigError(str(err)) from None
        # Agents forked from a pre-loaded process (only the real agent, not a test's command).
        self.zygote = (
            AgentZygote(self.amphora_dir, self.sockets.short_root)
            if conf.local_compute.share_agent_memory and agent_command is None
            else None
        )

    # -- ComputeDriver -----------------------------------------------------------------

    def build(self, spec: AmphoraSpec) -> ComputeInstance:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", spec.amphora_id):
            raise ComputeBuildError(f"unusable amphora id {spec.amphora_id!r}")
        record = self._reserve(spec.amphora_id)
        files = self._files(record.compute_id)
        try:
            self._write_files(files, spec, record)
            self._start_agent(files, record.compute_id)
        except Exception as exc:
            LOG.exception("building amphora %s failed", spec.amphora_id)
            try:
                self.delete(record.compute_id)
            except ComputeDeleteError:
                LOG.exception("cleaning up after the failed build of %s", record.compute_id)
            raise ComputeBuildError(f"amphora {spec.amphora_id} did not start: {exc}") from exc
        LOG.info("amphora %s started as %s on %s", spec.amphora_id, record.compute_id, record.lb_network_ip)
        return self._instance(record, files)

    def get(self, compute_id: str) -> ComputeInstance | None:
        if not _COMPUTE_ID.fullmatch(compute_id):
            return None
        files = self._files(compute_id)
        if not os.path.isdir(files.root):
            return None
        record = read_record(files)
        if record is None:
            # A build that died before writing its record: only delete can help it.
            return ComputeInstance(compute_id, "", "", ERROR)
        return self._instance(record, files)

    def delete(self, compute_id: str) -> None:
        if not _COMPUTE_ID.fullmatch(compute_id):
            return
        files = self._files(compute_id)
        # The agent first, so it cannot start or restart haproxy while we stop the rest.
        agent = read_pid(files.agent_pid)
        if agent is not None and procs.is_running(agent) and procs.belongs_to(agent, files.root):
            procs.stop_processes([agent], AGENT_STOP_TIMEOUT)
        # haproxy names its files through the short socket link when there is one.
        roots = sorted({files.root, self.sockets.base_path(files.base_path, compute_id)})
        for _ in range(3):
            pids = {pid for root in roots for pid in procs.processes_in(root)}
            for pid_file in files.haproxy_pid_files():
                pid = read_pid(pid_file)
                if (
                    pid is not None
                    and procs.is_running(pid)
                    and any(procs.belongs_to(pid, root) for root in roots)
                ):
                    pids.add(pid)
            if not pids:
                break
            procs.stop_processes(sorted(pids), HAPROXY_STOP_TIMEOUT)
        else:
            left = [pid for root in roots for pid in procs.processes_in(root)]
            if left:
                raise ComputeDeleteError(f"processes of amphora {compute_id} still run: {left}")
        self.sockets.unlink(compute_id)
        self._reap(compute_id)
        try:
            shutil.rmtree(files.root)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise ComputeDeleteError(f"cannot remove {files.root}: {exc}") from exc
        LOG.info("amphora instance %s deleted", compute_id)
        if self.zygote is not None:
            with self._build_lock():
                if not self.list_instances():
                    self.zygote.stop()

    def list_instances(self) -> list[ComputeInstance]:
        try:
            names = sorted(os.listdir(self.amphora_dir))
        except FileNotFoundError:
            return []
        instances = []
        for name in names:
            instance = self.get(name)
            if instance is not None:
                instances.append(instance)
        return instances

    # -- local only --------------------------------------------------------------------

    def instance_files(self, compute_id: str) -> InstanceFiles:
        """Where an instance keeps its files (agent log, haproxy base_path...)."""
        if not _COMPUTE_ID.fullmatch(compute_id):
            raise ValueError(f"not a local compute id: {compute_id!r}")
        return self._files(compute_id)

    def instance_paths(self, compute_id: str) -> tuple[str, str] | None:
        """([haproxy_amphora] base_path, base_cert_dir) of the instance's agent, for the
        renderer; None for an unknown instance."""
        if not _COMPUTE_ID.fullmatch(compute_id):
            return None
        files = self._files(compute_id)
        if not os.path.isdir(files.root):
            return None
        return self.sockets.base_path(files.base_path, compute_id), files.base_cert_dir

    # -- building ----------------------------------------------------------------------

    def _files(self, compute_id: str) -> InstanceFiles:
        return InstanceFiles(os.path.join(self.amphora_dir, compute_id))

    @contextlib.contextmanager
    def _build_lock(self) -> Iterator[None]:
        """Serialize address choice across threads and processes sharing amphora_dir."""
        os.makedirs(self.amphora_dir, mode=0o700, exist_ok=True)
        with open(os.path.join(self.amphora_dir, ".build.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _reserve(self, amphora_id: str) -> InstanceRecord:
        """Make the directory and its record: from then on the address is taken."""
        with self._build_lock():
            taken = {instance.lb_network_ip for instance in self.list_instances()}
            address = self._free_address(taken)
            while True:
                compute_id = uuid.uuid4().hex[:12]
                try:
                    os.mkdir(os.path.join(self.amphora_dir, compute_id), 0o700)
                    break
                except FileExistsError:
                    continue
            record = InstanceRecord(compute_id, amphora_id, address)
            write_record(self._files(compute_id), record)
        return record

    def _free_address(self, taken: set[str]) -> str:
        port = self.conf.haproxy_amphora.bind_port
        for address in self.mgmt_network.hosts():
            text = str(address)
            if text not in taken and _port_free(text, port):
                return text
        raise ComputeBuildError(f"no free management address left in {self.mgmt_network} for port {port}")

    def _write_files(self, files: InstanceFiles, spec: AmphoraSpec, record: InstanceRecord) -> None:
        for directory in (files.etc_dir, files.base_path, files.base_cert_dir):
            os.makedirs(directory, mode=0o700, exist_ok=True)
        self.sockets.link(files.base_path, record.compute_id)
        _write(files.server_pem, spec.server_pem, 0o600)
        _write(files.client_ca_pem, spec.client_ca_pem, 0o644)
        driver_settings = {
            "haproxy_amphora": {
                "bind_host": record.lb_network_ip,
                "bind_port": str(self.conf.haproxy_amphora.bind_port),
                "base_path": self.sockets.base_path(files.base_path, record.compute_id),
                "base_cert_dir": files.base_cert_dir,
                "haproxy_cmd": self.conf.haproxy_amphora.haproxy_cmd,
            },
            "amphora_agent": {
                "agent_server_cert": files.server_pem,
                "agent_server_ca": files.client_ca_pem,
                "amphora_id": record.amphora_id,
            },
        }
        # What only the driver knows wins over the controller's choices.
        settings = merge_settings(spec.agent_settings, driver_settings)
        _write(files.agent_conf, render_agent_config(settings).encode(), 0o600)

    def _start_agent(self, files: InstanceFiles, compute_id: str) -> None:
        argv = [*self.agent_command, "--config-file", files.agent_conf]
        # An explicit environment: nothing of the controller's (credentials, transport
        # URLs) may be readable from inside an amphora.
        env = agent_environment()
        if self.zygote is not None:
            with self._build_lock():
                self.zygote.ensure_running()
            pid = self.zygote.spawn(["--config-file", files.agent_conf], files.root, files.agent_log)
            _write(files.agent_pid, f"{pid}\n".encode(), 0o644)
            _raise_file_limit(pid)
            return
        with open(files.agent_log, "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=files.root,
                env=env,
                close_fds=True,
                # Its own session: a signal to the controller's group does not reach it.
                start_new_session=True,
            )
        _write(files.agent_pid, f"{proc.pid}\n".encode(), 0o644)
        _raise_file_limit(proc.pid)
        self._children[compute_id] = proc
        # Reap it as soon as it exits so no zombie of ours lingers while we run.
        threading.Thread(target=proc.wait, name=f"reap-agent-{compute_id}", daemon=True).start()

    def _reap(self, compute_id: str) -> None:
        child = self._children.pop(compute_id, None)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=1.0)

    def _instance(self, record: InstanceRecord, files: InstanceFiles) -> ComputeInstance:
        agent = read_pid(files.agent_pid)
        alive = agent is not None and procs.is_running(agent) and procs.belongs_to(agent, files.root)
        return ComputeInstance(
            record.compute_id, record.amphora_id, record.lb_network_ip, ACTIVE if alive else SHUTOFF
        )


def _write(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


def _raise_file_limit(pid: int) -> None:
    """Give the agent (and the haproxy it forks later) an amphora's descriptor limit.

    Raising the hard limit needs CAP_SYS_RESOURCE (root in a container may lack it); without
    it the soft limit still goes up to the hard one.
    """
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = [hard]
    if os.geteuid() == 0:
        try:
            with open("/proc/sys/fs/nr_open") as handle:
                wanted.insert(0, max(hard, min(AMPHORA_NOFILE, int(handle.read()))))
        except (OSError, ValueError):
            pass
    for target in wanted:
        try:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (target, target))
            return
        except (OSError, ValueError) as exc:
            LOG.debug("file limit %s for agent %s: %s", target, pid, exc)


def _port_free(address: str, port: int) -> bool:
    """True unless something (an agent whose directory is gone?) already listens there."""
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
                return False
            raise
    return True
