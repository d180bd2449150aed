"""Tenant addresses: exactly plain IPv4/IPv6 addresses and CIDRs, in one canonical spelling."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ostia.common.addresses import InvalidAddress, canonical_address, canonical_cidr

ANY_ADDRESS = st.ip_addresses()


@pytest.mark.parametrize(
    ("given_text", "stored"),
    [
        ("192.0.2.10", "192.0.2.10"),
        ("2001:DB8::0:1", "2001:db8::1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("::FFFF:0102:0304", "::ffff:1.2.3.4"),
        ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
        ("::", "::"),
    ],
)
def test_addresses_are_stored_in_canonical_form(given_text, stored):
    assert canonical_address(given_text) == stored


@pytest.mark.parametrize(
    "bad",
    [
        "fe80::1%eth0",
        "fe80::1%a b",
        "fe80::1%x#y",
        "fe80::1%25",
        "[::1]",
        " 192.0.2.1",
        "192.0.2.1 ",
        "192.0.2.1\n",
        "192.0.2.1#",
        "010.0.0.1",
        "192.0.2.01",
        "0x7f.0.0.1",
        "\uff11.2.3.4",
        "1.2.3",
        "192.0.2.1/32",
        "",
        ":",
        "localhost",
        "1.2.3.4.5",
        "::ffff:010.1.2.3",
        "2001:db8::1:",
        "2001:db8:::1",
        "x" * 100,
        None,
        3232235521,
        "1.2.3.4\u2028",
    ],
)
def test_anything_but_a_plain_address_is_refused(bad):
    with pytest.raises(InvalidAddress):
        canonical_address(bad)


@pytest.mark.parametrize(
    ("given_text", "stored"),
    [
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("10.1.2.3/8", "10.0.0.0/8"),  # host bits cleared, as upstream's ip_network(strict=False)
        ("192.0.2.7", "192.0.2.7/32"),
        ("2001:DB8:0::/32", "2001:db8::/32"),
        ("::ffff:1.2.3.4/120", "::ffff:1.2.3.0/120"),
        ("0.0.0.0/0", "0.0.0.0/0"),
    ],
)
def test_cidrs_are_stored_in_canonical_form(given_text, stored):
    assert canonical_cidr(given_text) == stored


@pytest.mark.parametrize(
    "bad",
    [
        "10.0.0.0/08",
        "10.0.0.0/255.0.0.0",
        "10.0.0.0/0.255.255.255",
        "10.0.0.0/33",
        "2001:db8::/129",
        "10.0.0.0/",
        "/8",
        "10.0.0.0/ 8",
        "10.0.0.0/+8",
        "10.0.0.0/\uff18",
        "fe80::%eth0/64",
        "fe80::/64%eth0",
        "10.0.0.0/8 ",
        "10.0.0.0/8#",
        "10.0.0.0/8/8",
        None,
    ],
)
def test_anything_but_a_plain_cidr_is_refused(bad):
    with pytest.raises(InvalidAddress):
        canonical_cidr(bad)


@given(ANY_ADDRESS)
def test_every_address_survives_in_any_spelling_and_is_stable(address):
    for spelling in {str(address), address.exploded, str(address).upper()}:
        text = canonical_address(spelling)
        assert ipaddress.ip_address(text) == address
        assert canonical_address(text) == text


@given(ANY_ADDRESS, st.integers(min_value=0, max_value=128))
def test_every_network_is_stable(address, prefix):
    prefix = min(prefix, address.max_prefixlen)
    text = canonical_cidr(f"{address}/{prefix}")
    assert ipaddress.ip_network(text) == ipaddress.ip_network((address, prefix), strict=False)
    assert canonical_cidr(text) == text


@given(ANY_ADDRESS, st.text(min_size=1, max_size=20))
def test_nothing_appended_to_an_address_survives(address, suffix):
    """A zone id, a comment, a second word: whatever follows an address makes it invalid,
    unless it still spells exactly an address."""
    text = f"{address}{suffix}"
    try:
        result = canonical_address(text)
    except InvalidAddress:
        return
    assert ipaddress.ip_address(result) == ipaddress.ip_address(text)
    assert set(result) <= set("0123456789abcdef:.")
