"""IP addresses and CIDRs a tenant gives: exactly the plain text forms, one canonical spelling.

Python's `ipaddress` accepts more than a plain address: an IPv6 zone id after `%` may hold
any character but `%` (spaces and `#` included), and `ip_network` also takes netmasks,
host masks and prefix lengths with leading zeros. Any of that written into a configuration
file is a way to add words to a line. So a value is first held to the characters an
address can have, then parsed, then written back in one canonical form (RFC 5952 for IPv6:
lower case, zeros compressed, IPv4-mapped addresses in dotted form). The API stores that
form and the renderers write it again after the same check, so a value stored before this
rule existed fails the render rather than reaching haproxy.
"""

from __future__ import annotations

import ipaddress
import re

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Hex digits, colons and dots only: no zone id, blank, bracket, sign or non-ASCII digit.
# The longest plain address is 45 characters (six hex groups and a dotted IPv4 tail).
_ADDRESS_TEXT = re.compile(r"[0-9A-Fa-f:.]{2,45}")
# A dotted IPv4 address (alone or as an IPv6 tail) without leading zeros, which some
# parsers read as octal: 010.0.0.1 is 8.0.0.1 to inet_aton.
_DOTTED_TAIL = re.compile(r"(?:^|:)((?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3})$")
_PREFIX_LENGTH = re.compile(r"0|[1-9][0-9]{0,2}")


class InvalidAddress(ValueError):
    """The value is not exactly a plain IPv4/IPv6 address (or CIDR)."""


def parse_address(value: object) -> IPAddress:
    """`value` as an address object, if it is exactly a plain IPv4 or IPv6 address."""
    if not isinstance(value, str) or not _ADDRESS_TEXT.fullmatch(value):
        raise InvalidAddress(f"{value!r} is not a plain IPv4 or IPv6 address")
    if "." in value and not _DOTTED_TAIL.search(value):
        raise InvalidAddress(f"{value!r} is not a plain IPv4 or IPv6 address")
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise InvalidAddress(f"{value!r} is not a plain IPv4 or IPv6 address") from None


def parse_network(value: object) -> IPNetwork:
    """`value` as a network (host bits cleared), if it is `address/prefix` or an address."""
    if not isinstance(value, str):
        raise InvalidAddress(f"{value!r} is not a CIDR")
    address_text, slash, prefix_text = value.partition("/")
    if slash and not _PREFIX_LENGTH.fullmatch(prefix_text):
        raise InvalidAddress(f"{value!r} is not a CIDR: the prefix length must be a number")
    try:
        address = parse_address(address_text)
    except InvalidAddress:
        raise InvalidAddress(f"{value!r} is not a CIDR") from None
    prefix = int(prefix_text) if slash else address.max_prefixlen
    if prefix > address.max_prefixlen:
        raise InvalidAddress(f"{value!r} is not a CIDR: prefix longer than the address")
    return ipaddress.ip_network((address, prefix), strict=False)


def format_address(address: IPAddress) -> str:
    """The canonical text of an address (IPv4-mapped IPv6 as `::ffff:a.b.c.d`, RFC 5952 §5,
    whatever the Python version prints)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


def format_network(network: IPNetwork) -> str:
    return f"{format_address(network.network_address)}/{network.prefixlen}"


def canonical_address(value: object) -> str:
    """The canonical form of a plain address; InvalidAddress for anything else."""
    return format_address(parse_address(value))


def canonical_cidr(value: object) -> str:
    """The canonical `network/prefix` of a CIDR (or of a single address, as /32 or /128)."""
    return format_network(parse_network(value))


def format_host_port(address: str, port: int) -> str:
    """`address:port`, an IPv6 address in brackets (`[fd00::1]:5555`), as heartbeat
    destinations and URLs write it."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
