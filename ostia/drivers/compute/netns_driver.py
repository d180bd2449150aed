"""compute_netns_driver: an amphora is a pair of network namespaces on this host (root).

    ost-amp-<id>   the amphora itself: `eth0` on the lb-mgmt bridge with the management
                   address, the agent (listening only there) and, when `[controller_worker]
                   amp_ssh_key_name` names a public key file, an SSH server.
    ost-vip-<id>   the VIP namespace (upstream's `amphora-haproxy`): VIP and member
                   interfaces, haproxy and keepalived, `ip_nonlocal_bind=1` so that a
                   BACKUP's haproxy binds a VIP keepalived has not given it yet.

Files live as for local amphorae (`<amphora_dir>/<compute_id>/`, see local_instance), so
`list_instances` finds every instance again after a controller restart. An instance is
ACTIVE while its agent runs inside its namespace. Deleting one kills every process of both
namespaces (`ip netns pids`), then removes the namespaces: that takes their interfaces, and
any VIP a killed keepalived left behind, with them.

The lb-mgmt bridge, its host address and its nftables rules are (re)made on every build and
by `ensure_mgmt_network`; `ostia netns cleanup` removes everything named `ost-*`. The lb-mgmt
subnet (`[netns_compute] mgmt_cidr`) is IPv4 or IPv6: with IPv6 the bridge and each `eth0`
keep IPv6 on without duplicate address detection, so that the health manager can bind the
host's address and the controller reach an agent the moment they exist.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from typing import cast

from oslo_config import cfg

from ostia.common import addresses, iproute
from ostia.common.config import ConfigError
from ostia.common.constants import HAPROXY_MAX_BASE_PATH
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
from ostia.drivers.compute.local_driver import default_agent_command
from ostia.drivers.compute.local_instance import (
    InstanceFiles,
    InstanceRecord,
    read_pid,
    read_record,
    write_agent_files,
    write_file,
)
from ostia.drivers.network import netns_firewall
from ostia.drivers.network.netns_firewall import MGMT_PORT_PREFIX

LOG = logging.getLogger(__name__)

AMP_NS_PREFIX = iproute.PREFIX + "amp-"
VIP_NS_PREFIX = iproute.PREFIX + "vip-"
_COMPUTE_ID_LENGTH = 10
# Deleting an amphora is pulling a VM's plug: a moment to exit on SIGTERM, then SIGKILL.
STOP_TIMEOUT = 1.0
SSHD = "/usr/sbin/sshd"


def mgmt_network(conf: cfg.ConfigOpts) -> addresses.IPNetwork:
    """`[netns_compute] mgmt_cidr`: an IPv4 or IPv6 subnet with room for the host and
    amphorae; ConfigError for anything else."""
    value = conf.netns_compute.mgmt_cidr
    try:
        network = addresses.parse_network(value)
    except addresses.InvalidAddress as exc:
        raise ConfigError(f"[netns_compute] mgmt_cidr: {exc}") from None
    # A link-local subnet would need a zone (%<bridge>) in every address the controller
    # and the agents write; multicast and loopback are no subnet to put hosts on.
    if network.is_link_local or network.is_multicast or network.is_loopback:
        raise ConfigError(f"[netns_compute] mgmt_cidr = {value!r} is not a subnet hosts can use")
    if network.num_addresses < 4:
        raise ConfigError(f"[netns_compute] mgmt_cidr = {value!r} leaves no address for an amphora")
    return network


def mgmt_addresses(network: addresses.IPNetwork) -> Iterator[str]:
    """The subnet's host addresses in canonical form, lowest first (lazily: a /64 is big)."""
    for address in network.hosts():
        yield addresses.format_address(cast(addresses.IPAddress, address))


def mgmt_host_address(network: addresses.IPNetwork) -> str:
    """The host's address on the lb-mgmt bridge: the first of the subnet."""
    return next(mgmt_addresses(network))


def amp_namespace(compute_id: str) -> str:
    return AMP_NS_PREFIX + compute_id


def vip_namespace(compute_id: str) -> str:
    return VIP_NS_PREFIX + compute_id


