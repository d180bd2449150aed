"""Values both renderers (haproxy and nginx's UDP stream) read from the graph, checked.

One place for the VIP addresses a listener binds and for a health monitor's timing, so the
TCP/HTTP and UDP data planes accept and refuse exactly the same stored values.
"""

from __future__ import annotations

from dataclasses import dataclass

from ostia.common import limits
from ostia.controller.worker.haproxy.escape import HaproxyRenderError, integer, ip_address
from ostia.db import models


@dataclass(frozen=True)
class MonitorTiming:
    delay: int  # seconds between checks (0: as often as the data plane allows)
    timeout: int  # seconds
    fall: int  # failed checks before a member is down (max_retries_down)
    rise: int  # passed checks before it is up again (max_retries)


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
