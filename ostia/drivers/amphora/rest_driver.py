"""amphora_haproxy_rest_driver: HTTPS with mutual TLS to the agent in each amphora.

The controller presents `[haproxy_amphora] client_cert` and trusts only
`[haproxy_amphora] server_ca`; the server certificate must name the amphora's id (not its
address), which the driver passes as the TLS server name. Connection failures, timeouts and
"not up yet" 404s are retried `connection_max_retries` times, `connection_retry_interval`
seconds apart, unless a call passes RequestTimeouts overrides.
"""

from __future__ import annotations

import collections
import ipaddress
import logging
import ssl
import threading
import time
from typing import Any

import httpx
from oslo_config import cfg

from ostia.common import constants, exceptions, tls
from ostia.drivers.amphora.base import ACTIONS, AmphoraDriver, AmphoraRef, RequestTimeouts, Timeouts

LOG = logging.getLogger(__name__)

API_VERSION = "1.0"
USER_AGENT = f"Octavia HaProxy Rest Client/{API_VERSION} (https://wiki.openstack.org/wiki/Octavia)"
CLIENT_CACHE_SIZE = 256

ERRORS: dict[int, type[exceptions.AgentError]] = {
    400: exceptions.AgentInvalidRequest,
    401: exceptions.AgentUnauthorized,
    403: exceptions.AgentForbidden,
    404: exceptions.AgentNotFound,
    409: exceptions.AgentConflict,
    500: exceptions.AgentInternalError,
    501: exceptions.AgentNotImplemented,
    503: exceptions.AgentUnavailable,
}

_RETRYABLE = (httpx.TransportError,)


