"""keepalived.conf as the controller renders it, and the lb-mgmt firewall rules; no root."""

from __future__ import annotations

import pytest
from oslo_config import cfg

from ostia.common import config as config_mod
from ostia.common import constants as c
from ostia.controller.worker.render_keepalived import (
    KeepalivedRenderError,
    VrrpPeerView,
    render_keepalived_config,
)
from ostia.drivers.network import netns_firewall
from ostia.drivers.network.base import Subnet
from ostia.drivers.network.netns_driver import NetnsNetworkDriver, parse_subnets

LB = "6f1b3c1e-2d53-4f5e-9a55-0b7f6f0c0a11"


@pytest.fixture
def conf() -> cfg.ConfigOpts:
    conf = config_mod.new_config()
    conf([], project="octavia", default_config_files=[])
    return conf


def _me(role: str = c.ROLE_MASTER) -> VrrpPeerView:
    return VrrpPeerView(
        amphora_id="a1",
        role=role,
        vrrp_ip="198.18.64.254",
        interface="eth1",
        check_script="/var/lib/octavia/vrrp/check_script.sh",
    )


def test_master_with_upstream_defaults_is_vrrp2_with_a_password(conf: cfg.ConfigOpts) -> None:
    text = render_keepalived_config(conf, LB, ["198.18.64.10"], "198.18.64.0/24", _me(), ["198.18.64.253"])
    assert "vrrp_version 2" in text and "auth_type PASS" in text
    assert "priority 100" in text and "state BACKUP" in text and "nopreempt" in text
    assert "advert_int 1\n" in text
    assert "unicast_src_ip 198.18.64.254" in text
    assert "unicast_peer {\n        198.18.64.253\n    }" in text
    assert "198.18.64.10/24 dev eth1" in text
    assert 'script "/var/lib/octavia/vrrp/check_script.sh"' in text
    assert "interval 5" in text and "fall 2" in text and "rise 2" in text
    assert "garp_master_refresh 5" in text and "garp_master_refresh_repeat 2" in text


def test_sub_second_adverts_use_vrrp3_without_password(conf: cfg.ConfigOpts) -> None:
    conf.set_override("vrrp_advert_int", 0.1, "keepalived_vrrp")
    conf.set_override("vrrp_check_interval", 1, "keepalived_vrrp")
    text = render_keepalived_config(
        conf, LB, ["198.18.64.10"], "198.18.64.0/24", _me(c.ROLE_BACKUP), ["198.18.64.253"]
    )
    assert "vrrp_version 3" in text and "authentication" not in text
    assert "advert_int 0.1\n" in text and "priority 90" in text and "interval 1" in text


def test_a_standalone_amphora_or_a_bad_address_is_refused(conf: cfg.ConfigOpts) -> None:
    with pytest.raises(KeepalivedRenderError):
        render_keepalived_config(conf, LB, ["198.18.64.10"], "198.18.64.0/24", _me(c.ROLE_STANDALONE), [])
    with pytest.raises(ValueError):
        render_keepalived_config(conf, LB, ["198.18.64.10\n}"], "198.18.64.0/24", _me(), [])


def test_mgmt_rules_allow_heartbeats_in_and_agent_ports_out_only() -> None:
    rules = netns_firewall.ruleset("ost-mgmt", 5555, [9443, 22])
    assert 'iifname "ost-mgmt" udp dport 5555 accept' in rules
    assert 'oifname "ost-mgmt" tcp dport { 22, 9443 } accept' in rules
    assert 'iifname "ost-mgmt" drop' in rules and 'oifname "ost-mgmt" drop' in rules
    assert 'iifname "ost-*" oifname != "ost-*" drop' in rules
    assert "nat" not in rules


def test_port_addresses_come_from_the_top_quarter_and_vips_skip_them(conf: cfg.ConfigOpts, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (subnet,) = parse_subnets(["tenant-subnet:198.18.64.0/24"])
    taken = {f"198.18.64.{n}" for n in range(192, 254)}
    assert NetnsNetworkDriver._free_port_address(subnet, taken) == "198.18.64.254"
    conf.set_override("state_dir", str(tmp_path), "ostia")
    conf.set_override("subnets", ["tenant-subnet:198.18.64.0/24"], "netns_network")
    driver = NetnsNetworkDriver(conf)
    found: Subnet = driver.get_subnet("tenant-subnet")
    assert found.gateway_ip is None
    assert driver.allocate_vip(found, None, []).ip_address == "198.18.64.1"
    # A search that starts past the bottom three quarters (the cursor of a subnet with much
    # churn) wraps around to the bottom before it takes a port's address.
    assert driver.allocate_vip(found, None, ["198.18.64.1"], "198.18.64.200").ip_address == "198.18.64.2"
    bottom_full = [f"198.18.64.{n}" for n in range(1, 192)]
    assert driver.allocate_vip(found, None, bottom_full, "198.18.64.5").ip_address == "198.18.64.192"
    assert driver.allocate_vip(found, "198.18.64.250", []).ip_address == "198.18.64.250"
    assert driver.bridge_name(found).startswith("ost-t") and len(driver.bridge_name(found)) <= 15
