"""The amphora agent's state: configuration, haproxy control, stores, TLS and heartbeats."""

from __future__ import annotations

import logging
import os
import ssl
import tempfile
import threading
from importlib import resources
from typing import Any

from oslo_config import cfg

from ostia.amphora.haproxy_configs import ConfigStore
from ostia.amphora.haproxy_lingering import LingeringServers
from ostia.amphora.haproxy_process import HaproxyConfigError, HaproxyController
from ostia.amphora.haproxy_socket import HaproxySocketError
from ostia.amphora.haproxy_stats import LoadBalancerStats, only_configured, read_stats
from ostia.amphora.heartbeat_payload import StatsCounters, build_message
from ostia.amphora.heartbeat_sender import HeartbeatSender
from ostia.amphora.keepalived import KeepalivedVrrp
from ostia.amphora.lb_certificates import CertificateStore
from ostia.amphora.netns_plug import NetnsPlugger
from ostia.amphora.nginx_process import NginxController
from ostia.amphora.paths import AgentPaths
from ostia.amphora.plug import LocalPlugger, NetworkPlugger
from ostia.amphora.supervisor import HaproxySupervisor
from ostia.amphora.udp_listeners import UdpListeners
from ostia.amphora.vrrp import LocalVrrp, VrrpBackend
from ostia.common import haproxy_peers, tls
from ostia.common.config import SECTIONS, ConfigError, load_config

LOG = logging.getLogger(__name__)


def ping_wrapper_script() -> str:
    """The script PING health monitors run, as the agent installs it at
    `<base_path>/ping-wrapper.sh` (the renderer's `external-check command`)."""
    return resources.files(__package__).joinpath("templates", "ping-wrapper.sh").read_text()