class NetnsComputeDriver(ComputeDriver):
    supports_active_standby = True

    def __init__(self, conf: cfg.ConfigOpts, agent_command: Sequence[str] | None = None) -> None:
        self.conf = conf
        options = conf.netns_compute
        self.amphora_dir = os.path.abspath(options.amphora_dir or os.path.join(conf.ostia.state_dir, "nsamp"))
        self.directory = instance_directory.InstanceDirectory(self.amphora_dir, _COMPUTE_ID_LENGTH)
        self.mgmt_bridge = options.mgmt_bridge
        self.mgmt_network = mgmt_network(conf)
        self.host_address = mgmt_host_address(self.mgmt_network)
        self.agent_command = list(agent_command or default_agent_command())
        self._children: dict[str, list[subprocess.Popen[bytes]]] = {}

    # -- the management network ---------------------------------------------------------

    @property
    def ssh_key_file(self) -> str:
        return str(self.conf.controller_worker.amp_ssh_key_name or "")

    def ensure_mgmt_network(self) -> None:
        """The lb-mgmt bridge with the host's address, and its firewall rules."""
        iproute.ensure_bridge(self.mgmt_bridge, f"{self.host_address}/{self.mgmt_network.prefixlen}")
        ports = [self.conf.haproxy_amphora.bind_port, *([22] if self.ssh_key_file else [])]
        netns_firewall.apply(self.mgmt_bridge, self.conf.health_manager.bind_port, ports)

    def remove_mgmt_network(self) -> None:
        netns_firewall.remove(self.mgmt_bridge)
        iproute.delete_link(self.mgmt_bridge)

    # -- ComputeDriver -------------------------------------------------------------------

    def build(self, spec: AmphoraSpec) -> ComputeInstance:
        instance_directory.check_amphora_id(spec.amphora_id)
        if len(os.path.join(self.amphora_dir, "0" * _COMPUTE_ID_LENGTH, "lb")) > HAPROXY_MAX_BASE_PATH:
            raise ComputeBuildError(
                f"[netns_compute] amphora_dir {self.amphora_dir!r} is too long for haproxy's unix sockets"
            )
        if self.ssh_key_file and not os.path.isfile(self.ssh_key_file):
            raise ComputeBuildError(
                f"[controller_worker] amp_ssh_key_name {self.ssh_key_file!r} is not a file"
            )
        try:
            self.ensure_mgmt_network()
        except (iproute.IpCommandError, OSError) as exc:
            raise ComputeBuildError(f"lb-mgmt network {self.mgmt_bridge}: {exc}") from exc
        record = self.directory.reserve(spec.amphora_id, self._free_address)
        files = self.directory.files(record.compute_id)
        with instance_directory.removed_if_build_fails(self, spec.amphora_id, record.compute_id):
            self._make_namespaces(record)
            self._write_files(files, spec, record)
            self._start_agent(files, record.compute_id)
            if self.ssh_key_file:
                self._start_sshd(files, record)
        LOG.info(
            "namespace amphora %s started as %s on %s",
            spec.amphora_id,
            record.compute_id,
            record.lb_network_ip,
        )
        return instance_directory.instance_of(record, self._state(record, files))

    def get(self, compute_id: str) -> ComputeInstance | None:
        return self.directory.instance(compute_id, self._state)

    def delete(self, compute_id: str) -> None:
        if not self.directory.is_compute_id(compute_id):
            return
        namespaces = (amp_namespace(compute_id), vip_namespace(compute_id))
        stop_namespace_processes(namespaces)
        left = [pid for ns in namespaces for pid in iproute.netns_pids(ns) if procs.is_running(pid)]
        if left:
            raise ComputeDeleteError(f"processes of amphora {compute_id} still run: {left}")
        for child in self._children.pop(compute_id, []):
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=1.0)
        iproute.delete_link(MGMT_PORT_PREFIX + compute_id)
        for ns in namespaces:
            # Its veths go now, host ends with them: a namespace outlives its deletion
            # while a killed haproxy's orphaned connections still time out in it.
            for link in iproute.ip_json("link", "show", netns=ns):
                name = str(link.get("ifname", ""))
                if name and name != "lo":
                    iproute.delete_link(name, netns=ns)
        record = read_record(self.directory.files(compute_id))
        if record is not None and record.lb_network_ip:
            # The next amphora may get this address with another MAC: the host must not
            # keep talking to the old one until its neighbour entry goes stale.
            iproute.ip("neigh", "flush", "to", record.lb_network_ip, "dev", self.mgmt_bridge, check=False)
        for ns in namespaces:
            iproute.delete_netns(ns)
        files = self.directory.files(compute_id)
        try:
            shutil.rmtree(files.root)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise ComputeDeleteError(f"cannot remove {files.root}: {exc}") from exc
        LOG.info("namespace amphora instance %s deleted", compute_id)

    def list_instances(self) -> list[ComputeInstance]:
        return self.directory.instances(self._state)

    def instance_paths(self, compute_id: str) -> tuple[str, str] | None:
        files = self.directory.existing(compute_id)
        if files is None:
            return None
        return files.base_path, files.base_cert_dir

    def network_namespace(self, compute_id: str) -> str | None:
        return amp_namespace(compute_id) if self.directory.is_compute_id(compute_id) else None

    # -- namespace amphorae only ---------------------------------------------------------

    def instance_files(self, compute_id: str) -> InstanceFiles:
        if not self.directory.is_compute_id(compute_id):
            raise ValueError(f"not a netns compute id: {compute_id!r}")
        return self.directory.files(compute_id)

    # -- building ------------------------------------------------------------------------

    def _free_address(self, taken: set[str]) -> str:
        taken = taken | {self.host_address}
        address = next((a for a in mgmt_addresses(self.mgmt_network) if a not in taken), None)
        if address is None:
            raise ComputeBuildError(f"no free management address left in {self.mgmt_network}")
        return address

    def _make_namespaces(self, record: InstanceRecord) -> None:
        amp_ns = amp_namespace(record.compute_id)
        vip_ns = vip_namespace(record.compute_id)
        iproute.add_netns(amp_ns)
        iproute.add_netns(vip_ns)
        iproute.sysctl(vip_ns, "net.ipv4.ip_nonlocal_bind", "1")
        iproute.sysctl(vip_ns, "net.ipv6.ip_nonlocal_bind", "1")
        iproute.add_veth(MGMT_PORT_PREFIX + record.compute_id, "eth0", amp_ns, self.mgmt_bridge)
        address = f"{record.lb_network_ip}/{self.mgmt_network.prefixlen}"
        if self.mgmt_network.version == 6:
            # Usable at once: the agent binds it as soon as it starts.
            iproute.enable_ipv6_without_dad("eth0", netns=amp_ns)
            iproute.ip("addr", "add", address, "dev", "eth0", "nodad", netns=amp_ns)
        else:
            iproute.ip("addr", "add", address, "dev", "eth0", netns=amp_ns)
        iproute.ip("link", "set", "eth0", "up", netns=amp_ns)

    def _write_files(self, files: InstanceFiles, spec: AmphoraSpec, record: InstanceRecord) -> None:
        more_settings = {"netns_amphora": {"vip_namespace": vip_namespace(record.compute_id)}}
        write_agent_files(
            files, spec, record, self.conf, base_path=files.base_path, more_settings=more_settings
        )
        # keepalived runs its check script only from directories no one else may write.
        os.chmod(files.root, 0o755)
        os.chmod(files.base_path, 0o755)

    def _start_agent(self, files: InstanceFiles, compute_id: str) -> None:
        argv = [
            "ip",
            "netns",
            "exec",
            amp_namespace(compute_id),
            *self.agent_command,
            "--config-file",
            files.agent_conf,
        ]
        proc = self._spawn(argv, files.agent_log, files.root, compute_id)
        # `ip netns exec` execs the command: the pid is the agent's, once it has entered
        # the namespace (a few milliseconds; until then it is `ip` in the host's).
        write_file(files.agent_pid, f"{proc.pid}\n".encode(), 0o644)
        inode = iproute.netns_inode(amp_namespace(compute_id))
        deadline = time.monotonic() + 5.0
        while iproute.process_netns_inode(proc.pid) != inode:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise ComputeBuildError(
                    f"the agent of {compute_id} did not start "
                    f"(exit status {proc.poll()}); see {files.agent_log}"
                )
            time.sleep(0.005)

    def _start_sshd(self, files: InstanceFiles, record: InstanceRecord) -> None:
        ssh_dir = os.path.join(files.root, "ssh")
        os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
        host_key = os.path.join(ssh_dir, "host_ed25519_key")
        if not os.path.exists(host_key):
            iproute.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", host_key])
        with open(self.ssh_key_file, "rb") as handle:
            write_file(os.path.join(ssh_dir, "authorized_keys"), handle.read(), 0o600)
        config = "\n".join(
            [
                f"ListenAddress {record.lb_network_ip}",
                f"HostKey {host_key}",
                f"AuthorizedKeysFile {ssh_dir}/authorized_keys",
                f"PidFile {ssh_dir}/sshd.pid",
                "PermitRootLogin prohibit-password",
                # The files are the driver's own (0600 in a 0700 directory), wherever amphora_dir is.
                "StrictModes no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "X11Forwarding no",
                "AllowTcpForwarding no",
                "",
            ]
        )
        config_path = os.path.join(ssh_dir, "sshd_config")
        write_file(config_path, config.encode(), 0o600)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        argv = ["ip", "netns", "exec", amp_namespace(record.compute_id), SSHD, "-D", "-e", "-f", config_path]
        self._spawn(argv, os.path.join(ssh_dir, "sshd.log"), files.root, record.compute_id)

    def _spawn(self, argv: list[str], log_path: str, cwd: str, compute_id: str) -> subprocess.Popen[bytes]:
        proc = start_detached(argv, log_path, cwd, agent_environment())
        self._children.setdefault(compute_id, []).append(proc)
        return proc

    def _state(self, record: InstanceRecord, files: InstanceFiles) -> str:
        """ACTIVE while the instance's agent runs inside its namespace."""
        agent = read_pid(files.agent_pid)
        inode = iproute.netns_inode(amp_namespace(record.compute_id))
        alive = (
            agent is not None
            and inode is not None
            and procs.is_running(agent)
            and iproute.process_netns_inode(agent) == inode
        )
        return instance_directory.ACTIVE if alive else instance_directory.SHUTOFF


def stop_namespace_processes(namespaces: Sequence[str], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM every process in `namespaces`, SIGKILL what is left after `timeout`."""
    for signum, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2.0)):
        pids = [pid for ns in namespaces for pid in iproute.netns_pids(ns) if procs.is_running(pid)]
        if not pids:
            return
        for pid in pids:
            procs.signal_quietly(pid, signum)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(procs.is_running(p) for p in pids):
            time.sleep(0.02)
