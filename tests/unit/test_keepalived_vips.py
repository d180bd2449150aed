"""What the agent reads back from the keepalived.conf the controller renders, to remove the
VIPs a killed keepalived left behind; no root."""

from __future__ import annotations

from ostia.amphora.keepalived import advert_interval, configured_vips
from ostia.common import config as config_mod
from ostia.controller.worker.render_keepalived import VrrpPeerView, render_keepalived_config

PEER = VrrpPeerView(
    amphora_id="a1",
    role="MASTER",
    vrrp_ip="198.18.64.254",
    interface="eth1",
    check_script="/var/lib/octavia/vrrp/check_script.sh",
)


def _rendered(advert_int: float) -> str:
    conf = config_mod.new_config()
    conf([], project="octavia", default_config_files=[])
    conf.set_override("vrrp_advert_int", advert_int, "keepalived_vrrp")
    return render_keepalived_config(
        conf,
        "6f1b3c1e-2d53-4f5e-9a55-0b7f6f0c0a11",
        ["198.18.64.10", "198.18.64.11"],
        "198.18.64.0/24",
        PEER,
        ["198.18.64.253"],
    )


def test_the_vips_and_advert_interval_of_a_rendered_configuration() -> None:
    text = _rendered(0.1)
    # The amphora's own address (unicast_src_ip) and its peer's are not VIPs.
    assert configured_vips(text) == ["198.18.64.10", "198.18.64.11"]
    assert advert_interval(text) == 0.1
    assert advert_interval(_rendered(1)) == 1.0


def test_excluded_vips_comments_and_ipv6_are_read_and_a_missing_interval_is_keepalived_default() -> None:
    text = """vrrp_instance VI_1 {
    virtual_ipaddress {
        2001:db8::10/64 dev eth1   # the VIP
    }
    virtual_ipaddress_excluded {
        ! an additional VIP
        198.18.65.10/24 dev eth2
    }
}
"""
    assert configured_vips(text) == ["2001:db8::10", "198.18.65.10"]
    assert advert_interval(text) == 1.0
