"""plug/vip and plug/network on a namespace amphora: real interfaces in the VIP namespace.

The network driver hands the amphora a port as a VM gets a hot-plugged NIC: a veth end with
the port's MAC appears in the amphora's own (management) namespace. As upstream's agent does
with `amphora-haproxy`, the agent moves it into the VIP namespace, names it (`eth1` for the
VIP, `eth2`... for member networks) and configures its addresses. With ACTIVE_STANDBY the VIP
itself is keepalived's to add and remove: the interface only gets the port's own address
(`vrrp_ip`), which carries the VRRP adverts.

Each call is idempotent: an interface already in the VIP namespace is configured again.
"""

from __future__ import annotations

import ipaddress

from ostia.amphora.plug import LocalPlugger, NetworkPlug, NetworkPlugger, PlugError, VipPlug
from ostia.common import iproute

VIP_INTERFACE = "eth1"


def _not_found() -> PlugError:
    # The controller treats this 404 as "the NIC is not visible yet" and retries (upstream).
    return PlugError(404, {"message": "Error plugging", "details": "No suitable network interface found"})


class NetnsPlugger(NetworkPlugger):
    def __init__(self, namespace: str, record_dir: str) -> None:
        self.namespace = namespace
        # Payloads are recorded as on a local amphora, for `GET /1.0/details`.
        self.records = LocalPlugger(record_dir)

    # -- NetworkPlugger --------------------------------------------------------------------

    def plug_vip(self, plug: VipPlug) -> str:
        name = self._adopt(plug.mac_address, VIP_INTERFACE)
        prefix = ipaddress.ip_network(plug.subnet_cidr).prefixlen
        addresses = []
        if plug.vrrp_ip:
            addresses.append(f"{plug.vrrp_ip}/{prefix}")
        if not plug.vrrp_ip:
            addresses.append(f"{plug.vip}/{prefix}")
            for extra in plug.additional_vips:
                extra_prefix = ipaddress.ip_network(extra["subnet_cidr"]).prefixlen
                addresses.append(f"{extra['ip_address']}/{extra_prefix}")
        self._configure(name, addresses, plug.mtu)
        self.records.plug_vip(plug)
        return name

    def plug_network(self, plug: NetworkPlug) -> tuple[str, bool]:
        existed = self._find(plug.mac_address, self.namespace) is not None
        name = self._adopt(plug.mac_address, self._next_free_name())
        addresses = []
        for fixed in plug.fixed_ips:
            prefix = ipaddress.ip_network(fixed["subnet_cidr"]).prefixlen if fixed.get("subnet_cidr") else 32
            addresses.append(f"{fixed['ip_address']}/{prefix}")
        self._configure(name, addresses, plug.mtu)
        self.records.plug_network(plug)
        return name, existed

    def interface_of(self, address: str) -> str | None:
        """Looked up in the VIP namespace, where upstream's agent looks (amphora-haproxy)."""
        for link in iproute.ip_json("addr", "show", netns=self.namespace):
            for info in link.get("addr_info", []):
                if info.get("local") == address:
                    return str(link.get("ifname"))
        return None

    # -- interfaces ----------------------------------------------------------------------

    @staticmethod
    def _find(mac: str, namespace: str | None) -> str | None:
        for link in iproute.ip_json("link", "show", netns=namespace):
            if str(link.get("address", "")).lower() == mac.lower():
                return str(link["ifname"])
        return None

    def _adopt(self, mac: str, wanted: str) -> str:
        """The interface with `mac`, moved into the VIP namespace and named `wanted`."""
        inside = self._find(mac, self.namespace)
        if inside is not None:
            return inside
        outside = self._find(mac, None)
        if outside is None:
            raise _not_found()
        iproute.ip("link", "set", "dev", outside, "netns", self.namespace)
        if iproute.link_exists(wanted, netns=self.namespace):
            wanted = self._next_free_name()
        iproute.ip("link", "set", "dev", outside, "name", wanted, netns=self.namespace)
        return wanted

    def _next_free_name(self) -> str:
        names = {str(link.get("ifname")) for link in iproute.ip_json("link", "show", netns=self.namespace)}
        number = 2
        while f"eth{number}" in names:
            number += 1
        return f"eth{number}"

    def _configure(self, name: str, addresses: list[str], mtu: int | None) -> None:
        ns = self.namespace
        for address in addresses:
            iproute.ip("addr", "replace", address, "dev", name, netns=ns)
        if mtu:
            iproute.ip("link", "set", "dev", name, "mtu", str(mtu), netns=ns)
        iproute.ip("link", "set", "dev", name, "up", netns=ns)
        iproute.ip("link", "set", "lo", "up", netns=ns)
