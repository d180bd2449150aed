"""The renderer's own address check: a stored address is parsed again and written canonical,
and a value that is not exactly an address fails the render instead of reaching haproxy."""

from __future__ import annotations

import pytest

from ostia.common import constants
from ostia.controller.worker.haproxy.render import UnsafeValue
from tests.unit.test_render_haproxy_fixtures import (
    make_hm,
    make_lb,
    make_listener,
    make_member,
    make_pool,
    render,
    section,
)

# Values an older API (or a hand-edited row) could have stored: ipaddress accepts them all
# except the last two, and each would add words to a `server` or `bind` line.
STORED_BAD = [
    "fe80::1%x ssl verify none sni env(HOME)",
    "fe80::1%x#comment",
    "fe80::1%eth0",
    "192.0.2.1 backup",
    "[::1]",
]


def _graph(member_address="192.0.2.10", monitor_address=None, vip="127.0.100.10", allowed=None):
    lb = make_lb(vip)
    listener = make_listener(lb, constants.HTTP, 80, allowed_cidrs=allowed)
    pool = make_pool(lb, constants.HTTP, listener=listener)
    make_hm(pool, constants.HTTP)
    member = make_member(pool, member_address, 8080, monitor_address=monitor_address)
    return lb, listener, pool, member


@pytest.mark.parametrize("bad", STORED_BAD)
@pytest.mark.parametrize("field", ["member.address", "member.monitor_address", "vip.ip_address"])
def test_a_stored_address_that_is_not_plain_fails_the_render(field, bad):
    lb, *_ = _graph(
        member_address=bad if field == "member.address" else "192.0.2.10",
        monitor_address=bad if field == "member.monitor_address" else None,
        vip=bad if field == "vip.ip_address" else "127.0.100.10",
    )
    with pytest.raises(UnsafeValue) as raised:
        render(lb)
    assert raised.value.field == field
    assert "not a plain IP address" in str(raised.value)


@pytest.mark.parametrize(
    "bad", ["fe80::%x backup/64", "10.0.0.0/8 0.0.0.0/0", "10.0.0.0/08", "10.0.0.0/255.0.0.0", "10.0.0.0/8#"]
)
def test_a_stored_cidr_that_is_not_plain_fails_the_render(bad):
    lb, *_ = _graph(allowed=["192.0.2.0/24", bad])
    with pytest.raises(UnsafeValue) as raised:
        render(lb)
    assert raised.value.field == "listener.allowed_cidrs"


def test_stored_addresses_are_written_in_canonical_form():
    lb, listener, pool, member = _graph(
        member_address="2001:DB8::0:1",
        monitor_address="::FFFF:C000:0201",
        allowed=["10.1.2.3/8", "2001:DB8:0::/32"],
    )
    text = render(lb)
    backend = section(text, f"backend {pool.id}:{listener.id}")
    server = next(line for line in backend if line.startswith("server "))
    assert f"server {member.id} 2001:db8::1:8080 " in server
    assert server.split("addr ")[1].split()[0] == "::ffff:192.0.2.1"
    frontend = section(text, f"frontend {listener.id}")
    assert "acl ostia_allowed_cidr src 10.0.0.0/8 2001:db8::/32" in frontend


def test_values_written_in_comments_are_known_names_only():
    lb, listener, pool, _ = _graph()
    udp = make_listener(lb, constants.UDP, 53)
    udp.protocol = "UDP) x\ny"
    with pytest.raises(UnsafeValue) as raised:
        render(lb)
    assert raised.value.field == "listener.protocol"
    udp.protocol = constants.UDP
    assert f"# listener {udp.id} (UDP) is not served by haproxy" in render(lb)

    tcp = make_listener(lb, constants.TCP, 22)
    make_pool(lb, constants.TCP, listener=tcp, persistence="HTTP_COOKIE x")
    with pytest.raises(UnsafeValue) as raised:
        render(lb)
    assert raised.value.field == "session_persistence.type"
