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
import ipaddress
import logging
import os
import resource
import shutil
import socket
import subprocess
import sys
from collections.abc import Sequence

from oslo_config import cfg

from ostia.common.config import ConfigError
from ostia.common.detached_process import start_detached
from ostia.common.process_env import agent_environment
from ostia.drivers.compute import instance_directory
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
    read_pid,
    write_agent_files,
    write_file,
)
from ostia.drivers.compute.local_zygote import AgentZygote
from ostia.drivers.compute.socket_paths import COMPUTE_ID_LENGTH, SocketPathError, SocketPaths

LOG = logging.getLogger(__name__)

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
        self.directory = instance_directory.InstanceDirectory(self.amphora_dir, COMPUTE_ID_LENGTH)
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
        instance_directory.check_amphora_id(spec.amphora_id)
        record = self.directory.reserve(spec.amphora_id, self._free_address)
        files = self.directory.files(record.compute_id)
        with instance_directory.removed_if_build_fails(self, spec.amphora_id, record.compute_id):
            self._write_files(files, spec, record)
            self._start_agent(files, record.compute_id)
        LOG.info("amphora %s started as %s on %s", spec.amphora_id, record.compute_id, record.lb_network_ip)
        return instance_directory.instance_of(record, self._state(record, files))

    def get(self, compute_id: str) -> ComputeInstance | None:
        return self.directory.instance(compute_id, self._state)

    def delete(self, compute_id: str) -> None:
        if not self.directory.is_compute_id(compute_id):
            return
        files = self.directory.files(compute_id)
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
            with self.directory.lock():
                if not self.list_instances():
                    self.zygote.stop()

    def list_instances(self) -> list[ComputeInstance]:
        return self.directory.instances(self._state)

    # -- local only --------------------------------------------------------------------

    def instance_files(self, compute_id: str) -> InstanceFiles:
        """Where an instance keeps its files (agent log, haproxy base_path...)."""
        if not self.directory.is_compute_id(compute_id):
            raise ValueError(f"not a local compute id: {compute_id!r}")
        return self.directory.files(compute_id)

    def instance_paths(self, compute_id: str) -> tuple[str, str] | None:
        """([haproxy_amphora] base_path, base_cert_dir) of the instance's agent, for the
        renderer; None for an unknown instance."""
        files = self.directory.existing(compute_id)
        if files is None:
            return None
        return self.sockets.base_path(files.base_path, compute_id), files.base_cert_dir

    # -- building ----------------------------------------------------------------------

    def _free_address(self, taken: set[str]) -> str:
        port = self.conf.haproxy_amphora.bind_port
        for address in self.mgmt_network.hosts():
            text = str(address)
            if text not in taken and _port_free(text, port):
                return text
        raise ComputeBuildError(f"no free management address left in {self.mgmt_network} for port {port}")

    def _write_files(self, files: InstanceFiles, spec: AmphoraSpec, record: InstanceRecord) -> None:
        base_path = self.sockets.base_path(files.base_path, record.compute_id)
        write_agent_files(files, spec, record, self.conf, base_path=base_path)
        self.sockets.link(files.base_path, record.compute_id)

    def _start_agent(self, files: InstanceFiles, compute_id: str) -> None:
        if self.zygote is not None:
            with self.directory.lock():
                self.zygote.ensure_running()
            pid = self.zygote.spawn(["--config-file", files.agent_conf], files.root, files.agent_log)
            write_file(files.agent_pid, f"{pid}\n".encode(), 0o644)
            _raise_file_limit(pid)
            return
        argv = [*self.agent_command, "--config-file", files.agent_conf]
        # An explicit environment: nothing of the controller's (credentials, transport
        # URLs) may be readable from inside an amphora.
        proc = start_detached(argv, files.agent_log, files.root, agent_environment())
        write_file(files.agent_pid, f"{proc.pid}\n".encode(), 0o644)
        _raise_file_limit(proc.pid)
        self._children[compute_id] = proc

    def _reap(self, compute_id: str) -> None:
        child = self._children.pop(compute_id, None)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=1.0)

    def _state(self, record: InstanceRecord, files: InstanceFiles) -> str:
        """ACTIVE while the instance's agent runs."""
        agent = read_pid(files.agent_pid)
        alive = agent is not None and procs.is_running(agent) and procs.belongs_to(agent, files.root)
        return instance_directory.ACTIVE if alive else instance_directory.SHUTOFF


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
