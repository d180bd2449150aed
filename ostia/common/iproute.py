"""The iproute2 calls the namespace drivers make: namespaces, bridges, veth pairs.

Everything is done by running `ip` (and `sysctl` inside a namespace) rather than through
netlink bindings: the commands are what an operator would type to inspect or repair the
same objects, and iproute2 is installed wherever haproxy is.

Every name the drivers create starts with PREFIX, so that `ostia netns cleanup` can find
all of it. Interface names are limited to 15 characters (IFNAMSIZ - 1).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from typing import Any

PREFIX = "ost-"
NETNS_DIR = "/run/netns"
MAX_IFNAME = 15


class IpCommandError(RuntimeError):
    """An `ip`/`nft`/`sysctl` command failed; the message holds its own words."""


def run(argv: Sequence[str], *, stdin: str | None = None, check: bool = True) -> str:
    """Run a command, return its stdout; IpCommandError with its stderr when it fails."""
    proc = subprocess.run(
        list(argv),
        input=stdin,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"},
    )
    if check and proc.returncode != 0:
        raise IpCommandError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    return run(argv, check=check)


def ip_json(*args: str, netns: str | None = None) -> list[dict[str, Any]]:
    out = ip("-j", *args, netns=netns, check=False)
    try:
        data = json.loads(out) if out.strip() else []
    except ValueError:
        return []
    return data if isinstance(data, list) else []


# -- namespaces ---------------------------------------------------------------------------


def netns_exists(name: str) -> bool:
    return os.path.exists(os.path.join(NETNS_DIR, name))


def list_netns(prefix: str = PREFIX) -> list[str]:
    try:
        return sorted(name for name in os.listdir(NETNS_DIR) if name.startswith(prefix))
    except FileNotFoundError:
        return []


def add_netns(name: str) -> None:
    """Create a namespace with its loopback up; an existing one is kept."""
    if not netns_exists(name):
        ip("netns", "add", name)
    ip("link", "set", "lo", "up", netns=name)


def delete_netns(name: str) -> None:
    if netns_exists(name):
        ip("netns", "delete", name, check=False)


def netns_pids(name: str) -> list[int]:
    if not netns_exists(name):
        return []
    out = ip("netns", "pids", name, check=False)
    return sorted(int(word) for word in out.split() if word.isdigit())


def netns_inode(name: str) -> int | None:
    try:
        return os.stat(os.path.join(NETNS_DIR, name)).st_ino
    except OSError:
        return None


def process_netns_inode(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def sysctl(netns: str, key: str, value: str) -> None:
    run(["ip", "netns", "exec", netns, "sysctl", "-qw", f"{key}={value}"])


# -- links --------------------------------------------------------------------------------


def link_exists(name: str, netns: str | None = None) -> bool:
    return bool(ip_json("link", "show", "dev", name, netns=netns))


def list_links(prefix: str = PREFIX) -> list[dict[str, Any]]:
    return [link for link in ip_json("link", "show") if str(link.get("ifname", "")).startswith(prefix)]


def bridge_ports(bridge: str) -> list[str]:
    return [str(link["ifname"]) for link in ip_json("link", "show", "master", bridge)]


def delete_link(name: str, netns: str | None = None) -> None:
    ip("link", "delete", "dev", name, netns=netns, check=False)


def disable_ipv6(interface: str) -> None:
    """No link-local address: the host must not be reachable through its bridge ports."""
    path = f"/proc/sys/net/ipv6/conf/{interface}/disable_ipv6"
    if os.path.exists(path):
        with open(path, "w") as handle:
            handle.write("1")


def enable_ipv6_without_dad(interface: str, netns: str | None = None) -> None:
    """IPv6 on, and no duplicate address detection: its addresses (the link-local one
    too) are usable at once, and nothing else on our bridges can hold them."""
    if netns is not None:
        keys = [f"net.ipv6.conf.{interface}.{key}=0" for key in ("accept_dad", "disable_ipv6")]
        run(["ip", "netns", "exec", netns, "sysctl", "-qw", *keys])
        return
    for key, value in (("accept_dad", "0"), ("disable_ipv6", "0")):
        with open(f"/proc/sys/net/ipv6/conf/{interface}/{key}", "w") as handle:
            handle.write(value)


def ensure_bridge(name: str, address: str | None = None) -> None:
    """A bridge that is up with `address` (CIDR) on it when given; without IPv6 unless
    that address is an IPv6 one."""
    check_ifname(name)
    if not link_exists(name):
        # Two builds may race to make it: whoever loses finds it there.
        ip("link", "add", "name", name, "type", "bridge", "stp_state", "0", "forward_delay", "0", check=False)
        if not link_exists(name):
            raise IpCommandError(f"bridge {name} could not be created")
    ipv6 = bool(address) and ":" in str(address)
    if ipv6:
        enable_ipv6_without_dad(name)
    else:
        disable_ipv6(name)
    if address:
        ip("addr", "replace", address, "dev", name, *(["nodad"] if ipv6 else []))
    ip("link", "set", name, "up")


def add_veth(host_name: str, peer_name: str, netns: str, bridge: str, peer_mac: str | None = None) -> None:
    """A veth pair: `host_name` a port of `bridge`, `peer_name` inside `netns`."""
    check_ifname(host_name)
    check_ifname(peer_name)
    peer = ["peer", "name", peer_name, *(["address", peer_mac] if peer_mac else []), "netns", netns]
    ip("link", "add", "name", host_name, "type", "veth", *peer)
    disable_ipv6(host_name)
    ip("link", "set", host_name, "master", bridge, "up")


def check_ifname(name: str) -> None:
    if not name or len(name) > MAX_IFNAME or "/" in name or " " in name:
        raise ValueError(f"unusable interface name {name!r} (at most {MAX_IFNAME} characters)")