class Agent:
    def __init__(self, conf: cfg.ConfigOpts, config_files: list[str]) -> None:
        self.conf = conf
        self.config_files = list(config_files)
        options = conf.haproxy_amphora
        self.paths = AgentPaths(options.base_path, options.base_cert_dir)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        vip_namespace = conf.netns_amphora.vip_namespace
        self.haproxy = HaproxyController(
            self.paths,
            options.haproxy_cmd,
            namespace=vip_namespace,
            local_peer=self._peer_name(),
            lingering=LingeringServers(self.paths, self.lb_lock),
        )
        self.configs = ConfigStore(self.paths, self.haproxy)
        self.certificates = CertificateStore(self.paths)
        self.plugger: NetworkPlugger
        self.vrrp: VrrpBackend
        if vip_namespace:
            # A namespace amphora: real interfaces and keepalived in its VIP namespace.
            self.plugger = NetnsPlugger(vip_namespace, self.paths.plug_dir())
            self.vrrp = KeepalivedVrrp(self.paths, vip_namespace)
        else:
            self.plugger = LocalPlugger(self.paths.plug_dir())
            self.vrrp = LocalVrrp()
        self.counters = StatsCounters(self.paths.stats_counters())
        self.heartbeat = HeartbeatSender(
            lambda: self.conf, self.build_heartbeat, self.vrrp.suppresses_heartbeat
        )
        self.supervisor = HaproxySupervisor(self.haproxy, self.configs, self.lb_lock)
        self.udp = UdpListeners(
            options.base_path,
            NginxController(options.nginx_cmd, namespace=vip_namespace),
            self.lb_lock,
            namespace=vip_namespace,
        )
        self.ssl_context: ssl.SSLContext | None = None

    @property
    def amphora_id(self) -> str:
        return self.conf.amphora_agent.amphora_id or ""

    def _peer_name(self) -> str:
        """This amphora's name in the `peers` section of an ACTIVE_STANDBY pair; "" when the
        id is missing (prepare() refuses that) or gives no peer name (persistence is then
        not shared, which haproxy's check output says)."""
        try:
            return haproxy_peers.peer_name(self.amphora_id) if self.amphora_id else ""
        except ValueError as exc:
            LOG.warning("%s; haproxy runs without -L", exc)
            return ""

    def prepare(self) -> None:
        """Check the configuration and create the directories; ValueError if unusable."""
        if not self.amphora_id:
            raise ValueError("[amphora_agent] amphora_id is not set")
        self.paths.check()
        for path in (self.conf.amphora_agent.agent_server_cert, self.conf.amphora_agent.agent_server_ca):
            if not os.path.isfile(path):
                raise ValueError(f"{path} does not exist")
        os.makedirs(self.paths.base_path, mode=0o755, exist_ok=True)
        os.makedirs(self.paths.base_cert_dir, mode=0o700, exist_ok=True)
        self._install_ping_wrapper()

    def _install_ping_wrapper(self) -> None:
        target = self.paths.ping_wrapper()
        with open(target + ".tmp", "w") as handle:
            handle.write(ping_wrapper_script())
        os.chmod(target + ".tmp", 0o755)
        os.replace(target + ".tmp", target)

    def lb_lock(self, lb_id: str) -> threading.Lock:
        """Serializes changes to one load balancer's files and process."""
        with self._locks_guard:
            return self._locks.setdefault(lb_id, threading.Lock())

    def haproxy_action(self, lb_id: str, action: str) -> None:
        """start, stop or reload one load balancer's haproxy, under its lock.

        When haproxy cannot run the new configuration (HaproxyConfigError, raised on), the
        last configuration it ran goes back in place: the listeners that worked keep
        serving, now and after any restart, and only the refused change is lost.
        """
        with self.lb_lock(lb_id):
            try:
                getattr(self.haproxy, action)(lb_id)
            except HaproxyConfigError:
                if action != "stop":
                    restored = self.configs.restore_running(lb_id)
                    LOG.error(
                        "haproxy of %s refused its new configuration; %s",
                        lb_id,
                        "the previous one stays" if restored else "nothing ran before, so nothing runs",
                    )
                raise
            if action != "stop":
                self.configs.keep_running(lb_id)
            # The supervisor sleeps on the masters it knows: show it the one running now.
            self.supervisor.wake()

    # -- TLS -------------------------------------------------------------------------------

    def make_ssl_context(self) -> ssl.SSLContext:
        options = self.conf.amphora_agent
        self.ssl_context = tls.server_context(
            options.agent_server_cert, options.agent_server_ca, options.agent_tls_protocol
        )
        return self.ssl_context

    def store_server_certificate(self, pem: bytes) -> None:
        """Check and write a new server cert+key. Call `use_server_certificate` afterwards
        from the event loop thread."""
        tls.check_cert_and_key(pem)
        tls.write_pem_file(self.conf.amphora_agent.agent_server_cert, pem, mode=0o600)

    def use_server_certificate(self) -> None:
        if self.ssl_context is not None:
            tls.reload_server_certificate(self.ssl_context, self.conf.amphora_agent.agent_server_cert)

    # -- agent configuration -----------------------------------------------------------------

    def replace_config(self, text: bytes) -> None:
        """Replace the agent's configuration file and apply its mutable options.

        Options that need a restart (addresses, paths) take effect at the next start.
        Raises ValueError when the file is not a valid configuration.
        """
        if not self.config_files:
            raise ValueError("the agent was started without --config-file")
        target = self.config_files[0]
        directory = os.path.dirname(os.path.abspath(target))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".agent-", suffix=".conf")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(text)
            load_config([tmp])
            os.replace(tmp, target)
        except ConfigError as exc:
            os.unlink(tmp)
            raise ValueError(str(exc)) from exc
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        self.conf = self._keep_immutable_options(load_config(self.config_files))
        LOG.info(
            "agent configuration replaced; heartbeat interval %s s",
            self.conf.health_manager.heartbeat_interval,
        )
        self.heartbeat.wake()

    def _keep_immutable_options(self, new: cfg.ConfigOpts) -> cfg.ConfigOpts:
        """Like oslo's mutate_config_files: only mutable options change while running."""
        for group, options in SECTIONS.items():
            for opt in options:
                if opt.mutable:
                    continue
                old_value = (self.conf if group is None else self.conf[group])[opt.dest]
                new_value = (new if group is None else new[group])[opt.dest]
                if old_value != new_value:
                    LOG.info("[%s] %s changes at the next restart of the agent", group or "DEFAULT", opt.name)
                    new.set_override(opt.dest, old_value, group)
        return new

    # -- heartbeats ------------------------------------------------------------------------

    def collect_stats(self) -> list[LoadBalancerStats]:
        """What each haproxy reports, limited to the servers of the configuration it runs: a
        removed member haproxy still keeps (see haproxy_lingering) is not reported."""
        result = []
        for lb_id in self.paths.lb_ids():
            try:
                stats = read_stats(self.paths.stats_socket(lb_id), timeout=1.0)
            except HaproxySocketError:
                LOG.debug("no stats from %s (not running)", lb_id)
                continue
            servers = self.configs.running_servers(lb_id)
            result.append(stats if servers is None else only_configured(stats, servers))
        return result

    def build_heartbeat(self, seq: int) -> dict[str, Any]:
        message = build_message(self.amphora_id, seq, self.collect_stats(), self.counters)
        self.udp.add_to_heartbeat(message)
        known = {entry.listener_id for entries in self.configs.all_listeners().values() for entry in entries}
        self.counters.forget_others(known)
        self.counters.save()
        return message
