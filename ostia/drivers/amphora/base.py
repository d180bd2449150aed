"""Amphora driver interface: the controller's calls to the agent inside an amphora.

One method per agent API call (Octavia amphora agent API 1.0). Errors the agent answers
raise `ostia.common.exceptions.AgentError` subclasses (AgentInvalidRequest for 400,
AgentNotFound for 404, ...); an agent that never answers raises AmphoraUnreachable.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any

from oslo_config import cfg

DEFAULT_API_PORT = 9443
ACTIONS = ("start", "stop", "reload")


@dataclasses.dataclass(frozen=True)
class AmphoraRef:
    """What the driver needs to reach one amphora's agent."""

    id: str
    lb_network_ip: str
    api_port: int = DEFAULT_API_PORT


@dataclasses.dataclass(frozen=True)
class RequestTimeouts:
    """Per-call overrides of `[haproxy_amphora]` timeouts and retries (None = configured).

    Upstream's `timeout_dict` keys map as: req_conn_timeout -> conn_timeout,
    req_read_timeout -> read_timeout, conn_max_retries -> max_retries,
    conn_retry_interval -> retry_interval.
    """

    conn_timeout: float | None = None
    read_timeout: float | None = None
    max_retries: int | None = None
    retry_interval: float | None = None

    @classmethod
    def active(cls, conf: cfg.ConfigOpts) -> RequestTimeouts:
        """For amphorae expected to be up (during an LB failover)."""
        options = conf.haproxy_amphora
        return cls(
            max_retries=options.active_connection_max_retries,
            retry_interval=options.active_connection_retry_interval,
        )

    @classmethod
    def once(cls, conn_timeout: float = 2.0, read_timeout: float = 10.0) -> RequestTimeouts:
        """One attempt, no retry."""
        return cls(conn_timeout=conn_timeout, read_timeout=read_timeout, max_retries=1, retry_interval=0)


Timeouts = RequestTimeouts | None