def _cert_verification_failed(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _retryable_404(response: httpx.Response) -> bool:
    """An agent that is not fully up answers 404 without JSON; a NIC not hot-plugged yet
    answers "No suitable network interface found"."""
    if response.status_code != 404:
        return False
    if "json" not in response.headers.get("content-type", ""):
        return True
    body = _json(response)
    return isinstance(body, dict) and "No suitable network interface found" in str(body.get("details", ""))


def raise_for_agent_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    body = _json(response)
    message, details = response.reason_phrase or "error", None
    if isinstance(body, dict):
        message = str(body.get("message") or body.get("error") or message)
        details = body.get("details")
    elif response.text:
        details = response.text[:2000]
    error = ERRORS.get(response.status_code, exceptions.AgentError)
    raise error(message, details, status_code=response.status_code)


class HaproxyRestAmphoraDriver(AmphoraDriver):
    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf
        self._context: ssl.SSLContext | None = None
        self._clients: collections.OrderedDict[tuple[str, str, int], httpx.Client] = collections.OrderedDict()
        self._lock = threading.Lock()

    # -- plumbing ------------------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext:
        if self._context is None:
            options = self.conf.haproxy_amphora
            self._context = tls.client_context(options.client_cert, options.server_ca)
        return self._context

    def close(self) -> None:
        with self._lock:
            self._close_clients()

    def _close_clients(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def _client(self, amp: AmphoraRef) -> httpx.Client:
        # One client per amphora: a pooled connection is only ever reused for the
        # amphora whose id its certificate was checked against.
        key = (amp.id, amp.lb_network_ip, amp.api_port)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = httpx.Client(
                    verify=self._ssl_context(),
                    headers={"User-Agent": USER_AGENT},
                    limits=httpx.Limits(keepalive_expiry=constants.AGENT_CLIENT_KEEPALIVE_SECONDS),
                )
                self._clients[key] = client
                while len(self._clients) > CLIENT_CACHE_SIZE:
                    self._clients.popitem(last=False)[1].close()
            else:
                self._clients.move_to_end(key)
            return client

    def _base_url(self, amp: AmphoraRef) -> str:
        host = amp.lb_network_ip
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if isinstance(address, ipaddress.IPv6Address):
            zone = f"%25{self.conf.haproxy_amphora.lb_network_interface}" if address.is_link_local else ""
            host = f"[{host}{zone}]"
        return f"https://{host}:{amp.api_port}"

    def _request(
        self,
        amp: AmphoraRef,
        method: str,
        path: str,
        timeouts: Timeouts = None,
        *,
        content: bytes | str | None = None,
        json: Any = None,
        ignore: tuple[int, ...] = (),
    ) -> httpx.Response:
        options = self.conf.haproxy_amphora
        overrides = timeouts or RequestTimeouts()
        conn_timeout = (
            overrides.conn_timeout
            if overrides.conn_timeout is not None
            else options.rest_request_conn_timeout
        )
        read_timeout = (
            overrides.read_timeout
            if overrides.read_timeout is not None
            else options.rest_request_read_timeout
        )
        attempts = max(
            1, overrides.max_retries if overrides.max_retries is not None else options.connection_max_retries
        )
        interval = (
            overrides.retry_interval
            if overrides.retry_interval is not None
            else options.connection_retry_interval
        )
        url = self._base_url(amp) + path
        timeout = httpx.Timeout(read_timeout, connect=conn_timeout)
        client = self._client(amp)
        last: str = ""
        for attempt in range(1, attempts + 1):
            try:
                response = client.request(
                    method,
                    url,
                    content=content,
                    json=json,
                    timeout=timeout,
                    extensions={"sni_hostname": amp.id},
                )
            except _RETRYABLE as exc:
                failure = _cert_verification_failed(exc)
                if failure is not None:
                    raise exceptions.AgentCertificateRefused(
                        f"amphora {amp.id} at {url}: server certificate refused: "
                        f"{failure.verify_message or failure}"
                    ) from exc
                last = f"{type(exc).__name__}: {exc}"
            else:
                if not _retryable_404(response):
                    if response.status_code not in ignore:
                        raise_for_agent_error(response)
                    return response
                last = "agent not ready (404)"
            if attempt < attempts:
                LOG.debug(
                    "amphora %s %s %s: %s; retry %d/%d in %ss",
                    amp.id,
                    method,
                    path,
                    last,
                    attempt,
                    attempts - 1,
                    interval,
                )
                time.sleep(interval)
        raise exceptions.AmphoraUnreachable(
            f"amphora {amp.id} at {url} did not answer {method} {path} after {attempts} attempt(s): {last}"
        )

    # -- amphora ---------------------------------------------------------------------------

    def get_api_version(self, amp: AmphoraRef, timeouts: Timeouts = None) -> str:
        body = _json(self._request(amp, "GET", "/", timeouts)) or {}
        return str(body.get("api_version", ""))

    def wait_for_agent(self, amp: AmphoraRef, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        delay = 0.02
        last: Exception | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise exceptions.AmphoraUnreachable(
                    f"amphora {amp.id} agent did not answer within {timeout} s: {last}"
                )
            once = RequestTimeouts(
                conn_timeout=min(max(remaining, 0.05), 2.0),
                read_timeout=max(min(remaining, 10.0), 1.0),
                max_retries=1,
                retry_interval=0,
            )
            try:
                version = self.get_api_version(amp, once)
                if version != API_VERSION:
                    raise exceptions.AgentError(
                        f"amphora {amp.id} speaks agent API {version or 'unknown'}, not {API_VERSION}"
                    )
                return self.get_info(amp, once)
            except exceptions.AgentCertificateRefused:
                raise
            except exceptions.AmphoraUnreachable as exc:
                last = exc
            time.sleep(min(delay, max(deadline - time.monotonic(), 0)))
            delay = min(delay * 2, 0.5, float(self.conf.haproxy_amphora.connection_retry_interval) or 0.5)

    def get_info(self, amp: AmphoraRef, timeouts: Timeouts = None) -> dict[str, Any]:
        return self._request(amp, "GET", "/1.0/info", timeouts).json()

    def get_details(self, amp: AmphoraRef, timeouts: Timeouts = None) -> dict[str, Any]:
        return self._request(amp, "GET", "/1.0/details", timeouts).json()

    def update_agent_config(self, amp: AmphoraRef, config: str | bytes, timeouts: Timeouts = None) -> None:
        self._request(amp, "PUT", "/1.0/config", timeouts, content=config)

    def upload_server_certificate(self, amp: AmphoraRef, pem: bytes, timeouts: Timeouts = None) -> None:
        self._request(amp, "PUT", "/1.0/certificate", timeouts, content=pem)

    # -- load balancers --------------------------------------------------------------------

    def upload_haproxy_config(
        self, amp: AmphoraRef, lb_id: str, config: str | bytes, timeouts: Timeouts = None
    ) -> str:
        response = self._request(
            amp, "PUT", f"/1.0/loadbalancer/{amp.id}/{lb_id}/haproxy", timeouts, content=config
        )
        return response.headers.get("etag", "")

    def get_haproxy_config(self, amp: AmphoraRef, lb_id: str, timeouts: Timeouts = None) -> str:
        return self._request(amp, "GET", f"/1.0/loadbalancer/{lb_id}/haproxy", timeouts).text

    def loadbalancer_action(
        self, amp: AmphoraRef, lb_id: str, action: str, timeouts: Timeouts = None
    ) -> None:
        if action.lower() not in ACTIONS:
            raise ValueError(f"unknown load balancer action {action!r}")
        self._request(amp, "PUT", f"/1.0/loadbalancer/{lb_id}/{action.lower()}", timeouts)

    def delete_listeners(self, amp: AmphoraRef, lb_id: str, timeouts: Timeouts = None) -> None:
        self._request(amp, "DELETE", f"/1.0/listeners/{lb_id}", timeouts, ignore=(404,))

    def list_listeners(self, amp: AmphoraRef, timeouts: Timeouts = None) -> list[dict[str, Any]]:
        return self._request(amp, "GET", "/1.0/listeners", timeouts).json()

    def upload_udp_listener_config(
        self, amp: AmphoraRef, listener_id: str, config: str | bytes, timeouts: Timeouts = None
    ) -> None:
        self._request(
            amp, "PUT", f"/1.0/listeners/{amp.id}/{listener_id}/udp_listener", timeouts, content=config
        )

    def get_udp_listener_config(
        self, amp: AmphoraRef, listener_id: str, timeouts: Timeouts = None
    ) -> str | None:
        response = self._request(
            amp, "GET", f"/1.0/listeners/{listener_id}/udp_listener", timeouts, ignore=(404,)
        )
        return None if response.status_code == 404 else response.text

    # -- certificates of listeners and pools -------------------------------------------------

    def upload_lb_certificate(
        self, amp: AmphoraRef, lb_id: str, filename: str, pem: bytes, timeouts: Timeouts = None
    ) -> str:
        response = self._request(
            amp, "PUT", f"/1.0/loadbalancer/{lb_id}/certificates/{filename}", timeouts, content=pem
        )
        return response.headers.get("etag", "")

    def get_lb_certificate_md5(
        self, amp: AmphoraRef, lb_id: str, filename: str, timeouts: Timeouts = None
    ) -> str | None:
        response = self._request(
            amp, "GET", f"/1.0/loadbalancer/{lb_id}/certificates/{filename}", timeouts, ignore=(404,)
        )
        if response.status_code == 404:
            return None
        return str(response.json().get("md5sum"))

    def delete_lb_certificate(
        self, amp: AmphoraRef, lb_id: str, filename: str, timeouts: Timeouts = None
    ) -> None:
        self._request(
            amp, "DELETE", f"/1.0/loadbalancer/{lb_id}/certificates/{filename}", timeouts, ignore=(404,)
        )

    # -- networking ---------------------------------------------------------------------------

    def plug_vip(
        self, amp: AmphoraRef, vip: str, net_info: dict[str, Any], timeouts: Timeouts = None
    ) -> None:
        self._request(amp, "POST", f"/1.0/plug/vip/{vip}", timeouts, json=net_info, ignore=(409,))

    def plug_network(self, amp: AmphoraRef, port_info: dict[str, Any], timeouts: Timeouts = None) -> None:
        self._request(amp, "POST", "/1.0/plug/network", timeouts, json=port_info, ignore=(409,))

    # -- VRRP ----------------------------------------------------------------------------------

    def upload_vrrp_config(self, amp: AmphoraRef, config: str | bytes, timeouts: Timeouts = None) -> None:
        self._request(amp, "PUT", "/1.0/vrrp/upload", timeouts, content=config)

    def vrrp_action(self, amp: AmphoraRef, action: str, timeouts: Timeouts = None) -> None:
        if action.lower() not in ACTIONS:
            raise ValueError(f"unknown VRRP action {action!r}")
        self._request(amp, "PUT", f"/1.0/vrrp/{action.lower()}", timeouts)
