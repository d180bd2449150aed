"""`ostia up --netns` (namespace amphorae) and `ostia netns cleanup`.

`--netns` switches the all-in-one to compute_netns_driver and network_netns_driver, makes
the lb-mgmt bridge (with its nftables rules) before any service starts, and points the
health manager at the host's address on it (IPv4 or IPv6, as `[netns_compute] mgmt_cidr`),
where amphorae send their heartbeats.

`cleanup` removes everything the namespace drivers ever made on this host, whoever made it:
every process in an `ost-*` namespace, the namespaces, every `ost-*` link (bridges, veths)
and every `ostia_*` nftables table.
"""

from __future__ import annotations

import argparse
import os
import sys

from oslo_config import cfg

NETNS_DRIVERS = {"compute_driver": "compute_netns_driver", "network_driver": "network_netns_driver"}


def apply_netns_mode(conf: cfg.ConfigOpts) -> None:
    """Namespace drivers, and a health manager on the host's lb-mgmt address."""
    from ostia.common.addresses import format_host_port
    from ostia.drivers.compute.netns_driver import NetnsComputeDriver, mgmt_host_address, mgmt_network

    for option, driver in NETNS_DRIVERS.items():
        conf.set_override(option, driver, "controller_worker")
    host = mgmt_host_address(mgmt_network(conf))
    port = conf.health_manager.bind_port
    conf.set_override("bind_ip", host, "health_manager")
    conf.set_override("controller_ip_port_list", [format_host_port(host, port)], "health_manager")
    NetnsComputeDriver(conf).ensure_mgmt_network()


def cleanup(args: argparse.Namespace) -> int:
    from ostia.common import iproute
    from ostia.drivers.compute.netns_driver import stop_namespace_processes
    from ostia.drivers.network import netns_firewall

    if os.geteuid() != 0:
        print("ostia netns cleanup: needs root", file=sys.stderr)
        return 1
    prefix = getattr(args, "prefix", None) or iproute.PREFIX
    if not prefix.startswith(iproute.PREFIX):
        print(f"ostia netns cleanup: --prefix must start with {iproute.PREFIX}", file=sys.stderr)
        return 2
    namespaces = iproute.list_netns(prefix)
    stop_namespace_processes(namespaces)
    for namespace in namespaces:
        iproute.delete_netns(namespace)
    links = [str(link["ifname"]).split("@")[0] for link in iproute.list_links(prefix)]
    for name in links:
        iproute.delete_link(name)
    tables = [
        (family, table)
        for family, table in netns_firewall.list_tables()
        if table.startswith(netns_firewall.table_name(prefix))
    ]
    for family, table in tables:
        iproute.run(["nft", "delete", "table", family, table], check=False)
    print(f"removed {len(namespaces)} namespaces, {len(links)} links, {len(tables)} nftables tables")
    return 0