class AmphoraDriver(abc.ABC):
    # -- amphora -----------------------------------------------------------------------------

    @abc.abstractmethod
    def get_api_version(self, amp: AmphoraRef, timeouts: Timeouts = None) -> str:
        """`GET /`: the agent's API version ("1.0")."""

    @abc.abstractmethod
    def wait_for_agent(self, amp: AmphoraRef, timeout: float) -> dict[str, Any]:
        """Poll until the agent answers `GET /` and `GET /1.0/info`; return the info.

        Raises AmphoraUnreachable after `timeout` seconds.
        """

    @abc.abstractmethod
    def get_info(self, amp: AmphoraRef, timeouts: Timeouts = None) -> dict[str, Any]: ...

    @abc.abstractmethod
    def get_details(self, amp: AmphoraRef, timeouts: Timeouts = None) -> dict[str, Any]: ...

    @abc.abstractmethod
    def update_agent_config(self, amp: AmphoraRef, config: str | bytes, timeouts: Timeouts = None) -> None:
        """Replace the agent's configuration file (`PUT /1.0/config`)."""

    @abc.abstractmethod
    def upload_server_certificate(self, amp: AmphoraRef, pem: bytes, timeouts: Timeouts = None) -> None:
        """Rotate the agent's own server certificate+key (`PUT /1.0/certificate`)."""

    # -- load balancers --------------------------------------------------------------------

    @abc.abstractmethod
    def upload_haproxy_config(
        self, amp: AmphoraRef, lb_id: str, config: str | bytes, timeouts: Timeouts = None
    ) -> str:
        """Install a configuration (checked by the agent); returns its md5 (ETag).

        Raises AgentInvalidRequest with haproxy's output in `details` when refused.
        """

    @abc.abstractmethod
    def get_haproxy_config(self, amp: AmphoraRef, lb_id: str, timeouts: Timeouts = None) -> str: ...

    @abc.abstractmethod
    def loadbalancer_action(
        self, amp: AmphoraRef, lb_id: str, action: str, timeouts: Timeouts = None
    ) -> None:
        """start, stop or reload (reload starts a stopped haproxy)."""

    def reload_loadbalancer(self, amp: AmphoraRef, lb_id: str, timeouts: Timeouts = None) -> None:
        self.loadbalancer_action(amp, lb_id, "reload", timeouts)

    @abc.abstractmethod
    def delete_listeners(self, amp: AmphoraRef, lb_id: str, timeouts: Timeouts = None) -> None:
        """Stop the load balancer's haproxy and remove its files (unknown id is fine)."""

    @abc.abstractmethod
    def list_listeners(self, amp: AmphoraRef, timeouts: Timeouts = None) -> list[dict[str, Any]]:
        """[{"status", "uuid", "type"}] for every listener configured on the amphora."""

    # -- UDP listeners (one process per listener; actions and deletion take the listener's
    # id where the calls above take the load balancer's) -----------------------------------

    @abc.abstractmethod
    def upload_udp_listener_config(
        self, amp: AmphoraRef, listener_id: str, config: str | bytes, timeouts: Timeouts = None
    ) -> None:
        """`PUT /1.0/listeners/{amp}/{listener_id}/udp_listener`; AgentInvalidRequest with
        the data plane's words when refused."""

    @abc.abstractmethod
    def get_udp_listener_config(
        self, amp: AmphoraRef, listener_id: str, timeouts: Timeouts = None
    ) -> str | None:
        """The listener's configuration on the amphora, None if it has none."""

    # -- certificates of listeners and pools -------------------------------------------------

    @abc.abstractmethod
    def upload_lb_certificate(
        self, amp: AmphoraRef, lb_id: str, filename: str, pem: bytes, timeouts: Timeouts = None
    ) -> str:
        """Store `<filename>` (`*.pem`) for the load balancer; returns its md5."""

    @abc.abstractmethod
    def get_lb_certificate_md5(
        self, amp: AmphoraRef, lb_id: str, filename: str, timeouts: Timeouts = None
    ) -> str | None:
        """md5 of the stored file, None if there is none."""

    @abc.abstractmethod
    def delete_lb_certificate(
        self, amp: AmphoraRef, lb_id: str, filename: str, timeouts: Timeouts = None
    ) -> None: ...

    def ensure_lb_certificate(
        self, amp: AmphoraRef, lb_id: str, filename: str, pem: bytes, timeouts: Timeouts = None
    ) -> bool:
        """Upload unless the amphora already has identical content; True if uploaded."""
        import hashlib

        if self.get_lb_certificate_md5(amp, lb_id, filename, timeouts) == (hashlib.md5(pem).hexdigest()):
            return False
        self.upload_lb_certificate(amp, lb_id, filename, pem, timeouts)
        return True

    # -- networking ---------------------------------------------------------------------------

    @abc.abstractmethod
    def plug_vip(
        self, amp: AmphoraRef, vip: str, net_info: dict[str, Any], timeouts: Timeouts = None
    ) -> None:
        """`net_info`: subnet_cidr, gateway, mac_address (required), mtu, vrrp_ip,
        host_routes, additional_vips, is_sriov. "Already plugged" (409) is success."""

    @abc.abstractmethod
    def plug_network(self, amp: AmphoraRef, port_info: dict[str, Any], timeouts: Timeouts = None) -> None:
        """`port_info`: mac_address (required), fixed_ips, mtu, vip_net_info, is_sriov."""

    # -- VRRP ----------------------------------------------------------------------------------

    @abc.abstractmethod
    def upload_vrrp_config(self, amp: AmphoraRef, config: str | bytes, timeouts: Timeouts = None) -> None: ...

    @abc.abstractmethod
    def vrrp_action(self, amp: AmphoraRef, action: str, timeouts: Timeouts = None) -> None:
        """start, stop or reload keepalived. A local amphora raises AgentNotImplemented."""
