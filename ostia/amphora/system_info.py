"""`GET /1.0/info` and `GET /1.0/details`: what the controller learns about an amphora."""

from __future__ import annotations

import os
import socket
from typing import Any

API_VERSION = "1.0"

_MEMINFO_KEYS = {
    "total": "MemTotal",
    "free": "MemFree",
    "buffers": "Buffers",
    "cached": "Cached",
    "shared": "Shmem",
    "slab": "Slab",
}


def info(
    haproxy_version: str, base_path: str | None = None, base_cert_dir: str | None = None
) -> dict[str, Any]:
    """Upstream's keys, plus (an Ostia extension) where this agent keeps load balancer files,
    which the renderer needs for socket and certificate paths."""
    result: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "haproxy_version": haproxy_version,
        "api_version": API_VERSION,
    }
    if base_path:
        result["base_path"] = base_path
    if base_cert_dir:
        result["base_cert_dir"] = base_cert_dir
    return result


def _read(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return ""


def cpu() -> dict[str, str]:
    for line in _read("/proc/stat").splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            values = [int(value) for value in fields[1:]]
            return {
                "total": str(sum(values)),
                "user": str(values[0]),
                "system": str(values[2]),
                "soft_irq": str(values[6]) if len(values) > 6 else "0",
            }
    return {"total": "0", "user": "0", "system": "0", "soft_irq": "0"}


def memory() -> dict[str, int]:
    values: dict[str, int] = {}
    for line in _read("/proc/meminfo").splitlines():
        key, _, rest = line.partition(":")
        words = rest.split()
        if words and words[0].isdigit():
            values[key] = int(words[0])
    result = {name: values.get(key, 0) for name, key in _MEMINFO_KEYS.items()}
    result["swap_used"] = values.get("SwapTotal", 0) - values.get("SwapFree", 0)
    return result


def networks() -> dict[str, dict[str, int]]:
    result = {}
    for line in _read("/proc/net/dev").splitlines()[2:]:
        name, _, rest = line.partition(":")
        fields = rest.split()
        if len(fields) >= 9:
            result[name.strip()] = {"network_rx": int(fields[0]), "network_tx": int(fields[8])}
    return result


def disk(path: str = "/") -> dict[str, int]:
    stat = os.statvfs(path)
    return {
        "used": (stat.f_blocks - stat.f_bfree) * stat.f_frsize,
        "available": stat.f_bavail * stat.f_frsize,
    }


def details(
    haproxy_version: str,
    haproxy_count: int,
    listener_ids: list[str],
    topology: str = "SINGLE",
    base_path: str | None = None,
    base_cert_dir: str | None = None,
) -> dict[str, Any]:
    return {
        **info(haproxy_version, base_path, base_cert_dir),
        "networks": networks(),
        "active": True,
        "haproxy_count": haproxy_count,
        "cpu_count": os.cpu_count() or 1,
        "cpu": cpu(),
        "memory": memory(),
        "disk": disk(),
        "load": _read("/proc/loadavg").split()[:3],
        "active_tuned_profiles": "",
        "topology": topology,
        "topology_status": "OK",
        "listeners": sorted(listener_ids),
        "packages": {},
    }
