"""amphora_noop_driver: records every call and answers like a healthy agent (API-only use)."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from typing import Any

from oslo_config import cfg

from ostia.common import exceptions
from ostia.drivers.amphora.base import ACTIONS, AmphoraDriver, AmphoraRef, Timeouts


@dataclasses.dataclass(frozen=True)
class RecordedCall:
    method: str
    amphora_id: str
    args: tuple[Any, ...]


class NoopAmphoraDriver(AmphoraDriver):
    def __init__(self, conf: cfg.ConfigOpts | None = None) -> None:
        self.conf = conf
        self.calls: list[RecordedCall] = []
        self._lock = threading.Lock()
        self._configs: dict[tuple[str, str], str] = {}
        self._udp_configs: dict[tuple[str, str], str] = {}
        self._certs: dict[tuple[str, str, str], str] = {}

    def _record(self, method: str, amp: AmphoraRef, *args: Any) -> None:
        with self._lock:
            self.calls.append(RecordedCall(method, amp.id, args))

    def calls_named(self, method: str) -> list[RecordedCall]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def get_api_version(self, amp: AmphoraRef, timeouts: Timeouts = None) -> str:
        self._record("get_api_version", amp)
        return "1.0"

    def wait_for_agent(self, amp: AmphoraRef, timeout: float) -> dict[str, Any]:
        self._record("wait_for_agent", amp, timeout)
        return self._info()

    @staticmethod
    def _info() -> dict[str, Any]:
        return {"hostname": "noop-amphora", "haproxy_version": "2.6.12", "api_version": "1.0"}

    def get_info(self, amp: AmphoraRef, timeouts: Timeouts = None) -> dict[str, Any]:
        self._record("get_info", amp)
        return self._info()

    def get_details(self, amp: AmphoraRef, timeouts: Timeouts = None) -> dict[str, Any]:
        self._record("get_details", amp)
        lb_ids = {lb_id for (amp_id, lb_id) in self._configs if amp_id == amp.id}
        return {
            **self._info(),
            "active": True,
            "cpu_count": 1,
            "haproxy_count": len(lb_ids),
            "topology": "SINGLE",
            "topology_status": "OK",
            "listeners": [],
            "packages": {},
        }

    def update_agent_config(self, amp: AmphoraRef, config: str | bytes, timeouts: Timeouts = None) -> None:
        self._record("update_agent_config", amp, config)

    def upload_server_certificate(self, amp: AmphoraRef, pem: bytes, timeouts: Timeouts = None) -> None:
        self._record("upload_server_certificate", amp, pem)

    def upload_haproxy_config(
        self, amp: AmphoraRef, lb_id: str, config: str | bytes, timeouts: Timeouts = None
    ) -> str:
        self._record("upload_haproxy_config", amp, lb_id, config)
        text = config.decode() if isinstance(config, bytes) else config
        with self._lock:
            self._configs[(amp.id, lb_id)] = text
        return hashlib.md5(text.encode()).hexdigest()

    def get_haproxy_config(self, amp: AmphoraRef, lb_id: str, timeouts: Timeouts = None) -> str:
        self._record("get_haproxy_config", amp, lb_id)
        try:
            return self._configs[(amp.id, lb_id)]
        except KeyError:
            raise exceptions.AgentNotFound(
                "Loadbalancer Not Found", f"No loadbalancer with UUID: {lb_id}"
            ) from None

    def loadbalancer_action(
        self, amp: AmphoraRef, lb_id: str, action: str, timeouts: Timeouts = None
    ) -> None:
        if action.lower() not in ACTIONS:
            raise ValueError(f"unknown load balancer action {action!r}")
        self._record("loadbalancer_action", amp, lb_id, action.lower())

    def delete_listeners(self, amp: AmphoraRef, lb_id: str, timeouts: Timeouts = None) -> None:
        self._record("delete_listeners", amp, lb_id)
        with self._lock:
            self._configs.pop((amp.id, lb_id), None)
            self._udp_configs.pop((amp.id, lb_id), None)

    def list_listeners(self, amp: AmphoraRef, timeouts: Timeouts = None) -> list[dict[str, Any]]:
        self._record("list_listeners", amp)
        with self._lock:
            return [
                {"status": "ACTIVE", "uuid": listener_id, "type": "UDP"}
                for (amp_id, listener_id) in self._udp_configs
                if amp_id == amp.id
            ]

    def upload_udp_listener_config(
        self, amp: AmphoraRef, listener_id: str, config: str | bytes, timeouts: Timeouts = None
    ) -> None:
        self._record("upload_udp_listener_config", amp, listener_id, config)
        text = config.decode() if isinstance(config, bytes) else config
        with self._lock:
            self._udp_configs[(amp.id, listener_id)] = text

    def get_udp_listener_config(
        self, amp: AmphoraRef, listener_id: str, timeouts: Timeouts = None
    ) -> str | None:
        self._record("get_udp_listener_config", amp, listener_id)
        with self._lock:
            return self._udp_configs.get((amp.id, listener_id))

    def upload_lb_certificate(
        self, amp: AmphoraRef, lb_id: str, filename: str, pem: bytes, timeouts: Timeouts = None
    ) -> str:
        self._record("upload_lb_certificate", amp, lb_id, filename, pem)
        md5 = hashlib.md5(pem).hexdigest()
        with self._lock:
            self._certs[(amp.id, lb_id, filename)] = md5
        return md5

    def get_lb_certificate_md5(
        self, amp: AmphoraRef, lb_id: str, filename: str, timeouts: Timeouts = None
    ) -> str | None:
        self._record("get_lb_certificate_md5", amp, lb_id, filename)
        return self._certs.get((amp.id, lb_id, filename))

    def delete_lb_certificate(
        self, amp: AmphoraRef, lb_id: str, filename: str, timeouts: Timeouts = None
    ) -> None:
        self._record("delete_lb_certificate", amp, lb_id, filename)
        with self._lock:
            self._certs.pop((amp.id, lb_id, filename), None)

    def plug_vip(
        self, amp: AmphoraRef, vip: str, net_info: dict[str, Any], timeouts: Timeouts = None
    ) -> None:
        self._record("plug_vip", amp, vip, net_info)

    def plug_network(self, amp: AmphoraRef, port_info: dict[str, Any], timeouts: Timeouts = None) -> None:
        self._record("plug_network", amp, port_info)

    def upload_vrrp_config(self, amp: AmphoraRef, config: str | bytes, timeouts: Timeouts = None) -> None:
        self._record("upload_vrrp_config", amp, config)

    def vrrp_action(self, amp: AmphoraRef, action: str, timeouts: Timeouts = None) -> None:
        self._record("vrrp_action", amp, action)
