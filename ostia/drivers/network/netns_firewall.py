"""nftables rules that give the lb-mgmt bridge the meaning of upstream's amp_secgroup_list.

On the management network an amphora may send UDP to the health manager's port and receive
TCP on the agent's port (and 22 when SSH is on) from the controller host; nothing else, not
even to another amphora. Nothing is ever forwarded between an `ost-` interface and any other
interface of the host (ip_forward is usually off anyway; this holds when it is on).

The rules hold for an IPv4 and an IPv6 lb-mgmt subnet alike (`inet` covers both families).
Neighbour discovery is let through as ARP is: with IPv6 the host and an amphora find each
other's MAC with ICMPv6 neighbour solicitations and advertisements, which connection
tracking does not count as part of any connection.

One pair of tables per management bridge (`inet` for the host's own traffic, `bridge` for
traffic between ports of the bridge), replaced atomically by one `nft -f` transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from ostia.common import iproute

MGMT_PORT_PREFIX = iproute.PREFIX + "m"
NEIGHBOUR_DISCOVERY = "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert }"


def table_name(mgmt_bridge: str) -> str:
    return "ostia_" + mgmt_bridge.replace("-", "_")


def ruleset(mgmt_bridge: str, heartbeat_port: int, agent_ports: Sequence[int]) -> str:
    """The nft script that (re)creates both tables for `mgmt_bridge`."""
    table = table_name(mgmt_bridge)
    ports = ", ".join(str(port) for port in sorted(set(agent_ports)))
    bridge = f'"{mgmt_bridge}"'
    prefix = f'"{iproute.PREFIX}*"'
    # This kernel has no `meta ibrname` in the bridge family: the rule matches the host ends
    # of management veths instead, which are named MGMT_PORT_PREFIX + id on every bridge.
    mgmt_ports = f'"{MGMT_PORT_PREFIX}*"'
    return f"""table inet {table}
delete table inet {table}
table inet {table} {{
    chain input {{
        type filter hook input priority 0; policy accept;
        iifname {bridge} ct state established,related accept
        iifname {bridge} {NEIGHBOUR_DISCOVERY} accept
        iifname {bridge} udp dport {heartbeat_port} accept
        iifname {bridge} drop
    }}
    chain output {{
        type filter hook output priority 0; policy accept;
        oifname {bridge} ct state established,related accept
        oifname {bridge} {NEIGHBOUR_DISCOVERY} accept
        oifname {bridge} tcp dport {{ {ports} }} accept
        oifname {bridge} drop
    }}
    chain forward {{
        type filter hook forward priority 0; policy accept;
        iifname {prefix} oifname != {prefix} drop
        oifname {prefix} iifname != {prefix} drop
    }}
}}
table bridge {table}
delete table bridge {table}
table bridge {table} {{
    chain forward {{
        type filter hook forward priority 0; policy accept;
        iifname {mgmt_ports} ether type arp accept
        iifname {mgmt_ports} {NEIGHBOUR_DISCOVERY} accept
        iifname {mgmt_ports} drop
    }}
}}
"""


def apply(mgmt_bridge: str, heartbeat_port: int, agent_ports: Sequence[int]) -> None:
    iproute.run(["nft", "-f", "-"], stdin=ruleset(mgmt_bridge, heartbeat_port, agent_ports))


def remove(mgmt_bridge: str) -> None:
    table = table_name(mgmt_bridge)
    for family in ("inet", "bridge"):
        iproute.run(["nft", "delete", "table", family, table], check=False)


def list_tables() -> list[tuple[str, str]]:
    """(family, name) of every table the drivers made (`ostia_` prefix)."""
    out = iproute.run(["nft", "list", "tables"], check=False)
    found = []
    for line in out.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "table" and words[2].startswith("ostia_"):
            found.append((words[1], words[2]))
    return found
