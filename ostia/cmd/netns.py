"""`ostia up --netns` (namespace amphorae) and `ostia netns cleanup`.

`--netns` switches the all-in-one to compute_netns_driver and network_netns_driver, makes
the lb-mgmt bridge (with its nftables rules) before any service starts, and points the
health manager at the host's address on it (IPv4 or IPv6, as `[netns_compute] mgmt_cidr`),
where amphorae send their heartbeats.

`cleanup` removes everything the namespace drivers ever made on this host, whoever made it:
every process in an `ost-*` namespace, the namespaces, every `ost-*` link (bridges, veths)
and every `ostia_*` nftables table.

`purge` (for `ostia down --purge`) removes only what they made for one state directory: its
amphorae (processes, namespaces, veths), its ports, and the lb-mgmt and tenant bridges with
the nftables tables when nothing else is attached to them any more (another deployment
sharing a bridge name keeps it). `ostia up --netns` leaves a mark in the state directory with
the names it used (bridges, subnets, amphora directory), so that this happens even when
octavia.conf names the local drivers or other names came from an extra --config-file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from oslo_config import cfg

NETNS_DRIVERS = {"compute_driver": "compute_netns_driver", "network_driver": "network_netns_driver"}
# Left in the state directory by `ostia up --netns`.
MODE_MARK = "netns-mode"


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


# What names and places the drivers' things: `ostia up --config-file` may have set them in
# a file `ostia down` is not given.
REMEMBERED = {
    "netns_compute": ("mgmt_bridge", "mgmt_cidr", "amphora_dir"),
    "netns_network": ("subnets",),
    "ostia": ("state_dir",),
}


def remember_netns_mode(conf: cfg.ConfigOpts, state: Path) -> None:
    settings = {group: {name: conf[group][name] for name in names} for group, names in REMEMBERED.items()}
    mark = state / MODE_MARK
    mark.write_text(json.dumps(settings, indent=1) + "\n", encoding="utf-8")
    mark.chmod(0o600)


def used_netns(conf: cfg.ConfigOpts, state: Path) -> bool:
    """Did the namespace drivers make anything for this state directory?"""
    drivers = conf.controller_worker
    return (state / MODE_MARK).exists() or any(
        drivers[option] == driver for option, driver in NETNS_DRIVERS.items()
    )


def _use_remembered(conf: cfg.ConfigOpts, state: Path) -> None:
    try:
        settings = json.loads((state / MODE_MARK).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    for group, names in REMEMBERED.items():
        for name in names:
            value = settings.get(group, {}).get(name)
            if value is not None:
                conf.set_override(name, value, group)


def purge(conf: cfg.ConfigOpts, state: Path, say: Callable[[str], None] = print) -> None:
    """Remove what the namespace drivers made for this state directory (see the module's
    docstring); other deployments' amphorae and bridges stay."""
    from ostia.common import iproute
    from ostia.drivers.compute.netns_driver import NetnsComputeDriver
    from ostia.drivers.network.netns_driver import NetnsNetworkDriver

    _use_remembered(conf, state)
    compute = NetnsComputeDriver(conf)
    network = NetnsNetworkDriver(conf)
    instances = compute.list_instances()
    for done, instance in enumerate(instances, start=1):
        compute.delete(instance.compute_id)
        say(f"  removed namespace amphora {instance.compute_id} ({done}/{len(instances)})")
    ports = network.remove_ports()
    if ports:
        say(f"removed {ports} amphora port record{'s' if ports != 1 else ''}")
    for bridge in [*network.bridges(), compute.mgmt_bridge]:
        if not iproute.link_exists(bridge):
            continue
        attached = iproute.bridge_ports(bridge)
        if attached:
            say(f"kept bridge {bridge}: {', '.join(attached)} still attached to it")
            continue
        if bridge == compute.mgmt_bridge:
            compute.remove_mgmt_network()
            say(f"removed the lb-mgmt bridge {bridge} and its nftables tables")
        else:
            iproute.delete_link(bridge)
            say(f"removed the tenant bridge {bridge}")
    (state / MODE_MARK).unlink(missing_ok=True)


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
