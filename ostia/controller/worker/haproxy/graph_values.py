"""Values both renderers (haproxy and nginx's UDP stream) read from the graph, checked.

One place for the VIP addresses a listener binds, a health monitor's timing and HTTP request,
and the members a pool serves with (which ones, and each one's address, port and weight), so
the TCP/HTTP and UDP data planes accept and refuse exactly the same stored values. Values a
renderer may not need are checked only when it asks for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote as url_quote

from ostia.common import constants, limits
from ostia.controller.worker.haproxy.escape import (
    HaproxyRenderError,
    UnsafeValue,
    check_text,
    ident,
    integer,
    ip_address,
    matching,
)
from ostia.db import models

# Characters a URI path and query may hold as they are (RFC 3986 pchar, "/", "?", and "%"
# of an existing escape); everything else (spaces, quotes, braces, '#'...) is
# percent-encoded, so a check sends the path the tenant meant rather than a broken request.
_URI_SAFE = "/?:@!$&'()*+,;=-._~%"


@dataclass(frozen=True)
class MonitorTiming:
    delay: int  # seconds between checks (0: as often as the data plane allows)
    timeout: int  # seconds
    fall: int  # failed checks before a member is down (max_retries_down)
    rise: int  # passed checks before it is up again (max_retries)


@dataclass(frozen=True)
class MemberServer:
    """One member as a `server` line sees it: its checked id, address, port and weight."""

    member: models.Member
    id: str
    address: str
    port: int
    weight: int  # 0: drained (no new connections)
    admin_down: bool  # the member or its whole pool is disabled

    def monitor_address(self) -> str | None:
        """Where checks go instead of the member's address, if set. Checked only when a
        renderer asks (with a health monitor): without one the stored value is not used."""
        if not self.member.monitor_address:
            return None
        return ip_address(self.member.monitor_address, "member.monitor_address")

    def monitor_port(self) -> int | None:
        """The port checks go to instead of the member's port, if set (checked when asked)."""
        if not self.member.monitor_port:
            return None
        return integer(self.member.monitor_port, "member.monitor_port", limits.PORT.low, limits.PORT.high)


def live_member(member: models.Member) -> bool:
    """Members that appear as `server` lines (admin-down ones too, marked down)."""
    return member.provisioning_status not in (constants.PENDING_DELETE, constants.DELETED)


def member_servers(pool: models.Pool) -> Iterator[MemberServer]:
    """The pool's live members in stored order, each checked as it is reached (so the first
    bad value met is the one reported)."""
    for member in pool.members:
        if not live_member(member):
            continue
        yield MemberServer(
            member=member,
            id=ident(member.id, "member.id"),
            address=ip_address(member.ip_address, "member.address"),
            port=integer(member.protocol_port, "member.protocol_port", limits.PORT.low, limits.PORT.high),
            weight=integer(
                1 if member.weight is None else member.weight,
                "member.weight",
                limits.WEIGHT.low,
                limits.WEIGHT.high,
            ),
            admin_down=member.enabled is False or pool.enabled is False,
        )


def vip_addresses(lb: models.LoadBalancer) -> list[str]:
    """The VIP and additional VIPs, canonical and without repeats, the VIP first."""
    addresses = []
    if lb.vip is not None and lb.vip.ip_address:
        addresses.append(ip_address(lb.vip.ip_address, "vip.ip_address"))
    for extra in lb.additional_vips:
        if extra.ip_address:
            addresses.append(ip_address(extra.ip_address, "additional_vip.ip_address"))
    if not addresses:
        raise HaproxyRenderError(f"load balancer {lb.id} has no VIP address")
    return list(dict.fromkeys(addresses))


def monitor_timing(hm: models.HealthMonitor) -> MonitorTiming:
    """The monitor's delay, timeout and thresholds within the API's bounds (3 when unset)."""
    return MonitorTiming(
        delay=integer(hm.delay, "healthmonitor.delay", limits.HM_DELAY.low, limits.HM_DELAY.high),
        timeout=integer(hm.timeout, "healthmonitor.timeout", limits.HM_TIMEOUT.low, limits.HM_TIMEOUT.high),
        fall=integer(
            hm.fall_threshold or 3,
            "healthmonitor.max_retries_down",
            limits.HM_MAX_RETRIES_DOWN.low,
            limits.HM_MAX_RETRIES_DOWN.high,
        ),
        rise=integer(
            hm.rise_threshold or 3,
            "healthmonitor.max_retries",
            limits.HM_MAX_RETRIES.low,
            limits.HM_MAX_RETRIES.high,
        ),
    )


def monitor_http_method(hm: models.HealthMonitor) -> str:
    """The HTTP monitor's request method (GET when unset)."""
    method = hm.http_method or "GET"
    if method not in constants.HTTP_METHODS:
        raise UnsafeValue("healthmonitor.http_method", method, "not an HTTP method")
    return method


def monitor_url_path(hm: models.HealthMonitor) -> str:
    """The HTTP monitor's request path ("/" when unset), percent-encoded for a request line."""
    path = check_text(hm.url_path or "/", "healthmonitor.url_path")
    return url_quote(path, safe=_URI_SAFE)


def monitor_expected_codes(hm: models.HealthMonitor) -> tuple[str, list[int]]:
    """The HTTP monitor's expected codes as stored ("200" when unset: "200, 202" or
    "200-204") and as the list of codes they name."""
    text = check_text(hm.expected_codes or "200", "healthmonitor.expected_codes")
    try:
        return text, limits.expected_codes(text)
    except ValueError as err:
        raise UnsafeValue("healthmonitor.expected_codes", text, str(err)) from None


def monitor_host(hm: models.HealthMonitor) -> str:
    """The HTTP monitor's Host (domain_name; the caller checks that one is set)."""
    return matching(hm.domain_name, "healthmonitor.domain_name", limits.DOMAIN_NAME, "a host name")
