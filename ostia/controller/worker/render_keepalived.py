"""The keepalived configuration of one amphora of an ACTIVE_STANDBY load balancer.

As upstream: unicast VRRP between the two amphorae' own addresses on the VIP network
(`vrrp_ip`), priority 100 for the MASTER and 90 for the BACKUP, both starting in state
BACKUP with `nopreempt`, a `vrrp_script` that fails when haproxy stops answering, and the
`[keepalived_vrrp]` timers. An advertisement interval below one second (or not a whole
number of seconds) needs VRRPv3; whole seconds use VRRPv2 with a password as upstream.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
from collections.abc import Sequence

import jinja2
from oslo_config import cfg

from ostia.common import constants as c

PRIORITY = {c.ROLE_MASTER: 100, c.ROLE_BACKUP: 90}
ROUTER_ID = 1


class KeepalivedRenderError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class VrrpPeerView:
    amphora_id: str
    role: str
    vrrp_ip: str
    interface: str
    check_script: str


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("ostia.controller.worker", "templates"),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )


def vrrp_version(advert_int: float) -> int:
    return 2 if float(advert_int).is_integer() else 3


def render_keepalived_config(
    conf: cfg.ConfigOpts,
    lb_id: str,
    vips: Sequence[str],
    subnet_cidr: str,
    me: VrrpPeerView,
    peers: Sequence[str],
) -> str:
    """keepalived.conf for amphora `me`; `vips` are addresses, `peers` the other vrrp_ips."""
    options = conf.keepalived_vrrp
    if me.role not in PRIORITY:
        raise KeepalivedRenderError(f"amphora {me.amphora_id} has role {me.role!r}, not MASTER or BACKUP")
    network = ipaddress.ip_network(subnet_cidr, strict=False)
    addresses = [str(ipaddress.ip_address(vip)) for vip in vips]
    for text in [*addresses, me.vrrp_ip, *peers]:
        ipaddress.ip_address(text)
    advert = float(options.vrrp_advert_int)
    version = vrrp_version(advert)
    instance = "vrrp_" + lb_id.replace("-", "")
    return (
        _environment()
        .get_template("keepalived.conf.j2")
        .render(
            lb_id=lb_id,
            amphora_id=me.amphora_id,
            role=me.role,
            router_id=f"amp{me.amphora_id.replace('-', '')[:12]}",
            version=version,
            check_script=me.check_script,
            check_interval=max(1, int(options.vrrp_check_interval)),
            fail_count=int(options.vrrp_fail_count),
            success_count=int(options.vrrp_success_count),
            instance=instance,
            interface=me.interface,
            router_id_number=ROUTER_ID,
            priority=PRIORITY[me.role],
            advert_int=int(advert) if version == 2 else f"{advert:g}",
            garp_refresh=int(options.vrrp_garp_refresh_interval),
            garp_refresh_count=int(options.vrrp_garp_refresh_count),
            auth_pass=hashlib.sha256(lb_id.encode()).hexdigest()[:7],
            vrrp_ip=me.vrrp_ip,
            peers=list(peers),
            vips=[f"{vip}/{network.prefixlen}" for vip in addresses],
        )
    )
